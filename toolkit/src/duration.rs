//! `--timeout SECS` as every tool reads it: seconds, fractions allowed, one range for all.

use std::time::Duration;

/// The longest bound any wait takes: a day.
pub const MAX_TIMEOUT_SECS: f64 = 86_400.0;

/// Parses seconds such as `60`, `2.5` or `0.2`: more than 0 and at most a day. For clap's
/// `value_parser`.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs <= MAX_TIMEOUT_SECS => {
            Ok(Duration::from_secs_f64(secs))
        }
        _ => Err(format!(
            "invalid timeout '{text}': give seconds, more than 0 and at most {MAX_TIMEOUT_SECS}, like 60 or 2.5"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_in_range_are_taken() {
        assert_eq!(parse_timeout("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_timeout("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_timeout("86400"), Ok(Duration::from_secs(86_400)));
    }

    #[test]
    fn nonsense_and_out_of_range_are_refused() {
        for bad in ["0", "-1", "abc", "", "NaN", "inf", "86401", "1e9"] {
            let error = parse_timeout(bad).unwrap_err();
            assert!(error.contains(&format!("'{bad}'")), "{error}");
        }
    }
}

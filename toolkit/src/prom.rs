//! Prometheus text exposition (format 0.0.4), as node_exporter's textfile collector reads it.
//! Every tool that writes metrics lays out families and escapes labels here, so the rules of
//! the format are kept once.

use std::fmt::Write as _;

/// The TYPE of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value that goes up and down.
    Gauge,
    /// A count that only grows while its process lives; its name ends in `_total`.
    Counter,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// Appends the family `name` to `out`: its HELP and TYPE lines, then one line per sample,
/// each a label set as [`labels`] writes it (or "" for none) and a value.
pub fn family(out: &mut String, name: &str, help: &str, kind: Kind, samples: &[(String, String)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {}", kind.name());
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// `{a="x",b="y"}` with values escaped as the exposition format requires, after every control
/// character was written out (`\u{1b}`): the format itself lets them through raw, and a value
/// can come from a peer.
pub fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let escaped = crate::words::printable(v)
                .replace('\\', "\\\\")
                .replace('"', "\\\"");
            format!("{k}=\"{escaped}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_has_help_type_and_its_samples() {
        let mut out = String::new();
        family(
            &mut out,
            "x_total",
            "Things counted.",
            Kind::Counter,
            &[
                (labels(&[("a", "1")]), "5".into()),
                (String::new(), "6".into()),
            ],
        );
        assert_eq!(
            out,
            "# HELP x_total Things counted.\n# TYPE x_total counter\nx_total{a=\"1\"} 5\nx_total 6\n"
        );
    }

    #[test]
    fn label_values_are_escaped_and_made_printable() {
        assert_eq!(
            labels(&[("host", "a\"b\\c\u{1b}[2J"), ("n", "1")]),
            "{host=\"a\\\"b\\\\c\\\\u{1b}[2J\",n=\"1\"}"
        );
    }
}

//! How fields and values are named in messages: JSON paths (`hosts[1].addresses.em1`) and
//! quoted values. Both are escaped and cut short, so a hostile document can neither garble the
//! operator's terminal with control characters nor flood it with a megabyte-long name.

use serde_json::Value;

/// Longest text quoted whole in a message; longer text is cut and ends in `…`.
const SHOWN_CHARS: usize = 40;

/// The path of field `key` of the object at `path`. Keys made of the characters names use
/// are written plainly (`carp.vhid`, `addresses.em0.100`); any other key in JSON quotes and
/// brackets (`addresses["lo9;touch${IFS}pwned;x"]`), so the path says exactly which key it is.
pub(crate) fn join(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let key = if plain && key.len() <= SHOWN_CHARS {
        key.to_string()
    } else {
        format!("[{}]", json_string(key))
    };
    match (path.is_empty(), key.starts_with('[')) {
        (true, _) | (false, true) => format!("{path}{key}"),
        (false, false) => format!("{path}.{key}"),
    }
}

/// The path of element `i` of the array at `path`.
pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// `text` in single quotes, cut short when long, with `'`, `\`, control and other
/// unprintable characters (such as a right-to-left override) escaped.
pub(crate) fn quote(text: &str) -> String {
    escaped(text, '\'')
}

/// A JSON value as the operator wrote it, for "got …": scalars in JSON notation (strings
/// in double quotes), arrays by their length and objects by their kind.
pub(crate) fn value(v: &Value) -> String {
    match v {
        Value::Array(items) if items.is_empty() => "an empty array".into(),
        Value::Array(items) if items.len() == 1 => "an array of 1 item".into(),
        Value::Array(items) => format!("an array of {} items", items.len()),
        Value::Object(_) => "an object".into(),
        Value::String(s) => json_string(s),
        other => other.to_string(),
    }
}

/// `text` in double quotes, escaped as [`quote`] does.
fn json_string(text: &str) -> String {
    escaped(text, '"')
}

fn escaped(text: &str, quote: char) -> String {
    format!(
        "{quote}{}{quote}",
        toolkit::words::escaped(&cut(text), Some(quote))
    )
}

fn cut(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

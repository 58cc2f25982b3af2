//! Counted nouns and lists of names, so every message reads "1 node", "3 nodes" and
//! "a, b and c" the same way in every tool; and values from outside (a peer's reply, a file)
//! clipped and escaped the same way wherever they are quoted.

use std::fmt::Display;

/// "1 node", "2 nodes": `thing` takes an "s" when `n` is not 1.
pub fn counted<N: Display + PartialEq + From<u8>>(n: N, thing: &str) -> String {
    if n == N::from(1) {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// "1 replica", "2 replicas" for nouns whose plural is not `one` + "s" ("1 key copy", "2 key
/// copies").
pub fn counted_as<N: Display + PartialEq + From<u8>>(n: N, one: &str, many: &str) -> String {
    format!("{n} {}", if n == N::from(1) { one } else { many })
}

/// "a", "a and b", "a, b and c", and past `shown` names "a, b, c and 4 others".
pub fn name_list<T: Display>(names: &[T], shown: usize) -> String {
    let names: Vec<String> = names.iter().map(ToString::to_string).collect();
    match names.len() {
        0 => "nobody".to_string(),
        1 => names[0].clone(),
        n if n <= shown.max(2) => format!("{} and {}", names[..n - 1].join(", "), names[n - 1]),
        n => {
            let shown = shown.max(1);
            format!("{} and {} others", names[..shown].join(", "), n - shown)
        }
    }
}

/// The longest value [`clip`] lets through by default: any real node id, address or version
/// fits, a hostile megabyte does not.
pub const CLIP: usize = 120;

/// `text` as it is when it has at most `max` characters; otherwise its first `max` characters
/// and "… (N bytes in all)", so a value a peer sent can never flood a message or a report.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
    }
}

/// `text` with backslashes, `quote` (when given) and every control or other unprintable
/// character (ESC, BEL, a right-to-left override) escaped as Rust writes them (`\u{1b}`,
/// `\\`), for quoting a value unambiguously. The other quote characters stay as they are.
pub fn escaped(text: &str, quote: Option<char>) -> String {
    escape(text, |c| matches!(c, '\'' | '"') && Some(c) != quote)
}

/// `text` with every control or other unprintable character escaped as [`escaped`] does and
/// nothing else touched, so text a peer sent can neither move the cursor nor recolour or
/// rewrite what a terminal or a monitoring page shows. Applying it twice changes nothing more.
pub fn printable(text: &str) -> String {
    escape(text, |c| matches!(c, '\'' | '"' | '\\'))
}

/// A value a peer sent, as messages quote it: [`clip`]ped to `max` characters, then
/// [`printable`].
pub fn shown(text: &str, max: usize) -> String {
    printable(&clip(text, max))
}

/// `text` with each character `keep` does not spare written as `char::escape_debug` writes it
/// (which leaves printable characters as they are).
fn escape(text: &str, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if keep(c) {
            out.push(c);
        } else {
            out.extend(c.escape_debug());
        }
    }
    out
}

/// Problems one per line, each indented by two spaces, for messages that list them all.
pub fn indented<T: Display>(problems: &[T]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nouns_are_counted() {
        assert_eq!(counted(1, "node"), "1 node");
        assert_eq!(counted(0, "node"), "0 nodes");
        assert_eq!(counted_as(2, "copy", "copies"), "2 copies");
    }

    #[test]
    fn names_are_listed_and_cut() {
        assert_eq!(name_list::<&str>(&[], 3), "nobody");
        assert_eq!(name_list(&["a"], 3), "a");
        assert_eq!(name_list(&["a", "b", "c"], 3), "a, b and c");
        assert_eq!(
            name_list(&["a", "b", "c", "d", "e"], 3),
            "a, b, c and 2 others"
        );
    }

    // Regression: a 10 MB CLUSTER NODES line was quoted whole in messages and reports.
    #[test]
    fn long_values_are_clipped_and_short_ones_kept() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "abc… (4 bytes in all)");
        assert_eq!(clip("ééé", 2), "éé… (6 bytes in all)");
        let huge = "x".repeat(10_000_000);
        assert!(clip(&huge, CLIP).len() < 200);
    }

    // Regression: ESC and BEL in a node's reply reached the terminal raw.
    #[test]
    fn control_characters_are_escaped() {
        let hostile = "a\u{1b}[31mb\u{7}\\'\"\u{202e}";
        assert_eq!(
            escaped(hostile, None),
            "a\\u{1b}[31mb\\u{7}\\\\'\"\\u{202e}"
        );
        assert_eq!(escaped("it's \"x\"", Some('\'')), "it\\'s \"x\"");
        assert_eq!(printable(hostile), "a\\u{1b}[31mb\\u{7}\\'\"\\u{202e}");
        assert_eq!(printable(&printable(hostile)), printable(hostile));
        assert_eq!(shown("\u{1b}bc", 2), "\\u{1b}b… (3 bytes in all)");
    }

    #[test]
    fn problems_are_indented() {
        assert_eq!(indented(&["x", "y"]), "  x\n  y");
    }
}

//! Standard output is data, standard error is talk. A reader that went away (`tool | head`)
//! ends the output quietly, and a closed or full standard error (`2>&-`, `2>/dev/full`) never
//! panics: what was to be said is dropped, the work goes on and finishes.

use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;

use serde::Serialize;

static TOOL: OnceLock<&'static str> = OnceLock::new();

/// Names the tool for the `name: ` prefix of every message; `toolkit::main` calls it.
pub fn set_tool_name(name: &'static str) {
    let _ = TOOL.set(name);
}

/// The tool's name as set by `set_tool_name`, for messages built elsewhere.
pub fn tool_name() -> &'static str {
    TOOL.get().copied().unwrap_or("tool")
}

/// Writes `name: message` and a newline to standard error, ignoring any failure to do so.
pub fn say_line(message: std::fmt::Arguments<'_>) {
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "{}: {message}", tool_name());
}

/// `say!("{n} nodes ready")` prints `tool: 3 nodes ready` on standard error; never panics.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::stdio::say_line(format_args!($($arg)*))
    };
}

/// Writes `text` to standard output and flushes. `Ok(false)` when the reader has gone away.
pub fn print_text(text: &str) -> io::Result<bool> {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e),
    }
}

/// One JSON value and a newline on standard output: pretty on a terminal, one line otherwise
/// (so streams are JSON Lines). `Ok(false)` when the reader has gone away.
pub fn print_json<T: Serialize>(value: &T) -> io::Result<bool> {
    print_text(&json_text(value, io::stdout().is_terminal()))
}

/// `value` as JSON text ending in a newline.
pub fn json_text<T: Serialize>(value: &T, pretty: bool) -> String {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    // Serializing the tools' own documented structs cannot fail: no maps with non-string keys.
    let mut text = text.expect("output structs serialize to JSON");
    text.push('\n');
    text
}

/// Whether progress and colour belong on standard error: a terminal, and NO_COLOR unset.
pub fn stderr_is_interactive() -> bool {
    io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

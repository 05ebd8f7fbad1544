//! What the commands print: diffs as unified text, pull-request markdown or JSON, and the tables of steps and
//! gates. Pure functions from values to text.

pub mod json;
pub mod markdown;
pub mod table;
pub mod unified;

/// How `diff` shows a step's changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// `git diff` style, coloured on a terminal (plain with NO_COLOR or in a pipe).
    Unified,
    /// A pull-request comment: the effects, then the diffs, within 65,536 characters.
    Markdown,
    /// Files, hunks and effects as data.
    Json,
}

/// How `steps` and `status` print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

/// Whether stdout gets colour: a terminal, and NO_COLOR unset or empty.
pub fn stdout_colour() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

/// Writes `text` to stderr. A stderr that cannot be written (a full disk under a redirect) loses the message but
/// never turns an orderly exit into a panic: the exit code still tells what happened.
pub fn to_stderr(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Writes one `note:` line to stderr.
pub fn note(text: &str) {
    to_stderr(&format!("note: {text}\n"));
}

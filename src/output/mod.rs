//! What the commands print: diffs as unified text, pull-request markdown or JSON, and the tables of steps and
//! gates. Pure functions from values to text.

pub mod colour;
pub mod json;
pub mod markdown;
pub mod progress;
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
    // Aligned columns for people.
    Table,
    // One JSON document with a schemaVersion (README, "Machine output").
    Json,
}

/// How `validate`, `render`, `apply`, `advance` and `retry` report what they did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReportFormat {
    // Lines for people.
    #[default]
    Text,
    // One JSON document with a schemaVersion on stdout, and errors as JSON on stderr (README, "Machine output").
    Json,
}

/// The version of every JSON document the tool prints: raised only when a field is removed, renamed or changes
/// meaning; new fields may appear within a version.
pub const SCHEMA_VERSION: u32 = 1;

/// Writes `text` to stderr. A stderr that cannot be written (a full disk under a redirect) loses the message but
/// never turns an orderly exit into a panic: the exit code still tells what happened.
pub fn to_stderr(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Writes one `note:` line to stderr; in JSON mode, keeps it for the document's `notes` instead (stderr then holds
/// only an error document, or nothing).
pub fn note(text: &str) {
    match NOTES.lock().ok().as_mut().and_then(|notes| notes.as_mut()) {
        Some(kept) => kept.push(text.to_owned()),
        None => to_stderr(&colour::messages(&format!("note: {text}\n"), colour::stderr())),
    }
}

/// The notes of a JSON-mode run, kept for its document; `None` when notes go to stderr.
static NOTES: std::sync::Mutex<Option<Vec<String>>> = std::sync::Mutex::new(None);

/// From now on, notes are kept for the JSON document rather than written to stderr.
pub fn keep_notes() {
    if let Ok(mut notes) = NOTES.lock() {
        notes.get_or_insert_with(Vec::new);
    }
}

/// The notes kept so far, taken.
pub fn kept_notes() -> Vec<String> {
    NOTES.lock().ok().and_then(|mut notes| notes.as_mut().map(std::mem::take)).unwrap_or_default()
}

//! A step's changes as `git diff` shows them, coloured on a terminal.

use similar::TextDiff;

use crate::core::change::FileChange;

/// Lines of context around each change.
pub const CONTEXT: usize = 3;

/// One file's unified diff, `git diff` style.
pub fn file_diff(change: &FileChange) -> String {
    let old = change.before.as_deref().unwrap_or("");
    let new = change.after.as_deref().unwrap_or("");
    let old_name = if change.before.is_some() { format!("a/{}", change.path) } else { "/dev/null".to_owned() };
    let new_name = if change.after.is_some() { format!("b/{}", change.path) } else { "/dev/null".to_owned() };
    let mut out = format!("diff --git a/{0} b/{0}\n", change.path);
    out.push_str(
        &TextDiff::from_lines(old, new).unified_diff().context_radius(CONTEXT).header(&old_name, &new_name).to_string(),
    );
    out
}

/// The unified diff of every change; with `color`, ANSI colours as `git diff` uses them.
pub fn unified(changes: &[FileChange], color: bool) -> String {
    let text: String = changes.iter().map(file_diff).collect();
    if !color {
        return text;
    }
    let mut colored = String::with_capacity(text.len() + text.len() / 8);
    for line in text.split_inclusive('\n') {
        let (body, newline) = line.strip_suffix('\n').map(|body| (body, "\n")).unwrap_or((line, ""));
        let style = if body.starts_with("diff --git") || body.starts_with("--- ") || body.starts_with("+++ ") {
            "\x1b[1m"
        } else if body.starts_with("@@") {
            "\x1b[36m"
        } else if body.starts_with('+') {
            "\x1b[32m"
        } else if body.starts_with('-') {
            "\x1b[31m"
        } else {
            ""
        };
        if style.is_empty() {
            colored.push_str(line);
        } else {
            colored.push_str(&format!("{style}{body}\x1b[m{newline}"));
        }
    }
    colored
}

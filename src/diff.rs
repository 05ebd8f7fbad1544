//! A step's changes shown for review: a unified diff (coloured on a terminal), markdown for a pull-request
//! comment, or JSON for tools.

use serde_json::{json, Value};
use similar::{ChangeTag, TextDiff};

use crate::effects::StepEffects;
use crate::workspace::FileChange;

/// GitHub refuses comments longer than this many characters.
pub const COMMENT_LIMIT: usize = 65_536;
/// Lines of context around each change.
const CONTEXT: usize = 3;
/// Workload names listed per effect before "and N more".
const NAMES_IN_SUMMARY: usize = 25;

fn kind(change: &FileChange) -> &'static str {
    match (&change.before, &change.after) {
        (None, _) => "create",
        (_, None) => "remove",
        _ => "update",
    }
}

/// One file's unified diff, `git diff` style.
fn file_diff(change: &FileChange) -> String {
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

/// A pull-request comment: the summary first, then a ```diff block per file, never over `limit` characters;
/// when the files do not all fit, the comment says which were left out and how to see them.
pub fn markdown(effects: &StepEffects, changes: &[FileChange], limit: usize) -> String {
    let mut summary = format!(
        "### asm-migrate `{}`: step `{}` ({}/{})\n\n",
        effects.plan, effects.step, effects.index, effects.total
    );
    let phase = match effects.phase_from {
        Some(from) if from != effects.phase_to => format!("**Phase:** {from} → {}\n\n", effects.phase_to),
        _ => format!("**Phase:** {}\n\n", effects.phase_to),
    };
    summary.push_str(&phase);
    let lines = effects.lines(NAMES_IN_SUMMARY);
    // The desiredState line is already the phase above.
    let lines: Vec<&String> =
        lines.iter().filter(|line| !line.starts_with("ASMMigrateFromIstio desiredState")).collect();
    if !lines.is_empty() {
        summary.push_str("**What happens when this is merged and synced:**\n\n");
        for line in lines {
            summary.push_str(&format!("- {}\n", capitalize(line)));
        }
        summary.push('\n');
    }
    summary.push_str(&format!("**Files ({}):**\n\n", changes.len()));
    for change in changes {
        summary.push_str(&format!("- {} `{}`\n", kind(change), change.path));
    }
    summary.push('\n');
    if changes.is_empty() {
        summary.push_str("Nothing to change: the step is in the repository already.\n");
        return truncate_chars(summary, limit);
    }

    let blocks: Vec<String> =
        changes.iter().map(|change| format!("```diff\n{}```\n\n", fence_safe(&file_diff(change)))).collect();
    let mut body = String::new();
    let mut left_out: Vec<&str> = Vec::new();
    let note_room = 400 + changes.iter().map(|change| change.path.len() + 8).sum::<usize>();
    for (change, block) in changes.iter().zip(&blocks) {
        let fits = count(&summary) + count(&body) + count(block) + note_room <= limit;
        if left_out.is_empty() && fits {
            body.push_str(block);
        } else {
            left_out.push(&change.path);
        }
    }
    let mut comment = summary + &body;
    if !left_out.is_empty() {
        let mut note = format!(
            "**{} of {} file diffs left out** to stay within a comment's {limit} characters: ",
            left_out.len(),
            changes.len()
        );
        note.push_str(&left_out.iter().map(|path| format!("`{path}`")).collect::<Vec<_>>().join(", "));
        note.push_str(&format!(". Run `asm-migrate diff --step {}` to see them all.\n", effects.step));
        comment.push_str(&note);
    }
    truncate_chars(comment, limit)
}

/// A ``` inside a diff would end the block early: lengthen nothing, break the run instead.
fn fence_safe(diff: &str) -> String {
    diff.replace("```", "``\u{200b}`")
}

fn capitalize(line: &str) -> String {
    let mut chars = line.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn count(text: &str) -> usize {
    text.chars().count()
}

/// The last resort when even the summary is too long: cut it at a character boundary, saying so.
fn truncate_chars(text: String, limit: usize) -> String {
    if count(&text) <= limit {
        return text;
    }
    let marker = "\n\n*(cut to fit a comment)*\n";
    let keep = limit.saturating_sub(count(marker));
    text.chars().take(keep).collect::<String>() + marker
}

/// The changes and effects as data: each file with its change kind and hunks.
pub fn json(effects: &StepEffects, changes: &[FileChange]) -> Value {
    let files: Vec<Value> = changes
        .iter()
        .map(|change| {
            let old = change.before.as_deref().unwrap_or("");
            let new = change.after.as_deref().unwrap_or("");
            let diff = TextDiff::from_lines(old, new);
            let hunks: Vec<Value> = diff
                .grouped_ops(CONTEXT)
                .iter()
                .map(|group| {
                    let (first, last) = (&group[0], &group[group.len() - 1]);
                    let old_range = first.old_range().start..last.old_range().end;
                    let new_range = first.new_range().start..last.new_range().end;
                    let lines: Vec<String> = group
                        .iter()
                        .flat_map(|op| diff.iter_changes(op))
                        .map(|line| {
                            let sign = match line.tag() {
                                ChangeTag::Equal => ' ',
                                ChangeTag::Insert => '+',
                                ChangeTag::Delete => '-',
                            };
                            format!("{sign}{}", line.value().trim_end_matches('\n'))
                        })
                        .collect();
                    json!({
                        "oldStart": old_range.start + 1, "oldLines": old_range.len(),
                        "newStart": new_range.start + 1, "newLines": new_range.len(),
                        "lines": lines,
                    })
                })
                .collect();
            json!({"path": change.path, "change": kind(change), "hunks": hunks})
        })
        .collect();
    json!({"effects": effects, "files": files})
}

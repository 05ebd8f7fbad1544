//! A step's changes as a pull-request comment: the effects in words first, then a ```diff block per file, never
//! longer than a GitHub comment.

use crate::core::change::FileChange;
use crate::core::effects::StepEffects;
use crate::output::unified::file_diff;

/// GitHub refuses comments longer than this many characters.
pub const COMMENT_LIMIT: usize = 65_536;
/// Workload names listed per effect before "and N more".
const NAMES_IN_SUMMARY: usize = 25;

/// A pull-request comment: the summary first, then a ```diff block per file, never over `limit` characters;
/// when the files do not all fit, the comment says which were left out and how to see them.
pub fn comment(effects: &StepEffects, changes: &[FileChange], limit: usize) -> String {
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
        summary.push_str(&format!("- {} `{}`\n", change.kind().verb(), change.path));
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

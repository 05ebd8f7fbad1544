//! What tools read: a step's changes and effects, the steps, and the gates, as JSON.

use serde_json::{json, Value};
use similar::{ChangeTag, TextDiff};

use crate::core::change::FileChange;
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::effects::StepEffects;
use crate::output::unified::CONTEXT;

/// A document as the tool prints it: `schemaVersion` first, then `body`'s fields, then the notes of the run
/// (what text mode writes to stderr as `note:` lines), when there are any.
pub fn document(body: Value, notes: Vec<String>) -> Value {
    let mut document = serde_json::Map::new();
    document.insert("schemaVersion".to_owned(), crate::output::SCHEMA_VERSION.into());
    match body {
        Value::Object(fields) => document.extend(fields),
        other => drop(document.insert("result".to_owned(), other)),
    }
    if !notes.is_empty() {
        document.insert("notes".to_owned(), notes.into());
    }
    Value::Object(document)
}

/// Prints `body` as the run's document, pretty, with the notes kept so far.
pub fn print(out: &mut dyn std::io::Write, body: Value) -> std::io::Result<()> {
    let document = document(body, crate::output::kept_notes());
    writeln!(out, "{}", serde_json::to_string_pretty(&document).expect("a JSON value prints"))
}

/// The document of a failed run, for stderr: the error's words, each diagnostic as data, and the exit code.
pub fn error(error: &anyhow::Error, code: u8, notes: Vec<String>) -> Value {
    let (message, diagnostics) = match error.downcast_ref::<Diagnostics>() {
        Some(found) => {
            let message = match found.0.as_slice() {
                [one] => one.message.clone(),
                many => format!("{} problems in the input", many.len()),
            };
            (message, found.0.iter().map(Diagnostic::to_json).collect())
        }
        None => (format!("{error:#}"), Vec::new()),
    };
    document(json!({"error": {"message": message, "exitCode": code, "diagnostics": diagnostics}}), notes)
}

/// The changes and effects as data: each file with its change kind and hunks.
pub fn diff(effects: &StepEffects, changes: &[FileChange]) -> Value {
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
            json!({"path": change.path, "change": change.kind().verb(), "hunks": hunks})
        })
        .collect();
    json!({"effects": effects, "files": files})
}

/// The plan's name, its current step and every step in order, each with its phase and whether it is current and
/// applied.
pub fn steps(plan: &crate::core::plan::Plan, current: Option<&crate::core::step_id::StepId>) -> Value {
    let current_index = current.and_then(|step| plan.step_index(step));
    let list: Vec<Value> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            json!({
                "index": index + 1, "id": step.as_str(), "phase": plan.phase_of(step).name(),
                "current": Some(index) == current_index, "applied": current_index.is_some_and(|c| index <= c),
            })
        })
        .collect();
    json!({"plan": plan.settings.name, "current": current.map(|step| step.as_str()), "steps": list})
}

/// The current step's gates and what ASM shows.
pub fn status(report: &crate::core::gate::GateReport) -> Value {
    json!({
        "plan": report.plan,
        "step": report.step.as_ref().map(|(step, _, _)| step.as_str()),
        "asm": report.asm,
        "gates": report.gates,
        "next": report.next.as_ref().map(|(step, preconditions)| json!({"step": step.as_str(), "preconditions": preconditions})),
        "ready": report.all_met(),
    })
}

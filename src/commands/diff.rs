//! `diff`: what applying a step would change in the repository, for a reviewer or a tool.

use std::io::Write;

use crate::commands::Workplace;
use crate::core::change::FileChange;
use crate::core::diagnostic::Diagnostics;
use crate::core::effects::StepEffects;
use crate::core::migration::StepSelector;
use crate::core::render::render_step;
use crate::output::{json, markdown, unified, DiffFormat};

/// What applying a step would change in the repository, and what that does.
pub struct Preview {
    pub changes: Vec<FileChange>,
    pub effects: StepEffects,
}

/// The selected step rendered against the working tree.
pub fn preview(workplace: &Workplace, selector: &StepSelector) -> anyhow::Result<Preview> {
    let migration = workplace.open()?;
    let templates = workplace.templates()?;
    let step = migration.resolve(selector)?;
    let pending = migration.pending(&step)?;
    let rendered = render_step(&migration, &pending, &templates)?;
    let changes = rendered.changes(&migration.repository).map_err(Diagnostics::from)?;
    let effects = StepEffects::of(&migration, &pending, &changes);
    Ok(Preview { changes, effects })
}

/// Exit 0, or 1 with `exit_code` when the step differs from the repository.
pub fn run(
    workplace: &Workplace,
    selector: &StepSelector,
    format: DiffFormat,
    exit_code: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let Preview { changes, effects } = preview(workplace, selector)?;
    match format {
        DiffFormat::Unified => write!(out, "{}", unified::unified(&changes, crate::output::colour::stdout()))?,
        DiffFormat::Markdown => write!(out, "{}", markdown::comment(&effects, &changes, markdown::COMMENT_LIMIT))?,
        DiffFormat::Json => json::print(out, json::diff(&effects, &changes))?,
    }
    Ok(if exit_code && !changes.is_empty() { 1 } else { 0 })
}

//! `advance`: the current step's gates, judged inside the lock on the repository as it is loaded once, then the
//! next step taken from that same reading; an unmet gate exits 1 with the reasons and makes no commit.

use std::io::Write;

use crate::commands::apply::{take_step, Target, WriteOptions};
use crate::commands::status::Observer;
use crate::commands::{now, Workplace};
use crate::core::gate::{Gate, GateOutcome};
use crate::core::migration::StepSelector;
use crate::core::state::{Confirmation, StateChange};
use crate::core::step_id::StepId;
use crate::core::text::rfc3339;
use crate::output::table;

pub struct AdvanceOptions {
    /// What no API can show, confirmed for the current step (its id).
    pub confirm: Option<StepId>,
    /// Skip unmet gates; the state and a commit trailer record it.
    pub force: bool,
    pub write: WriteOptions,
}

/// Why `advance` cannot judge the current step.
#[derive(Debug, thiserror::Error)]
pub enum AdvanceError {
    #[error("--confirm {confirmed}: the repository is at step {current}, and only the current step can be confirmed")]
    NotCurrent { confirmed: StepId, current: String },
    #[error("recording who confirmed or forced needs the repository's git identity: run inside a git repository")]
    NoIdentity,
}

pub fn run(
    workplace: &Workplace,
    observer: &Observer,
    options: &AdvanceOptions,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let (target, plan) = Target::open(workplace, &options.write, "asm-migrate advance")?;
    let migration = target.load(workplace, plan)?;
    let next = migration.resolve(&StepSelector::Next)?;
    let current = migration.current_step().cloned();
    if let Some(confirmed) = &options.confirm {
        if current.as_ref() != Some(confirmed) {
            let current = current.as_ref().map(ToString::to_string).unwrap_or_else(|| "(none)".to_owned());
            return Err(AdvanceError::NotCurrent { confirmed: confirmed.clone(), current }.into());
        }
    }
    let mut change = StateChange::default();
    if let Some(current) = current {
        let report = observer.report(&migration)?;
        let by = || -> anyhow::Result<String> {
            let git = target.git.as_ref().ok_or(AdvanceError::NoIdentity)?;
            let identity = git.identity()?;
            Ok(format!(
                "{} <{}>",
                identity.author.name().unwrap_or_default(),
                identity.author.email().unwrap_or_default()
            ))
        };
        let needs_confirmation =
            report.gates.iter().any(|gate| matches!(gate.outcome, GateOutcome::NeedsConfirmation(_)));
        if needs_confirmation && options.confirm.is_some() {
            change.confirmation = Some(Confirmation { step: current.clone(), at: rfc3339(now()), by: by()? });
        }
        let unmet: Vec<&Gate> = report
            .gates
            .iter()
            .filter(|gate| match gate.outcome {
                GateOutcome::Met => false,
                GateOutcome::NeedsConfirmation(_) => change.confirmation.is_none(),
                GateOutcome::Unmet(_) => true,
            })
            .collect();
        if !unmet.is_empty() {
            if !options.force {
                write!(out, "{}", table::status(&report))?;
                writeln!(out, "not advancing to {next}: {} gate(s) of {current} unmet", unmet.len())?;
                return Ok(1);
            }
            writeln!(
                out,
                "--force: advancing to {next} with {} gate(s) of {current} unmet; state.yaml records it",
                unmet.len()
            )?;
            change.gates_skipped = Some(Confirmation { step: current, at: rfc3339(now()), by: by()? });
        }
    }
    take_step(workplace, &target, migration, &StepSelector::Id(next), &change, &options.write, out)
}

//! `advance`: the current step's gates and the next step's preconditions, judged inside the lock on the
//! repository as it is loaded once, then the next step taken from that same reading; anything unmet exits 1
//! with the reasons and makes no commit.

use std::io::Write;

use serde_json::json;

use crate::commands::status::Observer;
use crate::commands::take::{take_step, Precheck, StepOutcome, StepRequest, Target, WriteOptions};
use crate::commands::{lines_for, now, Workplace};
use crate::core::gate::{Gate, GateOutcome, GateReport};
use crate::core::migration::StepSelector;
use crate::core::state::{Confirmation, StateChange};
use crate::core::step_id::StepId;
use crate::core::text::rfc3339;
use crate::output::{colour, json, table, ReportFormat};

pub struct AdvanceOptions {
    /// What no API can show, confirmed: the current step's gates or the next step's preconditions (their ids).
    pub confirm: Vec<StepId>,
    /// Skip what is unmet; the state and a commit trailer record it.
    pub force: bool,
    pub write: WriteOptions,
}

/// Why `advance` cannot judge the current step.
#[derive(Debug, thiserror::Error)]
pub enum AdvanceError {
    #[error(
        "--confirm {confirmed}: the repository is at step {current}; confirm {current} (its gates) or {next} (its \
         preconditions)"
    )]
    NotCurrentOrNext { confirmed: StepId, current: String, next: StepId },
}

pub fn run(
    workplace: &Workplace,
    observer: &Observer,
    options: &AdvanceOptions,
    format: ReportFormat,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let (target, plan) = Target::open(workplace, &options.write, "asm-migrate advance")?;
    let migration = target.load(workplace, plan)?;
    let next = migration.resolve(&StepSelector::Next)?;
    let current = migration.current_step().cloned();
    if let Some(confirmed) = options.confirm.iter().find(|step| Some(*step) != current.as_ref() && **step != next) {
        let current = current.as_ref().map(ToString::to_string).unwrap_or_else(|| "(none)".to_owned());
        return Err(AdvanceError::NotCurrentOrNext { confirmed: confirmed.clone(), current, next }.into());
    }
    let report = observer.report(&migration, target.read_at())?;
    let mut change = StateChange::default();
    for (step, gates) in
        report.step.iter().map(|(step, _, _)| (step, &report.gates)).chain(report.next.iter().map(|(s, g)| (s, g)))
    {
        let needs_confirmation = gates.iter().any(|gate| matches!(gate.outcome, GateOutcome::NeedsConfirmation(_)));
        if needs_confirmation && options.confirm.contains(step) {
            change.confirmations.push(Confirmation { step: step.clone(), at: rfc3339(now()), by: target.who() });
        }
    }
    let unmet = Unmet::of(&report, &change);
    let document = |applied: Option<&StepOutcome>| {
        json!({
            "advanced": applied.is_some(),
            "from": current.as_ref().map(StepId::as_str),
            "to": next.as_str(),
            "forced": options.force && !unmet.is_empty(),
            "unmet": {"gates": unmet.gates, "preconditions": unmet.preconditions},
            "status": json::status(&report),
            "applied": applied,
        })
    };
    let mut sink = std::io::sink();
    let lines = lines_for(format, out, &mut sink);
    if !unmet.is_empty() {
        let current = current.as_ref().map(ToString::to_string).unwrap_or_default();
        if !options.force {
            write!(lines, "{}", table::status(&report, colour::stdout()))?;
            writeln!(lines, "not advancing to {next}: {}", unmet.describe(&current, &next))?;
            if format == ReportFormat::Json {
                json::print(out, document(None))?;
            }
            return Ok(1);
        }
        writeln!(
            lines,
            "--force: advancing to {next} with {}; state.yaml records it",
            unmet.describe(&current, &next)
        )?;
        let skipped = match migration.current_step() {
            Some(current) if unmet.gates > 0 => current.clone(),
            _ => next.clone(),
        };
        change.gates_skipped = Some(Confirmation { step: skipped, at: rfc3339(now()), by: target.who() });
    }
    let request =
        StepRequest { selector: &StepSelector::Id(next.clone()), change: &change, precheck: Precheck::Checked };
    let outcome = take_step(workplace, &target, migration, &request, &options.write, lines)?;
    if format == ReportFormat::Json {
        json::print(out, document(Some(&outcome)))?;
    }
    Ok(0)
}

/// How many gates of the current step and preconditions of the next are unmet, counting confirmations given now.
struct Unmet {
    gates: usize,
    preconditions: usize,
}

impl Unmet {
    fn of(report: &GateReport, change: &StateChange) -> Unmet {
        let confirmed =
            |step: Option<&StepId>| step.is_some_and(|step| change.confirmations.iter().any(|c| &c.step == step));
        let unmet = |gates: &[Gate], confirmed: bool| {
            gates
                .iter()
                .filter(|gate| match gate.outcome {
                    GateOutcome::Met => false,
                    GateOutcome::NeedsConfirmation(_) => !confirmed,
                    GateOutcome::Unmet(_) => true,
                })
                .count()
        };
        let current = report.step.as_ref().map(|(step, _, _)| step);
        let (next, preconditions) = match &report.next {
            Some((step, preconditions)) => (Some(step), preconditions.as_slice()),
            None => (None, &[][..]),
        };
        Unmet { gates: unmet(&report.gates, confirmed(current)), preconditions: unmet(preconditions, confirmed(next)) }
    }

    fn is_empty(&self) -> bool {
        self.gates == 0 && self.preconditions == 0
    }

    /// `1 gate(s) of setup unmet`, `2 precondition(s) of finished unmet`, or both.
    fn describe(&self, current: &str, next: &StepId) -> String {
        match (self.gates, self.preconditions) {
            (gates, 0) => format!("{gates} gate(s) of {current} unmet"),
            (0, preconditions) => format!("{preconditions} precondition(s) of {next} unmet"),
            (gates, preconditions) => {
                format!("{gates} gate(s) of {current} and {preconditions} precondition(s) of {next} unmet")
            }
        }
    }
}

//! `retry`: `retryCounter + 1` on the current step, when ASM reports a failed switch; taken like any step.

use std::io::Write;

use serde_json::json;

use crate::commands::status::Observer;
use crate::commands::take::{take_step, Precheck, StepOutcome, StepRequest, Target, WriteOptions};
use crate::commands::{lines_for, Workplace};
use crate::core::migration::{StepError, StepSelector};
use crate::core::state::StateChange;
use crate::output::{json, ReportFormat};

#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("no step has been applied yet: there is nothing to retry")]
    NothingApplied,
    #[error("retryCounter is {0}, the most ASM's int32 holds: it cannot be bumped again")]
    CounterAtItsEnd(u32),
}

pub fn run(
    workplace: &Workplace,
    observer: &Observer,
    write: &WriteOptions,
    format: ReportFormat,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let (target, plan) = Target::open(workplace, write, "asm-migrate retry")?;
    let migration = target.load(workplace, plan)?;
    let current = migration.resolve(&StepSelector::Current).map_err(|error| match error {
        StepError::NoneApplied => anyhow::Error::from(RetryError::NothingApplied),
        other => other.into(),
    })?;
    if migration.state.retry_counter >= crate::core::state::RETRY_COUNTER_MAX {
        return Err(RetryError::CounterAtItsEnd(migration.state.retry_counter).into());
    }
    let observation = observer.observe(&migration)?;
    let message = observation.asm.and_then(|asm| asm.message);
    let counter = migration.state.retry_counter;
    let retry_counter = counter + 1;
    let document = |applied: Option<&StepOutcome>| {
        json!({
            "retried": applied.is_some(),
            "step": current.as_str(),
            "asmMessage": message,
            "retryCounter": if applied.is_some() { retry_counter } else { counter },
            "applied": applied,
        })
    };
    let mut sink = std::io::sink();
    let lines = lines_for(format, out, &mut sink);
    let Some(message) = &message else {
        writeln!(lines, "nothing to retry: ASM reports no failed switch for step {current}")?;
        if format == ReportFormat::Json {
            json::print(out, document(None))?;
        }
        return Ok(1);
    };
    writeln!(lines, "ASM reports: \"{message}\"; retrying step {current} (retryCounter {retry_counter})")?;
    let change = StateChange { retry: true, ..StateChange::default() };
    let selector = StepSelector::Id(current.clone());
    let request = StepRequest { selector: &selector, change: &change, precheck: Precheck::Checked };
    let outcome = take_step(workplace, &target, migration, &request, write, lines)?;
    if format == ReportFormat::Json {
        json::print(out, document(Some(&outcome)))?;
    }
    Ok(0)
}

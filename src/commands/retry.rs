//! `retry`: `retryCounter + 1` on the current step, when ASM reports a failed switch; taken like any step.

use std::io::Write;

use crate::commands::apply::{take_step, Precheck, StepRequest, Target, WriteOptions};
use crate::commands::status::Observer;
use crate::commands::Workplace;
use crate::core::migration::{StepError, StepSelector};
use crate::core::state::StateChange;

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
    let Some(message) = observation.asm.and_then(|asm| asm.message) else {
        writeln!(out, "nothing to retry: ASM reports no failed switch for step {current}")?;
        return Ok(1);
    };
    writeln!(
        out,
        "ASM reports: \"{message}\"; retrying step {current} (retryCounter {})",
        migration.state.retry_counter + 1
    )?;
    let change = StateChange { retry: true, ..StateChange::default() };
    let request = StepRequest { selector: &StepSelector::Id(current), change: &change, precheck: Precheck::Checked };
    take_step(workplace, &target, migration, &request, write, out)
}

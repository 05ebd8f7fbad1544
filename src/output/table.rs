//! Tables for people: the plan's steps, and the current step's gates.

use std::fmt::Write;

use crate::core::gate::{Gate, GateOutcome, GateReport};
use crate::core::plan::Plan;
use crate::core::step_id::StepId;
use crate::output::colour::{paint, Style};

/// The steps in order, the current one marked with `*`.
pub fn steps(plan: &Plan, current: Option<&StepId>) -> String {
    let width = plan.steps.iter().map(|step| step.as_str().len()).max().unwrap_or(4).max(4);
    let mut table = format!("   #  {:width$}  PHASE\n", "STEP");
    for (index, step) in plan.steps.iter().enumerate() {
        let marker = if Some(step) == current { "*" } else { " " };
        let _ = writeln!(table, "{marker} {:>2}  {:width$}  {}", index + 1, step.as_str(), plan.phase_of(step).name());
    }
    table
}

/// The current step, what ASM shows, and each gate with its outcome and reason; with `colour`, outcomes
/// coloured (met green, unmet red, confirm yellow).
pub fn status(report: &GateReport, colour: bool) -> String {
    let Some((step, index, total)) = &report.step else {
        return format!("plan {}: no step applied yet; the first is `init` (asm-migrate advance)\n", report.plan);
    };
    let mut table = format!("plan {}: step {step} ({index}/{total})\n", report.plan);
    if let Some(asm) = &report.asm {
        let number = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_else(|| "-".to_owned());
        let _ = writeln!(
            table,
            "ASM: desiredState {}, state {}, retryCounter {}/{}{}",
            asm.desired_state.as_deref().unwrap_or("-"),
            asm.state.as_deref().unwrap_or("-"),
            number(asm.retry_counter),
            number(asm.status_retry_counter),
            asm.message.as_deref().map(|message| format!(", message \"{message}\"")).unwrap_or_default()
        );
    }
    let preconditions = report.next.iter().flat_map(|(_, preconditions)| preconditions);
    let width = report.gates.iter().chain(preconditions).map(|gate| gate.name.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(table, "{:width$}  OUTCOME", "GATE");
    gate_rows(&mut table, &report.gates, width, colour);
    if let Some((next, preconditions)) = &report.next {
        let _ = writeln!(table, "before {next}:");
        gate_rows(&mut table, preconditions, width, colour);
    }
    table
}

fn gate_rows(table: &mut String, gates: &[Gate], width: usize, colour: bool) {
    for gate in gates {
        let (outcome, style, reason) = match &gate.outcome {
            GateOutcome::Met => ("met", Style::Green, String::new()),
            GateOutcome::Unmet(reason) => ("unmet", Style::Red, format!("  {reason}")),
            GateOutcome::NeedsConfirmation(reason) => ("confirm", Style::Yellow, format!("  {reason}")),
        };
        let _ = writeln!(table, "{:width$}  {}{reason}", gate.name, paint(outcome, style, colour));
    }
}

//! What `status --wait` shows while it waits: on a terminal a live block with a line per gate, in a log plain
//! lines when a gate changes. Pure functions from a report and the time waited to text.

use std::time::Duration;

use crate::core::gate::{Gate, GateOutcome, GateReport};
use crate::output::colour::{paint, Style};

/// `75s` as `1m15s`, `3600s` as `1h0m0s`: how long, as people read it.
pub fn duration(time: Duration) -> String {
    let seconds = time.as_secs();
    match (seconds / 3600, seconds % 3600 / 60, seconds % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

/// Every gate and precondition the wait is about, with the step it belongs to.
fn rows(report: &GateReport) -> Vec<(String, &Gate)> {
    let current = report.step.as_ref().map(|(step, _, _)| step.to_string()).unwrap_or_default();
    let mut rows: Vec<(String, &Gate)> = report.gates.iter().map(|gate| (current.clone(), gate)).collect();
    if let Some((next, preconditions)) = &report.next {
        rows.extend(preconditions.iter().map(|gate| (format!("before {next}"), gate)));
    }
    rows
}

/// The live block: a head line with the time waited, then a line per gate with what it waits for, each cut to
/// `width` columns so that the block can be redrawn in place.
pub fn live(report: &GateReport, waited: Duration, timeout: Duration, width: usize, colour: bool) -> Vec<String> {
    let step = report.step.as_ref().map(|(step, _, _)| step.to_string()).unwrap_or_else(|| "(none)".to_owned());
    let mut lines = vec![format!("waiting for the gates of {step}: {} of {}", duration(waited), duration(timeout))];
    let name_width = rows(report).iter().map(|(_, gate)| gate.name.len()).max().unwrap_or(0);
    for (owner, gate) in rows(report) {
        let (word, style, reason) = match &gate.outcome {
            GateOutcome::Met => ("met    ", Style::Green, String::new()),
            GateOutcome::Unmet(reason) => ("waiting", Style::Yellow, format!(": {reason}")),
            GateOutcome::NeedsConfirmation(_) => ("confirm", Style::Cyan, ": asked by advance --confirm".to_owned()),
        };
        let scope = if owner.starts_with("before ") { format!(" ({owner})") } else { String::new() };
        let plain = format!("  {word} {:name_width$}{scope}{reason}", gate.name);
        let cut = cut(plain.trim_end(), width);
        // Only the word is painted, after the cut, so that escapes never count as columns.
        lines.push(cut.replacen(word, &paint(word, style, colour), 1));
    }
    lines
}

/// `text` cut to `width` characters, with `…` where it was cut.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width || width == 0 {
        return text.to_owned();
    }
    let mut kept: String = text.chars().take(width.saturating_sub(1)).collect();
    kept.push('…');
    kept
}

/// The outcome of each gate as last shown in a log, to tell what changed.
pub type Shown = Vec<(String, GateOutcome)>;

/// Log lines for what changed since `shown` (everything, the first time): `[12s] waiting: <gate>: <reason>` for
/// a gate unmet or whose reason changed, `[14s] met: <gate>` for one met since; and what is shown now.
pub fn log(report: &GateReport, waited: Duration, shown: &Shown) -> (Vec<String>, Shown) {
    let now: Shown = rows(report)
        .into_iter()
        .map(|(owner, gate)| (format!("{owner}: {}", gate.name), gate.outcome.clone()))
        .collect();
    let at = duration(waited);
    let lines = now
        .iter()
        .filter(|(name, outcome)| !shown.iter().any(|(before, was)| before == name && was == outcome))
        .filter_map(|(name, outcome)| match outcome {
            GateOutcome::Met if shown.is_empty() => None,
            GateOutcome::Met => Some(format!("[{at}] met: {name}")),
            GateOutcome::Unmet(reason) => Some(format!("[{at}] waiting: {name}: {reason}")),
            GateOutcome::NeedsConfirmation(_) => None,
        })
        .collect();
    (lines, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::step_id::StepId;

    fn report(restarted: GateOutcome) -> GateReport {
        GateReport {
            plan: "shop".to_owned(),
            step: Some(("setup".parse::<StepId>().expect("a step id"), 2, 9)),
            asm: None,
            gates: vec![Gate::new("ASM switched", GateOutcome::Met), Gate::new("pods restarted", restarted)],
            next: None,
        }
    }

    #[test]
    fn durations_read_as_people_read_them() {
        assert_eq!(duration(Duration::from_secs(9)), "9s");
        assert_eq!(duration(Duration::from_secs(75)), "1m15s");
        assert_eq!(duration(Duration::from_secs(3600)), "1h0m0s");
    }

    #[test]
    fn the_live_block_has_a_line_per_gate_cut_to_the_terminal() {
        let waiting =
            report(GateOutcome::Unmet("3 pod(s) on Istio's proxy: shop/api-1, shop/api-2 and shop/web-1".into()));
        let lines = live(&waiting, Duration::from_secs(12), Duration::from_secs(600), 60, false);
        assert_eq!(lines[0], "waiting for the gates of setup: 12s of 10m0s");
        assert_eq!(lines[1], "  met     ASM switched");
        assert_eq!(lines[2].chars().count(), 60, "{}", lines[2]);
        assert!(lines[2].starts_with("  waiting pods restarted: 3 pod(s) on Istio's proxy"), "{}", lines[2]);
        assert!(lines[2].ends_with('…'));
    }

    #[test]
    fn the_log_says_only_what_changed() {
        let (first, shown) = log(&report(GateOutcome::Unmet("3 pod(s)".into())), Duration::from_secs(0), &Vec::new());
        assert_eq!(first, ["[0s] waiting: setup: pods restarted: 3 pod(s)"]);
        let (same, shown) = log(&report(GateOutcome::Unmet("3 pod(s)".into())), Duration::from_secs(2), &shown);
        assert!(same.is_empty(), "{same:?}");
        let (fewer, shown) = log(&report(GateOutcome::Unmet("1 pod(s)".into())), Duration::from_secs(4), &shown);
        assert_eq!(fewer, ["[4s] waiting: setup: pods restarted: 1 pod(s)"]);
        let (met, _) = log(&report(GateOutcome::Met), Duration::from_secs(75), &shown);
        assert_eq!(met, ["[1m15s] met: setup: pods restarted"]);
    }
}

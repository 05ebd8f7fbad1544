//! `status`, `advance` and `retry`: the current step's gates over what the clusters show, then the next step.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;

use crate::app::{fresh_stamp, rfc3339, Session, SessionOptions};
use crate::apply::{self, ApplyOptions};
use crate::gates::{gates, Gate, GateInput, GateOutcome};
use crate::git::GitRepo;
use crate::observe::Observation;
use crate::state::{Confirmation, StateChange};
use crate::steps::{desired_after, StepContext, StepId};

/// Where observations come from.
pub enum Source {
    /// `kubectl get -o yaml` dumps (see `snapshot`).
    Snapshot(PathBuf),
    /// The API servers, through the kubeconfig's contexts.
    Live(crate::cluster::Connections),
}

impl Source {
    pub fn observe(&self, session: &Session) -> anyhow::Result<Observation> {
        match self {
            Source::Snapshot(dir) => Ok(crate::snapshot::read_snapshot(dir, &session.plan)?),
            Source::Live(connections) => connections.observe(&session.plan),
        }
    }
}

/// The current step and its gates, as observed.
pub struct Report {
    pub step: Option<StepId>,
    pub observation: Observation,
    pub gates: Vec<Gate>,
}

impl Report {
    pub fn all_met(&self) -> bool {
        self.gates.iter().all(Gate::met)
    }
}

pub fn report(session: &Session, source: &Source) -> anyhow::Result<Report> {
    let observation = source.observe(session)?;
    let Some(step) = session.current_step() else {
        return Ok(Report { step: None, observation, gates: Vec::new() });
    };
    let inventory = session.inventory(&step)?;
    let stamp = fresh_stamp(&session.root);
    let context =
        StepContext { plan: &session.plan, inventory: &inventory, state: &session.state, fresh_stamp: &stamp };
    let desired = desired_after(&context, &step);
    let gates = gates(&GateInput {
        plan: &session.plan,
        step: &step,
        state: &session.state,
        desired: &desired,
        observation: &observation,
    });
    Ok(Report { step: Some(step), observation, gates })
}

fn print_report(session: &Session, report: &Report, json_output: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    if json_output {
        let value = json!({
            "plan": session.plan.name,
            "step": report.step.as_ref().map(ToString::to_string),
            "asm": report.observation.asm,
            "gates": report.gates,
            "ready": report.all_met(),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    let Some(step) = &report.step else {
        writeln!(out, "plan {}: no step applied yet; the first is `init` (asm-migrate advance)", session.plan.name)?;
        return Ok(());
    };
    let index = session.plan.step_index(step).map(|index| index + 1).unwrap_or(0);
    writeln!(out, "plan {}: step {step} ({index}/{})", session.plan.name, session.plan.steps.len())?;
    if let Some(asm) = &report.observation.asm {
        writeln!(
            out,
            "ASM: desiredState {}, state {}, retryCounter {}/{}{}",
            asm.desired_state.as_deref().unwrap_or("-"),
            asm.state.as_deref().unwrap_or("-"),
            asm.retry_counter.map(|n| n.to_string()).unwrap_or_else(|| "-".to_owned()),
            asm.status_retry_counter.map(|n| n.to_string()).unwrap_or_else(|| "-".to_owned()),
            asm.message.as_deref().map(|message| format!(", message \"{message}\"")).unwrap_or_default()
        )?;
    }
    let width = report.gates.iter().map(|gate| gate.name.len()).max().unwrap_or(4).max(4);
    writeln!(out, "{:width$}  OUTCOME", "GATE")?;
    for gate in &report.gates {
        let (outcome, reason) = match &gate.outcome {
            GateOutcome::Met => ("met", String::new()),
            GateOutcome::Unmet(reason) => ("unmet", format!("  {reason}")),
            GateOutcome::NeedsConfirmation(reason) => ("confirm", format!("  {reason}")),
        };
        writeln!(out, "{:width$}  {outcome}{reason}", gate.name)?;
    }
    Ok(())
}

pub struct StatusOptions {
    pub json: bool,
    /// Poll until every gate is met, at most this long.
    pub wait: Option<Duration>,
}

/// Exit 0, or 1 when waiting ran out with gates unmet.
pub fn status(session: &Session, source: &Source, options: &StatusOptions, out: &mut dyn Write) -> anyhow::Result<i32> {
    let Some(timeout) = options.wait else {
        print_report(session, &report(session, source)?, options.json, out)?;
        return Ok(0);
    };
    let started = Instant::now();
    let terminal = std::io::stderr().is_terminal();
    loop {
        let current = report(session, source)?;
        // A confirmation is never observed: waiting is for what the clusters can show.
        let observed_met = current.gates.iter().all(|gate| !matches!(gate.outcome, GateOutcome::Unmet(_)));
        if observed_met || started.elapsed() >= timeout {
            print_report(session, &current, options.json, out)?;
            if terminal {
                eprint!("\r\x1b[K");
            }
            return Ok(if observed_met { 0 } else { 1 });
        }
        if terminal {
            let unmet = current.gates.iter().filter(|gate| matches!(gate.outcome, GateOutcome::Unmet(_))).count();
            eprint!(
                "\r\x1b[Kwaiting {}s of {}s: {unmet} gate(s) unmet",
                started.elapsed().as_secs(),
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_secs(2).min(timeout.saturating_sub(started.elapsed())));
    }
}

pub struct AdvanceOptions<'a> {
    pub confirm: Option<&'a str>,
    pub force: bool,
    pub apply: ApplyOptions<'a>,
}

/// The current step's gates, then the next step applied; exit 1 with the reasons and no commit when a gate is
/// unmet.
pub fn advance(
    session_options: &SessionOptions<'_>,
    source: &Source,
    options: AdvanceOptions<'_>,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let session = Session::open(session_options)?;
    let next = session.resolve_step("next")?;
    let current = session.current_step();
    if let (Some(confirmed), current) = (options.confirm, &current) {
        if current.as_ref().map(ToString::to_string).as_deref() != Some(confirmed) {
            bail!(
                "--confirm {confirmed}: the repository is at step {}, and only the current step can be confirmed",
                current.as_ref().map(ToString::to_string).unwrap_or_else(|| "(none)".to_owned())
            );
        }
    }
    let mut change = StateChange::default();
    if current.is_some() {
        let report = report(&session, source)?;
        let by = || -> anyhow::Result<String> {
            let git =
                GitRepo::open(&session.root).context("recording who confirmed needs the repository's git identity")?;
            let identity = git.identity()?;
            Ok(format!(
                "{} <{}>",
                identity.author.name().unwrap_or_default(),
                identity.author.email().unwrap_or_default()
            ))
        };
        let now = || {
            rfc3339(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0),
            )
        };
        let step = report.step.as_ref().map(ToString::to_string).unwrap_or_default();
        let needs_confirmation =
            report.gates.iter().any(|gate| matches!(gate.outcome, GateOutcome::NeedsConfirmation(_)));
        if needs_confirmation && options.confirm.is_some() {
            change.confirmation = Some(Confirmation { step: step.clone(), at: now(), by: by()? });
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
                print_report(&session, &report, false, out)?;
                writeln!(out, "not advancing to {next}: {} gate(s) of {step} unmet", unmet.len())?;
                return Ok(1);
            }
            writeln!(
                out,
                "--force: advancing to {next} with {} gate(s) of {step} unmet; state.yaml records it",
                unmet.len()
            )?;
            change.gates_skipped = Some(Confirmation { step, at: now(), by: by()? });
        }
    }
    let step = next.to_string();
    apply::apply(session_options, &ApplyOptions { step: &step, state_change: change, ..options.apply }, out)
}

/// `retryCounter + 1` on the current step, when ASM reports a failed switch.
pub fn retry(
    session_options: &SessionOptions<'_>,
    source: &Source,
    apply_options: ApplyOptions<'_>,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let session = Session::open(session_options)?;
    let Some(current) = session.current_step() else {
        bail!("no step has been applied yet: there is nothing to retry")
    };
    let observation = source.observe(&session)?;
    let failed = observation.asm.as_ref().and_then(|asm| asm.message.clone());
    let Some(message) = failed else {
        writeln!(out, "nothing to retry: ASM reports no failed switch for step {current}")?;
        return Ok(1);
    };
    writeln!(
        out,
        "ASM reports: \"{message}\"; retrying step {current} (retryCounter {})",
        session.state.retry_counter + 1
    )?;
    let step = current.to_string();
    let change = StateChange { retry: true, ..StateChange::default() };
    apply::apply(session_options, &ApplyOptions { step: &step, state_change: change, ..apply_options }, out)
}

/// `30s`, `5m`, `1h` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) =
        text.trim().split_at(text.trim().find(|c: char| !c.is_ascii_digit()).unwrap_or(text.trim().len()));
    let value: u64 = number.parse().map_err(|_| format!("`{text}` is not a duration such as 90s, 10m or 1h"))?;
    let seconds = match unit {
        "" | "s" => value,
        "m" => value * 60,
        "h" => value * 3600,
        _ => return Err(format!("`{text}` is not a duration such as 90s, 10m or 1h")),
    };
    Ok(Duration::from_secs(seconds))
}

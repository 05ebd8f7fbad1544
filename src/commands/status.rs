//! `status`: the current step and its gates over what the ASM control plane and the clusters show; with
//! `--wait`, until the gates hold.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use git2::Oid;

use crate::adapters::cluster::Connections;
use crate::adapters::git::GitRepo;
use crate::adapters::snapshot::read_snapshot;
use crate::commands::Workplace;
use crate::core::gate::GateReport;
use crate::core::migration::Migration;
use crate::core::migration::StepSelector;
use crate::core::observe::Observation;
use crate::output::{json, table, OutputFormat};

/// Where observations come from.
pub enum Observer {
    /// `kubectl get -o yaml` dumps (see `snapshot`).
    Snapshot(PathBuf),
    /// The API servers, through the kubeconfig's contexts.
    Live(Box<Connections>),
}

impl Observer {
    pub fn observe(&self, migration: &Migration) -> anyhow::Result<Observation> {
        match self {
            Observer::Snapshot(dir) => Ok(read_snapshot(dir, &migration.plan.settings)?),
            Observer::Live(connections) => Ok(connections.observe(&migration.plan.settings)?),
        }
    }

    /// The current step's gates over what is observed now; `history` (the repository and the commit the
    /// migration was read at) tells which commit rendered the step, for the GitOps objects the plan names.
    pub fn report(&self, migration: &Migration, history: Option<(&GitRepo, Oid)>) -> anyhow::Result<GateReport> {
        let mut observation = self.observe(migration)?;
        if let (Some((git, tip)), Some(step)) = (history, migration.current_step()) {
            if !observation.synced.is_empty() {
                let commit = git.step_commit(tip, &step.to_string())?;
                observation.step_commit = commit.map(|commit| commit.to_string());
                for synced in &mut observation.synced {
                    synced.holds_step = commit.zip(synced.revision.as_deref()).and_then(|(c, r)| git.holds(r, c));
                }
            }
        }
        let gates = migration.gates(&observation)?;
        let plan = &migration.plan;
        let next = match migration.resolve(&StepSelector::Next) {
            Ok(next) => Some((next.clone(), migration.preconditions(&next, &observation)?)),
            Err(_) => None,
        };
        Ok(GateReport {
            plan: plan.settings.name.clone(),
            step: gates.as_ref().map(|(step, _)| {
                let (index, total) = plan.position(step);
                (step.clone(), index, total)
            }),
            asm: observation.asm,
            gates: gates.map(|(_, gates)| gates).unwrap_or_default(),
            next: next.filter(|(_, preconditions)| !preconditions.is_empty()),
        })
    }
}

pub fn print(report: &GateReport, format: OutputFormat, out: &mut dyn Write) -> anyhow::Result<()> {
    match format {
        OutputFormat::Table => write!(out, "{}", table::status(report))?,
        OutputFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&json::status(report))?)?,
    }
    Ok(())
}

/// Exit 0, or 1 when waiting ran out with gates unmet.
pub fn run(
    workplace: &Workplace,
    observer: &Observer,
    format: OutputFormat,
    wait: Option<Duration>,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let migration = workplace.open()?;
    let git = GitRepo::open(&workplace.root()).ok();
    let history = git.as_ref().and_then(|git| Some((git, git.head_commit()?)));
    let Some(timeout) = wait else {
        print(&observer.report(&migration, history)?, format, out)?;
        return Ok(0);
    };
    let started = Instant::now();
    let terminal = std::io::stderr().is_terminal();
    loop {
        let report = observer.report(&migration, history)?;
        // A confirmation is never observed: waiting is for what the clusters can show.
        let met = report.observed_met();
        if met || started.elapsed() >= timeout {
            print(&report, format, out)?;
            if terminal {
                crate::output::to_stderr("\r\x1b[K");
            }
            return Ok(if met { 0 } else { 1 });
        }
        if terminal {
            let unmet = report.observed_unmet();
            crate::output::to_stderr(&format!(
                "\r\x1b[Kwaiting {}s of {}s: {unmet} gate(s) unmet",
                started.elapsed().as_secs(),
                timeout.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_secs(2).min(timeout.saturating_sub(started.elapsed())));
    }
}

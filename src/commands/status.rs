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
use crate::output::{colour, json, progress, table, OutputFormat};

/// Where observations come from.
pub enum Observer {
    /// `kubectl get -o yaml` dumps (see `snapshot`).
    Snapshot(PathBuf),
    /// The API servers, through the kubeconfig's contexts.
    Live(Box<Connections>),
}

impl Observer {
    pub fn observe(&self, migration: &Migration) -> anyhow::Result<Observation> {
        let reads = migration.plan.cluster_reads();
        match self {
            Observer::Snapshot(dir) => Ok(read_snapshot(dir, &migration.plan.settings, &reads)?),
            Observer::Live(connections) => Ok(connections.observe(&migration.plan.settings, &reads)?),
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
        OutputFormat::Table => write!(out, "{}", table::status(report, colour::stdout()))?,
        OutputFormat::Json => json::print(out, json::status(report))?,
    }
    Ok(())
}

/// How `status --wait` shows that it is waiting, on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A live block, redrawn in place: stderr is a terminal.
    Live,
    /// Plain lines when a gate changes: stderr is a log.
    Log,
    /// Nothing but the result (`--quiet`).
    Quiet,
}

impl Progress {
    pub fn for_stderr(quiet: bool) -> Progress {
        match (quiet, std::io::stderr().is_terminal()) {
            (true, _) => Progress::Quiet,
            (false, true) => Progress::Live,
            (false, false) => Progress::Log,
        }
    }
}

/// How often `--wait` reads the clusters again.
const POLL: Duration = Duration::from_secs(2);

/// Exit 0 when every gate the clusters can show is met, 1 when one is not (with `--wait`, when one is still not
/// at the timeout). Gates that need a confirmation never count: no API shows them.
pub fn run(
    workplace: &Workplace,
    observer: &Observer,
    format: OutputFormat,
    wait: Option<(Duration, Progress)>,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let migration = workplace.open()?;
    let git = GitRepo::open(&workplace.root()).ok();
    let history = git.as_ref().and_then(|git| Some((git, git.head_commit()?)));
    let Some((timeout, progress)) = wait else {
        let report = observer.report(&migration, history)?;
        print(&report, format, out)?;
        return Ok(if report.observed_met() { 0 } else { 1 });
    };
    let started = Instant::now();
    let mut drawn = 0;
    let mut shown = Vec::new();
    loop {
        let report = observer.report(&migration, history)?;
        let waited = started.elapsed();
        let met = report.observed_met();
        if met || waited >= timeout {
            if progress == Progress::Live {
                crate::output::to_stderr(&erase(drawn));
            }
            print(&report, format, out)?;
            return Ok(if met { 0 } else { 1 });
        }
        match progress {
            Progress::Live => {
                let lines = progress::live(&report, waited, timeout, terminal_width(), colour::stderr());
                let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
                crate::output::to_stderr(&format!("{}{text}", erase(drawn)));
                drawn = lines.len();
            }
            Progress::Log => {
                let (lines, now) = progress::log(&report, waited, &shown);
                crate::output::to_stderr(&lines.iter().map(|line| format!("{line}\n")).collect::<String>());
                shown = now;
            }
            Progress::Quiet => {}
        }
        std::thread::sleep(POLL.min(timeout.saturating_sub(started.elapsed())));
    }
}

/// The escapes that move up over the `lines` drawn last and clear them.
fn erase(lines: usize) -> String {
    match lines {
        0 => String::new(),
        n => format!("\x1b[{n}A\x1b[J"),
    }
}

/// The terminal's width in columns: `COLUMNS` when set (as shells export it), else what the terminal says, else 80.
fn terminal_width() -> usize {
    let from_environment = std::env::var("COLUMNS").ok().and_then(|columns| columns.parse().ok());
    from_environment.or_else(stderr_columns).filter(|width| *width > 0).unwrap_or(80)
}

/// The width of the terminal on stderr, as the TIOCGWINSZ ioctl reports it.
fn stderr_columns() -> Option<usize> {
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one winsize into the pointer it is given, which points at a live local.
    let answered = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    answered.then_some(usize::from(size.ws_col))
}

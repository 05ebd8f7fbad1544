//! The commands: each loads what it needs through the adapters, once, runs the pure core, and reports.

pub mod advance;
pub mod apply;
pub mod completion;
pub mod demo;
pub mod diff;
pub mod init;
pub mod man;
pub mod render;
pub mod retry;
pub mod schema;
pub mod status;
pub mod steps;
pub mod take;
pub mod validate;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::adapters::git::GitRepo;
use crate::adapters::load::load_repository;
use crate::adapters::template_dir::{templates, TemplateDirError};
use crate::adapters::workspace::Workspace;
use crate::adapters::RepoFiles;
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::migration::Migration;
use crate::core::plan::{self, Plan};
use crate::core::templates::Templates;
use crate::core::text::rfc3339;
use crate::output::ReportFormat;

/// Where a command works: the plan (`--plan`), the repository (`--repo`) and the templates (`--templates`), the
/// flags of every command that reads a plan.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Workplace {
    /// The migration plan (default: migration.yaml at the repository root).
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// The GitOps repository (default: the plan's directory, else the current directory).
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// A directory of templates replacing the built-in ones with the same relative path.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

/// Why a command cannot start.
#[derive(Debug, thiserror::Error)]
pub enum WorkplaceError {
    #[error("repository directory {0} does not exist")]
    NoRepository(PathBuf),
    #[error(transparent)]
    Templates(#[from] TemplateDirError),
}

impl Workplace {
    /// The repository: `--repo`, else the plan's directory, else the nearest directory with a `migration.yaml`
    /// from the current one up to the root of its git work tree (as git finds `.git`), else the current directory.
    pub fn root(&self) -> PathBuf {
        match (&self.repo, &self.plan) {
            (Some(repo), _) => repo.clone(),
            (None, Some(plan)) => {
                plan.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_owned()
            }
            (None, None) => plan_directory_above(Path::new(".")).unwrap_or_else(|| PathBuf::from(".")),
        }
    }

    /// The plan, read from the working tree and validated.
    pub fn read_plan(&self) -> anyhow::Result<Plan> {
        Ok(self.read_plan_and_source()?.0)
    }

    /// The plan, and the text it was read from.
    pub fn read_plan_and_source(&self) -> anyhow::Result<(Plan, String)> {
        let root = self.root();
        if !root.is_dir() {
            return Err(WorkplaceError::NoRepository(root).into());
        }
        let (file, display) = match &self.plan {
            Some(plan) => (plan.clone(), plan.clone()),
            None => (root.join("migration.yaml"), PathBuf::from("migration.yaml")),
        };
        if !file.is_file() {
            return Err(Diagnostics::from(
                Diagnostic::in_file(&display, "no plan here")
                    .with_help("write one (see `asm-migrate schema`) or point at it with --plan FILE"),
            )
            .into());
        }
        let source = std::fs::read_to_string(&file)
            .map_err(|error| Diagnostic::in_file(&display, format!("cannot read the plan: {error}")))
            .map_err(Diagnostics::from)?;
        Ok((plan::parse(&display, &source)?, source))
    }

    pub fn templates(&self) -> Result<Templates, WorkplaceError> {
        Ok(templates(self.templates.as_deref())?)
    }

    /// The migration as the working tree holds it.
    pub fn open(&self) -> anyhow::Result<Migration> {
        let plan = self.read_plan()?;
        let git = GitRepo::open(&self.root()).ok();
        Ok(self.load(plan, &Workspace::new(&self.root()), git.as_ref())?)
    }

    /// The migration as `files` hold it, read once; `git` gives the restart stamp's time.
    pub fn load(&self, plan: Plan, files: &dyn RepoFiles, git: Option<&GitRepo>) -> Result<Migration, Diagnostics> {
        if git.is_some_and(crate::adapters::transaction::interrupted) {
            crate::output::note(
                "an asm-migrate run was interrupted in this repository: what is read here may be half of a \
                 step; the next apply, advance or retry puts the repository back in order first",
            );
        }
        let repository = load_repository(files, &plan);
        Migration::new(plan, repository, fresh_stamp(git))
    }
}

/// The nearest directory holding a `migration.yaml`, from `start` up to its git work tree's root.
fn plan_directory_above(start: &Path) -> Option<PathBuf> {
    let start = start.canonicalize().ok()?;
    let top = GitRepo::open(&start).ok().and_then(|git| git.work_tree()).and_then(|dir| dir.canonicalize().ok());
    for dir in start.ancestors() {
        if dir.join("migration.yaml").is_file() {
            return Some(if dir == start { PathBuf::from(".") } else { dir.to_owned() });
        }
        if top.as_deref().is_none_or(|top| dir == top) {
            return None;
        }
    }
    None
}

/// Where a command's lines for people go: `out` in text mode, nowhere in JSON mode (its document says it all).
pub fn lines_for<'a>(format: ReportFormat, out: &'a mut dyn Write, sink: &'a mut std::io::Sink) -> &'a mut dyn Write {
    match format {
        ReportFormat::Text => out,
        ReportFormat::Json => sink,
    }
}

/// The restart stamp for a first `setup`: `SOURCE_DATE_EPOCH` when set (reproducible builds' convention), else
/// the HEAD commit's time, so rendering the same repository twice gives the same bytes.
pub fn fresh_stamp(git: Option<&GitRepo>) -> String {
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|value| value.parse::<i64>().ok())
        .or_else(|| git.and_then(GitRepo::head_time))
        .unwrap_or_else(now);
    rfc3339(seconds)
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

//! The in-process test kit: a repository in memory, its migration read as `validate` reads it, and steps taken as
//! `apply --force` takes them (at a fixed time), so a kind's checks, renderings and gates are tested beside it
//! without spawning the binary or touching git.

use std::collections::BTreeMap;
use std::path::Path;

use crate::adapters::load::load_repository;
use crate::adapters::RepoFiles;
use crate::commands::take::{Precheck, Prepared, StepRequest, WriteOptions};
use crate::core::diagnostic::Diagnostic;
use crate::core::migration::{Migration, StepSelector};
use crate::core::plan::{self, Plan};
use crate::core::state::StateChange;
use crate::core::step_id::StepId;
use crate::core::templates::Templates;

/// Where the test kit finds a repository's plan.
pub const PLAN: &str = "migration.yaml";
/// The restart stamp and the time a forced step is recorded at.
pub const STAMP: &str = "2026-11-25T00:00:00Z";

/// A repository's files in memory, by repository-relative path.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MemoryRepo(pub BTreeMap<String, String>);

impl RepoFiles for MemoryRepo {
    fn read(&self, path: &str) -> Result<Option<String>, Diagnostic> {
        Ok(self.0.get(path).cloned())
    }
    fn is_file(&self, path: &str) -> bool {
        self.0.contains_key(path)
    }
    fn is_dir(&self, path: &str) -> bool {
        path.is_empty() || self.0.keys().any(|file| file.strip_prefix(path).is_some_and(|rest| rest.starts_with('/')))
    }
    fn files_under(&self, dir: &str) -> Vec<String> {
        let inside =
            |file: &&String| dir.is_empty() || file.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'));
        self.0.keys().filter(inside).cloned().collect()
    }
    fn symlink(&self, _path: &str) -> Option<String> {
        None
    }
}

impl MemoryRepo {
    /// Every file under `root` (an example repository of `fixtures/repos/`), read into memory.
    pub fn read_dir(root: &Path) -> std::io::Result<MemoryRepo> {
        fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, String>) -> std::io::Result<()> {
            for entry in std::fs::read_dir(dir)? {
                let (entry, path) = {
                    let entry = entry?;
                    let path = entry.path();
                    (entry, path)
                };
                if entry.file_type()?.is_dir() {
                    walk(root, &path, files)?;
                } else {
                    let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
                    files.insert(relative, std::fs::read_to_string(&path)?);
                }
            }
            Ok(())
        }
        let mut files = BTreeMap::new();
        walk(root, root, &mut files)?;
        Ok(MemoryRepo(files))
    }

    pub fn plan(&self) -> Result<Plan, String> {
        let text = self.0.get(PLAN).ok_or_else(|| format!("no {PLAN}"))?;
        plan::parse(Path::new(PLAN), text).map_err(|problems| problems.to_string())
    }

    /// The migration as `validate` reads it: the plan, the repository, the current step checked.
    pub fn migration(&self) -> Result<Migration, String> {
        let plan = self.plan()?;
        let repository = load_repository(self, &plan);
        let migration = Migration::new(plan, repository, STAMP.to_owned()).map_err(|problems| problems.to_string())?;
        let step = migration.current_step().unwrap_or(&migration.plan.steps[0]).clone();
        migration.check(&step).map_err(|problems| problems.to_string())?;
        migration.inventory(&step).map_err(|problems| problems.to_string())?;
        Ok(migration)
    }

    /// What `apply --step <step> --force` writes: each file's path and its new text (None: removed).
    pub fn rendered(&self, step: &StepId) -> Result<Vec<(String, Option<String>)>, String> {
        let mut migration = self.migration()?;
        let selector = StepSelector::Id(step.clone());
        let precheck = Precheck::Forced { by: "the test kit".to_owned(), at: STAMP.to_owned() };
        let request = StepRequest { selector: &selector, change: &StateChange::default(), precheck };
        let templates = Templates::new(BTreeMap::new());
        let prepared = Prepared::new(&mut migration, &request, &templates, &WriteOptions::default())
            .map_err(|error| format!("{error:#}"))?;
        Ok(prepared.changes.into_iter().map(|change| (change.path, change.after)).collect())
    }

    /// This repository with `changes` written.
    pub fn with(&self, changes: &[(String, Option<String>)]) -> MemoryRepo {
        let mut next = self.clone();
        for (path, after) in changes {
            match after {
                Some(text) => next.0.insert(path.clone(), text.clone()),
                None => next.0.remove(path),
            };
        }
        next
    }

    /// This repository with every step of the plan up to and including `last` taken, each as `apply --force`.
    pub fn at(&self, last: &str) -> Result<MemoryRepo, String> {
        let steps = self.plan()?.steps;
        let last_index =
            steps.iter().position(|step| step.as_str() == last).ok_or_else(|| format!("no step {last}"))?;
        let mut repo = self.clone();
        for step in &steps[..=last_index] {
            repo = repo.with(&repo.rendered(step)?);
        }
        Ok(repo)
    }
}

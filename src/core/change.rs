//! A step rendered into files in memory, and how it differs from the repository: the value that is diffed,
//! written, committed or printed.

use std::collections::{BTreeMap, BTreeSet};

use crate::core::diagnostic::Diagnostic;
use crate::core::repository::Repository;

/// What applying a step does to the repository: files written (full content) and files removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderedStep {
    pub writes: BTreeMap<String, String>,
    pub removals: BTreeSet<String>,
}

impl RenderedStep {
    /// A digest of everything the step renders (paths and contents, and the paths it removes): equal digests,
    /// equal renderings. Commits carry it so a rerun can show it is a no-op.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for (path, content) in &self.writes {
            hasher.update(format!("write {} {}\n", path, content.len()));
            hasher.update(content.as_bytes());
        }
        for path in &self.removals {
            hasher.update(format!("remove {path}\n"));
        }
        let digest = hasher.finalize();
        format!("sha256:{}", digest.iter().map(|byte| format!("{byte:02x}")).collect::<String>())
    }

    /// The files that differ from what the repository holds, sorted by path.
    pub fn changes(&self, repository: &Repository) -> Result<Vec<FileChange>, Diagnostic> {
        let mut changes = Vec::new();
        let paths: BTreeSet<&String> = self.writes.keys().chain(&self.removals).collect();
        for path in paths {
            let before = repository.text(path)?.map(str::to_owned);
            let after = self.writes.get(path).cloned();
            if before != after {
                changes.push(FileChange { path: path.clone(), before, after });
            }
        }
        Ok(changes)
    }
}

/// One file of a step that differs from the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Create,
    Update,
    Remove,
}

impl ChangeKind {
    pub fn verb(self) -> &'static str {
        match self {
            ChangeKind::Create => "create",
            ChangeKind::Update => "update",
            ChangeKind::Remove => "remove",
        }
    }
}

impl FileChange {
    pub fn kind(&self) -> ChangeKind {
        match (&self.before, &self.after) {
            (None, _) => ChangeKind::Create,
            (_, None) => ChangeKind::Remove,
            _ => ChangeKind::Update,
        }
    }
}

//! The working-tree adapter: the repository's files on disk, a rendered step's diff, and writing it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use similar::TextDiff;

use crate::diagnostic::Diagnostic;
use crate::render::RenderedStep;
use crate::repo::RepoFiles;

/// The repository's working tree on disk.
pub struct Workspace {
    pub root: PathBuf,
}

impl Workspace {
    pub fn new(root: &Path) -> Workspace {
        Workspace { root: root.to_owned() }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }
}

impl RepoFiles for Workspace {
    fn read(&self, path: &str) -> Result<Option<String>, Diagnostic> {
        match std::fs::read_to_string(self.path(path)) {
            Ok(text) => Ok(Some(text)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(Diagnostic::in_file(Path::new(path), format!("cannot read: {error}"))),
        }
    }

    fn is_file(&self, path: &str) -> bool {
        self.path(path).is_file()
    }

    fn is_dir(&self, path: &str) -> bool {
        self.path(path).is_dir()
    }

    fn files_under(&self, dir: &str) -> Vec<String> {
        let root = self.path(dir);
        if root.is_file() {
            return vec![dir.to_owned()];
        }
        let mut files = Vec::new();
        let mut pending = vec![root];
        while let Some(current) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&current) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_name() == ".git" {
                    continue;
                }
                if path.is_dir() {
                    pending.push(path);
                } else if let Ok(relative) = path.strip_prefix(&self.root) {
                    files.push(relative.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        files.sort();
        files
    }
}

/// One file of a step that differs from the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The files of `rendered` that differ from what the repository holds, sorted by path.
pub fn changes(files: &dyn RepoFiles, rendered: &RenderedStep) -> Result<Vec<FileChange>, Diagnostic> {
    let mut changes = Vec::new();
    let paths: BTreeSet<&String> = rendered.writes.keys().chain(&rendered.removals).collect();
    for path in paths {
        let before = files.read(path)?;
        let after = rendered.writes.get(path).cloned();
        if before != after {
            changes.push(FileChange { path: path.clone(), before, after });
        }
    }
    Ok(changes)
}

/// A unified diff of the changes, `git diff` style.
pub fn unified_diff(changes: &[FileChange]) -> String {
    let mut out = String::new();
    for change in changes {
        let old = change.before.as_deref().unwrap_or("");
        let new = change.after.as_deref().unwrap_or("");
        let old_name = if change.before.is_some() { format!("a/{}", change.path) } else { "/dev/null".to_owned() };
        let new_name = if change.after.is_some() { format!("b/{}", change.path) } else { "/dev/null".to_owned() };
        out.push_str(&format!("diff --git a/{0} b/{0}\n", change.path));
        out.push_str(
            &TextDiff::from_lines(old, new).unified_diff().context_radius(3).header(&old_name, &new_name).to_string(),
        );
    }
    out
}

/// Writes the changes: every new content goes to a temporary file beside its target first, then all are
/// renamed into place, so a failure while preparing leaves the repository as it was.
pub fn write(repo: &Workspace, changes: &[FileChange]) -> std::io::Result<()> {
    let mut staged = Vec::new();
    for change in changes {
        let target = repo.path(&change.path);
        if let Some(content) = &change.after {
            let dir = target.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir)?;
            let mut file = tempfile::NamedTempFile::new_in(dir)?;
            std::io::Write::write_all(&mut file, content.as_bytes())?;
            staged.push((file, target));
        }
    }
    for (file, target) in staged {
        file.persist(&target).map_err(|error| error.error)?;
    }
    for change in changes.iter().filter(|change| change.after.is_none()) {
        let target = repo.path(&change.path);
        match std::fs::remove_file(&target) {
            Ok(()) => remove_empty_parents(repo, &target),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

fn remove_empty_parents(repo: &Workspace, file: &Path) {
    let mut dir = file.parent();
    while let Some(current) = dir {
        if current == repo.root || std::fs::remove_dir(current).is_err() {
            break;
        }
        dir = current.parent();
    }
}

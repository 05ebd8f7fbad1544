//! The working-tree adapter: the repository's files on disk, and a step's changes written into them.

use std::path::{Path, PathBuf};

use crate::adapters::RepoFiles;
use crate::core::change::FileChange;
use crate::core::diagnostic::Diagnostic;

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
        // A FIFO or a device would hang the read, or never end.
        match std::fs::metadata(self.path(path)) {
            Ok(metadata) if !metadata.is_file() && !metadata.is_dir() => {
                return Err(Diagnostic::in_file(
                    Path::new(path),
                    "is not a regular file: asm-migrate reads only regular files",
                ))
            }
            _ => {}
        }
        match std::fs::read_to_string(self.path(path)) {
            Ok(text) => Ok(Some(text)),
            Err(error) if matches!(error.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
                Ok(None)
            }
            Err(error) => Err(Diagnostic::in_file(Path::new(path), format!("cannot read: {error}"))),
        }
    }

    fn is_file(&self, path: &str) -> bool {
        self.path(path).is_file()
    }

    fn is_dir(&self, path: &str) -> bool {
        self.path(path).is_dir()
    }

    fn symlink(&self, path: &str) -> Option<String> {
        std::fs::read_link(self.path(path)).ok().map(|target| target.to_string_lossy().into_owned())
    }

    fn files_under(&self, dir: &str) -> Vec<String> {
        let root = self.path(dir);
        if root.symlink_metadata().is_ok_and(|metadata| !metadata.is_dir()) {
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
                // A symbolic link is a file, as git keeps it: never followed.
                if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
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

/// Writes the changes all or nothing: every new content goes to a temporary file beside its target first; then
/// the files are renamed into place and the removed ones removed. If any of that fails, what was already done is
/// put back from the contents the changes remember, so the repository is as it was.
pub fn write(repo: &Workspace, changes: &[FileChange]) -> std::io::Result<()> {
    for change in changes {
        if let Some(link) = symlink_on_path(&repo.root, &change.path) {
            return Err(std::io::Error::other(format!(
                "{} goes through the symbolic link {link}: refusing to write through it",
                change.path
            )));
        }
    }
    let mut staged = Vec::new();
    let mut created_dirs: Vec<PathBuf> = Vec::new();
    let mut stage = |change: &FileChange, content: &str| -> std::io::Result<tempfile::NamedTempFile> {
        let target = repo.path(&change.path);
        let dir = target.parent().unwrap_or(Path::new("."));
        let named = |error: std::io::Error| std::io::Error::new(error.kind(), format!("{}: {error}", change.path));
        let mut missing: Vec<PathBuf> =
            dir.ancestors().take_while(|ancestor| !ancestor.exists()).map(Path::to_owned).collect();
        if let Some(file) = dir.ancestors().find(|ancestor| ancestor.exists() && !ancestor.is_dir()) {
            let shown = file.strip_prefix(&repo.root).unwrap_or(file).display();
            return Err(std::io::Error::other(format!(
                "{}: {shown} is a file where it needs a directory",
                change.path
            )));
        }
        std::fs::create_dir_all(dir).map_err(named)?;
        missing.reverse();
        created_dirs.extend(missing);
        let mut file = tempfile::NamedTempFile::new_in(dir).map_err(named)?;
        std::io::Write::write_all(&mut file, content.as_bytes()).map_err(named)?;
        Ok(file)
    };
    for change in changes {
        if let Some(content) = &change.after {
            match stage(change, content) {
                Ok(file) => staged.push((file, change)),
                Err(error) => {
                    drop(staged);
                    for dir in created_dirs.iter().rev() {
                        let _ = std::fs::remove_dir(dir);
                    }
                    return Err(error);
                }
            }
        }
    }
    let mut done: Vec<&FileChange> = Vec::new();
    let mut outcome = Ok(());
    for (file, change) in staged {
        match file.persist(repo.path(&change.path)) {
            Ok(_) => done.push(change),
            Err(error) => {
                outcome = Err(error.error);
                break;
            }
        }
    }
    if outcome.is_ok() {
        for change in changes.iter().filter(|change| change.after.is_none()) {
            let target = repo.path(&change.path);
            match std::fs::remove_file(&target) {
                Ok(()) => {
                    done.push(change);
                    remove_empty_parents(repo, &target);
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    outcome = Err(error);
                    break;
                }
            }
        }
    }
    if outcome.is_err() {
        for change in done.into_iter().rev() {
            restore(repo, change);
        }
    }
    outcome
}

/// The first symbolic link on the way from `root` to the repository-relative `path` (the path itself included).
fn symlink_on_path(root: &Path, path: &str) -> Option<String> {
    let mut current = root.to_owned();
    let mut shown = String::new();
    for part in path.split('/') {
        current.push(part);
        shown = crate::core::paths::join(&shown, part);
        match current.symlink_metadata() {
            Ok(metadata) if metadata.file_type().is_symlink() => return Some(shown),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

/// Puts one file back as it was before `change`.
fn restore(repo: &Workspace, change: &FileChange) {
    let target = repo.path(&change.path);
    match &change.before {
        Some(content) => {
            if let Some(dir) = target.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = std::fs::write(&target, content);
        }
        None => {
            let _ = std::fs::remove_file(&target);
            remove_empty_parents(repo, &target);
        }
    }
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

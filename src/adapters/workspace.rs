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

/// Writes the changes into a directory outside git (a repository has `transaction::write_step`) all or nothing:
/// every new content goes to a temporary file beside its target first; then the files are renamed into place and
/// the removed ones removed. If any of that fails, what was already done is put back from the contents the changes
/// remember, so the directory is as it was.
pub fn write(repo: &Workspace, changes: &[FileChange]) -> std::io::Result<()> {
    refuse_symlinks(repo, changes)?;
    let mut staged: Vec<(PathBuf, &FileChange)> = Vec::new();
    let mut outcome = Ok(());
    for change in changes {
        let Some(content) = &change.after else { continue };
        let target = repo.path(&change.path);
        let permissions = existing_permissions(&target);
        let temp = beside(&target);
        let written = create_parent_dirs(&repo.root, &change.path)
            .and_then(|()| write_new_file(&temp, content.as_bytes(), permissions));
        if let Err(error) = written {
            let _ = std::fs::remove_file(&temp);
            outcome = Err(std::io::Error::new(error.kind(), format!("{}: {error}", change.path)));
            break;
        }
        staged.push((temp, change));
    }
    if let Err(error) = outcome {
        for (temp, change) in staged {
            let _ = std::fs::remove_file(temp);
            remove_empty_parents(&repo.root, &repo.path(&change.path));
        }
        return Err(error);
    }
    let mut done: Vec<&FileChange> = Vec::new();
    for (temp, change) in &staged {
        match std::fs::rename(temp, repo.path(&change.path)) {
            Ok(()) => done.push(change),
            Err(error) => {
                outcome = Err(std::io::Error::new(error.kind(), format!("{}: {error}", change.path)));
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
                    remove_empty_parents(&repo.root, &target);
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    outcome = Err(std::io::Error::new(error.kind(), format!("{}: {error}", change.path)));
                    break;
                }
            }
        }
    }
    if outcome.is_err() {
        for (temp, _) in &staged {
            let _ = std::fs::remove_file(temp);
        }
        for change in done.into_iter().rev() {
            restore(repo, change);
        }
    }
    outcome
}

/// No write goes through a symbolic link.
pub fn refuse_symlinks(repo: &Workspace, changes: &[FileChange]) -> std::io::Result<()> {
    for change in changes {
        if let Some(link) = symlink_on_path(&repo.root, &change.path) {
            return Err(std::io::Error::other(format!(
                "{} goes through the symbolic link {link}: refusing to write through it",
                change.path
            )));
        }
    }
    Ok(())
}

/// A temporary name beside `target`, saying whose it is.
fn beside(target: &Path) -> PathBuf {
    let name = target.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    target.with_file_name(format!(".{name}.asm-migrate-{}", std::process::id()))
}

/// The permission bits of an existing file, which a rewrite keeps.
pub fn existing_permissions(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path).ok().filter(|metadata| metadata.is_file()).map(|m| m.permissions().mode() & 0o7777)
}

/// Creates a file that must not exist yet, with `permissions` (None: an ordinary file, 0666 less the umask, as
/// git checks files out), writes it whole and flushes it to the disk.
pub fn write_new_file(path: &Path, content: &[u8], permissions: Option<u32>) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o666).open(path)?;
    if let Some(permissions) = permissions {
        file.set_permissions(std::fs::Permissions::from_mode(permissions))?;
    }
    file.write_all(content)?;
    file.sync_all()
}

/// Creates the missing directories of a repository-relative file, refusing a file where a directory goes.
pub fn create_parent_dirs(root: &Path, path: &str) -> std::io::Result<()> {
    check_parent_dirs(root, path)?;
    std::fs::create_dir_all(root.join(path).parent().unwrap_or(root))
}

/// Refuses a file where a directory of a repository-relative file goes.
pub fn check_parent_dirs(root: &Path, path: &str) -> std::io::Result<()> {
    let target = root.join(path);
    let dir = target.parent().unwrap_or(root);
    if let Some(file) = dir.ancestors().find(|ancestor| ancestor.exists() && !ancestor.is_dir()) {
        let shown = file.strip_prefix(root).unwrap_or(file).display();
        return Err(std::io::Error::other(format!("{shown} is a file where a directory is needed")));
    }
    Ok(())
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
            remove_empty_parents(&repo.root, &target);
        }
    }
}

/// Removes the directories of a removed file that are left empty, up to `root`.
pub fn remove_empty_parents(root: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(current) = dir {
        if current == root || std::fs::remove_dir(current).is_err() {
            break;
        }
        dir = current.parent();
    }
}

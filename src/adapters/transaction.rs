//! A step written into the checked-out work tree, and committed there, as one transaction: what it is about to do
//! is journaled under `.git/asm-migrate/` before the first file changes, and the next run rolls an interrupted one
//! back (or forward, when its commit landed) before it reads anything.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use git2::{FileMode, ObjectType, Oid};
use serde::{Deserialize, Serialize};

use crate::adapters::git::{GitError, GitRepo, Identity};
use crate::adapters::workspace::{check_parent_dirs, create_parent_dirs, remove_empty_parents, write_new_file};
use crate::core::change::FileChange;

const DIR: &str = "asm-migrate";
const JOURNAL: &str = "journal.json";
const TEMPORARY: &str = "tmp";

#[derive(Debug, thiserror::Error)]
pub enum TransactionError {
    #[error(
        "git's index is locked ({0}): another git command is running, or one stopped without cleaning up; if no \
         git is running, remove it (rm {0}) and apply again"
    )]
    IndexLocked(String),
    /// The I/O error is in the message, not behind it: the chain would say it twice.
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{0} is not a regular file: asm-migrate writes only regular files")]
    NotAFile(String),
    #[error("the journal of an interrupted run, {path}, cannot be read ({why}): check `git status`, then remove it (rm {path})")]
    Journal { path: String, why: String },
    #[error(
        "{cause}; putting the repository back failed too ({failed}): the next asm-migrate apply, advance or retry \
         finishes it, from the journal under .git/asm-migrate/"
    )]
    Unfinished { cause: String, failed: String },
    #[error(transparent)]
    Git(#[from] GitError),
}

fn io(path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> TransactionError {
    let path = path.as_ref().display().to_string();
    move |error| TransactionError::Io { path, error }
}

/// What a step is about to do, written before it does it.
#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    /// The step, for what the next run says.
    step: String,
    files: Vec<JournalFile>,
    commit: Option<JournalCommit>,
}

#[derive(Debug, Serialize, Deserialize)]
struct JournalFile {
    /// Relative to the work tree's root.
    path: String,
    /// The file as it was (None: absent), kept as a blob to put it back from.
    before: Option<Version>,
    /// The file as the step writes it (None: removed).
    after: Option<Version>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Version {
    #[serde(with = "oid")]
    blob: Oid,
    /// Permission bits; None for a new file, created as the umask says.
    permissions: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize)]
struct JournalCommit {
    /// The reference the commit moves (`refs/heads/main`, or `HEAD` when detached).
    reference: String,
    #[serde(with = "optional_oid")]
    old: Option<Oid>,
    #[serde(with = "oid")]
    new: Oid,
}

/// Writes `changes` into the work tree and, with `commit` (who and the message), commits exactly them on the
/// checked-out branch: the commit's tree is HEAD's with the step, so files the user staged stay staged and out of
/// it. Either all of it happens or, whatever fails (a full disk, a locked index, a lost race for the branch),
/// none: the work tree, the index and the branch are as they were. A run killed on the way leaves a journal the
/// next run recovers from (`recover`).
pub fn write_step(
    git: &GitRepo,
    step: &str,
    changes: &[FileChange],
    commit: Option<(&Identity, &str)>,
) -> Result<Option<Oid>, TransactionError> {
    let work_tree = git.work_tree().ok_or_else(|| TransactionError::NotAFile("the work tree".to_owned()))?;
    if commit.is_some() {
        if let Some(lock) = git.index_lock() {
            return Err(TransactionError::IndexLocked(lock.display().to_string()));
        }
    }
    // Everything the transaction needs is written to git's object database first: a full disk fails here, when
    // nothing of the user's has changed.
    let mut files = Vec::new();
    for change in changes {
        let path = git.tree_path(&change.path);
        check_parent_dirs(&work_tree, &path).map_err(io(&path))?;
        let before = current_version(git, &work_tree, &path)?;
        let after = match &change.after {
            Some(content) => Some(Version {
                blob: git.blob(content.as_bytes())?,
                permissions: before.and_then(|before| before.permissions),
            }),
            None => None,
        };
        files.push(JournalFile { path, before, after });
    }
    let journal_commit = match commit {
        Some((identity, message)) => {
            let (reference, old) = git.head_reference()?;
            let tree_changes: Vec<(String, Option<(Oid, FileMode)>)> = files
                .iter()
                .map(|file| {
                    let mode = git.mode_in(old, &file.path).unwrap_or(FileMode::Blob);
                    (file.path.clone(), file.after.map(|after| (after.blob, mode)))
                })
                .collect();
            let new = git.create_commit(identity, old, &tree_changes, message)?;
            Some(JournalCommit { reference, old, new })
        }
        None => None,
    };
    let journal = Journal { step: step.to_owned(), files, commit: journal_commit };
    let dir = git.git_dir().join(DIR);
    write_journal(&dir, &journal)?;
    if let Err(error) = carry_out(git, &work_tree, &dir, &journal, commit.map(|(_, message)| message)) {
        let unrestored = roll_back(git, &work_tree, &journal);
        if !unrestored.failed.is_empty() {
            return Err(TransactionError::Unfinished {
                cause: error.to_string(),
                failed: unrestored.failed.join("; "),
            });
        }
        clear(&dir);
        return Err(error);
    }
    clear(&dir);
    Ok(journal.commit.map(|commit| commit.new))
}

/// Puts the repository in order after a run that was interrupted: rolls its step back, or forward when its
/// commit had landed. Returns what it did, in words, for the user to hear; nothing when there was nothing to do.
pub fn recover(git: &GitRepo) -> Result<Vec<String>, TransactionError> {
    let dir = git.git_dir().join(DIR);
    let Some(journal) = read_journal(&dir)? else {
        clear(&dir);
        return Ok(Vec::new());
    };
    let work_tree = git.work_tree().ok_or_else(|| TransactionError::NotAFile("the work tree".to_owned()))?;
    let step = &journal.step;
    let mut notes = remove_gits_locks_left_by(git, &dir, &journal);
    let left = match &journal.commit {
        Some(commit) if git.reference_now(&commit.reference) == Some(commit.new) => {
            let left = roll_forward(git, &work_tree, &journal)?;
            notes.push(format!(
                "an asm-migrate run was interrupted after it committed step {step} ({}): finished writing the work \
                 tree and the index",
                short(commit.new)
            ));
            left
        }
        Some(commit) if git.reference_now(&commit.reference) != commit.old => {
            notes.push(format!(
                "an asm-migrate run was interrupted while it committed step {step}, and {} has moved since: the work \
                 tree is left as it is; check `git status`",
                commit.reference
            ));
            Vec::new()
        }
        _ => {
            let unrestored = roll_back(git, &work_tree, &journal);
            if !unrestored.failed.is_empty() {
                return Err(TransactionError::Unfinished {
                    cause: format!("an asm-migrate run was interrupted while it wrote step {step}"),
                    failed: unrestored.failed.join("; "),
                });
            }
            notes.push(format!(
                "an asm-migrate run was interrupted while it wrote step {step}: rolled it back, the work tree and the \
                 index are as they were before it"
            ));
            unrestored.changed
        }
    };
    if !left.is_empty() {
        notes.push(format!("changed since the interrupted run, and left as they are: {}", left.join(", ")));
    }
    clear(&dir);
    Ok(notes)
}

/// git's own lock files (the index's, the branch's) that the interrupted run held when it was killed: those
/// younger than its journal are its own, and removed; an older one belongs to someone else and stays.
fn remove_gits_locks_left_by(git: &GitRepo, dir: &Path, journal: &Journal) -> Vec<String> {
    let Some(started) = std::fs::metadata(dir.join(JOURNAL)).and_then(|metadata| metadata.modified()).ok() else {
        return Vec::new();
    };
    let mut locks = vec![git.git_dir().join("index.lock")];
    if let Some(commit) = &journal.commit {
        locks.push(git.git_dir().join(format!("{}.lock", commit.reference)));
    }
    let mut notes = Vec::new();
    for lock in locks {
        let modified = std::fs::metadata(&lock).and_then(|metadata| metadata.modified());
        if modified.is_ok_and(|modified| modified >= started) && std::fs::remove_file(&lock).is_ok() {
            notes.push(format!("removed {}, which the interrupted run held", lock.display()));
        }
    }
    notes
}

/// Whether a run was interrupted and left its journal (read-only commands say so; the next write recovers it).
pub fn interrupted(git: &GitRepo) -> bool {
    git.git_dir().join(DIR).join(JOURNAL).exists()
}

/// The work tree's file at `path` as a version to put back, if it is there.
fn current_version(git: &GitRepo, work_tree: &Path, path: &str) -> Result<Option<Version>, TransactionError> {
    let absolute = work_tree.join(path);
    match std::fs::symlink_metadata(&absolute) {
        Ok(metadata) if metadata.is_file() => {
            let bytes = std::fs::read(&absolute).map_err(io(path))?;
            let permissions = metadata.permissions().mode() & 0o7777;
            Ok(Some(Version { blob: git.blob(&bytes)?, permissions: Some(permissions) }))
        }
        Ok(_) => Err(TransactionError::NotAFile(path.to_owned())),
        Err(error) if matches!(error.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
            Ok(None)
        }
        Err(error) => Err(io(path)(error)),
    }
}

/// The step's writes: every new content to a temporary file under `.git/asm-migrate/` first (a full disk stops
/// there), then renamed into place, the removed files removed, the index entries of exactly these paths set, and
/// last the branch moved, only from where it was.
fn carry_out(
    git: &GitRepo,
    work_tree: &Path,
    dir: &Path,
    journal: &Journal,
    message: Option<&str>,
) -> Result<(), TransactionError> {
    let temporary = dir.join(TEMPORARY);
    std::fs::create_dir_all(&temporary).map_err(io(&temporary))?;
    let mut staged = Vec::new();
    for (index, file) in journal.files.iter().enumerate() {
        let Some(after) = file.after else { continue };
        let content = git.blob_content(after.blob)?;
        let temp = temporary.join(format!("new-{index}"));
        let _ = std::fs::remove_file(&temp);
        write_new_file(&temp, &content, after.permissions).map_err(io(&file.path))?;
        staged.push((index, temp, file));
    }
    for (index, temp, file) in staged {
        let target = work_tree.join(&file.path);
        create_parent_dirs(work_tree, &file.path).map_err(io(&file.path))?;
        keep(&target, &temporary, index);
        move_into_place(&temp, &target).map_err(io(&file.path))?;
    }
    for (index, file) in journal.files.iter().enumerate().filter(|(_, file)| file.after.is_none()) {
        let target = work_tree.join(&file.path);
        keep(&target, &temporary, index);
        match std::fs::remove_file(&target) {
            Ok(()) => remove_empty_parents(work_tree, &target),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(io(&file.path)(error)),
        }
    }
    if let Some(commit) = &journal.commit {
        git.stage(&staged_entries(git, journal))?;
        git.move_reference(&commit.reference, commit.old, commit.new, message.unwrap_or(&journal.step))?;
    }
    Ok(())
}

/// The index entries the commit gives the step's paths.
fn staged_entries(git: &GitRepo, journal: &Journal) -> Vec<(String, Option<(Oid, FileMode)>)> {
    let old = journal.commit.as_ref().and_then(|commit| commit.old);
    journal
        .files
        .iter()
        .map(|file| {
            let mode = git.mode_in(old, &file.path).unwrap_or(FileMode::Blob);
            (file.path.clone(), file.after.map(|after| (after.blob, mode)))
        })
        .collect()
}

/// Renames a temporary file onto its target; across file systems (a `.git` elsewhere), copies it beside the
/// target first, under a name that says whose it is, and renames that.
fn move_into_place(temp: &Path, target: &Path) -> std::io::Result<()> {
    match std::fs::rename(temp, target) {
        Err(error) if error.raw_os_error() == Some(18) => {
            // EXDEV: the work tree and .git are on different file systems.
            let name = target.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
            let beside = target.with_file_name(format!(".{name}.asm-migrate-{}", std::process::id()));
            std::fs::copy(temp, &beside)?;
            let renamed = std::fs::rename(&beside, target);
            if renamed.is_err() {
                let _ = std::fs::remove_file(&beside);
            }
            let _ = std::fs::remove_file(temp);
            renamed
        }
        other => other,
    }
}

/// Keeps the file a step replaces or removes, by a second name under `.git/asm-migrate/` (a hard link: no space
/// needed), so that a roll back puts it back by a rename even on a full disk.
fn keep(target: &Path, temporary: &Path, index: usize) {
    let kept = kept_name(temporary, index);
    let _ = std::fs::remove_file(&kept);
    if target.is_file() {
        let _ = std::fs::hard_link(target, &kept);
    }
}

fn kept_name(temporary: &Path, index: usize) -> std::path::PathBuf {
    temporary.join(format!("kept-{index}"))
}

/// Whether the work tree's file is this version (None: absent).
fn holds(work_tree: &Path, path: &str, version: Option<&Version>) -> bool {
    let absolute = work_tree.join(path);
    match (version, std::fs::symlink_metadata(&absolute)) {
        (None, Err(_)) => true,
        (Some(version), Ok(metadata)) if metadata.is_file() => {
            Oid::hash_file(ObjectType::Blob, &absolute).is_ok_and(|id| id == version.blob)
        }
        _ => false,
    }
}

/// Writes one version of a file into the work tree (None: removes it): by renaming back the file `keep` kept when it
/// is that version, else through a temporary file under `.git/`.
fn put(
    git: &GitRepo,
    work_tree: &Path,
    path: &str,
    version: Option<&Version>,
    kept: Option<&Path>,
) -> Result<(), TransactionError> {
    let target = work_tree.join(path);
    match version {
        Some(version) => {
            create_parent_dirs(work_tree, path).map_err(io(path))?;
            let is_version = |file: &Path| Oid::hash_file(ObjectType::Blob, file).is_ok_and(|id| id == version.blob);
            if let Some(kept) = kept.filter(|kept| kept.is_file() && is_version(kept)) {
                return std::fs::rename(kept, &target).map_err(io(path));
            }
            let temporary = git.git_dir().join(DIR).join(TEMPORARY);
            std::fs::create_dir_all(&temporary).map_err(io(&temporary))?;
            let temp = temporary.join("restore");
            let _ = std::fs::remove_file(&temp);
            write_new_file(&temp, &git.blob_content(version.blob)?, version.permissions).map_err(io(path))?;
            move_into_place(&temp, &target).map_err(io(path))
        }
        None => match std::fs::remove_file(&target) {
            Ok(()) => {
                remove_empty_parents(work_tree, &target);
                Ok(())
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(io(path)(error)),
        },
    }
}

/// What a roll back could not do.
#[derive(Default)]
struct Unrestored {
    /// Files neither as they were nor as the step wrote them: someone changed them since; left alone.
    changed: Vec<String>,
    /// Files that could not be put back (and why): the journal stays for the next run to finish.
    failed: Vec<String>,
}

/// Puts every file the step wrote back as it was, and the index entries of its paths as the branch has them.
fn roll_back(git: &GitRepo, work_tree: &Path, journal: &Journal) -> Unrestored {
    let temporary = git.git_dir().join(DIR).join(TEMPORARY);
    let mut unrestored = Unrestored::default();
    // Files the step created go first: that frees the space the others may need.
    let mut order: Vec<(usize, &JournalFile)> = journal.files.iter().enumerate().collect();
    order.sort_by_key(|(_, file)| file.before.is_some());
    for (index, file) in order {
        if holds(work_tree, &file.path, file.before.as_ref()) {
            continue;
        }
        if !holds(work_tree, &file.path, file.after.as_ref()) {
            unrestored.changed.push(file.path.clone());
            continue;
        }
        let kept = kept_name(&temporary, index);
        if let Err(error) = put(git, work_tree, &file.path, file.before.as_ref(), Some(&kept)) {
            unrestored.failed.push(error.to_string());
        }
    }
    if let Some(commit) = &journal.commit {
        let paths: Vec<String> = journal.files.iter().map(|file| file.path.clone()).collect();
        if let Err(error) = git.unstage_to(commit.old, &paths) {
            unrestored.failed.push(format!("the index: {error}"));
        }
    }
    unrestored
}

/// Finishes a step whose commit landed: its files as the commit has them, and the index entries of its paths.
fn roll_forward(git: &GitRepo, work_tree: &Path, journal: &Journal) -> Result<Vec<String>, TransactionError> {
    let mut left = Vec::new();
    for file in &journal.files {
        if holds(work_tree, &file.path, file.after.as_ref()) {
            continue;
        }
        if holds(work_tree, &file.path, file.before.as_ref()) {
            put(git, work_tree, &file.path, file.after.as_ref(), None)?;
        } else {
            left.push(file.path.clone());
        }
    }
    git.stage(&staged_entries(git, journal))?;
    Ok(left)
}

/// The journal, written whole or not at all: to a temporary file, flushed, then renamed to its name.
fn write_journal(dir: &Path, journal: &Journal) -> Result<(), TransactionError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(JOURNAL);
    let temp = dir.join(format!("{JOURNAL}.{}", std::process::id()));
    let text = serde_json::to_string_pretty(journal).expect("the journal serializes");
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, &path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if let Err(error) = written {
        // Nothing is carried out yet: the journal, renamed into place or not, and its directory go with it, and the
        // repository is as it was.
        let _ = std::fs::remove_file(&temp);
        clear(dir);
        return Err(io(&path)(error));
    }
    Ok(())
}

fn read_journal(dir: &Path) -> Result<Option<Journal>, TransactionError> {
    let path = dir.join(JOURNAL);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(TransactionError::Journal { path: path.display().to_string(), why: error.to_string() })
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|error| TransactionError::Journal { path: path.display().to_string(), why: error.to_string() })
}

/// Removes the journal and every temporary file: the transaction is over.
fn clear(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(JOURNAL));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                let _ = std::fs::remove_dir_all(&path);
            } else {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

fn short(id: Oid) -> String {
    id.to_string()[..12].to_owned()
}

mod oid {
    use git2::Oid;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &Oid, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&id.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Oid, D::Error> {
        let text = String::deserialize(deserializer)?;
        Oid::from_str(&text).map_err(serde::de::Error::custom)
    }
}

mod optional_oid {
    use git2::Oid;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &Option<Oid>, serializer: S) -> Result<S::Ok, S::Error> {
        match id {
            Some(id) => serializer.serialize_str(&id.to_string()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Oid>, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?;
        text.map(|text| Oid::from_str(&text).map_err(serde::de::Error::custom)).transpose()
    }
}

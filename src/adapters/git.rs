//! The git adapter (git2): commits of rendered steps, on the checked-out branch or on another branch without
//! touching the checkout, and the history queries that pushing needs.

use std::path::{Path, PathBuf};

use git2::build::TreeUpdateBuilder;
use git2::{FileMode, ObjectType, Oid, Repository, Signature, Status, StatusOptions, TreeWalkMode};

use crate::adapters::RepoFiles;
use crate::core::change::FileChange;
use crate::core::diagnostic::Diagnostic;
use crate::core::paths::{is_within, join};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{0} is not inside a git repository")]
    NotARepository(String),
    #[error(
        "no git identity: set user.name and user.email (git config), or GIT_AUTHOR_NAME / GIT_AUTHOR_EMAIL \
         (and GIT_COMMITTER_NAME / GIT_COMMITTER_EMAIL)"
    )]
    NoIdentity,
    #[error("`{0}` is not a valid branch name")]
    BadBranchName(String),
    #[error("git did not write {0} to the disk (is it full?)")]
    Unwritten(String),
    /// libgit2's own message says what failed; it is the whole error, not a cause of another.
    #[error("git: {}", .0.message())]
    Git(git2::Error),
}

impl From<git2::Error> for GitError {
    fn from(error: git2::Error) -> GitError {
        GitError::Git(error)
    }
}

/// Who a commit is by: author and committer, as git itself would choose them.
pub struct Identity {
    pub author: Signature<'static>,
    pub committer: Signature<'static>,
}

/// The lines one file of a commit adds and removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    pub path: String,
    pub added: usize,
    pub removed: usize,
}

pub struct GitRepo {
    repository: Repository,
    /// The directory asm-migrate works in, relative to the work tree root ("" when they are the same).
    prefix: String,
}

impl GitRepo {
    pub fn open(dir: &Path) -> Result<GitRepo, GitError> {
        let not_a_repository = || GitError::NotARepository(dir.display().to_string());
        let repository = Repository::discover(dir).map_err(|_| not_a_repository())?;
        let workdir = repository.workdir().ok_or_else(not_a_repository)?;
        let canonical_dir = dir.canonicalize().map_err(|_| not_a_repository())?;
        let canonical_root = workdir.canonicalize().map_err(|_| not_a_repository())?;
        let prefix = canonical_dir
            .strip_prefix(&canonical_root)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        Ok(GitRepo { repository, prefix })
    }

    /// The `.git` directory (for the lock file).
    pub fn git_dir(&self) -> PathBuf {
        self.repository.path().to_owned()
    }

    /// The work tree's root directory.
    pub fn work_tree(&self) -> Option<PathBuf> {
        self.repository.workdir().map(Path::to_owned)
    }

    fn in_tree(&self, path: &str) -> String {
        join(&self.prefix, path)
    }

    /// Seconds since the epoch of the HEAD commit, if there is one.
    pub fn head_time(&self) -> Option<i64> {
        self.repository.head().ok()?.peel_to_commit().ok().map(|commit| commit.time().seconds())
    }

    /// The operation git has under way (a merge, a rebase...), and how to finish or abort it, if any.
    pub fn operation_in_progress(&self) -> Option<(&'static str, &'static str)> {
        use git2::RepositoryState::*;
        Some(match self.repository.state() {
            Clean => return None,
            Merge => ("a merge", "finish it with `git commit` or abort it with `git merge --abort`"),
            Revert | RevertSequence => ("a revert", "finish it with `git revert --continue` or `git revert --abort`"),
            CherryPick | CherryPickSequence => {
                ("a cherry-pick", "finish it with `git cherry-pick --continue` or `git cherry-pick --abort`")
            }
            Bisect => ("a bisect", "end it with `git bisect reset`"),
            Rebase | RebaseInteractive | RebaseMerge | ApplyMailboxOrRebase => {
                ("a rebase", "finish it with `git rebase --continue` or `git rebase --abort`")
            }
            ApplyMailbox => ("a `git am`", "finish it with `git am --continue` or `git am --abort`"),
        })
    }

    /// The tree of `commit`.
    pub fn tree_of(&self, commit: Oid) -> Option<Oid> {
        self.repository.find_commit(commit).ok().map(|commit| commit.tree_id())
    }

    pub fn head_commit(&self) -> Option<Oid> {
        self.repository.head().ok()?.peel_to_commit().ok().map(|commit| commit.id())
    }

    /// The branch HEAD points at (`main` for `refs/heads/main`), if any.
    pub fn current_branch(&self) -> Option<String> {
        let head = self.repository.find_reference("HEAD").ok()?;
        head.symbolic_target().ok().flatten().and_then(|target| target.strip_prefix("refs/heads/")).map(str::to_owned)
    }

    /// The commit a local branch points at, if the branch exists.
    pub fn branch_tip(&self, branch: &str) -> Result<Option<Oid>, GitError> {
        let name = branch_ref(branch)?;
        Ok(self.repository.find_reference(&name).ok().and_then(|reference| reference.target()))
    }

    /// The commit any reference points at, if it exists.
    pub fn reference_target(&self, name: &str) -> Option<Oid> {
        self.repository.find_reference(name).ok().and_then(|reference| reference.target())
    }

    pub fn is_ancestor(&self, ancestor: Oid, of: Oid) -> Result<bool, GitError> {
        Ok(ancestor == of || self.repository.graph_descendant_of(of, ancestor)?)
    }

    /// The newest commit reachable from `tip` whose message carries the trailer `Migration-Step: <step>`: the
    /// one that rendered the step.
    pub fn step_commit(&self, tip: Oid, step: &str) -> Result<Option<Oid>, GitError> {
        let trailer = format!("Migration-Step: {step}");
        let mut walk = self.repository.revwalk()?;
        walk.push(tip)?;
        for id in walk {
            let id = id?;
            let commit = self.repository.find_commit(id)?;
            if commit.message().is_ok_and(|message| message.lines().any(|line| line == trailer)) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Whether the commit `revision` (a full sha) is `commit` or comes after it; None when the repository does
    /// not have that commit.
    pub fn holds(&self, revision: &str, commit: Oid) -> Option<bool> {
        let revision = Oid::from_str(revision).ok()?;
        self.repository.find_commit(revision).ok()?;
        self.is_ancestor(commit, revision).ok()
    }

    /// The files of a commit, readable as a repository.
    pub fn tree_files(&self, commit: Oid) -> Result<GitTree, GitError> {
        let repository = Repository::open(self.repository.path())?;
        let tree = self.repository.find_commit(commit)?.tree_id();
        Ok(GitTree { repository, tree, prefix: self.prefix.clone() })
    }

    /// The paths (relative to the asm-migrate directory) that differ between two commits.
    pub fn changed_paths(&self, from: Oid, to: Oid) -> Result<Vec<String>, GitError> {
        let old = self.repository.find_commit(from)?.tree()?;
        let new = self.repository.find_commit(to)?.tree()?;
        let diff = self.repository.diff_tree_to_tree(Some(&old), Some(&new), None)?;
        let mut paths = Vec::new();
        for delta in diff.deltas() {
            for file in [delta.old_file(), delta.new_file()] {
                let Some(path) = file.path().and_then(Path::to_str) else { continue };
                let relative =
                    if self.prefix.is_empty() { Some(path) } else { path.strip_prefix(&format!("{}/", self.prefix)) };
                if let Some(relative) = relative {
                    if !paths.iter().any(|known| known == relative) {
                        paths.push(relative.to_owned());
                    }
                }
            }
        }
        paths.sort();
        Ok(paths)
    }

    /// The first line of a commit's message.
    pub fn subject(&self, commit: Oid) -> Result<String, GitError> {
        let commit = self.repository.find_commit(commit)?;
        Ok(commit.summary_bytes().map(|subject| String::from_utf8_lossy(subject).into_owned()).unwrap_or_default())
    }

    /// The lines each file of a commit adds and removes against its first parent, as `git log --stat` counts them.
    pub fn file_stats(&self, commit: Oid) -> Result<Vec<FileStat>, GitError> {
        let commit = self.repository.find_commit(commit)?;
        let parent = commit.parents().next().map(|parent| parent.tree()).transpose()?;
        let diff = self.repository.diff_tree_to_tree(parent.as_ref(), Some(&commit.tree()?), None)?;
        let mut stats = Vec::new();
        for (index, delta) in diff.deltas().enumerate() {
            let file = if delta.new_file().exists() { delta.new_file() } else { delta.old_file() };
            let path = file.path().map(|path| path.to_string_lossy().into_owned()).unwrap_or_default();
            let (added, removed) = match git2::Patch::from_diff(&diff, index)? {
                Some(patch) => {
                    let (_, added, removed) = patch.line_stats()?;
                    (added, removed)
                }
                None => (0, 0),
            };
            stats.push(FileStat { path, added, removed });
        }
        Ok(stats)
    }

    /// The paths among `paths` (repository-relative) with changes not committed, in the index or the work tree.
    pub fn uncommitted(&self, paths: &[&str]) -> Result<Vec<String>, GitError> {
        let mut options = StatusOptions::new();
        options.include_untracked(true).recurse_untracked_dirs(true).include_ignored(false);
        let statuses = self.repository.statuses(Some(&mut options))?;
        let mut dirty = Vec::new();
        for entry in statuses.iter() {
            let Ok(path) = entry.path() else { continue };
            if entry.status() == Status::CURRENT || entry.status().contains(Status::IGNORED) {
                continue;
            }
            let relative =
                if self.prefix.is_empty() { Some(path) } else { path.strip_prefix(&format!("{}/", self.prefix)) };
            let Some(relative) = relative else { continue };
            if paths.iter().any(|touched| is_within(relative, touched)) {
                dirty.push(relative.to_owned());
            }
        }
        Ok(dirty)
    }

    /// A path of the asm-migrate directory as the tree and the index name it (relative to the work tree's root).
    pub fn tree_path(&self, path: &str) -> String {
        self.in_tree(path)
    }

    /// Writes `bytes` as a blob.
    pub fn blob(&self, bytes: &[u8]) -> Result<Oid, GitError> {
        Ok(self.repository.blob(bytes)?)
    }

    pub fn blob_content(&self, id: Oid) -> Result<Vec<u8>, GitError> {
        Ok(self.repository.find_blob(id)?.content().to_vec())
    }

    /// The reference a commit of the checkout moves (`refs/heads/main`, or `HEAD` itself when detached), and the
    /// commit it points at (None on a branch without commits yet).
    pub fn head_reference(&self) -> Result<(String, Option<Oid>), GitError> {
        let head = self.repository.find_reference("HEAD")?;
        let name = match head.symbolic_target()? {
            Some(target) => target.to_owned(),
            None => "HEAD".to_owned(),
        };
        let target = self.repository.refname_to_id(&name).ok();
        Ok((name, target))
    }

    /// git's index lock, when another git holds it (or one that crashed left it).
    pub fn index_lock(&self) -> Option<PathBuf> {
        let lock = self.repository.path().join("index.lock");
        lock.exists().then_some(lock)
    }

    /// The mode a tree path has in `commit`, if it is a file there.
    pub fn mode_in(&self, commit: Option<Oid>, tree_path: &str) -> Option<FileMode> {
        let tree = self.repository.find_commit(commit?).ok()?.tree().ok()?;
        let entry = tree.get_path(Path::new(tree_path)).ok()?;
        match entry.filemode() {
            mode if mode == i32::from(FileMode::BlobExecutable) => Some(FileMode::BlobExecutable),
            mode if mode == i32::from(FileMode::Blob) => Some(FileMode::Blob),
            _ => None,
        }
    }

    /// A commit of `parent`'s tree with `changes` (tree path, and the blob and mode it gets; None: removed), written
    /// and read back from the disk, but on no branch yet.
    pub fn create_commit(
        &self,
        identity: &Identity,
        parent: Option<Oid>,
        changes: &[(String, Option<(Oid, FileMode)>)],
        message: &str,
    ) -> Result<Oid, GitError> {
        let parent_commit = parent.map(|id| self.repository.find_commit(id)).transpose()?;
        let baseline = match &parent_commit {
            Some(commit) => commit.tree()?,
            None => self.repository.find_tree(self.repository.treebuilder(None)?.write()?)?,
        };
        let mut update = TreeUpdateBuilder::new();
        for (path, after) in changes {
            match after {
                Some((blob, mode)) => update.upsert(path.as_str(), *blob, *mode),
                None => update.remove(path.as_str()),
            };
        }
        let tree = self.repository.find_tree(update.create_updated(&self.repository, &baseline)?)?;
        let parents: Vec<&git2::Commit<'_>> = parent_commit.iter().collect();
        let commit = self.repository.commit(None, &identity.author, &identity.committer, message, &tree, &parents)?;
        self.verify_written(commit, changes)?;
        Ok(commit)
    }

    /// Reads a new commit back through a repository opened afresh (nothing cached): its tree and the blobs it was
    /// given must be on the disk, or the commit is not made (a full disk can leave an object unwritten).
    fn verify_written(&self, commit: Oid, changes: &[(String, Option<(Oid, FileMode)>)]) -> Result<(), GitError> {
        let fresh = Repository::open(self.repository.path())?;
        let odb = fresh.odb()?;
        let tree = fresh.find_commit(commit)?.tree_id();
        let blobs = changes.iter().filter_map(|(_, after)| after.map(|(blob, _)| blob));
        for id in std::iter::once(commit).chain(std::iter::once(tree)).chain(blobs) {
            if !odb.exists(id) {
                return Err(GitError::Unwritten(id.to_string()));
            }
            odb.read(id)?;
        }
        Ok(())
    }

    /// Moves `reference` from `expected` (None: it must not exist) to `to`, and reads it back afresh.
    pub fn move_reference(&self, reference: &str, expected: Option<Oid>, to: Oid, why: &str) -> Result<(), GitError> {
        let log = format!("asm-migrate: {}", why.lines().next().unwrap_or_default());
        match expected {
            Some(current) => self.repository.reference_matching(reference, to, true, current, &log)?,
            None => self.repository.reference(reference, to, false, &log)?,
        };
        let fresh = Repository::open(self.repository.path())?;
        match fresh.refname_to_id(reference) {
            Ok(id) if id == to => Ok(()),
            _ => Err(GitError::Unwritten(format!("{reference} -> {to}"))),
        }
    }

    /// Where `reference` points now (read afresh).
    pub fn reference_now(&self, reference: &str) -> Option<Oid> {
        Repository::open(self.repository.path()).ok()?.refname_to_id(reference).ok()
    }

    /// Sets the index entries of exactly these tree paths (a blob and mode, from the work tree file just written;
    /// None: no entry), leaving every other entry, staged work included, as it is.
    pub fn stage(&self, entries: &[(String, Option<(Oid, FileMode)>)]) -> Result<(), GitError> {
        use std::os::unix::fs::MetadataExt;
        let mut index = self.repository.index()?;
        index.read(true)?;
        let root = self.work_tree().unwrap_or_default();
        for (path, after) in entries {
            match after {
                Some((blob, mode)) => {
                    let stat = std::fs::symlink_metadata(root.join(path)).ok();
                    let field = |get: fn(&std::fs::Metadata) -> i64| stat.as_ref().map_or(0, get);
                    let time = |seconds: i64, nanos: i64| git2::IndexTime::new(seconds as i32, nanos as u32);
                    index.add(&git2::IndexEntry {
                        ctime: time(field(|m| m.ctime()), field(|m| m.ctime_nsec())),
                        mtime: time(field(|m| m.mtime()), field(|m| m.mtime_nsec())),
                        dev: field(|m| m.dev() as i64) as u32,
                        ino: field(|m| m.ino() as i64) as u32,
                        mode: u32::try_from(i32::from(*mode)).unwrap_or(0o100644),
                        uid: field(|m| i64::from(m.uid())) as u32,
                        gid: field(|m| i64::from(m.gid())) as u32,
                        file_size: field(|m| m.size() as i64) as u32,
                        id: *blob,
                        flags: 0,
                        flags_extended: 0,
                        path: path.as_bytes().to_vec(),
                    })?;
                }
                None => {
                    if index.get_path(Path::new(path), 0).is_some() {
                        index.remove_path(Path::new(path))?;
                    }
                }
            }
        }
        index.write()?;
        Ok(())
    }

    /// Puts the index entries of these tree paths back as `commit` has them (None: no entries).
    pub fn unstage_to(&self, commit: Option<Oid>, paths: &[String]) -> Result<(), GitError> {
        match commit {
            Some(commit) => {
                let object = self.repository.find_object(commit, None)?;
                self.repository.reset_default(Some(&object), paths.iter())?;
            }
            None => {
                let mut index = self.repository.index()?;
                index.read(true)?;
                for path in paths {
                    if index.get_path(Path::new(path), 0).is_some() {
                        index.remove_path(Path::new(path))?;
                    }
                }
                index.write()?;
            }
        }
        Ok(())
    }

    /// Commits `changes` on top of `parent` into branch `branch`, without the index or the work tree: the
    /// branch must still point at `expected` (None: must not exist), so a concurrent update is never lost.
    pub fn commit_to_branch(
        &self,
        identity: &Identity,
        branch: &str,
        expected: Option<Oid>,
        parent: Oid,
        changes: &[FileChange],
        message: &str,
    ) -> Result<Oid, GitError> {
        let mut tree_changes = Vec::new();
        for change in changes {
            let path = self.in_tree(&change.path);
            let after = match &change.after {
                Some(content) => {
                    let mode = self.mode_in(Some(parent), &path).unwrap_or(FileMode::Blob);
                    Some((self.repository.blob(content.as_bytes())?, mode))
                }
                None => None,
            };
            tree_changes.push((path, after));
        }
        let commit = self.create_commit(identity, Some(parent), &tree_changes, message)?;
        self.move_branch(branch, expected, commit, message)?;
        Ok(commit)
    }

    /// Points `branch` at `to`, only if it still points at `expected` (None: only if it does not exist).
    pub fn move_branch(&self, branch: &str, expected: Option<Oid>, to: Oid, why: &str) -> Result<(), GitError> {
        self.move_reference(&branch_ref(branch)?, expected, to, why)
    }

    /// Author and committer: the GIT_AUTHOR_* / GIT_COMMITTER_* variables when set, else the git config.
    pub fn identity(&self) -> Result<Identity, GitError> {
        let configured = self.repository.signature().ok();
        let from_environment = |kind: &str| -> Result<Option<Signature<'static>>, GitError> {
            let name = std::env::var(format!("GIT_{kind}_NAME")).ok();
            let email = std::env::var(format!("GIT_{kind}_EMAIL")).ok();
            let (name, email) = match (name, email, &configured) {
                (None, None, _) => return Ok(None),
                (Some(name), Some(email), _) => (name, email),
                (Some(name), None, Some(config)) => (name, config.email().unwrap_or_default().to_owned()),
                (None, Some(email), Some(config)) => (config.name().unwrap_or_default().to_owned(), email),
                _ => return Err(GitError::NoIdentity),
            };
            Ok(Some(Signature::now(&name, &email)?))
        };
        let author = from_environment("AUTHOR")?;
        let committer = from_environment("COMMITTER")?;
        let fallback = || configured.as_ref().map(|signature| signature.to_owned()).ok_or(GitError::NoIdentity);
        let author = match author {
            Some(author) => author,
            None => fallback()?,
        };
        let committer = match committer {
            Some(committer) => committer,
            None => configured.as_ref().map(|signature| signature.to_owned()).unwrap_or_else(|| author.clone()),
        };
        Ok(Identity { author, committer })
    }
}

fn branch_ref(branch: &str) -> Result<String, GitError> {
    let name = format!("refs/heads/{branch}");
    // git's own rules for a branch name (`git check-ref-format --branch`): not HEAD, not an option.
    if branch != "HEAD" && !branch.starts_with('-') && git2::Reference::is_valid_name(&name) {
        Ok(name)
    } else {
        Err(GitError::BadBranchName(branch.to_owned()))
    }
}

/// A commit's files, read straight from git's object database.
pub struct GitTree {
    repository: Repository,
    tree: Oid,
    prefix: String,
}

impl GitTree {
    fn entry(&self, path: &str) -> Option<(ObjectType, Oid)> {
        let tree = self.repository.find_tree(self.tree).ok()?;
        let full = join(&self.prefix, path);
        if full.is_empty() {
            return Some((ObjectType::Tree, self.tree));
        }
        let entry = tree.get_path(Path::new(&full)).ok()?;
        Some((entry.kind()?, entry.id()))
    }
}

impl RepoFiles for GitTree {
    fn read(&self, path: &str) -> Result<Option<String>, Diagnostic> {
        let Some((ObjectType::Blob, id)) = self.entry(path) else { return Ok(None) };
        let blob = self
            .repository
            .find_blob(id)
            .map_err(|error| Diagnostic::in_file(Path::new(path), format!("cannot read from git: {error}")))?;
        String::from_utf8(blob.content().to_vec())
            .map(Some)
            .map_err(|_| Diagnostic::in_file(Path::new(path), "is not UTF-8 text"))
    }

    fn is_file(&self, path: &str) -> bool {
        matches!(self.entry(path), Some((ObjectType::Blob, _)))
    }

    fn is_dir(&self, path: &str) -> bool {
        matches!(self.entry(path), Some((ObjectType::Tree, _)))
    }

    fn symlink(&self, path: &str) -> Option<String> {
        let tree = self.repository.find_tree(self.tree).ok()?;
        let entry = tree.get_path(Path::new(&join(&self.prefix, path))).ok()?;
        if entry.filemode() != i32::from(FileMode::Link) {
            return None;
        }
        let blob = self.repository.find_blob(entry.id()).ok()?;
        Some(String::from_utf8_lossy(blob.content()).into_owned())
    }

    fn files_under(&self, dir: &str) -> Vec<String> {
        let mut files = Vec::new();
        match self.entry(dir) {
            Some((ObjectType::Blob, _)) => files.push(dir.to_owned()),
            Some((ObjectType::Tree, id)) => {
                if let Ok(tree) = self.repository.find_tree(id) {
                    let _ = tree.walk(TreeWalkMode::PreOrder, |parent, entry| {
                        if entry.kind() == Some(ObjectType::Blob) {
                            if let Ok(name) = entry.name() {
                                files.push(join(dir, &format!("{parent}{name}")));
                            }
                        }
                        git2::TreeWalkResult::Ok
                    });
                }
            }
            _ => {}
        }
        files.sort();
        files
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libgit2s_message_is_said_once() {
        let error = GitError::from(git2::Error::from_str("failed to write object"));
        assert_eq!(format!("{:#}", anyhow::Error::from(error)), "git: failed to write object");
        assert_eq!(GitError::BadBranchName("a..b".to_owned()).to_string(), "`a..b` is not a valid branch name");
    }
}

//! The git adapter (git2): the HEAD commit's time, uncommitted changes, and one commit per applied step.

use std::path::Path;

use git2::{IndexAddOption, Repository, Signature, Status, StatusOptions};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{0} is not inside a git repository")]
    NotARepository(String),
    #[error("no git identity: set user.name and user.email (git config), or GIT_AUTHOR_NAME / GIT_AUTHOR_EMAIL")]
    NoIdentity,
    #[error("git: {0}")]
    Git(#[from] git2::Error),
}

pub struct GitRepo {
    repository: Repository,
    /// The directory asm-migrate works in, relative to the work tree root ("" when they are the same).
    prefix: String,
}

impl GitRepo {
    pub fn open(dir: &Path) -> Result<GitRepo, GitError> {
        let repository = Repository::discover(dir).map_err(|_| GitError::NotARepository(dir.display().to_string()))?;
        let workdir = repository.workdir().ok_or_else(|| GitError::NotARepository(dir.display().to_string()))?;
        let canonical_dir = dir.canonicalize().map_err(|_| GitError::NotARepository(dir.display().to_string()))?;
        let canonical_root = workdir.canonicalize().map_err(|_| GitError::NotARepository(dir.display().to_string()))?;
        let prefix = canonical_dir
            .strip_prefix(&canonical_root)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        Ok(GitRepo { repository, prefix })
    }

    fn in_tree(&self, path: &str) -> String {
        crate::repo::join(&self.prefix, path)
    }

    /// Seconds since the epoch of the HEAD commit, if there is one.
    pub fn head_time(&self) -> Option<i64> {
        self.repository.head().ok()?.peel_to_commit().ok().map(|commit| commit.time().seconds())
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
            let Some(relative) =
                (if self.prefix.is_empty() { Some(path) } else { path.strip_prefix(&format!("{}/", self.prefix)) })
            else {
                continue;
            };
            if paths.iter().any(|touched| crate::repo::is_within(relative, touched)) {
                dirty.push(relative.to_owned());
            }
        }
        Ok(dirty)
    }

    /// Commits the given paths (written or removed) on top of HEAD; returns the new commit id.
    pub fn commit(&self, signature: &Signature<'_>, paths: &[&str], message: &str) -> Result<String, GitError> {
        let mut index = self.repository.index()?;
        let in_tree: Vec<String> = paths.iter().map(|path| self.in_tree(path)).collect();
        index.update_all(in_tree.iter(), None)?;
        index.add_all(in_tree.iter(), IndexAddOption::DEFAULT, None)?;
        index.write()?;
        let tree = self.repository.find_tree(index.write_tree()?)?;
        let parent = self.repository.head().ok().and_then(|head| head.peel_to_commit().ok());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let id = self.repository.commit(Some("HEAD"), signature, signature, message, &tree, &parents)?;
        Ok(id.to_string())
    }

    /// The author from the usual environment variables, else the repository's git config.
    pub fn signature(&self) -> Result<Signature<'static>, GitError> {
        let name = std::env::var("GIT_AUTHOR_NAME").ok();
        let email = std::env::var("GIT_AUTHOR_EMAIL").ok();
        match (name, email) {
            (Some(name), Some(email)) => Ok(Signature::now(&name, &email)?),
            _ => self.repository.signature().map(|signature| signature.to_owned()).map_err(|_| GitError::NoIdentity),
        }
    }
}

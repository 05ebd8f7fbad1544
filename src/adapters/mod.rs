//! The edges: the repository's files (working tree or a commit), git, remotes, the lock, the clusters, snapshot
//! directories and template directories. Each turns the outside world into the core's values, or back.

pub mod cluster;
pub mod git;
pub mod load;
pub mod lock;
pub mod remote;
pub mod settled;
pub mod snapshot;
pub mod template_dir;
pub mod transaction;
pub mod workspace;

use crate::core::diagnostic::Diagnostic;

/// Read access to a repository's files, from its working tree or from a commit's tree. Only the loader reads
/// through it; the core sees what the loader made of it.
pub trait RepoFiles {
    /// The text of a file (repository-relative path), or `None` when there is none.
    fn read(&self, path: &str) -> Result<Option<String>, Diagnostic>;
    fn is_file(&self, path: &str) -> bool;
    fn is_dir(&self, path: &str) -> bool;
    /// Every file under a directory ("" for the whole repository), repository-relative and sorted; a symbolic
    /// link is listed as a file (as git keeps it), never followed.
    fn files_under(&self, dir: &str) -> Vec<String>;
    /// Where `path` points, when it is a symbolic link.
    fn symlink(&self, path: &str) -> Option<String>;
}

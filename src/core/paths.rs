//! Repository-relative paths as kustomize writes them: joined with '/', normalized, never leaving the repository.

use std::path::Path;

/// Why a path written in the plan cannot be a repository-relative path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RepoPathError {
    #[error("is empty")]
    Empty,
    #[error("is absolute: write it relative to the repository root")]
    Absolute,
    #[error("leaves the repository")]
    LeavesRepository,
    #[error("is the repository root itself")]
    RepositoryRoot,
    #[error("is inside .git, which is git's own")]
    InsideGit,
    #[error("holds a control character (a line break, a tab): a path asm-migrate writes is one plain line")]
    Control,
}

/// Normalizes a repository-relative path; rejects absolute paths and paths that leave the repository.
pub fn normalize_repo_path(text: &str) -> Result<String, RepoPathError> {
    if text.trim().is_empty() {
        return Err(RepoPathError::Empty);
    }
    if text.chars().any(char::is_control) {
        return Err(RepoPathError::Control);
    }
    if Path::new(text).is_absolute() {
        return Err(RepoPathError::Absolute);
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(RepoPathError::LeavesRepository);
                }
            }
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err(RepoPathError::RepositoryRoot);
    }
    if parts.contains(&".git") {
        return Err(RepoPathError::InsideGit);
    }
    Ok(parts.join("/"))
}

/// Like `normalize_repo_path`, for paths already known to stay inside the repository.
pub fn normalize_repo_path_lossy(path: &str) -> String {
    normalize_repo_path(path).unwrap_or_else(|_| path.to_owned())
}

/// Joins repository-relative paths with '/'.
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() || dir == "." {
        name.to_owned()
    } else {
        format!("{}/{}", dir.trim_end_matches('/'), name)
    }
}

/// Whether `path` is `dir` or inside it (both normalized, repository-relative).
pub fn is_within(path: &str, dir: &str) -> bool {
    path == dir || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

/// The directory of a repository-relative file ("" at the root).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("")
}

/// The path from directory `from` to `to`, both repository-relative, as kustomize files write it.
pub fn relative_path(from: &str, to: &str) -> String {
    let from_parts: Vec<&str> = from.split('/').filter(|part| !part.is_empty()).collect();
    let to_parts: Vec<&str> = to.split('/').filter(|part| !part.is_empty()).collect();
    let common = from_parts.iter().zip(&to_parts).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from_parts.len() - common];
    parts.extend(&to_parts[common..]);
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_and_kept_inside_the_repository() {
        assert_eq!(normalize_repo_path("./gitops//asm/../out/"), Ok("gitops/out".to_owned()));
        assert_eq!(normalize_repo_path("../out"), Err(RepoPathError::LeavesRepository));
        assert_eq!(normalize_repo_path("/tmp/out"), Err(RepoPathError::Absolute));
        assert_eq!(normalize_repo_path("a/.."), Err(RepoPathError::RepositoryRoot));
        assert_eq!(
            relative_path("clusters/hz", "gitops/asm-migration/clusters/hz"),
            "../../gitops/asm-migration/clusters/hz"
        );
        assert!(is_within("infra/istio/a.yaml", "infra/istio") && !is_within("infra/istio-eastwest", "infra/istio"));
    }
}

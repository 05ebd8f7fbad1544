//! Fetch and push through the `git` program, so that every credential a CI job has set up for git (credential
//! helpers, `http.extraheader` from checkout actions, ssh agents and `~/.ssh/config`) works unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("cannot run git ({0}): asm-migrate pushes and fetches with the git program")]
    NoGit(std::io::Error),
    #[error("git {command} failed: {detail}")]
    Failed { command: String, detail: String },
    #[error("the remote {remote} rejected {branch}: {reason}")]
    Rejected { remote: String, branch: String, reason: String },
}

/// What became of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    Pushed,
    /// The remote branch has commits this one does not: fetch, build on them, push again.
    Behind,
}

pub struct Remote {
    pub name: String,
    work_tree: PathBuf,
}

impl Remote {
    pub fn new(work_tree: &Path, name: &str) -> Remote {
        Remote { name: name.to_owned(), work_tree: work_tree.to_owned() }
    }

    fn git(&self, args: &[&str]) -> Result<std::process::Output, RemoteError> {
        Command::new("git")
            .args(args)
            .current_dir(&self.work_tree)
            // A CI job has no one to type a password: fail instead of waiting for one.
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .map_err(RemoteError::NoGit)
    }

    fn failed(command: &str, output: &std::process::Output) -> RemoteError {
        let detail = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        RemoteError::Failed { command: command.to_owned(), detail }
    }

    /// Fetches the remote's `branch` into `refs/asm-migrate/remotes/<remote>/<branch>` (never into a branch of
    /// the user's) and returns that ref's name, or `None` when the remote has no such branch.
    pub fn fetch(&self, branch: &str) -> Result<Option<String>, RemoteError> {
        let listed = self.git(&["ls-remote", "--heads", &self.name, &format!("refs/heads/{branch}")])?;
        if !listed.status.success() {
            return Err(Self::failed("ls-remote", &listed));
        }
        if String::from_utf8_lossy(&listed.stdout).trim().is_empty() {
            return Ok(None);
        }
        let local = format!("refs/asm-migrate/remotes/{}/{branch}", self.name);
        let refspec = format!("+refs/heads/{branch}:{local}");
        let fetched = self.git(&["fetch", "--quiet", "--no-tags", &self.name, &refspec])?;
        if !fetched.status.success() {
            return Err(Self::failed("fetch", &fetched));
        }
        Ok(Some(local))
    }

    /// Pushes the local `branch` to the remote branch of the same name, never forcing. A rejection is read from
    /// git's porcelain report line, not guessed from the exit code.
    pub fn push(&self, branch: &str) -> Result<PushOutcome, RemoteError> {
        let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
        let output = self.git(&["push", "--porcelain", &self.name, &refspec])?;
        let report = String::from_utf8_lossy(&output.stdout);
        let line = report.lines().find(|line| line.split('\t').nth(1) == Some(refspec.as_str()));
        match line.and_then(|line| line.chars().next()) {
            Some(' ' | '*' | '=') if output.status.success() => Ok(PushOutcome::Pushed),
            Some('!') => {
                let summary = line.and_then(|line| line.split('\t').nth(2)).unwrap_or_default().to_owned();
                let errors = String::from_utf8_lossy(&output.stderr);
                // The branch moved between git's look at the remote and its update: the same race, lost later.
                let moved_meanwhile = summary.contains("failed to update ref") && errors.contains("but expected");
                if summary.contains("fetch first") || summary.contains("non-fast-forward") || moved_meanwhile {
                    Ok(PushOutcome::Behind)
                } else {
                    Err(RemoteError::Rejected { remote: self.name.clone(), branch: branch.to_owned(), reason: summary })
                }
            }
            _ => Err(Self::failed("push", &output)),
        }
    }
}

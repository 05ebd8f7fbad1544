//! One asm-migrate at a time per repository: a lock file under `.git/` naming its holder.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const LOCK_FILE: &str = "asm-migrate.lock";
/// How long a second asm-migrate waits for the first to finish; `ASM_MIGRATE_LOCK_WAIT` (seconds) overrides.
const DEFAULT_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another asm-migrate is working in this repository ({holder}); lock file {path}: wait for it, or remove the file if that process is gone")]
    Held { holder: String, path: String },
    #[error("cannot create the lock file {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Held while the lock file exists; removes it when dropped.
pub struct RepoLock {
    path: PathBuf,
}

impl RepoLock {
    /// Takes the lock in `git_dir`, waiting a little if another process holds it. A lock left by a process of this
    /// host that no longer runs is taken over.
    pub fn acquire(git_dir: &Path, command: &str) -> Result<RepoLock, LockError> {
        let wait = std::env::var("ASM_MIGRATE_LOCK_WAIT")
            .ok()
            .and_then(|seconds| seconds.parse::<f64>().ok())
            .map(Duration::from_secs_f64)
            .unwrap_or(DEFAULT_WAIT);
        RepoLock::acquire_within(git_dir, command, wait)
    }

    /// Takes the lock, waiting at most `wait` for another holder.
    fn acquire_within(git_dir: &Path, command: &str, wait: Duration) -> Result<RepoLock, LockError> {
        let path = git_dir.join(LOCK_FILE);
        let started = Instant::now();
        let holder = format!("pid {} on {}, {}", std::process::id(), hostname(), command);
        loop {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    let io = |source| LockError::Io { path: path.display().to_string(), source };
                    file.write_all(format!("{holder}\n").as_bytes()).map_err(io)?;
                    return Ok(RepoLock { path });
                }
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    let current = std::fs::read_to_string(&path).unwrap_or_default().trim().to_owned();
                    if is_stale(&current) {
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    if started.elapsed() >= wait {
                        return Err(LockError::Held { holder: current, path: path.display().to_string() });
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(source) => return Err(LockError::Io { path: path.display().to_string(), source }),
            }
        }
    }
}

impl Drop for RepoLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "unknown host".to_owned())
}

/// A lock written by a process of this host that has exited (checked through /proc where there is one).
fn is_stale(holder: &str) -> bool {
    let mut words = holder.split_whitespace();
    let (Some("pid"), Some(pid), Some("on"), Some(host)) = (words.next(), words.next(), words.next(), words.next())
    else {
        return false;
    };
    let host = host.trim_end_matches(',');
    host == hostname() && Path::new("/proc/self").exists() && !Path::new("/proc").join(pid).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_that_cannot_be_created_names_its_file_and_the_cause_once() {
        let error = LockError::Io {
            path: "/repo/.git/asm-migrate.lock".to_owned(),
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(
            format!("{:#}", anyhow::Error::from(error)),
            "cannot create the lock file /repo/.git/asm-migrate.lock: disk full"
        );
    }

    #[test]
    fn a_held_lock_names_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), "pid 1 on elsewhere, asm-migrate apply\n").unwrap();
        let error = RepoLock::acquire_within(dir.path(), "test", Duration::ZERO).err().expect("the lock is held");
        assert_eq!(
            format!("{:#}", anyhow::Error::from(error)),
            format!(
                "another asm-migrate is working in this repository (pid 1 on elsewhere, asm-migrate apply); lock file {}: \
                 wait for it, or remove the file if that process is gone",
                dir.path().join(LOCK_FILE).display()
            )
        );
    }
}

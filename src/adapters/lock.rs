//! One asm-migrate at a time per repository: a lock file under `.git/` naming its holder, that heals.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::core::text::rfc3339;

const LOCK_FILE: &str = "asm-migrate.lock";
/// How long a second asm-migrate waits for the first to finish; `ASM_MIGRATE_LOCK_WAIT` (seconds) overrides.
const DEFAULT_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another asm-migrate is working in this repository ({holder}); waited {waited}: let it finish, or if that \
         process is gone, remove its lock: rm {path}"
    )]
    Held { holder: String, waited: String, path: String },
    #[error("the lock file {path} {why}: if no asm-migrate is running in this repository, remove it: rm {path}")]
    Unreadable { path: String, why: String },
    #[error("cannot create the lock file {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Who holds a lock, as its file records it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Holder {
    pid: u32,
    host: String,
    since: Option<String>,
    command: String,
}

impl Holder {
    fn this_process(command: &str) -> Holder {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs() as i64)
            .unwrap_or(0);
        Holder { pid: std::process::id(), host: hostname(), since: Some(rfc3339(seconds)), command: command.to_owned() }
    }

    /// The file's text: one `key: value` per line.
    fn to_text(&self) -> String {
        let since = self.since.as_deref().unwrap_or("unknown");
        let command = self.command.replace(['\n', '\r'], " ");
        format!("pid: {}\nhost: {}\nsince: {since}\ncommand: {command}\n", self.pid, self.host)
    }

    /// Reads a lock file's text: this format, or the one line `pid N on HOST, COMMAND` earlier versions wrote.
    fn parse(text: &str) -> Option<Holder> {
        if let Some(rest) = text.strip_prefix("pid ").filter(|_| text.lines().count() == 1) {
            let (pid, rest) = rest.split_once(" on ")?;
            let (host, command) = rest.split_once(", ")?;
            return Some(Holder {
                pid: pid.parse().ok()?,
                host: host.to_owned(),
                since: None,
                command: command.trim().to_owned(),
            });
        }
        let field = |key: &str| {
            text.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix(": ").map(str::trim).map(str::to_owned))
        };
        Some(Holder {
            pid: field("pid")?.parse().ok()?,
            host: field("host").filter(|host| !host.is_empty())?,
            since: field("since"),
            command: field("command").unwrap_or_default(),
        })
    }

    /// Whether the holder is a process of this host that no longer runs (checked through /proc where there is one).
    fn is_gone(&self) -> bool {
        self.host == hostname()
            && Path::new("/proc/self").exists()
            && !Path::new("/proc").join(self.pid.to_string()).exists()
    }

    fn describe(&self) -> String {
        let since = self.since.as_deref().map(|since| format!(" since {since}")).unwrap_or_default();
        format!("pid {} on {}{since}: {}", self.pid, self.host, self.command)
    }
}

/// Held while the lock file exists; removes it when dropped.
pub struct RepoLock {
    path: PathBuf,
    /// What taking the lock involved that the user should hear about: a wait, a lock taken over.
    pub notes: Vec<String>,
}

impl RepoLock {
    /// Takes the lock in `git_dir`, waiting a little if another process holds it. A lock left by a process of this
    /// host that no longer runs is taken over.
    pub fn acquire(git_dir: &Path, command: &str) -> Result<RepoLock, LockError> {
        let wait = std::env::var("ASM_MIGRATE_LOCK_WAIT")
            .ok()
            .and_then(|seconds| seconds.parse::<f64>().ok())
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(DEFAULT_WAIT);
        RepoLock::acquire_within(git_dir, command, wait)
    }

    /// Takes the lock, waiting at most `wait` for another holder. The lock file appears whole or not at all: it is
    /// written to a file of this process's own, then hard-linked to its name, which fails if the name is taken.
    fn acquire_within(git_dir: &Path, command: &str, wait: Duration) -> Result<RepoLock, LockError> {
        let path = git_dir.join(LOCK_FILE);
        let shown = path.display().to_string();
        let io = |source| LockError::Io { path: shown.clone(), source };
        let started = Instant::now();
        let mut notes = Vec::new();
        let mut waited_for: Option<Holder> = None;
        let mine = git_dir.join(format!("{LOCK_FILE}.{}", std::process::id()));
        let written = write_synced(&mine, Holder::this_process(command).to_text().as_bytes());
        if let Err(source) = written {
            let _ = std::fs::remove_file(&mine);
            return Err(io(source));
        }
        let result = loop {
            match std::fs::hard_link(&mine, &path) {
                Ok(()) => break Ok(()),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(source) => break Err(io(source)),
            }
            let text = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => {
                    break Err(LockError::Unreadable { path: shown.clone(), why: format!("cannot be read ({error})") })
                }
            };
            let text = String::from_utf8_lossy(&text);
            let Some(holder) = Holder::parse(&text) else {
                let why = if text.trim().is_empty() {
                    "is empty (a run stopped before it could write it)".to_owned()
                } else {
                    "is not a lock asm-migrate writes".to_owned()
                };
                break Err(LockError::Unreadable { path: shown.clone(), why });
            };
            if holder.is_gone() {
                if take_over(&path, &text, git_dir) {
                    notes.push(format!("took over the lock of {}, which no longer runs", holder.describe()));
                }
                continue;
            }
            if started.elapsed() >= wait {
                let waited = format!("{:.1} s", started.elapsed().as_secs_f64());
                break Err(LockError::Held { holder: holder.describe(), waited, path: shown.clone() });
            }
            waited_for = Some(holder);
            std::thread::sleep(Duration::from_millis(100));
        };
        let _ = std::fs::remove_file(&mine);
        result?;
        remove_abandoned(git_dir);
        if let Some(holder) = waited_for {
            notes.push(format!(
                "waited {:.1} s for another asm-migrate ({}) to finish; the repository is read as it left it",
                started.elapsed().as_secs_f64(),
                holder.describe()
            ));
        }
        Ok(RepoLock { path, notes })
    }
}

impl Drop for RepoLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Removes what runs killed while they took the lock left: their own files (`asm-migrate.lock.<pid>`), when that
/// process no longer runs. Called with the lock held.
fn remove_abandoned(git_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(git_dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(&format!("{LOCK_FILE}.")).map(|rest| rest.trim_end_matches(".stale")) else {
            continue;
        };
        let gone = Path::new("/proc/self").exists() && !Path::new("/proc").join(pid).exists();
        if pid.parse::<u32>().is_ok() && gone {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Writes a file of this process's own and flushes it to the disk: a full disk fails here, not as an empty lock.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Moves a dead holder's lock aside, atomically. When two runs take over at once, one of them may move the lock
/// the other just took: it is then put back, and the run waits as for any holder.
fn take_over(path: &Path, judged: &str, git_dir: &Path) -> bool {
    let aside = git_dir.join(format!("{LOCK_FILE}.{}.stale", std::process::id()));
    if std::fs::rename(path, &aside).is_err() {
        return false;
    }
    let moved = std::fs::read_to_string(&aside).unwrap_or_default();
    let taken_over = moved == judged;
    if !taken_over {
        let _ = std::fs::hard_link(&aside, path);
    }
    let _ = std::fs::remove_file(&aside);
    taken_over
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "unknown host".to_owned())
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
    fn a_lock_records_its_holder_and_reads_back() {
        let holder = Holder::this_process("asm-migrate apply --step next --commit");
        assert_eq!(Holder::parse(&holder.to_text()), Some(holder.clone()));
        assert!(!holder.is_gone(), "this process runs");
        let old = Holder::parse("pid 4242 on ci-runner-7, asm-migrate apply\n").expect("the old format reads");
        assert_eq!(old.describe(), "pid 4242 on ci-runner-7: asm-migrate apply");
        assert_eq!(Holder::parse(""), None);
        assert_eq!(Holder::parse("pid: x\nhost: h\n"), None);
    }

    #[test]
    fn a_held_lock_names_its_holder_and_how_to_remove_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(LOCK_FILE),
            "pid: 1\nhost: elsewhere\nsince: 2026-01-01T00:00:00Z\ncommand: asm-migrate apply\n",
        )
        .unwrap();
        let error = RepoLock::acquire_within(dir.path(), "test", Duration::ZERO).err().expect("the lock is held");
        assert_eq!(
            format!("{:#}", anyhow::Error::from(error)),
            format!(
                "another asm-migrate is working in this repository (pid 1 on elsewhere since 2026-01-01T00:00:00Z: \
                 asm-migrate apply); waited 0.0 s: let it finish, or if that process is gone, remove its lock: rm {}",
                dir.path().join(LOCK_FILE).display()
            )
        );
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
        assert_eq!(names, [LOCK_FILE], "nothing of the refused run is left");
    }
}

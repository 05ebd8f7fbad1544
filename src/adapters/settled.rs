//! A record under `.git/` of the step last found whole in a commit's tree, so that `apply --commit` asked again for
//! it answers "nothing to change" without reading and rendering the repository.
//!
//! The record is a cache in the way git's index is one: it holds a digest of everything the render is a function of
//! (this binary, the plan's bytes, the request, the tree the step is rendered on) and nothing else. A run whose
//! digest differs in any part renders as usual; a missing, unreadable or foreign record is the same as none.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

const RECORD_FILE: &str = "asm-migrate-settled";
/// The record is written to a file of this prefix, then renamed to its name.
const TEMPORARY_PREFIX: &str = "asm-migrate-settled.";

/// What a render is a function of, but for the tree it reads: the tree is added where the record is checked.
pub struct RenderInputs {
    git_dir: PathBuf,
    digest: Sha256,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    key: String,
    step: String,
}

impl RenderInputs {
    /// The inputs of a render by this binary of `plan` (its text) for `request` (the step asked for, and how):
    /// `None` when this binary cannot tell what it is.
    pub fn new(git_dir: &Path, plan: &[u8], request: &str) -> Option<RenderInputs> {
        let binary = std::env::current_exe().ok().and_then(|path| std::fs::metadata(path).ok())?;
        let built = binary.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
        let mut digest = Sha256::new();
        for part in [
            env!("CARGO_PKG_VERSION").as_bytes(),
            &binary.len().to_le_bytes(),
            &built.as_nanos().to_le_bytes(),
            plan,
            request.as_bytes(),
        ] {
            digest.update((part.len() as u64).to_le_bytes());
            digest.update(part);
        }
        Some(RenderInputs { git_dir: git_dir.to_owned(), digest })
    }

    fn key(&self, tree: git2::Oid) -> String {
        let mut digest = self.digest.clone();
        digest.update(tree.as_bytes());
        digest.finalize().iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// The step recorded as whole in `tree` for these inputs, if it is.
    pub fn settled_step(&self, tree: git2::Oid) -> Option<String> {
        self.sweep();
        let text = std::fs::read(self.git_dir.join(RECORD_FILE)).ok()?;
        let record: Record = serde_json::from_slice(&text).ok()?;
        (record.key == self.key(tree)).then_some(record.step)
    }

    /// Records that `step` is whole in `tree` for these inputs. A cache: when it cannot be written, the next run
    /// renders as usual, so a failure is not reported.
    pub fn record(&self, tree: git2::Oid, step: &str) {
        self.sweep();
        let record = Record { key: self.key(tree), step: step.to_owned() };
        let Ok(text) = serde_json::to_vec(&record) else { return };
        let Ok(mut file) = tempfile::Builder::new().prefix(TEMPORARY_PREFIX).tempfile_in(&self.git_dir) else {
            return;
        };
        if std::io::Write::write_all(&mut file, &text).is_ok() {
            let _ = file.persist(self.git_dir.join(RECORD_FILE));
        }
    }

    /// Forgets any record: a run that changed the repository does not leave one that names the state before it.
    pub fn forget(&self) {
        let _ = std::fs::remove_file(self.git_dir.join(RECORD_FILE));
    }

    /// Removes what a run killed while it wrote a record left (`asm-migrate-settled.XXXXXX`). Only one asm-migrate
    /// works in a repository at a time (the lock), so no other is writing one.
    fn sweep(&self) {
        let Ok(entries) = std::fs::read_dir(&self.git_dir) else { return };
        for entry in entries.flatten() {
            if entry.file_name().to_str().is_some_and(|name| name.starts_with(TEMPORARY_PREFIX)) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_answers_only_for_the_same_inputs_and_tree() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = RenderInputs::new(dir.path(), b"plan: a\n", "setup").unwrap();
        let (tree, other_tree) = (git2::Oid::from_bytes(&[1; 20]).unwrap(), git2::Oid::from_bytes(&[2; 20]).unwrap());
        assert_eq!(inputs.settled_step(tree), None);
        inputs.record(tree, "setup");
        assert_eq!(inputs.settled_step(tree).as_deref(), Some("setup"));
        assert_eq!(inputs.settled_step(other_tree), None, "another tree");
        let other_request = RenderInputs::new(dir.path(), b"plan: a\n", "migrating").unwrap();
        assert_eq!(other_request.settled_step(tree), None, "another request");
        let edited_plan = RenderInputs::new(dir.path(), b"plan: b\n", "setup").unwrap();
        assert_eq!(edited_plan.settled_step(tree), None, "an edited plan");
        inputs.forget();
        assert_eq!(inputs.settled_step(tree), None, "forgotten");
        std::fs::write(dir.path().join(RECORD_FILE), "not json").unwrap();
        assert_eq!(inputs.settled_step(tree), None, "an unreadable record is none");
    }
}

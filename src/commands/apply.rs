//! `apply`: the selected step taken without checking the clusters (`--force` for one with preconditions), through
//! `take`; a step already whole in the commit it is rendered on is answered from the settled record without a
//! render.

use std::io::Write;

use crate::adapters::settled::RenderInputs;
use crate::adapters::RepoFiles;
use crate::commands::take::{nothing_to_change, take_step, Precheck, StepOutcome, StepRequest, Target, WriteOptions};
use crate::commands::{lines_for, now, Workplace};
use crate::core::migration::StepSelector;
use crate::core::plan::Plan;
use crate::core::state::StateChange;
use crate::core::text::rfc3339;
use crate::output::{json, ReportFormat};

/// `apply --step`: the selected step, with nothing else changed in the state but, with `--force`, that it was
/// forced.
pub fn run(
    workplace: &Workplace,
    selector: &StepSelector,
    force: bool,
    options: &WriteOptions,
    format: ReportFormat,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let (target, plan) = Target::open(workplace, options, "asm-migrate apply")?;
    let precheck = match force {
        true => Precheck::Forced { by: target.who(), at: rfc3339(now()) },
        false => Precheck::Unchecked,
    };
    let mut sink = std::io::sink();
    let lines = lines_for(format, out, &mut sink);
    let request = format!("apply {selector:?} force={force} branch={:?} push={:?}", options.branch, options.push);
    // `next` names another step once its step is committed: the record, made after the commit, would answer it
    // with the step just taken. A step asked by its id, or `current`, names the same step before and after.
    let relative = matches!(selector, StepSelector::Next);
    let settled =
        target.rendered_on().filter(|_| workplace.templates.is_none() && !relative).and_then(|(git, commit)| {
            let inputs = RenderInputs::new(&git.git_dir(), target.plan_source().as_bytes(), &request)?;
            Some((inputs, git, git.tree_of(commit)?))
        });
    if let Some(step) = settled.as_ref().and_then(|(inputs, _, tree)| inputs.settled_step(*tree)) {
        writeln!(lines, "{}", nothing_to_change(&step, target.branch_name()))?;
        return report(format, out, StepOutcome { step, ..StepOutcome::default() });
    }
    let files = target.files()?;
    let outcome = apply_from(workplace, &target, plan, files.as_ref(), selector, precheck, options, lines)?;
    if let Some((inputs, git, tree)) = &settled {
        // The step is whole in the tree it was found in, or in the commit made of it: taking the current step
        // again changes nothing (forced or not, its preconditions were checked when it was taken).
        let whole_in = match &outcome.commit {
            None if !outcome.changed => Some(*tree),
            Some(commit) => git2::Oid::from_str(&commit.id).ok().and_then(|id| git.tree_of(id)),
            None => None,
        };
        match whole_in {
            Some(tree) => inputs.record(tree, &outcome.step),
            None => inputs.forget(),
        }
    }
    report(format, out, outcome)
}

/// Ends `apply`: in JSON mode, the outcome is the document.
fn report(format: ReportFormat, out: &mut dyn Write, outcome: StepOutcome) -> anyhow::Result<i32> {
    if format == ReportFormat::Json {
        json::print(out, serde_json::to_value(&outcome)?)?;
    }
    Ok(0)
}

/// `apply`, with the repository read through `files` (the target's, in the command).
#[allow(clippy::too_many_arguments)]
fn apply_from(
    workplace: &Workplace,
    target: &Target,
    plan: Plan,
    files: &dyn RepoFiles,
    selector: &StepSelector,
    precheck: Precheck,
    options: &WriteOptions,
    out: &mut dyn Write,
) -> anyhow::Result<StepOutcome> {
    let migration = workplace.load(plan, files, target.git.as_ref())?;
    let step = StepRequest { selector, change: &StateChange::default(), precheck };
    take_step(workplace, target, migration, &step, options, out)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::adapters::workspace::Workspace;
    use crate::core::diagnostic::Diagnostic;

    /// The working tree, counting how often each file is read.
    struct CountingFiles {
        files: Workspace,
        reads: RefCell<BTreeMap<String, usize>>,
    }

    impl RepoFiles for CountingFiles {
        fn read(&self, path: &str) -> Result<Option<String>, Diagnostic> {
            *self.reads.borrow_mut().entry(path.to_owned()).or_default() += 1;
            self.files.read(path)
        }
        fn is_file(&self, path: &str) -> bool {
            self.files.is_file(path)
        }
        fn is_dir(&self, path: &str) -> bool {
            self.files.is_dir(path)
        }
        fn files_under(&self, dir: &str) -> Vec<String> {
            self.files.files_under(dir)
        }
        fn symlink(&self, path: &str) -> Option<String> {
            self.files.symlink(path)
        }
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap().flatten() {
            let target = to.join(entry.file_name());
            match entry.file_type().unwrap().is_dir() {
                true => copy_dir(&entry.path(), &target),
                false => drop(std::fs::copy(entry.path(), &target).unwrap()),
            }
        }
    }

    /// The shop fixture in a new git repository with one commit.
    fn shop() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/repos/shop"), dir.path());
        let repository = git2::Repository::init(dir.path()).unwrap();
        let mut config = repository.config().unwrap();
        config.set_str("user.name", "Platform Team").unwrap();
        config.set_str("user.email", "platform@example.com").unwrap();
        let mut index = repository.index().unwrap();
        index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
        index.write().unwrap();
        let tree = repository.find_tree(index.write_tree().unwrap()).unwrap();
        let signature = repository.signature().unwrap();
        repository.commit(Some("HEAD"), &signature, &signature, "initial", &tree, &[]).unwrap();
        dir
    }

    #[test]
    fn one_apply_reads_each_repository_file_once() {
        let dir = shop();
        let workplace = Workplace { repo: Some(dir.path().to_owned()), ..Workplace::default() };
        let options = WriteOptions { commit: true, ..WriteOptions::default() };
        let plan = workplace.read_plan().unwrap();
        for step in plan.steps.clone() {
            let (target, plan) = Target::open(&workplace, &options, "test").unwrap();
            let files = CountingFiles { files: Workspace::new(dir.path()), reads: RefCell::default() };
            let mut out = Vec::new();
            let (selector, precheck) =
                (StepSelector::Id(step.clone()), Precheck::Forced { by: "test".to_owned(), at: rfc3339(0) });
            apply_from(&workplace, &target, plan, &files, &selector, precheck, &options, &mut out).unwrap();
            let printed = String::from_utf8(out).unwrap();
            assert!(printed.contains("committed "), "step {step} was committed:\n{printed}");
            let reads = files.reads.into_inner();
            let twice: Vec<(&String, &usize)> = reads.iter().filter(|(_, count)| **count > 1).collect();
            assert!(twice.is_empty(), "step {step} read files more than once: {twice:?}");
            // What the steps edit was read: the mesh config, the cluster sources, the workloads they include.
            for file in ["infra/istio/operator.yaml", "clusters/hz/kustomization.yaml", "apps/payments/api.yaml"] {
                assert_eq!(reads.get(file), Some(&1), "step {step} reads {file} once");
            }
        }
    }
}

//! `demo`: the whole migration of the built-in example repository, one diff and one commit per step.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use include_dir::{include_dir, Dir};

use crate::commands::apply::{self, WriteOptions};
use crate::commands::{diff, Workplace};
use crate::core::migration::StepSelector;
use crate::output::DiffFormat;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{} is not empty: the demo only writes into a new or empty directory", .0.display())]
    NotEmpty(std::path::PathBuf),
}

static EXAMPLE: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/fixtures/repos/shop");

pub fn run(dir: Option<&Path>, out: &mut dyn Write) -> anyhow::Result<i32> {
    let root = match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            if std::fs::read_dir(dir)?.next().is_some() {
                return Err(DemoError::NotEmpty(dir.to_owned()).into());
            }
            dir.to_owned()
        }
        None => tempfile::Builder::new().prefix("asm-migrate-demo-").tempdir()?.keep(),
    };
    EXAMPLE.extract(&root).with_context(|| format!("cannot write the example into {}", root.display()))?;
    let repository = git2::Repository::init(&root)?;
    {
        let mut config = repository.config()?;
        config.set_str("user.name", "asm-migrate demo")?;
        config.set_str("user.email", "demo@asm-migrate.invalid")?;
    }
    let mut index = repository.index()?;
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = repository.find_tree(index.write_tree()?)?;
    let signature = repository.signature()?;
    repository.commit(
        Some("HEAD"),
        &signature,
        &signature,
        "The shop's GitOps repository, on open-source Istio",
        &tree,
        &[],
    )?;
    writeln!(out, "example repository: {} (Argo CD, clusters hz and sh, Istio 1.22)", root.display())?;

    let workplace = Workplace { repo: Some(root.clone()), ..Workplace::default() };
    let steps = workplace.read_plan()?.steps;
    let options = WriteOptions { commit: true, ..WriteOptions::default() };
    for (index, step) in steps.iter().enumerate() {
        writeln!(out, "\n=== step {}/{}: {step} ===", index + 1, steps.len())?;
        let selector = StepSelector::Id(step.clone());
        diff::run(&workplace, &selector, DiffFormat::Unified, false, out)?;
        // The demo has no clusters to check a step's preconditions against: it takes them as checked.
        apply::run(&workplace, &selector, true, &options, out)?;
    }
    writeln!(
        out,
        "\nThe migration is in {}: `git -C {} log --stat` shows one commit per step.",
        root.display(),
        root.display()
    )?;
    Ok(0)
}

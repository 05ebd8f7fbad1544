//! `demo`: the whole migration of the built-in example repository, one diff and one commit per step.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use include_dir::{include_dir, Dir};

use crate::app::{self, Session, SessionOptions};
use crate::apply::{self, ApplyOptions};

static EXAMPLE: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/fixtures/repos/shop");

pub fn run(dir: Option<&Path>, out: &mut dyn Write) -> anyhow::Result<i32> {
    let root = match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            if std::fs::read_dir(dir)?.next().is_some() {
                anyhow::bail!("{} is not empty: the demo only writes into a new or empty directory", dir.display());
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

    let session_options = SessionOptions { plan: None, repo: Some(&root), templates: None };
    let steps = Session::open(&session_options)?.plan.steps.clone();
    for (index, step) in steps.iter().enumerate() {
        writeln!(out, "\n=== step {}/{}: {step} ===", index + 1, steps.len())?;
        let session = Session::open(&session_options)?;
        app::diff(&session, &step.to_string(), app::DiffFormat::Unified, false, out)?;
        let step = step.to_string();
        let options = ApplyOptions {
            step: &step,
            commit: true,
            message: None,
            allow_dirty: false,
            branch: None,
            push: None,
            state_change: Default::default(),
        };
        apply::apply(&session_options, &options, out)?;
    }
    writeln!(
        out,
        "\nThe migration is in {}: `git -C {} log --stat` shows one commit per step.",
        root.display(),
        root.display()
    )?;
    Ok(0)
}

//! `render`: a step's files under the output directory, into a directory or (`--out -`, the default) to stdout: the
//! ASM control plane's manifests alone (the one stream an Argo CD Config Management Plugin returns), or with
//! `--only cluster/<name>` that cluster's files.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::commands::Workplace;
use crate::core::migration::StepSelector;
use crate::core::paths::{is_within, join};
use crate::core::render::render_step;
use crate::output::{json, ReportFormat};

/// Which part of the output `render --only` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputPart {
    /// The ASM control plane's manifests.
    Asm,
    /// One cluster's component.
    Cluster(String),
}

/// What `render` says on stderr when it chose the part to print: the stream holds the ASM control plane's manifests
/// only, and the rest is one flag away.
fn chose_asm(step: &impl std::fmt::Display) -> String {
    format!(
        "note: printed the ASM control plane's manifests of step {step} (--only asm); one cluster's files: --only \
         cluster/<name>; every file of the step: --out DIR\n"
    )
}

/// `--output json` with `--out -`: the stream is the output, there is nothing to report about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--output json reports the files render wrote into a directory (--out DIR); with --out - the YAML stream is the output")]
pub struct StreamIsTheOutput;

/// Why `--only` names no part of the output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--only takes `asm` or `cluster/<name>` of a cluster of the plan, not `{0}`")]
pub struct OutputPartError(String);

impl std::str::FromStr for OutputPart {
    type Err = OutputPartError;

    fn from_str(text: &str) -> Result<OutputPart, OutputPartError> {
        match text.strip_prefix("cluster/") {
            _ if text == "asm" => Ok(OutputPart::Asm),
            Some(name) if !name.is_empty() => Ok(OutputPart::Cluster(name.to_owned())),
            _ => Err(OutputPartError(text.to_owned())),
        }
    }
}

pub fn run(
    workplace: &Workplace,
    selector: &StepSelector,
    target: &str,
    only: Option<&OutputPart>,
    format: ReportFormat,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    if target == "-" && format == ReportFormat::Json {
        return Err(StreamIsTheOutput.into());
    }
    let migration = workplace.open()?;
    let templates = workplace.templates()?;
    let step = migration.resolve(selector)?;
    // To stdout with no part named: the ASM control plane's manifests, the one part that is manifests to apply (a
    // cluster's part is kustomize input: patches and a component), and a note on stderr saying so.
    let only = match only {
        None if target == "-" => {
            std::io::stderr().write_all(chose_asm(&step).as_bytes())?;
            Some(&OutputPart::Asm)
        }
        only => only,
    };
    let rendered = render_step(&migration, &migration.pending(&step)?, &templates)?;
    let output = &migration.plan.settings.output.value;
    let part = match only {
        None => output.clone(),
        Some(OutputPart::Asm) => join(output, "asm"),
        Some(OutputPart::Cluster(name)) if migration.plan.settings.clusters.iter().any(|c| &c.name == name) => {
            migration.plan.settings.component_dir(name)
        }
        Some(OutputPart::Cluster(name)) => return Err(OutputPartError(format!("cluster/{name}")).into()),
    };
    let files = rendered.writes.iter().filter(|(path, _)| is_within(path, &part));
    if target == "-" && only == Some(&OutputPart::Asm) {
        // Manifests only: the kustomization that lists them is for kustomize, not for the API server.
        let manifests = files.filter(|(path, _)| !path.ends_with("/kustomization.yaml"));
        for (index, (_, text)) in manifests.enumerate() {
            if index > 0 {
                writeln!(out, "---")?;
            }
            write!(out, "{text}")?;
        }
        return Ok(0);
    }
    if target == "-" {
        // One cluster's component: its files, each named.
        for (index, (path, text)) in files.enumerate() {
            if index > 0 {
                writeln!(out, "---")?;
            }
            write!(out, "# Source: {path}\n{text}")?;
        }
        return Ok(0);
    }
    let prefix = format!("{output}/");
    let mut written = Vec::new();
    for (path, text) in files {
        let relative = path.strip_prefix(&prefix).unwrap_or(path);
        let destination = Path::new(target).join(relative);
        if let Some(dir) = destination.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&destination, text).with_context(|| format!("cannot write {}", destination.display()))?;
        written.push(relative.to_owned());
    }
    match format {
        ReportFormat::Text => writeln!(out, "rendered step {step} into {target}")?,
        ReportFormat::Json => json::print(out, serde_json::json!({"step": step, "out": target, "files": written}))?,
    }
    Ok(0)
}

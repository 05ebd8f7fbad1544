//! The command line: every command, flag and value as clap parses it, typed at the edge.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::commands::apply::WriteOptions;
use crate::commands::render::OutputPart;
use crate::commands::Workplace;
use crate::core::migration::StepSelector;
use crate::core::step_id::StepId;
use crate::output::{DiffFormat, OutputFormat};

#[derive(Parser)]
#[command(
    name = "asm-migrate",
    version,
    about = "Migrate clusters from open-source Istio to Alibaba Cloud Service Mesh through GitOps"
)]
pub struct Cli {
    /// The migration plan (default: migration.yaml at the repository root).
    #[arg(long, global = true)]
    pub plan: Option<PathBuf>,
    /// The GitOps repository (default: the plan's directory, else the current directory).
    #[arg(long, global = true)]
    pub repo: Option<PathBuf>,
    /// A directory of templates replacing the built-in ones with the same relative path.
    #[arg(long, global = true)]
    pub templates: Option<PathBuf>,
    /// The kubeconfig for `status`, `advance` and `retry` (default: KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// `asm=CONTEXT` or `<cluster>=CONTEXT`: a kubeconfig context instead of the plan's.
    #[arg(long = "context", global = true, value_parser = parse_context)]
    pub contexts: Vec<(String, String)>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Check the plan and the repository it points at.
    Validate,
    /// List the plan's steps in order, the current one marked.
    Steps {
        #[arg(long, value_enum, default_value = "table")]
        output: OutputFormat,
    },
    /// Render a step's manifests to a directory, or to stdout as one YAML stream with `--out -`.
    Render {
        #[arg(long, default_value = "current")]
        step: StepSelector,
        #[arg(long, default_value = "-")]
        out: String,
        /// `asm` (the ASM control plane's manifests alone: what an Argo CD Config Management Plugin returns) or
        /// `cluster/<name>`.
        #[arg(long)]
        only: Option<OutputPart>,
    },
    /// Show what applying a step would change in the repository.
    Diff {
        #[arg(long, default_value = "current")]
        step: StepSelector,
        /// unified (coloured on a terminal, plain with NO_COLOR or when piped), markdown (a pull-request comment,
        /// at most 65,536 characters), or json.
        #[arg(long, value_enum, default_value = "unified")]
        format: DiffFormat,
        /// Exit 1 when there is a difference, 0 when there is none.
        #[arg(long)]
        exit_code: bool,
    },
    /// Write a step into the repository, and with --commit make one commit of it.
    Apply {
        #[arg(long, default_value = "current")]
        step: StepSelector,
        /// Take a step whose preconditions `apply` cannot check, or one that skips a phase; state.yaml and a
        /// commit trailer record it.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        apply: ApplyArgs,
    },
    /// The current step, what the clusters show, and every gate of the step.
    Status {
        #[arg(long, value_enum, default_value = "table")]
        output: OutputFormat,
        /// Evaluate the gates from `kubectl get -o yaml` dumps instead of the clusters (README, "Gates from a
        /// snapshot").
        #[arg(long)]
        snapshot: Option<PathBuf>,
        /// Poll until the gates hold (exit 1 at the timeout).
        #[arg(long, requires = "timeout")]
        wait: bool,
        /// How long --wait polls: 90s, 10m, 1h.
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<Duration>,
    },
    /// Check the current step's gates, then apply the next step (exit 1, no commit, when a gate is unmet).
    Advance {
        /// Confirm what no API can show: the current step's gates or the next step's preconditions (the step's id;
        /// repeat for both).
        #[arg(long)]
        confirm: Vec<StepId>,
        /// Skip unmet gates and preconditions; state.yaml and a commit trailer record it.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        snapshot: Option<PathBuf>,
        #[command(flatten)]
        apply: ApplyArgs,
    },
    /// Bump retryCounter on the current step after fixing what ASM's status.message named.
    Retry {
        #[arg(long)]
        snapshot: Option<PathBuf>,
        #[command(flatten)]
        apply: ApplyArgs,
    },
    /// Print the JSON Schema of the plan file.
    Schema,
    /// Run the whole migration of a built-in example repository, step by step, in a temporary directory.
    Demo {
        /// Where to create the example repository and the snapshot of its clusters (default: a new temporary
        /// directory, kept).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Print every step's full diff too.
        #[arg(long)]
        verbose: bool,
    },
    /// Print the shell completion script: `source <(asm-migrate completion bash)`, or save it where your shell
    /// loads completions from (README, "Shell completion and the manual page").
    Completion {
        /// The shell: bash, zsh, fish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `asm-migrate man > asm-migrate.1 && man -l asm-migrate.1`.
    Man {
        /// Write asm-migrate.1 and a page for each command (asm-migrate-status.1, ...) into this directory instead.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

/// How a step is written: `apply`'s flags, which `advance` and `retry` share.
#[derive(clap::Args)]
pub struct ApplyArgs {
    #[arg(long)]
    commit: bool,
    /// Words of your own for the commit message.
    #[arg(short, long)]
    message: Option<String>,
    /// Write even when files the step rewrites have uncommitted changes.
    #[arg(long)]
    allow_dirty: bool,
    /// Commit onto this branch (created from HEAD, or from the remote's branch, when missing) without touching
    /// the checkout or the index.
    #[arg(long, requires = "commit")]
    branch: Option<String>,
    /// Push the branch to this remote; when someone pushed first, the step is rendered again on their tip.
    #[arg(long, requires = "commit")]
    push: Option<String>,
}

impl ApplyArgs {
    pub fn write_options(&self) -> WriteOptions {
        WriteOptions {
            commit: self.commit,
            message: self.message.clone(),
            allow_dirty: self.allow_dirty,
            branch: self.branch.clone(),
            push: self.push.clone(),
        }
    }
}

impl Cli {
    pub fn workplace(&self) -> Workplace {
        Workplace { plan: self.plan.clone(), repo: self.repo.clone(), templates: self.templates.clone() }
    }
}

/// A `--context` value that is not `TARGET=CONTEXT`.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not TARGET=CONTEXT (asm=CONTEXT or <cluster>=CONTEXT)")]
pub struct ContextArgError(String);

fn parse_context(text: &str) -> Result<(String, String), ContextArgError> {
    match text.split_once('=') {
        Some((target, context)) if !target.is_empty() && !context.is_empty() => {
            Ok((target.to_owned(), context.to_owned()))
        }
        _ => Err(ContextArgError(text.to_owned())),
    }
}

/// A `--timeout` value that is not a duration.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a duration such as 90s, 10m or 1h")]
pub struct DurationArgError(String);

/// `30s`, `5m`, `1h` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, DurationArgError> {
    let trimmed = text.trim();
    let (number, unit) = trimmed.split_at(trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len()));
    let value: u64 = number.parse().map_err(|_| DurationArgError(text.to_owned()))?;
    let seconds = match unit {
        "" | "s" => value,
        "m" => value * 60,
        "h" => value * 3600,
        _ => return Err(DurationArgError(text.to_owned())),
    };
    Ok(Duration::from_secs(seconds))
}

//! asm-migrate: moves Kubernetes clusters from open-source Istio to Alibaba Cloud Service Mesh through GitOps.

mod advance;
mod app;
mod apply;
mod checks;
mod cluster;
mod demo;
mod diagnostic;
mod diff;
mod effects;
mod gates;
mod git;
mod lock;
mod mesh_config;
mod observe;
mod plan;
mod remote;
mod render;
mod repo;
mod snapshot;
mod state;
mod steps;
mod templates;
mod workspace;
mod yaml_edit;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::diagnostic::Diagnostics;

#[derive(Parser)]
#[command(
    name = "asm-migrate",
    version,
    about = "Migrate clusters from open-source Istio to Alibaba Cloud Service Mesh through GitOps"
)]
struct Cli {
    /// The migration plan (default: migration.yaml at the repository root).
    #[arg(long, global = true)]
    plan: Option<PathBuf>,
    /// The GitOps repository (default: the plan's directory, else the current directory).
    #[arg(long, global = true)]
    repo: Option<PathBuf>,
    /// A directory of templates replacing the built-in ones with the same relative path.
    #[arg(long, global = true)]
    templates: Option<PathBuf>,
    /// The kubeconfig for `status`, `advance` and `retry` (default: KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    /// `asm=CONTEXT` or `<cluster>=CONTEXT`: a kubeconfig context instead of the plan's.
    #[arg(long = "context", global = true, value_parser = parse_context)]
    contexts: Vec<(String, String)>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
        step: String,
        #[arg(long, default_value = "-")]
        out: String,
        /// `asm` (the ASM control plane's manifests alone: what an Argo CD Config Management Plugin returns) or
        /// `cluster/<name>`.
        #[arg(long)]
        only: Option<String>,
    },
    /// Show what applying a step would change in the repository.
    Diff {
        #[arg(long, default_value = "current")]
        step: String,
        /// unified (coloured on a terminal, plain with NO_COLOR or when piped), markdown (a pull-request comment,
        /// at most 65,536 characters), or json.
        #[arg(long, value_enum, default_value = "unified")]
        format: DiffFormatArg,
        /// Exit 1 when there is a difference, 0 when there is none.
        #[arg(long)]
        exit_code: bool,
    },
    /// Write a step into the repository, and with --commit make one commit of it.
    Apply {
        #[arg(long, default_value = "current")]
        step: String,
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
        #[arg(long, value_parser = advance::parse_duration)]
        timeout: Option<std::time::Duration>,
    },
    /// Check the current step's gates, then apply the next step (exit 1, no commit, when a gate is unmet).
    Advance {
        /// Confirm what no API can show for the current step (its id).
        #[arg(long)]
        confirm: Option<String>,
        /// Skip unmet gates; state.yaml and a commit trailer record it.
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
        /// Where to create the example repository (default: a new temporary directory, kept).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// How a step is written: `apply`'s flags, which `advance` and `retry` share.
#[derive(clap::Args)]
struct ApplyArgs {
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
    fn options<'a>(&'a self, step: &'a str) -> apply::ApplyOptions<'a> {
        apply::ApplyOptions {
            step,
            commit: self.commit,
            message: self.message.as_deref(),
            allow_dirty: self.allow_dirty,
            branch: self.branch.as_deref(),
            push: self.push.as_deref(),
            state_change: Default::default(),
        }
    }
}

fn parse_context(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((target, context)) if !target.is_empty() && !context.is_empty() => {
            Ok((target.to_owned(), context.to_owned()))
        }
        _ => Err(format!("`{text}` is not TARGET=CONTEXT (asm=CONTEXT or <cluster>=CONTEXT)")),
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum DiffFormatArg {
    Unified,
    Markdown,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Table,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = run(&cli, &mut out);
    let _ = out.flush();
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(error) => {
            match error.downcast_ref::<Diagnostics>() {
                Some(diagnostics) => eprint!("{diagnostics}"),
                None => eprintln!("error: {error:#}"),
            }
            ExitCode::from(2)
        }
    }
}

/// Observations from a snapshot directory, or from the clusters through the kubeconfig.
fn source(cli: &Cli, snapshot: Option<&std::path::Path>) -> anyhow::Result<advance::Source> {
    match snapshot {
        Some(dir) => Ok(advance::Source::Snapshot(dir.to_owned())),
        None => {
            let overrides = cli.contexts.iter().cloned().collect();
            Ok(advance::Source::Live(cluster::Connections::new(cli.kubeconfig.as_deref(), overrides)?))
        }
    }
}

fn run(cli: &Cli, out: &mut dyn Write) -> anyhow::Result<i32> {
    let options = app::SessionOptions {
        plan: cli.plan.as_deref(),
        repo: cli.repo.as_deref(),
        templates: cli.templates.as_deref(),
    };
    let session = || app::Session::open(&options);
    match &cli.command {
        Command::Validate => app::validate(&session()?, out),
        Command::Steps { output } => app::steps(&session()?, matches!(output, OutputFormat::Json), out),
        Command::Render { step, out: target, only } => app::render(&session()?, step, target, only.as_deref(), out),
        Command::Diff { step, format, exit_code } => {
            let format = match format {
                DiffFormatArg::Unified => app::DiffFormat::Unified,
                DiffFormatArg::Markdown => app::DiffFormat::Markdown,
                DiffFormatArg::Json => app::DiffFormat::Json,
            };
            app::diff(&session()?, step, format, *exit_code, out)
        }
        Command::Apply { step, apply } => apply::apply(&options, &apply.options(step), out),
        Command::Status { output, snapshot, wait, timeout } => {
            let source = source(cli, snapshot.as_deref())?;
            let status_options =
                advance::StatusOptions { json: matches!(output, OutputFormat::Json), wait: timeout.filter(|_| *wait) };
            advance::status(&session()?, &source, &status_options, out)
        }
        Command::Advance { confirm, force, snapshot, apply } => {
            let source = source(cli, snapshot.as_deref())?;
            let advance_options =
                advance::AdvanceOptions { confirm: confirm.as_deref(), force: *force, apply: apply.options("next") };
            advance::advance(&options, &source, advance_options, out)
        }
        Command::Retry { snapshot, apply } => {
            let source = source(cli, snapshot.as_deref())?;
            advance::retry(&options, &source, apply.options("current"), out)
        }
        Command::Schema => {
            out.write_all(include_str!("../schema/plan.schema.json").as_bytes())?;
            Ok(0)
        }
        Command::Demo { dir } => demo::run(dir.as_deref(), out),
    }
}

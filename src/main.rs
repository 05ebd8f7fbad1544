//! asm-migrate: moves Kubernetes clusters from open-source Istio to Alibaba Cloud Service Mesh through GitOps.

mod app;
mod apply;
mod checks;
mod demo;
mod diagnostic;
mod diff;
mod effects;
mod git;
mod lock;
mod mesh_config;
mod plan;
mod remote;
mod render;
mod repo;
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
        Command::Apply { step, commit, message, allow_dirty, branch, push } => apply::apply(
            &options,
            &apply::ApplyOptions {
                step,
                commit: *commit,
                message: message.as_deref(),
                allow_dirty: *allow_dirty,
                branch: branch.as_deref(),
                push: push.as_deref(),
            },
            out,
        ),
        Command::Schema => {
            out.write_all(include_str!("../schema/plan.schema.json").as_bytes())?;
            Ok(0)
        }
        Command::Demo { dir } => demo::run(dir.as_deref(), out),
    }
}

//! asm-migrate: moves Kubernetes clusters from open-source Istio to Alibaba Cloud Service Mesh through GitOps.

mod adapters;
mod cli;
mod commands;
mod core;
mod output;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::adapters::cluster::Connections;
use crate::cli::{Cli, ClusterArgs, Command};
use crate::commands::advance::AdvanceOptions;
use crate::commands::status::Observer;
use crate::core::diagnostic::Diagnostics;

fn main() -> ExitCode {
    let cli = Cli::parse_from(cli::with_flags_after_the_command(std::env::args_os().collect()));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = run(&cli, &mut out);
    let _ = out.flush();
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(error) => {
            match error.downcast_ref::<Diagnostics>() {
                Some(diagnostics) => output::to_stderr(&diagnostics.to_string()),
                None => output::to_stderr(&format!("error: {error:#}\n")),
            }
            ExitCode::from(2)
        }
    }
}

/// Observations from a snapshot directory, or from the clusters through the kubeconfig.
fn observer(cluster: &ClusterArgs, snapshot: Option<&std::path::Path>) -> anyhow::Result<Observer> {
    match snapshot {
        Some(dir) => Ok(Observer::Snapshot(dir.to_owned())),
        None => {
            let overrides = cluster.contexts.iter().cloned().collect();
            Ok(Observer::Live(Box::new(Connections::new(cluster.kubeconfig.as_deref(), overrides)?)))
        }
    }
}

fn run(cli: &Cli, out: &mut dyn Write) -> anyhow::Result<i32> {
    match &cli.command {
        Command::Validate { repo } => commands::validate::run(&repo.workplace(), out),
        Command::Steps { output, repo } => commands::steps::run(&repo.workplace(), *output, out),
        Command::Render { step, out: target, only, repo } => {
            commands::render::run(&repo.workplace(), step, target, only.as_ref(), out)
        }
        Command::Diff { step, format, exit_code, repo } => {
            commands::diff::run(&repo.workplace(), step, *format, *exit_code, out)
        }
        Command::Apply { step, force, apply, repo } => {
            commands::apply::run(&repo.workplace(), step, *force, &apply.write_options(), out)
        }
        Command::Status { output, snapshot, wait, timeout, repo, cluster } => {
            let observer = observer(cluster, snapshot.as_deref())?;
            commands::status::run(&repo.workplace(), &observer, *output, timeout.filter(|_| *wait), out)
        }
        Command::Advance { confirm, force, snapshot, apply, repo, cluster } => {
            let observer = observer(cluster, snapshot.as_deref())?;
            let options = AdvanceOptions { confirm: confirm.clone(), force: *force, write: apply.write_options() };
            commands::advance::run(&repo.workplace(), &observer, &options, out)
        }
        Command::Retry { snapshot, apply, repo, cluster } => {
            let observer = observer(cluster, snapshot.as_deref())?;
            commands::retry::run(&repo.workplace(), &observer, &apply.write_options(), out)
        }
        Command::Schema => commands::schema::run(out),
        Command::Demo { dir, verbose } => commands::demo::run(dir.as_deref(), *verbose, out),
        Command::Completion { shell } => commands::completion::run(*shell, out),
        Command::Man { dir } => commands::man::run(dir.as_deref(), out),
    }
}

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
use crate::cli::{Cli, Command};
use crate::commands::advance::AdvanceOptions;
use crate::commands::status::Observer;
use crate::core::diagnostic::Diagnostics;

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
                Some(diagnostics) => output::to_stderr(&diagnostics.to_string()),
                None => output::to_stderr(&format!("error: {error:#}\n")),
            }
            ExitCode::from(2)
        }
    }
}

/// Observations from a snapshot directory, or from the clusters through the kubeconfig.
fn observer(cli: &Cli, snapshot: Option<&std::path::Path>) -> anyhow::Result<Observer> {
    match snapshot {
        Some(dir) => Ok(Observer::Snapshot(dir.to_owned())),
        None => {
            let overrides = cli.contexts.iter().cloned().collect();
            Ok(Observer::Live(Box::new(Connections::new(cli.kubeconfig.as_deref(), overrides)?)))
        }
    }
}

fn run(cli: &Cli, out: &mut dyn Write) -> anyhow::Result<i32> {
    let workplace = cli.workplace();
    match &cli.command {
        Command::Validate => commands::validate::run(&workplace, out),
        Command::Steps { output } => commands::steps::run(&workplace, *output, out),
        Command::Render { step, out: target, only } => {
            commands::render::run(&workplace, step, target, only.as_ref(), out)
        }
        Command::Diff { step, format, exit_code } => commands::diff::run(&workplace, step, *format, *exit_code, out),
        Command::Apply { step, force, apply } => {
            commands::apply::run(&workplace, step, *force, &apply.write_options(), out)
        }
        Command::Status { output, snapshot, wait, timeout } => {
            let observer = observer(cli, snapshot.as_deref())?;
            commands::status::run(&workplace, &observer, *output, timeout.filter(|_| *wait), out)
        }
        Command::Advance { confirm, force, snapshot, apply } => {
            let observer = observer(cli, snapshot.as_deref())?;
            let options = AdvanceOptions { confirm: confirm.clone(), force: *force, write: apply.write_options() };
            commands::advance::run(&workplace, &observer, &options, out)
        }
        Command::Retry { snapshot, apply } => {
            let observer = observer(cli, snapshot.as_deref())?;
            commands::retry::run(&workplace, &observer, &apply.write_options(), out)
        }
        Command::Schema => commands::schema::run(out),
        Command::Demo { dir, verbose } => commands::demo::run(dir.as_deref(), *verbose, out),
        Command::Completion { shell } => commands::completion::run(*shell, out),
        Command::Man { dir } => commands::man::run(dir.as_deref(), out),
    }
}

//! asm-migrate: moves Kubernetes clusters from open-source Istio to Alibaba Cloud Service Mesh through GitOps. The
//! command line's dispatch; everything else is the library (`lib.rs`).

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use asm_migrate::adapters::cluster::Connections;
use asm_migrate::cli::{self, Cli, ClusterArgs, Command};
use asm_migrate::commands::advance::AdvanceOptions;
use asm_migrate::commands::status::{Observer, Progress};
use asm_migrate::core::diagnostic::Diagnostics;
use asm_migrate::{commands, output};

fn main() -> ExitCode {
    let cli = Cli::parse_from(cli::with_flags_after_the_command(std::env::args_os().collect()));
    output::colour::choose(cli.color);
    let json = cli.command.json_output();
    if json {
        output::keep_notes();
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = run(&cli, &mut out);
    let _ = out.flush();
    match result {
        Ok(code) => ExitCode::from(code as u8),
        // A reader that stopped reading (`| head`) is not a failure, as for ripgrep and cargo.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            const ERROR: u8 = 2;
            let error = match error.downcast::<Diagnostics>() {
                // A file every cluster includes is read for each of them: its problem is said once.
                Ok(diagnostics) => anyhow::Error::from(diagnostics.without_repeats()),
                Err(other) => other,
            };
            let text = match (json, error.downcast_ref::<Diagnostics>()) {
                (true, _) => {
                    let document = output::json::error(&error, ERROR, output::kept_notes());
                    format!("{}\n", serde_json::to_string_pretty(&document).unwrap_or_default())
                }
                (false, Some(diagnostics)) => {
                    output::colour::messages(&diagnostics.to_string(), output::colour::stderr())
                }
                (false, None) => output::colour::messages(&format!("error: {error:#}\n"), output::colour::stderr()),
            };
            output::to_stderr(&text);
            ExitCode::from(ERROR)
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Observations from a snapshot directory, or from the clusters through the kubeconfig.
fn observer(cluster: &ClusterArgs) -> anyhow::Result<Observer> {
    match &cluster.snapshot {
        Some(dir) => Ok(Observer::Snapshot(dir.to_owned())),
        None => {
            let overrides = cluster.contexts.iter().cloned().collect();
            Ok(Observer::Live(Box::new(Connections::new(cluster.kubeconfig.as_deref(), overrides)?)))
        }
    }
}

fn run(cli: &Cli, out: &mut dyn Write) -> anyhow::Result<i32> {
    match &cli.command {
        Command::Validate { report, repo } => commands::validate::run(repo, report.output, out),
        Command::Steps { output, repo } => commands::steps::run(repo, *output, out),
        Command::Render { step, out: target, only, report, repo } => {
            commands::render::run(repo, step, target, only.as_ref(), report.output, out)
        }
        Command::Diff { step, format, exit_code, repo } => commands::diff::run(repo, step, *format, *exit_code, out),
        Command::Apply { step, force, apply, report, repo } => {
            commands::apply::run(repo, step, *force, apply, report.output, out)
        }
        Command::Status { output, wait, timeout, quiet, repo, cluster } => {
            let observer = observer(cluster)?;
            let waiting = timeout.filter(|_| *wait).map(|timeout| (timeout, Progress::for_stderr(*quiet)));
            commands::status::run(repo, &observer, *output, waiting, out)
        }
        Command::Advance { confirm, force, apply, report, repo, cluster } => {
            let observer = observer(cluster)?;
            let options = AdvanceOptions { confirm: confirm.clone(), force: *force, write: apply.clone() };
            commands::advance::run(repo, &observer, &options, report.output, out)
        }
        Command::Retry { apply, report, repo, cluster } => {
            let observer = observer(cluster)?;
            commands::retry::run(repo, &observer, apply, report.output, out)
        }
        Command::Init { force, wire, asm_context, asm_kubeconfig_secret, report, repo } => {
            let options = commands::init::InitOptions {
                force: *force,
                wire: *wire,
                asm_context: asm_context.clone(),
                asm_kubeconfig_secret: asm_kubeconfig_secret.clone(),
            };
            commands::init::run(repo, &options, report.output, out)
        }
        Command::Schema => commands::schema::run(out),
        Command::Demo { dir, verbose } => commands::demo::run(dir.as_deref(), *verbose, out),
        Command::Completion { shell } => commands::completion::run(Cli::command(), *shell, out),
        Command::Man { dir } => commands::man::run(Cli::command(), dir.as_deref(), out),
    }
}

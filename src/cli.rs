//! The command line: every command, flag and value as clap parses it, typed at the edge.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::commands::render::OutputPart;
use crate::commands::take::WriteOptions;
use crate::commands::Workplace;
use crate::core::migration::StepSelector;
use crate::core::step_id::StepId;
use crate::output::colour::ColorChoice;
use crate::output::{DiffFormat, OutputFormat, ReportFormat};

#[derive(Parser)]
#[command(
    name = "asm-migrate",
    version,
    about = "Migrate clusters from open-source Istio to Alibaba Cloud Service Mesh through GitOps"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// When to colour: auto (on a terminal, unless NO_COLOR is set; in a pipe too if CLICOLOR_FORCE is), always,
    /// or never.
    #[arg(long, value_enum, global = true, default_value = "auto", value_name = "WHEN")]
    pub color: ColorChoice,
}

/// `--output` of the commands that report what they did: text for people, json for tools.
#[derive(clap::Args, Clone, Copy, Default)]
pub struct ReportArgs {
    /// text (lines for people), or json (one document with a schemaVersion on stdout, errors as JSON on stderr:
    /// README, "Machine output").
    #[arg(long, short = 'o', value_enum, default_value = "text", value_name = "FORMAT")]
    pub output: ReportFormat,
}

/// How the clusters are read: through the kubeconfig, or from a snapshot; the flags of the commands that read them.
#[derive(clap::Args, Clone, Default)]
pub struct ClusterArgs {
    /// Read the clusters from `kubectl get -o yaml` dumps instead of their API servers (README, "Gates from a
    /// snapshot").
    #[arg(long, value_name = "DIR")]
    pub snapshot: Option<PathBuf>,
    /// The kubeconfig (default: KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// `asm=CONTEXT` or `<cluster>=CONTEXT`: a kubeconfig context instead of the plan's (repeatable).
    #[arg(long = "context", value_parser = parse_context, value_name = "TARGET=CONTEXT")]
    pub contexts: Vec<(String, String)>,
}

/// The flags that kubectl users put before the command (`asm-migrate --kubeconfig K status`), as clap reads
/// them: after it. Each still belongs to the commands it acts on, and elsewhere is refused.
const LEADING_FLAGS: [&str; 5] = ["--plan", "--repo", "--templates", "--kubeconfig", "--context"];

/// `args` with the leading flags moved behind the command they precede.
pub fn with_flags_after_the_command(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut leading = Vec::new();
    let mut index = 1;
    while let Some(arg) = args.get(index).and_then(|arg| arg.to_str()) {
        let flag = arg.split_once('=').map_or(arg, |(flag, _)| flag);
        if !LEADING_FLAGS.contains(&flag) {
            break;
        }
        let takes_next = !arg.contains('=') && index + 1 < args.len();
        let end = index + 1 + usize::from(takes_next);
        leading.extend(args[index..end].iter().cloned());
        index = end;
    }
    let command_here = args.get(index).and_then(|arg| arg.to_str()).is_some_and(|arg| !arg.starts_with('-'));
    if leading.is_empty() || !command_here {
        return args;
    }
    let mut reordered = vec![args[0].clone(), args[index].clone()];
    reordered.extend(leading);
    reordered.extend(args[index + 1..].iter().cloned());
    reordered
}

#[derive(Subcommand)]
pub enum Command {
    /// Check the plan and the repository it points at.
    Validate {
        #[command(flatten)]
        report: ReportArgs,
        #[command(flatten)]
        repo: Workplace,
    },
    /// List the plan's steps in order, the current one marked.
    Steps {
        /// table (aligned columns), or json (one document with a schemaVersion: README, "Machine output").
        #[arg(long, short = 'o', value_enum, default_value = "table", value_name = "FORMAT")]
        output: OutputFormat,
        #[command(flatten)]
        repo: Workplace,
    },
    /// Render a step's manifests to a directory, or to stdout as one YAML stream with `--out -`.
    Render {
        /// The step: `current` (the one the repository is at), `next`, or a step id such as `wave/canary`.
        #[arg(long, default_value = "current")]
        step: StepSelector,
        /// A directory to write into, or `-` for stdout (the ASM control plane's manifests, unless --only names a
        /// cluster).
        #[arg(long, default_value = "-", value_name = "DIR|-")]
        out: String,
        /// `asm` (the ASM control plane's manifests alone: what an Argo CD Config Management Plugin returns) or
        /// `cluster/<name>`.
        #[arg(long, value_name = "PART")]
        only: Option<OutputPart>,
        #[command(flatten)]
        report: ReportArgs,
        #[command(flatten)]
        repo: Workplace,
    },
    /// Show what applying a step would change in the repository.
    #[command(
        after_help = "Examples:\n  asm-migrate diff --step next\n  asm-migrate diff --step next --format markdown > comment.md\n  asm-migrate diff --step next --exit-code || echo \"the step changes something\""
    )]
    Diff {
        /// The step: `current` (the one the repository is at), `next`, or a step id such as `wave/canary`.
        #[arg(long, default_value = "current")]
        step: StepSelector,
        /// unified (coloured on a terminal, plain with NO_COLOR or when piped), markdown (a pull-request comment,
        /// at most 65,536 characters), or json.
        #[arg(long, value_enum, default_value = "unified")]
        format: DiffFormat,
        /// Exit 1 when there is a difference, 0 when there is none.
        #[arg(long)]
        exit_code: bool,
        #[command(flatten)]
        repo: Workplace,
    },
    /// Write a step into the repository, and with --commit make one commit of it.
    #[command(
        after_help = "Examples:\n  asm-migrate apply --step next --commit\n  asm-migrate apply --step next --commit --branch asm-migration --push origin"
    )]
    Apply {
        /// The step: `current` (the one the repository is at), `next`, or a step id such as `wave/canary`.
        #[arg(long, default_value = "current")]
        step: StepSelector,
        /// Take a step whose preconditions `apply` cannot check, or one that skips a phase; state.yaml and a
        /// commit trailer record it.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        apply: WriteOptions,
        #[command(flatten)]
        report: ReportArgs,
        #[command(flatten)]
        repo: Workplace,
    },
    /// The current step, what the clusters show, and every gate of the step.
    #[command(
        after_help = "Examples:\n  asm-migrate status\n  asm-migrate status --wait --timeout 10m\n  asm-migrate status --snapshot dumps/ --output json"
    )]
    Status {
        /// table (aligned columns), or json (one document with a schemaVersion: README, "Machine output").
        #[arg(long, short = 'o', value_enum, default_value = "table", value_name = "FORMAT")]
        output: OutputFormat,
        /// Poll until the gates hold (exit 1 at the timeout).
        #[arg(long, requires = "timeout")]
        wait: bool,
        /// How long --wait polls: 90s, 10m, 1h.
        #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
        timeout: Option<Duration>,
        /// With --wait, show nothing while waiting (on a terminal a live line per gate, in a log a line when a
        /// gate changes): only the result.
        #[arg(long, short = 'q', requires = "wait")]
        quiet: bool,
        #[command(flatten)]
        repo: Workplace,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Check the current step's gates, then apply the next step (exit 1, no commit, when a gate is unmet).
    #[command(
        after_help = "Examples:\n  asm-migrate advance --commit --branch asm-migration --push origin\n  asm-migrate advance --confirm ingress/public --commit"
    )]
    Advance {
        /// Confirm what no API can show: the current step's gates or the next step's preconditions (the step's id;
        /// repeat for both).
        #[arg(long, value_name = "STEP")]
        confirm: Vec<StepId>,
        /// Skip unmet gates and preconditions; state.yaml and a commit trailer record it.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        apply: WriteOptions,
        #[command(flatten)]
        report: ReportArgs,
        #[command(flatten)]
        repo: Workplace,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Bump retryCounter on the current step after fixing what ASM's status.message named.
    Retry {
        #[command(flatten)]
        apply: WriteOptions,
        #[command(flatten)]
        report: ReportArgs,
        #[command(flatten)]
        repo: Workplace,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Scan a repository and write a starter plan (migration.yaml) from what it holds, each choice commented with
    /// where it was found; what it cannot decide is left as a `# decide:` line that `validate` names.
    #[command(
        after_help = "Examples:\n  asm-migrate init\n  asm-migrate init --repo ../shop-gitops\n  asm-migrate init --wire --asm-context asm-prod"
    )]
    Init {
        /// Write over an existing plan (and a schema file that is not this version's).
        #[arg(long)]
        force: bool,
        /// Also write the Argo CD Application or Flux Kustomization that applies the output's asm/ to the ASM
        /// control plane, when none does yet.
        #[arg(long)]
        wire: bool,
        /// The ASM control plane's kubeconfig context (its cluster name in Argo CD): the plan's asm.context, and
        /// the destination of the Application --wire writes.
        #[arg(long, value_name = "CONTEXT")]
        asm_context: Option<String>,
        /// The Secret (in the Flux Kustomization's namespace, key `value`) holding the ASM control plane's
        /// kubeconfig, for the Flux Kustomization --wire writes.
        #[arg(long, value_name = "NAME", default_value = "asm-kubeconfig")]
        asm_kubeconfig_secret: String,
        #[command(flatten)]
        report: ReportArgs,
        #[command(flatten)]
        repo: Workplace,
    },
    /// Print the JSON Schema of the plan file.
    Schema,
    /// Run the whole migration of a built-in example repository, step by step, in a temporary directory.
    Demo {
        /// Where to create the example repository and the snapshot of its clusters (default: a new temporary
        /// directory, kept).
        #[arg(long, value_name = "DIR")]
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
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

impl Command {
    /// Whether the command prints JSON: its document on stdout, an error as JSON on stderr.
    pub fn json_output(&self) -> bool {
        match self {
            Command::Validate { report, .. }
            | Command::Render { report, .. }
            | Command::Apply { report, .. }
            | Command::Advance { report, .. }
            | Command::Retry { report, .. }
            | Command::Init { report, .. } => report.output == ReportFormat::Json,
            Command::Steps { output, .. } | Command::Status { output, .. } => *output == OutputFormat::Json,
            Command::Diff { format, .. } => *format == DiffFormat::Json,
            Command::Schema | Command::Demo { .. } | Command::Completion { .. } | Command::Man { .. } => false,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn args(line: &str) -> Vec<std::ffi::OsString> {
        line.split(' ').map(Into::into).collect()
    }

    #[test]
    fn every_flag_says_what_it_does() {
        let command = Cli::command();
        let mut silent = Vec::new();
        for subcommand in command.get_subcommands() {
            for arg in subcommand.get_arguments().filter(|arg| !arg.is_hide_set()) {
                if arg.get_help().is_none() {
                    silent.push(format!("{} {}", subcommand.get_name(), arg.get_id()));
                }
            }
        }
        assert!(silent.is_empty(), "flags without help: {silent:?}");
    }

    #[test]
    fn flags_appear_only_where_they_act() {
        let command = Cli::command();
        let flags_of = |name: &str| -> Vec<String> {
            let subcommand = command.find_subcommand(name).expect("a command");
            subcommand.get_arguments().filter_map(|arg| arg.get_long()).map(str::to_owned).collect()
        };
        for name in ["schema", "demo", "completion", "man"] {
            let flags = flags_of(name);
            for flag in LEADING_FLAGS.map(|flag| flag.trim_start_matches('-')) {
                assert!(!flags.iter().any(|f| f == flag), "{name} has no --{flag}");
            }
        }
        for name in ["validate", "steps", "render", "diff", "apply"] {
            let flags = flags_of(name);
            assert!(flags.iter().any(|f| f == "plan") && !flags.iter().any(|f| f == "kubeconfig"), "{name}: {flags:?}");
        }
        for name in ["status", "advance", "retry"] {
            let flags = flags_of(name);
            assert!(flags.iter().any(|f| f == "kubeconfig") && flags.iter().any(|f| f == "context"), "{name}");
        }
    }

    #[test]
    fn flags_written_before_the_command_act_as_after_it() {
        assert_eq!(
            with_flags_after_the_command(args("asm-migrate --kubeconfig k --context=hz=x status --wait")),
            args("asm-migrate status --kubeconfig k --context=hz=x --wait")
        );
        assert_eq!(with_flags_after_the_command(args("asm-migrate --help")), args("asm-migrate --help"));
        assert_eq!(
            with_flags_after_the_command(args("asm-migrate validate --plan p")),
            args("asm-migrate validate --plan p")
        );
        let cli = Cli::try_parse_from(with_flags_after_the_command(args("asm-migrate --plan p.yaml validate")))
            .expect("parses");
        assert!(matches!(cli.command, Command::Validate { repo, .. } if repo.plan == Some(PathBuf::from("p.yaml"))));
        let refused = Cli::try_parse_from(with_flags_after_the_command(args("asm-migrate --kubeconfig k schema")));
        assert!(refused.is_err(), "schema reads no cluster");
    }
}

//! Issue 11: the command line as kubectl, Argo CD and Flux users expect it: completion scripts that load and
//! complete, and manual pages that render.

use std::path::Path;
use std::process::Command;

use crate::fake::World;
use crate::support::{tool_environment, Repo, Run};

const BIN: &str = env!("CARGO_BIN_EXE_asm-migrate");

fn tool(args: &[&str]) -> Run {
    Run::of(tool_environment(Command::new(BIN).args(args)).output().expect("asm-migrate runs")).success()
}

/// What bash completes after `words` (the last one being completed), with the script `completion bash` prints
/// loaded as a user would: `source <(asm-migrate completion bash)`.
fn bash_completes(words: &[&str]) -> Vec<String> {
    let script = r#"
        source <("$BIN" completion bash) || exit 3
        function=$(complete -p asm-migrate | sed -E 's/.* -F ([^ ]+) .*/\1/')
        read -ra COMP_WORDS <<< "$WORDS"
        [[ "$WORDS" == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE="$WORDS"
        COMP_POINT=${#COMP_LINE}
        "$function" asm-migrate "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let output = Command::new("bash")
        .args(["-c", script])
        .env("BIN", BIN)
        .env("WORDS", words.join(" "))
        .output()
        .expect("bash runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).filter(|word| !word.is_empty()).collect()
}

#[test]
fn issue_11_the_bash_completion_loads_and_completes_commands_flags_and_values() {
    assert_eq!(bash_completes(&["asm-migrate", "st"]), ["steps", "status"]);
    let flags = bash_completes(&["asm-migrate", "apply", "--"]);
    for flag in ["--step", "--commit", "--branch", "--push", "--force", "--allow-dirty"] {
        assert!(flags.iter().any(|word| word == flag), "apply completes {flag}: {flags:?}");
    }
    assert_eq!(bash_completes(&["asm-migrate", "completion", "f"]), ["fish"]);
    assert_eq!(bash_completes(&["asm-migrate", "diff", "--format", ""]), ["unified", "markdown", "json"]);
}

#[test]
fn issue_11_every_shell_gets_its_completion_script() {
    for (shell, marker) in [
        ("bash", "complete -F _asm__migrate"),
        ("zsh", "#compdef asm-migrate"),
        ("fish", "complete -c asm-migrate"),
        ("powershell", "Register-ArgumentCompleter -Native -CommandName 'asm-migrate'"),
    ] {
        let script = tool(&["completion", shell]).stdout;
        assert!(script.contains(marker), "{shell}: {}", &script[..script.len().min(300)]);
        for command in ["validate", "status", "advance", "retry"] {
            assert!(script.contains(command), "{shell} completes {command}");
        }
    }
}

/// What `man -l` shows of a page, as plain text.
fn rendered(page: &std::path::Path) -> String {
    let output = Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("man runs");
    assert!(output.status.success(), "man -l {}: {}", page.display(), String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn issue_11_the_manual_pages_render_with_man() {
    let dir = tempfile::tempdir().expect("a directory");
    let page = dir.path().join("asm-migrate.1");
    std::fs::write(&page, tool(&["man"]).stdout).expect("written");
    // man justifies its lines: compare words, not spacing.
    let text = rendered(&page).split_whitespace().collect::<Vec<_>>().join(" ");
    for part in ["NAME", "SYNOPSIS", "asm-migrate - Migrate clusters from open-source Istio", "SUBCOMMANDS"] {
        assert!(text.contains(part), "{part}: {text}");
    }
    let pages = dir.path().join("pages");
    tool(&["man", "--dir", pages.to_str().expect("UTF-8")]);
    // Every page the main page refers to exists and renders.
    for command in
        ["validate", "steps", "render", "diff", "apply", "status", "advance", "retry", "schema", "completion"]
    {
        assert!(text.contains(&format!("asm-migrate-{command}(1)")), "asm-migrate(1) lists {command}");
        let page = pages.join(format!("asm-migrate-{command}.1"));
        assert!(rendered(&page).contains(&format!("asm-migrate-{command}")), "{}", page.display());
    }
    // Each page has the flags of its command: the kubeconfig on the pages of the commands that read clusters.
    let status = rendered(&pages.join("asm-migrate-status.1"));
    assert!(status.contains("--snapshot") && status.contains("--kubeconfig"), "{status}");
    assert!(!rendered(&pages.join("asm-migrate-schema.1")).contains("--kubeconfig"));
}

/// A snapshot the test changes while `status --wait` reads it: the new world's files moved in one by one, each
/// atomically, so that every read sees whole files.
fn replace_snapshot(dir: &Path, world: &World) {
    let next = tempfile::tempdir().expect("a temporary directory");
    world.write_snapshot(next.path());
    fn move_into(from: &Path, to: &Path) {
        for entry in std::fs::read_dir(from).expect("a directory").flatten() {
            let target = to.join(entry.file_name());
            match entry.file_type().expect("a file type").is_dir() {
                true => move_into(&entry.path(), &target),
                false => {
                    let staged = target.with_extension("staged");
                    std::fs::copy(entry.path(), &staged).expect("copied");
                    std::fs::rename(&staged, &target).expect("moved into place");
                }
            }
        }
    }
    move_into(next.path(), dir);
}

/// asm-migrate in a pseudo-terminal: `script` runs it (as one shell command line) on a terminal of its own and
/// copies the screen to stdout; `-e` returns its exit code.
fn on_a_terminal(repo: &Repo, args: &[&str]) -> Command {
    let line: Vec<String> = std::iter::once(BIN).chain(args.iter().copied()).map(|word| format!("'{word}'")).collect();
    let mut command = Command::new("script");
    command.args(["-qfec", &line.join(" "), "/dev/null"]).current_dir(repo.path());
    tool_environment(&mut command);
    command
}

/// `status --wait` at `setup` over a snapshot where the proxies are not restarted yet, restarted after three
/// seconds; `terminal` runs the binary in a pseudo-terminal.
fn wait_for_restart(terminal: bool, extra: &[&str]) -> Run {
    let repo = Repo::fixture("shop").at("setup");
    let snapshot = tempfile::tempdir().expect("a temporary directory");
    let not_restarted = World::shop().switched("SetupIstioForMigrate");
    not_restarted.write_snapshot(snapshot.path());
    let dir = snapshot.path().to_str().expect("UTF-8");
    let mut args = vec!["status", "--wait", "--timeout", "60s", "--snapshot", dir];
    args.extend(extra);
    let mut command = if terminal { on_a_terminal(&repo, &args) } else { repo.command(&args) };
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("asm-migrate runs");
    std::thread::sleep(std::time::Duration::from_secs(3));
    replace_snapshot(snapshot.path(), &not_restarted.every_workload(|workload| workload.xds_agent = true));
    Run::of(child.wait_with_output().expect("asm-migrate ends"))
}

#[test]
fn issue_11_status_wait_in_a_log_says_what_it_waits_for_and_quiet_says_nothing() {
    let logged = wait_for_restart(false, &[]).success();
    assert!(
        logged.stderr.starts_with(
            "[0s] waiting: setup: proxies carry PROXY_CONFIG_XDS_AGENT: 25 Istio-injected pod(s) without \
             PROXY_CONFIG_XDS_AGENT=true (not restarted yet?): hz: payments/api-5d8f7c-0, "
        ),
        "{}",
        logged.stderr
    );
    assert_eq!(logged.stderr.lines().count(), 1, "a line when a gate changes, not one per poll:\n{}", logged.stderr);
    assert!(!logged.stderr.contains('\x1b'), "no terminal escapes in a log");
    assert!(logged.stdout.contains("proxies carry PROXY_CONFIG_XDS_AGENT  met\n"), "{}", logged.stdout);

    let quiet = wait_for_restart(false, &["--quiet"]).success();
    assert_eq!(quiet.stderr, "", "--quiet: nothing but the result");
    assert_eq!(quiet.stdout, logged.stdout);
}

#[test]
fn issue_11_status_wait_on_a_terminal_redraws_a_line_per_gate() {
    let screen = wait_for_restart(true, &[]).success().stdout;
    assert!(screen.contains("waiting for the gates of setup: 0s of 1m0s\r\n"), "{screen:?}");
    assert!(screen.contains("  met     ASM switched\r\n"), "{screen:?}");
    assert!(screen.contains("  waiting proxies carry PROXY_CONFIG_XDS_AGENT: 25 Istio-injected pod(s)"), "{screen:?}");
    assert!(screen.contains("\x1b[5A\x1b[J"), "the block of a head line and four gates is redrawn: {screen:?}");
    assert!(screen.contains("proxies carry PROXY_CONFIG_XDS_AGENT  met\r\n"), "then the result: {screen:?}");
}

#[test]
fn issue_11_colour_follows_the_flag_then_no_color_clicolor_force_and_the_terminal() {
    let repo = Repo::fixture("shop");
    let diff = ["diff", "--step", "init"];
    let coloured = |mut command: Command, environment: &[(&str, &str)]| -> bool {
        command.env_remove("NO_COLOR").envs(environment.iter().copied());
        let run = Run::of(command.output().expect("asm-migrate runs")).success();
        assert!(run.stdout.contains("diff --git"), "{}", run.stdout);
        run.stdout.contains("\x1b[")
    };
    fn with<'a>(diff: &[&'a str], flags: &[&'a str]) -> Vec<&'a str> {
        [diff, flags].concat()
    }
    assert!(!coloured(repo.command(&diff), &[]), "a pipe is plain");
    assert!(coloured(repo.command(&diff), &[("CLICOLOR_FORCE", "1")]), "CLICOLOR_FORCE colours a pipe");
    assert!(!coloured(repo.command(&diff), &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]), "NO_COLOR wins");
    assert!(coloured(repo.command(&with(&diff, &["--color", "always"])), &[("NO_COLOR", "1")]), "the flag wins");
    assert!(coloured(on_a_terminal(&repo, &diff), &[]), "a terminal is coloured");
    assert!(!coloured(on_a_terminal(&repo, &diff), &[("NO_COLOR", "1")]), "unless NO_COLOR is set");
    assert!(!coloured(on_a_terminal(&repo, &with(&diff, &["--color", "never"])), &[]), "or --color never");
    assert!(coloured(repo.command(&["--color=always", "diff", "--step", "init"]), &[]), "before the command too");

    let broken = Repo::fixture("shop").edited("migration.yaml", "network: network-1", "network: \"Net 1\"");
    let failed = broken.run(&["validate", "--color", "always"]).failure(2);
    assert!(failed.stderr.starts_with("\x1b[1;31merror:\x1b[0m network `Net 1` is not"), "{:?}", failed.stderr);
    assert!(!broken.run(&["validate"]).failure(2).stderr.contains('\x1b'), "plain under NO_COLOR");
}

#[test]
fn issue_11_the_help_of_every_command_is_pinned() {
    let top = tool(&["--help"]).stdout;
    crate::support::matches_golden("fixtures/golden/help/asm-migrate.txt", &top);
    let commands = [
        "validate",
        "steps",
        "render",
        "diff",
        "apply",
        "status",
        "advance",
        "retry",
        "init",
        "schema",
        "demo",
        "completion",
        "man",
    ];
    for command in commands {
        assert!(top.contains(&format!("\n  {command} ")), "the top-level help lists {command}");
        let help = tool(&[command, "--help"]).stdout;
        crate::support::matches_golden(&format!("fixtures/golden/help/{command}.txt"), &help);
    }
}

#[test]
fn issue_11_the_published_schema_is_what_schema_prints_and_validate_checks_the_plans_reference() {
    let published = std::fs::read_to_string(crate::support::manifest_dir().join("schema/plan.schema.json"))
        .expect("the published schema");
    assert_eq!(tool(&["schema"]).stdout, published, "schema/plan.schema.json is what `asm-migrate schema` prints");

    let repo = Repo::fixture("shop");
    let suggested = repo.run(&["validate"]).success().stdout;
    assert!(
        suggested.contains(
            "note: the plan names no JSON Schema, so editors cannot complete or check it as you type\n  --> \
             migration.yaml\nhelp: run `asm-migrate schema > migration.schema.json` and make `# \
             yaml-language-server: $schema=./migration.schema.json` the plan's first line"
        ),
        "{suggested}"
    );
    let plan = repo.read("migration.yaml");
    repo.write("migration.yaml", &format!("# yaml-language-server: $schema=./migration.schema.json\n{plan}"));
    let missing = repo.run(&["validate"]).success().stdout;
    assert!(
        missing.contains(
            "warning: the schema file ./migration.schema.json the plan names does not exist\n --> migration.yaml:1:3\n"
        ),
        "{missing}"
    );
    repo.write("migration.schema.json", "{}\n");
    let stale = repo.run(&["validate"]).success().stdout;
    assert!(stale.contains("warning: the schema file ./migration.schema.json is not this asm-migrate's"), "{stale}");
    assert!(stale.contains("help: asm-migrate schema > ./migration.schema.json\n"), "{stale}");
    repo.write("migration.schema.json", &published);
    let quiet = repo.run(&["validate"]).success().stdout;
    assert!(!quiet.contains("schema"), "a plan with its schema gets no remark about it: {quiet}");
}

//! Issue 11: the command line as kubectl, Argo CD and Flux users expect it: completion scripts that load and
//! complete, and manual pages that render.

use std::process::Command;

use crate::support::{tool_environment, Run};

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

//! What reviewers and tools read: the markdown pull-request comment, the JSON, and colour only on a terminal.
//! Golden files: `UPDATE_GOLDEN=1 cargo test --test integration review`, then review the change.

use std::process::Command;

use serde_json::Value;

use crate::support::{manifest_dir, Repo, SOURCE_DATE_EPOCH};

const LIMIT: usize = 65_536;

fn check_golden(name: &str, actual: &str) {
    crate::support::matches_golden(&format!("fixtures/golden/review/{name}"), actual);
}

#[test]
fn markdown_and_json_of_the_shop_steps_are_pinned() {
    let repo = Repo::fixture("shop");
    repo.apply_through("init");
    for (step, name) in [("setup", "02-setup"), ("migrating", "03-migrating"), ("wave/canary", "04-wave-canary")] {
        check_golden(
            &format!("{name}.md"),
            &repo.run(&["diff", "--step", step, "--format", "markdown"]).success().stdout,
        );
        check_golden(
            &format!("{name}.json"),
            &repo.run(&["diff", "--step", step, "--format", "json"]).success().stdout,
        );
        repo.apply(step);
    }
    repo.apply_through("egress/stripe/1");
    check_golden(
        "08-egress-stripe-10.md",
        &repo.run(&["diff", "--step", "egress/stripe/10", "--format", "markdown"]).success().stdout,
    );
    repo.apply_through("ingress/public");
    check_golden("12-finished.md", &repo.run(&["diff", "--step", "finished", "--format", "markdown"]).success().stdout);
}

#[test]
fn json_describes_files_hunks_and_effects() {
    let repo = Repo::fixture("shop");
    repo.apply_through("init");
    let diff = repo.run(&["diff", "--step", "setup", "--format", "json", "--exit-code"]).failure(1);
    let value: Value = serde_json::from_str(&diff.stdout).expect("JSON");
    let effects = &value["effects"];
    assert_eq!(effects["step"], "setup");
    assert_eq!((effects["index"].as_u64(), effects["total"].as_u64()), (Some(2), Some(12)));
    assert_eq!(
        (effects["phaseFrom"].as_str(), effects["phaseTo"].as_str()),
        (Some("Init"), Some("SetupIstioForMigrate"))
    );
    let restarts = effects["restarts"].as_array().expect("restarts");
    assert_eq!(restarts.len(), 14);
    assert_eq!(restarts.iter().filter_map(|workload| workload["replicas"].as_u64()).sum::<u64>(), 25);
    let operator = value["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|file| file["path"] == "infra/istio/operator.yaml")
        .expect("the operator");
    assert_eq!(operator["change"], "update");
    let lines: Vec<&str> =
        operator["hunks"][0]["lines"].as_array().expect("lines").iter().filter_map(Value::as_str).collect();
    assert!(lines.contains(&"+        PROXY_CONFIG_XDS_AGENT: \"true\""), "{lines:?}");
    assert!(
        lines.iter().filter(|line| line.starts_with('+') || line.starts_with('-')).count() == 1,
        "one line added, nothing else"
    );
}

/// A few hundred workloads and Istio's CRDs in the install path: the comment stays within GitHub's limit and
/// keeps its summary, saying what it left out.
#[test]
fn markdown_stays_within_a_comment_and_leads_with_the_summary() {
    let repo = Repo::fixture("shop");
    let mut resources = String::new();
    for namespace in 0..30 {
        let dir = format!("apps/fleet/team-{namespace:02}");
        let mut files = String::new();
        for index in 0..10 {
            let name = format!("service-{index:02}");
            repo.write(&format!("{dir}/{name}.yaml"), &deployment(&name));
            files.push_str(&format!("  - {name}.yaml\n"));
        }
        repo.write(&format!("{dir}/namespace.yaml"), &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-{namespace:02}\n  labels:\n    istio-injection: enabled\n"));
        repo.write(
            &format!("{dir}/kustomization.yaml"),
            &format!("namespace: team-{namespace:02}\nresources:\n  - namespace.yaml\n{files}"),
        );
        resources.push_str(&format!("  - team-{namespace:02}\n"));
    }
    repo.write("apps/fleet/kustomization.yaml", &format!("resources:\n{resources}"));
    let source = repo
        .read("clusters/hz/kustomization.yaml")
        .replace("  - ../../apps/storefront\n", "  - ../../apps/storefront\n  - ../../apps/fleet\n");
    repo.write("clusters/hz/kustomization.yaml", &source);
    let crds = std::fs::read_to_string(manifest_dir().join(crate::crd::CRDS)).expect("Istio's CRDs");
    repo.write("infra/istio/crds.yaml", &crds);
    let istio = repo.read("infra/istio/kustomization.yaml").replace("resources:\n", "resources:\n  - crds.yaml\n");
    repo.write("infra/istio/kustomization.yaml", &istio);
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-qm", "the fleet and Istio's CRDs"]);
    repo.apply_through("init");

    let setup = repo.run(&["diff", "--step", "setup", "--format", "markdown"]).success().stdout;
    assert!(setup.chars().count() <= LIMIT);
    assert!(
        setup.starts_with(
            "### asm-migrate `shop-prod`: step `setup` (2/12)\n\n**Phase:** Init → SetupIstioForMigrate\n"
        ),
        "{}",
        &setup[..300]
    );
    assert!(
        setup.contains(
            "- Restart 314 Istio-injected workload(s), 325 replica(s), to pick up PROXY_CONFIG_XDS_AGENT: hz: "
        ),
        "{}",
        &setup[..2000]
    );
    assert!(setup.contains("; and 289 more\n"), "long lists are cut in the summary");

    repo.apply_through("ingress/public");
    let finished = repo.run(&["diff", "--step", "finished", "--format", "markdown"]).success().stdout;
    assert!(finished.chars().count() <= LIMIT, "{} characters", finished.chars().count());
    assert!(finished
        .starts_with("### asm-migrate `shop-prod`: step `finished` (12/12)\n\n**Phase:** Migrating → Finished\n"));
    assert!(
        finished.contains("- Remove 9 file(s): infra/istio-eastwest/cross-network-gateway.yaml, "),
        "{}",
        &finished[..3000]
    );
    assert!(
        finished.contains("file diffs left out** to stay within a comment's 65536 characters: "),
        "the cut is said"
    );
    assert!(finished.contains("`infra/istio/crds.yaml`"), "the huge removal is the one left out");
    assert!(finished.trim_end().ends_with("Run `asm-migrate diff --step finished` to see them all."));
}

fn deployment(name: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n        - name: app\n          image: registry.example.com/{name}:1.0.0\n"
    )
}

#[test]
fn unified_diffs_are_coloured_on_a_terminal_only() {
    let repo = Repo::fixture("shop");
    let binary = env!("CARGO_BIN_EXE_asm-migrate");
    let on_terminal = |no_color: Option<&str>| -> String {
        let mut command = Command::new("script");
        command
            .args(["-qec", &format!("{binary} diff --step init"), "/dev/null"])
            .current_dir(repo.path())
            .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
            .env_remove("NO_COLOR");
        if let Some(value) = no_color {
            command.env("NO_COLOR", value);
        }
        let output = command.output().expect("script(1) runs the binary on a pseudo-terminal");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let colored = on_terminal(None);
    assert!(colored.contains("\u{1b}[32m+  desiredState: Init\u{1b}[m"), "{colored}");
    assert!(!on_terminal(Some("1")).contains('\u{1b}'), "NO_COLOR turns colour off");
    let piped = Command::new(binary)
        .args(["diff", "--step", "init"])
        .current_dir(repo.path())
        .env_remove("NO_COLOR")
        .output()
        .expect("runs");
    assert!(!String::from_utf8_lossy(&piped.stdout).contains('\u{1b}'), "no colour into a pipe");
}

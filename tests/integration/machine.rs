//! Machine output: every command's `--output json` document and its JSON errors, pinned by golden files under
//! `fixtures/golden/json/`, with commit ids and temporary paths replaced by placeholders.

use serde_json::Value;

use crate::fake::World;
use crate::gates::{observe, Via};
use crate::support::{matches_golden, Repo, Run};

/// The document on stdout: valid JSON, `schemaVersion` 1, nothing on stderr; pinned as `json/<name>.json`.
#[track_caller]
fn pinned_document(run: &Run, name: &str, repo: &Repo) -> Value {
    assert_eq!(run.stderr, "", "a JSON run writes nothing else to stderr");
    let document: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}:\n{}", run.stdout));
    assert_eq!(document["schemaVersion"], 1, "{document}");
    matches_golden(&format!("fixtures/golden/json/{name}.json"), &placeholders(&run.stdout, repo));
    document
}

/// The error document on stderr, with nothing on stdout; pinned as `json/<name>.json`.
#[track_caller]
fn pinned_error(run: &Run, name: &str, repo: &Repo) -> Value {
    assert_eq!(run.stdout, "", "a failed JSON run prints no document on stdout");
    let document: Value = serde_json::from_str(&run.stderr).unwrap_or_else(|error| panic!("{error}:\n{}", run.stderr));
    assert_eq!((&document["schemaVersion"], &document["error"]["exitCode"]), (&1.into(), &run.code.into()));
    matches_golden(&format!("fixtures/golden/json/{name}.json"), &placeholders(&run.stderr, repo));
    document
}

/// `text` with the repository's commit ids and temporary directory replaced by placeholders.
fn placeholders(text: &str, repo: &Repo) -> String {
    let mut text = text.replace(repo.path().to_str().expect("UTF-8"), "<repo>");
    for commit in repo.git(&["rev-list", "--all"]).lines() {
        text = text.replace(commit, "<commit>");
    }
    text
}

#[test]
fn validate_reports_the_plan_and_every_diagnostic_with_its_position() {
    let repo = Repo::fixture("shop")
        .edited("migration.yaml", "      weights: [1, 10, 50, 100]", "      weights: [100]")
        .committed("all at once");
    let document = pinned_document(&repo.run(&["validate", "--output", "json"]).success(), "validate", &repo);
    assert_eq!(document["plan"]["clusters"][0]["workloads"], 10);
    let warning = &document["diagnostics"][0];
    assert_eq!(warning["severity"], "warning");
    assert_eq!((warning["file"].as_str(), warning["line"].as_u64().is_some()), (Some("migration.yaml"), true));

    let broken = Repo::fixture("shop").edited("migration.yaml", "network: network-1", "network: \"Net 1\"");
    let run = broken.run(&["validate", "-o", "json"]).failure(2);
    let error = pinned_error(&run, "validate-error", &broken);
    let diagnostic = &error["error"]["diagnostics"][0];
    assert_eq!(diagnostic["severity"], "error");
    assert!(diagnostic["line"].as_u64().is_some() && diagnostic["column"].as_u64().is_some(), "{diagnostic}");
}

#[test]
fn apply_and_render_say_what_they_wrote() {
    let repo = Repo::fixture("shop");
    let run = repo.run(&["apply", "--step", "init", "--commit", "-o", "json"]).success();
    let document = pinned_document(&run, "apply", &repo);
    assert_eq!(document["commit"]["id"], repo.git(&["rev-parse", "HEAD"]).trim());
    let again = repo.run(&["apply", "--step", "init", "--commit", "-o", "json"]).success();
    let unchanged: Value = serde_json::from_str(&again.stdout).expect("JSON");
    assert_eq!((&unchanged["changed"], &unchanged["commit"]), (&false.into(), &Value::Null));

    let out = tempfile::tempdir().expect("a directory");
    let target = out.path().to_str().expect("UTF-8");
    let run = repo.run(&["render", "--step", "next", "--out", target, "-o", "json"]).success();
    let rendered: Value = serde_json::from_str(&run.stdout).expect("JSON");
    for file in rendered["files"].as_array().expect("files") {
        assert!(out.path().join(file.as_str().expect("a path")).is_file(), "{file} was written");
    }
    let shown = run.stdout.replace(target, "<out>");
    matches_golden("fixtures/golden/json/render.json", &shown);
    let refused = repo.run(&["render", "--only", "asm", "--out", "-", "-o", "json"]).failure(2);
    pinned_error(&refused, "render-stream", &repo);
}

#[test]
fn status_advance_and_retry_report_gates_and_the_step_taken() {
    let repo = Repo::fixture("shop").at("setup");
    let not_restarted = World::shop().switched("SetupIstioForMigrate");
    let (run, _) = observe(&repo, &not_restarted, Via::Snapshot, &["status", "-o", "json"]);
    let status = pinned_document(&run.failure(1), "status", &repo);
    assert_eq!(status["ready"], false);
    let (run, _) = observe(&repo, &not_restarted, Via::Snapshot, &["advance", "--commit", "-o", "json"]);
    let refused = pinned_document(&run.failure(1), "advance-unmet", &repo);
    assert_eq!((&refused["advanced"], &refused["unmet"]["gates"]), (&false.into(), &1.into()));
    let restarted = not_restarted.every_workload(|workload| workload.xds_agent = true);
    let (run, _) = observe(&repo, &restarted, Via::Snapshot, &["advance", "--commit", "-o", "json"]);
    let advanced = pinned_document(&run.success(), "advance", &repo);
    assert_eq!(advanced["applied"]["commit"]["subject"], "asm-migrate(shop-prod): migrating (3/12)");

    let mut failed = World::shop().switched("Migrating");
    failed.status_retry_counter = 0;
    failed.message = "a pod in hz is not ready";
    let (run, _) = observe(&repo, &failed, Via::Snapshot, &["retry", "--commit", "-o", "json"]);
    let retried = pinned_document(&run.success(), "retry", &repo);
    assert_eq!((&retried["retried"], &retried["retryCounter"]), (&true.into(), &1.into()));
}

#[test]
fn errors_and_notes_never_mix_text_into_json() {
    let repo = Repo::fixture("shop");
    // A lock left by a run of this host that died: taken over with a note, which goes into the document.
    let lock = repo.path().join(".git/asm-migrate.lock");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("the host name");
    let holder = |pid: &str, host: &str| {
        format!("pid: {pid}\nhost: {host}\nsince: 2026-01-01T00:00:00Z\ncommand: asm-migrate advance\n")
    };
    std::fs::write(&lock, holder("999999999", host.trim())).expect("a lock");
    let run = repo.run(&["apply", "--step", "init", "-o", "json"]).success();
    assert_eq!(run.stderr, "");
    let document: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert!(document["notes"][0].as_str().is_some_and(|note| note.contains("999999999")), "{document}");

    // A lock held by a run on another machine: an error, exit 2, as JSON on stderr.
    std::fs::write(&lock, holder("4242", "ci-runner-7")).expect("a lock");
    let held =
        repo.run_with(&["apply", "--step", "init", "-o", "json"], &[("ASM_MIGRATE_LOCK_WAIT", "0.3")]).failure(2);
    assert_eq!(held.stdout, "");
    let error: Value = serde_json::from_str(&held.stderr).expect("JSON on stderr");
    assert_eq!(error["error"]["exitCode"], 2);
    let message = error["error"]["message"].as_str().expect("a message");
    assert!(
        message.starts_with("another asm-migrate is working in this repository (pid 4242 on ci-runner-7"),
        "{message}"
    );
}

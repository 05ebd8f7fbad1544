//! Issue 10, point 2 (a no-op re-apply at most half of a real one): `apply --commit` asked again for a step that is
//! already in the repository answers from a record under `.git/`, and only when nothing the render depends on
//! changed: the tree, the plan, the request, the binary, the templates.

use crate::support::Repo;

const RECORD: &str = ".git/asm-migrate-settled";

fn reapply(repo: &Repo, step: &str, extra: &[&str]) -> crate::support::Run {
    let mut args = vec!["apply", "--step", step, "--commit"];
    args.extend_from_slice(extra);
    repo.run(&args)
}

/// A Deployment more in the payments namespace that opts out of Istio's injection, committed: setup then restarts
/// the payments Deployments by name rather than all of them by kind.
fn one_more_workload(repo: Repo) -> Repo {
    repo.write(
        "apps/payments/refunds.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: refunds\nspec:\n  selector:\n    matchLabels:\n      \
         app: refunds\n  template:\n    metadata:\n      labels:\n        app: refunds\n        \
         sidecar.istio.io/inject: \"false\"\n    spec:\n      containers:\n        - name: refunds\n          \
         image: registry.example.com/refunds:1.0\n",
    );
    repo.edited("apps/payments/kustomization.yaml", "  - ledger.yaml\n", "  - ledger.yaml\n  - refunds.yaml\n")
        .committed("payments: refunds")
}

#[test]
fn issue_10_a_re_apply_is_answered_from_the_record_and_the_same_as_a_rendered_one() {
    let repo = Repo::fixture("shop").at("setup");
    assert!(repo.exists(RECORD), "the commit of setup records it");
    let recorded = repo.read(RECORD);
    // Rendered again (no record): nothing to change, and the record it leaves is the one the commit left.
    std::fs::remove_file(repo.path().join(RECORD)).unwrap();
    let rendered = reapply(&repo, "setup", &[]).success();
    assert_eq!(repo.read(RECORD), recorded, "a commit records exactly what a render that changes nothing records");
    let answered = reapply(&repo, "setup", &[]).success();
    assert_eq!(answered.stdout, rendered.stdout);
    assert_eq!(answered.stdout, "step setup is already in the repository: nothing to change\n");
    assert_eq!(answered.stderr, rendered.stderr);
    std::fs::remove_file(repo.path().join(RECORD)).unwrap();
    let rendered_json = reapply(&repo, "setup", &["-o", "json"]).success();
    let answered_json = reapply(&repo, "setup", &["-o", "json"]).success();
    assert_eq!(answered_json.stdout, rendered_json.stdout);
    assert_eq!(repo.commit_count(), Repo::fixture("shop").commit_count() + 2, "init and setup, nothing more");
}

#[test]
fn issue_10_next_after_a_commit_is_the_step_after_it_not_the_record_of_the_one_taken() {
    let repo = Repo::fixture("shop");
    let count = repo.commit_count();
    let first = reapply(&repo, "next", &[]).success();
    assert!(first.stdout.contains("): init (1/"), "{}", first.stdout);
    let second = reapply(&repo, "next", &[]).success();
    assert!(second.stdout.contains("): setup (2/"), "`next` after init is setup: {}", second.stdout);
    assert_eq!(repo.commit_count(), count + 2);
}

#[test]
fn issue_10_a_forced_step_re_applied_changes_nothing_so_its_record_is_sound() {
    let repo = Repo::fixture("shop").at("egress/stripe/1");
    let recorded = repo.read(RECORD);
    std::fs::remove_file(repo.path().join(RECORD)).unwrap();
    let count = repo.commit_count();
    reapply(&repo, "egress/stripe/1", &["--force"]).success();
    assert_eq!(repo.commit_count(), count, "a forced step taken again makes no commit");
    assert_eq!(repo.read(RECORD), recorded);
}

#[test]
fn issue_10_anything_the_render_depends_on_renders_again() {
    let repo = Repo::fixture("shop").at("setup");
    reapply(&repo, "setup", &[]).success();
    let count = repo.commit_count();

    // The tree: a workload more is restarted by setup taken again.
    let repo = one_more_workload(repo);
    let run = reapply(&repo, "setup", &[]).success();
    assert!(run.stdout.contains("committed "), "{}", run.stdout);
    assert_eq!(repo.commit_count(), count + 2);
    assert!(repo.git(&["show", "HEAD", "--", "gitops/asm-migration/clusters"]).contains("refunds"));

    // The plan (read from the working tree, not from the commit): renamed, it is read against the state, which
    // belongs to the old name (the record would have said "nothing to change").
    let plan = repo.read("migration.yaml");
    let repo = repo.edited("migration.yaml", "name: shop-prod", "name: shop-production");
    let refused = reapply(&repo, "setup", &[]).failure(2);
    assert!(refused.stderr.contains("this state belongs to plan `shop-prod`"), "{}", refused.stderr);
    repo.write("migration.yaml", &plan);

    // Templates from a directory: never answered from the record. One that words the component's comment
    // otherwise is a change to commit.
    let templates = tempfile::tempdir().unwrap();
    let template = "cluster/kustomization.yaml.j2";
    let builtin = std::fs::read_to_string(crate::support::manifest_dir().join("templates").join(template)).unwrap();
    std::fs::create_dir_all(templates.path().join("cluster")).unwrap();
    std::fs::write(templates.path().join(template), format!("# Our platform team's words.\n{builtin}")).unwrap();
    let count = repo.commit_count();
    let run = repo.run(&["--templates", templates.path().to_str().unwrap(), "apply", "--step", "setup", "--commit"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(repo.commit_count(), count + 1, "{}", run.stdout);
}

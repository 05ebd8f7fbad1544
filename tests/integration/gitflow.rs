//! The Git side as CI pipelines use it: branches, pushes to a bare remote, races, conflicts, rejections, the
//! lock, refused paths, and writes that fail halfway.

use crate::support::{make_executable, Repo};

const BRANCH: &str = "asm-migrate/shop-prod";

fn apply_on_branch(repo: &Repo, step: &str, push: bool) -> crate::support::Run {
    let mut args = vec!["apply", "--step", step, "--commit", "--branch", BRANCH];
    if push {
        args.extend(["--push", "origin"]);
    }
    repo.run(&args)
}

fn subjects(repo: &Repo, reference: &str) -> Vec<String> {
    repo.git(&["log", "--format=%s", reference]).lines().map(str::to_owned).collect()
}

#[test]
fn a_new_branch_is_created_from_head_and_the_checkout_is_left_alone() {
    let repo = Repo::fixture("shop");
    let head = repo.git(&["rev-parse", "HEAD"]);
    let run = apply_on_branch(&repo, "init", false).success();
    assert!(run.stdout.contains(&format!("on {BRANCH}: asm-migrate(shop-prod): init (1/12)")), "{}", run.stdout);
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head, "HEAD did not move");
    assert_eq!(repo.git(&["symbolic-ref", "--short", "HEAD"]).trim(), "main");
    assert_eq!(repo.git(&["status", "--porcelain"]), "", "neither the index nor the working tree changed");
    assert!(!repo.exists("gitops"), "nothing was written to the working tree");
    assert_eq!(subjects(&repo, BRANCH), ["asm-migrate(shop-prod): init (1/12)", "initial"]);
    let files = repo.git(&["show", "--name-only", "--format=", BRANCH]);
    assert!(files.contains("gitops/asm-migration/asm/asmmigratefromistio.yaml\n"), "{files}");
    assert!(files.contains("clusters/hz/kustomization.yaml\n"));

    apply_on_branch(&repo, "setup", false).success();
    assert_eq!(
        subjects(&repo, BRANCH)[..2],
        ["asm-migrate(shop-prod): setup (2/12)", "asm-migrate(shop-prod): init (1/12)"]
    );
    let operator = repo.git(&["show", &format!("{BRANCH}:infra/istio/operator.yaml")]);
    assert!(operator.contains("PROXY_CONFIG_XDS_AGENT: \"true\""), "the next step was rendered on the branch");
    assert!(!repo.read("infra/istio/operator.yaml").contains("PROXY_CONFIG_XDS_AGENT"), "and not in the checkout");
}

#[test]
fn a_push_creates_the_remote_branch_and_a_rerun_makes_no_commit_and_no_push() {
    let (repo, origin) = Repo::with_origin("shop");
    let run = apply_on_branch(&repo, "init", true).success();
    assert!(run.stdout.contains(&format!("pushed {BRANCH} to origin")), "{}", run.stdout);
    assert_eq!(origin.subjects(BRANCH), ["asm-migrate(shop-prod): init (1/12)", "initial"]);
    let message = repo.git(&["log", "-1", "--format=%B", BRANCH]);
    assert!(message.contains("\nMigration-Render-Digest: sha256:"), "{message}");

    let again = apply_on_branch(&repo, "init", true).success();
    assert_eq!(again.stdout, format!("step init is already on {BRANCH}: nothing to change\n"));
    assert_eq!(origin.subjects(BRANCH).len(), 2);
    assert_eq!(subjects(&repo, BRANCH).len(), 2);
}

#[test]
fn a_commit_someone_pushed_to_the_branch_is_built_upon() {
    let (repo, origin) = Repo::with_origin("shop");
    apply_on_branch(&repo, "init", true).success();
    let colleague = Repo::clone_of(&origin);
    colleague.git(&["checkout", "-q", BRANCH]);
    colleague.write("README.md", "The shop's clusters, migrating to ASM.\n");
    colleague.git(&["commit", "-qam", "docs: say what this repository is"]);
    colleague.git(&["push", "-q", "origin", BRANCH]);

    apply_on_branch(&repo, "setup", true).success();
    assert_eq!(
        origin.subjects(BRANCH)[..3],
        [
            "asm-migrate(shop-prod): setup (2/12)",
            "docs: say what this repository is",
            "asm-migrate(shop-prod): init (1/12)"
        ]
    );
}

/// `pre-push` in our clone makes the colleague push first: the remote moves between our fetch and our push.
fn colleague_pushes_during_our_push(repo: &Repo, colleague: &Repo, edit: &str, file: &str) {
    let marker = repo.path().join(".git/raced");
    let script = format!(
        "#!/bin/sh\n[ -f '{marker}' ] && exit 0\ntouch '{marker}'\ncd '{}' && {edit} && git commit -qam 'colleague: {file}' && git push -q origin {BRANCH}\n",
        colleague.path().display(),
        marker = marker.display()
    );
    let hook = repo.path().join(".git/hooks/pre-push");
    std::fs::write(&hook, script).expect("the hook is written");
    make_executable(&hook);
}

#[test]
fn a_push_race_is_resolved_by_rendering_the_step_again_on_the_new_tip() {
    let (repo, origin) = Repo::with_origin("shop");
    apply_on_branch(&repo, "init", true).success();
    let colleague = Repo::clone_of(&origin);
    colleague.git(&["checkout", "-q", BRANCH]);
    colleague_pushes_during_our_push(
        &repo,
        &colleague,
        "echo 'Payments team: #payments' >> apps/payments/README.md && git add -A",
        "apps/payments/README.md",
    );

    let run = apply_on_branch(&repo, "setup", true).success();
    assert!(run.stdout.contains(&format!("origin moved {BRANCH} to ")), "{}", run.stdout);
    assert!(run.stdout.contains("rendering setup again on it"));
    assert_eq!(
        origin.subjects(BRANCH)[..3],
        [
            "asm-migrate(shop-prod): setup (2/12)",
            "colleague: apps/payments/README.md",
            "asm-migrate(shop-prod): init (1/12)"
        ],
        "both commits are on the branch"
    );
    let pushed = std::process::Command::new("git")
        .args(["rev-parse", BRANCH])
        .current_dir(origin.path())
        .output()
        .expect("git runs");
    assert_eq!(
        repo.git(&["rev-parse", BRANCH]),
        String::from_utf8_lossy(&pushed.stdout),
        "the local branch is what was pushed"
    );
}

#[test]
fn a_real_conflict_names_the_files_and_pushes_nothing() {
    let (repo, origin) = Repo::with_origin("shop");
    apply_on_branch(&repo, "init", true).success();
    let colleague = Repo::clone_of(&origin);
    colleague.git(&["checkout", "-q", BRANCH]);
    colleague_pushes_during_our_push(
        &repo,
        &colleague,
        "sed -i 's/ISTIO_META_DNS_CAPTURE/ISTIO_META_DNS_AUTO_ALLOCATE/' infra/istio/operator.yaml",
        "infra/istio/operator.yaml",
    );
    let failed = apply_on_branch(&repo, "setup", true).failure(2);
    assert!(
        failed.stderr.starts_with(&format!(
            "error: conflict: origin's {BRANCH} changed files this step writes: infra/istio/operator.yaml\n"
        )),
        "{}",
        failed.stderr
    );
    assert_eq!(origin.subjects(BRANCH)[0], "colleague: infra/istio/operator.yaml", "our commit was not pushed");
    assert_eq!(
        subjects(&repo, BRANCH)[0],
        "asm-migrate(shop-prod): setup (2/12)",
        "and it is kept on the local branch"
    );
}

#[test]
fn a_branch_name_git_refuses_is_named_before_anything_is_written() {
    let repo = Repo::fixture("shop");
    let failed = repo.run(&["apply", "--step", "init", "--commit", "--branch", "a..b"]).failure(2);
    assert_eq!(failed.stderr, "error: `a..b` is not a valid branch name\n");
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    assert_eq!(repo.git(&["branch", "--list"]), "* main\n");
}

#[test]
fn a_push_the_remote_rejects_is_an_error() {
    let (repo, origin) = Repo::with_origin("shop");
    origin.hook("pre-receive", "#!/bin/sh\necho 'branch protection: open a pull request' >&2\nexit 1\n");
    let failed = apply_on_branch(&repo, "init", true).failure(2);
    assert_eq!(
        failed.stderr,
        format!("error: the remote origin rejected {BRANCH}: [remote rejected] (pre-receive hook declined)\n")
    );
    assert!(origin.subjects(BRANCH).is_empty());
}

#[test]
fn a_second_asm_migrate_waits_then_says_who_holds_the_lock() {
    let repo = Repo::fixture("shop");
    let lock = repo.path().join(".git/asm-migrate.lock");
    std::fs::write(&lock, "pid: 4242\nhost: ci-runner-7\nsince: 2026-01-01T00:00:00Z\ncommand: asm-migrate apply\n")
        .expect("the lock is written");
    let failed =
        repo.run_with(&["apply", "--step", "init", "--commit"], &[("ASM_MIGRATE_LOCK_WAIT", "0.3")]).failure(2);
    let said = "error: another asm-migrate is working in this repository (pid 4242 on ci-runner-7 since \
                2026-01-01T00:00:00Z: asm-migrate apply); waited 0.";
    assert!(failed.stderr.starts_with(said), "{}", failed.stderr);
    assert!(
        failed.stderr.ends_with(&format!(
            " s: let it finish, or if that process is gone, remove its lock: rm {}\n",
            lock.display()
        )),
        "{}",
        failed.stderr
    );
    assert!(lock.exists(), "someone else's lock is left alone");
    assert_eq!(repo.commit_count(), 1);
    std::fs::remove_file(&lock).expect("the lock is removed");
    repo.run(&["apply", "--step", "init", "--commit"]).success();
    assert!(!lock.exists(), "our own lock is gone when we are done");
}

#[test]
fn a_lock_left_by_a_process_that_is_gone_is_taken_over() {
    let repo = Repo::fixture("shop");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("a hostname").trim().to_owned();
    let lock = repo.path().join(".git/asm-migrate.lock");
    std::fs::write(&lock, format!("pid 4194303 on {host}, asm-migrate apply\n")).expect("the lock is written");
    let run = repo.run_with(&["apply", "--step", "init", "--commit"], &[("ASM_MIGRATE_LOCK_WAIT", "0.3")]).success();
    assert!(
        run.stderr.starts_with(&format!(
            "note: took over the lock of pid 4194303 on {host}: asm-migrate apply, which no longer runs\n"
        )),
        "{}",
        run.stderr
    );
    assert!(!lock.exists());
}

#[test]
fn an_output_directory_reached_through_a_symbolic_link_out_of_the_repository_is_refused() {
    let repo = Repo::fixture("shop");
    let elsewhere = tempfile::tempdir().expect("a temporary directory");
    std::os::unix::fs::symlink(elsewhere.path(), repo.path().join("gitops")).expect("the link is made");
    repo.git(&["add", "gitops"]);
    repo.git(&["commit", "-qm", "gitops lives elsewhere"]);
    let failed = repo.run(&["apply", "--step", "init", "--commit"]).failure(2);
    assert_eq!(
        failed.stderr,
        concat!(
            "error: output `gitops/asm-migration` leaves the repository through the symbolic link gitops\n",
            "  --> migration.yaml:10:11\n",
            "   |\n",
            "10 |   output: gitops/asm-migration\n",
            "   |           ^\n",
        )
    );
    assert_eq!(std::fs::read_dir(elsewhere.path()).expect("a directory").count(), 0, "nothing was written there");
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

#[test]
fn a_failure_while_writing_leaves_the_repository_as_it_was() {
    let repo = Repo::fixture("shop");
    // A file where the step needs a directory: staging the cluster components fails after others were staged.
    repo.write("gitops/asm-migration/clusters", "not a directory\n");
    repo.write(
        "gitops/asm-migration/state.yaml",
        "apiVersion: asm-migrate/v1alpha1\nkind: MigrationState\nplan: shop-prod\n",
    );
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-qm", "a file in the way"]);
    let failed = repo.run(&["apply", "--step", "init", "--commit"]).failure(2);
    assert!(
        failed.stderr.starts_with("error: cannot write the step into the repository (it is as it was): "),
        "{}",
        failed.stderr
    );
    assert_eq!(
        repo.git(&["status", "--porcelain", "--ignored", "--untracked-files=all"]),
        "",
        "no file changed, none left behind"
    );
    assert_eq!(repo.commit_count(), 2);
    assert!(!repo.read("clusters/hz/kustomization.yaml").contains("components:"), "the source was not edited");
}

//! Issue 13, "nothing lost, nothing injected": the write path under hostile plans and repositories. Each test
//! reproduces a defect the campaign found, on the shop fixture's layout.

use crate::support::Repo;

/// The repository's state, to check that a refused command left it exactly as it was.
fn snapshot(repo: &Repo) -> (String, String, String) {
    (
        repo.git(&["rev-parse", "HEAD"]),
        repo.git(&["status", "--porcelain", "--ignored", "--untracked-files=all"]),
        repo.git(&["for-each-ref"]),
    )
}

#[track_caller]
fn refused(plan_edit: (&str, &str), args: &[&str]) -> String {
    let repo = Repo::fixture("shop").edited("migration.yaml", plan_edit.0, plan_edit.1).committed("hostile plan");
    let before = snapshot(&repo);
    let run = repo.run(args).failure(2);
    assert_eq!(snapshot(&repo), before, "the repository is exactly as it was");
    run.stderr
}

/// `output: .git/refs` passed validate, and the next step removed .git/refs/heads/main and committed.
#[test]
fn issue_13_the_output_is_never_inside_git() {
    let stderr =
        refused(("output: gitops/asm-migration", "output: .git/refs"), &["apply", "--step", "init", "--commit"]);
    assert!(
        stderr
            .starts_with("error: output `.git/refs` is inside .git, which is git's own\n  --> migration.yaml:10:11\n"),
        "{stderr}"
    );
    let stderr =
        refused(("installPaths: [infra/istio, infra/istio-eastwest]", "installPaths: [.git/refs]"), &["validate"]);
    assert!(
        stderr.starts_with("error: installPaths entry `.git/refs` is inside .git, which is git's own\n"),
        "{stderr}"
    );
}

/// `output: argocd` deleted the Argo CD Applications there; `output: infra/istio` deleted operator.yaml.
#[test]
fn issue_13_the_output_is_a_directory_of_the_tools_own() {
    let stderr = refused(("output: gitops/asm-migration", "output: argocd"), &["apply", "--step", "init", "--commit"]);
    assert!(
        stderr.starts_with(
            "error: output `argocd` holds files asm-migrate did not write (argocd/asm-control-plane.yaml, \
             argocd/project.yaml, argocd/shop-hz.yaml, argocd/shop-sh.yaml): give the tool a directory of its own\n"
        ),
        "{stderr}"
    );
    let stderr = refused(("output: gitops/asm-migration", "output: infra/istio"), &["validate"]);
    assert!(
        stderr.contains("error: output `infra/istio` overlaps meshConfig.path `infra/istio/operator.yaml`"),
        "{stderr}"
    );
    assert!(stderr.contains("error: output `infra/istio` overlaps installPaths entry `infra/istio`"), "{stderr}");
    let stderr = refused(("output: gitops/asm-migration", "output: clusters"), &["validate"]);
    assert!(stderr.contains("error: output `clusters` overlaps the source `clusters/hz` of cluster `hz`"), "{stderr}");
}

/// `gitops/asm-migration -> ../infra/istio` was followed: Istio's files were deleted in the work tree.
#[test]
fn issue_13_a_symbolic_link_on_the_output_path_is_refused() {
    let repo = Repo::fixture("shop");
    std::fs::create_dir_all(repo.path().join("gitops")).expect("a directory");
    std::os::unix::fs::symlink("../infra/istio", repo.path().join("gitops/asm-migration")).expect("the link");
    let repo = repo.committed("the output is Istio's directory, by a link");
    let before = snapshot(&repo);
    let run = repo.run(&["apply", "--step", "init", "--commit"]).failure(2);
    assert!(
        run.stderr.starts_with(
            "error: output `gitops/asm-migration` is a symbolic link (to ../infra/istio): asm-migrate writes only into a \
             directory of its own\n"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(&repo), before);
    assert!(repo.exists("infra/istio/operator.yaml"));
    let diff = repo.run(&["diff", "--step", "init"]).failure(2);
    assert!(diff.stderr.starts_with("error: output `gitops/asm-migration` is a symbolic link"), "{}", diff.stderr);
}

//! Golden diffs: what every step of each fixture changes in the repository, as a reviewer sees it.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test --test integration golden` and review the change.

use std::path::PathBuf;

use crate::support::{manifest_dir, Repo};

fn golden_path(case: &str, index: usize, step: &str) -> PathBuf {
    manifest_dir().join("fixtures/golden").join(case).join(format!("{:02}-{}.diff", index + 1, step.replace('/', "-")))
}

fn check_golden(case: &str) {
    check_golden_of(case, Repo::fixture(case));
}

fn check_golden_of(case: &str, repo: Repo) {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatches = Vec::new();
    for (index, step) in repo.step_ids().iter().enumerate() {
        let diff = repo.run(&["diff", "--step", step]).success().stdout;
        let path = golden_path(case, index, step);
        if update {
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("a directory");
            std::fs::write(&path, &diff).expect("the golden file is written");
        } else {
            let expected = std::fs::read_to_string(&path)
                .unwrap_or_else(|_| panic!("missing {}: run with UPDATE_GOLDEN=1", path.display()));
            if expected != diff {
                mismatches.push(format!(
                    "{}:\n{}",
                    path.display(),
                    similar::TextDiff::from_lines(&expected, &diff).unified_diff()
                ));
            }
        }
        repo.apply(step);
    }
    assert!(mismatches.is_empty(), "rendered diffs differ from the golden files:\n{}", mismatches.join("\n"));
}

#[test]
fn shop_argocd_two_clusters() {
    check_golden("shop");
}

#[test]
fn bookinfo_flux() {
    check_golden("bookinfo-flux");
}

#[test]
fn podinfo_flux() {
    check_golden("podinfo-flux");
}

/// The shop with cluster hz's part included as transformers (issue 10): what the source lists, and the PatchTransformer,
/// ReplacementTransformer and builtin transformer configurations in place of the Component.
#[test]
fn shop_with_hz_as_transformers() {
    check_golden_of("shop-transformers", crate::transformers::shop_with_hz_as_transformers());
}

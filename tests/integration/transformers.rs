//! Issue 10: `includeAs: transformers` gives kustomize asm-migrate's part of a cluster's build without a Component
//! (whose inclusion makes kustomize copy every object of the build once more), and builds exactly what the
//! Component builds, at every step.

use crate::support::Repo;

/// `repo` with `includeAs: transformers` written under the `source:` of `cluster` in its plan (not committed).
pub fn include_as_transformers(repo: Repo, cluster: &str) -> Repo {
    let plan = repo.read("migration.yaml");
    let entry = plan.find(&format!("- name: {cluster}\n")).expect("the cluster is in the plan");
    let source = entry + plan[entry..].find("source: ").expect("the cluster has a source");
    let line_start = plan[..source].rfind('\n').map_or(0, |newline| newline + 1);
    let line_end = source + plan[source..].find('\n').expect("a line");
    let indent = &plan[line_start..source];
    let edited = format!("{}\n{indent}includeAs: transformers{}", &plan[..line_end], &plan[line_end..]);
    repo.write("migration.yaml", &edited);
    repo
}

/// The shop with cluster hz's part included as transformers, sh's as a Component.
pub fn shop_with_hz_as_transformers() -> Repo {
    include_as_transformers(Repo::fixture("shop"), "hz").committed("hz takes asm-migrate's part as transformers")
}

/// The entries of a kustomization's list `field`.
fn listed(repo: &Repo, file: &str, field: &str) -> Vec<String> {
    let document: serde_json::Value = serde_saphyr::from_str(&repo.read(file)).expect("the kustomization parses");
    let entries = document[field].as_array().cloned().unwrap_or_default();
    entries.iter().filter_map(|entry| entry.as_str().map(str::to_owned)).collect()
}

/// The fixture (with `source_tail` appended to the cluster's source kustomization) in both ways, every step of its
/// plan applied in turn to each: the source builds byte for byte the same, and lists what its way needs.
#[track_caller]
fn builds_the_same(fixture: &str, cluster: &str, source: &str, source_tail: &str, last: Option<&str>) -> usize {
    let mut component = Repo::fixture(fixture);
    if !source_tail.is_empty() {
        let file = format!("{source}/kustomization.yaml");
        component.write(&file, &(component.read(&file) + source_tail));
        component = component.committed("the source as the case has it");
    }
    let transformers = include_as_transformers(component.copied(), cluster).committed("includeAs: transformers");
    let mut compared = 0;
    for step in component.step_ids() {
        component.apply(&step);
        transformers.apply(&step);
        let (expected, built) = (component.kustomize(source), transformers.kustomize(source));
        assert!(
            expected.text == built.text,
            "{fixture} at {step}: {source} builds differently with includeAs: transformers:\n{}",
            similar::TextDiff::from_lines(&expected.text, &built.text).unified_diff()
        );
        let file = format!("{source}/kustomization.yaml");
        let output = format!("gitops/asm-migration/clusters/{cluster}");
        assert!(listed(&transformers, &file, "resources").iter().any(|entry| entry.ends_with(&output)));
        let transformers_dir = format!("{output}/transformers");
        assert!(listed(&transformers, &file, "transformers").iter().any(|entry| entry.ends_with(&transformers_dir)));
        assert!(!listed(&transformers, &file, "components").iter().any(|entry| entry.ends_with(&output)));
        compared += 1;
        if Some(step.as_str()) == last {
            break;
        }
    }
    compared
}

#[test]
fn issue_10_transformers_build_what_the_component_builds_on_argo_cd() {
    assert_eq!(builds_the_same("shop", "hz", "clusters/hz", "", None), 12);
    // A source that renames what it includes: the patches' targets follow its prefix and suffix.
    assert_eq!(builds_the_same("shop", "sh", "clusters/sh", "namePrefix: sh-\nnameSuffix: -v2\n", None), 12);
}

#[test]
fn issue_10_transformers_build_what_the_component_builds_on_flux() {
    assert_eq!(builds_the_same("bookinfo-flux", "production", "apps/production", "", None), 9);
    assert_eq!(builds_the_same("podinfo-flux", "production", "apps/production", "", None), 5);
    // A source that puts everything into a namespace of its own, which kustomize gives before the source's
    // transformers run: the targets follow it. (At `finished` kustomize's namespace transformer would rename the
    // istio-system Namespace asm-migrate declares, with the Component as with transformers.)
    let renaming = "namespace: prod-bookinfo\nnamePrefix: prod-\n";
    assert_eq!(builds_the_same("bookinfo-flux", "production", "apps/production", renaming, Some("egress/cnn/100")), 8);
}

#[test]
fn issue_10_include_as_can_change_between_steps() {
    let component = Repo::fixture("shop");
    let switching = component.copied();
    let source = "clusters/hz/kustomization.yaml";
    for step in ["init", "setup", "migrating", "wave/canary"] {
        component.apply(step);
        switching.apply(step);
    }
    // To transformers: the component's entry goes, the two directories are listed, the build is the same.
    let switching = include_as_transformers(switching, "hz").committed("hz takes transformers from now on");
    component.apply("wave/payments");
    switching.apply("wave/payments");
    assert_eq!(component.kustomize("clusters/hz").text, switching.kustomize("clusters/hz").text);
    let (hz, hz_transformers) =
        ("../../gitops/asm-migration/clusters/hz", "../../gitops/asm-migration/clusters/hz/transformers");
    assert_eq!(listed(&switching, source, "components"), Vec::<String>::new());
    assert_eq!(listed(&switching, source, "resources").last().map(String::as_str), Some(hz));
    assert_eq!(listed(&switching, source, "transformers"), [hz_transformers]);
    // And back: the source lists the Component again, and nothing of the transformers' way.
    let plan = switching.read("migration.yaml").replacen("      includeAs: transformers\n", "", 1);
    switching.write("migration.yaml", &plan);
    let switching = switching.committed("hz takes the component again");
    component.apply("wave/rest");
    switching.apply("wave/rest");
    assert_eq!(component.kustomize("clusters/hz").text, switching.kustomize("clusters/hz").text);
    assert_eq!(listed(&switching, source, "components"), [hz]);
    assert!(!listed(&switching, source, "resources").iter().any(|entry| entry == hz));
    assert_eq!(listed(&switching, source, "transformers"), Vec::<String>::new());
    assert!(!switching.exists("gitops/asm-migration/clusters/hz/transformers/kustomization.yaml"));
}

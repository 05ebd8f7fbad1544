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
    // A source that renames what it includes: the patches' targets follow its prefix and suffix, and the
    // replacements' rejects (tools/batch is not injected) still name the workload.
    assert_eq!(builds_the_same("shop", "hz", "clusters/hz", "namePrefix: hz-\nnameSuffix: -v2\n", None), 12);
}

#[test]
fn issue_10_transformers_build_what_the_component_builds_on_flux() {
    assert_eq!(builds_the_same("bookinfo-flux", "production", "apps/production", "", None), 9);
    assert_eq!(builds_the_same("podinfo-flux", "production", "apps/production", "", None), 5);
    // A source that puts everything into a namespace of its own, which kustomize gives before the source's
    // transformers run: the targets follow it.
    let renaming = "namespace: prod-bookinfo\nnamePrefix: prod-\n";
    assert_eq!(builds_the_same("bookinfo-flux", "production", "apps/production", renaming, None), 9);
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

/// Istio's Bookinfo in an Argo CD repository, with `workloads` more Istio-injected Deployments in a namespace of
/// their own: a large source.
pub fn large_bookinfo(workloads: usize) -> Repo {
    let repo = Repo::fixture("bookinfo-argocd");
    let deployments: Vec<String> = (0..workloads)
        .map(|index| {
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: w-{index:04}\nspec:\n  selector:\n    \
                 matchLabels:\n      app: w-{index:04}\n  template:\n    metadata:\n      labels:\n        app: \
                 w-{index:04}\n    spec:\n      containers:\n        - name: app\n          image: \
                 registry.example.com/fleet/app:1.0\n"
            )
        })
        .collect();
    repo.write("apps/fleet/deployments.yaml", &deployments.join("---\n"));
    repo.write(
        "apps/fleet/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: fleet\n  labels:\n    istio-injection: enabled\n",
    );
    repo.write(
        "apps/fleet/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: fleet\nresources:\n  - \
         namespace.yaml\n  - deployments.yaml\n",
    );
    repo.edited(
        "clusters/prod/kustomization.yaml",
        "  - ../../apps/bookinfo\n",
        "  - ../../apps/bookinfo\n  - ../../apps/fleet\n",
    )
    .edited(
        "istio/namespace.yaml",
        "  name: istio-system\n",
        "  name: istio-system\n  labels:\n    topology.istio.io/network: network-1\n",
    )
    .committed("a thousand workloads more")
}

#[test]
fn issue_10_init_takes_a_large_source_as_transformers_and_validate_suggests_them() {
    let repo = large_bookinfo(1_000);
    repo.run(&["init", "--asm-context", "asm-prod"]).success();
    let plan = repo.read("migration.yaml");
    let chosen = "      source: clusters/prod  # Application argocd/bookinfo (argocd/bookinfo.yaml)\n      includeAs: \
                  transformers  # 1022 objects: kustomize builds them without the copy a Component costs (README, \"A \
                  large source\")\n";
    assert!(plan.contains(chosen), "{plan}");
    let decided =
        crate::init::decide(&repo, &[("network", "network-1"), ("clusterId", "ca82a4dac39a740d62d77081e3a1c040d")]);
    assert_eq!(decided, ["network", "clusterId"]);
    let validated = repo.run(&["validate"]).success();
    assert!(!validated.stdout.contains("once more for a Component"), "{}", validated.stdout);
    let repo = repo.committed("the plan init wrote, decided");
    repo.apply("init");
    assert_eq!(
        listed(&repo, "clusters/prod/kustomization.yaml", "transformers"),
        ["../../gitops/asm-migration/clusters/prod/transformers"]
    );
    repo.kustomize("clusters/prod");

    // With the Component, validate says what it costs and how to spare it.
    let plan = repo.read("migration.yaml").replace("includeAs: transformers", "includeAs: component");
    repo.write("migration.yaml", &plan);
    let noted = repo.run(&["validate"]).success();
    assert!(
        noted.stdout.contains(
            "note: cluster `prod`: its source builds 1022 objects, and kustomize copies every one of them once more for \
             a Component"
        ),
        "{}",
        noted.stdout
    );
    let help = "help: `includeAs: transformers` on the cluster gives kustomize the same changes without a Component \
                (README, \"A large source\")";
    assert!(noted.stdout.contains(help), "{}", noted.stdout);
}

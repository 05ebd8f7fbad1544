//! Issue 9: `init` on repositories shaped like real ones writes a plan that names where each choice came from and
//! what it could not decide; once decided, the plan validates and every step applies and builds.

use std::os::unix::fs::PermissionsExt;

use crate::crd::IstioSchemas;
use crate::support::Repo;

/// The fixture without its plan, committed: a repository asm-migrate has never seen.
fn unseen_repository(fixture: &str) -> Repo {
    let repo = Repo::fixture(fixture);
    if repo.exists("migration.yaml") {
        std::fs::remove_file(repo.path().join("migration.yaml")).expect("the plan is removed");
        return repo.committed("no plan yet");
    }
    repo
}

/// Each `# decide:` line of the plan replaced by the commented line under it, its value taken from `values` by its
/// key when given there (a key given twice is used in turn); returns the keys decided, in order.
#[track_caller]
pub fn decide(repo: &Repo, values: &[(&str, &str)]) -> Vec<String> {
    let plan = repo.read("migration.yaml");
    let mut lines: Vec<String> = Vec::new();
    let mut decided = Vec::new();
    let mut used = vec![false; values.len()];
    let mut pending = plan.lines();
    while let Some(line) = pending.next() {
        if !line.trim_start().starts_with("# decide:") {
            lines.push(line.to_owned());
            continue;
        }
        let placeholder = pending.next().expect("a commented line under `# decide:`");
        let indent = &placeholder[..placeholder.len() - placeholder.trim_start().len()];
        let field = placeholder.trim_start().strip_prefix("# ").expect("a commented field");
        let key = field.trim_start_matches("- ").split(':').next().expect("a key").trim().to_owned();
        let given = values.iter().enumerate().find(|(index, (name, _))| *name == key && !used[*index]);
        let written = match given {
            Some((index, (_, value))) => {
                used[index] = true;
                format!("{indent}{key}: {value}")
            }
            None => format!("{indent}{field}"),
        };
        lines.push(written);
        decided.push(key);
    }
    repo.write("migration.yaml", &(lines.join("\n") + "\n"));
    decided
}

/// `init` writes an ordinary file; `validate` refuses the plan while `# decide:` lines remain, naming each one.
#[track_caller]
fn init_and_check_what_is_left(repo: &Repo, args: &[&str]) -> String {
    let mut command = vec!["init"];
    command.extend_from_slice(args);
    let run = repo.run(&command).success();
    let mode = std::fs::metadata(repo.path().join("migration.yaml")).expect("a plan").permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "the plan is an ordinary checked-out file");
    let plan = repo.read("migration.yaml");
    assert!(plan.starts_with("# yaml-language-server: $schema=./migration.schema.json\n"), "{plan}");
    assert_eq!(repo.read("migration.schema.json"), repo.run(&["schema"]).success().stdout);
    let undecided: Vec<usize> = plan
        .lines()
        .enumerate()
        .filter(|(_, line)| line.trim_start().starts_with("# decide:"))
        .map(|(index, _)| index + 1)
        .collect();
    if !undecided.is_empty() {
        let refused = repo.run(&["validate"]).failure(2);
        for line in &undecided {
            assert!(refused.stderr.contains(&format!("migration.yaml:{line}:")), "line {line}: {}", refused.stderr);
        }
        assert_eq!(refused.stderr.matches("could not decide").count(), undecided.len(), "{}", refused.stderr);
        assert!(run.stdout.contains(&format!("to decide ({})", undecided.len())), "{}", run.stdout);
    }
    plan
}

/// Every step of the plan applied in order, one commit each: every source and the ASM control plane's directory
/// build with kustomize, and every Istio object validates against Istio's CRDs.
#[track_caller]
fn every_step_applies_and_builds(repo: &Repo, sources: &[&str]) -> usize {
    let schemas = IstioSchemas::load();
    let steps = repo.step_ids();
    for step in &steps {
        let before = repo.commit_count();
        let run = repo.run(&["apply", "--step", step, "--commit", "--force"]).success();
        assert_eq!(repo.commit_count(), before + 1, "step {step}: {}", run.stdout);
        for dir in sources.iter().copied().chain(["gitops/asm-migration/asm"]) {
            let built = repo.kustomize(dir);
            if let Err(errors) = schemas.validate_stream(&built.text) {
                panic!("step {step}, {dir}: Istio objects do not validate:\n{}", errors.join("\n"));
            }
        }
    }
    steps.len()
}

#[test]
fn issue_9_init_on_an_argo_cd_monorepo_with_an_east_west_gateway_and_an_egress_route() {
    let repo = unseen_repository("shop");
    let plan = init_and_check_what_is_left(&repo, &[]);
    crate::support::matches_golden("fixtures/golden/init/shop.migration.yaml", &plan);
    // What the shop's own hand-written plan says, found in the repository, each with where it came from.
    for expected in [
        "engine: argocd  # Application argocd/shop-hz (argocd/shop-hz.yaml)",
        "output: gitops/asm-migration  # the directory asm-migrate owns and rewrites; its asm/ is what Application \
         argocd/shop-asm-control-plane (argocd/asm-control-plane.yaml) applies",
        "context: asm-prod  # Application argocd/shop-asm-control-plane (argocd/asm-control-plane.yaml)",
        "version: \"1.22.3\"  # IstioOperator control-plane (infra/istio/operator.yaml)",
        "path: infra/istio/operator.yaml",
        "- infra/istio  # IstioOperator control-plane (infra/istio/operator.yaml)",
        "- infra/istio-eastwest  # Deployment istio-eastwestgateway (infra/istio-eastwest/deployment.yaml)",
        "- name: hz  # 10 workload(s), 8 Istio-injected",
        "network: network-1  # a patch in clusters/hz/kustomization.yaml",
        "eastWestGateway: true  # Deployment/istio-system/istio-eastwestgateway in the cluster's build",
        "network: network-2  # a patch in clusters/sh/kustomization.yaml",
        "virtualService: payments/stripe-through-egress-gateway",
        "weights: [1, 10, 50, 100]",
        "ports: [{name: http, port: 80, targetPort: 80}]",
    ] {
        assert!(plan.contains(expected), "the plan lacks `{expected}`:\n{plan}");
    }
    assert_eq!(plan.matches("eastWestGateway: true").count(), 1, "only hz runs the east-west gateway");
    let decided = decide(
        &repo,
        &[("clusterId", "c5a6509b77b9a987ab78ea504689414e4"), ("clusterId", "c89c4ec9f6b3f1086b158d8ef03dfe815")],
    );
    assert_eq!(decided, ["clusterId", "clusterId"], "only the ACK cluster IDs are not in the repository");
    repo.run(&["validate"]).success();
    let repo = repo.committed("the plan init wrote, decided");
    let steps = every_step_applies_and_builds(&repo, &["clusters/hz", "clusters/sh"]);
    assert_eq!(steps, 15, "init, setup, migrating, 6 waves, 4 egress weights, ingress, finished");
}

#[test]
fn issue_9_init_on_bookinfo_in_an_argo_cd_repository_and_wire() {
    let repo = unseen_repository("bookinfo-argocd");
    let plan = init_and_check_what_is_left(&repo, &["--wire", "--asm-context", "asm-prod"]);
    crate::support::matches_golden("fixtures/golden/init/bookinfo-argocd.migration.yaml", &plan);
    for expected in [
        "version: \"1.22.3\"  # IstioOperator control-plane (istio/operator.yaml)",
        "- istio  # IstioOperator control-plane (istio/operator.yaml)",
        "source: clusters/prod  # Application argocd/bookinfo (argocd/bookinfo.yaml)",
        "context: ack-prod",
        "syncedBy: {namespace: argocd, name: bookinfo}",
        "workloads: [bookinfo/details-v1]",
        "namespaces: [bookinfo]",
        "all: true",
        "context: asm-prod  # --asm-context",
        "syncedBy: {namespace: argocd, name: bookinfo-gitops-asm-control-plane}",
    ] {
        assert!(plan.contains(expected), "the plan lacks `{expected}`:\n{plan}");
    }
    // --wire: the Application for the ASM control plane, beside the team's, from the same repository.
    let wired = repo.read("argocd/bookinfo-gitops-asm-control-plane.yaml");
    let application: serde_json::Value = serde_saphyr::from_str(&wired).expect("the Application parses");
    assert_eq!(application["spec"]["source"]["repoURL"], "https://github.com/example/bookinfo-gitops.git");
    assert_eq!(application["spec"]["source"]["path"], "gitops/asm-migration/asm");
    assert_eq!(application["spec"]["destination"]["name"], "asm-prod");
    assert_eq!(application["spec"]["syncPolicy"]["automated"]["prune"], false);
    let decided = decide(&repo, &[("network", "network-1"), ("clusterId", "ca82a4dac39a740d62d77081e3a1c040d")]);
    assert_eq!(decided, ["network", "clusterId"]);
    repo.run(&["validate"]).success();
    let repo = repo.committed("the plan init wrote, decided");
    assert_eq!(
        every_step_applies_and_builds(&repo, &["clusters/prod"]),
        8,
        "init, setup, migrating, 3 waves, ingress, finished"
    );
    assert!(!repo.exists("istio/operator.yaml"), "finished removes Istio's install path");
}

#[test]
fn issue_9_init_on_flux_s_reference_repository_with_helm_releases() {
    // Flux's reference repository with Istio added as a team would (fixtures/repos/podinfo-flux/NOTICE).
    let repo = unseen_repository("podinfo-flux");
    let plan = init_and_check_what_is_left(&repo, &[]);
    for expected in [
        "engine: flux  # Flux Kustomization flux-system/apps (clusters/production/apps.yaml)",
        "version: \"1.22.3\"  # HelmRelease istiod of the istiod chart (infrastructure/controllers/istio/istio.yaml)",
        "kind: HelmValues",
        "path: infrastructure/controllers/istio/istio.yaml",
        "release: istiod",
        "- infrastructure/controllers/istio  # HelmRelease istiod",
        "- name: production  # 0 workload(s), 0 Istio-injected, and 1 Helm release(s)",
        "source: apps/production  # Flux Kustomization flux-system/apps (clusters/production/apps.yaml)",
        "- name: staging",
        "source: apps/staging  # Flux Kustomization flux-system/apps (clusters/staging/apps.yaml)",
        "syncedBy: {namespace: flux-system, name: apps}",
        "workloads: [HelmRelease/podinfo/podinfo]",
    ] {
        assert!(plan.contains(expected), "the plan lacks `{expected}`:\n{plan}");
    }
    assert!(!plan.contains("source: infrastructure"), "Flux's infrastructure is not a cluster source:\n{plan}");
    assert!(!plan.lines().any(|line| line.trim_start().starts_with("# decide:")), "nothing to decide:\n{plan}");
    repo.run(&["validate"]).success();
    let repo = repo.committed("the plan init wrote");
    every_step_applies_and_builds(&repo, &["apps/production", "apps/staging"]);
    // podinfo's release is restarted and moved through its post renderers.
    let release = repo.kustomize("apps/production").get("HelmRelease", Some("podinfo"), "podinfo").clone();
    let renderers = release["spec"]["postRenderers"].to_string();
    assert!(renderers.contains("sidecar.asm.aliyun.com/inject") && renderers.contains("restartedAt"), "{renderers}");
    assert!(!repo.exists("infrastructure/controllers/istio/istio.yaml"), "finished removes Istio's HelmReleases");
}

#[test]
fn issue_9_init_on_a_flux_repository_with_an_egress_route() {
    let repo = unseen_repository("bookinfo-flux");
    let plan = init_and_check_what_is_left(&repo, &[]);
    for expected in [
        "engine: flux",
        "virtualService: bookinfo/direct-cnn-through-egress-gateway",
        "path: infrastructure/controllers/istio/istiod-values.yaml",
        "network: network-1",
    ] {
        assert!(plan.contains(expected), "the plan lacks `{expected}`:\n{plan}");
    }
    decide(&repo, &[("clusterId", "ca82a4dac39a740d62d77081e3a1c040d")]);
    repo.run(&["validate"]).success();
    let repo = repo.committed("the plan init wrote, decided");
    every_step_applies_and_builds(&repo, &["apps/production"]);
}

#[test]
fn issue_9_init_never_writes_over_a_plan_unless_forced() {
    let repo = Repo::fixture("shop");
    let before = repo.read("migration.yaml");
    let refused = repo.run(&["init"]).failure(2);
    assert!(refused.stderr.contains("a plan is here already"), "{}", refused.stderr);
    assert_eq!(repo.read("migration.yaml"), before);
    assert_eq!(repo.git(&["status", "--porcelain"]), "", "nothing written");
    std::fs::set_permissions(repo.path().join("migration.yaml"), std::fs::Permissions::from_mode(0o640)).unwrap();
    repo.run(&["init", "--force"]).success();
    assert_ne!(repo.read("migration.yaml"), before);
    let mode = std::fs::metadata(repo.path().join("migration.yaml")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "a plan written over keeps its mode");
}

#[test]
fn issue_9_init_is_deterministic_and_reports_as_json() {
    let repo = unseen_repository("shop");
    repo.run(&["init"]).success();
    let first = repo.read("migration.yaml");
    let json = repo.run(&["init", "--force", "-o", "json"]).success();
    assert_eq!(repo.read("migration.yaml"), first, "the same repository gives the same plan");
    let document: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(document["schemaVersion"], 1);
    assert_eq!(document["plan"], "migration.yaml");
    assert_eq!(document["clusters"].as_array().map(Vec::len), Some(2));
    assert_eq!(document["undecided"].as_array().map(Vec::len), Some(2), "{document}");
}

#[test]
fn two_applications_of_one_directory_are_two_clusters_each_including_its_own_component() {
    // A disaster-recovery cluster deploys what prod deploys, from the same directory: as an ApplicationSet of one
    // path over two clusters would.
    let repo = unseen_repository("bookinfo-argocd");
    let application = repo.read("argocd/bookinfo.yaml");
    let dr = application.replace("name: bookinfo\n", "name: bookinfo-dr\n").replace("name: ack-prod", "name: ack-dr");
    repo.write("argocd/bookinfo-dr.yaml", &dr);
    let repo = repo.committed("a disaster-recovery cluster");
    let plan = init_and_check_what_is_left(&repo, &["--asm-context", "asm-prod"]);
    for expected in [
        "    - name: ack-dr  # 6 workload(s), 6 Istio-injected\n      source: clusters/prod  # Application \
         argocd/bookinfo-dr (argocd/bookinfo-dr.yaml)\n      includeComponent: false  # clusters/prod is the source \
         of cluster(s) ack-prod too",
        "    - name: ack-prod  # 6 workload(s), 6 Istio-injected\n      source: clusters/prod  # Application \
         argocd/bookinfo (argocd/bookinfo.yaml)\n      includeComponent: false  # clusters/prod is the source of \
         cluster(s) ack-dr too",
    ] {
        assert!(plan.contains(expected), "the plan lacks `{expected}`:\n{plan}");
    }
    let wiring = repo.run(&["init", "--force", "--asm-context", "asm-prod"]).success().stdout;
    assert!(
        wiring.contains(
            "  cluster ack-dr: its source is another cluster's too, so Application argocd/bookinfo-dr: \
             spec.source.kustomize.components: [../../gitops/asm-migration/clusters/ack-dr] (includeComponent: false)"
        ),
        "{wiring}"
    );
    decide(
        &repo,
        &[
            ("network", "network-1"),
            ("clusterId", "ca82a4dac39a740d62d77081e3a1c040d"),
            ("network", "network-2"),
            ("clusterId", "c5a6509b77b9a987ab78ea504689414e4"),
        ],
    );
    repo.run(&["validate"]).success();
    let repo = repo.committed("the plan init wrote, decided");
    let source = repo.read("clusters/prod/kustomization.yaml");
    every_step_applies_and_builds(&repo, &["clusters/prod"]);
    assert_eq!(repo.read("clusters/prod/kustomization.yaml"), source, "the shared source lists no cluster's part");
    assert!(repo.exists("gitops/asm-migration/clusters/ack-dr/kustomization.yaml"));
}

/// An IstioOperator without a name (istioctl installs it all the same) is named by its file, never by an empty
/// string.
#[test]
fn init_names_an_istio_operator_without_a_name_by_its_file() {
    let repo = unseen_repository("shop").edited("infra/istio/operator.yaml", "  name: control-plane\n", "");
    let repo = repo.committed("an operator without a name");
    repo.run(&["init"]).success();
    let plan = repo.read("migration.yaml");
    assert!(plan.contains("    meshConfig:  # IstioOperator without a name (infra/istio/operator.yaml)\n"), "{plan}");
    assert!(!plan.contains("IstioOperator  ("), "{plan}");
    decide(
        &repo,
        &[("clusterId", "c5a6509b77b9a987ab78ea504689414e4"), ("clusterId", "c89c4ec9f6b3f1086b158d8ef03dfe815")],
    );
    let valid = repo.run(&["validate"]).success().stdout;
    assert!(valid.contains("  mesh config: IstioOperator without a name in infra/istio/operator.yaml\n"), "{valid}");
}

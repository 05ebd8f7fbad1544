//! Issue 12, "never unsafe on a real repository": each test reproduces what would have taken production down.

use crate::fake::World;
use crate::gates::{observe, Via};
use crate::support::{restarted, Repo};

/// From `setup`, `finished` switched ASM from SetupIstioForMigrate straight to Finished, moved every workload, sent
/// all egress traffic and deleted Istio in one commit; Init -> Migrating went through too.
#[test]
fn issue_12_a_step_more_than_one_phase_ahead_is_refused() {
    let repo = Repo::fixture("shop").at("setup");
    let commits = repo.commit_count();
    let refused = repo.run(&["apply", "--step", "finished", "--commit"]).failure(2);
    assert_eq!(
        refused.stderr,
        "error: step `finished` (Finished) is more than one phase ahead of the repository, at setup \
         (SetupIstioForMigrate): ASM switches one phase at a time; take migrating, wave/canary, wave/payments, \
         wave/rest, egress/stripe/1, egress/stripe/10, egress/stripe/50, egress/stripe/100, ingress/public first (or \
         pass --force)\n"
    );
    assert_eq!(repo.commit_count(), commits, "nothing committed");
    assert_eq!(repo.git(&["status", "--porcelain"]), "", "nothing written");
    assert!(repo.exists("infra/istio/operator.yaml"), "Istio is still installed");

    let repo = Repo::fixture("shop").at("init");
    let refused = repo.run(&["apply", "--step", "migrating", "--commit"]).failure(2);
    assert!(
        refused.stderr.contains(", at init (Init): ASM switches one phase at a time; take setup first"),
        "{}",
        refused.stderr
    );
    let refused = Repo::fixture("shop").run(&["apply", "--step", "setup", "--commit"]).failure(2);
    assert!(
        refused.stderr.contains(
            "ahead of the repository, which has no step yet: ASM switches one phase at a time; take init first"
        ),
        "{}",
        refused.stderr
    );

    // One phase at a time: setup -> wave/canary (SetupIstioForMigrate -> Migrating) is allowed.
    Repo::fixture("shop").at("setup").apply("wave/canary");

    // --force takes the step anyway, and says who did in the state and the commit.
    repo.run(&["apply", "--step", "migrating", "--commit", "--force"]).success();
    assert!(repo.read("gitops/asm-migration/state.yaml").contains("gatesSkipped:\n- step: migrating\n"));
    assert!(repo
        .git(&["log", "-1", "--format=%B"])
        .contains("Migration-Gates-Skipped: migrating by Platform Team <platform@example.com>\n"));
}

/// `advance --confirm ingress/public --commit` committed `finished` (which deletes Istio's install) while two pods
/// still ran Istio's proxy: the checks that belong to `finished` ran only after it, with no next step to gate.
#[test]
fn issue_12_finished_is_taken_only_when_its_preconditions_hold() {
    let repo = Repo::fixture("shop").at("ingress/public");
    let commits = repo.commit_count();
    // ASM's ingress gateway is rolled out and reachable: the ingress step's own gates hold (issue 8).
    let mut world = World::shop()
        .switched("Migrating")
        .every_workload(|workload| {
            workload.xds_agent = true;
            workload.on_asm = workload.namespace != "istio-system";
        })
        .with_asm_gateways(&["asm-egressgateway", "ingressgateway-asm"]);
    for workload in world.clusters.get_mut("hz").expect("hz") {
        if workload.name == "frontend" {
            workload.on_asm = false;
        }
    }
    let (run, _) = observe(&repo, &world, Via::Snapshot, &["advance", "--confirm", "ingress/public", "--commit"]);
    let run = run.failure(1);
    assert!(run.stdout.contains("before finished:\n"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!(
            "{:35}  unmet  2 pod(s) outside istio-system still run Istio's proxy: hz: storefront/frontend-5d8f7c-0, \
             hz: storefront/frontend-5d8f7c-1\n",
            "no workload on Istio's proxy"
        )),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(&format!("{:35}  confirm  no API shows that no traffic goes through Istio's east-west, ingress or egress gateways any more: confirm it with `asm-migrate advance --confirm finished`\n", "no traffic through Istio's gateways")), "{}", run.stdout);
    // The clusters hold no Istio object ASM lacks (issue 9's import): that precondition holds.
    assert!(run.stdout.contains(&format!("{:35}  met\n", "Istio's config imported into ASM")), "{}", run.stdout);
    assert!(run.stdout.ends_with("not advancing to finished: 2 precondition(s) of finished unmet\n"), "{}", run.stdout);
    assert_eq!(repo.commit_count(), commits, "no commit");
    assert!(repo.exists("infra/istio/operator.yaml"), "Istio is still installed");

    for workload in world.clusters.get_mut("hz").expect("hz") {
        workload.on_asm = workload.namespace != "istio-system";
    }
    let (run, _) = observe(&repo, &world, Via::Snapshot, &["advance", "--confirm", "ingress/public", "--commit"]);
    assert!(run.failure(1).stdout.ends_with("not advancing to finished: 1 precondition(s) of finished unmet\n"));
    let confirm_both = ["advance", "--confirm", "ingress/public", "--confirm", "finished", "--commit"];
    let (run, _) = observe(&repo, &world, Via::Snapshot, &confirm_both);
    run.success();
    assert_eq!(repo.head_subject(), "asm-migrate(shop-prod): finished (12/12)");
    let message = repo.git(&["log", "-1", "--format=%B"]);
    assert!(message.contains("Migration-Confirmed: ingress/public by Platform Team <platform@example.com>\n"));
    assert!(message.contains("Migration-Confirmed: finished by Platform Team <platform@example.com>\n"));
}

/// `apply` has no cluster to look at: it refuses a step with preconditions, saying which, unless --force.
#[test]
fn issue_12_apply_refuses_a_step_whose_preconditions_it_cannot_check() {
    let repo = Repo::fixture("shop").at("ingress/public");
    let commits = repo.commit_count();
    let refused = repo.run(&["apply", "--step", "finished", "--commit"]).failure(2);
    assert_eq!(
        refused.stderr,
        "error: step `finished` has preconditions `apply` cannot check: no workload on Istio's proxy, no traffic \
         through Istio's gateways, Istio's config imported into ASM; `asm-migrate advance` checks them against the \
         clusters (or pass --force if you checked them yourself)\n"
    );
    assert_eq!(repo.commit_count(), commits);
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    repo.run(&["apply", "--step", "finished", "--commit", "--force"]).success();
    let state: serde_json::Value =
        serde_saphyr::from_str(&repo.read("gitops/asm-migration/state.yaml")).expect("the state parses");
    let skipped = state["gatesSkipped"].as_array().expect("gatesSkipped");
    assert_eq!(skipped.last().expect("an entry")["step"], "finished", "--force is recorded");
    let again = repo.run(&["apply", "--step", "finished", "--commit"]).success();
    assert!(again.stdout.contains("nothing to change"), "the step taken again needs nothing: {}", again.stdout);
}

/// The first egress step created ASM's egress gateway (ASM control plane) and sent traffic to it (the cluster)
/// in one commit, although two Applications sync them separately: for a while traffic went to a Service that did
/// not exist yet.
#[test]
fn issue_12_asm_gateways_exist_and_roll_out_before_traffic_moves_to_them() {
    let repo = Repo::fixture("shop").at("migrating");
    assert!(repo.exists("gitops/asm-migration/asm/istiogateway-asm-egressgateway.yaml"), "created at migrating");
    assert!(repo.exists("gitops/asm-migration/asm/istiogateway-ingressgateway-asm.yaml"), "created at migrating");
    let hz = repo.kustomize("clusters/hz");
    hz.get("Gateway", Some("payments"), "asm-egressgateway");
    let route = hz.get("VirtualService", Some("payments"), "stripe-through-egress-gateway");
    assert_eq!(route["spec"]["http"][0]["route"].as_array().expect("routes").len(), 1, "no traffic moves yet");

    // migrating waits for the gateways' rollout in each cluster.
    let multi_network_confirmed = ["advance", "--confirm", "migrating", "--commit"];
    let switched = World::shop().switched("Migrating").every_workload(|workload| workload.xds_agent = true);
    let (run, _) = observe(&repo, &switched, Via::Snapshot, &multi_network_confirmed);
    let run = run.failure(1);
    assert!(
        run.stdout.contains("ASM gateways rolled out  unmet  4 ASM gateway(s) not rolled out: hz: istio-system/istio-asm-egressgateway (not found), "),
        "{}",
        run.stdout
    );
    let rolled_out = switched.with_asm_gateways(&["asm-egressgateway", "ingressgateway-asm"]);
    observe(&repo, &rolled_out, Via::Snapshot, &multi_network_confirmed).0.success();

    // Each shift checks again that the gateway it sends traffic to is there.
    let repo = Repo::fixture("shop").at("wave/rest");
    let mut lost = rolled_out.clone().every_workload(|workload| workload.on_asm = workload.namespace != "istio-system");
    lost.clusters.get_mut("sh").expect("sh").retain(|workload| workload.name != "istio-asm-egressgateway");
    let (run, _) = observe(&repo, &lost, Via::Snapshot, &["advance", "--commit"]);
    let run = run.failure(1);
    assert!(run.stdout.contains("before egress/stripe/1:\n"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("unmet  1 ASM gateway(s) not rolled out: sh: istio-system/istio-asm-egressgateway (not found)\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.ends_with("not advancing to egress/stripe/1: 1 precondition(s) of egress/stripe/1 unmet\n"));
    let refused = repo.run(&["apply", "--step", "egress/stripe/1", "--commit"]).failure(2);
    assert!(
        refused.stderr.contains("has preconditions `apply` cannot check: ASM gateway rolled out;"),
        "{}",
        refused.stderr
    );
}

/// The egress VirtualService patch replaced the whole route list with a frozen copy: a `timeout` or `retries` the
/// team added later was silently dropped from the build for the whole migration.
#[test]
fn issue_12_a_later_edit_of_the_egress_virtualservice_survives() {
    let repo = Repo::fixture("shop").at("egress/stripe/1");
    let repo = repo
        .edited(
            "apps/payments/egress-stripe.yaml",
            "              number: 80\n          weight: 100\n    - match:",
            "              number: 80\n          weight: 100\n      timeout: 5s\n      retries:\n        attempts: 3\n    - match:",
        )
        .committed("payments: a timeout and retries on calls to Stripe");
    for step in ["egress/stripe/1", "egress/stripe/10", "finished"] {
        if step != "egress/stripe/1" {
            repo.apply(step);
        }
        let hz = repo.kustomize("clusters/hz");
        let route = &hz.get("VirtualService", Some("payments"), "stripe-through-egress-gateway")["spec"]["http"][0];
        assert_eq!(route["timeout"], "5s", "{step}: the team's timeout is kept");
        assert_eq!(route["retries"]["attempts"], 3, "{step}: the team's retries are kept");
        let hosts: Vec<&str> = route["route"]
            .as_array()
            .expect("destinations")
            .iter()
            .filter_map(|d| d["destination"]["host"].as_str())
            .collect();
        let expected: &[&str] = match step {
            "finished" => &["istio-asm-egressgateway.istio-system.svc.cluster.local"],
            _ => &[
                "istio-egressgateway.istio-system.svc.cluster.local",
                "istio-asm-egressgateway.istio-system.svc.cluster.local",
            ],
        };
        assert_eq!(hosts, expected, "{step}");
    }
    assert!(
        repo.read("apps/payments/egress-stripe.yaml").contains("      timeout: 5s\n"),
        "the team's file is untouched"
    );
}

/// `apply --commit` rendered from the working tree: an uncommitted workload appeared in the commit's body (and in
/// the committed component) although the file itself was not committed.
#[test]
fn issue_12_a_commit_is_rendered_from_what_is_committed() {
    let repo = Repo::fixture("shop").at("init");
    let deployment = repo.read("apps/payments/api.yaml").replace("name: api\n", "name: fraud-check\n");
    repo.write("apps/payments/fraud-check.yaml", &deployment);
    let kustomization = repo.read("apps/payments/kustomization.yaml");
    repo.write(
        "apps/payments/kustomization.yaml",
        &kustomization.replace("resources:\n", "resources:\n  - fraud-check.yaml\n"),
    );
    repo.apply("setup");
    let message = repo.git(&["log", "-1", "--format=%B"]);
    assert!(!message.contains("fraud-check"), "{message}");
    let committed = repo.git(&["show", "HEAD:gitops/asm-migration/state.yaml"]);
    assert!(committed.contains("step: setup"));
    assert_eq!(
        repo.git(&["status", "--porcelain"]),
        " M apps/payments/kustomization.yaml\n?? apps/payments/fraud-check.yaml\n",
        "the work in progress is left as it was"
    );
}

/// Run from a subdirectory, asm-migrate said "no plan here" although the plan is at the repository's root.
#[test]
fn issue_12_the_plan_is_found_from_a_subdirectory() {
    let repo = Repo::fixture("shop");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_asm-migrate"))
        .arg("validate")
        .current_dir(repo.path().join("apps/payments"))
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("plan shop-prod is valid:"));
}

/// `retry` without --commit wrote the step; `retry --commit` then refused the files it had written itself, and
/// would have counted the retry twice.
#[test]
fn issue_12_retry_then_retry_commit_commits_the_one_retry() {
    let repo = Repo::fixture("shop").at("init");
    let mut failed = World::shop();
    failed.status_retry_counter = 0;
    failed.message = "istio-system still has istio-injection: disable";
    observe(&repo, &failed, Via::Snapshot, &["retry"]).0.success();
    let (run, _) = observe(&repo, &failed, Via::Snapshot, &["retry", "--commit"]);
    run.success();
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    let migrate = repo.read("gitops/asm-migration/asm/asmmigratefromistio.yaml");
    assert!(migrate.contains("  retryCounter: 1\n"), "one retry, counted once: {migrate}");
}

/// `finished` suggested `istioctl uninstall` although Flux installed Istio from HelmReleases it will prune.
#[test]
fn issue_12_finished_says_how_this_istio_is_uninstalled() {
    let repo = Repo::fixture("bookinfo-flux").at("egress/cnn/100");
    let markdown = repo.run(&["diff", "--step", "finished", "--format", "markdown"]).success().stdout;
    assert!(!markdown.contains("istioctl"), "{markdown}");
    assert!(
        markdown.contains("Istio's HelmReleases istio-system/istio-base, istio-system/istio-egressgateway, istio-system/istiod are removed from the repository: Flux uninstalls them as it prunes"),
        "{markdown}"
    );
    let shop = Repo::fixture("shop").at("ingress/public");
    let markdown = shop.run(&["diff", "--step", "finished", "--format", "markdown"]).success().stdout;
    assert!(markdown.contains("`istioctl uninstall --purge`"), "an IstioOperator: {markdown}");
}

/// `render` with no flags prints manifests a user can read or pipe to `kubectl apply`: the ASM control plane's,
/// never a cluster's kustomize inputs (patches, transformers); stderr says what was chosen and how to get the rest.
#[test]
fn render_with_no_flags_prints_the_asm_manifests_and_says_how_to_get_the_rest() {
    let repo = Repo::fixture("shop").at("setup");
    let plain = repo.run(&["render"]).success();
    let only_asm = repo.run(&["render", "--step", "current", "--only", "asm", "--out", "-"]).success();
    assert_eq!(plain.stdout, only_asm.stdout, "the same stream as --only asm");
    let objects: Vec<serde_json::Value> = serde_saphyr::from_multiple(&plain.stdout).expect("one YAML stream");
    let kinds: Vec<&str> = objects.iter().filter_map(|object| object["kind"].as_str()).collect();
    assert!(kinds.contains(&"ASMMigrateFromIstio"), "{kinds:?}");
    assert!(!kinds.iter().any(|kind| kind.starts_with("Kustomization") || kind.ends_with("Transformer")), "{kinds:?}");
    assert_eq!(
        plain.stderr,
        "note: printed the ASM control plane's manifests of step setup (--only asm); one cluster's files: --only \
         cluster/<name>; every file of the step: --out DIR\n"
    );
    assert_eq!(only_asm.stderr, "", "no note when the part is named");
    assert_eq!(repo.git(&["status", "--porcelain"]), "", "render does not touch the repository");
}

const TWO_RELEASES: &str = "apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: istio-base
  namespace: istio-system
spec:
  chart:
    spec:
      chart: base
      version: 1.22.3
      sourceRef: {kind: HelmRepository, name: istio}
  values:
    defaultRevision: default
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: istiod
  namespace: istio-system
spec:
  chart:
    spec:
      chart: istiod
      version: 1.22.3
      sourceRef: {kind: HelmRepository, name: istio}
  values:
    meshConfig:
      accessLogFile: /dev/stdout
";

/// `meshConfig.kind: HelmValues` pointing at a file with several HelmReleases edited the first one (istio-base).
#[test]
fn issue_12_the_istiod_release_is_the_one_edited_and_named() {
    let file = "infrastructure/controllers/istio/releases.yaml";
    let repo = Repo::fixture("bookinfo-flux");
    repo.write(file, TWO_RELEASES);
    let repo = repo
        .edited("migration.yaml", "path: infrastructure/controllers/istio/istiod-values.yaml", &format!("path: {file}"))
        .committed("the istio releases in one file");
    let validated = repo.run(&["validate"]).success().stdout;
    assert!(validated.contains(&format!("  mesh config: HelmRelease istio-system/istiod in {file}\n")), "{validated}");
    repo.apply("init");
    repo.apply("setup");
    let releases: Vec<serde_json::Value> = serde_saphyr::from_multiple(&repo.read(file)).expect("the file parses");
    assert_eq!(
        releases[0]["spec"]["values"],
        serde_json::json!({"defaultRevision": "default"}),
        "istio-base untouched"
    );
    assert_eq!(
        releases[1]["spec"]["values"]["meshConfig"]["defaultConfig"]["proxyMetadata"]["PROXY_CONFIG_XDS_AGENT"],
        "true"
    );
    let message = repo.git(&["log", "-1", "--format=%B"]);
    assert!(
        message.contains(&format!("- set PROXY_CONFIG_XDS_AGENT in HelmRelease istio-system/istiod ({file})\n")),
        "{message}"
    );

    // No release of the istiod chart, and none named: validate says which releases there are.
    let repo = Repo::fixture("bookinfo-flux");
    repo.write(file, &TWO_RELEASES.replace("chart: istiod", "chart: istio-discovery"));
    let repo = repo
        .edited("migration.yaml", "path: infrastructure/controllers/istio/istiod-values.yaml", &format!("path: {file}"))
        .committed("istiod from a chart of another name");
    let refused = repo.run(&["validate"]).failure(2);
    assert_eq!(
        refused.stderr,
        format!(
            "error: cannot set PROXY_CONFIG_XDS_AGENT here: it holds the HelmReleases istio-base, istiod and none of the \
             istiod chart: name the one to edit in the plan's istio.meshConfig.release\n  --> {file}\n"
        )
    );
    let named =
        repo.edited("migration.yaml", &format!("path: {file}"), &format!("path: {file}\n      release: istiod"));
    assert!(named.run(&["validate"]).success().stdout.contains("  mesh config: HelmRelease istio-system/istiod in "));
}

/// The setup gate blocked on pods the tool never restarts (Istio's operator-managed ingress gateway): they are
/// named as outside the plan, with what to do, and do not count against the plan's workloads.
#[test]
fn issue_12_proxies_outside_the_plan_are_named_not_counted() {
    let repo = Repo::fixture("shop").at("setup");
    let mut world = World::shop().switched("SetupIstioForMigrate").every_workload(|workload| workload.xds_agent = true);
    world.clusters.get_mut("hz").expect("hz").push(crate::fake::FakeWorkload::injected(
        "Deployment",
        "istio-system",
        "istio-ingressgateway",
        2,
    ));
    let (run, _) = observe(&repo, &world, Via::Snapshot, &["advance", "--commit"]);
    let run = run.failure(1);
    assert!(run.stdout.contains("proxies carry PROXY_CONFIG_XDS_AGENT  met\n"), "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "proxies outside the plan              confirm  2 pod(s) run Istio's proxy without PROXY_CONFIG_XDS_AGENT=true \
             in workloads the plan does not restart: hz: istio-system/istio-ingressgateway-5d8f7c-0, \
             hz: istio-system/istio-ingressgateway-5d8f7c-1; restart them yourself (for a Deployment: kubectl \
             rollout restart), then confirm it with `asm-migrate advance --confirm setup`\n"
        ),
        "{}",
        run.stdout
    );
    observe(&repo, &world, Via::Snapshot, &["advance", "--confirm", "setup", "--commit"]).0.success();
}

/// "On the ASM proxy" was the label the tool itself wrote: a pod labelled but still running Istio's proxy passed.
#[test]
fn issue_12_on_the_asm_proxy_is_what_the_running_proxy_is() {
    let repo = Repo::fixture("shop").at("wave/canary");
    let mut world = World::shop()
        .switched("Migrating")
        .every_workload(|workload| workload.xds_agent = true)
        .with_asm_gateways(&["asm-egressgateway", "ingressgateway-asm"]);
    for workload in world.clusters.get_mut("hz").expect("hz") {
        if workload.name == "api" {
            workload.on_asm = true;
            workload.proxy_image = Some(crate::fake::ISTIO_PROXY); // labelled, but Istio's injector answered
        }
    }
    let (run, _) = observe(&repo, &world, Via::Snapshot, &["advance", "--commit"]);
    let run = run.failure(1);
    assert!(
        run.stdout.contains("3 pod(s) of moved workloads not on the ASM proxy and ready: hz: payments/api-5d8f7c-0 (runs Istio's proxy docker.io/istio/proxyv2:1.22.3)"),
        "{}",
        run.stdout
    );
    for workload in world.clusters.get_mut("hz").expect("hz") {
        if workload.name == "api" {
            workload.proxy_image = Some(crate::fake::ASM_PROXY);
        }
    }
    observe(&repo, &world, Via::Snapshot, &["advance", "--commit"]).0.success();

    // With the plan naming ASM's proxy image, only that image counts.
    let repo = Repo::fixture("shop")
        .edited("migration.yaml", "  asm:\n", "  asm:\n    proxyImage: registry.example.com/asm/\n")
        .committed("ASM's proxy image")
        .at("wave/canary");
    for workload in world.clusters.get_mut("hz").expect("hz") {
        if workload.name == "api" {
            workload.proxy_image = Some("registry.example.com/other/proxyv2:1.24.6");
        }
    }
    let (run, _) = observe(&repo, &world, Via::Snapshot, &["advance", "--commit"]);
    assert!(run.failure(1).stdout.contains("(runs registry.example.com/other/proxyv2:1.24.6, not ASM's proxy)"));
}

/// Point 5: workloads in a Flux HelmRelease (the flux2-kustomize-helm-example's podinfo layout) passed validate
/// unseen; waves then committed only state.yaml and finished removed Istio under them. (Since issue 9, point 3, a
/// release whose namespace is labelled for injection is patched through its post renderers, tests/integration/helm.rs;
/// this one's namespace is not labelled, so asm-migrate cannot tell whether its pods are injected.)
#[test]
fn issue_12_a_helm_release_in_a_source_is_named_until_acknowledged() {
    let repo = Repo::fixture("bookinfo-flux");
    repo.write("apps/base/podinfo/namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: podinfo\n");
    repo.write(
        "apps/base/podinfo/release.yaml",
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: podinfo\n  namespace: podinfo\nspec:\n  releaseName: podinfo\n  chart:\n    spec:\n      chart: podinfo\n      sourceRef:\n        kind: HelmRepository\n        name: podinfo\n  interval: 50m\n  values:\n    replicaCount: 2\n",
    );
    repo.write("apps/base/podinfo/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: podinfo\nresources:\n  - namespace.yaml\n  - release.yaml\n");
    let repo = repo
        .edited(
            "apps/production/kustomization.yaml",
            "  - ../base/egress\n",
            "  - ../base/egress\n  - ../base/podinfo\n",
        )
        .committed("podinfo from its Helm chart");
    let refused = repo.run(&["validate"]).failure(2);
    assert_eq!(
        refused.stderr,
        "error: cluster `production`: HelmRelease podinfo/podinfo has Flux render a Helm chart in the cluster, whose \
         workloads asm-migrate cannot see, so it neither restarts nor moves them: render them into the repository, or \
         acknowledge it with `unseen: [HelmRelease/podinfo/podinfo]` on the cluster in the plan and restart and move \
         them yourself\n  --> apps/base/podinfo/release.yaml\nhelp: its workloads' namespace `podinfo` is not \
         labelled for Istio's injection in the repository; if its pods are injected, label the namespace there \
         (istio-injection: enabled), and asm-migrate restarts and moves them through the release's post renderers\n"
    );
    let repo = repo
        .edited(
            "migration.yaml",
            "      source: apps/production\n",
            "      source: apps/production\n      unseen: [HelmRelease/podinfo/podinfo]\n",
        )
        .committed("podinfo is migrated by hand");
    let validated = repo.run(&["validate"]).success().stdout;
    assert!(
        validated.contains(
            "note: cluster `production`: HelmRelease podinfo/podinfo has Flux render a Helm chart in the cluster, \
             acknowledged as unseen\n  --> apps/base/podinfo/release.yaml\nhelp: restart and move its workloads \
             yourself; the setup gate lists their pods as outside the plan\n"
        ),
        "{validated}"
    );
    let stale =
        repo.edited("migration.yaml", "unseen: [HelmRelease/podinfo/podinfo]", "unseen: [HelmRelease/podinfo/gone]");
    assert!(stale
        .run(&["validate"])
        .failure(2)
        .stderr
        .contains("unseen entry `HelmRelease/podinfo/gone` names nothing asm-migrate finds in its source"));
}

/// Point 5: namespaces labelled by Argo CD's managedNamespaceMetadata, and the namespace its destination gives
/// (the argocd-example-apps guestbook has no namespace of its own): its workloads were not seen as injected.
#[test]
fn issue_12_argo_cds_destination_namespace_and_managed_labels_are_understood() {
    let repo = Repo::fixture("shop");
    repo.write(
        "apps/guestbook/guestbook-ui-deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: guestbook-ui\nspec:\n  replicas: 1\n  revisionHistoryLimit: 3\n  selector:\n    matchLabels:\n      app: guestbook-ui\n  template:\n    metadata:\n      labels:\n        app: guestbook-ui\n    spec:\n      containers:\n      - image: gcr.io/heptio-images/ks-guestbook-demo:0.2\n        name: guestbook-ui\n        ports:\n        - containerPort: 80\n",
    );
    repo.write("apps/guestbook/kustomization.yaml", "resources:\n  - guestbook-ui-deployment.yaml\n");
    let repo = repo
        .edited("clusters/hz/kustomization.yaml", "resources:\n", "resources:\n  - ../../apps/guestbook\n")
        .edited(
            "argocd/shop-hz.yaml",
            "  destination:\n    name: ack-hz\n  syncPolicy:\n",
            "  destination:\n    name: ack-hz\n    namespace: guestbook\n  syncPolicy:\n    managedNamespaceMetadata:\n      labels:\n        istio-injection: enabled\n",
        )
        .edited("argocd/shop-hz.yaml", "      - ServerSideApply=true\n", "      - ServerSideApply=true\n      - CreateNamespace=true\n")
        .committed("the guestbook, in the namespace Argo CD creates");
    let validated = repo.run(&["validate"]).success().stdout;
    assert!(
        validated.contains("  cluster hz: context ack-hz, network network-1, 11 workload(s), 9 Istio-injected\n"),
        "{validated}"
    );
    repo.apply("init");
    repo.apply("setup");
    let message = repo.git(&["log", "-1", "--format=%B"]);
    assert!(message.contains("default/guestbook-ui"), "restarted, addressed as kustomize builds it: {message}");
    let hz = repo.kustomize("clusters/hz");
    assert!(
        hz.workloads_where(restarted).contains(&"/guestbook-ui".to_owned()),
        "no namespace until Argo CD gives it one"
    );
}

/// Point 5: a patch deciding injection (an opt-in written as a kustomize patch) was not evaluated.
#[test]
fn issue_12_a_patch_that_decides_injection_is_reported() {
    let repo = Repo::fixture("shop")
        .edited(
            "clusters/hz/kustomization.yaml",
            "patches:\n",
            "patches:\n  - target:\n      kind: Deployment\n      name: batch\n    patch: |-\n      - op: add\n        path: /spec/template/metadata/labels/sidecar.istio.io~1inject\n        value: \"true\"\n",
        )
        .committed("batch opts in");
    let refused = repo.run(&["validate"]).failure(2);
    assert!(
        refused.stderr.starts_with(
            "error: an inline patch sets `sidecar.istio.io/inject`, which decides Istio's injection, and asm-migrate \
             does not evaluate this patch (a JSON patch, or one whose target is a label selector or a name pattern): \
             set it in the manifests it patches (or with commonLabels/labels), or as a strategic-merge patch naming \
             its targets, so the plan sees what Istio does\n  --> clusters/hz/kustomization.yaml\n"
        ),
        "{}",
        refused.stderr
    );
}

/// A strategic-merge patch that sets what decides injection is evaluated as kustomize applies it: on the objects
/// it names (by the name their manifest gives them), or on every object its target selects, when the kustomization
/// that lists it is built. Kubeflow's vendored bases do this; a team cannot rewrite them.
#[test]
fn a_strategic_merge_patch_deciding_injection_is_evaluated_as_kustomize_applies_it() {
    let before = Repo::fixture("shop").run(&["validate"]).success().stdout;
    assert!(
        before.contains("  cluster sh: context ack-sh, network network-2, 7 workload(s), 6 Istio-injected\n"),
        "{before}"
    );
    let opted_out = Repo::fixture("shop")
        .edited(
            "clusters/sh/kustomization.yaml",
            "patches:\n",
            "patches:\n  - patch: |-\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata:\n        name: web\n        namespace: catalog\n      spec:\n        template:\n          metadata:\n            labels:\n              sidecar.istio.io/inject: \"false\"\n",
        )
        .committed("web opts out");
    let after = opted_out.run(&["validate"]).success().stdout;
    assert!(
        after.contains("  cluster sh: context ack-sh, network network-2, 7 workload(s), 5 Istio-injected\n"),
        "{after}"
    );
    let built = opted_out.kustomize("clusters/sh");
    let web = built.get("Deployment", Some("catalog"), "web");
    assert_eq!(web["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"], "false", "kustomize agrees");
}

/// Point 5: an injection label given through kustomize's `labels:` is understood.
#[test]
fn issue_12_injection_labels_of_kustomize_labels_are_understood() {
    let before = Repo::fixture("shop").run(&["validate"]).success().stdout;
    assert!(
        before.contains("  cluster hz: context ack-hz, network network-1, 10 workload(s), 8 Istio-injected\n"),
        "{before}"
    );
    let repo = Repo::fixture("shop")
        .edited(
            "apps/tools/kustomization.yaml",
            "namespace: tools\n",
            "namespace: tools\nlabels:\n  - pairs:\n      istio-injection: enabled\n",
        )
        .committed("the tools namespace is injected");
    let after = repo.run(&["validate"]).success().stdout;
    assert!(
        after.contains("  cluster hz: context ack-hz, network network-1, 10 workload(s), 9 Istio-injected\n"),
        "{after}"
    );
}

/// Point 5: a remote base, and an Argo CD Application with a Helm source beside the cluster's path.
#[test]
fn issue_12_remote_bases_and_argo_cd_helm_sources_are_named() {
    let repo = Repo::fixture("shop")
        .edited(
            "clusters/sh/kustomization.yaml",
            "resources:\n",
            "resources:\n  - https://github.com/acme-shop/platform//observability?ref=v1.4.0\n",
        )
        .edited(
            "argocd/shop-hz.yaml",
            "  source:\n    repoURL: https://github.com/acme-shop/shop-gitops.git\n    targetRevision: main\n    path: clusters/hz\n",
            "  sources:\n    - repoURL: https://github.com/acme-shop/shop-gitops.git\n      targetRevision: main\n      path: clusters/hz\n    - repoURL: https://charts.example.com\n      chart: redis\n      targetRevision: 18.1.0\n",
        )
        .committed("a remote base and a chart");
    let refused = repo.run(&["validate"]).failure(2).stderr;
    assert!(refused.contains("error: cluster `hz`: Application shop-hz deploys the Helm chart redis, whose workloads asm-migrate cannot see,"), "{refused}");
    assert!(refused.contains("acknowledge it with `unseen: [Application/shop-hz]` on the cluster"), "{refused}");
    assert!(refused.contains("error: cluster `sh`: the remote base https://github.com/acme-shop/platform//observability?ref=v1.4.0 is built by kustomize from elsewhere,"), "{refused}");
}

/// Point 7: the flux2-kustomize-helm-example builds its apps from an ArtifactGenerator's artifact holding only
/// apps/: Flux would not find the component.
#[test]
fn issue_12_a_flux_artifact_without_the_output_is_said() {
    let repo = Repo::fixture("bookinfo-flux");
    repo.write(
        "clusters/production/artifacts.yaml",
        "apiVersion: source.extensions.fluxcd.io/v1beta1\nkind: ArtifactGenerator\nmetadata:\n  name: flux-system\n  namespace: flux-system\nspec:\n  sources:\n    - alias: monorepo\n      kind: GitRepository\n      name: flux-system\n  artifacts:\n    - name: apps\n      originRevision: \"@monorepo\"\n      copy:\n        - from: \"@monorepo/apps/base/**\"\n          to: \"@artifact/base/\"\n        - from: \"@monorepo/apps/production/**\"\n          to: \"@artifact/production/\"\n",
    );
    let repo = repo
        .edited(
            "clusters/production/apps.yaml",
            "    kind: GitRepository\n    name: flux-system\n  path: ./apps/production\n",
            "    kind: ExternalArtifact\n    name: apps\n  path: ./production\n",
        )
        .committed("apps from an artifact");
    let validated = repo.run(&["validate"]).success().stdout;
    assert!(
        validated.contains(
            "warning: cluster `production`: Flux builds apps/production from the artifact `apps` of ArtifactGenerator \
             flux-system (clusters/production/artifacts.yaml), which holds only apps/base/**, apps/production/**: the \
             component under gitops/asm-migration is not in it"
        ) && validated.contains("  --> clusters/production/apps.yaml\n"),
        "{validated}"
    );
}

/// Found on the way: removing Istio's install paths at `finished` let the engine prune the istio-system
/// Namespace they declared (Flux's infrastructure Kustomization reconciles before the apps), deleting ASM's
/// gateways, which live there from `migrating` on.
#[test]
fn issue_12_istio_system_is_never_pruned_with_istios_install() {
    let repo = Repo::fixture("bookinfo-flux").at("migrating");
    let infrastructure = repo.kustomize("infrastructure/controllers");
    let namespace = infrastructure.get("Namespace", None, "istio-system");
    assert_eq!(namespace["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/prune"], "disabled");
    assert_eq!(namespace["metadata"]["labels"]["toolkit.fluxcd.io/tenant"], "sre-team", "the rest of it is kept");

    let repo = Repo::fixture("shop").at("migrating");
    let hz = repo.kustomize("clusters/hz");
    let options =
        &hz.get("Namespace", None, "istio-system")["metadata"]["annotations"]["argocd.argoproj.io/sync-options"];
    assert_eq!(options, "Prune=false,Replace=true", "kept through the release of ASM's label too");
}

/// Two clusters may build the same source only when neither lists its part there: each Argo CD Application then
/// includes its own cluster's component, and the shared kustomization is never edited.
#[test]
fn clusters_share_a_source_only_when_each_engine_includes_its_own_component() {
    let repo = Repo::fixture("shop")
        .edited("migration.yaml", "      source: clusters/sh\n", "      source: clusters/hz\n")
        .committed("sh deploys what hz deploys");
    let refused = repo.run(&["validate"]).failure(2);
    assert!(refused.stderr.contains("clusters `hz` and `sh` both name the source `clusters/hz`"), "{}", refused.stderr);
    let shared = repo.read("clusters/hz/kustomization.yaml");
    let plan = repo
        .read("migration.yaml")
        .replace("      source: clusters/hz\n", "      source: clusters/hz\n      includeComponent: false\n");
    repo.write("migration.yaml", &plan);
    let repo = repo.committed("each Application includes its cluster's component");
    repo.run(&["validate"]).success();
    repo.apply("init");
    assert_eq!(repo.read("clusters/hz/kustomization.yaml"), shared, "the shared source lists no cluster's part");
    assert!(repo.exists("gitops/asm-migration/clusters/hz/kustomization.yaml"));
    assert!(repo.exists("gitops/asm-migration/clusters/sh/kustomization.yaml"));
}

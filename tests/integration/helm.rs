//! Issue 9, point 3: workloads rendered by Helm. A Flux HelmRelease's chart is rendered in the cluster, where no
//! kustomize Component reaches: the step's changes ride on the release's `spec.postRenderers`. The fixture is
//! flux2-kustomize-helm-example (`fixtures/repos/podinfo-flux`) with podinfo's namespace labelled for injection; the
//! post renderers are applied as helm-controller applies them (a kustomization of the chart's output and the
//! patches) to podinfo's chart as rendered (`fixtures/third-party/podinfo`).

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::{json, Value};

use crate::fake::{FakeWorkload, World};
use crate::gates::{observe, Via};
use crate::support::{manifest_dir, on_asm, restarted, Built, Repo, STAMP};

const PODINFO_CHART: &str = "fixtures/third-party/podinfo/podinfo-6.14.1.yaml";

/// The HelmRelease podinfo/podinfo as the cluster source builds, the component included.
fn podinfo_release(repo: &Repo) -> Value {
    repo.kustomize("apps/production").get("HelmRelease", Some("podinfo"), "podinfo").clone()
}

/// What helm-controller makes of the chart's output with the release's post renderers, each applied in turn as
/// its Kustomize post renderer does: a kustomization of the output (`helm-output.yaml`) and the renderer's patches.
fn post_rendered(release: &Value, chart_output: &str) -> Built {
    let mut output = std::fs::read_to_string(manifest_dir().join(chart_output)).expect("the chart's output");
    for renderer in release["spec"]["postRenderers"].as_array().into_iter().flatten() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("helm-output.yaml"), &output).expect("written");
        let mut kustomization = json!({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": ["helm-output.yaml"]});
        for field in ["patches", "images"] {
            if let Some(value) = renderer["kustomize"].get(field) {
                kustomization[field] = value.clone();
            }
        }
        std::fs::write(dir.path().join("kustomization.yaml"), serde_saphyr::to_string(&kustomization).expect("YAML"))
            .expect("written");
        let built = Command::new("kubectl").args(["kustomize", "."]).current_dir(dir.path()).output().expect("kubectl");
        assert!(built.status.success(), "the post renderer fails: {}", String::from_utf8_lossy(&built.stderr));
        output = String::from_utf8(built.stdout).expect("UTF-8");
    }
    let objects = serde_saphyr::from_multiple(&output).expect("the rendered chart parses");
    Built { text: output, objects }
}

/// The chart's Deployments, as `Built::workloads_where` lists them (the redis one has no namespace of its own).
const CHART_WORKLOADS: [&str; 2] = ["/podinfo-redis", "podinfo/podinfo"];

#[test]
fn issue_9_setup_and_a_wave_reach_a_flux_release_through_its_post_renderers() {
    let repo = Repo::fixture("podinfo-flux");
    let validated = repo.run(&["validate"]).success().stdout;
    assert!(
        validated.contains(
            "  cluster production: context ack-prod, network network-1, 0 workload(s), 0 Istio-injected\n    and the \
             workloads of 1 Helm release(s), restarted and moved through their post renderers: \
             HelmRelease/podinfo/podinfo\n"
        ),
        "{validated}"
    );
    repo.apply("init");
    assert!(podinfo_release(&repo)["spec"].get("postRenderers").is_none(), "init changes no workload");

    repo.apply("setup");
    let message = repo.git(&["log", "-1", "--format=%B"]);
    assert!(
        message.contains(
            "- restart every workload of 1 Helm release(s) to pick up \
             PROXY_CONFIG_XDS_AGENT: production: HelmRelease/podinfo/podinfo\n"
        ),
        "{message}"
    );
    let chart = post_rendered(&podinfo_release(&repo), PODINFO_CHART);
    assert_eq!(chart.workloads_where(restarted), CHART_WORKLOADS, "every workload of the chart restarts");
    assert_eq!(chart.workloads_where(on_asm), Vec::<String>::new(), "none moves yet");
    let podinfo = chart.get("Deployment", Some("podinfo"), "podinfo");
    let annotations = &podinfo["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["kubectl.kubernetes.io/restartedAt"], STAMP);
    assert_eq!(annotations["prometheus.io/scrape"], "true", "the chart's own annotations stay");
    assert_eq!(chart.get("Service", Some("podinfo"), "podinfo")["metadata"].get("annotations"), None);

    repo.apply("migrating");
    repo.apply("wave/podinfo");
    let message = repo.git(&["log", "-1", "--format=%B"]);
    assert!(
        message.contains(
            "- move every workload of 1 Helm release(s) onto the ASM proxy: \
             production: HelmRelease/podinfo/podinfo\n"
        ),
        "{message}"
    );
    let chart = post_rendered(&podinfo_release(&repo), PODINFO_CHART);
    assert_eq!(chart.workloads_where(on_asm), CHART_WORKLOADS, "every workload of the chart moves");
    assert_eq!(chart.workloads_where(restarted), CHART_WORKLOADS, "with the stamp kept");
    let labels = &chart.get("Deployment", None, "podinfo-redis")["spec"]["template"]["metadata"]["labels"];
    assert_eq!(labels["app"], "podinfo-redis", "the chart's own labels stay");
    repo.kustomize("gitops/asm-migration/asm");
}

/// The component appends its post renderer after the release's own, which keep their order and content.
#[test]
fn issue_9_a_releases_own_post_renderers_are_kept() {
    let repo = Repo::fixture("podinfo-flux")
        .edited(
            "apps/base/podinfo/release.yaml",
            "  # Default values\n",
            "  postRenderers:\n    - kustomize:\n        images:\n          - name: ghcr.io/stefanprodan/podinfo\n            newTag: 6.14.0\n  # Default values\n",
        )
        .committed("podinfo pinned by a post renderer")
        .at("setup");
    let release = podinfo_release(&repo);
    let renderers = release["spec"]["postRenderers"].as_array().expect("post renderers");
    assert_eq!(renderers.len(), 2, "{renderers:?}");
    assert_eq!(renderers[0]["kustomize"]["images"][0]["newTag"], "6.14.0", "the release's own first");
    let chart = post_rendered(&release, PODINFO_CHART);
    let podinfo = chart.get("Deployment", Some("podinfo"), "podinfo");
    assert_eq!(podinfo["spec"]["template"]["spec"]["containers"][0]["image"], "ghcr.io/stefanprodan/podinfo:6.14.0");
    assert_eq!(chart.workloads_where(restarted), CHART_WORKLOADS);
}

/// A base that gives the release post renderers through a patch asm-migrate does not evaluate: the build fails
/// rather than dropping them.
#[test]
fn issue_9_post_renderers_from_a_patch_asm_migrate_did_not_see_fail_the_build() {
    let repo = Repo::fixture("podinfo-flux")
        .edited(
            "apps/base/podinfo/kustomization.yaml",
            "  - release.yaml\n",
            "  - release.yaml\npatches:\n  - target:\n      kind: HelmRelease\n    patch: |-\n      - op: add\n        path: /spec/postRenderers\n        value: [{kustomize: {images: [{name: redis, newTag: latest}]}}]\n",
        )
        .committed("post renderers from a patch")
        .at("setup");
    let output = Command::new("kubectl")
        .args(["kustomize", "apps/production"])
        .current_dir(repo.path())
        .output()
        .expect("kubectl runs");
    assert!(!output.status.success(), "the user's post renderers are never replaced silently");
    assert!(String::from_utf8_lossy(&output.stderr).contains("testing value /spec/postRenderers failed"));
}

/// A release in a namespace the repository does not label for injection stays unseen; listed in `unseen` (as plans
/// written before asm-migrate patched releases list it), an injected release stays the operator's.
#[test]
fn issue_9_unseen_releases_and_acknowledged_ones() {
    let repo = Repo::fixture("podinfo-flux")
        .edited("apps/base/podinfo/namespace.yaml", "    istio-injection: enabled\n", "")
        .committed("podinfo not injected");
    let refused = repo.run(&["validate"]).failure(2).stderr;
    assert!(
        refused.contains(
            "error: cluster `production`: HelmRelease podinfo/podinfo has Flux render a Helm chart in the cluster, \
             whose workloads asm-migrate cannot see,"
        ) && refused.contains("help: its workloads' namespace `podinfo` is not labelled for Istio's injection"),
        "{refused}"
    );

    let repo = Repo::fixture("podinfo-flux")
        .edited(
            "migration.yaml",
            "      source: apps/production\n",
            "      source: apps/production\n      unseen: [HelmRelease/podinfo/podinfo]\n",
        )
        .edited("migration.yaml", "      workloads: [HelmRelease/podinfo/podinfo]\n", "      all: true\n")
        .committed("podinfo is migrated by hand");
    let validated = repo.run(&["validate"]).success().stdout;
    assert!(
        validated.contains(
            "note: cluster `production`: HelmRelease/podinfo/podinfo is acknowledged as unseen, but asm-migrate can \
             restart and move its workloads through its post renderers\n  --> apps/base/podinfo/release.yaml\nhelp: \
             drop the entry to have the steps do it;"
        ),
        "{validated}"
    );
    let repo = repo.at("wave/podinfo");
    assert!(podinfo_release(&repo)["spec"].get("postRenderers").is_none(), "the operator's, untouched");
    assert!(!repo.exists("gitops/asm-migration/clusters/production/helmrelease-podinfo-podinfo-patch.yaml"));
}

/// Istio's own releases (its install paths, the mesh config file) in a cluster source are neither unseen nor patched.
#[test]
fn issue_9_istios_own_releases_are_left_alone() {
    let repo = Repo::fixture("podinfo-flux")
        .edited(
            "apps/production/kustomization.yaml",
            "  - ../base/podinfo\n",
            "  - ../base/podinfo\n  - ../../infrastructure/controllers/istio\n",
        )
        .committed("Istio in the cluster source");
    let repo = repo.edited(
        "migration.yaml",
        "      source: apps/production\n",
        "      source: apps/production\n      unseen: [HelmRelease/istio-system/istiod]\n",
    );
    let acknowledged = repo.run(&["validate"]).success().stdout;
    assert!(
        acknowledged.contains(
            "note: cluster `production`: HelmRelease/istio-system/istiod is one of Istio's own releases, which no step \
             restarts or moves\n  --> infrastructure/controllers/istio/istio.yaml\nhelp: drop the entry: it is not \
             needed\n"
        ),
        "{acknowledged}"
    );
    let repo =
        repo.edited("migration.yaml", "      unseen: [HelmRelease/istio-system/istiod]\n", "").at("wave/podinfo");
    let built = repo.kustomize("apps/production");
    for name in ["istiod", "istio-base"] {
        let release = built.get("HelmRelease", Some("istio-system"), name);
        assert!(release["spec"].get("postRenderers").is_none(), "{name} is Istio's own: {release}");
    }
}

/// The gates count a patched release's pods (helm-controller labels its workloads with the release) as the plan's.
#[test]
fn issue_9_the_gates_count_a_releases_pods_as_the_plans() {
    let repo = Repo::fixture("podinfo-flux").at("setup");
    let mut podinfo = FakeWorkload::injected("Deployment", "podinfo", "podinfo", 2);
    podinfo.helm_release = Some(("podinfo", "podinfo"));
    let world = |podinfo: FakeWorkload| World {
        clusters: BTreeMap::from([("production", vec![podinfo])]),
        ..World::shop().switched("SetupIstioForMigrate")
    };
    let (run, _) = observe(&repo, &world(podinfo.clone()), Via::Snapshot, &["status"]);
    let status = run.failure(1).stdout;
    assert_eq!(
        gate(&status, "proxies carry PROXY_CONFIG_XDS_AGENT"),
        "unmet  2 Istio-injected pod(s) without PROXY_CONFIG_XDS_AGENT=true (not restarted yet?): production: \
         podinfo/podinfo-5d8f7c-0, production: podinfo/podinfo-5d8f7c-1",
        "{status}"
    );
    assert_eq!(gate(&status, "proxies outside the plan"), "met", "{status}");

    let mut unlabelled = podinfo.clone();
    unlabelled.helm_release = None;
    let (run, _) = observe(&repo, &world(unlabelled), Via::Snapshot, &["status"]);
    assert!(gate(&run.stdout, "proxies outside the plan").starts_with("confirm"), "{}", run.stdout);

    let repo = repo.at("migrating");
    repo.apply("wave/podinfo");
    podinfo.xds_agent = true;
    let (run, _) = observe(&repo, &world(podinfo.clone()).switched("Migrating"), Via::Snapshot, &["status"]);
    let status = run.failure(1).stdout;
    assert!(
        gate(&status, "pods on the ASM proxy").starts_with("unmet  2 pod(s) of moved workloads not on the ASM proxy"),
        "{status}"
    );
    podinfo.on_asm = true;
    podinfo.rollout_complete = false;
    let (run, _) = observe(&repo, &world(podinfo.clone()).switched("Migrating"), Via::Snapshot, &["status"]);
    let status = run.failure(1).stdout;
    assert_eq!(gate(&status, "pods on the ASM proxy"), "met", "{status}");
    assert!(
        gate(&status, "rollouts complete")
            .starts_with("unmet  1 rollout(s) not complete: production: podinfo/podinfo (1 of 2 updated"),
        "{status}"
    );
    podinfo.rollout_complete = true;
    let (run, _) = observe(&repo, &world(podinfo).switched("Migrating"), Via::Snapshot, &["status"]);
    let status = run.stdout;
    assert_eq!(gate(&status, "pods on the ASM proxy"), "met", "{status}");
    assert_eq!(gate(&status, "rollouts complete"), "met", "{status}");
}

/// The outcome and reason of gate `name` in `status`'s table.
fn gate<'s>(status: &'s str, name: &str) -> &'s str {
    let line = status
        .lines()
        .find(|line| line.starts_with(&format!("{name}  ")))
        .unwrap_or_else(|| panic!("no gate {name}: {status}"));
    line[name.len()..].trim_start()
}

/// The shop with podinfo's chart moved out of an Argo CD Helm source into a kustomization of its own
/// (`charts/hz-podinfo`, `helmCharts:`), which the Application shop-hz builds as a second source, and podinfo's
/// namespace labelled for injection in hz's source.
pub fn shop_with_a_chart_kustomization() -> Repo {
    let repo = Repo::fixture("shop");
    repo.write(
        "charts/hz-podinfo/kustomization.yaml",
        "# podinfo, inflated by kustomize (Argo CD: kustomize.buildOptions: --enable-helm).\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nhelmCharts:\n  - name: podinfo\n    repo: https://stefanprodan.github.io/podinfo\n    version: 6.14.1\n    releaseName: podinfo\n    namespace: podinfo\n    valuesInline:\n      redis:\n        enabled: true\n",
    );
    repo.write(
        "clusters/hz/podinfo-namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: podinfo\n  labels:\n    istio-injection: enabled\n",
    );
    repo.edited("clusters/hz/kustomization.yaml", "resources:\n", "resources:\n  - podinfo-namespace.yaml\n")
        .edited(
            "argocd/shop-hz.yaml",
            "  source:\n    repoURL: https://github.com/acme-shop/shop-gitops.git\n    targetRevision: main\n    path: clusters/hz\n",
            "  sources:\n    - repoURL: https://github.com/acme-shop/shop-gitops.git\n      targetRevision: main\n      path: clusters/hz\n    - repoURL: https://github.com/acme-shop/shop-gitops.git\n      targetRevision: main\n      path: charts/hz-podinfo\n",
        )
        .committed("podinfo's chart inflated by kustomize")
}

/// The chart kustomization as Argo CD builds it, with the chart's output (`fixtures/third-party/podinfo`) where
/// kustomize's Helm inflation puts it: helm is not where the tests run.
fn inflated(repo: &Repo) -> Built {
    let text = repo.read("charts/hz-podinfo/kustomization.yaml");
    let start = text.find("helmCharts:\n").expect("helmCharts");
    let end = text.find("components:\n").unwrap_or(text.len());
    let without_helm = format!("{}resources:\n  - podinfo.yaml\n{}", &text[..start], &text[end..]);
    repo.write("charts/hz-podinfo-inflated/kustomization.yaml", &without_helm);
    let chart = std::fs::read_to_string(manifest_dir().join(PODINFO_CHART)).expect("the chart's output");
    repo.write("charts/hz-podinfo-inflated/podinfo.yaml", &chart);
    let built = repo.kustomize("charts/hz-podinfo-inflated");
    std::fs::remove_dir_all(repo.path().join("charts/hz-podinfo-inflated")).expect("removed");
    built
}

/// Argo CD: a chart kustomize inflates in a kustomization the Application builds as a source of its own lists a
/// Component asm-migrate renders, which restarts and moves the chart's workloads by kind.
#[test]
fn issue_9_an_argo_cd_chart_inflated_by_kustomize_is_restarted_and_moved_by_its_component() {
    let repo = shop_with_a_chart_kustomization();
    let validated = repo.run(&["validate"]).success().stdout;
    assert!(
        validated.contains(
            "    and the workloads of 1 Helm chart(s) kustomize inflates, restarted and moved through the Component \
             their kustomization lists: helmChart/podinfo\n"
        ),
        "{validated}"
    );
    repo.apply("init");
    let kustomization = repo.read("charts/hz-podinfo/kustomization.yaml");
    assert!(
        kustomization
            .ends_with("components:\n  - ../../gitops/asm-migration/clusters/hz/helm-charts/charts-hz-podinfo\n"),
        "listed once, by the first step: {kustomization}"
    );
    assert_eq!(inflated(&repo).workloads_where(restarted), Vec::<String>::new(), "init changes no workload");

    repo.apply("setup");
    let message = repo.git(&["log", "-1", "--format=%B"]);
    assert!(
        message.contains(
            "- restart every workload of 1 Helm release(s) to pick up PROXY_CONFIG_XDS_AGENT: hz: helmChart/podinfo\n"
        ),
        "{message}"
    );
    let chart = inflated(&repo);
    assert_eq!(chart.workloads_where(restarted), CHART_WORKLOADS);
    assert_eq!(chart.workloads_where(on_asm), Vec::<String>::new());

    for step in ["migrating", "wave/canary", "wave/payments"] {
        repo.apply(step);
        assert_eq!(inflated(&repo).workloads_where(on_asm), Vec::<String>::new(), "not moved by {step}");
    }
    repo.apply("wave/rest");
    let chart = inflated(&repo);
    assert_eq!(chart.workloads_where(on_asm), CHART_WORKLOADS, "moved with every namespace");
    assert_eq!(chart.workloads_where(restarted), CHART_WORKLOADS);
    repo.kustomize("clusters/hz");
}

/// An Argo CD Helm source is unseen, and the help says how to move the chart where asm-migrate patches it.
#[test]
fn issue_9_an_argo_cd_helm_source_says_how_to_have_it_patched() {
    let repo = Repo::fixture("shop")
        .edited(
            "argocd/shop-hz.yaml",
            "  source:\n    repoURL: https://github.com/acme-shop/shop-gitops.git\n    targetRevision: main\n    path: clusters/hz\n",
            "  sources:\n    - repoURL: https://github.com/acme-shop/shop-gitops.git\n      targetRevision: main\n      path: clusters/hz\n    - repoURL: https://stefanprodan.github.io/podinfo\n      chart: podinfo\n      targetRevision: 6.14.1\n      helm:\n        releaseName: podinfo\n",
        )
        .edited("argocd/shop-hz.yaml", "    name: ack-hz\n", "    name: ack-hz\n    namespace: podinfo\n")
        .committed("podinfo from a Helm source");
    let refused = repo.run(&["validate"]).failure(2).stderr;
    assert!(
        refused.contains(
            "help: asm-migrate cannot patch inside a Helm source, but can patch a chart that kustomize inflates: move \
             it into `helmCharts: [{\"name\":\"podinfo\",\"repo\":\"https://stefanprodan.github.io/podinfo\",\"version\":\
             \"6.14.1\",\"releaseName\":\"podinfo\",\"namespace\":\"podinfo\"}]` (its values as valuesInline) of a \
             kustomization.yaml the Application builds as a source of its own"
        ),
        "{refused}"
    );
}

/// A chart kustomization whose namespace is not labelled for injection is unseen, as a Helm source is; one built
/// for two clusters cannot list a Component for each.
#[test]
fn issue_9_chart_kustomizations_asm_migrate_cannot_patch() {
    let repo = shop_with_a_chart_kustomization()
        .edited("clusters/hz/podinfo-namespace.yaml", "  labels:\n    istio-injection: enabled\n", "")
        .committed("podinfo not injected");
    let refused = repo.run(&["validate"]).failure(2).stderr;
    assert!(
        refused.contains(
            "error: cluster `hz`: the helmCharts entry podinfo of charts/hz-podinfo/kustomization.yaml, which \
             Application shop-hz builds, renders a Helm chart, whose workloads asm-migrate cannot see"
        ) && refused.contains(
            "help: their namespace `podinfo` is not labelled for Istio's injection in the repository; if their pods \
             are injected, label the namespace there (istio-injection: enabled), and asm-migrate restarts and moves \
             them through a Component the kustomization lists\n"
        ),
        "{refused}"
    );

    let repo = shop_with_a_chart_kustomization()
        .edited("clusters/sh/kustomization.yaml", "resources:\n", "resources:\n  - ../hz/podinfo-namespace.yaml\n")
        .edited(
            "argocd/shop-sh.yaml",
            "  source:\n    repoURL: https://github.com/acme-shop/shop-gitops.git\n    targetRevision: main\n    path: clusters/sh\n",
            "  sources:\n    - repoURL: https://github.com/acme-shop/shop-gitops.git\n      targetRevision: main\n      path: clusters/sh\n    - repoURL: https://github.com/acme-shop/shop-gitops.git\n      targetRevision: main\n      path: charts/hz-podinfo\n",
        )
        .committed("one chart kustomization for two clusters");
    let refused = repo.run(&["apply", "--step", "init"]).failure(2).stderr;
    assert_eq!(
        refused,
        "error: the chart kustomization charts/hz-podinfo is built for clusters hz and sh, and lists one Component per \
         cluster that asm-migrate patches its charts with: give each cluster a kustomization of its own\n  --> \
         charts/hz-podinfo\n"
    );
}

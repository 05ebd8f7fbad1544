//! Every step of each fixture applied in order: one commit per step, every directory builds with kustomize,
//! every Istio object validates against Istio's CRDs, and the build shows exactly that step's state.

use serde_json::{json, Value};

use crate::crd::IstioSchemas;
use crate::support::{on_asm, restarted, Built, Repo, STAMP};

struct Builds {
    asm: Built,
    clusters: Vec<(String, Built)>,
}

impl Builds {
    fn cluster(&self, name: &str) -> &Built {
        &self.clusters.iter().find(|(cluster, _)| cluster == name).expect("a cluster build").1
    }

    fn desired_state(&self) -> &str {
        self.asm.get("ASMMigrateFromIstio", None, "default")["spec"]["desiredState"].as_str().expect("a state")
    }
}

/// Applies `step` with a commit and checks what every step must satisfy; returns the builds.
fn apply_step(
    repo: &Repo,
    schemas: &IstioSchemas,
    step: &str,
    index: usize,
    total: usize,
    plan: &str,
    sources: &[(&str, &str)],
) -> Builds {
    let before = repo.commit_count();
    repo.apply(step);
    assert_eq!(repo.commit_count(), before + 1, "step {step} makes exactly one commit");
    assert_eq!(repo.head_subject(), format!("asm-migrate({plan}): {step} ({}/{total})", index + 1));
    assert_eq!(repo.git(&["status", "--porcelain"]), "", "step {step} leaves nothing uncommitted");

    let again = repo.apply_run(step).success();
    assert!(again.stdout.contains("nothing to change"), "{}", again.stdout);
    assert_eq!(repo.commit_count(), before + 1, "re-applying {step} makes no commit");

    let asm = repo.kustomize("gitops/asm-migration/asm");
    let clusters: Vec<(String, Built)> =
        sources.iter().map(|(name, dir)| ((*name).to_owned(), repo.kustomize(dir))).collect();
    for built in std::iter::once(&asm).chain(clusters.iter().map(|(_, built)| built)) {
        if let Err(errors) = schemas.validate_stream(&built.text) {
            panic!("step {step}: Istio objects do not validate:\n{}", errors.join("\n"));
        }
    }
    Builds { asm, clusters }
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    names.sort();
    names
}

const ISTIO_EGRESS: &str = "istio-egressgateway.istio-system.svc.cluster.local";
const ASM_EGRESS: &str = "istio-asm-egressgateway.istio-system.svc.cluster.local";

#[test]
fn shop_every_step_builds_and_shows_its_state() {
    let repo = Repo::fixture("shop");
    let schemas = IstioSchemas::load();
    let steps = repo.step_ids();
    assert_eq!(steps.len(), 12);
    let sources = [("hz", "clusters/hz"), ("sh", "clusters/sh")];
    let hz_injected = sorted(&[
        "catalog/search",
        "catalog/web",
        "istio-system/istio-eastwestgateway",
        "payments/api",
        "payments/ledger",
        "payments/worker",
        "storefront/frontend",
        "tools/debug",
    ]);
    let sh_injected = sorted(&[
        "catalog/search",
        "catalog/web",
        "payments/api",
        "payments/ledger",
        "payments/worker",
        "storefront/frontend",
    ]);
    let hz_movable: Vec<String> =
        hz_injected.iter().filter(|name| !name.starts_with("istio-system/")).cloned().collect();

    for (index, step) in steps.iter().enumerate() {
        let builds = apply_step(&repo, &schemas, step, index, steps.len(), "shop-prod", &sources);
        let (hz, sh) = (builds.cluster("hz"), builds.cluster("sh"));
        let migrate = builds.asm.get("ASMMigrateFromIstio", None, "default");
        assert_eq!(migrate["apiVersion"], "istio.alibabacloud.com/v1beta1");
        assert_eq!(migrate["metadata"].get("namespace"), None, "ASMMigrateFromIstio is cluster-scoped");
        assert_eq!(
            migrate["spec"]["advancedOptions"],
            json!({"stopIstioSystemInjectionDisabling": true}),
            "hz runs an east-west gateway"
        );

        // istio-system loses ASM's label for real: Argo CD replaces the namespace, other labels kept.
        for (cluster, network) in [(hz, "network-1"), (sh, "network-2")] {
            let namespace = cluster.get("Namespace", None, "istio-system");
            let labels = &namespace["metadata"]["labels"];
            assert_eq!(labels.get("istio-injection"), None);
            assert_eq!(labels["topology.istio.io/network"], network);
            let options =
                namespace["metadata"]["annotations"]["argocd.argoproj.io/sync-options"].as_str().unwrap_or_default();
            assert!(options.contains("Replace=true"), "step {step}: {options}");
        }

        let restarted_hz = hz.workloads_where(restarted);
        let moved_hz = hz.workloads_where(on_asm);
        let moved_sh = sh.workloads_where(on_asm);
        match step.as_str() {
            "init" => {
                assert_eq!(builds.desired_state(), "Init");
                assert!(restarted_hz.is_empty());
                assert!(!repo.read("infra/istio/operator.yaml").contains("PROXY_CONFIG_XDS_AGENT"));
            }
            "setup" => {
                assert_eq!(builds.desired_state(), "SetupIstioForMigrate");
                assert_eq!(restarted_hz, hz_injected, "only Istio-injected workloads restart");
                assert_eq!(sh.workloads_where(restarted), sh_injected);
                let operator = hz.get("IstioOperator", Some("istio-system"), "control-plane");
                assert_eq!(
                    operator["spec"]["meshConfig"]["defaultConfig"]["proxyMetadata"],
                    json!({"ISTIO_META_DNS_CAPTURE": "true", "PROXY_CONFIG_XDS_AGENT": "true"}),
                    "the variable joins the existing proxyMetadata"
                );
                assert!(moved_hz.is_empty());
            }
            "migrating" => assert_eq!(builds.desired_state(), "Migrating"),
            "wave/canary" => {
                assert_eq!(moved_hz, ["payments/api"]);
                assert!(moved_sh.is_empty(), "the canary wave is limited to hz");
            }
            "wave/payments" => {
                assert_eq!(moved_hz, ["payments/api", "payments/ledger", "payments/worker"]);
                assert_eq!(moved_sh, ["payments/api", "payments/ledger", "payments/worker"]);
            }
            "wave/rest" => {
                assert_eq!(moved_hz, hz_movable, "Istio's own east-west gateway is not moved");
                assert_eq!(moved_sh, sh_injected);
            }
            weighted if weighted.starts_with("egress/stripe/") => {
                let weight: i64 = weighted.rsplit('/').next().unwrap().parse().unwrap();
                for cluster in [hz, sh] {
                    assert_eq!(
                        cluster.mesh_route("payments", "stripe-through-egress-gateway"),
                        [(ISTIO_EGRESS.to_owned(), Some(100 - weight)), (ASM_EGRESS.to_owned(), Some(weight))]
                    );
                    let gateway = cluster.get("Gateway", Some("payments"), "asm-egressgateway");
                    assert_eq!(gateway["spec"]["selector"], json!({"istio": "asm-egressgateway"}));
                }
                let asm_gateway = builds.asm.get("IstioGateway", Some("istio-system"), "asm-egressgateway");
                assert_eq!(asm_gateway["spec"]["gatewayType"], "egress");
                assert_eq!(
                    asm_gateway["spec"]["clusterIds"],
                    json!(["c5a6509b77b9a987ab78ea504689414e4", "c89c4ec9f6b3f1086b158d8ef03dfe815"])
                );
                assert_eq!(moved_hz, hz_movable, "waves stay applied");
            }
            "ingress/public" => {
                let ingress = builds.asm.get("IstioGateway", Some("istio-system"), "ingressgateway-asm");
                assert_eq!(ingress["spec"]["gatewayType"], "ingress");
                assert_eq!(ingress["spec"]["ports"], json!([{"name": "http", "port": 80, "targetPort": 80}]));
            }
            "finished" => {
                assert_eq!(builds.desired_state(), "Finished");
                assert!(!repo.exists("infra/istio") && !repo.exists("infra/istio-eastwest"), "install paths removed");
                for source in ["clusters/hz/kustomization.yaml", "clusters/sh/kustomization.yaml"] {
                    assert!(!repo.read(source).contains("infra/istio"), "{source} no longer lists Istio");
                }
                for cluster in [hz, sh] {
                    assert_eq!(
                        cluster.mesh_route("payments", "stripe-through-egress-gateway"),
                        [(ASM_EGRESS.to_owned(), None)]
                    );
                    let service = cluster.get("VirtualService", Some("payments"), "stripe-through-egress-gateway");
                    assert_eq!(service["spec"]["gateways"], json!(["asm-egressgateway", "mesh"]));
                    assert!(!cluster.text.contains("kind: IstioOperator"));
                }
                assert_eq!(moved_hz, hz_movable);
            }
            other => panic!("unexpected step {other}"),
        }
        if index >= 1 {
            for cluster in [hz, sh] {
                for object in cluster.objects.iter().filter(|object| restarted(&object["spec"]["template"]["metadata"]))
                {
                    let stamp =
                        &object["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"];
                    assert_eq!(stamp, STAMP, "the restart stamp never changes after setup");
                }
            }
        }
    }
}

#[test]
fn bookinfo_flux_every_step_builds_and_shows_its_state() {
    let repo = Repo::fixture("bookinfo-flux");
    let schemas = IstioSchemas::load();
    let steps = repo.step_ids();
    let sources = [("production", "apps/production")];
    let all = sorted(&[
        "bookinfo/details-v1",
        "bookinfo/productpage-v1",
        "bookinfo/ratings-v1",
        "bookinfo/reviews-v1",
        "bookinfo/reviews-v2",
        "bookinfo/reviews-v3",
    ]);
    for (index, step) in steps.iter().enumerate() {
        let builds = apply_step(&repo, &schemas, step, index, steps.len(), "bookinfo-prod", &sources);
        let production = builds.cluster("production");
        // The Flux infrastructure that installs Istio keeps building, before and after its removal.
        repo.kustomize("infrastructure/controllers");
        let migrate = builds.asm.get("ASMMigrateFromIstio", None, "default");
        assert_eq!(
            migrate["spec"].get("advancedOptions"),
            None,
            "no east-west gateway: ASM keeps managing istio-system"
        );
        match step.as_str() {
            "setup" => {
                assert_eq!(production.workloads_where(restarted), all);
                let values = repo.read("infrastructure/controllers/istio/istiod-values.yaml");
                assert!(
                    values.contains("      ISTIO_META_DNS_CAPTURE: \"true\"\n      PROXY_CONFIG_XDS_AGENT: \"true\"\n"),
                    "{values}"
                );
            }
            "wave/reviews" => {
                assert_eq!(
                    production.workloads_where(on_asm),
                    ["bookinfo/reviews-v1", "bookinfo/reviews-v2", "bookinfo/reviews-v3"]
                )
            }
            "egress/cnn/10" => assert_eq!(
                production.mesh_route("bookinfo", "direct-cnn-through-egress-gateway"),
                [(ISTIO_EGRESS.to_owned(), Some(90)), (ASM_EGRESS.to_owned(), Some(10))]
            ),
            "finished" => {
                assert!(!repo.exists("infrastructure/controllers/istio"));
                assert!(!repo.read("infrastructure/controllers/kustomization.yaml").contains("istio"));
                let namespace = production.get("Namespace", None, "istio-system");
                assert_eq!(namespace["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/prune"], "disabled");
                assert_eq!(production.workloads_where(on_asm), all);
            }
            _ => {}
        }
        assert_eq!(builds.desired_state(), step_phase(step));
    }
}

fn step_phase(step: &str) -> &'static str {
    match step {
        "init" => "Init",
        "setup" => "SetupIstioForMigrate",
        "finished" => "Finished",
        _ => "Migrating",
    }
}

#[test]
fn flux_takes_the_istio_system_label_over_then_drops_it() {
    let repo = Repo::fixture("bookinfo-flux");
    let plan = repo
        .read("migration.yaml")
        .replace("      network: network-1\n", "      network: network-1\n      eastWestGateway: true\n");
    repo.write("migration.yaml", &plan);
    repo.git(&["commit", "-qam", "east-west gateway"]);
    repo.run(&["apply", "--step", "init", "--commit"]).success();
    let built = repo.kustomize("apps/production");
    let namespace: &Value = built.get("Namespace", None, "istio-system");
    assert_eq!(
        namespace["metadata"]["labels"]["istio-injection"], "asm-migrate-takeover",
        "Flux force-applies a value of its own"
    );
    repo.run(&["apply", "--step", "setup", "--commit"]).success();
    let built = repo.kustomize("apps/production");
    let namespace = built.get("Namespace", None, "istio-system");
    assert_eq!(
        namespace["metadata"]["labels"].get("istio-injection"),
        None,
        "then drops it, so Flux removes the label"
    );
    assert_eq!(namespace["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/prune"], "disabled");
}

#[test]
fn the_istio_config_map_gets_the_variable_inside_its_mesh_string() {
    let repo = Repo::fixture("shop");
    repo.write(
        "infra/istio/mesh.yaml",
        "# Istio's mesh config, as istioctl and the istiod chart keep it.\n\
         apiVersion: v1\n\
         kind: ConfigMap\n\
         metadata:\n  name: istio\n  namespace: istio-system\n\
         data:\n  mesh: |-\n    accessLogFile: /dev/stdout\n    defaultConfig:\n      discoveryAddress: istiod.istio-system.svc:15012\n      proxyMetadata:\n        ISTIO_META_DNS_CAPTURE: \"true\"\n  meshNetworks: 'networks: {}'\n",
    );
    let kustomization =
        repo.read("infra/istio/kustomization.yaml").replace("resources:\n", "resources:\n  - mesh.yaml\n");
    repo.write("infra/istio/kustomization.yaml", &kustomization);
    let plan = repo.read("migration.yaml").replace(
        "      kind: IstioOperator\n      path: infra/istio/operator.yaml\n",
        "      kind: ConfigMap\n      path: infra/istio/mesh.yaml\n",
    );
    repo.write("migration.yaml", &plan);
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-qm", "mesh config in the istio ConfigMap"]);
    for step in ["init", "setup"] {
        repo.apply(step);
    }
    let built = repo.kustomize("clusters/hz");
    let config_map = built.get("ConfigMap", Some("istio-system"), "istio");
    let mesh: Value =
        serde_saphyr::from_str(config_map["data"]["mesh"].as_str().expect("a mesh string")).expect("the mesh parses");
    assert_eq!(
        mesh["defaultConfig"]["proxyMetadata"],
        json!({"ISTIO_META_DNS_CAPTURE": "true", "PROXY_CONFIG_XDS_AGENT": "true"})
    );
    assert_eq!(mesh["defaultConfig"]["discoveryAddress"], "istiod.istio-system.svc:15012");
    assert_eq!(config_map["data"]["meshNetworks"], "networks: {}", "the other keys are kept");
    assert!(repo.read("infra/istio/mesh.yaml").starts_with("# Istio's mesh config"), "comments are kept");
}

#[test]
fn name_prefixes_of_included_kustomizations_are_followed() {
    let repo = Repo::fixture("shop");
    let tools = repo.read("apps/tools/kustomization.yaml");
    repo.write("apps/tools/kustomization.yaml", &format!("{tools}namePrefix: ops-\nnameSuffix: -v2\n"));
    repo.git(&["commit", "-qam", "tools are prefixed"]);
    for step in ["init", "setup", "migrating", "wave/canary", "wave/payments", "wave/rest"] {
        repo.apply(step);
    }
    let hz = repo.kustomize("clusters/hz");
    assert!(hz.workloads_where(restarted).contains(&"tools/ops-debug-v2".to_owned()));
    assert!(!hz.workloads_where(restarted).contains(&"tools/ops-batch-v2".to_owned()), "not injected: not restarted");
    assert!(hz.workloads_where(on_asm).contains(&"tools/ops-debug-v2".to_owned()));
}

/// Issue 12: a cluster source that sets `namespace:`, `namePrefix:` or `nameSuffix:` itself was refused, although
/// kustomize applies the component before them, so that targets written against the unprefixed names apply.
#[test]
fn issue_12_a_cluster_source_that_renames_what_it_includes_is_followed() {
    let repo = Repo::fixture("shop");
    let source = repo.read("clusters/sh/kustomization.yaml");
    repo.write("clusters/sh/kustomization.yaml", &format!("{source}namePrefix: sh-\nnameSuffix: -v2\n"));
    let repo = repo.committed("sh prefixes everything");
    repo.run(&["validate"]).success();
    for step in ["init", "setup", "migrating", "wave/canary", "wave/payments"] {
        repo.apply(step);
    }
    let sh = repo.kustomize("clusters/sh");
    assert_eq!(
        sh.workloads_where(on_asm),
        ["payments/sh-api-v2", "payments/sh-ledger-v2", "payments/sh-worker-v2"],
        "the wave's patches reach the renamed workloads"
    );
    assert!(sh.workloads_where(restarted).contains(&"catalog/sh-web-v2".to_owned()));
    let effects = repo.git(&["log", "-1", "--format=%B"]);
    assert!(effects.contains("sh: payments/api, payments/worker, payments/ledger"), "the plan's names: {effects}");

    // The gates find the moved workloads' pods under the names sh gives them.
    let mut world = crate::fake::World::shop()
        .switched("Migrating")
        .every_workload(|workload| workload.xds_agent = true)
        .with_asm_gateways(&["asm-egressgateway", "ingressgateway-asm"]);
    for (cluster, workloads) in world.clusters.iter_mut() {
        for workload in workloads.iter_mut() {
            workload.on_asm = workload.namespace == "payments" || (*cluster == "hz" && workload.name == "api");
            if *cluster == "sh" {
                workload.name = Box::leak(format!("sh-{}-v2", workload.name).into_boxed_str());
            }
        }
    }
    let (run, _) = crate::gates::observe(&repo, &world, crate::gates::Via::Snapshot, &["status"]);
    let status = run.success().stdout;
    assert!(
        status.contains("pods on the ASM proxy  met\n") && status.contains("rollouts complete      met\n"),
        "{status}"
    );

    // A source that puts everything into a namespace of its own: the plan and the component keep the bases' names.
    let repo = Repo::fixture("bookinfo-flux");
    let source = repo.read("apps/production/kustomization.yaml");
    repo.write("apps/production/kustomization.yaml", &format!("{source}namespace: prod-bookinfo\nnamePrefix: prod-\n"));
    let repo = repo.committed("production renames bookinfo");
    for step in ["init", "setup", "migrating", "wave/reviews"] {
        repo.apply(step);
    }
    let production = repo.kustomize("apps/production");
    assert_eq!(
        production.workloads_where(on_asm),
        ["prod-bookinfo/prod-reviews-v1", "prod-bookinfo/prod-reviews-v2", "prod-bookinfo/prod-reviews-v3"]
    );
    assert_eq!(production.workloads_where(restarted).len(), 6, "every Istio-injected workload restarts");
}

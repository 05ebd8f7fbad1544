//! Issue 8: the objects asm-migrate renders name what ASM really creates (gateway Services, cluster IDs, the
//! Gateways an ingress gateway serves), and the gates know ASM's own pods.

use crate::fake::{FakeWorkload, World};
use crate::gates::{observe, Via};
use crate::support::Repo;

const EGRESS_HOST: &str = "istio-asm-egressgateway.istio-system.svc.cluster.local";

/// The hosts the mesh route of the shop's Stripe VirtualService sends to, as kustomize builds cluster hz.
fn stripe_hosts(repo: &Repo) -> Vec<String> {
    let hz = repo.kustomize("clusters/hz");
    let route = &hz.get("VirtualService", Some("payments"), "stripe-through-egress-gateway")["spec"]["http"][0];
    route["route"]
        .as_array()
        .expect("destinations")
        .iter()
        .filter_map(|destination| destination["destination"]["host"].as_str().map(str::to_owned))
        .collect()
}

/// Point 1: the weighted route sent ASM's share to `<name>.istio-system.svc.cluster.local`, a host that does not
/// exist: ASM's Service for the IstioGateway `<name>` is `istio-<name>`.
#[test]
fn issue_8_egress_traffic_goes_to_the_service_asm_creates() {
    let repo = Repo::fixture("shop").at("egress/stripe/10");
    assert_eq!(stripe_hosts(&repo), ["istio-egressgateway.istio-system.svc.cluster.local", EGRESS_HOST]);
    let validate = repo.run(&["validate"]).success();
    assert!(
        validate.stdout.contains(&format!(
            "  egress stripe: VirtualService payments/stripe-through-egress-gateway sends mesh traffic to ASM's egress \
             gateway asm-egressgateway at {EGRESS_HOST}, weights 1, 10, 50, 100\n"
        )),
        "{}",
        validate.stdout
    );
}

/// Point 1: a gateway whose Service was renamed is named in the plan, and the route follows it.
#[test]
fn issue_8_a_renamed_egress_service_is_named_in_the_plan() {
    let repo = Repo::fixture("shop")
        .edited(
            "migration.yaml",
            "      asmGateway: asm-egressgateway\n",
            "      asmGateway: asm-egressgateway\n      asmGatewayService: egress-asm\n",
        )
        .committed("the ASM egress gateway's Service is egress-asm");
    repo.apply_through("egress/stripe/1");
    assert_eq!(
        stripe_hosts(&repo),
        ["istio-egressgateway.istio-system.svc.cluster.local", "egress-asm.istio-system.svc.cluster.local"]
    );
    assert!(repo.run(&["validate"]).success().stdout.contains(" at egress-asm.istio-system.svc.cluster.local,"));
}

/// Point 1: ASM's `istio-<name>` must itself be a DNS label, so the gateway's name is at most 57 characters.
#[test]
fn issue_8_a_gateway_name_too_long_for_asms_service_is_refused() {
    let long = "a".repeat(58);
    let repo = Repo::fixture("shop")
        .edited("migration.yaml", "      asmGateway: asm-egressgateway\n", &format!("      asmGateway: {long}\n"))
        .committed("a long gateway name");
    let run = repo.run(&["validate"]).failure(2);
    assert!(
        run.stderr.contains(&format!(
            "asmGateway `{long}` is too long: ASM names the gateway's Deployment and Service `istio-{long}`, which \
             must be a DNS-1123 label of at most 63 characters"
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("migration.yaml:"), "{}", run.stderr);
}

/// Point 2: `IstioGateway.spec.clusterIds` take the ACK cluster IDs ASM knows, never the plan's names: a cluster
/// an ASM gateway runs in must have its ID, and the error names the cluster, its line and where to find the ID.
#[test]
fn issue_8_a_cluster_an_asm_gateway_runs_in_needs_its_ack_cluster_id() {
    let repo = Repo::fixture("shop")
        .edited("migration.yaml", "      clusterId: c89c4ec9f6b3f1086b158d8ef03dfe815\n", "")
        .committed("no cluster ID for sh");
    let commits = repo.commit_count();
    let run = repo.run(&["apply", "--step", "init", "--commit"]).failure(2);
    assert_eq!(
        run.stderr,
        "error: cluster `sh` has no clusterId: ASM's gateway(s) asm-egressgateway (egress `stripe`), ingressgateway-asm \
         (ingress `public`) run in it, and an IstioGateway's clusterIds take the ACK cluster ID ASM knows the cluster by\n  \
         --> migration.yaml:26:13\n   |\n26 |     - name: sh\n   |             ^\nhelp: add `clusterId: c<32 \
         hexadecimal digits>` to the cluster: the ASM console lists it on the instance's Cluster & Workload Management \
         page, and `aliyun cs GET /api/v1/clusters` prints each cluster's cluster_id\n"
    );
    assert_eq!(repo.commit_count(), commits, "nothing committed");
}

/// Point 2: a cluster ID has ACK's shape, `c` and 32 lowercase hexadecimal digits; the plan's name is refused.
#[test]
fn issue_8_a_cluster_id_has_the_shape_of_an_ack_cluster_id() {
    for id in [
        "sh",
        "C89C4EC9F6B3F1086B158D8EF03DFE815",
        "c89c4ec9f6b3f1086b158d8ef03dfe81",
        "c89c4ec9f6b3f1086b158d8ef03dfe815a",
    ] {
        let repo = Repo::fixture("shop")
            .edited("migration.yaml", "c89c4ec9f6b3f1086b158d8ef03dfe815", id)
            .committed("a cluster ID of another shape");
        let run = repo.run(&["validate"]).failure(2);
        assert!(
            run.stderr.starts_with(&format!(
                "error: clusterId `{id}` is not an ACK cluster ID: ASM knows clusters by IDs like \
                 c75918e3f2d4a4b3c8e1a0f5d6b7c8d9e (`c` and 32 lowercase hexadecimal digits)"
            )),
            "{id}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("--> migration.yaml:29:18\n"), "{id}: {}", run.stderr);
    }
}

/// Point 2: a cluster no ASM gateway runs in needs no ID (the bookinfo plan's one cluster has one; a plan
/// without egress or ingress entries renders no IstioGateway at all).
#[test]
fn issue_8_a_cluster_without_asm_gateways_needs_no_id() {
    let repo = Repo::fixture("shop");
    let plan = repo.read("migration.yaml");
    let without = plan[..plan.find("  egress:\n").expect("an egress section")]
        .replace("      clusterId: c89c4ec9f6b3f1086b158d8ef03dfe815\n", "");
    let repo = repo.edited("migration.yaml", &plan, &without).committed("no gateways, no IDs");
    repo.run(&["validate"]).success();
    repo.apply("init");
}

/// The labels a pod of ASM's gateway `name` carries: ASM's own (`istio: <name>`, `app: istio-<name>`) and the
/// IstioGateway's `podLabels`.
fn asm_gateway_pod_labels(gateway: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    let name = gateway["metadata"]["name"].as_str().expect("a name");
    let mut labels = std::collections::BTreeMap::from([
        ("istio".to_owned(), name.to_owned()),
        ("app".to_owned(), format!("istio-{name}")),
    ]);
    for (key, value) in gateway["spec"]["podLabels"].as_object().into_iter().flatten() {
        labels.insert(key.clone(), value.as_str().expect("a label value").to_owned());
    }
    labels
}

/// Point 3: an ASM ingress gateway whose pods match no Gateway serves nothing. The IstioGateway carries the pod
/// labels that make the Gateways Istio's ingress gateway serves select its pods too, and says how it is reached.
#[test]
fn issue_8_the_asm_ingress_gateway_serves_the_gateways_istios_serves() {
    let repo = Repo::fixture("shop").at("migrating");
    let asm = repo.kustomize("gitops/asm-migration/asm");
    let gateway = asm.get("IstioGateway", Some("istio-system"), "ingressgateway-asm");
    assert_eq!(gateway["spec"]["serviceType"], "LoadBalancer");
    assert_eq!(gateway["spec"]["ports"], serde_json::json!([{"name": "http", "port": 80, "targetPort": 80}]));
    let pod_labels = asm_gateway_pod_labels(gateway);
    let hz = repo.kustomize("clusters/hz");
    let storefront = hz.get("Gateway", Some("storefront"), "storefront-gateway");
    for (key, value) in storefront["spec"]["selector"].as_object().expect("a selector") {
        assert_eq!(pod_labels.get(key).map(String::as_str), value.as_str(), "the Gateway selects ASM's pods: {key}");
    }
    let egress = asm.get("IstioGateway", Some("istio-system"), "asm-egressgateway");
    assert_eq!(egress["spec"]["serviceType"], "ClusterIP", "the egress gateway is reached from the mesh only");
    let body = repo.git(&["log", "-1", "--format=%b"]);
    assert!(
        body.contains("ingressgateway-asm (ingress, serving Gateway storefront/storefront-gateway)"),
        "the effects say which Gateways it serves: {body}"
    );
}

/// Point 3: Istio's ingress gateway pods labelled otherwise are named in the plan, and the Gateways that select
/// them are the ones served; `serviceType` is the plan's.
#[test]
fn issue_8_istios_ingress_gateway_labels_and_the_service_type_come_from_the_plan() {
    let repo = Repo::fixture("shop")
        .edited("apps/storefront/ingress.yaml", "    istio: ingressgateway\n", "    gateway: public-edge\n")
        .edited(
            "migration.yaml",
            "      ports: [{name: http, port: 80, targetPort: 80}]\n",
            "      ports: [{name: http, port: 80, targetPort: 80}]\n      serviceType: NodePort\n      \
             istioGatewayLabels: {gateway: public-edge}\n",
        )
        .committed("Istio's ingress gateway pods are labelled gateway: public-edge");
    repo.apply_through("migrating");
    let asm = repo.kustomize("gitops/asm-migration/asm");
    let gateway = asm.get("IstioGateway", Some("istio-system"), "ingressgateway-asm");
    assert_eq!(gateway["spec"]["serviceType"], "NodePort");
    assert_eq!(gateway["spec"]["podLabels"], serde_json::json!({"gateway": "public-edge"}));
}

/// Point 3: an ingress whose gateway would serve no Gateway is an error naming the ingress, before anything is
/// written.
#[test]
fn issue_8_an_ingress_that_would_serve_no_gateway_is_refused() {
    let repo = Repo::fixture("shop")
        .edited("apps/storefront/ingress.yaml", "    istio: ingressgateway\n", "    istio: edge\n")
        .committed("the storefront's Gateway selects another gateway");
    let commits = repo.commit_count();
    let run = repo.run(&["apply", "--step", "init", "--commit"]).failure(2);
    assert!(
        run.stderr.starts_with(
            "error: ingress `public`: no Gateway of the cluster sources selects the pods of Istio's ingress gateway \
             (app: istio-ingressgateway, istio: ingressgateway), so ASM's gateway ingressgateway-asm would serve \
             nothing and moving traffic to it would drop it\n  --> migration.yaml:"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("|     - name: public\n"), "{}", run.stderr);
    assert_eq!(repo.commit_count(), commits);
}

/// Point 3: every Gateway on Istio's ingress gateway is served, each selector's labels in the pod labels; a label
/// of Istio's pods that no Gateway selects by is not copied.
#[test]
fn issue_8_every_gateway_on_istios_ingress_gateway_is_served() {
    let second = "---\napiVersion: networking.istio.io/v1beta1\nkind: Gateway\nmetadata:\n  name: admin-gateway\nspec:\n  \
                  selector:\n    app: istio-ingressgateway\n    istio: ingressgateway\n  servers:\n    - port: {number: 8080, \
                  name: admin, protocol: HTTP}\n      hosts: [admin.example.com]\n";
    let repo = Repo::fixture("shop");
    let text = repo.read("apps/storefront/ingress.yaml");
    let repo = repo
        .edited("apps/storefront/ingress.yaml", &text, &format!("{text}{second}"))
        .edited(
            "migration.yaml",
            "      ports: [{name: http, port: 80, targetPort: 80}]\n",
            "      ports: [{name: http, port: 80, targetPort: 80}]\n      \
             istioGatewayLabels: {app: istio-ingressgateway, istio: ingressgateway, tier: edge}\n",
        )
        .committed("a second Gateway on Istio's ingress gateway");
    repo.apply_through("migrating");
    let asm = repo.kustomize("gitops/asm-migration/asm");
    let gateway = asm.get("IstioGateway", Some("istio-system"), "ingressgateway-asm");
    assert_eq!(
        gateway["spec"]["podLabels"],
        serde_json::json!({"app": "istio-ingressgateway", "istio": "ingressgateway"})
    );
    let body = repo.git(&["log", "-1", "--format=%b"]);
    assert!(body.contains("serving Gateway storefront/admin-gateway, storefront/storefront-gateway)"), "{body}");
}

/// The shop with ASM switched to `phase`, every workload on ASM (istio-system's on Istio's proxy) and ASM's
/// gateways rolled out and reachable (their pods carry a container named istio-proxy); in hz, Istio's east-west
/// gateway still runs.
fn world_on_asm(phase: &'static str) -> World {
    World::shop()
        .switched(phase)
        .every_workload(|workload| {
            workload.xds_agent = true;
            workload.on_asm = workload.namespace != "istio-system";
        })
        .with_asm_gateways(&["asm-egressgateway", "ingressgateway-asm"])
}

/// Point 4: ASM's gateway pods do not count as Istio proxies left; Istio's own gateways are named; a pod outside
/// the plan on Istio's proxy is listed, never ignored. From fake API servers and from a snapshot alike.
#[test]
fn issue_8_the_finished_gate_knows_asms_pods_and_names_istios_gateways() {
    let repo = Repo::fixture("shop").at("finished");
    for via in [Via::Snapshot, Via::Live] {
        let mut world = world_on_asm("Finished");
        world.clusters.get_mut("sh").expect("sh").push(FakeWorkload::injected("Deployment", "legacy", "batch", 1));
        let (run, _) = observe(&repo, &world, via, &["status"]);
        let run = run.failure(1);
        assert!(
            run.stdout.contains(
                "no Istio proxy left  unmet  3 pod(s) still run Istio's proxy: hz: istio-system/istio-eastwestgateway-5d8f7c-0 (Istio's \
                 gateway istio-system/istio-eastwestgateway still runs), hz: istio-system/istio-eastwestgateway-5d8f7c-1 \
                 (Istio's gateway istio-system/istio-eastwestgateway still runs), sh: legacy/batch-5d8f7c-0 \
                 (Deployment/legacy/batch, outside the plan)\n"
            ),
            "{}",
            run.stdout
        );
        assert!(!run.stdout.contains("istio-asm-egressgateway"), "ASM's gateway pods are ASM's: {}", run.stdout);
    }
    let mut world = world_on_asm("Finished");
    world.clusters.get_mut("hz").expect("hz").retain(|workload| workload.name != "istio-eastwestgateway");
    let (run, _) = observe(&repo, &world, Via::Live, &["status"]);
    assert!(run.success().stdout.contains("no Istio proxy left  met\n"));
}

/// Point 4: ASM's gateway pods do not count as missing PROXY_CONFIG_XDS_AGENT at `setup`.
#[test]
fn issue_8_the_setup_gate_does_not_count_asms_gateway_pods() {
    let repo = Repo::fixture("shop").at("setup");
    let world = World::shop()
        .switched("SetupIstioForMigrate")
        .every_workload(|workload| workload.xds_agent = true)
        .with_asm_gateways(&["asm-egressgateway", "ingressgateway-asm"]);
    let (run, _) = observe(&repo, &world, Via::Snapshot, &["status"]);
    let run = run.success();
    assert!(run.stdout.contains("proxies carry PROXY_CONFIG_XDS_AGENT"), "{}", run.stdout);
    assert!(!run.stdout.contains("istio-asm-egressgateway"), "{}", run.stdout);
}

/// Point 4: the pods of ASM's own components, which ASM's documentation does not name, are named in the plan
/// (`asm.ownWorkloads`) and no longer counted.
#[test]
fn issue_8_asms_own_components_are_named_in_the_plan() {
    let repo = Repo::fixture("shop").at("finished");
    let mut world = world_on_asm("Finished");
    world.clusters.get_mut("hz").expect("hz").retain(|workload| workload.name != "istio-eastwestgateway");
    let mut agent = FakeWorkload::injected("Deployment", "asm-system", "asm-agent", 1);
    agent.proxy_image = Some(crate::fake::ASM_PROXY);
    world.clusters.get_mut("hz").expect("hz").push(agent);
    let (run, _) = observe(&repo, &world, Via::Snapshot, &["status"]);
    assert!(
        run.failure(1)
            .stdout
            .contains("hz: asm-system/asm-agent-5d8f7c-0 (Deployment/asm-system/asm-agent, outside the plan)"),
        "listed until the plan says it is ASM's"
    );
    let repo = repo
        .edited(
            "migration.yaml",
            "    context: asm-prod\n",
            "    context: asm-prod\n    ownWorkloads: [asm-system/asm-agent]\n",
        )
        .committed("asm-agent is ASM's");
    let (run, _) = observe(&repo, &world, Via::Snapshot, &["status"]);
    assert!(run.success().stdout.contains("no Istio proxy left  met\n"));
}

/// Point 5: an egress step is done when the engine has applied its weights in every cluster (the live
/// VirtualService says so) and ASM's egress gateway is rolled out; from fake API servers and a snapshot alike.
#[test]
fn issue_8_an_egress_step_is_done_when_the_live_virtualservice_carries_its_weights() {
    let repo = Repo::fixture("shop").at("egress/stripe/10");
    for via in [Via::Snapshot, Via::Live] {
        let (run, _) = observe(&repo, &world_on_asm("Migrating").with_stripe_weight(1), via, &["status"]);
        let run = run.failure(1);
        assert!(
            run.stdout.contains(
                "VirtualService weights applied  unmet  2 VirtualService(s) without the step's weights: hz: \
                 payments/stripe-through-egress-gateway sends 1% to \
                 istio-asm-egressgateway.istio-system.svc.cluster.local, the step 10% (not applied yet), sh: \
                 payments/stripe-through-egress-gateway sends 1% to \
                 istio-asm-egressgateway.istio-system.svc.cluster.local, the step 10% (not applied yet)\n"
            ),
            "{}",
            run.stdout
        );
    }
    for via in [Via::Snapshot, Via::Live] {
        let (run, _) = observe(&repo, &world_on_asm("Migrating").with_stripe_weight(10), via, &["status"]);
        let run = run.success();
        assert!(run.stdout.contains("VirtualService weights applied  met\n"), "{}", run.stdout);
        assert!(run.stdout.contains("ASM gateway rolled out          met\n"), "{}", run.stdout);
    }
    let mut world = world_on_asm("Migrating").with_stripe_weight(10);
    world.clusters.get_mut("sh").expect("sh").retain(|workload| workload.name != "istio-asm-egressgateway");
    let (run, _) = observe(&repo, &world, Via::Live, &["status"]);
    assert!(
        run.failure(1).stdout.contains("sh: istio-system/istio-asm-egressgateway (not found)"),
        "the egress gateway is rolled out where traffic goes"
    );
}

/// Point 5: the ingress step asks for its confirmation only once ASM's ingress gateway is rolled out and its
/// Service has an address, and the question says where DNS goes.
#[test]
fn issue_8_the_ingress_confirmation_is_asked_once_the_gateway_has_an_address() {
    let repo = Repo::fixture("shop").at("ingress/public");
    let mut world = world_on_asm("Migrating");
    for services in world.services.values_mut() {
        for service in services.iter_mut() {
            service["status"] = serde_json::json!({"loadBalancer": {}});
        }
    }
    for via in [Via::Snapshot, Via::Live] {
        let (run, _) = observe(&repo, &world, via, &["status"]);
        let run = run.failure(1);
        assert!(
            run.stdout.contains(&format!(
                "{:35}  unmet  2 ASM gateway Service(s) without an address: hz: istio-system/istio-ingressgateway-asm \
                 (no address yet), sh: istio-system/istio-ingressgateway-asm (no address yet)\n",
                "ASM gateway has an address"
            )),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.contains(&format!(
                "{:35}  unmet  asked for once ASM's ingress gateway is rolled out and has an address\n",
                "confirmed"
            )),
            "{}",
            run.stdout
        );
    }
    for via in [Via::Snapshot, Via::Live] {
        let (run, _) = observe(&repo, &world_on_asm("Migrating"), via, &["status"]);
        let run = run.success();
        assert!(
            run.stdout.contains(
                "no API shows that traffic of ingress public moved to ASM's ingress gateway (hz: 203.0.113.1, sh: \
                 203.0.113.2) by DNS or load-balancer weights: confirm it with `asm-migrate advance --confirm \
                 ingress/public`\n"
            ),
            "{}",
            run.stdout
        );
    }
}

/// Point 5, Synced: where the plan names the Argo CD Applications that apply each cluster's source and `asm/`,
/// every gate first checks that they applied the commit that rendered the current step.
#[test]
fn issue_8_gates_wait_until_the_engine_applied_the_steps_commit() {
    let repo = Repo::fixture("shop")
        .edited(
            "migration.yaml",
            "    context: asm-prod\n",
            "    context: asm-prod\n    syncedBy: {namespace: argocd, name: asm, context: ack-hz}\n",
        )
        .edited(
            "migration.yaml",
            "      source: clusters/hz\n",
            "      source: clusters/hz\n      syncedBy: {namespace: argocd, name: shop-hz}\n",
        )
        .edited(
            "migration.yaml",
            "      source: clusters/sh\n",
            "      source: clusters/sh\n      syncedBy: {namespace: argocd, name: shop-sh}\n",
        )
        .committed("the Applications that apply the migration")
        .at("setup");
    let setup = repo.git(&["rev-parse", "HEAD"]).trim().to_owned();
    let before = repo.git(&["rev-parse", "HEAD~1"]).trim().to_owned();
    let synced_line =
        |stdout: &str| stdout.lines().find(|line| line.starts_with("synced ")).unwrap_or_default().to_owned();
    let world_at = |revision: &str| {
        World::shop()
            .switched("SetupIstioForMigrate")
            .every_workload(|workload| workload.xds_agent = true)
            .with_application("hz", "asm", &setup)
            .with_application("hz", "shop-hz", revision)
            .with_application("sh", "shop-sh", &setup)
    };
    let snapshot_of = |world: &World| {
        let dir = tempfile::tempdir().expect("a directory");
        world.write_snapshot(dir.path());
        for (file, cluster, index) in [
            ("asm/synced-by.yaml", "hz", 0),
            ("clusters/hz/synced-by.yaml", "hz", 1),
            ("clusters/sh/synced-by.yaml", "sh", 0),
        ] {
            let application = &world.applications[cluster][index];
            std::fs::write(dir.path().join(file), serde_saphyr::to_string(application).expect("YAML"))
                .expect("written");
        }
        dir
    };
    let behind = world_at(&before);
    let (live, fake) = observe(&repo, &behind, Via::Live, &["status"]);
    let dir = snapshot_of(&behind);
    let from_snapshot = repo.run(&["status", "--snapshot", dir.path().to_str().expect("UTF-8")]);
    for run in [live.failure(1), from_snapshot.failure(1)] {
        assert!(
            synced_line(&run.stdout).ends_with(&format!(
                "  unmet  1 not synced yet with {} (setup): Application argocd/shop-hz is at {}",
                &setup[..12],
                &before[..12]
            )),
            "{}",
            run.stdout
        );
    }
    assert_eq!(fake.expect("live").writes(), Vec::<String>::new(), "only reads");
    let unknown = "0123456789abcdef0123456789abcdef01234567";
    let (run, _) = observe(&repo, &world_at(unknown), Via::Live, &["status"]);
    assert!(
        run.failure(1).stdout.contains(
            "Application argocd/shop-hz is at 0123456789ab, a commit this repository does not have (git fetch?)"
        ),
        "an unknown revision is said"
    );
    let (run, _) = observe(&repo, &world_at(&setup), Via::Live, &["status"]);
    assert!(synced_line(&run.success().stdout).ends_with("  met"));
    let (run, _) = observe(&repo, &world_at(&setup), Via::Live, &["advance", "--commit"]);
    run.success();
    assert_eq!(repo.head_subject(), "asm-migrate(shop-prod): migrating (3/12)");
}

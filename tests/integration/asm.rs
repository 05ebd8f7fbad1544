//! Issue 8: the objects asm-migrate renders name what ASM really creates (gateway Services, cluster IDs, the
//! Gateways an ingress gateway serves), and the gates know ASM's own pods.

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

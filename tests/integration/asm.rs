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

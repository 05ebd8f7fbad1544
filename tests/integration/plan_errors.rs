//! `validate` on the shop plan with one thing wrong: exit 2, the exact diagnostic, the repository untouched.

use crate::support::Repo;

/// The last line of the shop plan, after which the step-order tests add an explicit `steps:` list.
const LAST_LINE: &str = "      ports: [{name: http, port: 80, targetPort: 80}]\n";

/// The shop plan's steps in their default order.
const DEFAULT_STEPS: [&str; 12] = [
    "init",
    "setup",
    "migrating",
    "wave/canary",
    "wave/payments",
    "wave/rest",
    "egress/stripe/1",
    "egress/stripe/10",
    "egress/stripe/50",
    "egress/stripe/100",
    "ingress/public",
    "finished",
];

/// The shop plan with each `(from, to)` replaced (each `from` must occur exactly once), committed.
fn shop_with(replacements: &[(&str, &str)]) -> Repo {
    let edited =
        replacements.iter().fold(Repo::fixture("shop"), |repo, (from, to)| repo.edited("migration.yaml", from, to));
    edited.committed("bad plan")
}

/// Runs `validate` on the shop plan with the replacements; checks exit 2, an empty stdout and a clean
/// repository, and returns stderr.
#[track_caller]
fn validate_stderr(replacements: &[(&str, &str)]) -> String {
    let repo = shop_with(replacements);
    let run = repo.run(&["validate"]).failure(2);
    assert_eq!(run.stdout, "", "nothing on stdout");
    assert_eq!(repo.git(&["status", "--porcelain"]), "", "validate leaves the repository untouched");
    run.stderr
}

/// The replacement that appends an explicit `steps:` list (block style) to the shop plan.
fn with_steps(steps: &[&str]) -> (&'static str, String) {
    let list: String = steps.iter().map(|step| format!("    - {step}\n")).collect();
    (LAST_LINE, format!("{LAST_LINE}  steps:\n{list}"))
}

#[track_caller]
fn steps_stderr(steps: &[&str]) -> String {
    let (from, to) = with_steps(steps);
    validate_stderr(&[(from, &to)])
}

#[test]
fn the_default_order_written_out_is_valid() {
    let (from, to) = with_steps(&DEFAULT_STEPS);
    let repo = shop_with(&[(from, &to)]);
    let run = repo.run(&["validate"]).success();
    assert!(run.stdout.starts_with("plan shop-prod is valid: 2 cluster(s), "), "{}", run.stdout);
    assert!(run.stdout.contains(", 12 step(s)\n"), "{}", run.stdout);
}

#[test]
fn unknown_field() {
    assert_eq!(
        validate_stderr(&[("      eastWestGateway: true\n", "      eastWestGateways: true\n")]),
        concat!(
            "error: unknown field `eastWestGateways`, expected one of name, context, network, eastWestGateway, source, clusterId, includeComponent, includeAs, unseen, syncedBy\n",
            "  --> migration.yaml:24:7\n",
            "   |\n",
            "24 |       eastWestGateways: true\n",
            "   |       ^\n",
        )
    );
}

#[test]
fn wrong_api_version() {
    assert_eq!(
        validate_stderr(&[("apiVersion: asm-migrate/v1alpha1", "apiVersion: asm-migrate/v1")]),
        concat!(
            "error: unsupported apiVersion `asm-migrate/v1`: expected `asm-migrate/v1alpha1`\n",
            " --> migration.yaml:4:13\n",
            "  |\n",
            "4 | apiVersion: asm-migrate/v1\n",
            "  |             ^\n",
        )
    );
}

#[test]
fn wrong_kind() {
    assert_eq!(
        validate_stderr(&[("kind: MigrationPlan", "kind: Plan")]),
        concat!(
            "error: unsupported kind `Plan`: expected `MigrationPlan`\n",
            " --> migration.yaml:5:7\n",
            "  |\n",
            "5 | kind: Plan\n",
            "  |       ^\n",
        )
    );
}

#[test]
fn plan_name_not_a_dns_label() {
    assert_eq!(
        validate_stderr(&[("name: shop-prod", "name: Shop_Prod")]),
        concat!(
            "error: plan name `Shop_Prod` is not a DNS-1123 label: use only lower-case letters, digits and '-'\n",
            " --> migration.yaml:7:9\n",
            "  |\n",
            "7 |   name: Shop_Prod\n",
            "  |         ^\n",
        )
    );
}

#[test]
fn cluster_name_not_a_dns_label() {
    assert_eq!(
        validate_stderr(&[("    - name: sh\n", "    - name: sh_2\n")]),
        concat!(
            "error: cluster name `sh_2` is not a DNS-1123 label: use only lower-case letters, digits and '-'\n",
            "  --> migration.yaml:26:13\n",
            "   |\n",
            "26 |     - name: sh_2\n",
            "   |             ^\n",
        )
    );
}

#[test]
fn wave_name_not_a_dns_label() {
    assert_eq!(
        validate_stderr(&[("    - name: rest\n", "    - name: Rest\n")]),
        concat!(
            "error: wave name `Rest` is not a DNS-1123 label: use only lower-case letters, digits and '-'\n",
            "  --> migration.yaml:37:13\n",
            "   |\n",
            "37 |     - name: Rest\n",
            "   |             ^\n",
        )
    );
}

#[test]
fn duplicate_cluster() {
    assert_eq!(
        validate_stderr(&[("    - name: sh\n", "    - name: hz\n")]),
        concat!(
            "error: duplicate cluster `hz`\n",
            "  --> migration.yaml:26:13\n",
            "   |\n",
            "26 |     - name: hz\n",
            "   |             ^\n",
        )
    );
}

#[test]
fn duplicate_wave() {
    assert_eq!(
        validate_stderr(&[("    - name: rest\n", "    - name: payments\n")]),
        concat!(
            "error: duplicate wave `payments`\n",
            "  --> migration.yaml:37:13\n",
            "   |\n",
            "37 |     - name: payments\n",
            "   |             ^\n",
        )
    );
}

#[test]
fn weights_not_strictly_increasing() {
    assert_eq!(
        validate_stderr(&[("weights: [1, 10, 50, 100]", "weights: [1, 50, 10, 100]")]),
        concat!(
            "error: weight 10 is not greater than 50, the weight before it: weights must be strictly increasing\n",
            "  --> migration.yaml:43:24\n",
            "   |\n",
            "43 |       weights: [1, 50, 10, 100]\n",
            "   |                        ^\n",
        )
    );
}

#[test]
fn weight_zero() {
    assert_eq!(
        validate_stderr(&[("weights: [1, 10, 50, 100]", "weights: [0, 10, 50, 100]")]),
        concat!(
            "error: weight 0 is outside 1..100\n",
            "  --> migration.yaml:43:17\n",
            "   |\n",
            "43 |       weights: [0, 10, 50, 100]\n",
            "   |                 ^\n",
        )
    );
}

#[test]
fn weight_above_100() {
    // One mistake, one diagnostic: out of range says it all, though it is also not 100.
    assert_eq!(
        validate_stderr(&[("weights: [1, 10, 50, 100]", "weights: [1, 10, 50, 101]")]),
        concat!(
            "error: weight 101 is outside 1..100\n",
            "  --> migration.yaml:43:28\n",
            "   |\n",
            "43 |       weights: [1, 10, 50, 101]\n",
            "   |                            ^\n",
        )
    );
}

#[test]
fn weights_not_ending_at_100() {
    assert_eq!(
        validate_stderr(&[("weights: [1, 10, 50, 100]", "weights: [1, 10, 50]")]),
        concat!(
            "error: the last weight is 50: it must be 100, so that all egress traffic ends on ASM\n",
            "  --> migration.yaml:43:24\n",
            "   |\n",
            "43 |       weights: [1, 10, 50]\n",
            "   |                        ^\n",
        )
    );
}

#[test]
fn wave_names_an_unknown_cluster() {
    assert_eq!(
        validate_stderr(&[("clusters: [hz]", "clusters: [bj]")]),
        concat!(
            "error: wave `canary` names cluster `bj`, which the plan does not define\n",
            "  --> migration.yaml:33:18\n",
            "   |\n",
            "33 |       clusters: [bj]\n",
            "   |                  ^\n",
        )
    );
}

#[test]
fn wave_workload_not_in_the_repository() {
    assert_eq!(
        validate_stderr(&[("workloads: [payments/api]", "workloads: [payments/gone]")]),
        concat!(
            "error: wave `canary`: no cluster source of the wave defines Deployment/payments/gone\n",
            "  --> migration.yaml:34:19\n",
            "   |\n",
            "34 |       workloads: [payments/gone]\n",
            "   |                   ^\n",
        )
    );
}

#[test]
fn wave_workload_not_istio_injected() {
    assert_eq!(
        validate_stderr(&[("workloads: [payments/api]", "workloads: [tools/batch]")]),
        concat!(
            "error: wave `canary`: Deployment/tools/batch is not Istio-injected, so there is nothing to move to ASM\n",
            "  --> migration.yaml:34:19\n",
            "   |\n",
            "34 |       workloads: [tools/batch]\n",
            "   |                   ^\n",
        )
    );
}

#[test]
fn egress_virtual_service_not_in_the_repository() {
    assert_eq!(
        validate_stderr(&[("payments/stripe-through-egress-gateway", "payments/no-such-route")]),
        concat!(
            "error: egress `stripe`: no cluster source defines VirtualService payments/no-such-route\n",
            "  --> migration.yaml:41:23\n",
            "   |\n",
            "41 |       virtualService: payments/no-such-route\n",
            "   |                       ^\n",
        )
    );
}

#[test]
fn mesh_config_path_missing() {
    assert_eq!(
        validate_stderr(&[("path: infra/istio/operator.yaml", "path: infra/istio/missing.yaml")]),
        concat!(
            "error: meshConfig.path `infra/istio/missing.yaml` does not exist\n",
            "  --> migration.yaml:17:13\n",
            "   |\n",
            "17 |       path: infra/istio/missing.yaml\n",
            "   |             ^\n",
        )
    );
}

#[test]
fn install_path_missing() {
    assert_eq!(
        validate_stderr(&[("[infra/istio, infra/istio-eastwest]", "[infra/istio, infra/istio-gone]")]),
        concat!(
            "error: install path `infra/istio-gone` does not exist\n",
            "  --> migration.yaml:18:33\n",
            "   |\n",
            "18 |     installPaths: [infra/istio, infra/istio-gone]\n",
            "   |                                 ^\n",
        )
    );
}

#[test]
fn cluster_source_without_kustomization() {
    assert_eq!(
        validate_stderr(&[("source: clusters/sh", "source: apps")]),
        concat!(
            "error: cluster `sh`: `apps` has no kustomization.yaml\n",
            "  --> migration.yaml:30:15\n",
            "   |\n",
            "30 |       source: apps\n",
            "   |               ^\n",
        )
    );
}

#[test]
fn steps_out_of_order() {
    let mut steps = DEFAULT_STEPS;
    steps.swap(0, 1); // setup before init
    assert_eq!(
        steps_stderr(&steps),
        concat!(
            "error: step `init` cannot come after `setup`: the order is init, setup, migrating, then waves, egress and ingress, then finished\n",
            "  --> migration.yaml:50:7\n",
            "   |\n",
            "50 |     - init\n",
            "   |       ^\n",
        )
    );
}

#[test]
fn step_listed_twice() {
    let mut steps = DEFAULT_STEPS.to_vec();
    steps.insert(3, "migrating");
    assert_eq!(
        steps_stderr(&steps),
        concat!(
            "error: step `migrating` is listed twice\n",
            "  --> migration.yaml:52:7\n",
            "   |\n",
            "52 |     - migrating\n",
            "   |       ^\n",
        )
    );
}

#[test]
fn unknown_step() {
    let mut steps = DEFAULT_STEPS.to_vec();
    steps.insert(6, "wave/late");
    assert_eq!(
        steps_stderr(&steps),
        concat!(
            "error: unknown step `wave/late`: `asm-migrate steps` lists the plan's steps\n",
            "  --> migration.yaml:55:7\n",
            "   |\n",
            "55 |     - wave/late\n",
            "   |       ^\n",
        )
    );
}

#[test]
fn steps_left_out() {
    let steps: Vec<&str> = DEFAULT_STEPS.into_iter().filter(|step| !step.starts_with("egress/")).collect();
    assert_eq!(
        steps_stderr(&steps),
        concat!(
            "error: the explicit step order leaves out egress/stripe/1, egress/stripe/10, egress/stripe/50, egress/stripe/100: list every step once\n",
            "  --> migration.yaml:49:7\n",
            "   |\n",
            "49 |     - init\n",
            "   |       ^\n",
        )
    );
}

#[test]
fn istio_older_than_1_10() {
    assert_eq!(
        validate_stderr(&[("version: \"1.22.3\"", "version: \"1.9.5\"")]),
        concat!(
            "error: Istio 1.9.5 is older than 1.10, the oldest version ASM can migrate from: upgrade Istio first\n",
            "  --> migration.yaml:14:14\n",
            "   |\n",
            "14 |     version: \"1.9.5\"\n",
            "   |              ^\n",
        )
    );
}

#[test]
fn istio_version_not_a_version() {
    assert_eq!(
        validate_stderr(&[("version: \"1.22.3\"", "version: latest")]),
        concat!(
            "error: `latest` is not an Istio version such as \"1.22.3\"\n",
            "  --> migration.yaml:14:14\n",
            "   |\n",
            "14 |     version: latest\n",
            "   |              ^\n",
        )
    );
}

#[test]
fn yaml_syntax_error() {
    // An unclosed `[` on the last line. (An unclosed `[` with more lines after it is reported at a later `:`
    // as "illegal placement of ':' indicator", not at the `[`; not pinned.)
    let (from, to) = (LAST_LINE, "      ports: [{name: http, port: 80, targetPort: 80}\n");
    assert_eq!(
        validate_stderr(&[(from, to)]),
        concat!(
            "error: unclosed bracket '['\n",
            "  --> migration.yaml:47:14\n",
            "   |\n",
            "47 |       ports: [{name: http, port: 80, targetPort: 80}\n",
            "   |              ^\n",
        )
    );
}

#[test]
fn unknown_engine() {
    assert_eq!(
        validate_stderr(&[("engine: argocd", "engine: jenkins")]),
        concat!(
            "error: unknown engine `jenkins`: expected `argocd` or `flux`\n",
            " --> migration.yaml:9:11\n",
            "  |\n",
            "9 |   engine: jenkins\n",
            "  |           ^\n",
        )
    );
}

#[test]
fn output_leaves_the_repository() {
    assert_eq!(
        validate_stderr(&[("output: gitops/asm-migration", "output: ../out")]),
        concat!(
            "error: output `../out` leaves the repository\n",
            "  --> migration.yaml:10:11\n",
            "   |\n",
            "10 |   output: ../out\n",
            "   |           ^\n",
        )
    );
}

#[test]
fn output_absolute() {
    assert_eq!(
        validate_stderr(&[("output: gitops/asm-migration", "output: /tmp/out")]),
        concat!(
            "error: output `/tmp/out` is absolute: write it relative to the repository root\n",
            "  --> migration.yaml:10:11\n",
            "   |\n",
            "10 |   output: /tmp/out\n",
            "   |           ^\n",
        )
    );
}

#[test]
fn two_problems_give_two_diagnostics() {
    assert_eq!(
        validate_stderr(&[("name: shop-prod", "name: Shop_Prod"), ("engine: argocd", "engine: jenkins")]),
        concat!(
            "error: plan name `Shop_Prod` is not a DNS-1123 label: use only lower-case letters, digits and '-'\n",
            " --> migration.yaml:7:9\n",
            "  |\n",
            "7 |   name: Shop_Prod\n",
            "  |         ^\n",
            "\n",
            "error: unknown engine `jenkins`: expected `argocd` or `flux`\n",
            " --> migration.yaml:9:11\n",
            "  |\n",
            "9 |   engine: jenkins\n",
            "  |           ^\n",
        )
    );
}

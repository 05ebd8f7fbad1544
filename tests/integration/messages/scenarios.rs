//! The scenarios that make the real binary print the messages no other test shows: one repository (the shop
//! fixture with one thing wrong), one command, its golden file in `fixtures/golden/messages/<name>.txt`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;

use serde_json::{json, Value};

use super::Case;
use crate::fake::{FakeWorld, Serving, World};
use crate::support::{make_executable, Origin, Repo};

/// One message, shown: its name (of the golden file), what is wrong in words, and the run that says it.
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub setup: fn() -> Case,
}

pub fn all() -> impl Iterator<Item = &'static Scenario> {
    PLAN.iter().chain(REPOSITORY).chain(COMMANDS).chain(GIT).chain(CLUSTERS)
}

// ---- The plan ----

fn shop() -> Repo {
    Repo::fixture("shop")
}

/// The shop fixture with `from` replaced by `to` in each file (once each), committed.
fn shop_with(edits: &[(&str, &str, &str)]) -> Repo {
    edits.iter().fold(shop(), |repo, (file, from, to)| repo.edited(file, from, to)).committed("the scenario")
}

/// The shop fixture with its plan edited, committed.
fn plan_with(edits: &[(&str, &str)]) -> Repo {
    let edits: Vec<(&str, &str, &str)> = edits.iter().map(|(from, to)| ("migration.yaml", *from, *to)).collect();
    shop_with(&edits)
}

fn validate(repo: Repo) -> Case {
    Case::new(repo, &["validate"])
}

/// The plan, as `validate` reads it.
pub static PLAN: &[Scenario] = &[
    Scenario {
        name: "plan-empty",
        about: "the plan holds nothing but a comment",
        setup: || {
            let repo = shop();
            repo.write("migration.yaml", "# the migration, to be written\n\n");
            validate(repo.committed("an empty plan"))
        },
    },
    Scenario {
        name: "plan-with-a-decision-left",
        about: "a `# decide:` line that init wrote is still in the plan",
        setup: || {
            validate(plan_with(&[(
                "      network: network-2\n",
                "      # decide: the network Istio uses for cluster sh\n      # network: network-1\n",
            )]))
        },
    },
    Scenario {
        name: "plan-indented-with-a-tab",
        about: "a line of the plan is indented with a tab",
        setup: || validate(plan_with(&[("  engine: argocd", "\tengine: argocd")])),
    },
    Scenario {
        name: "plan-with-crlf-line-endings",
        about: "a plan written on Windows (CRLF line endings) with an unknown field: the position is still right",
        setup: || {
            let repo = shop();
            let plan = repo.read("migration.yaml").replace("  engine: argocd\n", "  engine: argocd\n  engines: 2\n");
            repo.write("migration.yaml", &plan.replace('\n', "\r\n"));
            validate(repo.committed("CRLF"))
        },
    },
    Scenario {
        name: "plan-alias-bomb",
        about: "the plan opens with a billion-laughs alias bomb",
        setup: || {
            let repo = shop();
            let plan = repo.read("migration.yaml");
            repo.write("migration.yaml", &format!("{}{plan}", alias_bomb("x-bomb", "")));
            validate(repo.committed("a bomb"))
        },
    },
    Scenario {
        name: "include-component-false",
        about: "a cluster includes the component from its Argo CD Application or Flux Kustomization",
        setup: || {
            validate(plan_with(&[(
                "      source: clusters/hz\n",
                "      source: clusters/hz\n      includeComponent: false\n",
            )]))
        },
    },
    Scenario {
        name: "include-as-transformers",
        about: "a cluster takes asm-migrate's part as transformers, which its source does not list yet",
        setup: || {
            validate(plan_with(&[(
                "      source: clusters/hz\n",
                "      source: clusters/hz\n      includeAs: transformers\n",
            )]))
        },
    },
    Scenario {
        name: "include-as-unknown",
        about: "includeAs names no way of including",
        setup: || {
            validate(plan_with(&[(
                "      source: clusters/hz\n",
                "      source: clusters/hz\n      includeAs: patches\n",
            )]))
        },
    },
    Scenario {
        name: "include-as-transformers-from-the-engine",
        about: "includeAs: transformers with includeComponent: false, which Argo CD and Flux cannot include",
        setup: || {
            validate(plan_with(&[(
                "      source: clusters/hz\n",
                "      source: clusters/hz\n      includeComponent: false\n      includeAs: transformers\n",
            )]))
        },
    },
    Scenario {
        name: "plan-name-empty",
        about: "the plan's name is empty",
        setup: || validate(plan_with(&[("name: shop-prod", "name: \"\"")])),
    },
    Scenario {
        name: "plan-name-too-long",
        about: "the plan's name has 64 characters",
        setup: || validate(plan_with(&[("name: shop-prod", &format!("name: {}", "a".repeat(64)))])),
    },
    Scenario {
        name: "plan-name-ends-with-a-dash",
        about: "the plan's name ends with '-'",
        setup: || validate(plan_with(&[("name: shop-prod", "name: shop-")])),
    },
    Scenario {
        name: "plan-name-not-a-string",
        about: "the plan's name is a list",
        setup: || validate(plan_with(&[("name: shop-prod", "name: [shop-prod]")])),
    },
    Scenario {
        name: "no-cluster",
        about: "the plan lists no cluster",
        setup: || {
            let repo = shop();
            let plan = repo.read("migration.yaml");
            let (start, end) = (plan.find("  clusters:\n").expect("clusters"), plan.find("  waves:\n").expect("waves"));
            repo.write("migration.yaml", &format!("{}  clusters: []\n{}", &plan[..start], &plan[end..]));
            validate(repo.committed("no cluster"))
        },
    },
    Scenario {
        name: "wave-with-two-selections",
        about: "a wave selects its workloads both by list and by namespace",
        setup: || {
            validate(plan_with(&[(
                "      workloads: [payments/api]",
                "      workloads: [payments/api]\n      namespaces: [payments]",
            )]))
        },
    },
    Scenario {
        name: "wave-namespace-not-in-sources",
        about: "a wave names a namespace no cluster source has",
        setup: || validate(plan_with(&[("namespaces: [payments]", "namespaces: [billing]")])),
    },
    Scenario {
        name: "workload-kind",
        about: "a wave's workload is a Job",
        setup: || validate(plan_with(&[("workloads: [payments/api]", "workloads: [Job/payments/api]")])),
    },
    Scenario {
        name: "workload-shape",
        about: "a wave's workload has no namespace",
        setup: || validate(plan_with(&[("workloads: [payments/api]", "workloads: [api]")])),
    },
    Scenario {
        name: "workload-namespace",
        about: "a wave's workload has an upper-case namespace",
        setup: || validate(plan_with(&[("workloads: [payments/api]", "workloads: [Payments/api]")])),
    },
    Scenario {
        name: "workload-name-empty",
        about: "a wave's workload has an empty name",
        setup: || validate(plan_with(&[("workloads: [payments/api]", "workloads: [\"payments/\"]")])),
    },
    Scenario {
        name: "workload-name-edges",
        about: "a wave's workload name starts with '-'",
        setup: || validate(plan_with(&[("workloads: [payments/api]", "workloads: [payments/-api]")])),
    },
    Scenario {
        name: "workload-name-too-long",
        about: "a wave's workload name has 254 characters",
        setup: || {
            validate(plan_with(&[("workloads: [payments/api]", &format!("workloads: [payments/{}]", "a".repeat(254)))]))
        },
    },
    Scenario {
        name: "synced-by-name",
        about: "the object that syncs the ASM control plane has an upper-case name",
        setup: || {
            validate(plan_with(&[(
                "    context: asm-prod\n",
                "    context: asm-prod\n    syncedBy: {namespace: argocd, name: Asm}\n",
            )]))
        },
    },
    Scenario {
        name: "asm-api-version",
        about: "asm.apiVersion lacks its group",
        setup: || {
            validate(plan_with(&[("    context: asm-prod\n", "    context: asm-prod\n    apiVersion: v1beta1\n")]))
        },
    },
    Scenario {
        name: "asm-proxy-image-empty",
        about: "asm.proxyImage is empty",
        setup: || validate(plan_with(&[("    context: asm-prod\n", "    context: asm-prod\n    proxyImage: \"\"\n")])),
    },
    Scenario {
        name: "asm-own-workload-shape",
        about: "an asm.ownWorkloads entry has no namespace",
        setup: || {
            validate(plan_with(&[(
                "    context: asm-prod\n",
                "    context: asm-prod\n    ownWorkloads: [asm-agent]\n",
            )]))
        },
    },
    Scenario {
        name: "istio-not-1x",
        about: "the plan migrates from Istio 2.0",
        setup: || validate(plan_with(&[("version: \"1.22.3\"", "version: \"2.0\"")])),
    },
    Scenario {
        name: "mesh-config-kind-unknown",
        about: "meshConfig.kind is not one the tool edits",
        setup: || validate(plan_with(&[("kind: IstioOperator", "kind: Operator")])),
    },
    Scenario {
        name: "mesh-config-release-without-helm-values",
        about: "meshConfig.release goes with an IstioOperator",
        setup: || {
            validate(plan_with(&[(
                "path: infra/istio/operator.yaml",
                "path: infra/istio/operator.yaml\n      release: istiod",
            )]))
        },
    },
    Scenario {
        name: "output-repository-root",
        about: "the output is the repository root",
        setup: || validate(plan_with(&[("output: gitops/asm-migration", "output: .")])),
    },
    Scenario {
        name: "output-control-character",
        about: "the output holds a tab",
        setup: || validate(plan_with(&[("output: gitops/asm-migration", "output: \"gitops/asm\\tmigration\"")])),
    },
    Scenario {
        name: "output-overlaps-an-install-path",
        about: "the output is one of Istio's install paths",
        setup: || validate(plan_with(&[("output: gitops/asm-migration", "output: infra/istio-eastwest")])),
    },
    Scenario {
        name: "network-empty",
        about: "a cluster's network is empty",
        setup: || validate(plan_with(&[("network: network-2", "network: \"\"")])),
    },
    Scenario {
        name: "network-too-long",
        about: "a cluster's network has 64 characters",
        setup: || validate(plan_with(&[("network: network-2", &format!("network: {}", "n".repeat(64)))])),
    },
    Scenario {
        name: "network-ends-with-a-dash",
        about: "a cluster's network ends with '-'",
        setup: || validate(plan_with(&[("network: network-2", "network: network-")])),
    },
    Scenario {
        name: "cluster-id-missing",
        about: "a cluster that runs ASM's gateways has no clusterId",
        setup: || validate(plan_with(&[("      clusterId: c89c4ec9f6b3f1086b158d8ef03dfe815\n", "")])),
    },
    Scenario {
        name: "cluster-id-not-ack",
        about: "a clusterId is not an ACK cluster ID",
        setup: || validate(plan_with(&[("clusterId: c89c4ec9f6b3f1086b158d8ef03dfe815", "clusterId: \"12345\"")])),
    },
    Scenario {
        name: "cluster-id-a-number",
        about: "a clusterId is written as a number",
        setup: || validate(plan_with(&[("clusterId: c89c4ec9f6b3f1086b158d8ef03dfe815", "clusterId: 12345")])),
    },
    Scenario {
        name: "egress-virtual-service-shape",
        about: "an egress entry's virtualService has no namespace",
        setup: || {
            validate(plan_with(&[("virtualService: payments/stripe-through-egress-gateway", "virtualService: stripe")]))
        },
    },
    Scenario {
        name: "egress-weights-empty",
        about: "an egress entry lists no weight",
        setup: || validate(plan_with(&[("weights: [1, 10, 50, 100]", "weights: []")])),
    },
    Scenario {
        name: "egress-weights-out-of-order",
        about: "the explicit step order takes egress weight 10 before 1",
        setup: || {
            validate(plan_with(&[(
                "      ports: [{name: http, port: 80, targetPort: 80}]\n",
                "      ports: [{name: http, port: 80, targetPort: 80}]\n  steps:\n    - init\n    - setup\n    - migrating\n    - wave/canary\n    - wave/payments\n    - wave/rest\n    - egress/stripe/10\n    - egress/stripe/1\n    - egress/stripe/50\n    - egress/stripe/100\n    - ingress/public\n    - finished\n",
            )]))
        },
    },
    Scenario {
        name: "egress-asm-gateway-is-istios",
        about: "an egress entry names ASM's gateway like Istio's east-west gateway",
        setup: || validate(plan_with(&[("asmGateway: asm-egressgateway", "asmGateway: eastwestgateway")])),
    },
    Scenario {
        name: "egress-asm-gateway-is-istios-egress-gateway",
        about: "an egress entry names ASM's gateway like Istio's egress gateway, whose host the route sends to",
        setup: || validate(plan_with(&[("asmGateway: asm-egressgateway", "asmGateway: egressgateway")])),
    },
    Scenario {
        name: "ingress-asm-gateway-taken",
        about: "an ingress entry gives ASM's ingress gateway the name of ASM's egress gateway",
        setup: || validate(plan_with(&[("asmGateway: ingressgateway-asm", "asmGateway: asm-egressgateway")])),
    },
    Scenario {
        name: "ingress-ports-empty",
        about: "an ingress entry lists no port",
        setup: || validate(plan_with(&[("ports: [{name: http, port: 80, targetPort: 80}]", "ports: []")])),
    },
    Scenario {
        name: "ingress-port-outside",
        about: "an ingress port's targetPort is 70000",
        setup: || validate(plan_with(&[("targetPort: 80}]", "targetPort: 70000}]")])),
    },
    Scenario {
        name: "ingress-service-type",
        about: "an ingress entry's serviceType is not a Service type",
        setup: || {
            validate(plan_with(&[(
                "      ports: [{name: http, port: 80, targetPort: 80}]\n",
                "      ports: [{name: http, port: 80, targetPort: 80}]\n      serviceType: External\n",
            )]))
        },
    },
    Scenario {
        name: "ingress-selects-no-gateway",
        about: "an ingress entry's istioGatewayLabels select no Gateway's pods",
        setup: || {
            validate(plan_with(&[(
                "      asmGateway: ingressgateway-asm\n",
                "      asmGateway: ingressgateway-asm\n      istioGatewayLabels: {istio: internal-ingressgateway}\n",
            )]))
        },
    },
];

// ---- The repository ----

/// The shop fixture with one more manifest in `apps/payments` (shared by both clusters), committed.
fn shop_with_manifest(name: &str, bytes: &[u8]) -> Repo {
    let repo = shop().edited(
        "apps/payments/kustomization.yaml",
        "  - egress-stripe.yaml\n",
        &format!("  - egress-stripe.yaml\n  - {name}\n"),
    );
    std::fs::write(repo.path().join("apps/payments").join(name), bytes).expect("the manifest is written");
    repo.committed("the scenario")
}

/// The shop fixture with the file at `path` written (a mesh config, a manifest), committed.
fn shop_with_file(path: &str, text: &str) -> Repo {
    let repo = shop();
    repo.write(path, text);
    repo.committed("the scenario")
}

/// The shop fixture with its mesh config in `infra/istio/mesh.yaml`, of `kind`, holding `text`.
fn mesh_config(kind: &str, text: &str, release: Option<&str>) -> Repo {
    let release = release.map(|name| format!("\n      release: {name}")).unwrap_or_default();
    let repo = shop().edited(
        "migration.yaml",
        "kind: IstioOperator\n      path: infra/istio/operator.yaml",
        &format!("kind: {kind}\n      path: infra/istio/mesh.yaml{release}"),
    );
    repo.write("infra/istio/mesh.yaml", text);
    repo.committed("the scenario")
}

/// The shop fixture with its Stripe VirtualService edited.
fn stripe_route(from: &str, to: &str) -> Repo {
    shop_with(&[("apps/payments/egress-stripe.yaml", from, to)])
}

/// The shop fixture with every step up to `last` taken, then `from` replaced by `to` in `file`, committed.
fn at_then(last: &str, file: &str, from: &str, to: &str) -> Repo {
    Repo::fixture("shop").at(last).edited(file, from, to).committed("by hand")
}

fn write_bytes(repo: &Repo, path: &str, bytes: &[u8]) {
    let target = repo.path().join(path);
    std::fs::create_dir_all(target.parent().expect("a parent")).expect("a directory");
    std::fs::write(target, bytes).expect("the file is written");
}

/// `apply --step <step> --commit`.
fn take(repo: Repo, step: &str) -> Case {
    Case::new(repo, &["apply", "--step", step, "--commit"])
}

/// `apply --step <step> --commit --force`: a step whose preconditions no test can check, or one skipping phases.
fn take_forced(repo: Repo, step: &str) -> Case {
    Case::new(repo, &["apply", "--step", step, "--commit", "--force"])
}

const ONE_MILLION_AND_ONE_DOCUMENTS: usize = 1_000_001;

/// A billion laughs: `key:` holding ten levels of anchors, each an alias of the one before nine times.
fn alias_bomb(key: &str, indent: &str) -> String {
    let mut bomb = format!("{indent}{key}:\n{indent}  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (previous, level) in ('a'..='i').zip('b'..='j') {
        let aliases = vec![format!("*{previous}"); 9].join(", ");
        bomb.push_str(&format!("{indent}  {level}: &{level} [{aliases}]\n"));
    }
    bomb
}

/// The repository the plan points at: sources, manifests, the tool's own files, the mesh config, as `validate` or
/// a step reads them.
pub static REPOSITORY: &[Scenario] = &[
    Scenario {
        name: "finished-cannot-drop-a-dependency",
        about:
            "a Flux Kustomization depends on the one that installs Istio in a flow list asm-migrate does not rewrite",
        setup: || {
            let repo = Repo::corpus("multinetwork-flux");
            repo.run(&["init"]).success();
            let repo = repo
                .committed("the plan init wrote")
                .edited(
                    "gitops/hangzhou/flux-resources/apps.yaml",
                    "  dependsOn:\n    - name: istio\n",
                    "  dependsOn: [{name: istio}]\n",
                )
                .committed("a flow list");
            take_forced(repo.at("wave/rest"), "finished")
        },
    },
    Scenario {
        name: "manifest-nested-too-deep",
        about: "a ConfigMap nests 100,000 lists in one another",
        setup: || {
            let head = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n  deep: ";
            let deep = format!("{head}{}{}\n", "[".repeat(100_000), "]".repeat(100_000));
            validate(shop_with_manifest("deep.yaml", deep.as_bytes()))
        },
    },
    Scenario {
        name: "manifest-alias-bomb",
        about: "a ConfigMap in a cluster source is a billion-laughs alias bomb",
        setup: || {
            let head = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: laughs\n";
            validate(shop_with_manifest("laughs.yaml", format!("{head}{}", alias_bomb("data", "")).as_bytes()))
        },
    },
    Scenario {
        name: "state-empty",
        about: "state.yaml was emptied by hand",
        setup: || {
            let repo = Repo::fixture("shop").at("init");
            repo.write("gitops/asm-migration/state.yaml", "");
            validate(repo.committed("emptied"))
        },
    },
    Scenario {
        name: "no-plan-here",
        about: "the repository has no migration.yaml",
        setup: || {
            let repo = shop();
            repo.git(&["rm", "-q", "migration.yaml"]);
            validate(repo.committed("no plan"))
        },
    },
    Scenario {
        name: "plan-not-utf8",
        about: "migration.yaml is not UTF-8",
        setup: || {
            let repo = shop();
            write_bytes(&repo, "migration.yaml", b"apiVersion: asm-migrate/v1alpha1\nkind: \xffMigrationPlan\n");
            validate(repo.committed("a plan in Latin-1"))
        },
    },
    Scenario {
        name: "file-not-utf8",
        about: "a manifest of the cluster sources is not UTF-8 (read from the working tree)",
        setup: || {
            validate(shop_with_manifest(
                "settings.yaml",
                b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {city: \"Z\xfcrich\"}\n",
            ))
        },
    },
    Scenario {
        name: "file-not-utf8-in-git",
        about: "a manifest of the cluster sources is not UTF-8 (read from HEAD, for a commit)",
        setup: || {
            take(
                shop_with_manifest(
                    "settings.yaml",
                    b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {city: \"Z\xfcrich\"}\n",
                ),
                "init",
            )
        },
    },
    Scenario {
        name: "blob-missing-in-git",
        about: "git's object of a manifest is gone from .git/objects",
        setup: || {
            let repo = shop();
            let blob = repo.git(&["rev-parse", "HEAD:apps/payments/api.yaml"]);
            let blob = blob.trim();
            std::fs::remove_file(repo.path().join(".git/objects").join(&blob[..2]).join(&blob[2..]))
                .expect("the object is removed");
            take(repo, "init")
        },
    },
    Scenario {
        name: "manifest-with-too-many-documents",
        about: "a manifest holds over a million YAML documents",
        setup: || {
            let text = format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: many}}\n{}",
                "---\n".repeat(ONE_MILLION_AND_ONE_DOCUMENTS)
            );
            validate(shop_with_manifest("many.yaml", text.as_bytes()))
        },
    },
    Scenario {
        name: "included-directory-without-kustomization",
        about: "a cluster source includes a directory that has no kustomization.yaml",
        setup: || {
            let repo = shop().edited(
                "clusters/sh/kustomization.yaml",
                "  - ../../apps/storefront\n",
                "  - ../../apps/storefront\n  - ../../apps/reports\n",
            );
            repo.write("apps/reports/report.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: report}\n");
            validate(repo.committed("reports"))
        },
    },
    Scenario {
        name: "kustomization-lists-missing-entry",
        about: "a cluster source lists a directory that does not exist",
        setup: || {
            validate(shop_with(&[(
                "clusters/sh/kustomization.yaml",
                "  - ../../apps/storefront\n",
                "  - ../../apps/storefront\n  - ../../apps/reports\n",
            )]))
        },
    },
    Scenario {
        name: "patch-decides-injection",
        about: "a cluster source sets sidecar.istio.io/inject on a Deployment with a JSON patch",
        setup: || {
            validate(shop_with(&[(
                "clusters/sh/kustomization.yaml",
                "patches:\n",
                "patches:\n  - target:\n      kind: Deployment\n      name: web\n    patch: |-\n      - op: add\n        path: /spec/template/metadata/labels/sidecar.istio.io~1inject\n        value: \"false\"\n",
            )]))
        },
    },
    Scenario {
        name: "unseen-helm-chart",
        about: "a cluster source renders a Helm chart (helmCharts)",
        setup: || {
            validate(shop_with(&[(
                "clusters/sh/kustomization.yaml",
                "resources:\n",
                "helmCharts:\n  - name: redis\n    repo: https://charts.example.com\nresources:\n",
            )]))
        },
    },
    Scenario {
        name: "unseen-remote-base",
        about: "a cluster source includes a remote base",
        setup: || {
            validate(shop_with(&[(
                "clusters/sh/kustomization.yaml",
                "  - ../../apps/storefront\n",
                "  - ../../apps/storefront\n  - https://github.com/example/platform//redis?ref=v1.4.0\n",
            )]))
        },
    },
    Scenario {
        name: "unseen-helm-release",
        about: "a cluster source holds a Flux HelmRelease whose namespace the repository does not label for injection",
        setup: || {
            validate(shop_with_manifest(
                "cache.yaml",
                b"apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: cache\nspec:\n  targetNamespace: cache\n  chart:\n    spec:\n      chart: redis\n",
            ))
        },
    },
    Scenario {
        name: "wave-names-a-release-left-to-the-operator",
        about: "a wave names a HelmRelease that the cluster's unseen leaves to the operator",
        setup: || {
            validate(
                Repo::fixture("podinfo-flux")
                    .edited(
                        "migration.yaml",
                        "      source: apps/production\n",
                        "      source: apps/production\n      unseen: [HelmRelease/podinfo/podinfo]\n",
                    )
                    .committed("the scenario"),
            )
        },
    },
    Scenario {
        name: "unseen-argo-cd-helm",
        about: "the Argo CD Application of a cluster builds its source with Helm",
        setup: || {
            validate(shop_with(&[(
                "argocd/shop-sh.yaml",
                "    path: clusters/sh\n",
                "    path: clusters/sh\n    helm:\n      valueFiles: [values-sh.yaml]\n",
            )]))
        },
    },
    Scenario {
        name: "cluster-without-injected-workload",
        about: "a cluster's source holds no Istio-injected workload",
        setup: || {
            validate(shop_with(&[
                (
                    "clusters/sh/kustomization.yaml",
                    "  - ../../apps/payments\n  - ../../apps/catalog\n  - ../../apps/storefront\n",
                    "",
                ),
                ("migration.yaml", "    - name: payments\n      namespaces: [payments]\n", ""),
            ]))
        },
    },
    Scenario {
        name: "egress-route-without-mesh",
        about: "the egress VirtualService's gateways leave out mesh",
        setup: || {
            validate(stripe_route(
                "    - istio-egressgateway\n    - mesh\n  http:",
                "    - istio-egressgateway\n  http:",
            ))
        },
    },
    Scenario {
        name: "egress-route-mesh-only",
        about: "the egress VirtualService's gateways are mesh alone",
        setup: || validate(stripe_route("    - istio-egressgateway\n    - mesh\n  http:", "    - mesh\n  http:")),
    },
    Scenario {
        name: "egress-route-no-mesh-route",
        about: "no route of the egress VirtualService matches the mesh gateway",
        setup: || {
            validate(stripe_route(
                "            - mesh\n          port: 80",
                "            - istio-egressgateway\n          port: 81",
            ))
        },
    },
    Scenario {
        name: "egress-route-unknown-gateway",
        about: "the egress VirtualService names a Gateway the sources do not define",
        setup: || {
            validate(stripe_route(
                "    - istio-egressgateway\n    - mesh\n  http:",
                "    - egress-elsewhere\n    - mesh\n  http:",
            ))
        },
    },
    Scenario {
        name: "egress-route-two-destinations",
        about: "the egress VirtualService's mesh route already splits between two destinations",
        setup: || {
            validate(stripe_route(
                "          weight: 100\n    - match:",
                "          weight: 50\n        - destination:\n            host: api.stripe.com\n          weight: 50\n    - match:",
            ))
        },
    },
    Scenario {
        name: "mesh-config-no-istio-operator",
        about: "the mesh config file holds no IstioOperator",
        setup: || {
            validate(shop_with(&[("infra/istio/operator.yaml", "kind: IstioOperator", "kind: IstioOperatorSpec")]))
        },
    },
    Scenario {
        name: "mesh-config-flow-mapping",
        about: "the IstioOperator writes defaultConfig as a flow mapping",
        setup: || {
            validate(shop_with(&[(
                "infra/istio/operator.yaml",
                "    defaultConfig:\n      holdApplicationUntilProxyStarts: true\n      proxyMetadata:\n        # Smart DNS proxying: the sidecar answers DNS for ServiceEntry hosts.\n        ISTIO_META_DNS_CAPTURE: \"true\"\n",
                "    defaultConfig: {holdApplicationUntilProxyStarts: true}\n",
            )]))
        },
    },
    Scenario {
        name: "mesh-config-edit-would-not-parse",
        about: "the IstioOperator's proxyMetadata is a flow mapping on the line below its key",
        setup: || {
            validate(shop_with(&[(
                "infra/istio/operator.yaml",
                "        ISTIO_META_DNS_CAPTURE: \"true\"\n",
                "        {ISTIO_META_DNS_CAPTURE: \"true\"}\n",
            )]))
        },
    },
    Scenario {
        name: "mesh-config-edit-lands-elsewhere",
        about: "a quoted string of the IstioOperator has a line `spec:` at the left margin, where the edit goes",
        setup: || {
            validate(shop_with(&[(
                "infra/istio/operator.yaml",
                "spec:\n  profile: default\n",
                "description: 'the control plane\nspec:\n  is below\n'\nspec:\n  profile: default\n",
            )]))
        },
    },
    Scenario {
        name: "mesh-config-no-config-map",
        about: "the ConfigMap mesh config is not named istio",
        setup: || {
            validate(mesh_config(
                "ConfigMap",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mesh-settings\n  namespace: istio-system\ndata:\n  mesh: |\n    accessLogFile: /dev/stdout\n",
                None,
            ))
        },
    },
    Scenario {
        name: "mesh-config-map-without-mesh",
        about: "the istio ConfigMap has no data.mesh",
        setup: || {
            validate(mesh_config(
                "ConfigMap",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio\n  namespace: istio-system\ndata:\n  meshNetworks: \"networks: {}\"\n",
                None,
            ))
        },
    },
    Scenario {
        name: "mesh-config-map-mesh-not-literal",
        about: "the istio ConfigMap's data.mesh is a quoted string",
        setup: || {
            validate(mesh_config(
                "ConfigMap",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio\n  namespace: istio-system\ndata:\n  mesh: \"accessLogFile: /dev/stdout\"\n",
                None,
            ))
        },
    },
    Scenario {
        name: "mesh-config-which-release",
        about: "the Helm values file holds two HelmReleases, none of the istiod chart",
        setup: || {
            validate(mesh_config(
                "HelmValues",
                "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: istio-base\n  namespace: istio-system\nspec:\n  chart: {spec: {chart: base}}\n---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: istio-cni\n  namespace: istio-system\nspec:\n  chart: {spec: {chart: cni}}\n",
                None,
            ))
        },
    },
    Scenario {
        name: "mesh-config-no-such-release",
        about: "meshConfig.release names a HelmRelease the file does not hold",
        setup: || {
            validate(mesh_config(
                "HelmValues",
                "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: istio-base\n  namespace: istio-system\nspec:\n  chart: {spec: {chart: base}}\n",
                Some("istiod"),
            ))
        },
    },
    Scenario {
        name: "component-listed-below-with-transformers",
        about: "a kustomization the source includes lists the component, and the plan takes it as transformers",
        setup: || {
            let repo = shop()
                .edited(
                    "apps/payments/kustomization.yaml",
                    "resources:\n",
                    "components:\n  - ../../gitops/asm-migration/clusters/hz\nresources:\n",
                )
                .edited(
                    "migration.yaml",
                    "      source: clusters/hz\n",
                    "      source: clusters/hz\n      includeAs: transformers\n",
                );
            take(repo.committed("payments lists hz's component"), "init")
        },
    },
    Scenario {
        name: "istio-system-in-a-source-with-a-namespace-of-its-own",
        about: "an east-west gateway's label removal, in a source whose namespace: would rename istio-system",
        setup: || {
            let repo = Repo::fixture("bookinfo-flux").edited(
                "migration.yaml",
                "      source: apps/production\n",
                "      source: apps/production\n      eastWestGateway: true\n",
            );
            let source = repo.read("apps/production/kustomization.yaml");
            repo.write("apps/production/kustomization.yaml", &format!("{source}namespace: prod-bookinfo\n"));
            take(repo.committed("production puts everything into prod-bookinfo"), "init")
        },
    },
    Scenario {
        name: "clusters-share-a-source",
        about: "two clusters name the same source, in which apply would list both clusters' components",
        setup: || validate(plan_with(&[("      source: clusters/sh\n", "      source: clusters/hz\n")])),
    },
    Scenario {
        name: "cluster-builds-another-clusters-source",
        about: "a cluster's source includes another cluster's source, in which apply lists that cluster's component",
        setup: || {
            let repo = shop_with(&[("clusters/sh/kustomization.yaml", "resources:\n", "resources:\n  - ../hz\n")]);
            validate(repo)
        },
    },
    Scenario {
        name: "component-not-listed-safely",
        about: "a cluster source lists a component with its entry on the line below the dash",
        setup: || {
            let repo = shop().edited(
                "clusters/sh/kustomization.yaml",
                "resources:\n",
                "components:\n  -\n    ../../apps/shared\nresources:\n",
            );
            repo.write(
                "apps/shared/kustomization.yaml",
                "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n",
            );
            take(repo.committed("a shared component"), "init")
        },
    },
    Scenario {
        name: "install-paths-not-dropped-safely",
        about: "a cluster source lists Istio's install path with the entry on the line below the dash",
        setup: || {
            take_forced(
                shop_with(&[(
                    "clusters/sh/kustomization.yaml",
                    "  - ../../infra/istio\n",
                    "  -\n    ../../infra/istio\n",
                )]),
                "finished",
            )
        },
    },
    Scenario {
        name: "istio-system-not-kept",
        about: "Istio's istio-system Namespace writes its metadata as a flow mapping",
        setup: || {
            take_forced(
                shop_with_file(
                    "infra/istio/namespace.yaml",
                    "apiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system, labels: {topology.istio.io/network: unset}}\n",
                ),
                "migrating",
            )
        },
    },
    Scenario {
        name: "state-of-another-plan",
        about: "state.yaml belongs to another plan",
        setup: || validate(at_then("init", "gitops/asm-migration/state.yaml", "plan: shop-prod", "plan: shop-staging")),
    },
    Scenario {
        name: "state-at-removed-step",
        about: "state.yaml is at a step the plan does not have",
        setup: || {
            validate(at_then(
                "setup",
                "gitops/asm-migration/state.yaml",
                "step: setup\nretry",
                "step: wave/first\nretry",
            ))
        },
    },
    Scenario {
        name: "state-missing-after-setup",
        about: "state.yaml was removed after setup",
        setup: || {
            let repo = Repo::fixture("shop").at("setup");
            repo.git(&["rm", "-q", "gitops/asm-migration/state.yaml"]);
            validate(repo.committed("no state"))
        },
    },
    Scenario {
        name: "state-and-asm-disagree",
        about: "after setup, ASMMigrateFromIstio's desiredState was set back to Init by hand",
        setup: || {
            validate(at_then(
                "setup",
                "gitops/asm-migration/asm/asmmigratefromistio.yaml",
                "desiredState: SetupIstioForMigrate",
                "desiredState: Init",
            ))
        },
    },
    Scenario {
        name: "import-of-a-patched-object",
        about: "a cluster source patches the timeout of an Istio VirtualService",
        setup: || {
            validate(shop_with(&[(
                "clusters/hz/kustomization.yaml",
                "patches:\n",
                "patches:\n  - target:\n      group: networking.istio.io\n      kind: VirtualService\n      name: storefront\n    \
                 patch: |-\n      - op: replace\n        path: /spec/http/0/timeout\n        value: 30s\n",
            )]))
        },
    },
    Scenario {
        name: "import-built-differently",
        about: "at migrating, a PeerAuthentication of each cluster's own directory has the same name, another mode",
        setup: || {
            let mut repo = shop();
            for (cluster, mode) in [("hz", "STRICT"), ("sh", "PERMISSIVE")] {
                repo = repo.edited(
                    &format!("clusters/{cluster}/kustomization.yaml"),
                    "  - ../../apps/payments\n",
                    "  - ../../apps/payments\n  - peer-authentication.yaml\n",
                );
                repo.write(
                    &format!("clusters/{cluster}/peer-authentication.yaml"),
                    &format!(
                        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  \
                         namespace: payments\nspec:\n  mtls:\n    mode: {mode}\n"
                    ),
                );
            }
            take(repo.committed("mTLS in payments").at("setup"), "migrating")
        },
    },
    Scenario {
        name: "import-name-not-kubernetes",
        about: "at migrating, an Istio object of the sources is named with capitals and an underscore",
        setup: || {
            let manifest = b"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: Stripe_Retries\nspec:\n  host: api.stripe.com\n";
            take(shop_with_manifest("stripe-retries.yaml", manifest).at("setup"), "migrating")
        },
    },
    Scenario {
        name: "asm-without-desired-state",
        about: "ASMMigrateFromIstio lost its desiredState",
        setup: || {
            validate(at_then(
                "setup",
                "gitops/asm-migration/asm/asmmigratefromistio.yaml",
                "  desiredState: SetupIstioForMigrate\n",
                "",
            ))
        },
    },
];

// ---- Commands ----

/// Command lines, and what a command says of the step asked for.
pub static COMMANDS: &[Scenario] = &[
    Scenario {
        name: "init-plan-outside-the-repository",
        about: "init --repo . --plan names a file outside the repository",
        setup: || {
            let repo = shop();
            std::fs::remove_file(repo.path().join("migration.yaml")).expect("the plan is removed");
            Case::new(repo.committed("no plan yet"), &["init", "--repo", ".", "--plan", "../elsewhere.yaml"])
        },
    },
    Scenario {
        name: "init-over-a-plan",
        about: "init in a repository that has a plan",
        setup: || Case::new(shop(), &["init"]),
    },
    Scenario {
        name: "init-wire-without-the-asm-context",
        about: "init --wire where no Application names the ASM control plane, and no --asm-context",
        setup: || Case::new(Repo::fixture("bookinfo-argocd"), &["init", "--wire"]),
    },
    Scenario {
        name: "init-without-injected-workloads",
        about: "init where Flux builds sources but none holds an Istio-injected workload (podinfo's namespace is \
                not labelled): no cluster, and no Kustomization to copy for the ASM control plane",
        setup: || {
            let repo = Repo::fixture("podinfo-flux").edited(
                "apps/base/podinfo/namespace.yaml",
                "    istio-injection: enabled\n",
                "",
            );
            // What `flux bootstrap` writes there: the repository's URL, which names the plan.
            repo.write(
                "clusters/production/flux-system/gotk-sync.yaml",
                "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n  \
                 namespace: flux-system\nspec:\n  interval: 1m0s\n  ref:\n    branch: main\n  secretRef:\n    \
                 name: flux-system\n  url: ssh://git@github.com/example/podinfo-gitops\n",
            );
            Case::new(repo.committed("no namespace labelled for injection"), &["init", "--force"])
        },
    },
    Scenario {
        name: "init-wire-over-another-file",
        about: "init --wire where the file it would write for the ASM control plane holds something else",
        setup: || {
            let repo = Repo::fixture("podinfo-flux");
            // What `flux bootstrap` writes there: the repository's URL, which names the plan.
            repo.write(
                "clusters/production/flux-system/gotk-sync.yaml",
                "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n  \
                 namespace: flux-system\nspec:\n  interval: 1m0s\n  ref:\n    branch: main\n  secretRef:\n    \
                 name: flux-system\n  url: ssh://git@github.com/example/podinfo-gitops\n",
            );
            repo.write(
                "clusters/production/podinfo-gitops-asm-control-plane.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: someone-elses\n  namespace: flux-system\n",
            );
            Case::new(repo.committed("a file where init --wire writes"), &["init", "--force", "--wire"])
        },
    },
    Scenario {
        name: "init-cannot-write",
        about: "init where a directory holds the schema file's name: nothing is written",
        setup: || {
            let repo = Repo::fixture("bookinfo-argocd");
            repo.write("migration.schema.json/README.md", "a directory where init writes a file\n");
            Case::new(repo.committed("a directory in the way"), &["init", "--force"])
        },
    },
    Scenario {
        name: "context-flag-shape",
        about: "--context without TARGET=",
        setup: || Case::new(shop(), &["status", "--context", "ack-hz"]),
    },
    Scenario {
        name: "timeout-flag",
        about: "--timeout with an unknown unit",
        setup: || Case::new(shop(), &["status", "--wait", "--timeout", "5min"]),
    },
    Scenario {
        name: "step-flag",
        about: "--step that is no step id",
        setup: || Case::new(shop(), &["apply", "--step", "Wave/Canary"]),
    },
    Scenario {
        name: "repository-missing",
        about: "--repo names a directory that does not exist",
        setup: || Case::new(shop(), &["validate", "--repo", "shop-gitops"]),
    },
    Scenario {
        name: "render-out-is-a-file",
        about: "render --out names a file",
        setup: || Case::new(shop(), &["render", "--step", "init", "--out", "README.md"]),
    },
    Scenario {
        name: "render-out-holds-a-directory",
        about: "render --out holds a directory where a rendered file goes",
        setup: || {
            let repo = shop();
            std::fs::create_dir_all(repo.path().join("rendered/asm/asmmigratefromistio.yaml")).expect("a directory");
            Case::new(repo, &["render", "--step", "init", "--out", "rendered"])
        },
    },
    Scenario {
        name: "demo-directory-not-empty",
        about: "demo --dir names a directory that holds a file",
        setup: || Case::new(shop(), &["demo", "--dir", "apps"]),
    },
    Scenario {
        name: "demo-directory-under-a-file",
        about: "demo --dir names a path under a file",
        setup: || Case::new(shop(), &["demo", "--dir", "README.md/demo"]),
    },
    Scenario {
        name: "template-not-utf8",
        about: "a template of --templates is not UTF-8",
        setup: || {
            let repo = shop();
            write_bytes(&repo, "my-templates/asm/asmmigratefromistio.yaml.j2", b"# \xff\n");
            Case::new(repo, &["apply", "--step", "init", "--templates", "my-templates"])
        },
    },
    Scenario {
        name: "commit-outside-git",
        about: "apply --commit in a directory that is no git repository",
        setup: || {
            let repo = shop();
            std::fs::remove_dir_all(repo.path().join(".git")).expect(".git is removed");
            take(repo, "init")
        },
    },
    Scenario {
        name: "retry-nothing-applied",
        about: "retry before any step",
        setup: || Case::new(shop(), &["retry", "--snapshot", "dumps"]),
    },
    Scenario {
        name: "retry-counter-at-its-end",
        about: "retry with retryCounter at 2^31-1",
        setup: || {
            let repo =
                at_then("init", "gitops/asm-migration/state.yaml", "retryCounter: 0", "retryCounter: 2147483647");
            Case::new(repo, &["retry", "--snapshot", "dumps"])
        },
    },
    Scenario {
        name: "no-next-step",
        about: "apply --step next once finished",
        setup: || Case::new(Repo::fixture("shop").at("finished"), &["apply", "--step", "next"]),
    },
    Scenario {
        name: "step-backwards",
        about: "apply --step init after setup",
        setup: || Case::new(Repo::fixture("shop").at("setup"), &["apply", "--step", "init"]),
    },
    Scenario {
        name: "preconditions-unchecked",
        about: "apply of an egress step, whose precondition only advance checks",
        setup: || Case::new(Repo::fixture("shop").at("wave/rest"), &["apply", "--step", "egress/stripe/1"]),
    },
];

// ---- Git ----

/// An executable hook in the repository's `.git/hooks/`.
/// The shop fixture with a branch `colleague` and the checked-out branch both editing the same line of the
/// payments kustomization, then `git <operation>` stopped on their conflict.
fn in_the_middle_of(operation: &[&str]) -> Repo {
    let repo = shop();
    repo.git(&["checkout", "-q", "-b", "colleague"]);
    let repo =
        repo.edited("apps/payments/namespace.yaml", "name: payments", "name: payments # theirs").committed("theirs");
    repo.git(&["checkout", "-q", "-"]);
    let repo = repo.edited("apps/payments/namespace.yaml", "name: payments", "name: payments # ours").committed("ours");
    let stopped = std::process::Command::new("git").args(operation).current_dir(repo.path()).output();
    assert!(stopped.is_ok_and(|output| !output.status.success()), "git {operation:?} stops on the conflict");
    repo
}

fn hook(repo: &Repo, name: &str, script: &str) {
    let path = repo.path().join(".git/hooks").join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("the hook is written");
    make_executable(&path);
}

const BRANCH: &str = "asm-migration";

/// `apply --step <step> --commit --branch asm-migration --push origin`.
fn take_and_push(repo: Repo, step: &str) -> Case {
    Case::new(repo, &["apply", "--step", step, "--commit", "--branch", BRANCH, "--push", "origin"])
}

/// The shop fixture pushed to a bare origin with the step `init` on the branch, and a colleague's clone of it on
/// that branch.
fn pushed_branch() -> (Repo, Origin, Repo) {
    let (repo, origin) = Repo::with_origin("shop");
    repo.run(&["apply", "--step", "init", "--commit", "--branch", BRANCH, "--push", "origin"]).success();
    let colleague = Repo::clone_of(&origin);
    colleague.git(&["checkout", "-q", BRANCH]);
    (repo, origin, colleague)
}

/// A shell command that has the colleague commit a change to `notes.txt` and push it.
fn colleague_pushes(colleague: &Repo) -> String {
    format!(
        "cd '{}' && echo 'one more line' >> notes.txt && git add notes.txt && git commit -qm 'colleague: notes' && \
         git push -q origin {BRANCH}",
        colleague.path().display()
    )
}

/// A pre-push hook that runs `script` the first time only.
fn once_before_the_push(repo: &Repo, script: &str) {
    let marker = repo.path().join(".git/pushed-once");
    hook(repo, "pre-push", &format!("[ -f '{0}' ] && exit 0\ntouch '{0}'\n{script}", marker.display()));
}

fn with_remote(case: Case, origin: Origin, colleague: Option<Repo>) -> Case {
    let mut case = case.named(origin.path().display().to_string(), "origin").keep(origin);
    if let Some(colleague) = colleague {
        case = case.named(colleague.path().display().to_string(), "colleague").keep(colleague);
    }
    case
}

/// Git: the work tree, the index, branches, remotes, the lock, the journal of an interrupted run.
pub static GIT: &[Scenario] = &[
    Scenario {
        name: "merge-in-progress",
        about: "a merge stopped on a conflict and is not finished",
        setup: || take(in_the_middle_of(&["merge", "colleague"]), "init"),
    },
    Scenario {
        name: "rebase-in-progress",
        about: "a rebase stopped on a conflict and is not finished",
        setup: || take(in_the_middle_of(&["rebase", "colleague"]), "init"),
    },
    Scenario {
        name: "dirty-files",
        about: "the mesh config the next step rewrites has uncommitted changes",
        setup: || {
            let repo = Repo::fixture("shop").at("init");
            let text = repo.read("infra/istio/operator.yaml");
            repo.write("infra/istio/operator.yaml", &format!("{text}# tuned by hand\n"));
            take(repo, "setup")
        },
    },
    Scenario {
        name: "detached-head-push",
        about: "apply --commit --push with HEAD detached",
        setup: || {
            let (repo, origin) = Repo::with_origin("shop");
            repo.git(&["checkout", "-q", "--detach"]);
            with_remote(Case::new(repo, &["apply", "--step", "init", "--commit", "--push", "origin"]), origin, None)
        },
    },
    Scenario {
        name: "no-git-identity",
        about: "apply --commit where git has no user.name nor user.email",
        setup: || {
            let repo = shop();
            repo.git(&["config", "--unset", "user.name"]);
            repo.git(&["config", "--unset", "user.email"]);
            let mut case = take(repo, "init");
            let home = case.temp_dir("home").display().to_string();
            case.env("HOME", &home).env("XDG_CONFIG_HOME", &home).env("GIT_CONFIG_NOSYSTEM", "1")
        },
    },
    Scenario {
        name: "no-commit-to-branch-from",
        about: "apply --branch in a repository without a commit",
        setup: || {
            let repo = shop();
            repo.git(&["update-ref", "-d", "refs/heads/main"]);
            Case::new(repo, &["apply", "--step", "init", "--commit", "--branch", BRANCH])
        },
    },
    Scenario {
        name: "behind-the-remote",
        about: "apply --commit --push on main, which a colleague pushed to meanwhile",
        setup: || {
            let (repo, origin) = Repo::with_origin("shop");
            let colleague = Repo::clone_of(&origin);
            colleague.write("notes.txt", "one more line\n");
            colleague.git(&["add", "notes.txt"]);
            colleague.git(&["commit", "-qm", "colleague: notes"]);
            colleague.git(&["push", "-q", "origin", "main"]);
            with_remote(
                Case::new(repo, &["apply", "--step", "init", "--commit", "--push", "origin"]).committed_first(),
                origin,
                Some(colleague),
            )
        },
    },
    Scenario {
        name: "branch-diverged",
        about: "the local branch and the remote's have commits the other has not",
        setup: || {
            let (repo, origin, colleague) = pushed_branch();
            colleague.write("notes.txt", "theirs\n");
            colleague.git(&["add", "notes.txt"]);
            colleague.git(&["commit", "-qm", "colleague: notes"]);
            colleague.git(&["push", "-q", "origin", BRANCH]);
            repo.git(&["checkout", "-q", BRANCH]);
            repo.write("notes.txt", "ours\n");
            repo.git(&["add", "notes.txt"]);
            repo.git(&["commit", "-qm", "notes"]);
            repo.git(&["checkout", "-q", "main"]);
            with_remote(take_and_push(repo, "setup"), origin, Some(colleague))
        },
    },
    Scenario {
        name: "remote-branch-gone",
        about: "a colleague pushes to the branch during our fetch, and it is deleted during our push",
        setup: || {
            let (repo, origin, colleague) = pushed_branch();
            let marker = repo.path().join(".git/moved");
            hook(
                &repo,
                "reference-transaction",
                &format!(
                    "[ \"$1\" = committed ] || exit 0\ngrep -q 'refs/asm-migrate/remotes/origin/{BRANCH}' || exit 0\n\
                     [ -f '{0}' ] && exit 0\ntouch '{0}'\n{1}",
                    marker.display(),
                    colleague_pushes(&colleague)
                ),
            );
            hook(
                &repo,
                "pre-push",
                &format!("git --git-dir='{}' update-ref -d refs/heads/{BRANCH}", origin.path().display()),
            );
            with_remote(take_and_push(repo, "setup").committed_first(), origin, Some(colleague))
        },
    },
    Scenario {
        name: "remote-branch-rewritten",
        about: "the remote's branch is reset to main during our push",
        setup: || {
            let (repo, origin, colleague) = pushed_branch();
            let git_dir = origin.path().display().to_string();
            once_before_the_push(
                &repo,
                &format!("git --git-dir='{git_dir}' update-ref refs/heads/{BRANCH} $(git --git-dir='{git_dir}' rev-parse main)"),
            );
            with_remote(take_and_push(repo, "setup").committed_first(), origin, Some(colleague))
        },
    },
    Scenario {
        name: "remote-branch-kept-moving",
        about: "a colleague pushes to the branch during each of our pushes",
        setup: || {
            let (repo, origin, colleague) = pushed_branch();
            hook(&repo, "pre-push", &colleague_pushes(&colleague));
            with_remote(take_and_push(repo, "setup").committed_first(), origin, Some(colleague))
        },
    },
    Scenario {
        name: "push-conflict",
        about: "a colleague pushes a change to the mesh config during our push of setup",
        setup: || {
            let (repo, origin, colleague) = pushed_branch();
            once_before_the_push(
                &repo,
                &format!(
                    "cd '{}' && sed -i 's/ISTIO_META_DNS_CAPTURE/ISTIO_META_DNS_AUTO_ALLOCATE/' infra/istio/operator.yaml \
                     && git commit -qam 'colleague: DNS' && git push -q origin {BRANCH}",
                    colleague.path().display()
                ),
            );
            with_remote(take_and_push(repo, "setup").committed_first(), origin, Some(colleague))
        },
    },
    Scenario {
        name: "git-missing",
        about: "apply --push where the git program is not on PATH",
        setup: || {
            let (repo, origin) = Repo::with_origin("shop");
            with_remote(take_and_push(repo, "init").env("PATH", "/nonexistent"), origin, None)
        },
    },
    Scenario {
        name: "remote-missing",
        about: "apply --push to a remote the repository does not have",
        setup: || Case::new(shop(), &["apply", "--step", "init", "--commit", "--branch", BRANCH, "--push", "upstream"]),
    },
    Scenario {
        name: "lock-empty",
        about: "the lock file is empty",
        setup: || {
            let repo = shop();
            repo.write(".git/asm-migrate.lock", "");
            take(repo, "init")
        },
    },
    Scenario {
        name: "lock-not-ours",
        about: "the lock file is not one asm-migrate writes",
        setup: || {
            let repo = shop();
            repo.write(".git/asm-migrate.lock", "locked by the release pipeline\n");
            take(repo, "init")
        },
    },
    Scenario {
        name: "lock-unreadable",
        about: "the lock file is a directory",
        setup: || {
            let repo = shop();
            std::fs::create_dir(repo.path().join(".git/asm-migrate.lock")).expect("a directory");
            take(repo, "init")
        },
    },
    Scenario {
        name: "lock-cannot-be-created",
        about: "no file can grow (a full disk)",
        setup: || take(shop(), "init").under_shell("trap '' XFSZ\nulimit -f 0", "ulimit -f 0"),
    },
    Scenario {
        name: "index-locked",
        about: "git's index.lock exists",
        setup: || {
            let repo = shop();
            repo.write(".git/index.lock", "");
            take(repo, "init")
        },
    },
    Scenario {
        name: "not-a-regular-file",
        about: "an empty directory stands where the step writes a file",
        setup: || {
            let repo = shop();
            std::fs::create_dir_all(repo.path().join("gitops/asm-migration/asm/asmmigratefromistio.yaml"))
                .expect("a directory");
            take(repo, "init")
        },
    },
    Scenario {
        name: "journal-unreadable",
        about: "the journal of an interrupted run is cut short",
        setup: || {
            let repo = shop();
            repo.write(".git/asm-migrate/journal.json", "{\n");
            take(repo, "init")
        },
    },
    Scenario {
        name: "rollback-failed",
        about: "the journal of an interrupted run names a version of README.md git no longer has",
        setup: || {
            let repo = shop();
            let written = repo.git(&["hash-object", "README.md"]);
            repo.write(
                ".git/asm-migrate/journal.json",
                &json!({"step": "init", "commit": null, "files": [{"path": "README.md",
                    "before": {"blob": "1111111111111111111111111111111111111111", "permissions": 420},
                    "after": {"blob": written.trim(), "permissions": 420}}]})
                .to_string(),
            );
            take(repo, "init")
        },
    },
];

// ---- Clusters ----

/// `status --kubeconfig <kubeconfig>`, reading the fake API servers of `world`, the ASM control plane's serving
/// as `asm` says.
fn status_against(repo: Repo, world: &World, asm: Serving) -> Case {
    let fake = FakeWorld::serve(world, asm);
    let mut case = Case::new(repo, &[]);
    let kubeconfig = case.temp_dir("tmp").join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig);
    let mut case = with_kubeconfig(case, &kubeconfig, &["status"]);
    for (context, server) in &fake.servers {
        case = case.named(server.url.clone(), context);
    }
    case.keep(fake)
}

/// `status --kubeconfig <kubeconfig>` against one API server at `url` for every context of the shop's plan.
fn status_against_server(repo: Repo, url: &str) -> Case {
    let mut case = Case::new(repo, &[]);
    let kubeconfig = case.temp_dir("tmp").join("kubeconfig");
    write_kubeconfig(&kubeconfig, url, "    token: test-token\n");
    with_kubeconfig(case, &kubeconfig, &["status"]).named(url, "api-server")
}

/// `<args> --kubeconfig <kubeconfig>`, each cluster given 5 seconds.
fn with_kubeconfig(case: Case, kubeconfig: &Path, args: &[&str]) -> Case {
    let path = kubeconfig.display().to_string();
    case.args(args).args(&["--kubeconfig", &path]).env("ASM_MIGRATE_CLUSTER_TIMEOUT", "5")
}

/// A kubeconfig whose contexts asm-prod, ack-hz and ack-sh all reach `server`, as the user `ci` (`user`: its
/// credentials, YAML lines under `user:`).
fn write_kubeconfig(path: &Path, server: &str, user: &str) {
    let mut text = format!("apiVersion: v1\nkind: Config\nclusters:\n- name: shop\n  cluster:\n    server: {server}\n");
    text.push_str("contexts:\n");
    for context in ["asm-prod", "ack-hz", "ack-sh"] {
        text.push_str(&format!("- name: {context}\n  context:\n    cluster: shop\n    user: ci\n"));
    }
    text.push_str(&format!("users:\n- name: ci\n  user:\n{user}"));
    std::fs::write(path, text).expect("the kubeconfig is written");
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
           "reason": reason, "code": code})
}

/// An API server on 127.0.0.1 answering each path of `routes` (any other with 404, or with `otherwise`), until
/// the tests end; returns its URL.
fn api_server(routes: Vec<(&'static str, u16, Value)>, otherwise: Option<(u16, Value)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("a stream"));
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header == "\r\n" || header.is_empty() {
                    break;
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("").split('?').next().unwrap_or("").to_owned();
            let not_found = (404, status(404, "NotFound", "the server could not find the requested resource"));
            let (code, body) = routes
                .iter()
                .find(|(route, _, _)| *route == path)
                .map(|(_, code, body)| (*code, body.clone()))
                .or_else(|| otherwise.clone())
                .unwrap_or(not_found);
            let body = body.to_string();
            let response = format!(
                "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    url
}

/// A server on 127.0.0.1 that accepts connections and never answers; returns its URL.
fn silent_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.extend(stream.ok());
        }
    });
    url
}

const ASM_GROUP: &str = "istio.alibabacloud.com";

fn asm_group_list() -> Value {
    let version = json!({"groupVersion": "istio.alibabacloud.com/v1beta1", "version": "v1beta1"});
    json!({"kind": "APIGroupList", "apiVersion": "v1",
           "groups": [{"name": ASM_GROUP, "versions": [version], "preferredVersion": version}]})
}

/// The clusters, read through a kubeconfig (fake API servers on 127.0.0.1) or from a snapshot.
pub static CLUSTERS: &[Scenario] = &[
    Scenario {
        name: "no-context-for-asm",
        about: "neither the plan nor --context names the ASM control plane's context",
        setup: || {
            let world = World::shop();
            status_against(plan_with(&[("  asm:\n    context: asm-prod\n", "")]), &world, FakeWorld::asm(&world))
        },
    },
    Scenario {
        name: "context-not-in-kubeconfig",
        about: "--context names a context the kubeconfig does not have",
        setup: || {
            let world = World::shop();
            status_against(shop(), &world, FakeWorld::asm(&world)).args(&["--context", "asm=asm-staging"])
        },
    },
    Scenario {
        name: "client-cannot-be-made",
        about: "the kubeconfig's client certificate has no key",
        setup: || {
            let mut case = Case::new(shop(), &[]);
            let kubeconfig = case.temp_dir("tmp").join("kubeconfig");
            write_kubeconfig(
                &kubeconfig,
                "https://127.0.0.1:6443",
                "    client-certificate-data: bm90IGEgY2VydGlmaWNhdGU=\n    client-key-data: bm90IGEga2V5\n",
            );
            with_kubeconfig(case, &kubeconfig, &["status"])
        },
    },
    Scenario {
        name: "no-answer",
        about: "the ASM control plane's API server accepts the connection and never answers",
        setup: || status_against_server(shop(), &silent_server()).env("ASM_MIGRATE_CLUSTER_TIMEOUT", "1"),
    },
    Scenario {
        name: "unauthorized",
        about: "the ASM control plane's API server refuses the token",
        setup: || status_against(shop(), &World::shop(), Serving::Refuse(401)),
    },
    Scenario {
        name: "server-error",
        about: "the ASM control plane's API server answers 500",
        setup: || {
            let url =
                api_server(Vec::new(), Some((500, status(500, "InternalError", "etcdserver: request timed out"))));
            status_against_server(shop(), &url)
        },
    },
    Scenario {
        name: "group-not-served",
        about: "the ASM control plane's API server answers 404 to the API group list",
        setup: || status_against_server(shop(), &api_server(Vec::new(), None)),
    },
    Scenario {
        name: "asm-context-on-a-plain-cluster",
        about: "the ASM control plane's context reaches an API server that serves no ASM API group",
        setup: || {
            let groups = json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []});
            status_against_server(shop(), &api_server(vec![("/apis", 200, groups)], None))
        },
    },
    Scenario {
        name: "kind-not-served",
        about: "the ASM API group serves IstioGateway but no ASMMigrateFromIstio",
        setup: || {
            let resources = json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "istio.alibabacloud.com/v1beta1",
                "resources": [{"name": "istiogateways", "singularName": "istiogateway", "namespaced": true,
                               "kind": "IstioGateway", "verbs": ["get", "list"]}]});
            let routes =
                vec![("/apis", 200, asm_group_list()), ("/apis/istio.alibabacloud.com/v1beta1", 200, resources)];
            status_against_server(shop(), &api_server(routes, None))
        },
    },
    Scenario {
        name: "snapshot-file-missing",
        about: "the snapshot lacks the pods of cluster sh",
        setup: || {
            let mut case = Case::new(shop(), &[]);
            let snapshot = case.temp_dir("snapshot");
            World::shop().write_snapshot(&snapshot);
            std::fs::remove_file(snapshot.join("clusters/sh/pods.yaml")).expect("removed");
            let snapshot = snapshot.display().to_string();
            case.args(&["status", "--snapshot", &snapshot])
        },
    },
];

//! Issue 9, point 4: Istio's config imported into ASM. From `migrating` on, `<output>/asm/istio/` holds every object
//! of Istio's config API groups that the cluster sources build, in its namespace, the egress VirtualServices at the
//! step's weights; an object two clusters build differently is an error naming both files; and `finished` is taken
//! only once ASM's control plane holds every Istio object the clusters hold.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::crd::IstioSchemas;
use crate::fake::World;
use crate::gates::{observe, Via};
use crate::support::{Built, Repo};

const ASM: &str = "gitops/asm-migration/asm";
const IMPORTED: &str = "gitops/asm-migration/asm/istio";
const ISTIO_EGRESS: &str = "istio-egressgateway.istio-system.svc.cluster.local";
const ASM_EGRESS: &str = "istio-asm-egressgateway.istio-system.svc.cluster.local";
const ISTIO_GROUPS: [&str; 3] = ["networking.istio.io", "security.istio.io", "telemetry.istio.io"];

/// An object's kind, namespace and name.
type Key = (String, String, String);

/// The objects of Istio's config API groups in a build, by kind, namespace and name.
fn istio_objects(built: &Built) -> BTreeMap<Key, Value> {
    built
        .objects
        .iter()
        .filter(|object| {
            let group = object["apiVersion"].as_str().and_then(|version| version.split_once('/')).map(|(g, _)| g);
            group.is_some_and(|group| ISTIO_GROUPS.contains(&group))
        })
        .map(|object| {
            let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
            let key =
                (text(&object["kind"]), text(&object["metadata"]["namespace"]), text(&object["metadata"]["name"]));
            (key, object.clone())
        })
        .collect()
}

/// An object as README says ASM gets it: without status, its metadata only name, namespace, labels and
/// annotations, kubectl's and Argo CD's tracking annotations left out.
fn as_imported(object: &Value) -> Value {
    let mut imported = object.clone();
    let fields = imported.as_object_mut().expect("an object");
    fields.shift_remove("status");
    let metadata = fields["metadata"].as_object_mut().expect("metadata");
    metadata.retain(|key, _| ["name", "namespace", "labels", "annotations"].contains(&key.as_str()));
    if let Some(annotations) = metadata.get_mut("annotations").and_then(Value::as_object_mut) {
        annotations.shift_remove("kubectl.kubernetes.io/last-applied-configuration");
        annotations.shift_remove("argocd.argoproj.io/tracking-id");
        if annotations.is_empty() {
            metadata.shift_remove("annotations");
        }
    }
    imported
}

/// The files of the import, relative to `asm/istio/`, sorted; empty when there is none.
fn imported_files(repo: &Repo) -> Vec<String> {
    let root = repo.path().join(IMPORTED);
    let mut files = Vec::new();
    for namespace in std::fs::read_dir(&root).into_iter().flatten() {
        let namespace = namespace.expect("an entry");
        for file in std::fs::read_dir(namespace.path()).expect("a directory") {
            let file = file.expect("an entry");
            files.push(format!("{}/{}", namespace.file_name().to_string_lossy(), file.file_name().to_string_lossy()));
        }
    }
    files.sort();
    files
}

/// Every Istio object the clusters build is in ASM as the clusters have it, and ASM holds no other; each file of
/// the import names its object's namespace, the directory it is in. Returns ASM's build.
#[track_caller]
fn check_import(repo: &Repo, schemas: &IstioSchemas, sources: &[&str], step: &str) -> Built {
    let asm = repo.kustomize(ASM);
    let checked = schemas.validate_stream(&asm.text).unwrap_or_else(|errors| panic!("{step}: {}", errors.join("\n")));
    let in_asm = istio_objects(&asm);
    assert_eq!(checked, in_asm.len(), "{step}: every Istio object of asm/ is validated against Istio's CRDs");
    let mut in_clusters = BTreeMap::new();
    for source in sources {
        for (key, object) in istio_objects(&repo.kustomize(source)) {
            let imported = as_imported(&object);
            if let Some(other) = in_clusters.insert(key.clone(), imported.clone()) {
                assert_eq!(other, imported, "{step}: {key:?} is the same in every cluster");
            }
        }
    }
    assert_eq!(
        in_asm.keys().collect::<Vec<_>>(),
        in_clusters.keys().collect::<Vec<_>>(),
        "{step}: ASM holds the clusters' Istio objects, no more, no fewer"
    );
    for (key, object) in &in_asm {
        assert_eq!(object, &in_clusters[key], "{step}: {key:?} in ASM is the clusters' object");
    }
    for file in imported_files(repo) {
        let text = repo.read(&format!("{IMPORTED}/{file}"));
        let document: Value = serde_saphyr::from_str(&text).expect("the file parses");
        let namespace = file.split('/').next().expect("a directory");
        let written = if document["kind"] == "Namespace" {
            &document["metadata"]["name"]
        } else {
            &document["metadata"]["namespace"]
        };
        assert_eq!(written, namespace, "{step}: {file} names its namespace");
        assert!(document.get("status").is_none(), "{step}: {file} has no status");
    }
    asm
}

/// What the egress steps leave on the mesh route at `step` (`egress` names the entry).
fn expected_route(step: &str, egress: &str, weights_done: &mut Option<i64>) -> Vec<(String, Option<i64>)> {
    if let Some(weight) = step.strip_prefix(&format!("egress/{egress}/")) {
        *weights_done = Some(weight.parse().expect("a weight"));
    }
    match (step, *weights_done) {
        ("finished", _) => vec![(ASM_EGRESS.to_owned(), None)],
        (_, None) => vec![(ISTIO_EGRESS.to_owned(), Some(100))],
        (_, Some(weight)) => vec![(ISTIO_EGRESS.to_owned(), Some(100 - weight)), (ASM_EGRESS.to_owned(), Some(weight))],
    }
}

/// A security and a telemetry object beside the shop's payments, as dumped from a cluster (uid, resourceVersion,
/// kubectl's annotation, status): the three API groups are imported, and what only a live object carries is not.
const PAYMENTS_POLICIES: &str = "\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: api-from-storefront
  uid: 6f1c2a4e-0d7b-4c43-9a55-2b8f0e3d1c77
  resourceVersion: \"48213\"
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{}'
    team.example.com/owner: payments
spec:
  selector:
    matchLabels:
      app: api
  action: ALLOW
  rules:
    - from:
        - source:
            namespaces: [storefront]
status:
  validationMessages: []
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: payments-tracing
spec:
  tracing:
    - randomSamplingPercentage: 10.0
";

fn shop_with_policies() -> Repo {
    let repo = Repo::fixture("shop").edited(
        "apps/payments/kustomization.yaml",
        "  - egress-stripe.yaml\n",
        "  - egress-stripe.yaml\n  - policies.yaml\n",
    );
    repo.write("apps/payments/policies.yaml", PAYMENTS_POLICIES);
    repo.committed("payments' authorization policy and tracing")
}

#[test]
fn issue_9_the_shop_imports_istios_config_at_every_step_from_migrating_to_finished() {
    let repo = shop_with_policies();
    let schemas = IstioSchemas::load();
    let mut weight = None;
    let payments = [
        "payments/authorizationpolicy-api-from-storefront.yaml",
        "payments/destinationrule-egressgateway-for-stripe.yaml",
        "payments/gateway-asm-egressgateway.yaml",
        "payments/gateway-istio-egressgateway.yaml",
        "payments/namespace.yaml",
        "payments/serviceentry-stripe.yaml",
        "payments/telemetry-payments-tracing.yaml",
        "payments/virtualservice-stripe-through-egress-gateway.yaml",
    ];
    let storefront = [
        "storefront/gateway-storefront-gateway.yaml",
        "storefront/namespace.yaml",
        "storefront/virtualservice-storefront.yaml",
    ];
    for step in repo.step_ids() {
        repo.apply(&step);
        let files = imported_files(&repo);
        if step == "init" || step == "setup" {
            assert!(files.is_empty(), "{step}: nothing is imported before migrating: {files:?}");
            assert!(!repo.read(&format!("{ASM}/kustomization.yaml")).contains("istio/"));
            continue;
        }
        // Istio's east-west Gateway comes from its install paths, which finished removes from the sources.
        let mut expected: Vec<&str> = payments.iter().chain(&storefront).copied().collect();
        if step != "finished" {
            expected.insert(0, "istio-system/gateway-cross-network-gateway.yaml");
        }
        assert_eq!(files, expected, "{step}: one file per object, a Namespace per namespace but istio-system's");
        let kustomization = repo.read(&format!("{ASM}/kustomization.yaml"));
        for file in &files {
            assert!(kustomization.contains(&format!("  - istio/{file}\n")), "{step}: {file} is listed");
        }

        let asm = check_import(&repo, &schemas, &["clusters/hz", "clusters/sh"], &step);
        assert_eq!(
            asm.mesh_route("payments", "stripe-through-egress-gateway"),
            expected_route(&step, "stripe", &mut weight),
            "{step}"
        );
        for namespace in ["payments", "storefront"] {
            let declared = asm.get("Namespace", None, namespace);
            assert_eq!(declared["metadata"]["annotations"]["argocd.argoproj.io/sync-options"], "Prune=false", "{step}");
        }
        assert!(!asm
            .objects
            .iter()
            .any(|object| object["kind"] == "Namespace" && object["metadata"]["name"] == "istio-system"));

        let policy = asm.get("AuthorizationPolicy", Some("payments"), "api-from-storefront");
        assert_eq!(
            policy["metadata"]["labels"],
            json!({"app.kubernetes.io/part-of": "payments"}),
            "kustomize's labels"
        );
        assert_eq!(
            policy["metadata"]["annotations"],
            json!({"team.example.com/owner": "payments"}),
            "the owner's only"
        );
        assert_eq!(policy["metadata"].get("uid"), None);
        assert_eq!(policy.get("status"), None);
        let file = repo.read(&format!("{IMPORTED}/payments/virtualservice-stripe-through-egress-gateway.yaml"));
        assert!(file.contains("\n#   apps/payments/egress-stripe.yaml (clusters hz, sh)\n"), "{step}: {file}");
        assert!(
            file.contains("\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: stripe-through-egress-gateway\n  namespace: payments\n"),
            "{step}: the source's order of keys: {file}"
        );
        if step.starts_with("egress/") || step == "finished" {
            let service = asm.get("VirtualService", Some("payments"), "stripe-through-egress-gateway");
            assert!(service["spec"]["gateways"].as_array().expect("gateways").contains(&json!("asm-egressgateway")));
            assert!(file.contains("(with the route this step gives it)"), "{step}: {file}");
        }
    }
}

#[test]
fn issue_9_bookinfo_on_flux_imports_its_config_with_the_egress_weights() {
    let repo = Repo::fixture("bookinfo-flux");
    let schemas = IstioSchemas::load();
    let mut weight = None;
    for step in repo.step_ids() {
        repo.apply(&step);
        if step == "init" || step == "setup" {
            assert!(imported_files(&repo).is_empty(), "{step}");
            continue;
        }
        let asm = check_import(&repo, &schemas, &["apps/production"], &step);
        assert_eq!(
            asm.mesh_route("bookinfo", "direct-cnn-through-egress-gateway"),
            expected_route(&step, "cnn", &mut weight),
            "{step}"
        );
        let namespace = asm.get("Namespace", None, "bookinfo");
        assert_eq!(namespace["metadata"]["annotations"], json!({"kustomize.toolkit.fluxcd.io/prune": "disabled"}));
        assert_eq!(istio_objects(&asm).len(), 11, "{step}: bookinfo's 6, egress's 4 and ASM's egress Gateway");
    }
}

/// A source that puts what it builds into a namespace of its own and prefixes its names: ASM gets the objects as
/// the cluster has them, the egress VirtualService under its new name at the step's weights.
#[test]
fn issue_9_the_import_follows_the_namespace_and_names_the_source_gives() {
    let repo = Repo::fixture("bookinfo-flux");
    let source = repo.read("apps/production/kustomization.yaml");
    repo.write(
        "apps/production/kustomization.yaml",
        &format!("{source}namespace: prod-bookinfo\nnamePrefix: prod-\ncommonLabels:\n  env: prod\n"),
    );
    let repo = repo.committed("production renames bookinfo");
    let schemas = IstioSchemas::load();
    repo.apply_through("egress/cnn/10");
    let asm = check_import(&repo, &schemas, &["apps/production"], "egress/cnn/10");
    assert_eq!(
        asm.mesh_route("prod-bookinfo", "prod-direct-cnn-through-egress-gateway"),
        [(ISTIO_EGRESS.to_owned(), Some(90)), (ASM_EGRESS.to_owned(), Some(10))]
    );
    let gateway = asm.get("Gateway", Some("prod-bookinfo"), "prod-asm-egressgateway");
    assert_eq!(
        gateway["metadata"]["labels"],
        json!({"env": "prod"}),
        "the source's labels reach the component's objects"
    );
    assert!(imported_files(&repo).iter().all(|file| file.starts_with("prod-bookinfo/")));
}

const PEER_AUTHENTICATION: &str = "\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: payments
spec:
  mtls:
    mode: MODE
";

/// The shop with a PeerAuthentication payments/default in each cluster's own directory, hz's mode `hz`, sh's `sh`.
fn shop_with_peer_authentications(hz: &str, sh: &str) -> Repo {
    let mut repo = Repo::fixture("shop");
    for (cluster, mode) in [("hz", hz), ("sh", sh)] {
        repo = repo.edited(
            &format!("clusters/{cluster}/kustomization.yaml"),
            "  - ../../apps/payments\n",
            "  - ../../apps/payments\n  - peer-authentication.yaml\n",
        );
        repo.write(&format!("clusters/{cluster}/peer-authentication.yaml"), &PEER_AUTHENTICATION.replace("MODE", mode));
    }
    repo.committed("mTLS in payments")
}

#[test]
fn issue_9_an_object_two_clusters_build_differently_is_an_error_naming_both_files() {
    let repo = shop_with_peer_authentications("STRICT", "PERMISSIVE").at("setup");
    let (head, commits) = (repo.git(&["rev-parse", "HEAD"]), repo.commit_count());
    let expected = "error: Istio's PeerAuthentication payments/default is built differently by cluster `hz` \
         (clusters/hz/peer-authentication.yaml) and cluster `sh` (clusters/sh/peer-authentication.yaml): the two differ \
         in spec, and ASM holds one object of each name, so asm-migrate cannot import it\n  \
         --> clusters/hz/peer-authentication.yaml\n\
         help: make the two the same, or give one of them another name or namespace\n";
    for args in [&["apply", "--step", "migrating", "--commit"][..], &["diff", "--step", "migrating"]] {
        let run = repo.run(args).failure(2);
        assert_eq!(run.stderr, expected, "{args:?}");
        assert_eq!(run.stdout, "");
    }
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head, "nothing committed");
    assert_eq!(repo.commit_count(), commits);
    assert_eq!(repo.git(&["status", "--porcelain", "--ignored"]), "", "nothing written");
    assert!(imported_files(&repo).is_empty());

    // Alike, the object is imported once, from both files.
    let repo = shop_with_peer_authentications("STRICT", "STRICT").at("migrating");
    let file = repo.read(&format!("{IMPORTED}/payments/peerauthentication-default.yaml"));
    assert!(
        file.contains("#   clusters/hz/peer-authentication.yaml (cluster hz)\n#   clusters/sh/peer-authentication.yaml (cluster sh)\n"),
        "{file}"
    );
    let asm = repo.kustomize(ASM);
    assert_eq!(asm.get("PeerAuthentication", Some("payments"), "default")["spec"], json!({"mtls": {"mode": "STRICT"}}));
}

/// The shop's clusters and ASM as the GitOps engines left them after `ingress/public`: every workload on ASM's
/// proxy, ASM's gateways rolled out, each cluster holding the Istio objects its source builds, ASM those of asm/.
fn synced_world(repo: &Repo) -> World {
    let mut world = World::shop()
        .switched("Migrating")
        .every_workload(|workload| {
            workload.xds_agent = true;
            workload.on_asm = workload.namespace != "istio-system";
        })
        .with_asm_gateways(&["asm-egressgateway", "ingressgateway-asm"]);
    for cluster in ["hz", "sh"] {
        let built = repo.kustomize(&format!("clusters/{cluster}"));
        world.istio_objects.insert(cluster, istio_objects(&built).into_values().collect());
    }
    world.asm_istio_objects = istio_objects(&repo.kustomize(ASM)).into_values().collect();
    world
}

#[test]
fn issue_9_finished_is_taken_once_asm_holds_every_istio_object_of_the_clusters() {
    let precondition = format!("{:35}", "Istio's config imported into ASM");
    for live in [false, true] {
        let via = || if live { Via::Live } else { Via::Snapshot };
        let repo = Repo::fixture("shop").at("ingress/public");
        let commits = repo.commit_count();
        let synced = synced_world(&repo);
        assert_eq!(synced.asm_istio_objects.len(), 8, "the shop's 7 Istio objects and ASM's egress Gateway");

        // ASM's Application has not applied the import, and sh holds a policy made outside the repository.
        let mut behind = synced.clone();
        behind.asm_istio_objects.retain(|object| object["kind"] != "VirtualService");
        behind.istio_objects.get_mut("sh").expect("sh").push(json!({
            "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"namespace": "payments", "name": "made-by-hand"}, "spec": {}
        }));
        let confirm = ["advance", "--confirm", "ingress/public", "--confirm", "finished", "--commit"];
        let (run, _) = observe(&repo, &behind, via(), &confirm);
        let run = run.failure(1);
        assert!(
            run.stdout.contains(&format!(
                "{precondition}  unmet  5 Istio object(s) of the clusters are not in ASM (has the engine applied asm/? is \
                 each in a cluster source, where asm-migrate imports it from?): hz: VirtualService \
                 payments/stripe-through-egress-gateway, hz: VirtualService storefront/storefront, sh: VirtualService \
                 payments/stripe-through-egress-gateway, sh: VirtualService storefront/storefront, sh: \
                 AuthorizationPolicy payments/made-by-hand\n"
            )),
            "live {live}: {}",
            run.stdout
        );
        assert!(
            run.stdout.ends_with("not advancing to finished: 1 precondition(s) of finished unmet\n"),
            "{}",
            run.stdout
        );
        assert_eq!(repo.commit_count(), commits, "no commit");

        let (run, _) = observe(&repo, &synced, via(), &["status"]);
        assert!(run.stdout.contains(&format!("{precondition}  met\n")), "live {live}: {}", run.stdout);
        observe(&repo, &synced, via(), &confirm).0.success();
        assert_eq!(repo.head_subject(), "asm-migrate(shop-prod): finished (12/12)");
    }
}

/// A snapshot taken with the commands of an earlier README has no dump of the Istio objects: the check says so
/// rather than passing.
#[test]
fn issue_9_a_snapshot_without_the_istio_objects_cannot_show_the_import() {
    let repo = Repo::fixture("shop").at("ingress/public");
    let dir = tempfile::tempdir().expect("a temporary directory");
    synced_world(&repo).write_snapshot(dir.path());
    std::fs::remove_file(dir.path().join("asm/istio-objects.yaml")).expect("removed");
    let snapshot = dir.path().to_str().expect("UTF-8");
    let run = repo.run(&["status", "--snapshot", snapshot]).failure(1);
    assert!(
        run.stdout.contains(&format!(
            "{:35}  unmet  ASM's Istio objects were not read (a snapshot without asm/istio-objects.yaml)\n",
            "Istio's config imported into ASM"
        )),
        "{}",
        run.stdout
    );
    synced_world(&repo).write_snapshot(dir.path());
    std::fs::remove_file(dir.path().join("clusters/sh/istio-objects.yaml")).expect("removed");
    let run = repo.run(&["status", "--snapshot", snapshot]).failure(1);
    assert!(run.stdout.contains("unmet  1 Istio object(s) of the clusters are not in ASM"), "{}", run.stdout);
    assert!(run.stdout.contains(": sh: not read (a snapshot without istio-objects.yaml)\n"), "{}", run.stdout);
}

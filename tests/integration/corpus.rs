//! The corpus: real repositories nobody here wrote (`fixtures/corpus/`), each taken as a new user takes it: `init`,
//! every `# decide:` as its commented line says, `validate`, every step, and kubectl's builds held to invariants.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::crd::IstioSchemas;
use crate::init::decide;
use crate::support::{on_asm, Repo};

/// One repository of the corpus: what its GitOps engine builds, and what asm-migrate still gets wrong on it.
struct Case {
    name: &'static str,
    /// The directories the repository's GitOps engine builds, each with the namespace the engine gives what names
    /// none (an Argo CD Application's `destination.namespace`), or that it forces (Flux's `targetNamespace`).
    builds: &'static [Build],
    /// What asm-migrate gets wrong on this repository today, each a violation as `violations` words it: the open
    /// defects of "Right on repositories nobody here wrote". A new violation fails the test, and so does one that
    /// went away, until it is struck from this list.
    known: &'static [&'static str],
}

/// A directory the engine builds, and the physical cluster it applies it to.
struct Build {
    dir: &'static str,
    cluster: &'static str,
    namespace: Namespace,
}

/// The namespace an engine gives a build's objects (no repository of the corpus has a Flux `targetNamespace` yet).
#[derive(Clone, Copy)]
enum Namespace {
    /// The objects' own (kustomize's).
    Own,
    /// An Argo CD Application's `destination.namespace`: given to the namespaced objects that name none.
    Default(&'static str),
}

/// Kinds that name no namespace when they are built (cluster-scoped), among those the invariants read.
const CLUSTER_SCOPED: [&str; 6] = [
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// A directory as the engine builds it: kubectl kustomize, with the kustomization Flux generates where there is none,
/// and the engine's namespace applied.
fn built(repo: &Repo, build: &Build, read: bool) -> Result<Vec<Value>, String> {
    let dir = repo.path().join(build.dir);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let generated =
        ["kustomization.yaml", "kustomization.yml", "Kustomization"].iter().all(|name| !dir.join(name).exists());
    if generated {
        std::fs::write(dir.join("kustomization.yaml"), flux_generated_kustomization(&dir)).expect("written");
    }
    let output = std::process::Command::new("kubectl")
        .args(["kustomize", build.dir])
        .current_dir(repo.path())
        .output()
        .expect("kubectl runs");
    if generated {
        std::fs::remove_file(dir.join("kustomization.yaml")).expect("removed");
    }
    if !output.status.success() {
        return Err(format!(
            "kubectl kustomize {} fails: {}",
            build.dir,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    if !read {
        return Ok(Vec::new());
    }
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    let mut objects: Vec<Value> = serde_saphyr::from_multiple(&text).expect("kustomize's output parses");
    for object in &mut objects {
        let kind = object["kind"].as_str().unwrap_or_default().to_owned();
        if CLUSTER_SCOPED.contains(&kind.as_str()) {
            continue;
        }
        match build.namespace {
            Namespace::Own => {}
            Namespace::Default(namespace) if object["metadata"]["namespace"].is_null() => {
                object["metadata"]["namespace"] = namespace.into();
            }
            Namespace::Default(_) => {}
        }
    }
    Ok(objects)
}

/// The kustomization.yaml Flux's kustomize-controller generates for a path without one: every manifest under it, a
/// directory with a kustomization of its own taken whole.
fn flux_generated_kustomization(dir: &std::path::Path) -> String {
    fn walk(root: &std::path::Path, dir: &std::path::Path, resources: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).expect("a directory").flatten().map(|e| e.path()).collect();
        entries.sort();
        for path in entries {
            let relative = path.strip_prefix(root).expect("under the root").to_string_lossy().into_owned();
            if path.is_dir() {
                if path.join("kustomization.yaml").exists() || path.join("kustomization.yml").exists() {
                    resources.push(relative);
                } else {
                    walk(root, &path, resources);
                }
            } else if relative.ends_with(".yaml") || relative.ends_with(".yml") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if text.contains("apiVersion:") && text.contains("kind:") {
                    resources.push(relative);
                }
            }
        }
    }
    let mut resources = Vec::new();
    walk(dir, dir, &mut resources);
    let document = serde_json::json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    });
    serde_saphyr::to_string(&document).expect("YAML")
}

/// The first line of what a run printed on stderr, without the `error: ` every message starts with.
fn first_line(stderr: &str) -> String {
    let line = stderr.lines().find(|line| !line.trim().is_empty()).unwrap_or_default();
    line.trim_start_matches("error: ").to_owned()
}

/// `namespace/name` of an object.
fn id(object: &Value) -> String {
    format!(
        "{}/{}",
        object["metadata"]["namespace"].as_str().unwrap_or_default(),
        object["metadata"]["name"].as_str().unwrap_or_default()
    )
}

fn is_workload(object: &Value) -> bool {
    matches!(object["kind"].as_str(), Some("Deployment" | "StatefulSet" | "DaemonSet"))
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
        .collect()
}

/// The workloads of a cluster's builds Istio injects today: by their pod template's label or annotation, else by
/// their namespace's labels, as Istio's injector decides; and those whose manifest carries Istio's proxy already
/// (`istioctl kube-inject`).
fn injected(objects: &[&Value]) -> (BTreeSet<String>, BTreeSet<String>) {
    let namespaces: BTreeMap<String, BTreeMap<String, String>> = objects
        .iter()
        .filter(|object| object["kind"] == "Namespace")
        .map(|object| {
            (
                object["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
                string_map(&object["metadata"]["labels"]),
            )
        })
        .collect();
    let (mut by_injector, mut by_manifest) = (BTreeSet::new(), BTreeSet::new());
    for object in objects.iter().filter(|object| is_workload(object)) {
        let template = &object["spec"]["template"];
        let containers = template["spec"]["containers"].as_array().into_iter().flatten();
        // Istio's own gateways (in istio-system) stay Istio's until `finished` removes them.
        if object["metadata"]["namespace"] == "istio-system" {
            continue;
        }
        if containers.clone().any(|container| container["name"] == "istio-proxy") {
            by_manifest.insert(format!("{}/{}", object["kind"].as_str().unwrap_or_default(), id(object)));
            continue;
        }
        let inject = template["metadata"]["labels"]["sidecar.istio.io/inject"]
            .as_str()
            .or(template["metadata"]["annotations"]["sidecar.istio.io/inject"].as_str());
        let namespace = namespaces.get(object["metadata"]["namespace"].as_str().unwrap_or_default());
        let by_namespace = namespace.is_some_and(|labels| {
            labels.get("istio-injection").map(String::as_str) == Some("enabled") || labels.contains_key("istio.io/rev")
        });
        let injects = match inject {
            Some("true") => true,
            Some(_) => false,
            None => {
                by_namespace
                    && !namespace
                        .is_some_and(|labels| labels.get("istio-injection").map(String::as_str) == Some("disabled"))
            }
        };
        if injects {
            by_injector.insert(format!("{}/{}", object["kind"].as_str().unwrap_or_default(), id(object)));
        }
    }
    (by_injector, by_manifest)
}

/// Istio's mesh config objects of a build and whether each carries `PROXY_CONFIG_XDS_AGENT: "true"`.
fn mesh_configs(objects: &[&Value]) -> Vec<(String, bool)> {
    let flag = |metadata: &Value| metadata["PROXY_CONFIG_XDS_AGENT"] == "true";
    objects
        .iter()
        .filter_map(|object| {
            let kind = object["kind"].as_str()?;
            let api = object["apiVersion"].as_str().unwrap_or_default();
            let carried = if kind == "IstioOperator" {
                let values = &object["spec"];
                // The gateway-only operators of a cluster (no control plane) hold no mesh config.
                if values["profile"] == "empty" && values["meshConfig"].is_null() {
                    return None;
                }
                flag(&values["meshConfig"]["defaultConfig"]["proxyMetadata"])
            } else if kind == "HelmRelease" && api.starts_with("helm.toolkit.fluxcd.io/") {
                if object["spec"]["chart"]["spec"]["chart"] != "istiod" {
                    return None;
                }
                flag(&object["spec"]["values"]["meshConfig"]["defaultConfig"]["proxyMetadata"])
            } else if kind == "ConfigMap" && id(object) == "istio-system/istio" {
                let mesh: Value =
                    serde_saphyr::from_str(object["data"]["mesh"].as_str().unwrap_or("{}")).unwrap_or_default();
                flag(&mesh["defaultConfig"]["proxyMetadata"])
            } else {
                return None;
            };
            Some((format!("{kind} {}", id(object)), carried))
        })
        .collect()
}

/// What deploys Istio's control plane in a build: istiod's Deployment, an IstioOperator with a control plane, a
/// HelmRelease of the istiod chart.
fn istio_control_plane(objects: &[&Value]) -> Vec<String> {
    objects
        .iter()
        .filter(|object| match object["kind"].as_str() {
            Some("Deployment") => object["metadata"]["name"].as_str().is_some_and(|name| name.starts_with("istiod")),
            Some("IstioOperator") => object["spec"]["profile"] != "empty",
            Some("HelmRelease") => object["spec"]["chart"]["spec"]["chart"] == "istiod",
            _ => false,
        })
        .map(|object| format!("{} {}", object["kind"].as_str().unwrap_or_default(), id(object)))
        .collect()
}

/// The network a cluster's own Istio install declares: its IstioOperator's or istiod HelmRelease's
/// `values.global.network`, else istio-system's `topology.istio.io/network` label.
fn declared_network(objects: &[&Value]) -> Option<String> {
    let from_values = objects.iter().find_map(|object| match object["kind"].as_str() {
        Some("IstioOperator") => object["spec"]["values"]["global"]["network"].as_str(),
        Some("HelmRelease") if object["spec"]["chart"]["spec"]["chart"] == "istiod" => {
            object["spec"]["values"]["global"]["network"].as_str()
        }
        _ => None,
    });
    let from_label = || {
        objects
            .iter()
            .find(|object| object["kind"] == "Namespace" && object["metadata"]["name"] == "istio-system")
            .and_then(|namespace| namespace["metadata"]["labels"]["topology.istio.io/network"].as_str())
    };
    from_values.or_else(from_label).map(str::to_owned)
}

/// The labels a pod of ASM's gateway carries: `istio: <name>`, `app: istio-<name>` and the IstioGateway's
/// `podLabels`.
fn asm_gateway_pod_labels(gateway: &Value) -> BTreeMap<String, String> {
    let name = gateway["metadata"]["name"].as_str().unwrap_or_default();
    let mut labels =
        BTreeMap::from([("istio".to_owned(), name.to_owned()), ("app".to_owned(), format!("istio-{name}"))]);
    labels.extend(string_map(&gateway["spec"]["podLabels"]));
    labels
}

/// Takes `case` from `init` to `finished` and returns every invariant it breaks, in words.
fn violations(case: &Case) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let repo = Repo::corpus(case.name);
    let clusters: BTreeSet<&str> = case.builds.iter().map(|build| build.cluster).collect();
    let initial = builds_of(&repo, case, &mut found, "before", true);
    let run = repo.run(&["init"]);
    if run.code != 0 {
        found.insert(format!("init refuses: {}", first_line(&run.stderr)));
        return found;
    }
    // Every `# decide:` as its commented line says.
    decide(&repo, &[]);
    let run = repo.run(&["validate"]);
    if run.code != 0 {
        for error in run.stderr.lines().filter_map(|line| line.strip_prefix("error: ")) {
            found.insert(format!("validate refuses init's plan: {error}"));
        }
        return found;
    }
    let repo = repo.committed("the plan init wrote, decided");
    let plan: Value = serde_saphyr::from_str(&repo.read("migration.yaml")).expect("the plan parses");
    let plan_clusters = plan["spec"]["clusters"].as_array().cloned().unwrap_or_default();
    // One plan cluster per physical cluster that runs Istio's proxies or gateways.
    let meshed: BTreeSet<&str> = clusters
        .iter()
        .copied()
        .filter(|cluster| {
            let objects = initial.of(cluster);
            let (by_injector, by_manifest) = injected(&objects);
            !by_injector.is_empty()
                || !by_manifest.is_empty()
                || objects.iter().any(|object| object["kind"] == "Gateway")
        })
        .collect();
    if plan_clusters.len() != meshed.len() {
        found.insert(format!("the plan has {} cluster(s) for {} meshed cluster(s)", plan_clusters.len(), meshed.len()));
    }
    // Each plan cluster's network is the one its own Istio install declares.
    for cluster in &plan_clusters {
        let (name, source) =
            (cluster["name"].as_str().unwrap_or_default(), cluster["source"].as_str().unwrap_or_default());
        let Some(build) = case.builds.iter().find(|build| build.dir == source) else {
            found.insert(format!("cluster {name}: its source {source} is no directory the engine builds"));
            continue;
        };
        let runs_east_west = initial.of(build.cluster).iter().any(|object| {
            let component = object["spec"]["components"]["ingressGateways"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|gateway| gateway["name"] == "istio-eastwestgateway" && gateway["enabled"] == true);
            (object["kind"] == "IstioOperator" && component)
                || (object["kind"] == "Deployment" && object["metadata"]["name"] == "istio-eastwestgateway")
        });
        if runs_east_west && cluster["eastWestGateway"] != true {
            found.insert(format!(
                "cluster {name}: Istio's east-west gateway runs there, and eastWestGateway is not true"
            ));
        }
        let declared = declared_network(&initial.of(build.cluster));
        let planned = cluster["network"].as_str();
        if declared.is_some() && declared.as_deref() != planned {
            found.insert(format!(
                "cluster {name}: network {} where its Istio declares {}",
                planned.unwrap_or("-"),
                declared.unwrap_or_default()
            ));
        }
    }
    // Wave workloads are named in the namespace they are deployed to.
    let everywhere = initial.all();
    for wave in plan["spec"]["waves"].as_array().into_iter().flatten() {
        for workload in wave["workloads"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            let parts: Vec<&str> = workload.split('/').collect();
            let (kind, namespace, name) = match parts[..] {
                [kind, namespace, name] => (kind, namespace, name),
                [namespace, name] => ("Deployment", namespace, name),
                _ => continue,
            };
            if kind == "HelmRelease" {
                continue;
            }
            let deployed =
                everywhere.iter().any(|object| object["kind"] == kind && id(object) == format!("{namespace}/{name}"));
            if !deployed {
                found.insert(format!(
                    "wave {}: {workload} is deployed by no build",
                    wave["name"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    let unseen: BTreeSet<String> = plan_clusters
        .iter()
        .flat_map(|cluster| cluster["unseen"].as_array().cloned().unwrap_or_default())
        .filter_map(|entry| entry.as_str().map(str::to_owned))
        .collect();

    let (initial_flux, _) = flux_dependencies(&engine_documents(&repo));
    let schemas = IstioSchemas::load();
    let output = plan["spec"]["output"].as_str().unwrap_or_default().to_owned();
    let steps = repo.step_ids();
    for (index, step) in steps.iter().enumerate() {
        let run = repo.run(&["apply", "--step", step, "--commit", "--force"]);
        if run.code != 0 {
            found.insert(format!("{step} fails: {}", first_line(&run.stderr)));
            return found;
        }
        // Read where an invariant can change: the steps that edit Istio's config or sources, and the one before
        // each step that moves traffic (ASM's gateway is there, its traffic not yet moved).
        let before_a_move = steps.get(index + 1).is_some_and(|next| next.starts_with("ingress/"));
        let read =
            matches!(step.as_str(), "setup" | "migrating" | "finished") || step.starts_with("egress/") || before_a_move;
        let now = builds_of(&repo, case, &mut found, step, read);
        let asm = repo.kustomize(&format!("{output}/asm"));
        let objects: Vec<Value> = now.all().into_iter().chain(&asm.objects).cloned().collect();
        if let Err(errors) = schemas.validate_objects(&objects) {
            found.insert(format!("{step}: Istio objects do not validate: {}", errors.join("; ")));
        }
        // No Service selects ASM's ingress gateway's pods before the step that moves that traffic.
        for gateway in asm.objects.iter().filter(|object| object["kind"] == "IstioGateway") {
            let name = gateway["metadata"]["name"].as_str().unwrap_or_default();
            let Some(entry) =
                plan["spec"]["ingress"].as_array().into_iter().flatten().find(|entry| entry["asmGateway"] == name)
            else {
                continue;
            };
            let moves = format!("ingress/{}", entry["name"].as_str().unwrap_or_default());
            if steps[..=index].contains(&moves) {
                continue;
            }
            let pods = asm_gateway_pod_labels(gateway);
            for service in now.all().iter().filter(|object| object["kind"] == "Service") {
                let selector = string_map(&service["spec"]["selector"]);
                if !selector.is_empty() && selector.iter().all(|(key, value)| pods.get(key) == Some(value)) {
                    found.insert(format!(
                        "{step}: Service {} selects ASM gateway {name}'s pods before {moves}",
                        id(service)
                    ));
                }
            }
        }
        let engine = engine_documents(&repo);
        for (object, path) in engine_paths(&engine) {
            if !repo.path().join(&path).is_dir() {
                found.insert(format!("{step}: {object} builds {path}, which is not in the repository"));
            }
        }
        let (names, dependencies) = flux_dependencies(&engine);
        for (object, dependency) in dependencies {
            if initial_flux.contains(&dependency) && !names.contains(&dependency) {
                found.insert(format!("{step}: {object} depends on {dependency}, which the repository no longer has"));
            }
        }
        if step == "setup" {
            for cluster in &meshed {
                for (config, carried) in mesh_configs(&now.of(cluster)) {
                    if !carried {
                        found.insert(format!("setup: {config} in cluster {cluster} lacks PROXY_CONFIG_XDS_AGENT"));
                    }
                }
            }
        }
        if step == "finished" {
            for cluster in &clusters {
                let objects = now.of(cluster);
                for left in istio_control_plane(&objects) {
                    found.insert(format!("finished: {left} is still deployed to cluster {cluster}"));
                }
                let (by_injector, by_manifest) = injected(&initial.of(cluster));
                for workload in by_injector.iter().chain(&by_manifest) {
                    let moved = objects.iter().any(|object| {
                        is_workload(object)
                            && format!("{}/{}", object["kind"].as_str().unwrap_or_default(), id(object)) == *workload
                            && on_asm(&object["spec"]["template"]["metadata"])
                    });
                    let acknowledged =
                        unseen.iter().any(|entry| workload.ends_with(entry.rsplit('/').next().unwrap_or_default()));
                    if !moved && !acknowledged {
                        found.insert(format!("finished: {workload} in cluster {cluster} is not on ASM's proxy"));
                    }
                }
            }
        }
    }
    found
}

/// Every Flux Kustomization and Argo CD Application of the repository with the directory it builds (a GitRepository
/// source's path, repository-relative): `Kustomization flux-system/apps (clusters/my-cluster/apps.yaml)`.
fn engine_paths(engine: &[(String, Value)]) -> Vec<(String, String)> {
    let mut paths = Vec::new();
    for (file, document) in engine {
        let api = document["apiVersion"].as_str().unwrap_or_default();
        let path = if api.starts_with("kustomize.toolkit.fluxcd.io/") && document["kind"] == "Kustomization" {
            document["spec"]["path"].as_str()
        } else if api.starts_with("argoproj.io/") && document["kind"] == "Application" {
            document["spec"]["source"]["path"].as_str()
        } else {
            None
        };
        let Some(path) = path else { continue };
        let path = path.trim_start_matches("./").trim_end_matches('/');
        if path.is_empty() || path == "." {
            continue;
        }
        let kind = document["kind"].as_str().unwrap_or_default();
        paths.push((format!("{kind} {} ({file})", id(document)), path.to_owned()));
    }
    paths
}

/// The Flux Kustomizations of the repository (`namespace/name`), and each one's `dependsOn` entries.
fn flux_dependencies(engine: &[(String, Value)]) -> (BTreeSet<String>, Vec<(String, String)>) {
    let (mut names, mut dependencies) = (BTreeSet::new(), Vec::new());
    for (_, document) in engine {
        let api = document["apiVersion"].as_str().unwrap_or_default();
        if !api.starts_with("kustomize.toolkit.fluxcd.io/") || document["kind"] != "Kustomization" {
            continue;
        }
        let namespace = document["metadata"]["namespace"].as_str().unwrap_or("flux-system");
        names.insert(format!("{namespace}/{}", document["metadata"]["name"].as_str().unwrap_or_default()));
        for dependency in document["spec"]["dependsOn"].as_array().into_iter().flatten() {
            let target = format!(
                "{}/{}",
                dependency["namespace"].as_str().unwrap_or(namespace),
                dependency["name"].as_str().unwrap_or_default()
            );
            dependencies.push((format!("Kustomization {}", id(document)), target));
        }
    }
    (names, dependencies)
}

/// The documents of the repository's files that declare Flux's or Argo CD's objects, with their files.
fn engine_documents(repo: &Repo) -> Vec<(String, Value)> {
    fn files(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() && entry.file_name() != ".git" {
                files(&path, found);
            } else if path.extension().is_some_and(|extension| extension == "yaml" || extension == "yml") {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    files(repo.path(), &mut found);
    found.sort();
    let mut documents = Vec::new();
    for file in found {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if !text.contains("fluxcd.io/") && !text.contains("argoproj.io/") {
            continue;
        }
        let relative = file.strip_prefix(repo.path()).expect("in the repository").to_string_lossy().into_owned();
        for document in serde_saphyr::from_multiple::<Value>(&text).unwrap_or_default() {
            documents.push((relative.clone(), document));
        }
    }
    documents
}

/// Every build of a case at one step: its objects by physical cluster.
struct Builds {
    by_cluster: Vec<(&'static str, Vec<Value>)>,
}

impl Builds {
    fn of(&self, cluster: &str) -> Vec<&Value> {
        self.by_cluster.iter().filter(|(name, _)| *name == cluster).flat_map(|(_, objects)| objects).collect()
    }

    fn all(&self) -> Vec<&Value> {
        self.by_cluster.iter().flat_map(|(_, objects)| objects).collect()
    }
}

/// Every build of `case` after `step`: each must build; its objects are read only when `read` (a large repository's
/// builds take seconds to parse, and a step that changes no invariant need not pay it).
fn builds_of(repo: &Repo, case: &Case, found: &mut BTreeSet<String>, step: &str, read: bool) -> Builds {
    let mut builds = Builds { by_cluster: Vec::new() };
    for build in case.builds {
        match built(repo, build, read) {
            Ok(objects) => builds.by_cluster.push((build.cluster, objects)),
            Err(problem) => {
                found.insert(format!("{step}: {problem}"));
            }
        }
    }
    builds
}

const fn own(dir: &'static str, cluster: &'static str) -> Build {
    Build { dir, cluster, namespace: Namespace::Own }
}

/// What Flux builds of stefanprodan/gitops-istio, at either commit: its cluster's Kustomizations and their paths.
const GITOPS_ISTIO: &[Build] = &[
    own("clusters/my-cluster", "my-cluster"),
    own("istio/system", "my-cluster"),
    own("istio/gateway", "my-cluster"),
    own("apps", "my-cluster"),
];

/// The corpus, one case per repository (fixtures/corpus/<name>/NOTICE says where each comes from).
const CASES: &[Case] = &[
    Case {
        name: "kubeflow-manifests",
        builds: &[own("clusters/kubeflow", "in-cluster")],
        known: &[
            "finished: Deployment istio-system/istiod is still deployed to cluster in-cluster",
            "migrating: Service istio-system/istio-ingressgateway selects ASM gateway ingressgateway-asm's pods before ingress/ingressgateway",
            "setup: ConfigMap istio-system/istio in cluster in-cluster lacks PROXY_CONFIG_XDS_AGENT",
            "wave/rest: Service istio-system/istio-ingressgateway selects ASM gateway ingressgateway-asm's pods before ingress/ingressgateway",
        ],
    },
    Case {
        name: "gitops-istio",
        builds: GITOPS_ISTIO,
        known: &["validate refuses init's plan: cluster `hz`: `clusters/hz` has no kustomization.yaml"],
    },
    Case {
        name: "gitops-istio-helm",
        builds: GITOPS_ISTIO,
        known: &["validate refuses init's plan: cluster `hz`: `clusters/hz` has no kustomization.yaml"],
    },
    Case {
        name: "microservices-demo",
        builds: &[Build { dir: "deploy/boutique", cluster: "in-cluster", namespace: Namespace::Default("boutique") }],
        known: &["validate refuses init's plan: meshConfig.path `path/to/the/file.yaml` does not exist"],
    },
    Case {
        name: "multinetwork-flux",
        builds: &[
            own("gitops/hangzhou/flux-resources", "hangzhou"),
            own("gitops/hangzhou/istio", "hangzhou"),
            own("apps/hangzhou", "hangzhou"),
            own("gitops/shanghai/flux-resources", "shanghai"),
            own("gitops/shanghai/istio", "shanghai"),
            own("apps/shanghai", "shanghai"),
            own("gitops/beijing/flux-resources", "beijing"),
            own("gitops/beijing/istio", "beijing"),
            own("gitops/beijing/apps", "beijing"),
        ],
        known: &[
            "setup: IstioOperator istio-system/control-plane in cluster hangzhou lacks PROXY_CONFIG_XDS_AGENT",
            "setup: IstioOperator istio-system/control-plane in cluster shanghai lacks PROXY_CONFIG_XDS_AGENT",
            "the plan has 2 cluster(s) for 3 meshed cluster(s)",
        ],
    },
];

/// A repository of the corpus from `init` to `finished`: what breaks an invariant is exactly what its case lists as
/// known.
#[track_caller]
fn migrates_as_far_as_its_known_defects_say(name: &str) {
    let case = CASES.iter().find(|case| case.name == name).expect("a case of the corpus");
    let found = violations(case);
    let known: BTreeSet<String> = case.known.iter().map(|known| (*known).to_owned()).collect();
    let new: Vec<&String> = found.difference(&known).collect();
    let gone: Vec<&String> = known.difference(&found).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "{name}:\nnew violations: {new:#?}\ngone (strike them from `known`): {gone:#?}"
    );
}

#[test]
fn kubeflow_installing_istio_with_injection_set_by_upstream_patches() {
    migrates_as_far_as_its_known_defects_say("kubeflow-manifests");
}

#[test]
fn gitops_istio_with_kube_injected_workloads_and_flux_paths_without_kustomizations() {
    migrates_as_far_as_its_known_defects_say("gitops-istio");
}

#[test]
fn gitops_istio_with_istio_from_helm_releases_and_flagger_canaries() {
    migrates_as_far_as_its_known_defects_say("gitops-istio-helm");
}

#[test]
fn microservices_demo_deployed_into_an_argo_cd_destination_namespace() {
    migrates_as_far_as_its_known_defects_say("microservices-demo");
}

#[test]
fn three_flux_clusters_on_three_networks_one_with_only_the_ingress_gateway() {
    migrates_as_far_as_its_known_defects_say("multinetwork-flux");
}

/// A repository holding Flux objects only is Flux's, even when no path they build has a kustomization.yaml yet:
/// `init` names the engine and the object it read it from, never a guess of Argo CD.
#[test]
fn init_names_flux_from_flux_objects_whose_paths_have_no_kustomization() {
    let repo = Repo::corpus("gitops-istio");
    let run = repo.run(&["init"]).success();
    let plan = repo.read("migration.yaml");
    assert!(
        plan.contains("engine: flux  # Flux Kustomization flux-system/apps (clusters/my-cluster/apps.yaml)"),
        "{plan}"
    );
    assert!(!plan.contains("argocd"), "{plan}");
    assert!(
        run.stdout.contains(
            "builds apps, which has no kustomization.yaml (Flux generates one): asm-migrate reads a cluster source \
             through its own"
        ),
        "{}",
        run.stdout
    );
}

/// Workloads an Argo CD Application deploys into its destination namespace are named there in the plan, not in
/// `default` (which kustomize's build, without a namespace, would suggest).
#[test]
fn init_names_workloads_in_the_argo_cd_destination_namespace() {
    let repo = Repo::corpus("microservices-demo");
    repo.run(&["init"]).success();
    let plan = repo.read("migration.yaml");
    assert!(plan.contains("      workloads: [boutique/adservice]\n"), "{plan}");
    assert!(plan.contains("      namespaces: [boutique]\n"), "{plan}");
    assert!(!plan.contains("default/"), "{plan}");
}

/// Each cluster's network is the one its own Istio install declares, found through the Flux Kustomization that
/// deploys it beside the cluster's source, never the network of another cluster's Istio.
#[test]
fn init_reads_each_clusters_network_from_its_own_istio_install() {
    let repo = Repo::corpus("multinetwork-flux");
    repo.run(&["init"]).success();
    let plan = repo.read("migration.yaml");
    for cluster in ["hangzhou", "shanghai"] {
        let expected = format!(
            "network: network-{cluster}  # IstioOperator control-plane (gitops/{cluster}/istio/control-plane.yaml), \
             which Flux Kustomization istio (gitops/{cluster}/flux-resources/istio.yaml) deploys beside this \
             cluster's source"
        );
        assert!(plan.contains(&expected), "{plan}");
    }
    assert!(!plan.contains("network: network-beijing"), "{plan}");
}

/// `init --wire` writes the Flux Kustomization that applies ASM's part in the API version the repository's own are
/// written in, and lists it in its directory's kustomization: a directory that lists its manifests applies no other.
#[test]
fn init_wires_the_asm_kustomization_where_flux_applies_it() {
    let repo = Repo::corpus("multinetwork-flux");
    let run = repo.run(&["init", "--wire"]).success();
    let dir = "gitops/hangzhou/flux-resources";
    assert!(
        run.stdout.contains(&format!(
            "  added it to the resources of {dir}/kustomization.yaml, which lists what its directory applies\n"
        )),
        "{}",
        run.stdout
    );
    let built = repo.kustomize(dir);
    let applier = built.get("Kustomization", Some("flux-system"), "mesh-gitops-asm-control-plane");
    assert_eq!(applier["apiVersion"], "kustomize.toolkit.fluxcd.io/v1");
    assert_eq!(applier["spec"]["path"], "./gitops/asm-migration/asm");
    let mode = std::fs::metadata(repo.path().join(dir).join("kustomization.yaml")).expect("a file").permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o644, "the edited file keeps its mode");
}

//! Reading the GitOps repository: each cluster's kustomization tree, its workloads, namespaces and Istio objects.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::plan::{normalize_repo_path, Plan, WorkloadKind};
use crate::steps::WorkloadKey;

pub const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];
const INJECT: &str = "sidecar.istio.io/inject";

/// A Kubernetes object read from the repository.
#[derive(Debug, Clone)]
pub struct Object {
    pub kind: String,
    pub api_version: String,
    /// The namespace kustomize gives it (the outermost `namespace:` wins over `metadata.namespace`).
    pub namespace: Option<String>,
    pub name: String,
    /// Repository-relative file it was read from.
    pub file: String,
    pub value: Value,
}

impl Object {
    pub fn group(&self) -> &str {
        self.api_version.rsplit_once('/').map(|(group, _)| group).unwrap_or("")
    }

    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{} {}/{} ({})", self.kind, namespace, self.name, self.file),
            None => format!("{} {} ({})", self.kind, self.name, self.file),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Workload {
    pub key: WorkloadKey,
    pub injected: bool,
    /// Pods the workload runs (`None` for a DaemonSet: one per node).
    pub replicas: Option<u64>,
}

/// What one cluster's source builds, as far as the migration is concerned.
#[derive(Debug, Clone, Default)]
pub struct ClusterInventory {
    /// Repository-relative path of the source's kustomization file.
    pub kustomization_file: String,
    /// Whether the source already lists the tool's component.
    pub includes_component: bool,
    pub workloads: Vec<Workload>,
    /// Namespace objects by name.
    pub namespaces: BTreeMap<String, Object>,
    /// Objects of the networking.istio.io group.
    pub istio_objects: Vec<Object>,
    /// How many objects the source builds (as far as it could be read).
    pub object_count: usize,
}

impl ClusterInventory {
    pub fn istio_object(&self, kind: &str, namespace: &str, name: &str) -> Option<&Object> {
        self.istio_objects
            .iter()
            .find(|object| object.kind == kind && object.name == name && object.namespace.as_deref() == Some(namespace))
    }
}

#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub clusters: BTreeMap<String, ClusterInventory>,
}

/// Read access to a repository's files, from its working tree or from a commit's tree: the inventory and
/// the rendering see the repository only through it.
pub trait RepoFiles {
    /// The text of a file (repository-relative path), or `None` when there is none.
    fn read(&self, path: &str) -> Result<Option<String>, Diagnostic>;
    fn is_file(&self, path: &str) -> bool;
    fn is_dir(&self, path: &str) -> bool;
    /// Every file under a directory ("" for the whole repository), repository-relative and sorted.
    fn files_under(&self, dir: &str) -> Vec<String>;
}

/// The kustomization file of a directory, if it has one.
pub fn kustomization_in(files: &dyn RepoFiles, dir: &str) -> Option<String> {
    KUSTOMIZATION_FILES.iter().map(|name| join(dir, name)).find(|path| files.is_file(path))
}

/// Reads every cluster's source through `files`. `excluded` paths (the tool's output, and Istio's install paths
/// once they are removed) are not followed.
pub fn inventory(files: &dyn RepoFiles, plan: &Plan, excluded: &[String]) -> Result<Inventory, Diagnostics> {
    let mut inventory = Inventory::default();
    let mut problems = Vec::new();
    let component_dir = |cluster: &str| join(&plan.output.value, &format!("clusters/{cluster}"));
    for cluster in &plan.clusters {
        let Some(kustomization_file) = kustomization_in(files, &cluster.source.value) else {
            problems.push(plan.error_at(
                cluster.source.pos,
                format!("cluster `{}`: `{}` has no kustomization.yaml", cluster.name, cluster.source.value),
            ));
            continue;
        };
        let mut walk = Walk {
            files,
            excluded,
            own_component: component_dir(&cluster.name),
            visited: BTreeSet::new(),
            cluster: ClusterInventory { kustomization_file, ..ClusterInventory::default() },
            objects: Vec::new(),
            root_rename: None,
        };
        if let Err(problem) = walk.kustomization(&cluster.source.value, &NameTransforms::default()) {
            problems.push(problem);
            continue;
        }
        // The source's own namespace:, namePrefix: or nameSuffix: would rename objects after the component has
        // addressed them by name: asm-migrate asks for them one level down.
        if let Some(field) = walk.root_rename {
            problems.push(plan.error_at(
                cluster.source.pos,
                format!(
                    "cluster `{}`: {} sets `{field}:`, which kustomize applies after the asm-migrate component and \
                     would rename what the component targets: move it into the kustomizations the source includes",
                    cluster.name, walk.cluster.kustomization_file
                ),
            ));
            continue;
        }
        let mut cluster_inventory = walk.cluster;
        classify(walk.objects, &mut cluster_inventory);
        inventory.clusters.insert(cluster.name.clone(), cluster_inventory);
    }
    if problems.is_empty() {
        Ok(inventory)
    } else {
        Err(Diagnostics(problems))
    }
}

/// What the kustomizations above an object do to its name and namespace.
#[derive(Default)]
struct NameTransforms {
    namespace: Option<String>,
    prefix: String,
    suffix: String,
}

struct Walk<'a> {
    files: &'a dyn RepoFiles,
    excluded: &'a [String],
    own_component: String,
    visited: BTreeSet<String>,
    cluster: ClusterInventory,
    objects: Vec<Object>,
    /// The renaming field the cluster source's own kustomization sets, if any.
    root_rename: Option<&'static str>,
}

impl Walk<'_> {
    /// Follows a kustomization directory the way kustomize does: `resources`, `components` (and the
    /// legacy `bases`), with `namespace:` applied to everything below it (the outermost one wins).
    fn kustomization(&mut self, dir: &str, outer: &NameTransforms) -> Result<(), Diagnostic> {
        let Some(file) = kustomization_in(self.files, dir) else {
            return Err(Diagnostic::in_file(
                Path::new(dir),
                "is included as a kustomization but has no kustomization.yaml",
            ));
        };
        if !self.visited.insert(file.clone()) {
            return Ok(());
        }
        let text = self.files.read(&file)?.unwrap_or_default();
        let document: Value =
            serde_saphyr::from_str(&text).map_err(|error| Diagnostic::from_yaml(Path::new(&file), &text, &error))?;
        if self.visited.len() == 1 {
            self.root_rename =
                ["namespace", "namePrefix", "nameSuffix"].into_iter().find(|field| document.get(*field).is_some());
        }
        let own = |field: &str| document.get(field).and_then(Value::as_str).unwrap_or_default();
        // The outermost namespace wins; prefixes and suffixes wrap: outer + inner + name + inner + outer.
        let transforms = NameTransforms {
            namespace: outer.namespace.clone().or_else(|| Some(own("namespace").to_owned()).filter(|n| !n.is_empty())),
            prefix: format!("{}{}", outer.prefix, own("namePrefix")),
            suffix: format!("{}{}", own("nameSuffix"), outer.suffix),
        };
        for field in ["resources", "bases", "components"] {
            let Some(entries) = document.get(field).and_then(Value::as_array) else { continue };
            for entry in entries.iter().filter_map(Value::as_str) {
                if is_remote(entry) {
                    continue;
                }
                let Ok(target) = normalize_repo_path(&join(dir, entry)) else {
                    return Err(Diagnostic::in_file(Path::new(&file), format!("`{entry}` leaves the repository")));
                };
                if target == self.own_component {
                    self.cluster.includes_component = true;
                    continue;
                }
                if self.excluded.iter().any(|excluded| is_within(&target, excluded)) {
                    continue;
                }
                if self.files.is_dir(&target) {
                    self.kustomization(&target, &transforms)?;
                } else if self.files.is_file(&target) {
                    self.manifest(&target, &transforms)?;
                } else {
                    return Err(Diagnostic::in_file(
                        Path::new(&file),
                        format!("lists `{entry}`, which does not exist"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn manifest(&mut self, file: &str, transforms: &NameTransforms) -> Result<(), Diagnostic> {
        let namespace = transforms.namespace.as_deref();
        let text = self.files.read(file)?.unwrap_or_default();
        let documents: Vec<Value> = serde_saphyr::from_multiple(&text)
            .map_err(|error| Diagnostic::from_yaml(Path::new(file), &text, &error))?;
        for value in documents {
            let (Some(kind), Some(api_version)) = (str_at(&value, &["kind"]), str_at(&value, &["apiVersion"])) else {
                continue;
            };
            let name = str_at(&value, &["metadata", "name"]).unwrap_or_default().to_owned();
            let own_namespace = str_at(&value, &["metadata", "namespace"]);
            let (kind, api_version) = (kind.to_owned(), api_version.to_owned());
            let object_namespace =
                if kind == "Namespace" { None } else { namespace.or(own_namespace).map(str::to_owned) };
            // kustomize's namespace transformer renames Namespace objects too; prefixes and suffixes spare them.
            let name = if kind == "Namespace" {
                namespace.map(str::to_owned).unwrap_or(name)
            } else {
                format!("{}{name}{}", transforms.prefix, transforms.suffix)
            };
            self.objects.push(Object {
                kind,
                api_version,
                namespace: object_namespace,
                name,
                file: file.to_owned(),
                value,
            });
        }
        Ok(())
    }
}

/// Sorts the objects of a cluster into workloads, namespaces and Istio objects, deciding injection.
fn classify(objects: Vec<Object>, cluster: &mut ClusterInventory) {
    cluster.object_count = objects.len();
    let mut workloads = Vec::new();
    for object in objects {
        if object.kind == "Namespace" {
            cluster.namespaces.insert(object.name.clone(), object);
        } else if object.group() == "networking.istio.io" {
            cluster.istio_objects.push(object);
        } else if let Some(kind) = WorkloadKind::parse(&object.kind).filter(|_| object.group() == "apps") {
            workloads.push((kind, object));
        }
    }
    for (kind, object) in workloads {
        let namespace = object.namespace.clone().unwrap_or_else(|| "default".to_owned());
        let injected = is_injected(&object.value, cluster.namespaces.get(&namespace));
        let replicas = object.value.pointer("/spec/replicas").and_then(Value::as_u64).or(match kind {
            WorkloadKind::DaemonSet => None,
            _ => Some(1),
        });
        cluster.workloads.push(Workload {
            key: WorkloadKey { kind, namespace, name: object.name.clone() },
            injected,
            replicas,
        });
    }
    cluster.workloads.sort_by(|a, b| a.key.cmp(&b.key));
}

/// Istio's injector: a pod template opts out with `sidecar.istio.io/inject: "false"`; otherwise the namespace
/// decides (`istio-injection: enabled`, or an `istio.io/rev` label), or the pod opts in with "true" when the
/// namespace carries no `istio-injection` label at all (any other value disables the webhook there).
pub fn is_injected(workload: &Value, namespace: Option<&Object>) -> bool {
    let template = |field: &str| {
        workload
            .pointer(&format!("/spec/template/metadata/{field}/{}", INJECT.replace('/', "~1")))
            .and_then(Value::as_str)
    };
    let pod = template("labels").or(template("annotations"));
    if pod == Some("false") {
        return false;
    }
    let label = |name: &str| {
        namespace
            .and_then(|ns| ns.value.pointer(&format!("/metadata/labels/{}", name.replace('/', "~1"))))
            .and_then(Value::as_str)
    };
    match label("istio-injection") {
        Some("enabled") => true,
        Some(_) => false,
        None => label("istio.io/rev").is_some() || pod == Some("true"),
    }
}

pub fn str_at<'v>(value: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter().try_fold(value, |value, key| value.get(key)).and_then(Value::as_str)
}

/// Joins repository-relative paths with '/'.
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() || dir == "." {
        name.to_owned()
    } else {
        format!("{}/{}", dir.trim_end_matches('/'), name)
    }
}

/// Whether `path` is `dir` or inside it (both normalized, repository-relative).
pub fn is_within(path: &str, dir: &str) -> bool {
    path == dir || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

fn is_remote(entry: &str) -> bool {
    entry.contains("://") || entry.starts_with("github.com/") || entry.starts_with("git@")
}

/// The path from directory `from` to `to`, both repository-relative, as kustomize files write it.
pub fn relative_path(from: &str, to: &str) -> String {
    let from_parts: Vec<&str> = from.split('/').filter(|part| !part.is_empty()).collect();
    let to_parts: Vec<&str> = to.split('/').filter(|part| !part.is_empty()).collect();
    let common = from_parts.iter().zip(&to_parts).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from_parts.len() - common];
    parts.extend(&to_parts[common..]);
    parts.join("/")
}

/// Like `normalize_repo_path`, for paths already known to stay inside the repository.
pub fn normalize_repo_path_lossy(path: &str) -> String {
    normalize_repo_path(path).unwrap_or_else(|_| path.to_owned())
}

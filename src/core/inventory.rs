//! What each cluster's source builds, as the migration sees it: workloads (with Istio's injection decided),
//! namespaces and Istio objects, named and namespaced as kustomize would build them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::rc::Rc;

use serde_json::Value;

use crate::core::delivery::{delivery_of, Delivery, Unseen};
use crate::core::diagnostic::{Diagnostic, Diagnostics, Severity};
use crate::core::helm::{HelmCharts, HelmRelease, HELM_RELEASE_GROUP};
use crate::core::kustomize_walk::{self, Entered, KustomizationVisitor};
use crate::core::names::{exact_name_pattern, is_istio_api_group, ISTIO_API_GROUPS};
use crate::core::paths::is_within;
use crate::core::repository::{
    included_entries, patch_entries, resolve_entry, EntryTarget, Followed, PatchEntry, PatchText, Repository,
    INCLUDING_FIELDS,
};
use crate::core::settings::{Cluster, IncludeAs, Settings};
use crate::core::value::str_at;
use crate::core::workload::{WorkloadKind, WorkloadRef};

const INJECT: &str = "sidecar.istio.io/inject";
/// The labels that decide Istio's injection: a namespace's, and a pod template's.
const INJECTION_KEYS: [&str; 3] = ["istio-injection", "istio.io/rev", INJECT];

/// A Kubernetes object read from the repository. Its strings are shared, not copied: every cluster of a fleet that
/// includes a file holds the same names.
#[derive(Debug, Clone)]
pub struct Object {
    pub kind: Rc<str>,
    pub api_version: Rc<str>,
    /// The namespace kustomize gives it (the outermost `namespace:` wins over `metadata.namespace`).
    pub namespace: Option<Rc<str>>,
    pub name: Rc<str>,
    /// Repository-relative file it was read from.
    pub file: Rc<str>,
    /// The document, as parsed once and shared by every cluster that includes the file.
    pub value: Rc<Value>,
    /// The pod template's `sidecar.istio.io/inject`, a label or else an annotation (workloads).
    pub template_inject: Option<Rc<str>>,
}

/// The objects of each manifest file as the file itself names them (before any kustomization renames them), read
/// once and shared by every cluster's walk.
#[derive(Default)]
struct DeclaredFiles(HashMap<String, Rc<[Object]>>);

impl DeclaredFiles {
    fn of<'r>(&mut self, repository: &'r Repository, file: &str) -> Result<Rc<[Object]>, Diagnostic> {
        if let Some(declared) = self.0.get(file) {
            return Ok(Rc::clone(declared));
        }
        let mut interned: HashMap<&'r str, Rc<str>> = HashMap::new();
        let mut intern = |text: &'r str| -> Rc<str> {
            if let Some(shared) = interned.get(text) {
                return Rc::clone(shared);
            }
            let shared: Rc<str> = text.into();
            interned.insert(text, Rc::clone(&shared));
            shared
        };
        let file_name: Rc<str> = file.into();
        let declared: Rc<[Object]> = repository
            .documents(file)?
            .iter()
            .filter_map(|value| {
                let (kind, api_version) = (str_at(value, &["kind"])?, str_at(value, &["apiVersion"])?);
                Some(Object {
                    kind: intern(kind),
                    api_version: intern(api_version),
                    namespace: str_at(value, &["metadata", "namespace"]).map(&mut intern),
                    name: intern(str_at(value, &["metadata", "name"]).unwrap_or_default()),
                    file: Rc::clone(&file_name),
                    template_inject: template_inject(value).map(Rc::from),
                    value: Rc::clone(value),
                })
            })
            .collect();
        self.0.insert(file.to_owned(), Rc::clone(&declared));
        Ok(declared)
    }
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

    /// The string values of the map at `pointer` (a selector, labels), others left out.
    pub fn string_map(&self, pointer: &str) -> BTreeMap<String, String> {
        let map = self.value.pointer(pointer).and_then(Value::as_object).into_iter().flatten();
        map.filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned()))).collect()
    }

    /// The strings of the list at `pointer` (a VirtualService's `gateways`), others left out.
    pub fn strings(&self, pointer: &str) -> impl Iterator<Item = &str> {
        self.value.pointer(pointer).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
    }

    /// An error about this object, in its file.
    pub fn error(&self, message: impl std::fmt::Display) -> Diagnostic {
        Diagnostic::in_file(Path::new(&*self.file), format!("{}: {message}", self.describe()))
    }
}

#[derive(Debug, Clone)]
pub struct Workload {
    /// As the kustomizations the cluster source includes name it: what the plan and the component address (kustomize
    /// applies the component before the source's own `namespace:`, `namePrefix:` and `nameSuffix:`).
    pub workload: WorkloadRef,
    /// As the cluster shows it, after the source's own renaming: what its pods and rollouts belong to.
    pub cluster: WorkloadRef,
    pub injected: bool,
    /// Pods the workload runs (`None` for a DaemonSet: one per node).
    pub replicas: Option<u64>,
}

impl Workload {
    /// How the plan names it: its kind and name as the source's kustomizations name it, in the namespace it is
    /// deployed to (the source's own `namespace:`, the engine's destination or target namespace).
    pub fn planned(&self) -> WorkloadRef {
        WorkloadRef {
            kind: self.workload.kind,
            namespace: Rc::clone(&self.cluster.namespace),
            name: Rc::clone(&self.workload.name),
        }
    }

    /// Whether a plan's `reference` names it: in the namespace it is deployed to, or (as plans written before
    /// asm-migrate named that one did) in the one the kustomizations below the source give it.
    pub fn is_named(&self, reference: &WorkloadRef) -> bool {
        *reference == self.workload || *reference == self.planned()
    }

    /// Whether a plan's namespace is this workload's.
    pub fn in_namespace(&self, namespace: &str) -> bool {
        *self.cluster.namespace == *namespace || *self.workload.namespace == *namespace
    }
}

/// Where a cluster's source kustomization lists asm-migrate's part of its build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputListing {
    /// The including fields (`components`, `resources`, `bases`) that name the component directory.
    pub component_dir_in: BTreeSet<&'static str>,
    /// Whether `transformers:` names the directory of transformer configurations (`includeAs: transformers`).
    pub transformers_dir: bool,
    /// The file of a kustomization the source includes that lists the component (the source then needs no entry
    /// of its own for a Component).
    pub component_dir_below: Option<String>,
}

impl OutputListing {
    /// Whether the source lists what `include_as` needs, and nothing else of the output.
    pub fn is_complete(&self, include_as: IncludeAs) -> bool {
        match include_as {
            IncludeAs::Component => {
                (self.component_dir_in.contains("components") || self.component_dir_below.is_some())
                    && !self.component_dir_in.contains("resources")
                    && !self.transformers_dir
            }
            IncludeAs::Transformers => {
                self.component_dir_in.contains("resources")
                    && !self.component_dir_in.contains("components")
                    && self.transformers_dir
                    && self.component_dir_below.is_none()
            }
        }
    }
}

/// What one cluster's source builds, as far as the migration is concerned.
#[derive(Debug, Clone, Default)]
pub struct ClusterInventory {
    /// Repository-relative path of the source's kustomization file.
    pub kustomization_file: String,
    /// Where the source lists asm-migrate's part of its build already.
    pub lists_output: OutputListing,
    /// Sorted by `workload`.
    pub workloads: Vec<Workload>,
    /// Namespace objects by name.
    pub namespaces: BTreeMap<String, Object>,
    /// Objects of Istio's config API groups (`ISTIO_API_GROUPS`), with the labels and annotations the
    /// kustomizations above them give them, named as the component addresses them (before `naming`).
    pub istio_objects: Vec<Object>,
    /// How the cluster names and places what the source builds.
    pub naming: ClusterNaming,
    /// How many objects the source builds (as far as it could be read).
    pub object_count: usize,
    /// Flux HelmReleases: what renders workloads asm-migrate cannot see, and whether it patches them.
    pub helm_releases: Vec<HelmRelease>,
    /// Kustomizations with `helmCharts:` that the cluster's Argo CD Applications build besides the source.
    pub helm_charts: Vec<HelmCharts>,
    /// How Argo CD or Flux delivers the source, and what it deploys that asm-migrate cannot see.
    pub delivery: Delivery,
    /// What in the source asm-migrate cannot follow (patches deciding injection), located in the file at fault.
    pub findings: Vec<Diagnostic>,
    /// What it follows only in part, which `validate` warns about (patches of Istio's config, which the import into
    /// ASM does not evaluate).
    pub warnings: Vec<Diagnostic>,
    /// The labels of each namespace as the cluster will have them (those that decide injection).
    pub namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// The pod labels of the workloads whose pods carry an `istio` label (Istio's gateways and istiod), as the
    /// cluster shows them: which pods a Gateway's selector picks.
    pub istio_labelled_pods: Vec<(WorkloadRef, BTreeMap<String, String>)>,
}

impl ClusterInventory {
    /// The Helm releases and charts the source deploys into a namespace its build labels for Istio's injection, as
    /// the plan names them: their workloads are Istio's too, and the steps patch them.
    pub fn injected_releases(&self) -> Vec<(&str, &str)> {
        let releases = self
            .helm_releases
            .iter()
            .filter(|release| release.injected && !release.istio_own)
            .map(|release| (release.id.as_str(), &*release.workload_namespace));
        let charts = self
            .helm_charts
            .iter()
            .filter(|charts| charts.injected)
            .map(|charts| (charts.id.as_str(), &*charts.namespace));
        releases.chain(charts).collect()
    }

    pub fn istio_object(&self, kind: &str, namespace: &str, name: &str) -> Option<&Object> {
        self.istio_objects.iter().find(|object| {
            &*object.kind == kind && &*object.name == name && object.namespace.as_deref() == Some(namespace)
        })
    }

    /// The workload a plan's `reference` names (`Workload::is_named`).
    pub fn named(&self, reference: &WorkloadRef) -> Option<&Workload> {
        self.workload(reference).or_else(|| self.workloads.iter().find(|workload| workload.is_named(reference)))
    }

    /// The workload, found by binary search: `workloads` is sorted by reference (the first of equal ones).
    pub fn workload(&self, workload: &WorkloadRef) -> Option<&Workload> {
        let first = self.workloads.partition_point(|candidate| &candidate.workload < workload);
        self.workloads.get(first).filter(|candidate| &candidate.workload == workload)
    }

    /// The workloads of `set` as the cluster shows them.
    pub fn as_in_cluster(&self, set: &BTreeSet<WorkloadRef>) -> BTreeSet<WorkloadRef> {
        self.workloads.iter().filter(|w| set.contains(&w.workload)).map(|w| w.cluster.clone()).collect()
    }

    /// `set` split into the kinds of which it holds every workload of this source (kustomize's builtin
    /// transformers change them by kind alone, at almost no cost) and the other workloads (which need targets).
    pub fn split_by_kind(&self, set: &BTreeSet<WorkloadRef>) -> KindSplit {
        let whole: Vec<WorkloadKind> = WorkloadKind::ALL
            .into_iter()
            .filter(|kind| {
                let mut of_kind = self.of_kind(*kind).peekable();
                of_kind.peek().is_some() && of_kind.all(|workload| set.contains(workload))
            })
            .collect();
        let rest = set.iter().filter(|workload| !whole.contains(&workload.kind)).cloned().collect();
        KindSplit { whole, rest }
    }

    /// The workloads of `kind`.
    pub fn of_kind(&self, kind: WorkloadKind) -> impl Iterator<Item = &WorkloadRef> {
        self.workloads.iter().map(|workload| &workload.workload).filter(move |workload| workload.kind == kind)
    }
}

/// A cluster whose build reads the source of another, in which `apply` lists that other cluster's part: it would
/// take the other cluster's changes (its waves, its egress weights) as its own. The same source for two clusters,
/// or one cluster's source including another's, is an error unless Argo CD or Flux includes each cluster's part.
fn sources_built_by_other_clusters(
    settings: &Settings,
    inventory: &Inventory,
    builds: &[(&Cluster, BTreeSet<String>)],
) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    for (index, (cluster, read)) in builds.iter().enumerate() {
        for (other_index, (other, _)) in builds.iter().enumerate() {
            let Some(found) = inventory.clusters.get(&other.name) else { continue };
            let same_source = cluster.source.value == other.source.value;
            // The same source for two clusters is said once, at the second, whichever lists its part there.
            let listed = match same_source {
                true => other_index < index && (other.include_component || cluster.include_component),
                false => other_index != index && other.include_component,
            };
            if !listed {
                continue;
            }
            if !read.contains(&found.kustomization_file) {
                continue;
            }
            let (message, help) = match same_source {
                true => (
                    format!(
                        "clusters `{}` and `{}` both name the source `{}`, where `apply` lists a cluster's part of \
                         the migration: each cluster would take the other's changes as its own",
                        other.name, cluster.name, cluster.source.value
                    ),
                    "give each cluster a kustomization of its own that includes what they share, or set \
                     includeComponent: false on both and include each one's component from its own Argo CD \
                     Application (spec.source.kustomize.components) or Flux Kustomization (spec.components)"
                        .to_owned(),
                ),
                false => (
                    format!(
                        "cluster `{}` builds `{}`, the source of cluster `{}`, where `apply` lists cluster `{}`'s part \
                         of the migration: cluster `{}` would take cluster `{}`'s changes as its own",
                        cluster.name, other.source.value, other.name, other.name, cluster.name, other.name
                    ),
                    format!(
                        "give cluster `{}` a kustomization of its own that includes what they share, or set \
                         includeComponent: false on it and include its component from its Argo CD Application \
                         (spec.source.kustomize.components) or Flux Kustomization (spec.components)",
                        other.name
                    ),
                ),
            };
            problems.push(settings.error_at(cluster.source.pos, message).with_help(help));
        }
    }
    problems
}

/// Where the cluster puts what its source builds, after everything the component changed: the source's own
/// `namespace:`, `namePrefix:` and `nameSuffix:` (kustomize applies them after the component), then the GitOps
/// engine's namespace (Flux's `targetNamespace` for every object, Argo CD's destination for those without one).
#[derive(Debug, Clone)]
pub struct ClusterNaming {
    namespace: Option<Rc<str>>,
    prefix: String,
    suffix: String,
    target_namespace: Option<Rc<str>>,
    /// Where an object without a namespace lands: the engine's default, else `default`.
    fallback_namespace: Rc<str>,
    /// The labels and annotations the source's own kustomization gives every object, the component's included.
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

impl Default for ClusterNaming {
    fn default() -> ClusterNaming {
        ClusterNaming {
            namespace: None,
            prefix: String::new(),
            suffix: String::new(),
            target_namespace: None,
            fallback_namespace: "default".into(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }
}

impl ClusterNaming {
    /// The namespace and name the cluster gives a namespaced object that the bases (or the component) write as
    /// `namespace` and `name`.
    pub fn place(&self, namespace: Option<&Rc<str>>, name: &Rc<str>) -> (Rc<str>, Rc<str>) {
        let namespace = self.target_namespace.as_ref().or(self.namespace.as_ref()).or(namespace);
        let name = match self.prefix.is_empty() && self.suffix.is_empty() {
            true => Rc::clone(name),
            false => format!("{}{name}{}", self.prefix, self.suffix).into(),
        };
        (Rc::clone(namespace.unwrap_or(&self.fallback_namespace)), name)
    }

    /// The namespace kustomize puts everything the source builds into: the source's own `namespace:`, or Flux's
    /// `targetNamespace` (which Flux writes there). kustomize gives Namespace objects that name too.
    pub fn namespace_of_everything(&self) -> Option<&str> {
        self.target_namespace.as_deref().or(self.namespace.as_deref())
    }

    /// A kustomize selector of the component (its `namespace` and `name` patterns as the bases write them) as it
    /// must read to select the same objects after the source's own `namespace:`, `namePrefix:` and `nameSuffix:`
    /// (and Flux's `targetNamespace`), which kustomize applies before the transformers a source lists. (A selector
    /// also matches the name an object has in its file, but not one an intermediate kustomization gave it.)
    pub fn selector_after_source(&self, selector: &Value) -> Value {
        let mut selector = selector.clone();
        let Some(fields) = selector.as_object_mut() else { return selector };
        if let (Some(namespace), true) = (self.namespace_of_everything(), fields.contains_key("namespace")) {
            fields.insert("namespace".to_owned(), Value::String(exact_name_pattern(namespace)));
        }
        if let (Some(name), false) =
            (fields.get("name").and_then(Value::as_str), self.prefix.is_empty() && self.suffix.is_empty())
        {
            let renamed = format!("{}(?:{name}){}", exact_name_pattern(&self.prefix), exact_name_pattern(&self.suffix));
            fields.insert("name".to_owned(), Value::String(renamed));
        }
        selector
    }
}

/// Workloads split by whether their whole kind is concerned.
pub struct KindSplit {
    pub whole: Vec<WorkloadKind>,
    pub rest: BTreeSet<WorkloadRef>,
}

impl KindSplit {
    pub fn whole_names(&self) -> Vec<&'static str> {
        self.whole.iter().map(|kind| kind.name()).collect()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub clusters: BTreeMap<String, ClusterInventory>,
}

impl Inventory {
    /// Reads every cluster's source. `excluded` paths (Istio's install paths once they are removed) are not
    /// followed; the tool's own output never is.
    pub fn build(repository: &Repository, settings: &Settings, excluded: &[&str]) -> Result<Inventory, Diagnostics> {
        let mut inventory = Inventory::default();
        let mut problems = Vec::new();
        let mut declared = DeclaredFiles::default();
        // The kustomization files each cluster's build reads.
        let mut builds: Vec<(&Cluster, BTreeSet<String>)> = Vec::new();
        for cluster in &settings.clusters {
            let Some(kustomization_file) = repository.kustomization_in(&cluster.source.value) else {
                problems.push(settings.error_at(
                    cluster.source.pos,
                    format!("cluster `{}`: `{}` has no kustomization.yaml", cluster.name, cluster.source.value),
                ));
                continue;
            };
            let delivery = delivery_of(repository, settings, cluster);
            let mut walk = Walk {
                repository,
                declared: &mut declared,
                own_component: settings.component_dir(&cluster.name),
                own_transformers: settings.transformers_dir(&cluster.name),
                at_root: true,
                cluster: ClusterInventory { kustomization_file, delivery, ..ClusterInventory::default() },
                objects: Vec::new(),
                root: NameTransforms::default(),
                entered: HashMap::new(),
            };
            let (output, root) = (&settings.output.value, NameTransforms::default());
            let visited = match kustomize_walk::walk(&mut walk, &cluster.source.value, output, excluded, root) {
                Ok(visited) => visited,
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            };
            builds.push((cluster, visited));
            let mut cluster_inventory = walk.cluster;
            let releases = classify(walk.objects, &walk.root, &mut cluster_inventory);
            helm_releases(releases, settings, cluster, &mut cluster_inventory);
            if let Err(problem) = helm_charts(repository, settings, cluster, &mut cluster_inventory) {
                problems.push(problem);
                continue;
            }
            inventory.clusters.insert(cluster.name.clone(), cluster_inventory);
        }
        problems.extend(sources_built_by_other_clusters(settings, &inventory, &builds));
        if problems.is_empty() {
            Ok(inventory)
        } else {
            Err(Diagnostics(problems))
        }
    }

    /// Every workload of every cluster, with its cluster's name.
    pub fn workloads(&self) -> impl Iterator<Item = (&String, &Workload)> {
        self.clusters.iter().flat_map(|(cluster, inventory)| inventory.workloads.iter().map(move |w| (cluster, w)))
    }

    /// The names Istio's gateways go by: `istio: <x>` selectors of Gateways, and their `istio-<x>` deployments.
    pub fn istio_gateway_names(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::from([
            "istio-ingressgateway".to_owned(),
            "istio-egressgateway".to_owned(),
            "istio-eastwestgateway".to_owned(),
        ]);
        for cluster in self.clusters.values() {
            for gateway in cluster.istio_objects.iter().filter(|object| &*object.kind == "Gateway") {
                if let Some(selector) =
                    gateway.value.pointer("/spec/selector/istio").and_then(serde_json::Value::as_str)
                {
                    names.insert(selector.to_owned());
                    names.insert(format!("istio-{selector}"));
                }
            }
        }
        names
    }
}

/// What the kustomizations above an object do to its name and namespace, and to the labels that decide Istio's
/// injection (`commonLabels`, `labels`).
#[derive(Default)]
struct NameTransforms {
    namespace: Option<Rc<str>>,
    prefix: String,
    suffix: String,
    /// Injection labels given to every object's metadata (and so to Namespaces).
    labels: BTreeMap<String, String>,
    /// Injection labels given to pod templates.
    template_labels: BTreeMap<String, String>,
    /// Every label and annotation given to every object's metadata (`commonLabels`, `labels`,
    /// `commonAnnotations`): Istio's objects carry them into ASM.
    metadata_labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

impl NameTransforms {
    /// A namespaced object's name and namespace after these transforms (`None`: the namespace kustomize leaves).
    fn object(&self, namespace: Option<&Rc<str>>, name: &Rc<str>) -> (Option<Rc<str>>, Rc<str>) {
        let namespace = self.namespace.as_ref().or(namespace).cloned();
        (namespace, self.renamed(name))
    }

    fn renamed(&self, name: &Rc<str>) -> Rc<str> {
        if self.prefix.is_empty() && self.suffix.is_empty() {
            Rc::clone(name)
        } else {
            format!("{}{name}{}", self.prefix, self.suffix).into()
        }
    }

    /// A Namespace object's name after these transforms: kustomize's namespace transformer renames Namespace objects
    /// too; prefixes and suffixes spare them.
    fn namespace_object(&self, name: &Rc<str>) -> Rc<str> {
        Rc::clone(self.namespace.as_ref().unwrap_or(name))
    }

    /// The labels and annotations a kustomization document gives what it includes, outer ones winning.
    fn with_labels_of(mut self, document: &Value, outer: &NameTransforms) -> NameTransforms {
        let every = |pairs: Option<&Value>| -> Vec<(String, String)> {
            pairs
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
                .collect()
        };
        self.metadata_labels.extend(every(document.get("commonLabels")));
        for entry in document.get("labels").and_then(Value::as_array).into_iter().flatten() {
            self.metadata_labels.extend(every(entry.get("pairs")));
        }
        self.annotations.extend(every(document.get("commonAnnotations")));
        self.metadata_labels.extend(outer.metadata_labels.clone());
        self.annotations.extend(outer.annotations.clone());
        let injection = |labels: Option<&Value>| -> Vec<(String, String)> {
            labels
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter(|(key, _)| INJECTION_KEYS.contains(&key.as_str()))
                .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
                .collect()
        };
        // commonLabels label metadata and pod templates; `labels` metadata, and pod templates when asked to.
        let common = injection(document.get("commonLabels"));
        self.labels.extend(common.iter().cloned());
        self.template_labels.extend(common);
        for entry in document.get("labels").and_then(Value::as_array).into_iter().flatten() {
            let pairs = injection(entry.get("pairs"));
            self.labels.extend(pairs.iter().cloned());
            let templates =
                ["includeTemplates", "includeSelectors"].iter().any(|flag| entry[*flag] == Value::Bool(true));
            if templates {
                self.template_labels.extend(pairs);
            }
        }
        self.labels.extend(outer.labels.clone());
        self.template_labels.extend(outer.template_labels.clone());
        self
    }

    /// `object`'s document with these labels: the injection labels on a Namespace or a workload's pod template,
    /// and every label and annotation on an Istio object (whose copy in ASM carries what the cluster's has).
    fn labelled(&self, object: &Object) -> Rc<Value> {
        let value = &object.value;
        let kind = &*object.kind;
        let edits: Vec<(&BTreeMap<String, String>, &str, &str)> = match kind {
            "Namespace" => vec![(&self.labels, "/metadata", "labels")],
            _ if WorkloadKind::parse(kind).is_some() => {
                vec![(&self.template_labels, "/spec/template/metadata", "labels")]
            }
            _ if is_istio_api_group(object.group()) => {
                vec![(&self.metadata_labels, "/metadata", "labels"), (&self.annotations, "/metadata", "annotations")]
            }
            _ => return Rc::clone(value),
        };
        if edits.iter().all(|(pairs, _, _)| pairs.is_empty()) {
            return Rc::clone(value);
        }
        let mut labelled = value.as_ref().clone();
        for (pairs, pointer, field) in edits {
            with_pairs(&mut labelled, pointer, field, pairs);
        }
        Rc::new(labelled)
    }
}

/// `pairs` set in the map `field` of the object at `pointer` of `value` (created when missing).
pub fn with_pairs(value: &mut Value, pointer: &str, field: &str, pairs: &BTreeMap<String, String>) {
    if let Some(parent) = value.pointer_mut(pointer).and_then(Value::as_object_mut) {
        let target = parent.entry(field).or_insert_with(|| Value::Object(Default::default()));
        if let Some(target) = target.as_object_mut() {
            for (key, text) in pairs {
                target.insert(key.clone(), Value::String(text.clone()));
            }
        }
    }
}

struct Walk<'a> {
    repository: &'a Repository,
    declared: &'a mut DeclaredFiles,
    own_component: String,
    own_transformers: String,
    /// Whether the walk is yet to enter the cluster source's own kustomization.
    at_root: bool,
    cluster: ClusterInventory,
    objects: Vec<Object>,
    /// The cluster source's own `namespace:`, `namePrefix:` and `nameSuffix:`: kustomize applies them after the
    /// component, so objects are recorded without them, and they give the names the cluster shows.
    root: NameTransforms,
    /// For each kustomization entered, where its objects start in `objects`, and the injection patches it applies
    /// to them when it is left.
    entered: HashMap<String, (usize, Vec<InjectionPatch>)>,
}

/// A strategic-merge patch of a kustomization that sets what decides Istio's injection, as kustomize applies it:
/// to the objects its target selects (or the one it names), their labels (a Namespace's) or their pod template's
/// labels and annotations.
#[derive(Debug, Clone)]
struct InjectionPatch {
    kind: Option<String>,
    /// `None`: every object of the kind (a target without a name, or `.*`).
    name: Option<String>,
    namespace: Option<String>,
    labels: BTreeMap<String, String>,
    template_labels: BTreeMap<String, String>,
    template_annotations: BTreeMap<String, String>,
}

impl InjectionPatch {
    /// The injection keys a patch document sets, with its target (`target`, else the document's own kind and
    /// name); `None` when it sets none, or targets objects in a way not evaluated here (a selector, a pattern).
    fn of(document: &Value, target: Option<&Value>) -> Result<Option<InjectionPatch>, ()> {
        let injection = |pointer: &str| -> BTreeMap<String, String> {
            document
                .pointer(pointer)
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter(|(key, _)| INJECTION_KEYS.contains(&key.as_str()))
                .map(|(key, value)| {
                    (key.clone(), value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string()))
                })
                .collect()
        };
        let (labels, template_labels, template_annotations) = (
            injection("/metadata/labels"),
            injection("/spec/template/metadata/labels"),
            injection("/spec/template/metadata/annotations"),
        );
        if labels.is_empty() && template_labels.is_empty() && template_annotations.is_empty() {
            return Ok(None);
        }
        let (kind, name, namespace) = match target {
            Some(target) => {
                if target.get("labelSelector").is_some() || target.get("annotationSelector").is_some() {
                    return Err(());
                }
                let name = match str_at(target, &["name"]) {
                    None | Some(".*") => None,
                    Some(name) if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') => {
                        Some(name.to_owned())
                    }
                    Some(_) => return Err(()),
                };
                (str_at(target, &["kind"]).map(str::to_owned), name, str_at(target, &["namespace"]).map(str::to_owned))
            }
            None => (
                str_at(document, &["kind"]).map(str::to_owned),
                str_at(document, &["metadata", "name"]).map(str::to_owned),
                str_at(document, &["metadata", "namespace"]).map(str::to_owned),
            ),
        };
        Ok(Some(InjectionPatch { kind, name, namespace, labels, template_labels, template_annotations }))
    }

    /// Whether the patch applies to `object`: by kind, and by the name and namespace its manifest gives it (kustomize
    /// matches a patch to the original name as well as the current one).
    fn selects(&self, object: &Object) -> bool {
        let declared = |field: &str| str_at(&object.value, &["metadata", field]);
        self.kind.as_deref().is_none_or(|kind| kind == &*object.kind)
            && self.name.as_deref().is_none_or(|name| name == &*object.name || Some(name) == declared("name"))
            && self.namespace.as_deref().is_none_or(|namespace| {
                object.namespace.as_deref() == Some(namespace) || Some(namespace) == declared("namespace")
            })
    }

    /// `object` with the patch applied.
    fn apply(&self, object: &mut Object) {
        let mut value = (*object.value).clone();
        let mut set = |pointer: &str, pairs: &BTreeMap<String, String>| {
            if !pairs.is_empty() {
                let (parent, field) = pointer.rsplit_once('/').expect("a pointer");
                with_pairs(&mut value, parent, field, pairs);
            }
        };
        if &*object.kind == "Namespace" {
            set("/metadata/labels", &self.labels);
        }
        set("/spec/template/metadata/labels", &self.template_labels);
        set("/spec/template/metadata/annotations", &self.template_annotations);
        object.template_inject = template_inject(&value).map(Rc::from);
        object.value = Rc::new(value);
    }
}

impl KustomizationVisitor for Walk<'_> {
    /// The names kustomize gives what a kustomization includes: its `namespace:`, prefixes, suffixes and labels,
    /// with those of the kustomizations around it.
    type Context = NameTransforms;
    type Error = Diagnostic;

    fn repository(&self) -> &Repository {
        self.repository
    }

    fn no_kustomization(&mut self, dir: &str) -> Result<(), Diagnostic> {
        Err(Diagnostic::in_file(Path::new(dir), "is included as a kustomization but has no kustomization.yaml"))
    }

    /// Reads a kustomization directory the way kustomize does: `resources`, `components` (and the legacy `bases`),
    /// with `namespace:` applied to everything below it (the outermost one wins).
    fn kustomization(
        &mut self,
        dir: &str,
        file: &str,
        outer: &NameTransforms,
    ) -> Result<Entered<NameTransforms>, Diagnostic> {
        let document = self.repository.documents(file)?.first().cloned().unwrap_or_default();
        let own = |field: &str| document.get(field).and_then(Value::as_str).unwrap_or_default();
        let own_namespace = Some(own("namespace")).filter(|namespace| !namespace.is_empty()).map(Rc::from);
        self.unseen_and_patches(dir, file, &document);
        let transforms = if std::mem::replace(&mut self.at_root, false) {
            self.cluster.lists_output = self.output_listing(dir, &document);
            let transforms = NameTransforms::default().with_labels_of(&document, outer);
            self.root = NameTransforms {
                namespace: own_namespace,
                prefix: own("namePrefix").to_owned(),
                suffix: own("nameSuffix").to_owned(),
                metadata_labels: transforms.metadata_labels.clone(),
                annotations: transforms.annotations.clone(),
                ..NameTransforms::default()
            };
            transforms
        } else {
            // The outermost namespace wins; prefixes and suffixes wrap: outer + inner + name + inner + outer.
            NameTransforms {
                namespace: outer.namespace.clone().or(own_namespace),
                prefix: format!("{}{}", outer.prefix, own("namePrefix")),
                suffix: format!("{}{}", own("nameSuffix"), outer.suffix),
                ..NameTransforms::default()
            }
            .with_labels_of(&document, outer)
        };
        Ok(Some((document, transforms)))
    }

    /// Everything a kustomization includes is read: its injection patches apply to those objects.
    fn leave(&mut self, _dir: &str, file: &str, _transforms: &NameTransforms) -> Result<(), Diagnostic> {
        let Some((start, patches)) = self.entered.remove(file) else { return Ok(()) };
        for patch in &patches {
            for object in self.objects[start..].iter_mut().filter(|object| patch.selects(object)) {
                patch.apply(object);
            }
        }
        Ok(())
    }

    /// One entry of a kustomization's including fields: a manifest's objects are read now.
    fn entry(
        &mut self,
        dir: &str,
        file: &str,
        entry: &str,
        followed: &Followed,
        transforms: &NameTransforms,
    ) -> Result<(), Diagnostic> {
        if followed.path() == Some(self.own_component.as_str())
            && dir != crate::core::paths::parent(&self.cluster.kustomization_file)
        {
            self.cluster.lists_output.component_dir_below = Some(file.to_owned());
        }
        match followed {
            Followed::Remote | Followed::Skipped(_) | Followed::Kustomization(_) => Ok(()),
            Followed::OutsideRepository => {
                Err(Diagnostic::in_file(Path::new(file), format!("`{entry}` leaves the repository")))
            }
            Followed::Manifest(target) => self.manifest(target, transforms),
            Followed::Missing(_) => {
                Err(Diagnostic::in_file(Path::new(file), format!("lists `{entry}`, which does not exist")))
            }
        }
    }
}

impl Walk<'_> {
    /// Where the cluster source's kustomization (`document`, in `dir`) lists asm-migrate's directories.
    fn output_listing(&self, dir: &str, document: &Value) -> OutputListing {
        let names = |field: &str, target: &str| {
            document
                .get(field)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .any(|entry| resolve_entry(dir, entry) == EntryTarget::Path(target.to_owned()))
        };
        OutputListing {
            component_dir_in: INCLUDING_FIELDS.into_iter().filter(|field| names(field, &self.own_component)).collect(),
            transformers_dir: names("transformers", &self.own_transformers),
            component_dir_below: None,
        }
    }

    /// What a kustomization includes that asm-migrate cannot see (Helm charts, remote bases), and patches that
    /// decide Istio's injection, which it does not evaluate.
    fn unseen_and_patches(&mut self, dir: &str, file: &str, document: &Value) {
        for chart in document.get("helmCharts").and_then(Value::as_array).into_iter().flatten() {
            let name = str_at(chart, &["name"]).unwrap_or("(unnamed)");
            self.cluster.delivery.unseen.push(Unseen {
                id: format!("helmChart/{name}"),
                file: file.to_owned(),
                what: format!("the helmCharts entry {name} renders a Helm chart at build time"),
                help: None,
            });
        }
        for entry in included_entries(document).filter(|entry| resolve_entry(dir, entry) == EntryTarget::Remote) {
            self.cluster.delivery.unseen.push(Unseen {
                id: format!("remote/{entry}"),
                file: file.to_owned(),
                what: format!("the remote base {entry} is built by kustomize from elsewhere"),
                help: None,
            });
        }
        let mut patches_istio_config = ["patches", "patchesJson6902"]
            .into_iter()
            .filter_map(|field| document.get(field).and_then(Value::as_array))
            .flatten()
            .any(|patch| str_at(patch, &["target", "group"]).is_some_and(is_istio_api_group));
        let mut evaluated = Vec::new();
        for PatchEntry { text: patch, target, json } in patch_entries(document) {
            let (text, shown) = match patch {
                PatchText::Inline(text) => (Some(text.to_owned()), "an inline patch".to_owned()),
                PatchText::File(path) => match resolve_entry(dir, path) {
                    EntryTarget::Path(target) => {
                        (self.repository.text(&target).ok().flatten().map(str::to_owned), format!("the patch {path}"))
                    }
                    _ => (None, String::new()),
                },
            };
            let of_istio_config = |text: &str| ISTIO_API_GROUPS.iter().any(|group| text.contains(&format!("{group}/")));
            patches_istio_config |= text.as_deref().is_some_and(of_istio_config);
            // A JSON patch writes a key with a '/' as a JSON pointer (`sidecar.istio.io~1inject`).
            let decides = |text: &str, key: &str| text.contains(key) || text.contains(&key.replace('/', "~1"));
            let Some(text) = text else { continue };
            let Some(key) = INJECTION_KEYS.into_iter().find(|key| decides(&text, key)) else {
                continue;
            };
            // A strategic-merge patch setting labels is evaluated, as kustomize applies it, when the kustomization
            // is left; a JSON patch, or one selecting its targets by labels or patterns, is not.
            let documents = crate::core::yaml::documents(&text).ok().filter(|_| !json);
            let patches: Option<Vec<InjectionPatch>> = documents.and_then(|documents| {
                documents
                    .iter()
                    .filter(|document| document.is_object())
                    .map(|document| InjectionPatch::of(document, target).ok().flatten())
                    .collect()
            });
            match patches {
                Some(patches) if !patches.is_empty() => evaluated.extend(patches),
                _ => self.cluster.findings.push(Diagnostic::in_file(
                    Path::new(file),
                    format!(
                        "{shown} sets `{key}`, which decides Istio's injection, and asm-migrate does not evaluate \
                         this patch (a JSON patch, or one whose target is a label selector or a name pattern): set it \
                         in the manifests it patches (or with commonLabels/labels), or as a strategic-merge patch \
                         naming its targets, so the plan sees what Istio does"
                    ),
                )),
            }
        }
        self.entered.insert(file.to_owned(), (self.objects.len(), evaluated));
        if patches_istio_config {
            self.cluster.warnings.push(
                Diagnostic::in_file(
                    Path::new(file),
                    "a patch of this kustomization changes Istio's config, and asm-migrate does not evaluate patches: \
                     from `migrating` on, ASM's copy of what it patches (under asm/istio/) is the object without it",
                )
                .with_help("write the change into the manifest itself, or check ASM's copy after `migrating`")
                .weighed(Severity::Warning),
            );
        }
    }

    fn manifest(&mut self, file: &str, transforms: &NameTransforms) -> Result<(), Diagnostic> {
        for object in self.declared.of(self.repository, file)?.iter() {
            let (object_namespace, name) = match &*object.kind {
                "Namespace" => (None, transforms.namespace_object(&object.name)),
                _ => transforms.object(object.namespace.as_ref(), &object.name),
            };
            let value = transforms.labelled(object);
            let template_inject = match Rc::ptr_eq(&value, &object.value) {
                true => object.template_inject.clone(),
                false => template_inject(&value).map(Rc::from),
            };
            self.objects.push(Object { namespace: object_namespace, name, value, template_inject, ..object.clone() });
        }
        Ok(())
    }
}

/// Sorts the objects of a cluster into workloads, namespaces and Istio objects, deciding injection as the cluster
/// will see it: after the source's own renaming (`root`) and what the GitOps engine adds (its delivery).
fn classify(objects: Vec<Object>, root: &NameTransforms, cluster: &mut ClusterInventory) -> Vec<Object> {
    cluster.object_count = objects.len();
    let delivery = cluster.delivery.clone();
    let (mut workloads, mut releases) = (Vec::new(), Vec::new());
    // The labels of each namespace as the cluster will have them: declared, given by the engine (Argo CD's managed
    // namespace metadata, Flux's common metadata).
    let mut namespace_labels: BTreeMap<String, BTreeMap<String, String>> = delivery.namespace_labels.clone();
    for object in objects {
        if &*object.kind == "Namespace" {
            let in_cluster =
                delivery.target_namespace.clone().unwrap_or_else(|| root.namespace_object(&object.name).to_string());
            let labels = namespace_labels.entry(in_cluster).or_default();
            for (key, value) in
                object.value.pointer("/metadata/labels").and_then(Value::as_object).into_iter().flatten()
            {
                labels.entry(key.clone()).or_insert_with(|| value.as_str().unwrap_or_default().to_owned());
            }
            cluster.namespaces.insert(object.name.to_string(), object);
        } else if is_istio_api_group(object.group()) {
            cluster.istio_objects.push(object);
        } else if &*object.kind == "HelmRelease" && object.group() == HELM_RELEASE_GROUP {
            releases.push(object);
        } else if let Some(kind) = WorkloadKind::parse(&object.kind).filter(|_| object.group() == "apps") {
            workloads.push((kind, object));
        }
    }
    for labels in namespace_labels.values_mut() {
        labels.extend(
            delivery
                .common_labels
                .iter()
                .filter(|(key, _)| INJECTION_KEYS.contains(&key.as_str()))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
    let default_namespace: Rc<str> = "default".into();
    let engine_namespace = |namespace: &Option<String>| namespace.as_deref().map(Rc::<str>::from);
    cluster.naming = ClusterNaming {
        namespace: root.namespace.clone(),
        prefix: root.prefix.clone(),
        suffix: root.suffix.clone(),
        target_namespace: engine_namespace(&delivery.target_namespace),
        fallback_namespace: engine_namespace(&delivery.default_namespace)
            .unwrap_or_else(|| Rc::clone(&default_namespace)),
        labels: root.metadata_labels.clone(),
        annotations: root.annotations.clone(),
    };
    for (kind, object) in workloads {
        let namespace = object.namespace.clone().unwrap_or_else(|| Rc::clone(&default_namespace));
        let (cluster_namespace, cluster_name) = cluster.naming.place(object.namespace.as_ref(), &object.name);
        let injected = is_injected(object.template_inject.as_deref(), namespace_labels.get(&*cluster_namespace));
        let replicas = object.value.pointer("/spec/replicas").and_then(Value::as_u64).or(match kind {
            WorkloadKind::DaemonSet => None,
            _ => Some(1),
        });
        let pod_labels = object.string_map("/spec/template/metadata/labels");
        if pod_labels.contains_key("istio") {
            let shown = WorkloadRef { kind, namespace: Rc::clone(&cluster_namespace), name: Rc::clone(&cluster_name) };
            cluster.istio_labelled_pods.push((shown, pod_labels));
        }
        cluster.workloads.push(Workload {
            workload: WorkloadRef { kind, namespace, name: object.name.clone() },
            cluster: WorkloadRef { kind, namespace: cluster_namespace, name: cluster_name },
            injected,
            replicas,
        });
    }
    cluster.workloads.sort_by(|a, b| a.workload.cmp(&b.workload));
    cluster.namespace_labels = namespace_labels;
    releases
}

/// The kustomizations with `helmCharts:` that the cluster's Argo CD Applications build besides its source, each with
/// what decides whether the steps patch it: the injection of the namespace its charts render into (one for all: the
/// Component's patches select by kind), whether the plan leaves it to the operator. One the steps cannot patch is
/// unseen, until acknowledged.
fn helm_charts(
    repository: &Repository,
    settings: &Settings,
    cluster: &Cluster,
    found: &mut ClusterInventory,
) -> Result<(), Diagnostic> {
    for other in found.delivery.other_paths.clone() {
        let Some(file) = repository.kustomization_in(&other.dir) else { continue };
        // Every kustomization is loaded as text; those the cluster sources include are parsed too.
        let document: Value = match repository.documents(&file) {
            Ok(documents) => documents.first().map(|document| document.as_ref().clone()).unwrap_or_default(),
            Err(_) => {
                let text = repository.text(&file)?.unwrap_or_default();
                crate::core::yaml::document(text)
                    .map_err(|error| Diagnostic::from_yaml(Path::new(&file), text, &error))?
            }
        };
        let entries: Vec<&Value> = document.get("helmCharts").and_then(Value::as_array).into_iter().flatten().collect();
        if entries.is_empty() {
            continue;
        }
        let own_namespace = str_at(&document, &["namespace"]);
        let default_namespace = found.delivery.default_namespace.as_deref().unwrap_or("default");
        let namespaces: BTreeSet<&str> = entries
            .iter()
            .map(|entry| str_at(entry, &["namespace"]).or(own_namespace).unwrap_or(default_namespace))
            .collect();
        let charts: Vec<String> = entries
            .iter()
            .map(|entry| format!("helmChart/{}", str_at(entry, &["name"]).unwrap_or("(unnamed)")))
            .collect();
        let namespace = namespaces.iter().next().copied().unwrap_or(default_namespace);
        let injected = namespaces.len() == 1 && is_injected(None, found.namespace_labels.get(namespace));
        let acknowledged = charts.iter().any(|id| cluster.unseen.iter().any(|entry| &entry.value == id));
        let mut helm_charts = HelmCharts {
            id: charts.join(", "),
            charts,
            dir: other.dir.clone(),
            file: file.as_str().into(),
            application: other.application.clone(),
            namespace: namespace.into(),
            injected,
            acknowledged,
            includes_component: false,
        };
        let component = helm_charts.component_dir(settings, &cluster.name);
        helm_charts.includes_component = included_entries(&document)
            .any(|entry| resolve_entry(&other.dir, entry) == EntryTarget::Path(component.clone()));
        if !injected {
            let why = match namespaces.len() {
                1 => format!(
                    "their namespace `{namespace}` is not labelled for Istio's injection in the repository; if their \
                     pods are injected, label the namespace there (istio-injection: enabled), and asm-migrate \
                     restarts and moves them through a Component the kustomization lists"
                ),
                _ => format!(
                    "they render into several namespaces ({}), and asm-migrate patches a chart kustomization's \
                     workloads by kind, all together: give each namespace a kustomization of its own",
                    namespaces.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            };
            for id in &helm_charts.charts {
                found.delivery.unseen.push(Unseen {
                    id: id.clone(),
                    file: file.clone(),
                    what: format!(
                        "the helmCharts entry {} of {file}, which {} builds, renders a Helm chart",
                        id.trim_start_matches("helmChart/"),
                        other.application
                    ),
                    help: Some(why.clone()),
                });
            }
        }
        found.helm_charts.push(helm_charts);
    }
    Ok(())
}

/// The Flux HelmReleases among the objects of a cluster's source, each with what decides whether the steps patch
/// it: the injection of the namespace its workloads run in, whether it is one of Istio's own (in Istio's install
/// paths, or the mesh config file), whether the plan leaves it to the operator (`unseen`). A release the steps
/// cannot patch and that is not Istio's own is unseen, until acknowledged.
fn helm_releases(objects: Vec<Object>, settings: &Settings, cluster: &Cluster, found: &mut ClusterInventory) {
    let istio_paths: Vec<&str> =
        settings.install_paths().into_iter().chain([settings.istio.mesh_config_path.value.as_str()]).collect();
    let mut releases = Vec::new();
    for object in objects {
        let namespace = object.namespace.as_deref().unwrap_or("default");
        let id = format!("HelmRelease/{namespace}/{}", object.name);
        let (cluster_namespace, cluster_name) = found.naming.place(object.namespace.as_ref(), &object.name);
        let target: Option<Rc<str>> = str_at(&object.value, &["spec", "targetNamespace"]).map(Rc::from);
        let cluster_workload_namespace = target.clone().unwrap_or_else(|| Rc::clone(&cluster_namespace));
        let injected = is_injected(None, found.namespace_labels.get(&*cluster_workload_namespace));
        let istio_own = istio_paths.iter().any(|path| is_within(&object.file, path));
        let acknowledged = cluster.unseen.iter().any(|entry| entry.value == id);
        if !injected && !istio_own {
            found.delivery.unseen.push(Unseen {
                id: id.clone(),
                file: object.file.to_string(),
                what: format!("HelmRelease {namespace}/{} has Flux render a Helm chart in the cluster", object.name),
                help: Some(format!(
                    "its workloads' namespace `{cluster_workload_namespace}` is not labelled for Istio's injection in \
                     the repository; if its pods are injected, label the namespace there (istio-injection: enabled), \
                     and asm-migrate restarts and moves them through the release's post renderers"
                )),
            });
        }
        releases.push(HelmRelease {
            id,
            file: Rc::clone(&object.file),
            workload_namespace: target.clone().unwrap_or_else(|| namespace.into()),
            namespace: object.namespace.clone(),
            name: Rc::clone(&object.name),
            cluster_namespace,
            cluster_name,
            cluster_workload_namespace,
            has_post_renderers: object.value.pointer("/spec/postRenderers").and_then(Value::as_array).is_some(),
            injected,
            istio_own,
            acknowledged,
        });
    }
    found.helm_releases = releases;
}

/// Istio's injector: a pod template opts out with `sidecar.istio.io/inject: "false"`; otherwise the namespace
/// decides (`istio-injection: enabled`, or an `istio.io/rev` label), or the pod opts in with "true" when the
/// namespace carries no `istio-injection` label at all (any other value disables the webhook there).
fn is_injected(pod: Option<&str>, namespace: Option<&BTreeMap<String, String>>) -> bool {
    if pod == Some("false") {
        return false;
    }
    let label = |name: &str| namespace.and_then(|labels| labels.get(name)).map(String::as_str);
    match label("istio-injection") {
        Some("enabled") => true,
        Some(_) => false,
        None => label("istio.io/rev").is_some() || pod == Some("true"),
    }
}

/// A pod template's own say in Istio's injection: its `sidecar.istio.io/inject` label, else its annotation.
fn template_inject(workload: &Value) -> Option<&str> {
    let template = |field: &str| str_at(workload, &["spec", "template", "metadata", field, INJECT]);
    template("labels").or(template("annotations"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naming(namespace: Option<&str>, prefix: &str, suffix: &str) -> ClusterNaming {
        ClusterNaming {
            namespace: namespace.map(Rc::from),
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
            ..ClusterNaming::default()
        }
    }

    #[test]
    fn a_selector_follows_the_source_s_own_renaming() {
        let selector =
            serde_json::json!({"group": "apps", "kind": "Deployment", "namespace": "payments", "name": "api|web\\.v2"});
        assert_eq!(naming(None, "", "").selector_after_source(&selector), selector, "a source that renames nothing");
        let renamed = naming(Some("prod.shop"), "hz-", "-v2").selector_after_source(&selector);
        assert_eq!(
            renamed,
            serde_json::json!({"group": "apps", "kind": "Deployment", "namespace": "prod\\.shop", "name": "hz-(?:api|web\\.v2)-v2"})
        );
        // A selector without a namespace or a name (a whole kind) is left as it is.
        let kind = serde_json::json!({"group": "apps", "kind": "StatefulSet"});
        assert_eq!(naming(Some("prod"), "p-", "").selector_after_source(&kind), kind);
    }
}

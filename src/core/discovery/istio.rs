//! How Istio is installed and configured: the mesh config `setup` edits, Istio's version, the directories of its
//! installation, each cluster's network and east-west gateway.

use serde_json::Value;

use super::clusters::SourceFound;
use super::{Finding, Found};
use crate::core::delivery::{is, name_of};
use crate::core::inventory::ClusterInventory;
use crate::core::paths::{join, parent};
use crate::core::repository::{patch_entries, PatchText, Repository};
use crate::core::settings::MeshConfigKind;
use crate::core::value::str_at;

/// The file holding Istio's mesh config, and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshConfigFound {
    pub kind: MeshConfigKind,
    pub path: String,
    /// The HelmRelease to edit, when the file holds several.
    pub release: Option<String>,
}

impl MeshConfigFound {
    /// The plan's spelling of the kind.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            MeshConfigKind::IstioOperator => "IstioOperator",
            MeshConfigKind::HelmValues => "HelmValues",
            MeshConfigKind::ConfigMap => "ConfigMap",
        }
    }
}

/// Istio's installation as the repository declares it.
pub struct Installation {
    pub version: Finding<String>,
    pub mesh_config: Finding<MeshConfigFound>,
    pub install_paths: Vec<Found<String>>,
}

/// The Helm charts of Istio's own installation.
const ISTIO_CHARTS: [&str; 6] = ["base", "istiod", "gateway", "cni", "ztunnel", "istio-ingress"];

/// Every object of every YAML file that parsed, with its file.
fn objects(repository: &Repository) -> impl Iterator<Item = (&String, &Value)> {
    repository
        .files_under("")
        .filter(|file| file.ends_with(".yaml") || file.ends_with(".yml"))
        .filter_map(move |file| Some((file, repository.documents(file).ok()?)))
        .flat_map(|(file, documents)| documents.iter().map(move |document| (file, document.as_ref())))
}

fn chart_of(release: &Value) -> Option<&str> {
    str_at(release, &["spec", "chart", "spec", "chart"])
}

pub fn installation(repository: &Repository) -> Installation {
    let all: Vec<(&String, &Value)> = objects(repository).collect();
    let (mesh_config, mut version) = mesh_config(repository, &all);
    if version.is_none() {
        version = image_version(&all);
    }
    let version = match version {
        Some(found) => Finding::Found(found),
        None => Finding::Undecided(
            "Istio's version, such as \"1.22.3\" (no IstioOperator tag, istiod chart version or Istio proxy image \
             names it)"
                .to_owned(),
        ),
    };
    let install_paths = install_paths(repository, &all, mesh_config.found());
    Installation { version, mesh_config, install_paths }
}

/// The mesh config found (or what to decide about it), and Istio's version when the same object names it.
type MeshConfigAndVersion = (Finding<MeshConfigFound>, Option<Found<String>>);

/// The mesh config, in the order of preference: an IstioOperator, the istiod chart's values (a Flux HelmRelease's,
/// an Argo CD Helm source's values file, or a values file), the `istio` ConfigMap; and the version the same object
/// names.
fn mesh_config(repository: &Repository, all: &[(&String, &Value)]) -> MeshConfigAndVersion {
    operator_mesh_config(all)
        .or_else(|| helm_release_mesh_config(repository, all))
        .or_else(|| argo_cd_mesh_config(repository, all))
        .or_else(|| values_mesh_config(all))
        .or_else(|| config_map_mesh_config(all))
        .unwrap_or_else(|| {
            (
                Finding::Undecided(
                    "Istio's mesh config: no IstioOperator, istiod HelmRelease, Helm values with meshConfig or \
                     `istio` ConfigMap was found; name the file that holds it"
                        .to_owned(),
                ),
                None,
            )
        })
}

/// An object as init says where it found something: `IstioOperator control-plane (infra/istio/operator.yaml)`, or,
/// for one without a name (istioctl installs it all the same), `IstioOperator without a name (infra/istio/x.yaml)`.
fn named_in(kind: &str, object: &Value, file: &str) -> String {
    match name_of(object) {
        "" => format!("{kind} without a name ({file})"),
        name => format!("{kind} {name} ({file})"),
    }
}

/// A found mesh config of `kind` in the file at `path`.
fn mesh_config_found(
    kind: MeshConfigKind,
    path: &str,
    release: Option<String>,
    from: String,
) -> Finding<MeshConfigFound> {
    Finding::Found(Found::new(MeshConfigFound { kind, path: path.to_owned(), release }, from))
}

/// The first IstioOperator, and the version its `spec.tag` names.
fn operator_mesh_config(all: &[(&String, &Value)]) -> Option<MeshConfigAndVersion> {
    let (file, operator) = all.iter().find(|(_, object)| is(object, "install.istio.io/", "IstioOperator"))?;
    let from = named_in("IstioOperator", operator, file);
    let version = operator.pointer("/spec/tag").and_then(version_text).map(|v| Found::new(v, from.clone()));
    Some((mesh_config_found(MeshConfigKind::IstioOperator, file, None, from), version))
}

/// The values of the first Flux HelmRelease of the istiod chart (inline, else its values file beside it), and the
/// chart version it names.
fn helm_release_mesh_config(repository: &Repository, all: &[(&String, &Value)]) -> Option<MeshConfigAndVersion> {
    let (file, release) = all.iter().find(|(_, object)| {
        is(object, "helm.toolkit.fluxcd.io/", "HelmRelease") && chart_of(object) == Some("istiod")
    })?;
    let name = name_of(release);
    let from = format!("HelmRelease {name} of the istiod chart ({file})");
    let version = str_at(release, &["spec", "chart", "spec", "version"])
        .and_then(|v| version_text(&Value::String(v.to_owned())))
        .map(|v| Found::new(v, from.clone()));
    let several = all.iter().filter(|(f, o)| f == file && is(o, "helm.toolkit.fluxcd.io/", "HelmRelease")).count() > 1;
    if release.pointer("/spec/values/meshConfig").is_some()
        || release.get("spec").and_then(|s| s.get("valuesFrom")).is_none()
    {
        let release_name = several.then(|| name.to_owned());
        return Some((mesh_config_found(MeshConfigKind::HelmValues, file, release_name, from), version));
    }
    if let Some(values) = values_file_beside(repository, file) {
        let from = format!("{from}, its values file");
        return Some((mesh_config_found(MeshConfigKind::HelmValues, &values, None, from), version));
    }
    Some((
        Finding::Undecided(format!(
            "Istio's mesh config: HelmRelease {name} ({file}) takes its values from elsewhere (valuesFrom); name \
             the values file that holds meshConfig, with kind HelmValues"
        )),
        version,
    ))
}

/// The values file of the first Argo CD Application with a source of the istiod chart, and the chart version
/// that source names.
fn argo_cd_mesh_config(repository: &Repository, all: &[(&String, &Value)]) -> Option<MeshConfigAndVersion> {
    let (file, application, source) = all.iter().find_map(|(file, object)| {
        if !is(object, "argoproj.io/", "Application") {
            return None;
        }
        let single = object.pointer("/spec/source").into_iter();
        let several = object.pointer("/spec/sources").and_then(Value::as_array).into_iter().flatten();
        let source = single.chain(several).find(|source| str_at(source, &["chart"]) == Some("istiod"))?;
        Some((*file, *object, source))
    })?;
    let from = format!("Application {} ({file})", name_of(application));
    let version = source.get("targetRevision").and_then(version_text).map(|v| Found::new(v, from.clone()));
    if let Some(values) = argo_values_file(repository, application, source) {
        let from = format!("{from}, its helm.valueFiles");
        return Some((mesh_config_found(MeshConfigKind::HelmValues, &values, None, from), version));
    }
    Some((
        Finding::Undecided(format!(
            "Istio's mesh config: Application {} ({file}) holds the istiod chart's values, which asm-migrate does \
             not edit inside an Application; move them into a values file of the repository (helm.valueFiles) \
             and name it, with kind HelmValues",
            name_of(application)
        )),
        version,
    ))
}

/// The first file of Helm values with a `meshConfig`.
fn values_mesh_config(all: &[(&String, &Value)]) -> Option<MeshConfigAndVersion> {
    let values = all.iter().find(|(_, object)| is_values_with_mesh_config(object)).map(|(file, _)| *file)?;
    let from = format!("Helm values with meshConfig ({values})");
    Some((mesh_config_found(MeshConfigKind::HelmValues, values, None, from), None))
}

/// The first `istio` (or `istio-*`) ConfigMap with a `mesh` key.
fn config_map_mesh_config(all: &[(&String, &Value)]) -> Option<MeshConfigAndVersion> {
    let (file, config_map) = all.iter().find(|(_, object)| {
        str_at(object, &["kind"]) == Some("ConfigMap")
            && (name_of(object) == "istio" || name_of(object).starts_with("istio-"))
            && str_at(object, &["data", "mesh"]).is_some()
    })?;
    let from = format!("ConfigMap {} ({file})", name_of(config_map));
    Some((mesh_config_found(MeshConfigKind::ConfigMap, file, None, from), None))
}

/// The values file of the repository an Argo CD Helm source reads: `$<ref>/<path>` of another source of the
/// Application (a `ref:` source), the repository taken to be this one.
fn argo_values_file(repository: &Repository, application: &Value, source: &Value) -> Option<String> {
    let references: Vec<&str> = application
        .pointer("/spec/sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|source| str_at(source, &["ref"]))
        .collect();
    source
        .pointer("/helm/valueFiles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(|entry| {
            let (reference, path) = entry.strip_prefix('$')?.split_once('/')?;
            let path = crate::core::paths::normalize_repo_path(path).ok()?;
            (references.contains(&reference) && repository.is_file(&path)).then_some(path)
        })
}

/// Helm values of the istiod chart: a document with a top-level `meshConfig` and no `kind`.
fn is_values_with_mesh_config(object: &Value) -> bool {
    object.get("kind").is_none() && object.get("meshConfig").is_some_and(Value::is_object)
}

/// The values file a HelmRelease's generated ConfigMap is made from: one beside it holding `meshConfig`.
fn values_file_beside(repository: &Repository, release_file: &str) -> Option<String> {
    let dir = parent(release_file);
    repository
        .files_under(dir)
        .filter(|file| parent(file) == dir && (file.ends_with(".yaml") || file.ends_with(".yml")))
        .find(|file| {
            repository.documents(file).is_ok_and(|documents| documents.iter().any(|d| is_values_with_mesh_config(d)))
        })
        .cloned()
}

/// `1.22.3` from `1.22.3`, `v1.22.3` or `1.22.3-distroless`.
fn version_text(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        _ => return None,
    };
    let text = text.trim_start_matches('v');
    let version: String = text.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    (version.starts_with("1.") && version.len() > 2).then(|| version.trim_end_matches('.').to_owned())
}

/// The tag of Istio's proxy or pilot image, wherever a container runs one.
fn image_version(all: &[(&String, &Value)]) -> Option<Found<String>> {
    all.iter().find_map(|(file, object)| {
        let containers = object.pointer("/spec/template/spec/containers").and_then(Value::as_array)?;
        containers.iter().find_map(|container| {
            let image = str_at(container, &["image"])?;
            let (repository, tag) = image.rsplit_once(':')?;
            let istio = repository.ends_with("/proxyv2") || repository.ends_with("/pilot");
            let version = version_text(&Value::String(tag.to_owned())).filter(|_| istio)?;
            Some(Found::new(version, format!("image {image} of {} ({file})", name_of(object))))
        })
    })
}

/// Whether an object belongs to Istio's installation, in a directory whose kustomization sets `namespace`.
fn is_istio_own(object: &Value, namespace: Option<&str>) -> bool {
    let kind = str_at(object, &["kind"]).unwrap_or_default();
    let name = name_of(object);
    let in_istio_system = str_at(object, &["metadata", "namespace"]).or(namespace) == Some("istio-system");
    match kind {
        "" => true,
        "IstioOperator" => true,
        "Namespace" => name == "istio-system",
        "HelmRelease" => chart_of(object).is_some_and(|chart| ISTIO_CHARTS.contains(&chart)),
        "HelmRepository" => str_at(object, &["spec", "url"]).is_some_and(|url| url.contains("istio")),
        "CustomResourceDefinition" => name.ends_with("istio.io"),
        "ClusterRole" | "ClusterRoleBinding" | "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => {
            name.contains("istio")
        }
        _ => in_istio_system,
    }
}

/// The directories holding only Istio's installation: where the mesh config is, and where Istio's operator,
/// charts and gateways are declared.
fn install_paths(
    repository: &Repository,
    all: &[(&String, &Value)],
    mesh_config: Option<&Found<MeshConfigFound>>,
) -> Vec<Found<String>> {
    let mut candidates: Vec<(String, String)> = Vec::new();
    if let Some(found) = mesh_config {
        candidates.push((parent(&found.value.path).to_owned(), found.from.clone()));
    }
    for (file, object) in all {
        let kind = str_at(object, &["kind"]).unwrap_or_default();
        let name = name_of(object);
        let istio_install = match kind {
            "IstioOperator" => true,
            "HelmRelease" => chart_of(object).is_some_and(|chart| ISTIO_CHARTS.contains(&chart)),
            "Deployment" => {
                ["istiod", "istio-ingressgateway", "istio-egressgateway", "istio-eastwestgateway"].contains(&name)
            }
            _ => false,
        };
        if istio_install {
            candidates.push((parent(file).to_owned(), named_in(kind, object, file)));
        }
    }
    let mut paths: Vec<Found<String>> = Vec::new();
    for (dir, from) in candidates {
        if dir.is_empty() || paths.iter().any(|path| path.value == dir) || repository.kustomization_in(&dir).is_none() {
            continue;
        }
        let namespace = repository
            .kustomization_in(&dir)
            .and_then(|file| repository.documents(&file).ok())
            .and_then(|documents| documents.first().and_then(|d| str_at(d, &["namespace"])).map(str::to_owned));
        let only_istio =
            repository.files_under(&dir).filter(|file| file.ends_with(".yaml") || file.ends_with(".yml")).all(|file| {
                crate::core::repository::is_kustomization_file(file)
                    || repository.documents(file).is_ok_and(|documents| {
                        documents.iter().all(|document| is_istio_own(document, namespace.as_deref()))
                    })
            });
        if only_istio {
            paths.push(Found::new(dir, from));
        }
    }
    paths.sort_by(|a, b| a.value.cmp(&b.value));
    paths
}

/// The network Istio uses for a cluster: its source's patches of istio-system or of Istio's values, the label of
/// the istio-system namespace it builds, else Istio's `values.global.network`.
pub fn network(
    repository: &Repository,
    source: &SourceFound,
    inventory: &ClusterInventory,
    siblings: &[SiblingDocument<'_>],
    mesh_config: &Finding<MeshConfigFound>,
) -> Finding<String> {
    if let Some(found) = network_in_patches(repository, &inventory.kustomization_file) {
        return Finding::Found(found);
    }
    if let Some(namespace) = inventory.namespaces.get("istio-system") {
        if let Some(network) = str_at(&namespace.value, &["metadata", "labels", NETWORK_LABEL]) {
            return Finding::Found(Found::new(
                network.to_owned(),
                format!("label {NETWORK_LABEL} of {}", namespace.describe()),
            ));
        }
    }
    if let Some(found) = network_of_sibling_install(siblings) {
        return Finding::Found(found);
    }
    if let Some(found) = mesh_config.found() {
        let documents = repository.documents(&found.value.path).unwrap_or_default();
        let network = documents.iter().find_map(|document| {
            ["/spec/values/global/network", "/global/network"]
                .iter()
                .find_map(|pointer| document.pointer(pointer)?.as_str())
        });
        if let Some(network) = network.filter(|network| !network.is_empty()) {
            return Finding::Found(Found::new(network.to_owned(), format!("values.global.network of {}", found.from)));
        }
    }
    Finding::Undecided(format!(
        "the network Istio uses for cluster {} (the {NETWORK_LABEL} label of its istio-system namespace, or Istio's \
         values.global.network); none was found in {}",
        source.name, source.source
    ))
}

const NETWORK_LABEL: &str = "topology.istio.io/network";

/// A document of the cluster's own Istio install, where a sibling Flux Kustomization delivers it: one declared in the
/// same directory as the Kustomization that builds the cluster's source (a cluster's Flux bootstrap path lists every
/// Kustomization of that cluster).
pub struct SiblingDocument<'r> {
    document: &'r Value,
    manifest: String,
    /// `Flux Kustomization istio (gitops/hz/flux-resources/istio.yaml)`.
    delivered_by: String,
}

impl SiblingDocument<'_> {
    fn from(&self) -> String {
        format!(
            "{} {} ({}), which {} deploys beside this cluster's source",
            str_at(self.document, &["kind"]).unwrap_or_default(),
            name_of(self.document),
            self.manifest,
            self.delivered_by
        )
    }
}

pub fn sibling_documents<'r>(repository: &'r Repository, source: &SourceFound) -> Vec<SiblingDocument<'r>> {
    let Some(file) = source.file.as_deref() else { return Vec::new() };
    let flux = |object: &Value| is(object, "kustomize.toolkit.fluxcd.io/", "Kustomization");
    if !repository.engine_objects().any(|(engine_file, object)| engine_file == file && flux(object)) {
        return Vec::new();
    }
    let mut documents = Vec::new();
    for (engine_file, object) in repository.engine_objects() {
        if parent(engine_file) != parent(file) || !flux(object) {
            continue;
        }
        let Some(path) =
            str_at(object, &["spec", "path"]).and_then(|p| crate::core::paths::normalize_repo_path(p).ok())
        else {
            continue;
        };
        if path == source.source {
            continue;
        }
        let delivered_by = format!("Flux Kustomization {} ({engine_file})", name_of(object));
        let manifests: Vec<String> = repository.files_under(&path).cloned().collect();
        for manifest in manifests {
            for document in repository.documents(&manifest).into_iter().flatten() {
                documents.push(SiblingDocument {
                    document,
                    manifest: manifest.clone(),
                    delivered_by: delivered_by.clone(),
                });
            }
        }
    }
    documents
}

/// The network the cluster's own Istio install declares, where a sibling Flux Kustomization delivers it: an
/// IstioOperator's `values.global.network`, or istio-system's network label.
fn network_of_sibling_install(siblings: &[SiblingDocument<'_>]) -> Option<Found<String>> {
    siblings.iter().find_map(|sibling| {
        let document = sibling.document;
        let network = match str_at(document, &["kind"]) {
            Some("IstioOperator") => str_at(document, &["spec", "values", "global", "network"]),
            Some("Namespace") if name_of(document) == "istio-system" => {
                str_at(document, &["metadata", "labels", NETWORK_LABEL])
            }
            _ => None,
        }?;
        Some(Found::new(network.to_owned(), sibling.from()))
    })
}

/// Whether an IstioOperator enables Istio's east-west gateway (the component `gen-eastwest-gateway.sh` writes).
fn enables_east_west(operator: &Value) -> bool {
    operator.pointer("/spec/components/ingressGateways").and_then(Value::as_array).into_iter().flatten().any(
        |gateway| {
            str_at(gateway, &["name"]) == Some("istio-eastwestgateway")
                && gateway.get("enabled").and_then(Value::as_bool) == Some(true)
        },
    )
}

/// A network a source's kustomization sets in its patches: on istio-system's label, or in Istio's values.
fn network_in_patches(repository: &Repository, kustomization_file: &str) -> Option<Found<String>> {
    let documents = repository.documents(kustomization_file).ok()?;
    let dir = parent(kustomization_file);
    documents.iter().flat_map(|document| patch_entries(document)).find_map(|entry| {
        let (text, file) = match entry.text {
            PatchText::Inline(text) => (text.to_owned(), kustomization_file.to_owned()),
            PatchText::File(file) => {
                let path = join(dir, file);
                let text = repository.text(&path).ok().flatten().map(str::to_owned).or_else(|| {
                    let documents = repository.documents(&path).ok()?;
                    serde_json::to_string(&documents.iter().map(|d| d.as_ref().clone()).collect::<Vec<_>>()).ok()
                })?;
                (text, path)
            }
        };
        let values: Vec<Value> = crate::core::yaml::documents(&text).ok()?;
        values.iter().find_map(|value| {
            let labelled = value.pointer("/metadata/labels").and_then(|labels| labels.get(NETWORK_LABEL));
            let operated = value.as_array().into_iter().flatten().find_map(|operation| {
                let path = str_at(operation, &["path"])?;
                (path == "/spec/values/global/network" || path.ends_with("topology.istio.io~1network"))
                    .then(|| operation.get("value"))
                    .flatten()
            });
            let network = labelled.or(operated)?.as_str()?;
            Some(Found::new(network.to_owned(), format!("a patch in {file}")))
        })
    })
}

/// Where Istio's east-west gateway runs in a cluster's build: its Deployment, a Gateway selecting it, or an
/// enabled `istio-eastwestgateway` component of an IstioOperator the source includes.
pub fn east_west_gateway(
    repository: &Repository,
    source: &SourceFound,
    inventory: &ClusterInventory,
    siblings: &[SiblingDocument<'_>],
    mesh_config: &Finding<MeshConfigFound>,
) -> Option<String> {
    east_west_in_build(inventory)
        .or_else(|| {
            let found = mesh_config.found().filter(|found| found.value.kind == MeshConfigKind::IstioOperator)?;
            let operator = repository
                .documents(&found.value.path)
                .ok()?
                .iter()
                .find(|document| is(document, "install.istio.io/", "IstioOperator"))?;
            (enables_east_west(operator) && includes(repository, &source.source, parent(&found.value.path)))
                .then(|| format!("the istio-eastwestgateway component of {}", found.from))
        })
        .or_else(|| {
            siblings.iter().find_map(|sibling| {
                let operator = is(sibling.document, "install.istio.io/", "IstioOperator");
                (operator && enables_east_west(sibling.document))
                    .then(|| format!("the istio-eastwestgateway component of {}", sibling.from()))
            })
        })
}

/// Whether the kustomization of `dir` includes `target` (a directory), directly or through what it includes.
fn includes(repository: &Repository, dir: &str, target: &str) -> bool {
    let mut pending = vec![dir.to_owned()];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(dir) = pending.pop() {
        if dir == target {
            return true;
        }
        let Some(file) = repository.kustomization_in(&dir).filter(|file| seen.insert(file.clone())) else { continue };
        let Ok(documents) = repository.documents(&file) else { continue };
        for entry in documents.iter().flat_map(|document| crate::core::repository::included_entries(document)) {
            if let crate::core::repository::EntryTarget::Path(path) =
                crate::core::repository::resolve_entry(&dir, entry)
            {
                pending.push(path);
            }
        }
    }
    false
}

fn east_west_in_build(inventory: &ClusterInventory) -> Option<String> {
    let deployment = inventory
        .workloads
        .iter()
        .find(|workload| &*workload.workload.name == "istio-eastwestgateway")
        .map(|workload| format!("{} in the cluster's build", workload.workload));
    deployment.or_else(|| {
        inventory
            .istio_objects
            .iter()
            .find(|object| {
                &*object.kind == "Gateway"
                    && object.value.pointer("/spec/selector/istio").and_then(Value::as_str) == Some("eastwestgateway")
            })
            .map(|gateway| gateway.describe())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository of `files` (path, YAML), every file parsed as `load_everything` parses it.
    fn repository(files: &[(&str, &str)]) -> Repository {
        let mut repository = Repository::listing(files.iter().map(|(path, _)| (*path).to_owned()));
        for (path, text) in files {
            repository.add_documents(path, Ok(crate::core::yaml::documents(text).expect("YAML")));
        }
        repository
    }

    #[test]
    fn an_argo_cd_helm_source_s_values_file_of_the_repository_is_the_mesh_config() {
        let application = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: istiod}\nspec:\n  \
            sources:\n    - repoURL: https://istio-release.storage.googleapis.com/charts\n      chart: istiod\n      \
            targetRevision: 1.22.3\n      helm:\n        valueFiles: [$values/istio/istiod-values.yaml]\n    - \
            repoURL: https://github.com/example/gitops.git\n      ref: values\n";
        let repository = repository(&[
            ("argocd/istiod.yaml", application),
            ("istio/istiod-values.yaml", "meshConfig:\n  accessLogFile: /dev/stdout\n"),
        ]);
        let installation = installation(&repository);
        let found = installation.mesh_config.found().expect("a mesh config");
        assert_eq!(found.value.kind, MeshConfigKind::HelmValues);
        assert_eq!(found.value.path, "istio/istiod-values.yaml");
        assert_eq!(found.from, "Application istiod (argocd/istiod.yaml), its helm.valueFiles");
        assert_eq!(installation.version.found().map(|v| v.value.as_str()), Some("1.22.3"));
    }

    #[test]
    fn inline_helm_values_of_an_application_are_left_to_decide() {
        let application = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: istiod}\nspec:\n  \
            source:\n    chart: istiod\n    targetRevision: 1.21.0\n    helm:\n      valuesObject:\n        \
            meshConfig: {accessLogFile: /dev/stdout}\n";
        let installation = installation(&repository(&[("argocd/istiod.yaml", application)]));
        assert!(matches!(&installation.mesh_config, Finding::Undecided(why) if why.contains("values file")));
        assert_eq!(installation.version.found().map(|v| v.value.as_str()), Some("1.21.0"));
    }

    #[test]
    fn an_enabled_east_west_component_of_an_included_operator_is_an_east_west_gateway() {
        let operator = "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: {name: cp}\nspec:\n  \
            tag: 1.22.3\n  components:\n    ingressGateways:\n      - name: istio-eastwestgateway\n        \
            enabled: true\n";
        let repository = repository(&[
            ("istio/operator.yaml", operator),
            ("istio/kustomization.yaml", "resources: [operator.yaml]\n"),
            ("clusters/a/kustomization.yaml", "resources: [../../istio]\n"),
            ("clusters/b/kustomization.yaml", "resources: []\n"),
        ]);
        let mesh_config = installation(&repository).mesh_config;
        let source = |dir: &str| SourceFound {
            name: "x".to_owned(),
            source: dir.to_owned(),
            context: None,
            from: String::new(),
            synced_by: None,
            file: None,
        };
        let inventory = ClusterInventory::default();
        let a = east_west_gateway(&repository, &source("clusters/a"), &inventory, &[], &mesh_config);
        assert_eq!(a.as_deref(), Some("the istio-eastwestgateway component of IstioOperator cp (istio/operator.yaml)"));
        assert_eq!(east_west_gateway(&repository, &source("clusters/b"), &inventory, &[], &mesh_config), None);
    }
}

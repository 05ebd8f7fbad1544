//! How Argo CD and Flux deliver each cluster's source: the Applications and Kustomizations that build it, what
//! they add to what kustomize builds (a namespace, namespace labels), what they add that asm-migrate cannot see
//! (Helm charts), and whether what Flux fetches holds the tool's output at all.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::core::paths::{is_within, normalize_repo_path};
use crate::core::repository::Repository;
use crate::core::settings::{Cluster, Settings};
use crate::core::value::str_at;

/// Something a cluster's source deploys that asm-migrate cannot see (rendered by Helm in the cluster, fetched from
/// elsewhere): its workloads are neither restarted nor moved by the tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unseen {
    /// How the plan acknowledges it in `clusters[].unseen`: `HelmRelease/podinfo/podinfo`.
    pub id: String,
    /// The file that declares it.
    pub file: String,
    /// What it is, in words.
    pub what: String,
    /// How asm-migrate could see through it, when it could.
    pub help: Option<String>,
}

/// A directory an Application builds besides the cluster's source.
#[derive(Debug, Clone)]
pub struct OtherPath {
    pub dir: String,
    /// `Application shop-hz`.
    pub application: String,
}

/// What the GitOps engine adds to a cluster source's build.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    /// The objects that deliver the source: `Application shop-hz (argocd/shop-hz.yaml)`.
    pub by: Vec<String>,
    /// The namespace of objects that have none (Argo CD's `destination.namespace`).
    pub default_namespace: Option<String>,
    /// The namespace of every namespaced object (Flux's `targetNamespace`).
    pub target_namespace: Option<String>,
    /// Labels of namespaces the engine creates or labels itself (Argo CD's `managedNamespaceMetadata`).
    pub namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// Labels the engine gives every object (Flux's `commonMetadata`).
    pub common_labels: BTreeMap<String, String>,
    pub unseen: Vec<Unseen>,
    /// The other directories of this repository that the source's Argo CD Applications build (multi-source
    /// Applications): where a kustomization with `helmCharts:` renders a chart asm-migrate can patch.
    pub other_paths: Vec<OtherPath>,
    /// What the engine may not find (a Flux artifact without the tool's output): the file of the object that
    /// builds the source, and the warning in words.
    pub warnings: Vec<(String, String)>,
}

/// How `cluster`'s source is delivered, as the repository's Argo CD and Flux objects say.
pub fn delivery_of(repository: &Repository, settings: &Settings, cluster: &Cluster) -> Delivery {
    let mut delivery = Delivery::default();
    let source = &cluster.source.value;
    let objects: Vec<(&String, &Value)> = repository.engine_objects().collect();
    let applications: Vec<(&String, &Value)> = objects
        .iter()
        .copied()
        .filter(|(_, object)| is(object, "argoproj.io/", "Application"))
        .filter(|(_, object)| application_paths(object).iter().any(|path| path == source))
        .collect();
    // Several Applications of one path: the one whose destination is the cluster's context.
    let of_context: Vec<(&String, &Value)> = applications
        .iter()
        .copied()
        .filter(|(_, app)| {
            cluster.context.is_some() && str_at(app, &["spec", "destination", "name"]) == cluster.context.as_deref()
        })
        .collect();
    for (file, application) in if of_context.is_empty() { applications } else { of_context } {
        argo_cd(file, application, source, &mut delivery);
    }
    for (file, kustomization) in
        objects.iter().copied().filter(|(_, object)| is(object, "kustomize.toolkit.fluxcd.io/", "Kustomization"))
    {
        flux(file, kustomization, &objects, settings, cluster, &mut delivery);
    }
    delivery
}

pub(crate) fn is(object: &Value, group: &str, kind: &str) -> bool {
    str_at(object, &["kind"]) == Some(kind)
        && str_at(object, &["apiVersion"]).is_some_and(|version| version.starts_with(group))
}

pub(crate) fn name_of(object: &Value) -> &str {
    str_at(object, &["metadata", "name"]).unwrap_or_default()
}

/// The repository paths an Application builds (`spec.source.path`, `spec.sources[].path`), normalized.
pub(crate) fn application_paths(application: &Value) -> Vec<String> {
    sources(application)
        .filter_map(|source| str_at(source, &["path"]))
        .filter_map(|path| normalize_repo_path(path).ok())
        .collect()
}

fn sources(application: &Value) -> impl Iterator<Item = &Value> {
    let single = application.pointer("/spec/source").into_iter();
    let several = application.pointer("/spec/sources").and_then(Value::as_array).into_iter().flatten();
    single.chain(several)
}

fn labels(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
        .collect()
}

/// What an Argo CD Application adds: its destination namespace, the labels of the namespace it creates, Helm.
fn argo_cd(file: &str, application: &Value, cluster_source: &str, delivery: &mut Delivery) {
    let name = name_of(application);
    delivery.by.push(format!("Application {name} ({file})"));
    let destination = str_at(application, &["spec", "destination", "namespace"]);
    delivery.default_namespace = destination.map(str::to_owned);
    let managed = application.pointer("/spec/syncPolicy/managedNamespaceMetadata/labels");
    let creates = application
        .pointer("/spec/syncPolicy/syncOptions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|option| option.as_str() == Some("CreateNamespace=true"));
    if let (Some(namespace), true) = (destination, creates) {
        delivery.namespace_labels.entry(namespace.to_owned()).or_default().extend(labels(managed));
    }
    for source in sources(application) {
        let chart = str_at(source, &["chart"]);
        let other_path = str_at(source, &["path"]).and_then(|path| normalize_repo_path(path).ok());
        if let Some(dir) =
            other_path.filter(|dir| dir != cluster_source && chart.is_none() && source.get("helm").is_none())
        {
            delivery.other_paths.push(OtherPath { dir, application: format!("Application {name}") });
        }
        if chart.is_some() || source.get("helm").is_some() {
            delivery.unseen.push(Unseen {
                id: format!("Application/{name}"),
                file: file.to_owned(),
                what: format!(
                    "Application {name} deploys the Helm chart {}",
                    chart.or(str_at(source, &["path"])).unwrap_or("of its source")
                ),
                help: Some(helm_source_help(source, destination)),
            });
        }
    }
}

/// How an Argo CD Helm source becomes one asm-migrate patches: the chart inflated by kustomize (`helmCharts:`) in a
/// kustomization the Application builds as a source of its own; the entry, from the source's fields, when it names a
/// chart of a Helm repository.
fn helm_source_help(source: &Value, namespace: Option<&str>) -> String {
    let entry = str_at(source, &["chart"]).map(|chart| {
        let mut entry = serde_json::json!({"name": chart});
        let fields = [
            ("repo", str_at(source, &["repoURL"])),
            ("version", str_at(source, &["targetRevision"])),
            ("releaseName", str_at(source, &["helm", "releaseName"])),
            ("namespace", namespace),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                entry[key] = value.into();
            }
        }
        entry
    });
    let moved = match entry {
        Some(entry) => format!("`helmCharts: [{entry}]` (its values as valuesInline)"),
        None => "a `helmCharts:` entry for the chart".to_owned(),
    };
    format!(
        "asm-migrate cannot patch inside a Helm source, but can patch a chart that kustomize inflates: move it into \
         {moved} of a kustomization.yaml the Application builds as a source of its own (a path in this repository), \
         and give Argo CD `kustomize.buildOptions: --enable-helm` (README, \"Argo CD Helm sources\")"
    )
}

/// What a Flux Kustomization of the cluster's source adds, and whether the artifact it builds from holds the
/// tool's output.
fn flux(
    file: &str,
    kustomization: &Value,
    objects: &[(&String, &Value)],
    settings: &Settings,
    cluster: &Cluster,
    delivery: &mut Delivery,
) {
    let Some(path) = str_at(kustomization, &["spec", "path"]) else { return };
    let name = name_of(kustomization);
    let source_kind = str_at(kustomization, &["spec", "sourceRef", "kind"]).unwrap_or("GitRepository");
    let source_name = str_at(kustomization, &["spec", "sourceRef", "name"]).unwrap_or_default();
    let artifact = match source_kind {
        "ExternalArtifact" => objects
            .iter()
            .filter(|(_, object)| is(object, "source.extensions.fluxcd.io/", "ArtifactGenerator"))
            .find_map(|(generator_file, generator)| {
                let artifacts = generator.pointer("/spec/artifacts").and_then(Value::as_array)?;
                let artifact = artifacts.iter().find(|artifact| str_at(artifact, &["name"]) == Some(source_name))?;
                Some((format!("{} ({generator_file})", name_of(generator)), copies(artifact)))
            }),
        _ => None,
    };
    let in_repository = match &artifact {
        Some((_, copies)) => from_artifact(path, copies),
        None => normalize_repo_path(path).ok(),
    };
    if in_repository.as_deref() != Some(cluster.source.value.as_str()) {
        return;
    }
    delivery.by.push(format!("Kustomization {name} ({file})"));
    delivery.target_namespace = str_at(kustomization, &["spec", "targetNamespace"]).map(str::to_owned);
    delivery.common_labels.extend(labels(kustomization.pointer("/spec/commonMetadata/labels")));
    let output = &settings.output.value;
    if let Some((generator, copies)) = artifact {
        if !copies.iter().any(|(from, _)| is_within(output, from) || from.is_empty()) {
            let held: Vec<String> = copies.iter().map(|(from, _)| format!("{from}/**")).collect();
            delivery.warnings.push((
                file.to_owned(),
                format!(
                "Flux builds {} from the artifact `{source_name}` of ArtifactGenerator {generator}, which holds only \
                 {}: the component under {output} is not in it, so Flux cannot build the source with it; copy the \
                 output into the artifact and list the component in the Kustomization's spec.components with \
                 includeComponent: false (README, \"Flux artifacts\")",
                cluster.source.value,
                held.join(", ")
            ),
            ));
        }
    }
}

/// The copy rules of an ArtifactGenerator's artifact, as (repository directory, directory in the artifact); only
/// whole directories (`@<source>/<dir>/**` to `@artifact/<dir>/`) are read.
pub(crate) fn copies(artifact: &Value) -> Vec<(String, String)> {
    artifact
        .get("copy")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|copy| {
            let from = str_at(copy, &["from"])?.split_once('/').map(|(_, path)| path)?;
            let to = str_at(copy, &["to"])?.strip_prefix("@artifact")?;
            let from = from.strip_suffix("/**").or_else(|| from.strip_suffix("**"))?.trim_end_matches('/');
            Some((from.to_owned(), to.trim_matches('/').to_owned()))
        })
        .collect()
}

/// The repository path of `path` in an artifact made by `copies`.
pub(crate) fn from_artifact(path: &str, copies: &[(String, String)]) -> Option<String> {
    let path = normalize_repo_path(path).unwrap_or_default();
    copies.iter().find_map(|(from, to)| {
        let rest = if to.is_empty() {
            Some(path.as_str())
        } else {
            path.strip_prefix(to.as_str()).map(|r| r.trim_start_matches('/'))
        }?;
        normalize_repo_path(&format!("{from}/{rest}")).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_artifact_maps_its_paths_back_to_the_repository() {
        let artifact = json!({"name": "apps", "copy": [
            {"from": "@monorepo/apps/base/**", "to": "@artifact/base/"},
            {"from": "@monorepo/apps/production/**", "to": "@artifact/production/"}]});
        let copies = copies(&artifact);
        assert_eq!(
            copies,
            [("apps/base".to_owned(), "base".to_owned()), ("apps/production".to_owned(), "production".to_owned())]
        );
        assert_eq!(from_artifact("./production", &copies).as_deref(), Some("apps/production"));
        assert_eq!(from_artifact("./staging", &copies), None);
    }
}

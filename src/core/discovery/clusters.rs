//! The data-plane clusters and their sources: what Argo CD Applications and ApplicationSets, or Flux
//! Kustomizations, build from the repository, else the kustomizations under `clusters/`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{dns_label, read_source, unique_name, Finding, Found};
use crate::core::delivery::{application_paths, copies, from_artifact, is, name_of};
use crate::core::inventory::ClusterInventory;
use crate::core::paths::normalize_repo_path;
use crate::core::repository::Repository;
use crate::core::settings::{Engine, STATE_FILE};
use crate::core::value::str_at;

/// A kustomization directory that an engine object (or the `clusters/` layout) builds for a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFound {
    /// The cluster's name in the plan.
    pub name: String,
    /// The repository-relative directory.
    pub source: String,
    /// The kubeconfig context, when the engine object names its destination cluster (Argo CD).
    pub context: Option<String>,
    /// The engine object that builds it, with its file: `Application argocd/shop-hz (argocd/shop-hz.yaml)`.
    pub from: String,
    /// `namespace` and `name` of the Application or Kustomization that applies it.
    pub synced_by: Option<(String, String)>,
    /// The file of that engine object.
    pub file: Option<String>,
}

/// The engine and the cluster sources its objects build, in the repository's order.
pub fn candidates(repository: &Repository, notes: &mut Vec<String>) -> (Finding<Engine>, Vec<SourceFound>) {
    let objects: Vec<(&String, &Value)> = repository.engine_objects().collect();
    let mut argo = Vec::new();
    let mut flux = Vec::new();
    // The first object of each engine, whether or not it builds a source asm-migrate can read: the engine is the
    // one whose objects the repository holds.
    let (mut first_argo, mut first_flux) = (None, None);
    for (file, object) in &objects {
        if is(object, "argoproj.io/", "Application") || is(object, "argoproj.io/", "ApplicationSet") {
            first_argo.get_or_insert_with(|| engine_object(file, object));
        } else if is(object, "kustomize.toolkit.fluxcd.io/", "Kustomization") {
            first_flux.get_or_insert_with(|| engine_object(file, object));
        }
        if is(object, "argoproj.io/", "Application") {
            argo.extend(application_sources(repository, file, object));
        } else if is(object, "argoproj.io/", "ApplicationSet") {
            argo.extend(application_set_sources(repository, file, object, notes));
        } else if is(object, "kustomize.toolkit.fluxcd.io/", "Kustomization") {
            flux.extend(flux_source(repository, file, object, &objects, notes));
        }
    }
    // Objects of one engine only: that engine, even when none of them builds a source asm-migrate reads.
    match (first_argo, first_flux) {
        (Some(from), None) if argo.is_empty() => {
            return (Finding::Found(Found::new(Engine::ArgoCd, from)), deduplicated(layout_sources(repository)));
        }
        (None, Some(from)) if flux.is_empty() => {
            return (Finding::Found(Found::new(Engine::Flux, from)), deduplicated(layout_sources(repository)));
        }
        _ => {}
    }
    let first_file = |sources: &[SourceFound]| sources.first().map(|source| source.from.clone()).unwrap_or_default();
    let (engine, sources) = match (argo.is_empty(), flux.is_empty()) {
        (false, true) => (Finding::Found(Found::new(Engine::ArgoCd, first_file(&argo))), argo),
        (true, false) => (Finding::Found(Found::new(Engine::Flux, first_file(&flux))), flux),
        (false, false) => {
            notes.push(format!(
                "both Argo CD ({}) and Flux ({}) build sources of this repository: the plan names Argo CD's",
                first_file(&argo),
                first_file(&flux)
            ));
            (Finding::Found(Found::new(Engine::ArgoCd, first_file(&argo))), argo)
        }
        (true, true) => (
            Finding::Undecided(
                "the GitOps engine: `argocd` or `flux` (no Argo CD Application or Flux Kustomization builds a \
                 kustomization of this repository)"
                    .to_owned(),
            ),
            layout_sources(repository),
        ),
    };
    (engine, deduplicated(sources))
}

/// An engine object as `init` names where it found something: `Flux Kustomization flux-system/apps (clusters/x.yaml)`.
fn engine_object(file: &str, object: &Value) -> String {
    let kind = str_at(object, &["kind"]).unwrap_or_default();
    let (engine, default_namespace) =
        if is(object, "argoproj.io/", kind) { ("", "argocd") } else { ("Flux ", "flux-system") };
    let namespace = str_at(object, &["metadata", "namespace"]).unwrap_or(default_namespace);
    format!("{engine}{kind} {namespace}/{} ({file})", name_of(object))
}

/// A cluster's name: its source directory's when the repository keeps one directory per cluster under `clusters/`,
/// else `otherwise` (the Application's destination, or its name).
fn cluster_name(source: &str, otherwise: &str) -> String {
    match source.strip_prefix("clusters/") {
        Some(rest) if !rest.is_empty() => dns_label(rest.split('/').next().unwrap_or(rest)),
        _ => dns_label(otherwise),
    }
}

/// An Application or Flux Kustomization that already applies asm-migrate's `asm/` directory to the ASM control
/// plane (written before the output exists: its path ends in `/asm` and holds nothing yet, or asm-migrate's own).
pub struct AsmApplier {
    pub output: String,
    pub context: Option<String>,
    pub from: String,
    pub synced_by: (String, String),
}

pub fn asm_applier(repository: &Repository) -> Option<AsmApplier> {
    repository.engine_objects().find_map(|(file, object)| {
        let argo = is(object, "argoproj.io/", "Application");
        let flux = is(object, "kustomize.toolkit.fluxcd.io/", "Kustomization");
        let paths = match (argo, flux) {
            (true, _) => application_paths(object),
            (_, true) => {
                str_at(object, &["spec", "path"]).and_then(|p| normalize_repo_path(p).ok()).into_iter().collect()
            }
            _ => return None,
        };
        let asm_dir = paths.into_iter().find(|path| {
            let output = path.strip_suffix("/asm").unwrap_or_default();
            !output.is_empty()
                && (!repository.is_dir(path) || repository.is_file(&crate::core::paths::join(output, STATE_FILE)))
        })?;
        let name = name_of(object);
        let namespace =
            str_at(object, &["metadata", "namespace"]).unwrap_or(if argo { "argocd" } else { "flux-system" });
        let kind = if argo { "Application" } else { "Flux Kustomization" };
        Some(AsmApplier {
            output: asm_dir.strip_suffix("/asm").unwrap_or_default().to_owned(),
            context: str_at(object, &["spec", "destination", "name"]).map(str::to_owned),
            from: format!("{kind} {namespace}/{name} ({file})"),
            synced_by: (namespace.to_owned(), name.to_owned()),
        })
    })
}

/// The name of the Git repository the engine's objects fetch: an Application's `repoURL`, or a Flux
/// GitRepository's `url`, without its `.git`.
pub fn repository_name(repository: &Repository) -> Option<String> {
    repository.engine_objects().find_map(|(_, object)| {
        let url = if is(object, "argoproj.io/", "Application") {
            object.pointer("/spec/source/repoURL").or_else(|| object.pointer("/spec/sources/0/repoURL"))?.as_str()?
        } else if is(object, "source.toolkit.fluxcd.io/", "GitRepository") {
            str_at(object, &["spec", "url"])?
        } else {
            return None;
        };
        let last = url.trim_end_matches('/').rsplit(['/', ':']).next()?;
        let name = dns_label(last.strip_suffix(".git").unwrap_or(last));
        (name != "migration").then_some(name)
    })
}

/// The sources an Application builds: each of its paths holding a kustomization.
fn application_sources(repository: &Repository, file: &str, application: &Value) -> Vec<SourceFound> {
    let name = name_of(application);
    let namespace = str_at(application, &["metadata", "namespace"]).unwrap_or("argocd");
    let destination = str_at(application, &["spec", "destination", "name"]);
    application_paths(application)
        .into_iter()
        .filter(|path| repository.kustomization_in(path).is_some())
        .map(|path| SourceFound {
            name: cluster_name(&path, destination.unwrap_or(name)),
            source: path,
            context: destination.map(str::to_owned),
            from: format!("Application {namespace}/{name} ({file})"),
            synced_by: Some((namespace.to_owned(), name.to_owned())),
            file: Some(file.to_owned()),
        })
        .collect()
}

/// The Applications an ApplicationSet generates, as far as its list and git-directory generators say.
fn application_set_sources(
    repository: &Repository,
    file: &str,
    set: &Value,
    notes: &mut Vec<String>,
) -> Vec<SourceFound> {
    let set_name = name_of(set);
    let Some(template) = set.pointer("/spec/template") else { return Vec::new() };
    let mut parameter_sets: Vec<BTreeMap<String, String>> = Vec::new();
    for generator in set.pointer("/spec/generators").and_then(Value::as_array).into_iter().flatten() {
        if let Some(elements) = generator.pointer("/list/elements").and_then(Value::as_array) {
            parameter_sets.extend(elements.iter().map(|element| {
                element
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
                    .collect()
            }));
        } else if let Some(directories) = generator.pointer("/git/directories").and_then(Value::as_array) {
            for pattern in directories.iter().filter_map(|entry| str_at(entry, &["path"])) {
                for dir in matching_dirs(repository, pattern) {
                    let basename = dir.rsplit('/').next().unwrap_or_default().to_owned();
                    parameter_sets.push(BTreeMap::from([
                        ("path".to_owned(), dir.clone()),
                        ("path.path".to_owned(), dir.clone()),
                        ("path.basename".to_owned(), basename.clone()),
                        ("path.basenameNormalized".to_owned(), dns_label(&basename)),
                    ]));
                }
            }
        } else {
            let kind = generator.as_object().and_then(|kinds| kinds.keys().next().cloned()).unwrap_or_default();
            notes.push(format!(
                "ApplicationSet {set_name} ({file}): its {kind} generator is resolved by Argo CD in the cluster, \
                 not from the repository: add its clusters to the plan by hand"
            ));
        }
    }
    let namespace = str_at(set, &["metadata", "namespace"]).unwrap_or("argocd");
    parameter_sets
        .iter()
        .flat_map(|parameters| {
            let application = substituted(template, parameters);
            let name = name_of(&application).to_owned();
            let destination = str_at(&application, &["spec", "destination", "name"]).map(str::to_owned);
            application_paths(&application)
                .into_iter()
                .filter(|path| repository.kustomization_in(path).is_some())
                .map(|path| SourceFound {
                    name: cluster_name(&path, destination.as_deref().unwrap_or(&name)),
                    source: path,
                    context: destination.clone(),
                    from: format!("ApplicationSet {namespace}/{set_name}, Application {name} ({file})"),
                    synced_by: Some((namespace.to_owned(), name.clone())),
                    file: Some(file.to_owned()),
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The repository directories a git-directories generator's path pattern (`apps/*`) matches.
fn matching_dirs(repository: &Repository, pattern: &str) -> Vec<String> {
    let pattern = pattern.trim_matches('/');
    let depth = pattern.split('/').count();
    let mut dirs: Vec<String> = repository
        .files_under("")
        .filter_map(|file| {
            let parts: Vec<&str> = file.split('/').collect();
            (parts.len() > depth).then(|| parts[..depth].join("/"))
        })
        .filter(|dir| glob_match(pattern, dir))
        .collect();
    dirs.dedup();
    dirs
}

/// Whether `path` matches `pattern`, segment by segment (`*` any part of one segment).
fn glob_match(pattern: &str, path: &str) -> bool {
    let (patterns, parts): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
    patterns.len() == parts.len()
        && patterns.iter().zip(&parts).all(|(pattern, part)| match pattern.split_once('*') {
            None => pattern == part,
            Some((head, tail)) => {
                part.len() >= head.len() + tail.len() && part.starts_with(head) && part.ends_with(tail)
            }
        })
}

/// A template with `{{name}}`, `{{ name }}`, `{{.name}}` and `{{ .name }}` replaced by the parameters' values.
fn substituted(template: &Value, parameters: &BTreeMap<String, String>) -> Value {
    match template {
        Value::String(text) => {
            let mut text = text.clone();
            for (key, value) in parameters {
                for form in [
                    format!("{{{{{key}}}}}"),
                    format!("{{{{ {key} }}}}"),
                    format!("{{{{.{key}}}}}"),
                    format!("{{{{ .{key} }}}}"),
                ] {
                    text = text.replace(&form, value);
                }
            }
            Value::String(text)
        }
        Value::Array(items) => Value::Array(items.iter().map(|item| substituted(item, parameters)).collect()),
        Value::Object(fields) => {
            Value::Object(fields.iter().map(|(key, value)| (key.clone(), substituted(value, parameters))).collect())
        }
        other => other.clone(),
    }
}

/// The source a Flux Kustomization builds, named after the `clusters/<name>` directory that declares it.
fn flux_source(
    repository: &Repository,
    file: &str,
    kustomization: &Value,
    objects: &[(&String, &Value)],
    notes: &mut Vec<String>,
) -> Option<SourceFound> {
    let path = str_at(kustomization, &["spec", "path"])?;
    let name = name_of(kustomization);
    let namespace = str_at(kustomization, &["metadata", "namespace"]).unwrap_or("flux-system");
    let source_kind = str_at(kustomization, &["spec", "sourceRef", "kind"]).unwrap_or("GitRepository");
    let source_name = str_at(kustomization, &["spec", "sourceRef", "name"]).unwrap_or_default();
    let dir = match source_kind {
        "GitRepository" => normalize_repo_path(path).ok()?,
        // An artifact an ArtifactGenerator copies from the repository: its path, mapped back.
        "ExternalArtifact" => objects.iter().find_map(|(_, generator)| {
            if !is(generator, "source.extensions.fluxcd.io/", "ArtifactGenerator") {
                return None;
            }
            let artifacts = generator.pointer("/spec/artifacts").and_then(Value::as_array)?;
            let artifact = artifacts.iter().find(|artifact| str_at(artifact, &["name"]) == Some(source_name))?;
            from_artifact(path, &copies(artifact))
        })?,
        _ => return None,
    };
    if dir.starts_with("clusters/") && dir.ends_with("flux-system") {
        return None;
    }
    if repository.kustomization_in(&dir).is_none() {
        if repository.is_dir(&dir) && dir.split('/').next() != Some("clusters") {
            notes.push(format!(
                "Flux Kustomization {namespace}/{name} ({file}) builds {dir}, which has no kustomization.yaml (Flux \
                 generates one): asm-migrate reads a cluster source through its own, so if {dir} deploys \
                 Istio-injected workloads, give it one listing its manifests"
            ));
        }
        return None;
    }
    let cluster = file
        .strip_prefix("clusters/")
        .and_then(|rest| rest.split('/').next())
        .filter(|part| !part.ends_with(".yaml") && !part.ends_with(".yml"))
        .unwrap_or(name);
    Some(SourceFound {
        name: dns_label(cluster),
        source: dir,
        context: None,
        from: format!("Flux Kustomization {namespace}/{name} ({file})"),
        synced_by: Some((namespace.to_owned(), name.to_owned())),
        file: Some(file.to_owned()),
    })
}

/// Without engine objects: each `clusters/<name>` directory holding a kustomization.
fn layout_sources(repository: &Repository) -> Vec<SourceFound> {
    let mut names: Vec<String> = repository
        .kustomization_files()
        .filter_map(|file| {
            let parts: Vec<&str> = file.split('/').collect();
            (parts.len() == 3 && parts[0] == "clusters").then(|| parts[1].to_owned())
        })
        .collect();
    names.dedup();
    names
        .into_iter()
        .map(|name| SourceFound {
            name: dns_label(&name),
            source: format!("clusters/{name}"),
            context: None,
            from: format!("the kustomization of clusters/{name}"),
            synced_by: None,
            file: None,
        })
        .collect()
}

/// Each (cluster, source) once; cluster names made unique.
fn deduplicated(sources: Vec<SourceFound>) -> Vec<SourceFound> {
    // The same directory built for the same destination is one cluster; for another destination, another, and a
    // name that several destinations would share gives way to each destination's own.
    let mut destinations: BTreeMap<&str, BTreeSet<Option<&str>>> = BTreeMap::new();
    for source in &sources {
        destinations.entry(&source.name).or_default().insert(source.context.as_deref());
    }
    let shared: BTreeSet<String> =
        destinations.into_iter().filter(|(_, contexts)| contexts.len() > 1).map(|(name, _)| name.to_owned()).collect();
    let mut seen: Vec<(String, String, Option<String>)> = Vec::new();
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    let mut unique = Vec::new();
    for mut source in sources {
        let key = (source.name.clone(), source.source.clone(), source.context.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        if let (true, Some(context)) = (shared.contains(&source.name), &source.context) {
            source.name = dns_label(context);
        }
        source.name = unique_name(&source.name, &taken);
        taken.insert(source.name.clone(), unique.len());
        unique.push(source);
    }
    unique
}

/// What each candidate builds; the candidates kept are those with Istio-injected workloads (or, when none has
/// any, those with workloads).
pub fn inventories(
    repository: &Repository,
    engine: Engine,
    install_paths: &[&str],
    candidates: Vec<SourceFound>,
    notes: &mut Vec<String>,
) -> Vec<(SourceFound, ClusterInventory)> {
    let mut read = Vec::new();
    for candidate in candidates {
        match read_source(repository, engine, &candidate.name, &candidate.source) {
            Ok(inventory) => read.push((candidate, inventory)),
            Err(problem) => notes.push(format!("{} ({}) cannot be read: {problem}", candidate.source, candidate.from)),
        }
    }
    let injected = |inventory: &ClusterInventory| {
        let workloads = inventory
            .workloads
            .iter()
            .any(|workload| workload.injected && &*workload.workload.namespace != "istio-system");
        workloads || !inventory.injected_releases().is_empty()
    };
    let any_injected = read.iter().any(|(_, inventory)| injected(inventory));
    let (kept, left): (Vec<_>, Vec<_>) = read.into_iter().partition(|(source, inventory)| {
        let istio_only = install_paths.contains(&source.source.as_str());
        !istio_only && if any_injected { injected(inventory) } else { !inventory.workloads.is_empty() }
    });
    for (source, _) in left {
        notes.push(format!("{} ({}) is left out: it builds no Istio-injected workload", source.source, source.from));
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn application_set_parameters_fill_the_template() {
        let template = json!({"metadata": {"name": "shop-{{cluster}}"},
            "spec": {"source": {"path": "clusters/{{ .cluster }}"}, "destination": {"name": "{{context}}"}}});
        let parameters =
            BTreeMap::from([("cluster".to_owned(), "hz".to_owned()), ("context".to_owned(), "ack-hz".to_owned())]);
        let application = substituted(&template, &parameters);
        assert_eq!(application["metadata"]["name"], "shop-hz");
        assert_eq!(application["spec"]["source"]["path"], "clusters/hz");
        assert_eq!(application["spec"]["destination"]["name"], "ack-hz");
    }

    #[test]
    fn directory_patterns_match_one_segment_per_star() {
        assert!(glob_match("clusters/*", "clusters/hz"));
        assert!(!glob_match("clusters/*", "clusters/hz/apps"));
        assert!(glob_match("apps/team-*", "apps/team-a") && !glob_match("apps/team-*", "apps/infra"));
    }
}

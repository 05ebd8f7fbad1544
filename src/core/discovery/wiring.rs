//! What connects the tool's output to the GitOps engine: each cluster's component reference, and the Argo CD
//! Application or Flux Kustomization that applies `<output>/asm` to the ASM control plane.

use std::rc::Rc;

use serde_json::Value;

use super::Discovery;
use crate::core::delivery::name_of;
use crate::core::paths::{join, parent, relative_path};
use crate::core::repository::Repository;
use crate::core::settings::Engine;
use crate::core::templates::{TemplateError, Templates};
use crate::core::value::str_at;
use minijinja::context;

/// How one cluster's source lists its component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentReference {
    pub cluster: String,
    /// The source's kustomization file, which `apply` edits at the first step.
    pub kustomization: String,
    /// The entry of its `components:`, relative to the source.
    pub reference: String,
    /// The same through the engine instead (`includeComponent: false`), in words.
    pub through_engine: Option<String>,
    /// Whether the source is another cluster's too, so that only the engine can include the component.
    pub shared_source: bool,
}

/// A new file: the object that applies `<output>/asm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsmApplierFile {
    pub path: String,
    pub text: String,
    /// The kustomization of the file's directory, with the file added to its `resources` (its path and new text):
    /// a directory that lists its manifests applies only those it lists.
    pub listed_in: Option<(String, String)>,
    /// `namespace` and `name`, for the plan's `asm.syncedBy`.
    pub synced_by: (String, String),
}

/// Why `init` cannot wire the output into the repository.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{path} exists: init --wire does not overwrite it")]
    ApplierExists { path: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wiring {
    pub components: Vec<ComponentReference>,
    /// `None` when one exists already, or when it cannot be written (`missing` says why, and what to do).
    pub asm_applier: Option<AsmApplierFile>,
    pub missing: Option<(String, String)>,
}

/// The wiring of what `discovery` found; an error when the file it would write exists.
pub fn wiring(
    discovery: &Discovery,
    repository: &Repository,
    templates: &Templates,
    secret: &str,
) -> Result<Wiring, WiringError> {
    let engine = discovery.engine.found().map(|found| found.value);
    let components = component_references(discovery, repository, engine);
    if discovery.asm_synced_by.is_some() {
        return Ok(Wiring { components, asm_applier: None, missing: None });
    }
    let applier = match (engine, first_synced_object(discovery, repository)) {
        (Some(Engine::ArgoCd), Some((file, application))) => {
            let Some(context) = discovery.asm_context.as_ref().map(|found| found.value.clone()) else {
                return Ok(Wiring {
                    components,
                    asm_applier: None,
                    missing: Some((
                        "no Application names the ASM control plane's cluster in Argo CD".to_owned(),
                        "give its name with --asm-context NAME".to_owned(),
                    )),
                });
            };
            argo_cd_applier(discovery, templates, &file, &application, context)?
        }
        (Some(Engine::Flux), Some((file, kustomization))) => {
            flux_applier(discovery, templates, &file, &kustomization, secret)?
        }
        _ => {
            return Ok(Wiring {
                components,
                asm_applier: None,
                missing: Some((
                    "no cluster source's Argo CD Application or Flux Kustomization to take the repository and the namespace from"
                        .to_owned(),
                    "write it by hand (README, \"Adopting an existing repository\")".to_owned(),
                )),
            })
        }
    };
    if repository.is_file(&applier.path) {
        return Err(WiringError::ApplierExists { path: applier.path });
    }
    let mut applier = applier;
    if let Some(kustomization) = repository.kustomization_in(parent(&applier.path)) {
        let entry = applier.path.rsplit('/').next().unwrap_or_default().to_owned();
        let text = repository.text(&kustomization).ok().flatten().map(str::to_owned);
        let edited = text.map(|text| crate::core::yaml_edit::add_list_item(&text, "resources", &entry));
        match edited {
            Some(Ok(edited)) => applier.listed_in = Some((kustomization, edited)),
            _ => {
                return Ok(Wiring {
                    components,
                    asm_applier: None,
                    missing: Some((
                        format!("{kustomization} lists what its directory applies, and asm-migrate cannot add to it"),
                        format!("write {} by hand and list it there", applier.path),
                    )),
                })
            }
        }
    }
    Ok(Wiring { components, asm_applier: Some(applier), missing: None })
}

/// How each cluster's source lists its component, and the same through `engine`'s object that syncs it.
fn component_references(
    discovery: &Discovery,
    repository: &Repository,
    engine: Option<Engine>,
) -> Vec<ComponentReference> {
    discovery
        .clusters
        .iter()
        .map(|cluster| {
            let source = &cluster.source;
            let component = join(&discovery.output, &format!("clusters/{}", source.name));
            let kustomization = repository.kustomization_in(&source.source).unwrap_or_default();
            let through_engine = source.synced_by.as_ref().map(|(namespace, name)| match engine {
                Some(Engine::Flux) => format!(
                    "Flux Kustomization {namespace}/{name}: spec.components: [{}]",
                    relative_path(&source.source, &component)
                ),
                _ => format!(
                    "Application {namespace}/{name}: spec.source.kustomize.components: [{}]",
                    relative_path(&source.source, &component)
                ),
            });
            ComponentReference {
                cluster: source.name.clone(),
                kustomization,
                reference: relative_path(&source.source, &component),
                through_engine,
                shared_source: !cluster.shares_source_with.is_empty(),
            }
        })
        .collect()
}

/// The first cluster source's Application or Kustomization, with its file: the ASM applier is written beside it.
fn first_synced_object(discovery: &Discovery, repository: &Repository) -> Option<(String, Rc<Value>)> {
    discovery.clusters.iter().find_map(|cluster| {
        let file = cluster.source.file.as_ref()?;
        let (_, name) = cluster.source.synced_by.as_ref()?;
        let object = repository.documents(file).ok()?.iter().find(|object| name_of(object) == name)?.clone();
        Some((file.clone(), object))
    })
}

/// The name of the object that applies `<output>/asm`: `<plan>-asm-control-plane`.
fn applier_name(discovery: &Discovery) -> String {
    format!("{}-asm-control-plane", discovery.name)
}

/// The Argo CD Application that applies `<output>/asm` to the ASM control plane's cluster `context`, beside
/// `application` (in `file`) and fetching the repository it fetches.
fn argo_cd_applier(
    discovery: &Discovery,
    templates: &Templates,
    file: &str,
    application: &Value,
    context: String,
) -> Result<AsmApplierFile, WiringError> {
    let plan = &discovery.name;
    let name = applier_name(discovery);
    let asm_path = join(&discovery.output, "asm");
    let source = application.pointer("/spec/source").or_else(|| application.pointer("/spec/sources/0"));
    let field =
        |key: &str, default: &str| source.and_then(|source| str_at(source, &[key])).unwrap_or(default).to_owned();
    let namespace = str_at(application, &["metadata", "namespace"]).unwrap_or("argocd").to_owned();
    let text = templates.render(
        "init/asm-application.yaml.j2",
        context! {
            plan, name, namespace, context,
            project => str_at(application, &["spec", "project"]).unwrap_or("default"),
            repo_url => field("repoURL", ""), target_revision => field("targetRevision", "HEAD"),
            path => asm_path,
        },
    )?;
    Ok(AsmApplierFile {
        path: join(parent(file), &format!("{name}.yaml")),
        text,
        listed_in: None,
        synced_by: (namespace, name),
    })
}

/// The Flux Kustomization that applies `<output>/asm` to the ASM control plane through the kubeconfig in Secret
/// `secret`, beside `kustomization` (in `file`) and reading the source it reads.
fn flux_applier(
    discovery: &Discovery,
    templates: &Templates,
    file: &str,
    kustomization: &Value,
    secret: &str,
) -> Result<AsmApplierFile, WiringError> {
    let plan = &discovery.name;
    let name = applier_name(discovery);
    let asm_path = join(&discovery.output, "asm");
    let namespace = str_at(kustomization, &["metadata", "namespace"]).unwrap_or("flux-system").to_owned();
    let text = templates.render(
        "init/asm-kustomization.yaml.j2",
        context! {
            plan, name, namespace, secret,
            // The Flux API the repository's own Kustomizations are written in (v1beta2 before Flux 2.0).
            api_version => str_at(kustomization, &["apiVersion"]).unwrap_or("kustomize.toolkit.fluxcd.io/v1"),
            source_kind => str_at(kustomization, &["spec", "sourceRef", "kind"]).unwrap_or("GitRepository"),
            source_name => str_at(kustomization, &["spec", "sourceRef", "name"]).unwrap_or("flux-system"),
            path => format!("./{asm_path}"),
        },
    )?;
    Ok(AsmApplierFile {
        path: join(parent(file), &format!("{name}.yaml")),
        text,
        listed_in: None,
        synced_by: (namespace, name),
    })
}

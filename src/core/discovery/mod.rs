//! What `init` finds in a repository it has never seen, each finding with the file and object it came from: the
//! clusters and their sources, how Istio is installed and configured, what each step kind proposes for its section
//! of the plan (the waves of injected workloads, the traffic through Istio's gateways), and what it could not decide.

pub mod clusters;
mod istio;
pub mod wiring;
pub mod written;

use std::path::PathBuf;

use crate::core::diagnostic::{Diagnostics, Pos};
use crate::core::inventory::{ClusterInventory, Inventory};
use crate::core::repository::Repository;
use crate::core::settings::{
    AsmSettings, Cluster, Engine, IncludeAs, IstioSettings, Located, MeshConfigKind, PlanSource, Settings,
    DEFAULT_ASM_API_VERSION, LARGE_SOURCE_OBJECTS,
};
use crate::core::steps::{self, FoundSource, Proposal};

pub use crate::core::names::{dns_label, unique_name};
pub use clusters::SourceFound;
pub use istio::MeshConfigFound;

/// Where `init` puts the tool's output (the default of the plan's documentation).
pub const DEFAULT_OUTPUT: &str = "gitops/asm-migration";

/// A value `init` chose, and what it chose it from (a file and an object), said in the plan beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<T> {
    pub value: T,
    pub from: String,
}

impl<T> Found<T> {
    pub fn new(value: T, from: impl Into<String>) -> Found<T> {
        Found { value, from: from.into() }
    }
}

/// A plan field `init` found, or could not decide (with what to decide, in words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding<T> {
    Found(Found<T>),
    Undecided(String),
}

impl<T> Finding<T> {
    pub fn found(&self) -> Option<&Found<T>> {
        match self {
            Finding::Found(found) => Some(found),
            Finding::Undecided(_) => None,
        }
    }
}

impl Finding<Engine> {
    /// The engine found, else Argo CD: what reading and wiring assume while the plan leaves the engine to decide.
    pub fn or_argo_cd(&self) -> Engine {
        self.found().map_or(Engine::ArgoCd, |found| found.value)
    }
}

/// A data-plane cluster as `init` found it.
#[derive(Debug, Clone)]
pub struct ClusterFound {
    pub source: SourceFound,
    pub network: Finding<String>,
    /// Where Istio's east-west gateway was found in the cluster's build, if it was.
    pub east_west_gateway: Option<String>,
    /// Whether an ASM gateway will run in the cluster (so its ACK cluster ID is needed).
    pub needs_cluster_id: bool,
    /// What the source deploys that asm-migrate cannot see: `clusters[].unseen` entries for the user to decide.
    pub unseen: Vec<Found<String>>,
    pub workloads: usize,
    pub injected: usize,
    /// Objects the source builds (as far as asm-migrate reads them).
    pub objects: usize,
    /// Helm releases and chart kustomizations the steps patch (their workloads are not in the repository).
    pub helm_rendered: usize,
    /// The other clusters whose source is this one's too: none may list its part there, so each one's Argo CD
    /// Application or Flux Kustomization includes its component (`includeComponent: false`).
    pub shares_source_with: Vec<String>,
}

impl ClusterFound {
    /// Whether `init` takes asm-migrate's part of this cluster as transformers (a large source of its own).
    pub fn as_transformers(&self) -> bool {
        self.objects >= LARGE_SOURCE_OBJECTS && self.shares_source_with.is_empty()
    }
}

/// Everything `init` found, ready to be written as a plan.
#[derive(Debug, Clone)]
pub struct Discovery {
    pub name: String,
    pub engine: Finding<Engine>,
    pub output: String,
    /// Why the output is where it is.
    pub output_from: String,
    /// The kubeconfig context of the ASM control plane, when an Argo CD Application already aims at it.
    pub asm_context: Option<Found<String>>,
    /// `namespace` and `name` of the Application or Kustomization that applies `<output>/asm`, when one exists.
    pub asm_synced_by: Option<(String, String)>,
    pub version: Finding<String>,
    pub mesh_config: Finding<MeshConfigFound>,
    pub install_paths: Vec<Found<String>>,
    pub clusters: Vec<ClusterFound>,
    /// What each step kind with a section of the plan proposes for it, in the registry's order.
    pub proposals: Vec<Proposal>,
    /// What was seen and left out, in words: printed by `init`, not written into the plan.
    pub notes: Vec<String>,
}

/// Scans `repository` (every YAML file loaded). The plan is named after the Git repository the engine objects
/// fetch (`shop-gitops` of `https://github.com/acme/shop-gitops.git`), else `fallback_name` (the directory's).
pub fn discover(repository: &Repository, fallback_name: &str) -> Discovery {
    let mut notes = Vec::new();
    let (engine, candidates) = clusters::candidates(repository, &mut notes);
    let name = clusters::repository_name(repository).unwrap_or_else(|| dns_label(fallback_name));
    let asm = clusters::asm_applier(repository);
    let istio = istio::installation(repository);
    let install_paths: Vec<&str> = istio.install_paths.iter().map(|path| path.value.as_str()).collect();
    let candidates = without_install_paths(candidates, &install_paths, &mut notes);
    let sources_seen = candidates.len();
    let engine_value = engine.or_argo_cd();
    let inventories = clusters::inventories(repository, engine_value, &install_paths, candidates, &mut notes);
    note_delivery_warnings(&inventories, &mut notes);
    let sources: Vec<FoundSource<'_>> =
        inventories.iter().map(|(source, inventory)| FoundSource { cluster: &source.name, inventory }).collect();
    let proposals = steps::proposals(&sources);
    let gateway_clusters: Vec<&str> =
        proposals.iter().flat_map(|proposal| &proposal.gateway_clusters).map(String::as_str).collect();
    let clusters = clusters_found(repository, &istio.mesh_config, &inventories, &gateway_clusters);
    if clusters.is_empty() {
        notes.push(no_cluster_note(sources_seen));
    }
    Discovery {
        name,
        engine,
        output: asm.as_ref().map_or(DEFAULT_OUTPUT.to_owned(), |asm| asm.output.clone()),
        output_from: asm.as_ref().map_or("the directory asm-migrate owns and rewrites".to_owned(), |asm| {
            format!("the directory asm-migrate owns and rewrites; its asm/ is what {} applies", asm.from)
        }),
        asm_context: asm.as_ref().and_then(|asm| Some(Found::new(asm.context.clone()?, asm.from.clone()))),
        asm_synced_by: asm.map(|asm| asm.synced_by),
        version: istio.version,
        mesh_config: istio.mesh_config,
        install_paths: istio.install_paths.into_iter().map(|path| Found::new(path.value, path.from)).collect(),
        clusters,
        proposals,
        notes,
    }
}

/// The candidate sources that are not Istio's installation paths; each one left out is noted.
fn without_install_paths(
    candidates: Vec<SourceFound>,
    install_paths: &[&str],
    notes: &mut Vec<String>,
) -> Vec<SourceFound> {
    candidates
        .into_iter()
        .filter(|candidate| {
            let istio_only = install_paths.iter().any(|path| candidate.source == *path);
            if istio_only {
                notes.push(format!(
                    "{} builds only Istio's installation ({}): an install path, not a cluster source",
                    candidate.source, candidate.from
                ));
            }
            !istio_only
        })
        .collect()
}

/// Notes each warning of reading the sources' delivery, once, with its file.
fn note_delivery_warnings(inventories: &[(SourceFound, ClusterInventory)], notes: &mut Vec<String>) {
    for (_, inventory) in inventories {
        for (file, warning) in &inventory.delivery.warnings {
            let note = format!("{warning} ({file})");
            if !notes.contains(&note) {
                notes.push(note);
            }
        }
    }
}

/// Each cluster read, with its network, east-west gateway, what it cannot see and what it holds; a cluster of
/// `gateway_clusters` needs its ACK cluster ID.
fn clusters_found(
    repository: &Repository,
    mesh_config: &Finding<MeshConfigFound>,
    inventories: &[(SourceFound, ClusterInventory)],
    gateway_clusters: &[&str],
) -> Vec<ClusterFound> {
    inventories
        .iter()
        .map(|(source, inventory)| (source, inventory, istio::sibling_documents(repository, source)))
        .map(|(source, inventory, siblings)| ClusterFound {
            network: istio::network(repository, source, inventory, &siblings, mesh_config),
            east_west_gateway: istio::east_west_gateway(repository, source, inventory, &siblings, mesh_config),
            needs_cluster_id: gateway_clusters.contains(&source.name.as_str()),
            unseen: inventory
                .delivery
                .unseen
                .iter()
                .map(|unseen| Found::new(unseen.id.clone(), format!("{} ({})", unseen.what, unseen.file)))
                .collect(),
            workloads: inventory.workloads.len(),
            objects: inventory.object_count,
            injected: inventory.workloads.iter().filter(|workload| workload.injected).count(),
            helm_rendered: inventory.injected_releases().len(),
            shares_source_with: inventories
                .iter()
                .filter(|(other, _)| other.name != source.name && other.source == source.source)
                .map(|(other, _)| other.name.clone())
                .collect(),
            source: source.clone(),
        })
        .collect()
}

/// Why no cluster was found, from how many sources were seen.
fn no_cluster_note(sources_seen: usize) -> String {
    if sources_seen == 0 {
        "no cluster source found: no Argo CD Application or Flux Kustomization builds a kustomization of this \
         repository, and no directory under clusters/ holds one"
            .to_owned()
    } else {
        format!(
            "no cluster source: none of the {sources_seen} source(s) found builds an Istio-injected workload \
             (a namespace labelled istio-injection: enabled or istio.io/rev, or a pod template with \
             sidecar.istio.io/inject: \"true\", in this repository)"
        )
    }
}

/// Settings enough to read what `sources` build (the inventory needs the engine, the sources and the output).
fn reading_settings(engine: Engine, install_paths: &[&str], sources: &[(String, String)]) -> Settings {
    let at = |value: &str| Located { value: value.to_owned(), pos: Pos::default() };
    Settings {
        source: PlanSource { file: PathBuf::from("migration.yaml"), text: String::new() },
        name: "discovery".to_owned(),
        engine,
        output: at(DEFAULT_OUTPUT),
        asm: AsmSettings {
            api_version: DEFAULT_ASM_API_VERSION.to_owned(),
            context: None,
            proxy_image: None,
            own_workloads: Vec::new(),
            synced_by: None,
        },
        istio: IstioSettings {
            version: (1, 0, 0),
            mesh_config_kind: MeshConfigKind::IstioOperator,
            mesh_config_path: at(""),
            mesh_config_release: None,
            install_paths: install_paths.iter().map(|path| at(path)).collect(),
        },
        clusters: sources
            .iter()
            .map(|(name, source)| Cluster {
                name: name.clone(),
                name_pos: Pos::default(),
                context: None,
                network: String::new(),
                east_west_gateway: false,
                source: at(source),
                cluster_id: None,
                include_component: true,
                include_as: IncludeAs::Component,
                unseen: Vec::new(),
                synced_by: None,
            })
            .collect(),
    }
}

/// Why `init` cannot read what a cluster source builds (said in a note, the source left out).
#[derive(Debug, thiserror::Error)]
enum SourceError {
    #[error("{0} builds nothing")]
    BuildsNothing(String),
    /// The problems as `validate` would say them, on one line after another.
    #[error("{}", .0.to_string().trim_end())]
    Unreadable(Diagnostics),
}

/// What one source builds, read as the migration reads it.
fn read_source(
    repository: &Repository,
    engine: Engine,
    name: &str,
    source: &str,
) -> Result<ClusterInventory, SourceError> {
    let settings = reading_settings(engine, &[], &[(name.to_owned(), source.to_owned())]);
    match Inventory::build(repository, &settings, &[]) {
        Ok(mut inventory) => {
            inventory.clusters.remove(name).ok_or_else(|| SourceError::BuildsNothing(source.to_owned()))
        }
        Err(problems) => Err(SourceError::Unreadable(problems)),
    }
}

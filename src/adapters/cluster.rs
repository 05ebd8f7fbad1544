//! The cluster adapter (kube): read-only connections to the ASM control plane and the data-plane clusters.
//! Only `get` and `list` are ever sent; every connection has a time limit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::{verbs, Discovery};
use kube::{Client, Config};
use serde_json::Value;

use crate::core::names::ISTIO_API_GROUPS;
use crate::core::observe::{
    AsmObservation, ClusterObservation, ClusterRead, IstioObjectObservation, Observation, PodObservation,
    RolloutObservation, SyncObservation,
};
use crate::core::settings::{Engine, Settings, SyncedBy};
use crate::core::workload::WorkloadKind;

const ASM_GROUP: &str = "istio.alibabacloud.com";
const ASM_KIND: &str = "ASMMigrateFromIstio";
/// How long one cluster may take to answer everything asked of it; `ASM_MIGRATE_CLUSTER_TIMEOUT` (seconds) overrides.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot read the kubeconfig {path}: {detail}")]
    Kubeconfig { path: String, detail: String },
    #[error("no kubeconfig context for {what}: set it in the plan ({field}) or with --context {key}=CONTEXT")]
    NoContext { what: String, field: String, key: String },
    #[error("context {context} ({server}): {failure}")]
    Server { context: String, server: String, failure: ReadFailure },
    #[error("cannot start the client's runtime")]
    Runtime(#[source] std::io::Error),
}

/// What went wrong reading one context's API server, in words a platform engineer acts on.
#[derive(Debug, thiserror::Error)]
pub enum ReadFailure {
    #[error("cannot use this context of {path}: {detail}")]
    Context { path: String, detail: String },
    #[error("cannot make a client: {0}")]
    Client(String),
    #[error("no answer within {}s", .0.as_secs_f64())]
    Timeout(std::time::Duration),
    #[error("unauthorized (401) reading {what}: the credentials of this context are not accepted")]
    Unauthorized { what: String },
    #[error("forbidden (403) reading {what}: asm-migrate needs get and list on it ({message})")]
    Forbidden { what: String, message: String },
    #[error("the API server answered {code} reading {what}: {message}")]
    Answered { code: u16, what: String, message: String },
    #[error("cannot reach the API server: {0}")]
    Unreachable(String),
    #[error("the API group {group} is not served: is this the ASM control plane?")]
    GroupNotServed { group: String },
    #[error("{group} serves no {ASM_KIND}: is this the ASM control plane?")]
    KindNotServed { group: String },
    #[error("{ASM_KIND} is served as {group}/{served}, not {group}/{version}: set spec.asm.apiVersion in the plan")]
    OtherVersion { group: String, served: String, version: String },
    #[error("{ASM_KIND}/default does not exist: the cluster is not added to ASM yet (ASM creates it then)")]
    NotAdded,
    #[error("cannot read the answer: {0}")]
    Answer(String),
}

/// The kubeconfig and which of its contexts reaches what.
pub struct Connections {
    kubeconfig: Kubeconfig,
    path: PathBuf,
    /// `asm` or a cluster name -> context, from `--context` (they win over the plan).
    overrides: BTreeMap<String, String>,
    timeout: Duration,
}

impl Connections {
    /// `--kubeconfig`, else `KUBECONFIG` (its first file), else `~/.kube/config`.
    pub fn new(kubeconfig: Option<&Path>, overrides: BTreeMap<String, String>) -> Result<Connections, ClusterError> {
        let path = match kubeconfig {
            Some(path) => path.to_owned(),
            None => match std::env::var_os("KUBECONFIG").filter(|value| !value.is_empty()) {
                Some(value) => std::env::split_paths(&value).next().unwrap_or_default(),
                None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".kube/config"),
            },
        };
        let kubeconfig = Kubeconfig::read_from(&path).map_err(|error| {
            // kube's message repeats the path; its cause is what the user needs.
            let detail = match &error {
                kube::config::KubeconfigError::ReadConfig(source, _) => source.to_string(),
                other => other.to_string(),
            };
            ClusterError::Kubeconfig { path: path.display().to_string(), detail }
        })?;
        let timeout = std::env::var("ASM_MIGRATE_CLUSTER_TIMEOUT")
            .ok()
            .and_then(|seconds| seconds.parse::<f64>().ok())
            .map(Duration::from_secs_f64)
            .unwrap_or(DEFAULT_TIMEOUT);
        Ok(Connections { kubeconfig, path, overrides, timeout })
    }

    fn context(&self, key: &str, planned: Option<&str>, what: &str, field: &str) -> Result<String, ClusterError> {
        self.overrides.get(key).cloned().or_else(|| planned.map(str::to_owned)).ok_or_else(|| ClusterError::NoContext {
            what: what.to_owned(),
            field: field.to_owned(),
            key: key.to_owned(),
        })
    }

    /// Reads the ASM control plane and every cluster of the plan, with the lists the plan's kinds read (`reads`).
    pub fn observe(&self, plan: &Settings, reads: &[ClusterRead]) -> Result<Observation, ClusterError> {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ClusterError::Runtime)?;
        let asm_context =
            self.context("asm", plan.asm.context.as_deref(), "the ASM control plane", "spec.asm.context")?;
        let mut contexts = Vec::new();
        let mut appliers: Vec<(&SyncedBy, String)> = Vec::new();
        if let Some(synced_by) = &plan.asm.synced_by {
            appliers.push((synced_by, synced_by.context.clone().unwrap_or_else(|| asm_context.clone())));
        }
        for cluster in &plan.clusters {
            let what = format!("cluster {}", cluster.name);
            let field = format!("context of cluster {}", cluster.name);
            let context = self.context(&cluster.name, cluster.context.as_deref(), &what, &field)?;
            if let Some(synced_by) = &cluster.synced_by {
                appliers.push((synced_by, synced_by.context.clone().unwrap_or_else(|| context.clone())));
            }
            contexts.push((cluster.name.clone(), context));
        }
        runtime.block_on(async {
            let mut observation = Observation::default();
            let (group, version) = plan.asm.api_version.split_once('/').unwrap_or((ASM_GROUP, "v1beta1"));
            observation.asm = Some(self.within(&asm_context, |client| observe_asm(client, group, version)).await?);
            let istio_objects = |client| async move { observe_istio_objects(&client).await };
            observation.asm_istio_objects = Some(self.within(&asm_context, istio_objects).await?);
            for (cluster, context) in contexts {
                let observed = self.within(&context, |client| observe_cluster(client, reads)).await?;
                observation.clusters.insert(cluster, observed);
            }
            for (synced_by, context) in appliers {
                let read = |client| observe_applier(client, plan.engine, synced_by);
                observation.synced.push(self.within(&context, read).await?);
            }
            Ok(observation)
        })
    }

    /// Runs `read` against `context`, turning every failure and the time limit into a message naming the context
    /// and its server.
    async fn within<T, F, Fut>(&self, context: &str, read: F) -> Result<T, ClusterError>
    where
        F: FnOnce(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, ReadFailure>>,
    {
        let options = KubeConfigOptions { context: Some(context.to_owned()), ..KubeConfigOptions::default() };
        let server = self.server_of(context);
        let failed = |failure: ReadFailure| ClusterError::Server {
            context: context.to_owned(),
            server: server.clone(),
            failure,
        };
        let mut config = Config::from_custom_kubeconfig(self.kubeconfig.clone(), &options).await.map_err(|error| {
            failed(ReadFailure::Context { path: self.path.display().to_string(), detail: error.to_string() })
        })?;
        config.connect_timeout = Some(self.timeout.min(Duration::from_secs(5)));
        config.read_timeout = Some(self.timeout);
        let client = Client::try_from(config).map_err(|error| failed(ReadFailure::Client(error.to_string())))?;
        match tokio::time::timeout(self.timeout, read(client)).await {
            Ok(result) => result.map_err(failed),
            Err(_) => Err(failed(ReadFailure::Timeout(self.timeout))),
        }
    }

    fn server_of(&self, context: &str) -> String {
        let cluster = self
            .kubeconfig
            .contexts
            .iter()
            .find(|named| named.name == context)
            .and_then(|named| named.context.as_ref())
            .map(|context| context.cluster.clone());
        cluster
            .and_then(|name| self.kubeconfig.clusters.iter().find(|named| named.name == name))
            .and_then(|named| named.cluster.as_ref())
            .and_then(|cluster| cluster.server.clone())
            .unwrap_or_else(|| "server unknown".to_owned())
    }
}

/// A failed request, in words a platform engineer acts on.
fn explain(error: kube::Error, what: &str) -> ReadFailure {
    let what = what.to_owned();
    match error {
        kube::Error::Api(status) if status.code == 401 => ReadFailure::Unauthorized { what },
        kube::Error::Api(status) if status.code == 403 => ReadFailure::Forbidden { what, message: status.message },
        kube::Error::Api(status) => ReadFailure::Answered { code: status.code, what, message: status.message },
        other => ReadFailure::Unreachable(other.to_string()),
    }
}

async fn observe_asm(client: Client, group: &str, version: &str) -> Result<AsmObservation, ReadFailure> {
    let discovered = kube::discovery::group(&client, group).await.map_err(|error| match error {
        kube::Error::Api(status) if status.code == 404 => ReadFailure::GroupNotServed { group: group.to_owned() },
        other => explain(other, &format!("the API group {group}")),
    })?;
    let served: Vec<String> = discovered
        .versions()
        .filter(|served| discovered.versioned_resources(served).iter().any(|(resource, _)| resource.kind == ASM_KIND))
        .map(str::to_owned)
        .collect();
    let resource = discovered.versioned_resources(version).into_iter().find(|(resource, _)| resource.kind == ASM_KIND);
    let Some((resource, _)) = resource else {
        return Err(match served.is_empty() {
            true => ReadFailure::KindNotServed { group: group.to_owned() },
            false => ReadFailure::OtherVersion {
                group: group.to_owned(),
                served: served.join(", "),
                version: version.to_owned(),
            },
        });
    };
    let api: Api<DynamicObject> = Api::all_with(client, &resource);
    let object = api.get("default").await.map_err(|error| match error {
        kube::Error::Api(status) if status.code == 404 => ReadFailure::NotAdded,
        other => explain(other, &format!("{ASM_KIND}/default")),
    })?;
    let value = serde_json::to_value(&object).map_err(|error| ReadFailure::Answer(error.to_string()))?;
    Ok(AsmObservation::from_object(&value))
}

/// The Argo CD Application or Flux Kustomization that applies a part of the repository, as its status says.
async fn observe_applier(client: Client, engine: Engine, synced_by: &SyncedBy) -> Result<SyncObservation, ReadFailure> {
    let gvk = match engine {
        Engine::ArgoCd => GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        Engine::Flux => GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"),
    };
    let object = format!("{} {}/{}", engine.applier_kind(), synced_by.namespace, synced_by.name);
    let api: Api<DynamicObject> = Api::namespaced_with(client, &synced_by.namespace, &ApiResource::from_gvk(&gvk));
    let found = api.get_opt(&synced_by.name).await.map_err(|error| explain(error, &object))?;
    let value = found.map(|found| serde_json::to_value(found).map_err(|error| ReadFailure::Answer(error.to_string())));
    Ok(SyncObservation::from_object(object, value.transpose()?.as_ref()))
}

async fn list_values<K>(client: &Client, what: &str) -> Result<Vec<Value>, ReadFailure>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::all(client.clone());
    let list = api.list(&ListParams::default()).await.map_err(|error| explain(error, what))?;
    list.items
        .iter()
        .map(|item| serde_json::to_value(item).map_err(|error| ReadFailure::Answer(error.to_string())))
        .collect()
}

async fn observe_cluster(client: Client, reads: &[ClusterRead]) -> Result<ClusterObservation, ReadFailure> {
    let mut observed = ClusterObservation {
        pods: list_values::<Pod>(&client, "pods").await?.iter().map(PodObservation::from_object).collect(),
        ..ClusterObservation::default()
    };
    for (kind, values) in [
        (WorkloadKind::Deployment, list_values::<Deployment>(&client, "deployments").await?),
        (WorkloadKind::StatefulSet, list_values::<StatefulSet>(&client, "statefulsets").await?),
        (WorkloadKind::DaemonSet, list_values::<DaemonSet>(&client, "daemonsets").await?),
    ] {
        observed.rollouts.extend(values.iter().map(|value| RolloutObservation::from_object(kind, value)));
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let istio_system =
        namespaces.get_opt("istio-system").await.map_err(|error| explain(error, "namespace istio-system"))?;
    if let Some(namespace) = istio_system {
        observed.istio_system_labels = namespace.metadata.labels.unwrap_or_default().into_iter().collect();
    }
    for read in reads {
        observed.lists.insert(read.name, list_read(&client, read).await?);
    }
    observed.istio_objects = Some(observe_istio_objects(&client).await?);
    Ok(observed)
}

/// The objects of one of the kinds' reads, as JSON.
async fn list_read(client: &Client, read: &ClusterRead) -> Result<Vec<Value>, ReadFailure> {
    let gvk = GroupVersionKind::gvk(read.group, read.version, read.kind);
    let resource = ApiResource::from_gvk_with_plural(&gvk, read.plural);
    let api: Api<DynamicObject> = match read.namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    match api.list(&ListParams::default()).await {
        Ok(listed) => listed
            .items
            .iter()
            .map(|object| serde_json::to_value(object).map_err(|error| ReadFailure::Answer(error.to_string())))
            .collect(),
        Err(kube::Error::Api(status)) if status.code == 404 && read.unserved_is_empty => Ok(Vec::new()),
        Err(error) => Err(explain(error, read.what)),
    }
}

/// Every object of Istio's config API groups the server holds, of every kind it serves there (found by
/// discovery, at each group's preferred version): the import `finished` checks is compared by group, kind,
/// namespace and name, which every version shows alike.
async fn observe_istio_objects(client: &Client) -> Result<Vec<IstioObjectObservation>, ReadFailure> {
    let discovery = match Discovery::new(client.clone()).filter(&ISTIO_API_GROUPS).run().await {
        Ok(discovery) => discovery,
        // Where no API group is served at all, there is no Istio object to see.
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(Vec::new()),
        Err(error) => return Err(explain(error, "the API groups of Istio's config")),
    };
    let mut found = Vec::new();
    for group in discovery.groups() {
        for (resource, capabilities) in group.recommended_resources() {
            if !capabilities.supports_operation(verbs::LIST) {
                continue;
            }
            let what = format!("{}.{}", resource.plural, resource.group);
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
            let listed = api.list(&ListParams::default()).await.map_err(|error| explain(error, &what))?;
            found.extend(listed.items.into_iter().map(|object| IstioObjectObservation {
                group: resource.group.clone(),
                kind: resource.kind.clone(),
                namespace: object.metadata.namespace.unwrap_or_default(),
                name: object.metadata.name.unwrap_or_default(),
            }));
        }
    }
    found.sort();
    Ok(found)
}

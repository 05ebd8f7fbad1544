//! The cluster adapter (kube): read-only connections to the ASM control plane and the data-plane clusters.
//! Only `get` and `list` are ever sent; every connection has a time limit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::Value;

use crate::observe::{AsmObservation, ClusterObservation, Observation, PodObservation, RolloutObservation};
use crate::plan::{Plan, WorkloadKind};

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
    #[error("context {context} ({server}): {detail}")]
    Server { context: String, server: String, detail: String },
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

    /// Reads the ASM control plane and every cluster of the plan.
    pub fn observe(&self, plan: &Plan) -> anyhow::Result<Observation> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let asm_context =
            self.context("asm", plan.asm.context.as_deref(), "the ASM control plane", "spec.asm.context")?;
        let mut contexts = Vec::new();
        for cluster in &plan.clusters {
            let what = format!("cluster {}", cluster.name);
            let field = format!("context of cluster {}", cluster.name);
            contexts
                .push((cluster.name.clone(), self.context(&cluster.name, cluster.context.as_deref(), &what, &field)?));
        }
        runtime.block_on(async {
            let mut observation = Observation::default();
            let (group, version) = plan.asm.api_version.split_once('/').unwrap_or((ASM_GROUP, "v1beta1"));
            observation.asm = Some(self.within(&asm_context, |client| observe_asm(client, group, version)).await?);
            for (cluster, context) in contexts {
                let observed = self.within(&context, observe_cluster).await?;
                observation.clusters.insert(cluster, observed);
            }
            Ok(observation)
        })
    }

    /// Runs `read` against `context`, turning every failure and the time limit into a message naming the context
    /// and its server.
    async fn within<T, F, Fut>(&self, context: &str, read: F) -> Result<T, ClusterError>
    where
        F: FnOnce(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, String>>,
    {
        let options = KubeConfigOptions { context: Some(context.to_owned()), ..KubeConfigOptions::default() };
        let server = self.server_of(context);
        let failure =
            |detail: String| ClusterError::Server { context: context.to_owned(), server: server.clone(), detail };
        let mut config = Config::from_custom_kubeconfig(self.kubeconfig.clone(), &options)
            .await
            .map_err(|error| failure(format!("cannot use this context of {}: {error}", self.path.display())))?;
        config.connect_timeout = Some(self.timeout.min(Duration::from_secs(5)));
        config.read_timeout = Some(self.timeout);
        let client = Client::try_from(config).map_err(|error| failure(format!("cannot make a client: {error}")))?;
        match tokio::time::timeout(self.timeout, read(client)).await {
            Ok(result) => result.map_err(failure),
            Err(_) => Err(failure(format!("no answer within {}s", self.timeout.as_secs()))),
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

/// What went wrong talking to the API server, in words a platform engineer acts on.
fn explain(error: kube::Error, what: &str) -> String {
    match error {
        kube::Error::Api(status) if status.code == 401 => {
            format!("unauthorized (401) reading {what}: the credentials of this context are not accepted")
        }
        kube::Error::Api(status) if status.code == 403 => {
            format!("forbidden (403) reading {what}: asm-migrate needs get and list on it ({})", status.message)
        }
        kube::Error::Api(status) => {
            format!("the API server answered {} reading {what}: {}", status.code, status.message)
        }
        other => format!("cannot reach the API server: {other}"),
    }
}

async fn observe_asm(client: Client, group: &str, version: &str) -> Result<AsmObservation, String> {
    let discovered = kube::discovery::group(&client, group).await.map_err(|error| match error {
        kube::Error::Api(status) if status.code == 404 => {
            format!("the API group {group} is not served: is this the ASM control plane?")
        }
        other => explain(other, &format!("the API group {group}")),
    })?;
    let served: Vec<String> = discovered
        .versions()
        .filter(|served| discovered.versioned_resources(served).iter().any(|(resource, _)| resource.kind == ASM_KIND))
        .map(str::to_owned)
        .collect();
    if !served.iter().any(|served| served == version) {
        return Err(match served.is_empty() {
            true => format!("{group} serves no {ASM_KIND}: is this the ASM control plane?"),
            false => format!(
                "{ASM_KIND} is served as {group}/{}, not {group}/{version}: set spec.asm.apiVersion in the plan",
                served.join(", ")
            ),
        });
    }
    let (resource, _) = discovered
        .versioned_resources(version)
        .into_iter()
        .find(|(resource, _)| resource.kind == ASM_KIND)
        .ok_or_else(|| format!("{group}/{version} has no {ASM_KIND}"))?;
    let api: Api<DynamicObject> = Api::all_with(client, &resource);
    let object = api.get("default").await.map_err(|error| match error {
        kube::Error::Api(status) if status.code == 404 => {
            format!("{ASM_KIND}/default does not exist: the cluster is not added to ASM yet (ASM creates it then)")
        }
        other => explain(other, &format!("{ASM_KIND}/default")),
    })?;
    let value = serde_json::to_value(&object).map_err(|error| error.to_string())?;
    Ok(AsmObservation::from_object(&value))
}

async fn list_values<K>(client: &Client, what: &str) -> Result<Vec<Value>, String>
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
    list.items.iter().map(|item| serde_json::to_value(item).map_err(|error| error.to_string())).collect()
}

async fn observe_cluster(client: Client) -> Result<ClusterObservation, String> {
    let mut observed = ClusterObservation::default();
    observed.pods = list_values::<Pod>(&client, "pods").await?.iter().map(PodObservation::from_object).collect();
    for (kind, values) in [
        (WorkloadKind::Deployment, list_values::<Deployment>(&client, "deployments").await?),
        (WorkloadKind::StatefulSet, list_values::<StatefulSet>(&client, "statefulsets").await?),
        (WorkloadKind::DaemonSet, list_values::<DaemonSet>(&client, "daemonsets").await?),
    ] {
        observed.rollouts.extend(values.iter().map(|value| RolloutObservation::from_object(kind, value)));
    }
    let namespaces: Api<Namespace> = Api::all(client);
    match namespaces.get_opt("istio-system").await.map_err(|error| explain(error, "namespace istio-system"))? {
        Some(namespace) => {
            observed.istio_system_labels = namespace.metadata.labels.unwrap_or_default().into_iter().collect()
        }
        None => {}
    }
    Ok(observed)
}

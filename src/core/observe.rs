//! What was observed on the ASM control plane and the data-plane clusters, read from Kubernetes objects as JSON
//! (from a live API server or from `kubectl get -o yaml` dumps alike).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::core::names::is_istio_api_group;
use crate::core::workload::{WorkloadKind, WorkloadRef};

pub const ISTIO_PROXY: &str = "istio-proxy";
pub const ASM_INJECT_LABEL: &str = "sidecar.asm.aliyun.com/inject";

/// `ASMMigrateFromIstio/default` as the ASM control plane has it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AsmObservation {
    pub desired_state: Option<String>,
    pub retry_counter: Option<i64>,
    pub state: Option<String>,
    pub status_retry_counter: Option<i64>,
    pub message: Option<String>,
}

impl AsmObservation {
    pub fn from_object(object: &Value) -> AsmObservation {
        let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str).map(str::to_owned);
        let number = |pointer: &str| object.pointer(pointer).and_then(Value::as_i64);
        AsmObservation {
            desired_state: text("/spec/desiredState"),
            retry_counter: number("/spec/retryCounter"),
            state: text("/status/state"),
            status_retry_counter: number("/status/retryCounter"),
            message: text("/status/message").filter(|message| !message.is_empty()),
        }
    }
}

/// A pod, with what the gates ask of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodObservation {
    pub namespace: String,
    pub name: String,
    /// The workload that owns it, when it can be told from its owner references.
    pub workload: Option<WorkloadRef>,
    /// An `istio-proxy` container (or native sidecar init container).
    pub istio_proxy: bool,
    /// `PROXY_CONFIG_XDS_AGENT=true` in that container's environment.
    pub xds_agent: bool,
    /// The image of that container: which proxy the pod really runs.
    pub proxy_image: Option<String>,
    /// Created from a template carrying `sidecar.asm.aliyun.com/inject: "true"`.
    pub asm_label: bool,
    pub ready: bool,
}

impl PodObservation {
    pub fn from_object(pod: &Value) -> PodObservation {
        let text = |pointer: &str| pod.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned();
        let namespace = text("/metadata/namespace");
        let containers = ["/spec/containers", "/spec/initContainers"]
            .iter()
            .flat_map(|pointer| pod.pointer(pointer).and_then(Value::as_array).into_iter().flatten())
            .collect::<Vec<_>>();
        let proxy = containers.iter().find(|container| container["name"] == ISTIO_PROXY);
        let xds_agent = proxy.is_some_and(|container| {
            container["env"].as_array().into_iter().flatten().any(|env| {
                env["name"] == "PROXY_CONFIG_XDS_AGENT"
                    && env["value"].as_str().is_some_and(|v| v.eq_ignore_ascii_case("true"))
            })
        });
        let ready = pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|condition| condition["type"] == "Ready" && condition["status"] == "True");
        PodObservation {
            workload: owner_workload(pod, &namespace),
            namespace,
            name: text("/metadata/name"),
            istio_proxy: proxy.is_some(),
            xds_agent,
            proxy_image: proxy.and_then(|container| container["image"].as_str()).map(str::to_owned),
            asm_label: pod
                .pointer(&format!("/metadata/labels/{}", ASM_INJECT_LABEL.replace('/', "~1")))
                .and_then(Value::as_str)
                == Some("true"),
            ready,
        }
    }

    pub fn display(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The workload a pod belongs to: its StatefulSet or DaemonSet owner, or the Deployment behind its ReplicaSet
/// (the ReplicaSet is named `<deployment>-<pod-template-hash>`).
fn owner_workload(pod: &Value, namespace: &str) -> Option<WorkloadRef> {
    let owner =
        pod.pointer("/metadata/ownerReferences")?.as_array()?.iter().find(|owner| owner["controller"] == true)?;
    let name = owner["name"].as_str()?;
    let (kind, name) = match owner["kind"].as_str()? {
        "ReplicaSet" => {
            let hash = pod.pointer("/metadata/labels/pod-template-hash").and_then(Value::as_str)?;
            (WorkloadKind::Deployment, name.strip_suffix(&format!("-{hash}"))?)
        }
        other => (WorkloadKind::parse(other)?, name),
    };
    Some(WorkloadRef::new(kind, namespace, name))
}

/// A workload's rollout.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutObservation {
    pub workload: WorkloadRef,
    pub generation: i64,
    pub observed_generation: i64,
    pub desired: i64,
    pub updated: i64,
    pub ready: i64,
    /// The Flux HelmRelease that rendered it (namespace, name), from the labels helm-controller gives every object
    /// of a release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helm_release: Option<(String, String)>,
}

impl RolloutObservation {
    pub fn from_object(kind: WorkloadKind, object: &Value) -> RolloutObservation {
        let number = |pointer: &str| object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0);
        let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned();
        let (desired, updated, ready) = match kind {
            WorkloadKind::DaemonSet => (
                number("/status/desiredNumberScheduled"),
                number("/status/updatedNumberScheduled"),
                number("/status/numberReady"),
            ),
            _ => (
                object.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1),
                number("/status/updatedReplicas"),
                number("/status/readyReplicas"),
            ),
        };
        RolloutObservation {
            workload: WorkloadRef::new(kind, &text("/metadata/namespace"), &text("/metadata/name")),
            generation: number("/metadata/generation"),
            observed_generation: number("/status/observedGeneration"),
            desired,
            updated,
            ready,
            helm_release: Some(text("/metadata/labels/helm.toolkit.fluxcd.io~1namespace"))
                .filter(|namespace| !namespace.is_empty())
                .zip(Some(text("/metadata/labels/helm.toolkit.fluxcd.io~1name")).filter(|name| !name.is_empty())),
        }
    }

    /// Like `kubectl rollout status`: the controller saw the latest spec, and every replica is updated and ready.
    pub fn complete(&self) -> bool {
        self.observed_generation >= self.generation && self.updated >= self.desired && self.ready >= self.desired
    }
}

/// A list that a kind's gates read from every data-plane cluster, beyond what every gate reads (pods, rollouts,
/// istio-system's labels, Istio's objects). The cluster adapter lists it at the API server and the snapshot adapter
/// reads it from `clusters/<name>/<name of the read>.yaml`, alike for every kind (`StepKind::cluster_reads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterRead {
    /// Its key in `ClusterObservation::lists`, and its snapshot file's stem: `virtualservices`.
    pub name: &'static str,
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    /// The namespace it is listed in; None: every namespace.
    pub namespace: Option<&'static str>,
    /// How a failure to read it names it: `virtualservices.networking.istio.io`.
    pub what: &'static str,
    /// Whether a server that does not serve the kind (404) has none of it rather than failing: Istio's API is not
    /// served before Istio is installed, or once it is gone.
    pub unserved_is_empty: bool,
}

/// An object of Istio's config API groups, as a data-plane cluster or ASM's control plane has it: what `finished`
/// checks the import by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioObjectObservation {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl IstioObjectObservation {
    /// The object, when it is of one of Istio's config API groups.
    pub fn from_object(object: &Value) -> Option<IstioObjectObservation> {
        let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned();
        let api_version = text("/apiVersion");
        let (group, _) = api_version.rsplit_once('/')?;
        is_istio_api_group(group).then(|| IstioObjectObservation {
            group: group.to_owned(),
            kind: text("/kind"),
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name"),
        })
    }

    pub fn display(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// One data-plane cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterObservation {
    pub pods: Vec<PodObservation>,
    pub rollouts: Vec<RolloutObservation>,
    pub istio_system_labels: BTreeMap<String, String>,
    /// The objects of each read the plan's kinds ask for (`ClusterRead`), by its name; a read that was not made
    /// (a snapshot without its file) is absent.
    pub lists: BTreeMap<&'static str, Vec<Value>>,
    /// Every object of Istio's config API groups; None when they were not read (a snapshot without the file).
    pub istio_objects: Option<Vec<IstioObjectObservation>>,
}

/// The GitOps object that applies a part of the repository (an Argo CD Application, a Flux Kustomization), as
/// its status says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncObservation {
    /// `Application argocd/hz`.
    pub object: String,
    pub found: bool,
    /// The commit it last applied, when its status says.
    pub revision: Option<String>,
    /// Whether that commit holds the one that rendered the current step (it, or a descendant); None when the
    /// repository does not have it. Settled by the command, which reads git.
    pub holds_step: Option<bool>,
}

impl SyncObservation {
    /// From the object (None: not found): Argo CD's `status.sync.revision` (or the last operation's), Flux's
    /// `status.lastAppliedRevision` (`main@sha1:<sha>`, or `main/<sha>` before Flux 2.0).
    pub fn from_object(object: String, value: Option<&Value>) -> SyncObservation {
        let text = |pointer: &str| value.and_then(|value| value.pointer(pointer)).and_then(Value::as_str);
        let revision = match text("/status/lastAppliedRevision") {
            Some(flux) => flux.rsplit_once("sha1:").or(flux.rsplit_once('/')).map_or(flux, |(_, sha)| sha),
            None => text("/status/sync/revision").or(text("/status/operationState/syncResult/revision")).unwrap_or(""),
        };
        SyncObservation {
            object,
            found: value.is_some(),
            revision: Some(revision.to_owned()).filter(|revision| !revision.is_empty()),
            holds_step: None,
        }
    }
}

/// Everything the gates look at.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    pub asm: Option<AsmObservation>,
    /// Every object of Istio's config API groups in ASM's control plane; None when they were not read.
    pub asm_istio_objects: Option<Vec<IstioObjectObservation>>,
    pub clusters: BTreeMap<String, ClusterObservation>,
    /// The objects the plan names as applying the repository (`syncedBy`).
    pub synced: Vec<SyncObservation>,
    /// The commit that rendered the current step (its `Migration-Step` trailer), when one does.
    pub step_commit: Option<String>,
}

/// The items of a `kind: List` (what `kubectl get -o yaml` prints), or the object itself.
pub fn items(value: &Value) -> Vec<&Value> {
    match value.get("items").and_then(Value::as_array) {
        Some(items) => items.iter().collect(),
        None if value.is_object() => vec![value],
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pod_tells_its_deployment_its_proxy_and_whether_it_runs_on_asm() {
        let pod = json!({
            "metadata": {"namespace": "payments", "name": "api-7d9f8-abcde",
                "labels": {"pod-template-hash": "7d9f8", "sidecar.asm.aliyun.com/inject": "true"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "api-7d9f8", "controller": true}]},
            "spec": {"containers": [{"name": "api"}, {"name": "istio-proxy", "env": [{"name": "PROXY_CONFIG_XDS_AGENT", "value": "true"}]}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        });
        let observed = PodObservation::from_object(&pod);
        assert_eq!(observed.workload, Some(WorkloadRef::new(WorkloadKind::Deployment, "payments", "api")));
        assert!(observed.istio_proxy && observed.xds_agent && observed.asm_label && observed.ready);
    }

    #[test]
    fn the_applied_revision_is_read_from_argo_cd_and_flux_alike() {
        let sha = "64702b576cc6d2b8e3f1a0c9d8e7f6a5b4c3d2e1";
        let argo = json!({"status": {"sync": {"status": "Synced", "revision": sha}}});
        let flux = json!({"status": {"lastAppliedRevision": format!("main@sha1:{sha}")}});
        let old_flux = json!({"status": {"lastAppliedRevision": format!("main/{sha}")}});
        for object in [argo, flux, old_flux] {
            assert_eq!(SyncObservation::from_object("x".into(), Some(&object)).revision.as_deref(), Some(sha));
        }
        let never = SyncObservation::from_object("x".into(), Some(&json!({"status": {}})));
        assert_eq!((never.found, never.revision), (true, None));
    }

    #[test]
    fn a_rollout_is_complete_only_when_the_controller_caught_up() {
        let deployment = json!({"metadata": {"namespace": "a", "name": "b", "generation": 3},
            "spec": {"replicas": 2}, "status": {"observedGeneration": 2, "updatedReplicas": 2, "readyReplicas": 2}});
        assert!(!RolloutObservation::from_object(WorkloadKind::Deployment, &deployment).complete());
    }
}

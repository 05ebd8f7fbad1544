//! Workloads rendered by Helm, as a cluster's source and Applications show them: the chart of a Flux HelmRelease, or
//! charts that kustomize inflates (`helmCharts:`) in a kustomization a cluster's Argo CD Application builds as a
//! source of its own. asm-migrate cannot see their workloads, and the cluster's Component cannot patch inside a Helm
//! release: `chart_patches` renders what patches them, and the gates find their pods by what renders them.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use crate::core::observe::RolloutObservation;
use crate::core::paths::join;
use crate::core::settings::Settings;

/// The API group of Flux's HelmRelease, and the prefix of the labels helm-controller gives what it renders.
pub const HELM_RELEASE_GROUP: &str = "helm.toolkit.fluxcd.io";

/// Helm releases per cluster name, by id (`HelmRelease/podinfo/podinfo`).
pub type ReleasesByCluster = BTreeMap<String, BTreeSet<String>>;

/// A Flux HelmRelease of a cluster's source.
#[derive(Debug, Clone)]
pub struct HelmRelease {
    /// How the plan names it (`unseen`, a wave's `workloads`): `HelmRelease/<namespace>/<name>`.
    pub id: String,
    /// The file that declares it.
    pub file: Rc<str>,
    /// As the component addresses it, before the source's own renaming (`None`: it has no namespace there).
    pub namespace: Option<Rc<str>>,
    pub name: Rc<str>,
    /// As the cluster shows it: what helm-controller's labels on the chart's objects name.
    pub cluster_namespace: Rc<str>,
    pub cluster_name: Rc<str>,
    /// Where its workloads run (`spec.targetNamespace`, else its own), as a wave's `namespaces` names it, and as the
    /// cluster shows it.
    pub workload_namespace: Rc<str>,
    pub cluster_workload_namespace: Rc<str>,
    /// The manifest already has `spec.postRenderers`: asm-migrate's is added after them.
    pub has_post_renderers: bool,
    /// The repository labels its workloads' namespace for Istio's injection.
    pub injected: bool,
    /// One of Istio's own releases (istiod, its gateways, base: in Istio's install paths or the mesh config file),
    /// which no step restarts or moves.
    pub istio_own: bool,
    /// Listed in the cluster's `unseen`: the operator restarts and moves its workloads.
    pub acknowledged: bool,
}

impl HelmRelease {
    /// Whether the steps restart and move its workloads, through its post renderers.
    pub fn patched(&self) -> bool {
        self.injected && !self.istio_own && !self.acknowledged
    }

    /// Whether a workload the cluster runs was rendered by this release (helm-controller's origin labels).
    pub fn rendered(&self, rollout: &RolloutObservation) -> bool {
        rollout
            .helm_release
            .as_ref()
            .is_some_and(|(namespace, name)| **namespace == *self.cluster_namespace && **name == *self.cluster_name)
    }
}

/// A kustomization with `helmCharts:` that a cluster's Argo CD Application builds as a source of its own (Argo CD
/// runs kustomize with `--enable-helm`): the charts it inflates are patched by a Component asm-migrate renders for
/// it, which it lists. The patches select by kind, so its charts restart and move together.
#[derive(Debug, Clone)]
pub struct HelmCharts {
    /// The ids of its charts (`helmChart/<name>`), as `unseen` names them.
    pub charts: Vec<String>,
    /// `helmChart/<name>, ...`: how steps and effects name it.
    pub id: String,
    pub dir: String,
    /// Its kustomization file.
    pub file: Rc<str>,
    /// The Application that builds it: `Application shop-hz`.
    pub application: String,
    /// The namespace its charts render into (each entry's `namespace`, else the kustomization's, else the
    /// Application's destination namespace).
    pub namespace: Rc<str>,
    pub injected: bool,
    /// One of its charts is listed in the cluster's `unseen`: the operator restarts and moves them.
    pub acknowledged: bool,
    /// The kustomization lists the Component asm-migrate renders for it.
    pub includes_component: bool,
}

impl HelmCharts {
    pub fn patched(&self) -> bool {
        self.injected && !self.acknowledged
    }

    /// The Component asm-migrate renders for it, in `cluster`'s part of the output.
    pub fn component_dir(&self, settings: &Settings, cluster: &str) -> String {
        join(&settings.component_dir(cluster), &format!("helm-charts/{}", self.dir.replace('/', "-")))
    }
}

//! Workloads rendered by Helm in the cluster: the chart of a Flux HelmRelease. asm-migrate cannot see them, and a
//! kustomize Component cannot patch inside a Helm release, so the step's changes ride on what renders them: kustomize
//! patches by workload kind in the release's `spec.postRenderers`, which helm-controller applies to the chart's
//! output. Also: which pods the gates count as theirs (helm-controller labels every object it renders with the
//! release it came from).

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use minijinja::context;
use serde_json::{json, Value};

use crate::core::component::Rendering;
use crate::core::desired::Desired;
use std::path::Path;

use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::inventory::{ClusterInventory, Inventory};
use crate::core::names::exact_name_pattern;
use crate::core::observe::{ClusterObservation, Observation, PodObservation, RolloutObservation};
use crate::core::paths::{join, relative_path};
use crate::core::settings::Settings;
use crate::core::steps::StepContext;
use crate::core::workload::WorkloadKind;
use crate::core::yaml_edit::add_list_item;

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
    fn rendered(&self, rollout: &RolloutObservation) -> bool {
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

/// The kustomize patches that make a step's changes to every Deployment, StatefulSet and DaemonSet a chart renders:
/// the restart stamp and ASM's injection label on the pod template, by kind (the chart's templates, and so its
/// workloads' names, are not in the repository). Strategic merge patches, which create the annotations or labels
/// a pod template lacks; a kind the chart does not render is left alone.
pub fn workload_patches(
    rendering: &Rendering<'_>,
    restarted_at: Option<&str>,
    asm_proxy: bool,
) -> Result<Vec<Value>, Diagnostics> {
    let mut patches = Vec::new();
    for kind in WorkloadKind::ALL {
        let patch = rendering.template(
            "cluster/helm-workload-patch.yaml.j2",
            context! { kind => kind.name(), restarted_at, asm_proxy },
        )?;
        patches.push(json!({"target": {"group": "apps", "kind": kind.name()}, "patch": patch}));
    }
    Ok(patches)
}

/// For each cluster, a JSON patch of each HelmRelease the step restarts or moves: asm-migrate's post renderer,
/// appended to the release's own.
pub fn render_releases(
    context: &StepContext<'_>,
    desired: &Desired,
    rendering: &mut Rendering<'_>,
) -> Result<(), Diagnostics> {
    let none = BTreeSet::new();
    for cluster in &context.settings.clusters {
        let Some(inventory) = context.inventory.clusters.get(&cluster.name) else { continue };
        let restarted = desired.helm_restarts.get(&cluster.name).unwrap_or(&none);
        let moved = desired.helm_asm_proxy.get(&cluster.name).unwrap_or(&none);
        for release in inventory.helm_releases.iter().filter(|release| release.patched()) {
            let restart = restarted.contains(&release.id);
            let asm_proxy = moved.contains(&release.id);
            if !restart && !asm_proxy {
                continue;
            }
            let stamp = desired.restarted_at.as_deref().filter(|_| restart);
            let patches = workload_patches(rendering, stamp, asm_proxy)?;
            let renderer = json!({"kustomize": {"patches": patches}});
            let operations = match release.has_post_renderers {
                true => json!([{"op": "add", "path": "/spec/postRenderers/-", "value": renderer}]),
                // The test fails the build if the release gained post renderers asm-migrate did not see (a patch
                // of a base): `add` would replace them.
                false => json!([
                    {"op": "test", "path": "/spec/postRenderers", "value": null},
                    {"op": "add", "path": "/spec/postRenderers", "value": [renderer]},
                ]),
            };
            let namespace = release.namespace.as_deref();
            let changes: Vec<&str> = [(restart, "the restart stamp"), (asm_proxy, "ASM's injection label")]
                .into_iter()
                .filter_map(|(wanted, what)| wanted.then_some(what))
                .collect();
            let text = rendering.template(
                "cluster/helm-release-patch.yaml.j2",
                context! {
                    namespace => namespace.unwrap_or("(none)"), name => release.name, changes,
                    appended => release.has_post_renderers, operations,
                },
            )?;
            let file = format!("helmrelease-{}-{}-patch.yaml", namespace.unwrap_or("default"), release.name);
            let mut target = json!({"group": HELM_RELEASE_GROUP, "kind": "HelmRelease",
                "name": exact_name_pattern(&release.name)});
            if let Some(namespace) = namespace {
                target["namespace"] = json!(exact_name_pattern(namespace));
            }
            let component = rendering.component(&cluster.name);
            component.files.insert(file.clone(), text);
            component.patches.push(json!({"path": file, "target": target}));
        }
    }
    Ok(())
}

/// For each cluster, the Component of each chart kustomization the step restarts or moves (an empty one before
/// that: the kustomization lists it from the first step), and the kustomization's `components:` entry.
pub fn render_charts(
    context: &StepContext<'_>,
    desired: &Desired,
    rendering: &mut Rendering<'_>,
) -> Result<(), Diagnostics> {
    let settings = context.settings;
    let none = BTreeSet::new();
    let mut built_by: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for cluster in &settings.clusters {
        let Some(inventory) = context.inventory.clusters.get(&cluster.name) else { continue };
        let restarted = desired.helm_restarts.get(&cluster.name).unwrap_or(&none);
        let moved = desired.helm_asm_proxy.get(&cluster.name).unwrap_or(&none);
        for charts in inventory.helm_charts.iter().filter(|charts| charts.patched()) {
            built_by.entry(&charts.dir).or_default().push(&cluster.name);
            let (restart, asm_proxy) = (restarted.contains(&charts.id), moved.contains(&charts.id));
            let patches = match restart || asm_proxy {
                true => workload_patches(rendering, desired.restarted_at.as_deref().filter(|_| restart), asm_proxy)?,
                false => Vec::new(),
            };
            let component = charts.component_dir(settings, &cluster.name);
            let text = rendering.template(
                "cluster/helm-charts-component.yaml.j2",
                context! {
                    plan => settings.name, cluster => cluster.name, kustomization => &*charts.file,
                    application => charts.application, charts => charts.charts, patches,
                },
            )?;
            rendering.writes.insert(join(&component, "kustomization.yaml"), text);
            if !charts.includes_component {
                let file = charts.file.to_string();
                let current = rendering.current_text(&file)?.unwrap_or_default();
                let edited = add_list_item(&current, "components", &relative_path(&charts.dir, &component)).map_err(
                    |reason| Diagnostic::in_file(Path::new(&file), format!("cannot list the component: {reason}")),
                )?;
                rendering.writes.insert(file, edited);
            }
        }
    }
    let shared: Vec<Diagnostic> = built_by
        .into_iter()
        .filter(|(_, clusters)| clusters.len() > 1)
        .map(|(dir, clusters)| {
            Diagnostic::in_file(
                Path::new(dir),
                format!(
                    "the chart kustomization {dir} is built for clusters {}, and lists one Component per cluster \
                     that asm-migrate patches its charts with: give each cluster a kustomization of its own",
                    clusters.join(" and ")
                ),
            )
        })
        .collect();
    match shared.is_empty() {
        true => Ok(()),
        false => Err(Diagnostics(shared)),
    }
}

/// Whether `pod`, of `cluster`, runs a workload that one of `releases` rendered.
pub fn in_releases(
    inventory: &Inventory,
    observation: &Observation,
    releases: &ReleasesByCluster,
    cluster: &str,
    pod: &PodObservation,
) -> bool {
    let (Some(found), Some(observed), Some(wanted)) =
        (inventory.clusters.get(cluster), observation.clusters.get(cluster), releases.get(cluster))
    else {
        return false;
    };
    helm_owner(found, observed, pod).is_some_and(|id| wanted.contains(id))
}

/// The id of the patched Helm release or chart kustomization that rendered the workload `pod` belongs to: a Flux
/// release by helm-controller's labels; else a chart kustomization of the pod's namespace, when no workload of the
/// repository owns the pod (kustomize's chart inflation marks nothing).
pub fn helm_owner<'i>(
    inventory: &'i ClusterInventory,
    observed: &ClusterObservation,
    pod: &PodObservation,
) -> Option<&'i str> {
    if let Some(release) = release_of(inventory, observed, pod) {
        return Some(&release.id);
    }
    let workload = pod.workload.as_ref()?;
    if inventory.workloads.iter().any(|known| &known.cluster == workload) {
        return None;
    }
    let charts = inventory.helm_charts.iter().find(|charts| charts.patched() && *charts.namespace == *pod.namespace)?;
    Some(&charts.id)
}

/// The HelmRelease of `inventory` that rendered the workload `pod` belongs to, as the cluster labels it.
pub fn release_of<'i>(
    inventory: &'i ClusterInventory,
    observed: &ClusterObservation,
    pod: &PodObservation,
) -> Option<&'i HelmRelease> {
    let workload = pod.workload.as_ref()?;
    let rollout = observed.rollouts.iter().find(|rollout| &rollout.workload == workload)?;
    inventory.helm_releases.iter().find(|release| release.rendered(rollout))
}

/// The rollouts of the workloads `releases` (ids of releases and chart kustomizations) rendered in a cluster.
pub fn rollouts_of<'o>(
    inventory: &ClusterInventory,
    observed: &'o ClusterObservation,
    releases: &BTreeSet<String>,
) -> Vec<&'o RolloutObservation> {
    let wanted: Vec<&HelmRelease> =
        inventory.helm_releases.iter().filter(|release| releases.contains(&release.id)).collect();
    let chart_namespaces: Vec<&str> = inventory
        .helm_charts
        .iter()
        .filter(|charts| charts.patched() && releases.contains(&charts.id))
        .map(|charts| &*charts.namespace)
        .collect();
    let of_charts = |rollout: &RolloutObservation| {
        rollout.helm_release.is_none()
            && chart_namespaces.contains(&&*rollout.workload.namespace)
            && !inventory.workloads.iter().any(|known| known.cluster == rollout.workload)
    };
    observed
        .rollouts
        .iter()
        .filter(|rollout| wanted.iter().any(|release| release.rendered(rollout)) || of_charts(rollout))
        .collect()
}

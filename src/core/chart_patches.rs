//! What a step renders for workloads rendered by Helm (`helm`): the step's changes as kustomize patches by workload
//! kind, in a Flux HelmRelease's `spec.postRenderers` (a JSON patch of the release in the cluster's Component), or
//! in a Component that an Argo CD chart kustomization lists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use minijinja::context;
use serde_json::{json, Value};

use crate::core::component::Rendering;
use crate::core::desired::Desired;
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::helm::HELM_RELEASE_GROUP;
use crate::core::names::exact_name_pattern;
use crate::core::paths::{join, relative_path};
use crate::core::steps::StepContext;
use crate::core::workload::WorkloadKind;
use crate::core::yaml_edit::add_list_item;

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

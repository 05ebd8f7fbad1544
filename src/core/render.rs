//! A step rendered into files in memory: the tool's output directory (its state, the ASM control plane's
//! objects, a kustomize Component per cluster) and the user files the step kinds edit.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::context;

use crate::core::change::RenderedStep;
use crate::core::component::{ComponentParts, Rendering};
use crate::core::desired::Desired;
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::import::render_import;
use crate::core::inventory::ClusterInventory;
use crate::core::migration::Migration;
use crate::core::paths::{join, relative_path};
use crate::core::settings::{Cluster, Engine};
use crate::core::step_id::Phase;
use crate::core::steps::PendingStep;
use crate::core::steps::StepContext;
use crate::core::templates::Templates;
use crate::core::value::str_at;
use crate::core::yaml_edit::{add_list_item, document_ranges, set_scalar, with_newline, EditError};

/// Everything the pending step renders, after checking the plan against the repository.
pub fn render_step(
    migration: &Migration,
    pending: &PendingStep<'_>,
    templates: &Templates,
) -> Result<RenderedStep, Diagnostics> {
    let (step, context, desired) = (&pending.step, &pending.context, &pending.desired);
    migration.check(step)?;
    let mut rendering = Rendering::new(templates, &migration.repository);
    for cluster in &context.settings.clusters {
        let Some(inventory) = context.inventory.clusters.get(&cluster.name) else { continue };
        list_component_in_source(context, cluster, inventory, &mut rendering)?;
        render_istio_system(context, cluster, inventory, desired, &mut rendering)?;
    }
    keep_istio_system(context, desired, &mut rendering)?;
    for kind in migration.plan.kinds() {
        kind.render(pending, &mut rendering)?;
    }
    crate::core::chart_patches::render_releases(context, desired, &mut rendering)?;
    crate::core::chart_patches::render_charts(context, desired, &mut rendering)?;
    let output = &context.settings.output.value;
    let state = migration.state.advanced_to(step, desired.restarted_at.as_deref());
    rendering.writes.insert(join(output, "state.yaml"), state.to_yaml());
    render_asm(context, desired, &mut rendering)?;
    for cluster in &context.settings.clusters {
        let Some(inventory) = context.inventory.clusters.get(&cluster.name) else { continue };
        render_component(context, cluster, inventory, &mut rendering)?;
    }
    // The output directory holds only what this step renders.
    let stale: Vec<String> = migration
        .repository
        .files_under(output)
        .filter(|file| !rendering.writes.contains_key(*file))
        .cloned()
        .collect();
    rendering.removals.extend(stale);
    Ok(RenderedStep { writes: rendering.writes, removals: rendering.removals })
}

/// The cluster's source lists the component once (unless the plan leaves that to Argo CD or Flux).
fn list_component_in_source(
    context: &StepContext<'_>,
    cluster: &Cluster,
    inventory: &ClusterInventory,
    rendering: &mut Rendering<'_>,
) -> Result<(), Diagnostics> {
    if !cluster.include_component || inventory.includes_component {
        return Ok(());
    }
    let file = &inventory.kustomization_file;
    let text = rendering.current_text(file)?.unwrap_or_default();
    let reference = relative_path(&cluster.source.value, &context.settings.component_dir(&cluster.name));
    let edited = add_list_item(&text, "components", &reference)
        .map_err(|reason| Diagnostic::in_file(Path::new(file), format!("cannot list the component: {reason}")))?;
    rendering.writes.insert(file.clone(), edited);
    Ok(())
}

/// istio-system: the label removal ASM's east-west migration needs, and a namespace that is never pruned once
/// Istio's own manifests (which may have declared it) are gone.
fn render_istio_system(
    context: &StepContext<'_>,
    cluster: &Cluster,
    inventory: &ClusterInventory,
    desired: &Desired,
    rendering: &mut Rendering<'_>,
) -> Result<(), Diagnostics> {
    let engine = context.settings.engine;
    let declared = inventory.namespaces.contains_key("istio-system");
    if !desired.release_istio_system && (declared || !desired.finished) {
        return Ok(());
    }
    let engine_name = engine.display_name();
    let takeover_label = (engine == Engine::Flux && desired.release_istio_system && desired.phase == Some(Phase::Init))
        .then_some("asm-migrate-takeover");
    let mut annotations = BTreeMap::new();
    if declared {
        if engine == Engine::ArgoCd {
            // The patch replaces the annotation: it keeps the no-prune option keep_istio_system gives it.
            let options = if desired.asm_gateways { "Prune=false,Replace=true" } else { "Replace=true" };
            annotations.insert("argocd.argoproj.io/sync-options", options);
        }
        let text = rendering
            .template("cluster/istio-system-patch.yaml.j2", context! { engine_name, takeover_label, annotations })?;
        rendering.component(&cluster.name).patch("istio-system-patch.yaml", text);
        return Ok(());
    }
    match engine {
        Engine::ArgoCd if desired.release_istio_system => {
            annotations.insert("argocd.argoproj.io/sync-options", "Prune=false,Replace=true")
        }
        Engine::ArgoCd => annotations.insert("argocd.argoproj.io/sync-options", "Prune=false"),
        Engine::Flux => annotations.insert("kustomize.toolkit.fluxcd.io/prune", "disabled"),
    };
    let text = rendering.template(
        "cluster/istio-system-namespace.yaml.j2",
        context! {
            engine_name, takeover_label, annotations, network => cluster.network,
            release => desired.release_istio_system,
        },
    )?;
    rendering.component(&cluster.name).resource("istio-system-namespace.yaml", text);
    Ok(())
}

/// From `migrating` on, ASM's gateways live in istio-system: the Namespace Istio's install paths declare carries
/// the engine's no-prune annotation, synced long before `finished` removes the file (and with it, without the
/// annotation on the live object, the namespace and everything in it).
fn keep_istio_system(
    context: &StepContext<'_>,
    desired: &Desired,
    rendering: &mut Rendering<'_>,
) -> Result<(), Diagnostics> {
    if !desired.asm_gateways || desired.finished {
        return Ok(());
    }
    for dir in context.settings.install_paths() {
        let files: Vec<String> = context
            .repository
            .files_under(dir)
            .filter(|file| file.ends_with(".yaml") || file.ends_with(".yml"))
            .cloned()
            .collect();
        for file in files {
            let Some(text) = rendering.current_text(&file)? else { continue };
            let kept = no_prune(context.settings.engine, &text).map_err(|reason| {
                Diagnostic::in_file(
                    Path::new(&file),
                    format!("cannot keep istio-system from being pruned with Istio: {reason}"),
                )
            })?;
            if let Some(kept) = kept {
                rendering.writes.insert(file, kept);
            }
        }
    }
    Ok(())
}

/// `text` with its istio-system Namespace (if it declares one) annotated never to be pruned by `engine`; `None`
/// when there is none or it is annotated already.
fn no_prune(engine: Engine, text: &str) -> Result<Option<String>, EditError> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for (start, end) in document_ranges(&lines) {
        let document: serde_json::Value =
            crate::core::yaml::document(&lines[start..end].join("\n")).unwrap_or_default();
        let is_istio_system = str_at(&document, &["kind"]) == Some("Namespace")
            && str_at(&document, &["metadata", "name"]) == Some("istio-system");
        if !is_istio_system {
            continue;
        }
        let (key, value) = match engine {
            Engine::Flux => ("kustomize.toolkit.fluxcd.io/prune", "disabled".to_owned()),
            Engine::ArgoCd => {
                let key = "argocd.argoproj.io/sync-options";
                match str_at(&document, &["metadata", "annotations", key]) {
                    Some(options) if options.split(',').any(|option| option.trim() == "Prune=false") => {
                        return Ok(None)
                    }
                    Some(options) => (key, format!("{options},Prune=false")),
                    None => (key, "Prune=false".to_owned()),
                }
            }
        };
        let quoted = serde_json::Value::String(value).to_string();
        return match set_scalar(&mut lines, start, end, &["metadata", "annotations", key], &quoted)? {
            true => Ok(Some(with_newline(lines))),
            false => Ok(None),
        };
    }
    Ok(None)
}

/// The ASM control plane's objects: ASMMigrateFromIstio, the IstioGateways the kinds created, Istio's config
/// imported (from `migrating` on), their kustomization.
fn render_asm(context: &StepContext<'_>, desired: &Desired, rendering: &mut Rendering<'_>) -> Result<(), Diagnostics> {
    let settings = context.settings;
    let output = &settings.output.value;
    let migrate = rendering.template(
        "asm/asmmigratefromistio.yaml.j2",
        context! {
            plan => settings.name, api_version => settings.asm.api_version,
            desired_state => desired.phase.unwrap_or(Phase::Init).name(),
            retry_counter => context.state.retry_counter,
            stop_istio_system_injection_disabling => desired.release_istio_system,
        },
    )?;
    rendering.writes.insert(join(output, "asm/asmmigratefromistio.yaml"), migrate);
    let mut resources = vec!["asmmigratefromistio.yaml".to_owned()];
    let gateways: Vec<_> = rendering.asm_gateways.values().cloned().collect();
    for gateway in gateways {
        let file = format!("istiogateway-{}.yaml", gateway.name);
        let text = rendering.template(
            "asm/istiogateway.yaml.j2",
            context! {
                plan => settings.name, api_version => settings.asm.api_version, name => gateway.name,
                gateway_type => gateway.gateway_type, purpose => gateway.purpose,
                cluster_ids => gateway.cluster_ids, ports => gateway.ports, service_type => gateway.service_type,
                pod_labels => gateway.pod_labels,
            },
        )?;
        rendering.writes.insert(join(output, &format!("asm/{file}")), text);
        resources.push(file);
    }
    resources.extend(render_import(context, desired, rendering)?);
    let kustomization =
        rendering.template("asm/kustomization.yaml.j2", context! { plan => settings.name, resources })?;
    rendering.writes.insert(join(output, "asm/kustomization.yaml"), kustomization);
    Ok(())
}

/// The files of `<output>/clusters/<name>/`: a kustomize Component with what the kinds put into it.
fn render_component(
    context: &StepContext<'_>,
    cluster: &Cluster,
    inventory: &ClusterInventory,
    rendering: &mut Rendering<'_>,
) -> Result<(), Diagnostics> {
    let ComponentParts { files, mut resources, transformers, restart_targets, patches } =
        rendering.components.remove(&cluster.name).unwrap_or_default();
    resources.sort();
    let kustomization = rendering.template(
        "cluster/kustomization.yaml.j2",
        context! {
            plan => context.settings.name, cluster => cluster.name, source => inventory.kustomization_file,
            resources, transformers, restart_targets, patches,
        },
    )?;
    let dir = context.settings.component_dir(&cluster.name);
    rendering.writes.insert(join(&dir, "kustomization.yaml"), kustomization);
    for (file, text) in files {
        rendering.writes.insert(join(&dir, &file), text);
    }
    Ok(())
}

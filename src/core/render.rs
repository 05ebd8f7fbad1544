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
use crate::core::paths::{join, parent, relative_path};
use crate::core::repository::{resolve_entry, EntryTarget};
use crate::core::settings::{Cluster, Engine, IncludeAs};
use crate::core::step_id::Phase;
use crate::core::steps::PendingStep;
use crate::core::steps::StepContext;
use crate::core::templates::Templates;
use crate::core::value::str_at;
use crate::core::yaml_edit::{add_list_item, document_ranges, remove_list_items, set_scalar, with_newline, EditError};

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
    rendering.writes.insert(context.settings.state_path(), state.to_yaml());
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

/// The cluster's source lists asm-migrate's part of its build as `includeAs` says, once (unless the plan leaves
/// that to Argo CD or Flux): a Component in `components:`, or the kustomization of new objects in `resources:` and
/// the transformer configurations in `transformers:`. Entries of the other way go, so `includeAs` can change
/// between two steps.
fn list_component_in_source(
    context: &StepContext<'_>,
    cluster: &Cluster,
    inventory: &ClusterInventory,
    rendering: &mut Rendering<'_>,
) -> Result<(), Diagnostics> {
    let listing = &inventory.lists_output;
    if !cluster.include_component || listing.is_complete(cluster.include_as) {
        return Ok(());
    }
    let file = &inventory.kustomization_file;
    let settings = context.settings;
    let (component_dir, transformers_dir) =
        (settings.component_dir(&cluster.name), settings.transformers_dir(&cluster.name));
    if let (IncludeAs::Transformers, Some(below)) = (cluster.include_as, &listing.component_dir_below) {
        return Err(Diagnostic::in_file(
            Path::new(below),
            format!(
                "cluster `{}`: this kustomization lists {component_dir} as a component, and with includeAs: \
                 transformers that is a kustomization of new objects, which the source {file} lists itself",
                cluster.name
            ),
        )
        .with_help(format!("remove the entry from {below}"))
        .into());
    }
    let source_dir = parent(file);
    let names = |target: &str| {
        let target = EntryTarget::Path(target.to_owned());
        move |entry: &str| resolve_entry(source_dir, entry) == target
    };
    // The fields that must name each directory (and whether they do), and those that must not.
    let wanted: Vec<(&str, &str, bool)> = match cluster.include_as {
        IncludeAs::Component => {
            vec![("components", &component_dir, listing.component_dir_in.contains("components"))]
        }
        IncludeAs::Transformers => vec![
            ("resources", &component_dir, listing.component_dir_in.contains("resources")),
            ("transformers", &transformers_dir, listing.transformers_dir),
        ],
    };
    let misplaced: Vec<(&[&str], &str)> = match cluster.include_as {
        IncludeAs::Component => {
            vec![(&["resources", "bases"], &component_dir), (&["transformers"], &transformers_dir)]
        }
        IncludeAs::Transformers => vec![(&["components", "bases"], &component_dir)],
    };
    let what = match cluster.include_as {
        IncludeAs::Component => "the component",
        IncludeAs::Transformers => "asm-migrate's objects and transformers",
    };
    let cannot = |reason: EditError| Diagnostic::in_file(Path::new(file), format!("cannot list {what}: {reason}"));
    let mut text = rendering.current_text(file)?.unwrap_or_default();
    for (fields, target) in misplaced {
        if let Some(edited) = remove_list_items(&text, fields, names(target)).map_err(cannot)? {
            text = edited;
        }
    }
    for (field, target, listed) in wanted {
        if !listed {
            text = add_list_item(&text, field, &relative_path(source_dir, target)).map_err(cannot)?;
        }
    }
    rendering.writes.insert(file.clone(), text);
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
    if let (false, Some(namespace)) = (declared, inventory.naming.namespace_of_everything()) {
        // kustomize's namespace transformer renames every Namespace object the source builds: istio-system would
        // become `namespace`. Such a source never built istio-system, so at `finished` it has none to keep.
        if !desired.release_istio_system {
            return Ok(());
        }
        return Err(Diagnostic::in_file(
            Path::new(&inventory.kustomization_file),
            format!(
                "cluster `{}`: the source puts everything it builds into namespace {namespace}, and kustomize renames \
                 every Namespace object of it, so asm-migrate cannot declare istio-system there to remove ASM's \
                 istio-injection: disable label",
                cluster.name
            ),
        )
        .with_help(
            "declare istio-system in a source without a namespace of its own that the cluster builds (Istio's \
             install path, say), and name that one as the cluster's source",
        )
        .into());
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

/// The files of `<output>/clusters/<name>/`: a kustomize Component with what the kinds put into it, or, with
/// `includeAs: transformers`, the same as a kustomization of objects and one of transformer configurations.
fn render_component(
    context: &StepContext<'_>,
    cluster: &Cluster,
    inventory: &ClusterInventory,
    rendering: &mut Rendering<'_>,
) -> Result<(), Diagnostics> {
    let mut parts = rendering.components.remove(&cluster.name).unwrap_or_default();
    parts.resources.sort();
    if cluster.include_as == IncludeAs::Transformers {
        return render_transformers(context, cluster, inventory, parts, rendering);
    }
    let ComponentParts { files, resources, transformers, restart_targets, patches } = parts;
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

/// `includeAs: transformers`: the component's resources in a kustomization of their own, and what it changes as
/// transformer configurations in kustomize's order for a kustomization (patches, replacements, then the listed
/// transformers), each patch written into a PatchTransformer (a transformer configuration cannot name a file
/// outside the source's directory), its target as it reads after the source's own renaming.
fn render_transformers(
    context: &StepContext<'_>,
    cluster: &Cluster,
    inventory: &ClusterInventory,
    parts: ComponentParts,
    rendering: &mut Rendering<'_>,
) -> Result<(), Diagnostics> {
    let ComponentParts { mut files, resources, transformers, restart_targets, patches } = parts;
    let settings = context.settings;
    let (plan, source) = (&settings.name, &inventory.kustomization_file);
    let (objects_dir, transformers_dir) =
        (settings.component_dir(&cluster.name), settings.transformers_dir(&cluster.name));
    let objects = rendering.template(
        "cluster/objects-kustomization.yaml.j2",
        context! { plan, cluster => cluster.name, source, resources },
    )?;
    rendering.writes.insert(join(&objects_dir, "kustomization.yaml"), objects);
    for file in &resources {
        if let Some(text) = files.remove(file) {
            rendering.writes.insert(join(&objects_dir, file), text);
        }
    }
    // One file per patch file, a PatchTransformer per target of it, in the order the component lists them.
    let mut configs: Vec<String> = Vec::new();
    let mut documents: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for patch in &patches {
        let Some(file) = patch.get("path").and_then(serde_json::Value::as_str) else { continue };
        let text = files.get(file).map(String::as_str).unwrap_or_default();
        let (header, body) = split_header(text);
        let stem = file.trim_end_matches(".yaml");
        let of_file = documents.entry(file.to_owned()).or_default();
        let name = match of_file.len() {
            0 => format!("asm-migrate-{stem}"),
            index => format!("asm-migrate-{stem}-{}", index + 1),
        };
        let mut values = context! { header, name, patch => body };
        if let Some(target) = patch.get("target") {
            let target = inventory.naming.selector_after_source(target);
            values = context! { target => minijinja::Value::from_serialize(&target), ..values };
        }
        of_file.push(rendering.template("cluster/patch-transformer.yaml.j2", values)?);
        if !configs.iter().any(|listed| listed == file) {
            configs.push(file.to_owned());
        }
    }
    for (file, texts) in documents {
        files.remove(&file);
        rendering.writes.insert(join(&transformers_dir, &file), texts.join("---\n"));
    }
    if !restart_targets.is_empty() {
        let text = rendering.template("cluster/restart-replacement.yaml.j2", context! { restart_targets })?;
        rendering.writes.insert(join(&transformers_dir, "restart-replacement.yaml"), text);
        configs.push("restart-replacement.yaml".to_owned());
    }
    for file in transformers {
        if let Some(text) = files.remove(&file) {
            rendering.writes.insert(join(&transformers_dir, &file), text);
        }
        configs.push(file);
    }
    let kustomization = rendering.template(
        "cluster/transformers-kustomization.yaml.j2",
        context! { plan, cluster => cluster.name, source, configs },
    )?;
    rendering.writes.insert(join(&transformers_dir, "kustomization.yaml"), kustomization);
    Ok(())
}

/// A rendered file's leading comment lines (without their `#`) and the rest.
fn split_header(text: &str) -> (Vec<String>, String) {
    let mut lines = text.lines().peekable();
    let mut header = Vec::new();
    while let Some(comment) = lines.peek().and_then(|line| line.strip_prefix('#')) {
        header.push(comment.strip_prefix(' ').unwrap_or(comment).to_owned());
        lines.next();
    }
    let body: Vec<&str> = lines.collect();
    (header, format!("{}\n", body.join("\n")))
}

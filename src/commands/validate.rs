//! `validate`: the plan and the repository it points at, with what was found in each cluster's source, and the
//! warnings and notes that do not stop a step.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

use crate::commands::schema::PLAN_SCHEMA;
use crate::commands::Workplace;
use crate::core::diagnostic::{Diagnostic, Severity};
use crate::core::inventory::Inventory;
use crate::core::migration::Migration;
use crate::core::paths::relative_path;
use crate::core::settings::{IncludeAs, LARGE_SOURCE_OBJECTS};
use crate::output::{colour, json, ReportFormat};

pub fn run(workplace: &Workplace, format: ReportFormat, out: &mut dyn Write) -> anyhow::Result<i32> {
    let migration = workplace.open()?;
    let plan = &migration.plan;
    let step = migration.current_step().unwrap_or(&plan.steps[0]);
    migration.check(step)?;
    let inventory = migration.inventory(step)?;
    let mut remarks = plan.remarks.clone();
    remarks.extend(schema_file_remarks(&migration, &workplace.root()));
    remarks.extend(repository_remarks(&migration, inventory));
    match format {
        ReportFormat::Json => {
            let diagnostics: Vec<Value> = remarks.iter().map(Diagnostic::to_json).collect();
            json::print(
                out,
                json!({"valid": true, "plan": summary(&migration, inventory), "diagnostics": diagnostics}),
            )?;
        }
        ReportFormat::Text => {
            write_summary(&migration, inventory, out)?;
            let text: String = remarks.iter().map(|remark| format!("{remark}")).collect();
            write!(out, "{}", colour::messages(&text, colour::stdout()))?;
        }
    }
    Ok(0)
}

/// The plan and what was found, as data.
fn summary(migration: &Migration, inventory: &Inventory) -> Value {
    let plan = &migration.plan;
    let settings = &plan.settings;
    let clusters: Vec<Value> = settings
        .clusters
        .iter()
        .filter_map(|cluster| {
            let found = inventory.clusters.get(&cluster.name)?;
            Some(json!({
                "name": cluster.name,
                "context": cluster.context,
                "network": cluster.network,
                "source": cluster.source.value,
                "workloads": found.workloads.len(),
                "injected": found.workloads.iter().filter(|workload| workload.injected).count(),
            }))
        })
        .collect();
    let mut summary = json!({
        "name": settings.name,
        "file": settings.source.file.display().to_string(),
        "currentStep": migration.current_step().map(|step| step.as_str()),
        "steps": plan.steps.len(),
        "workloads": inventory.workloads().count(),
        "injected": inventory.workloads().filter(|(_, workload)| workload.injected).count(),
        "asm": {"context": settings.asm.context, "apiVersion": settings.asm.api_version},
        "meshConfig": migration.mesh_config_target().map(|target| json!({
            "target": target.to_string(),
            "path": settings.istio.mesh_config_path.value,
        })),
        "clusters": clusters,
    });
    for part in plan.kinds().iter().filter_map(|kind| kind.summary()) {
        summary[part.key] = part.json;
    }
    summary
}

/// The plan and what was found, in lines.
fn write_summary(migration: &Migration, inventory: &Inventory, out: &mut dyn Write) -> std::io::Result<()> {
    let plan = &migration.plan;
    let workloads = inventory.workloads().count();
    let injected = inventory.workloads().filter(|(_, workload)| workload.injected).count();
    writeln!(
        out,
        "plan {} is valid: {} cluster(s), {} workload(s) of which {} Istio-injected, {} step(s)",
        plan.settings.name,
        plan.settings.clusters.len(),
        workloads,
        injected,
        plan.steps.len()
    )?;
    let asm = &plan.settings.asm;
    writeln!(
        out,
        "  ASM control plane: context {}, {}",
        asm.context.as_deref().unwrap_or("(not set)"),
        asm.api_version
    )?;
    if let Some(target) = migration.mesh_config_target() {
        writeln!(out, "  mesh config: {target} in {}", plan.settings.istio.mesh_config_path.value)?;
    }
    for cluster in &plan.settings.clusters {
        let Some(found) = inventory.clusters.get(&cluster.name) else { continue };
        writeln!(
            out,
            "  cluster {}: context {}, network {}, {} workload(s), {} Istio-injected",
            cluster.name,
            cluster.context.as_deref().unwrap_or("(not set)"),
            cluster.network,
            found.workloads.len(),
            found.workloads.iter().filter(|workload| workload.injected).count()
        )?;
        let releases: Vec<&str> =
            found.helm_releases.iter().filter(|release| release.patched()).map(|release| release.id.as_str()).collect();
        if !releases.is_empty() {
            writeln!(
                out,
                "    and the workloads of {} Helm release(s), restarted and moved through their post renderers: {}",
                releases.len(),
                releases.join(", ")
            )?;
        }
        let charts: Vec<&str> = found
            .helm_charts
            .iter()
            .filter(|charts| charts.patched())
            .flat_map(|charts| &charts.charts)
            .map(String::as_str)
            .collect();
        if !charts.is_empty() {
            writeln!(
                out,
                "    and the workloads of {} Helm chart(s) kustomize inflates, restarted and moved through the Component \
                 their kustomization lists: {}",
                charts.len(),
                charts.join(", ")
            )?;
        }
    }
    for part in plan.kinds().iter().filter_map(|kind| kind.summary()) {
        for line in part.lines {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

/// The schema file a plan's `$schema=` line names, when it is a path: missing, or not what `asm-migrate schema`
/// prints (an older asm-migrate's), the editor checks the plan against the wrong rules.
fn schema_file_remarks(migration: &Migration, root: &Path) -> Vec<Diagnostic> {
    let settings = &migration.plan.settings;
    let Some(reference) = &migration.plan.schema_reference else { return Vec::new() };
    if reference.value.contains("://") {
        return Vec::new();
    }
    let plan_dir = root.join(&settings.source.file).parent().map(Path::to_owned).unwrap_or_else(|| root.to_owned());
    let regenerate = format!("asm-migrate schema > {}", reference.value);
    let remark = |message: String| {
        settings.error_at(reference.pos, message).with_help(regenerate.clone()).weighed(Severity::Warning)
    };
    match std::fs::read_to_string(plan_dir.join(&reference.value)) {
        Err(_) => vec![remark(format!("the schema file {} the plan names does not exist", reference.value))],
        Ok(text) if text != *PLAN_SCHEMA => vec![remark(format!(
            "the schema file {} is not this asm-migrate's: editors check the plan against other rules",
            reference.value
        ))],
        Ok(_) => Vec::new(),
    }
}

/// What the repository shows that does not stop rendering: cluster sources that do not include their component
/// yet, engines' build steps asm-migrate cannot follow, and sources acknowledged as unseen.
fn repository_remarks(migration: &Migration, inventory: &Inventory) -> Vec<Diagnostic> {
    let settings = &migration.plan.settings;
    let mut remarks = Vec::new();
    for cluster in &settings.clusters {
        let Some(found) = inventory.clusters.get(&cluster.name) else { continue };
        let component = settings.component_dir(&cluster.name);
        let reference = relative_path(&cluster.source.value, &component);
        let listing = &found.lists_output;
        let complete = listing.is_complete(cluster.include_as);
        if !complete && cluster.include_component && cluster.include_as == IncludeAs::Component {
            remarks.push(
                Diagnostic::in_file(
                    Path::new(&found.kustomization_file),
                    format!("cluster `{}`: the source does not list the component yet", cluster.name),
                )
                .with_help(format!(
                    "`apply` adds `components: [{reference}]`; or set includeComponent: false and include \
                     {component} from Argo CD's spec.source.kustomize.components or Flux's spec.components"
                ))
                .weighed(Severity::Note),
            );
        }
        if cluster.include_as == IncludeAs::Component
            && cluster.include_component
            && found.object_count >= LARGE_SOURCE_OBJECTS
        {
            remarks.push(
                settings
                    .error_at(
                        cluster.name_pos,
                        format!(
                            "cluster `{}`: its source builds {} objects, and kustomize copies every one of them once \
                             more for a Component",
                            cluster.name, found.object_count
                        ),
                    )
                    .with_help(
                        "`includeAs: transformers` on the cluster gives kustomize the same changes without a \
                         Component (README, \"A large source\")",
                    )
                    .weighed(Severity::Note),
            );
        }
        if !complete && cluster.include_as == IncludeAs::Transformers {
            let transformers = relative_path(&cluster.source.value, &settings.transformers_dir(&cluster.name));
            remarks.push(
                Diagnostic::in_file(
                    Path::new(&found.kustomization_file),
                    format!(
                        "cluster `{}`: the source does not list asm-migrate's objects and transformers yet",
                        cluster.name
                    ),
                )
                .with_help(format!("`apply` adds `resources: [{reference}]` and `transformers: [{transformers}]`"))
                .weighed(Severity::Note),
            );
        }
        if listing.component_dir_in.is_empty() && listing.component_dir_below.is_none() && !cluster.include_component {
            remarks.push(
                Diagnostic::in_file(
                    Path::new(&found.kustomization_file),
                    format!("cluster `{}`: includeComponent is false", cluster.name),
                )
                .with_help(format!(
                    "include {reference} (relative to {}) from Argo CD's spec.source.kustomize.components or Flux's \
                     spec.components",
                    cluster.source.value
                ))
                .weighed(Severity::Note),
            );
        }
        for warning in &found.warnings {
            // A kustomization several sources include is said once.
            if !remarks.contains(warning) {
                remarks.push(warning.clone());
            }
        }
        for (file, warning) in &found.delivery.warnings {
            remarks.push(
                Diagnostic::in_file(Path::new(file), format!("cluster `{}`: {warning}", cluster.name))
                    .weighed(Severity::Warning),
            );
        }
        for release in found.helm_releases.iter().filter(|release| release.acknowledged && !release.patched()) {
            let (said, help) = match release.istio_own {
                true => (
                    "is one of Istio's own releases, which no step restarts or moves",
                    "drop the entry: it is not needed",
                ),
                false => (
                    "is acknowledged as unseen, but asm-migrate can restart and move its workloads through its \
                     post renderers",
                    "drop the entry to have the steps do it; while it is listed, its workloads are yours to restart \
                     and move",
                ),
            };
            remarks.push(
                Diagnostic::in_file(
                    Path::new(&*release.file),
                    format!("cluster `{}`: {} {said}", cluster.name, release.id),
                )
                .with_help(help)
                .weighed(Severity::Note),
            );
        }
        for unseen in found.delivery.unseen.iter().filter(|u| cluster.unseen.iter().any(|entry| entry.value == u.id)) {
            remarks.push(
                Diagnostic::in_file(
                    Path::new(&unseen.file),
                    format!("cluster `{}`: {}, acknowledged as unseen", cluster.name, unseen.what),
                )
                .with_help(
                    "restart and move its workloads yourself; the setup gate lists their pods as outside the plan",
                )
                .weighed(Severity::Note),
            );
        }
    }
    remarks
}

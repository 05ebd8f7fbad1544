//! `validate`: the plan and the repository it points at, with what was found in each cluster's source.

use std::io::Write;

use crate::commands::Workplace;
use crate::core::inventory::Inventory;
use crate::core::migration::Migration;
use crate::core::paths::relative_path;

pub fn run(workplace: &Workplace, out: &mut dyn Write) -> anyhow::Result<i32> {
    let migration = workplace.open()?;
    let plan = &migration.plan;
    let step = migration.current_step().unwrap_or(&plan.steps[0]);
    migration.check(step)?;
    let inventory = migration.inventory(step)?;
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
    }
    for entry in &plan.egress.0 {
        writeln!(
            out,
            "  egress {}: VirtualService {}/{} sends mesh traffic to ASM's egress gateway {} at {}, weights {}",
            entry.name,
            entry.virtual_service_namespace,
            entry.virtual_service_name,
            entry.asm_gateway.value,
            entry.asm_host(),
            entry.weights.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
        )?;
    }
    for notice in notices(&migration, inventory) {
        writeln!(out, "note: {notice}")?;
    }
    for cluster in &plan.settings.clusters {
        let Some(found) = inventory.clusters.get(&cluster.name) else { continue };
        for warning in &found.delivery.warnings {
            writeln!(out, "warning: cluster `{}`: {warning}", cluster.name)?;
        }
        for unseen in found.delivery.unseen.iter().filter(|u| cluster.unseen.iter().any(|entry| entry.value == u.id)) {
            writeln!(
                out,
                "note: cluster `{}`: {} ({}), acknowledged as unseen: restart and move its workloads yourself; the \
                 setup gate lists their pods as outside the plan",
                cluster.name, unseen.what, unseen.file
            )?;
        }
    }
    Ok(0)
}

/// Notices that do not stop rendering: cluster sources that do not include their component yet.
fn notices(migration: &Migration, inventory: &Inventory) -> Vec<String> {
    let settings = &migration.plan.settings;
    let mut notices = Vec::new();
    for cluster in &settings.clusters {
        let Some(cluster_inventory) = inventory.clusters.get(&cluster.name) else { continue };
        if cluster_inventory.includes_component {
            continue;
        }
        let component = settings.component_dir(&cluster.name);
        let reference = relative_path(&cluster.source.value, &component);
        if cluster.include_component {
            notices.push(format!(
                "cluster `{}`: {} does not list the component yet; `apply` adds\n    components:\n      - {reference}\n  \
                 (or set includeComponent: false and include it from Argo CD's spec.source.kustomize.components or Flux's spec.components: {component})",
                cluster.name, cluster_inventory.kustomization_file
            ));
        } else {
            notices.push(format!(
                "cluster `{}`: includeComponent is false: include {reference} (relative to {}) from Argo CD's \
                 spec.source.kustomize.components or Flux's spec.components",
                cluster.name, cluster.source.value
            ));
        }
    }
    notices
}

//! The plan checked against the repository: every file, workload and VirtualService it names must exist.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::mesh_config::enable_xds_agent;
use crate::plan::{Plan, WaveSelection};
use crate::render::istio_egress_gateway;
use crate::repo::{relative_path, Inventory, RepoFiles};
use crate::steps::{egress::route_through_asm, WorkloadKey};

/// Problems that stop rendering, each located in the plan (or in the repository file at fault).
pub fn check_plan_against_repo(
    plan: &Plan,
    inventory: &Inventory,
    files: &dyn RepoFiles,
    finished: bool,
) -> Result<(), Diagnostics> {
    let mut problems = Vec::new();
    let mesh = &plan.istio.mesh_config_path;
    if !finished {
        match files.read(&mesh.value) {
            Ok(Some(text)) => {
                if let Err(reason) = enable_xds_agent(plan.istio.mesh_config_kind, &text) {
                    problems.push(Diagnostic::in_file(
                        Path::new(&mesh.value),
                        format!("cannot set PROXY_CONFIG_XDS_AGENT here: {reason}"),
                    ));
                }
            }
            Ok(None) => {
                problems.push(plan.error_at(mesh.pos, format!("meshConfig.path `{}` does not exist", mesh.value)))
            }
            Err(problem) => problems.push(problem),
        }
        for path in &plan.istio.install_paths {
            if files.files_under(&path.value).is_empty() {
                problems.push(plan.error_at(path.pos, format!("install path `{}` does not exist", path.value)));
            }
        }
    }
    for wave in &plan.waves {
        let in_wave = || wave.clusters.iter().filter_map(|cluster| inventory.clusters.get(cluster));
        match &wave.selection {
            WaveSelection::Workloads(refs) => {
                for workload in refs {
                    let key = WorkloadKey::from(&workload.value);
                    let found: Vec<bool> = in_wave()
                        .flat_map(|cluster| &cluster.workloads)
                        .filter(|w| w.key == key)
                        .map(|w| w.injected)
                        .collect();
                    if found.is_empty() {
                        problems.push(plan.error_at(
                            workload.pos,
                            format!("wave `{}`: no cluster source of the wave defines {}", wave.name, workload.value),
                        ));
                    } else if !found.contains(&true) {
                        problems.push(plan.error_at(
                            workload.pos,
                            format!(
                                "wave `{}`: {} is not Istio-injected, so there is nothing to move to ASM",
                                wave.name, workload.value
                            ),
                        ));
                    }
                }
            }
            WaveSelection::Namespaces(namespaces) => {
                for namespace in namespaces {
                    let known = in_wave().any(|cluster| {
                        cluster.namespaces.contains_key(&namespace.value)
                            || cluster.workloads.iter().any(|w| w.key.namespace == namespace.value)
                    });
                    if !known {
                        problems.push(plan.error_at(
                            namespace.pos,
                            format!(
                                "wave `{}`: no cluster source of the wave has namespace `{}`",
                                wave.name, namespace.value
                            ),
                        ));
                    }
                }
            }
            WaveSelection::All => {}
        }
    }
    let istio_gateway_names = istio_gateway_selectors(inventory);
    for egress in &plan.egress {
        let mut found = false;
        for cluster in inventory.clusters.values() {
            let Some(virtual_service) =
                cluster.istio_object("VirtualService", &egress.virtual_service_namespace, &egress.virtual_service_name)
            else {
                continue;
            };
            found = true;
            let spec = virtual_service.value.get("spec").cloned().unwrap_or(Value::Null);
            if let Err(reason) = route_through_asm(&spec, &egress.asm_gateway, 1, false) {
                problems.push(Diagnostic::in_file(
                    Path::new(&virtual_service.file),
                    format!("{}: {reason}", virtual_service.describe()),
                ));
            }
            if let Err(diagnostics) = istio_egress_gateway(cluster, virtual_service) {
                problems.extend(diagnostics.0);
            }
        }
        if !found {
            problems.push(plan.error_at(
                egress.virtual_service_pos,
                format!(
                    "egress `{}`: no cluster source defines VirtualService {}/{}",
                    egress.name, egress.virtual_service_namespace, egress.virtual_service_name
                ),
            ));
        }
    }
    for ingress in &plan.ingress {
        let name = &ingress.asm_gateway.value;
        if istio_gateway_names.contains(name) || plan.egress.iter().any(|egress| &egress.asm_gateway == name) {
            problems.push(plan.error_at(
                ingress.asm_gateway.pos,
                format!("ingress `{}`: asmGateway `{name}` is already the name of another gateway; ASM's ingress gateway needs its own", ingress.name),
            ));
        }
    }
    for egress in &plan.egress {
        if istio_gateway_names.contains(&egress.asm_gateway) {
            problems.push(plan.error_at(
                egress.virtual_service_pos,
                format!(
                    "egress `{}`: asmGateway `{}` is the name of one of Istio's gateways",
                    egress.name, egress.asm_gateway
                ),
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Diagnostics(problems))
    }
}

/// The names Istio's gateways go by: `istio: <x>` selectors of Gateways, and their `istio-<x>` deployments.
fn istio_gateway_selectors(inventory: &Inventory) -> BTreeSet<String> {
    let mut names = BTreeSet::from([
        "istio-ingressgateway".to_owned(),
        "istio-egressgateway".to_owned(),
        "istio-eastwestgateway".to_owned(),
    ]);
    for cluster in inventory.clusters.values() {
        for gateway in cluster.istio_objects.iter().filter(|object| object.kind == "Gateway") {
            if let Some(selector) = gateway.value.pointer("/spec/selector/istio").and_then(Value::as_str) {
                names.insert(selector.to_owned());
                names.insert(format!("istio-{selector}"));
            }
        }
    }
    names
}

/// Notices that do not stop rendering: cluster sources that do not include their component yet.
pub fn notices(plan: &Plan, inventory: &Inventory) -> Vec<String> {
    let mut notices = Vec::new();
    for cluster in &plan.clusters {
        let Some(cluster_inventory) = inventory.clusters.get(&cluster.name) else { continue };
        if cluster_inventory.includes_component {
            continue;
        }
        let component = crate::repo::join(&plan.output.value, &format!("clusters/{}", cluster.name));
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

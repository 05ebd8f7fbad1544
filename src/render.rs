//! A step rendered into files in memory: the tool's output directory plus the few user files the plan names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use minijinja::context;
use serde_json::{json, Value};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::mesh_config::enable_xds_agent;
use crate::plan::{Engine, Plan, WorkloadKind};
use crate::repo::{
    is_within, join, normalize_repo_path_lossy, relative_path, ClusterInventory, Inventory, Object, RepoFiles,
    KUSTOMIZATION_FILES,
};
use crate::state::State;
use crate::steps::{desired_after, egress::route_through_asm, Desired, Phase, StepContext, StepId, WorkloadKey};
use crate::templates::Templates;
use crate::yaml_edit::{add_list_item, remove_list_items};

/// What applying a step does to the repository: files written (full content) and files removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderedStep {
    pub writes: BTreeMap<String, String>,
    pub removals: BTreeSet<String>,
}

impl RenderedStep {
    /// A digest of everything the step renders (paths and contents, and the paths it removes): equal digests,
    /// equal renderings. Commits carry it so a rerun can show it is a no-op.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for (path, content) in &self.writes {
            hasher.update(format!("write {} {}\n", path, content.len()));
            hasher.update(content.as_bytes());
        }
        for path in &self.removals {
            hasher.update(format!("remove {path}\n"));
        }
        let digest = hasher.finalize();
        format!("sha256:{}", digest.iter().map(|byte| format!("{byte:02x}")).collect::<String>())
    }
}

pub struct RenderInput<'a> {
    pub plan: &'a Plan,
    pub inventory: &'a Inventory,
    pub state: &'a State,
    pub fresh_stamp: &'a str,
    pub templates: &'a Templates,
    pub files: &'a dyn RepoFiles,
}

pub fn render_step(input: &RenderInput<'_>, step: &StepId) -> Result<RenderedStep, Diagnostics> {
    let plan = input.plan;
    let context = StepContext { plan, inventory: input.inventory, state: input.state, fresh_stamp: input.fresh_stamp };
    let desired = desired_after(&context, step);
    let template = |name: &str, values: minijinja::Value| {
        input
            .templates
            .render(name, values)
            .map_err(|error| Diagnostics::from(Diagnostic::in_file(Path::new(&error.name), error.detail)))
    };
    let out = &plan.output.value;
    let mut rendered = RenderedStep::default();

    let state = input.state.advanced_to(&step.to_string(), desired.restarted_at.as_deref());
    rendered.writes.insert(join(out, "state.yaml"), state.to_yaml());

    // The ASM control plane.
    let phase = desired.phase.unwrap_or(Phase::Init);
    let mut asm_resources = vec!["asmmigratefromistio.yaml".to_owned()];
    rendered.writes.insert(
        join(out, "asm/asmmigratefromistio.yaml"),
        template(
            "asm/asmmigratefromistio.yaml.j2",
            context! {
                plan => plan.name, api_version => plan.asm.api_version, desired_state => phase.name(),
                retry_counter => input.state.retry_counter, stop_istio_system_injection_disabling => desired.release_istio_system,
            },
        )?,
    );
    for gateway in asm_gateways(plan, input.inventory, &desired)? {
        let file = format!("istiogateway-{}.yaml", gateway.name);
        rendered.writes.insert(
            join(out, &format!("asm/{file}")),
            template(
                "asm/istiogateway.yaml.j2",
                context! {
                    plan => plan.name, api_version => plan.asm.api_version, name => gateway.name,
                    gateway_type => gateway.gateway_type, purpose => gateway.purpose,
                    cluster_ids => gateway.cluster_ids, ports => gateway.ports,
                },
            )?,
        );
        asm_resources.push(file);
    }
    rendered.writes.insert(
        join(out, "asm/kustomization.yaml"),
        template("asm/kustomization.yaml.j2", context! { plan => plan.name, resources => asm_resources })?,
    );

    // Each data-plane cluster's component.
    for cluster in &plan.clusters {
        let Some(inventory) = input.inventory.clusters.get(&cluster.name) else { continue };
        let dir = join(out, &format!("clusters/{}", cluster.name));
        let component = render_component(plan, cluster, inventory, &desired, &template)?;
        for (file, text) in component {
            rendered.writes.insert(join(&dir, &file), text);
        }
        if cluster.include_component && !inventory.includes_component {
            let file = &inventory.kustomization_file;
            let text = input.files.read(file).map_err(Diagnostics::from)?.unwrap_or_default();
            let reference = relative_path(&cluster.source.value, &dir);
            let edited = add_list_item(&text, "components", &reference).map_err(|reason| {
                Diagnostics::from(Diagnostic::in_file(Path::new(file), format!("cannot list the component: {reason}")))
            })?;
            rendered.writes.insert(file.clone(), edited);
        }
    }

    // Istio's own configuration.
    let install_paths: Vec<&str> = plan.istio.install_paths.iter().map(|path| path.value.as_str()).collect();
    let mesh_path = &plan.istio.mesh_config_path;
    let mesh_removed = desired.finished && install_paths.iter().any(|dir| is_within(&mesh_path.value, dir));
    if desired.xds_agent && !mesh_removed {
        let text = input.files.read(&mesh_path.value).map_err(Diagnostics::from)?.ok_or_else(|| {
            Diagnostics::from(
                plan.error_at(mesh_path.pos, format!("meshConfig.path `{}` does not exist", mesh_path.value)),
            )
        })?;
        let edited = enable_xds_agent(plan.istio.mesh_config_kind, &text).map_err(|reason| {
            Diagnostics::from(Diagnostic::in_file(
                Path::new(&mesh_path.value),
                format!("cannot set PROXY_CONFIG_XDS_AGENT: {reason}"),
            ))
        })?;
        if let Some(edited) = edited {
            rendered.writes.insert(mesh_path.value.clone(), edited);
        }
    }
    if desired.finished {
        for dir in &install_paths {
            rendered.removals.extend(input.files.files_under(dir));
        }
        remove_install_references(input, &install_paths, &mut rendered)?;
    }

    // The output directory holds only what this step renders.
    for file in input.files.files_under(out) {
        if !rendered.writes.contains_key(&file) {
            rendered.removals.insert(file);
        }
    }
    Ok(rendered)
}

/// At `finished`, every kustomization in the repository stops listing Istio's install paths, so that each one
/// still builds: cluster sources, and others such as Flux's infrastructure kustomizations.
fn remove_install_references(
    input: &RenderInput<'_>,
    install_paths: &[&str],
    rendered: &mut RenderedStep,
) -> Result<(), Diagnostics> {
    let out = &input.plan.output.value;
    let kustomizations: Vec<String> = input
        .files
        .files_under("")
        .into_iter()
        .filter(|file| KUSTOMIZATION_FILES.iter().any(|name| file == name || file.ends_with(&format!("/{name}"))))
        .filter(|file| !is_within(file, out) && !install_paths.iter().any(|dir| is_within(file, dir)))
        .collect();
    for file in &kustomizations {
        let dir = file.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("");
        let text = match rendered.writes.get(file.as_str()) {
            Some(text) => text.clone(),
            None => input.files.read(file).map_err(Diagnostics::from)?.unwrap_or_default(),
        };
        let edited = remove_list_items(&text, &["resources", "bases", "components"], |entry| {
            let target = normalize_repo_path_lossy(&join(dir, entry));
            install_paths.iter().any(|install| is_within(&target, install))
        })
        .map_err(|reason| {
            Diagnostics::from(Diagnostic::in_file(
                Path::new(file),
                format!("cannot drop Istio's install paths: {reason}"),
            ))
        })?;
        if let Some(edited) = edited {
            rendered.writes.insert(file.clone(), edited);
        }
    }
    Ok(())
}

struct AsmGateway {
    name: String,
    gateway_type: &'static str,
    purpose: String,
    cluster_ids: BTreeSet<String>,
    ports: Vec<Value>,
}

/// ASM's egress gateways (once their first weight is taken) and ingress gateways (once their step is taken).
fn asm_gateways(plan: &Plan, inventory: &Inventory, desired: &Desired) -> Result<Vec<AsmGateway>, Diagnostics> {
    let mut gateways: BTreeMap<String, AsmGateway> = BTreeMap::new();
    for egress in plan.egress.iter().filter(|egress| desired.egress_weights.contains_key(&egress.name)) {
        let gateway = gateways.entry(egress.asm_gateway.clone()).or_insert_with(|| AsmGateway {
            name: egress.asm_gateway.clone(),
            gateway_type: "egress",
            purpose: String::new(),
            cluster_ids: BTreeSet::new(),
            ports: Vec::new(),
        });
        gateway.purpose = format!(
            " (egress {})",
            plan.egress
                .iter()
                .filter(|e| e.asm_gateway == gateway.name)
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        for cluster in &plan.clusters {
            let Some(cluster_inventory) = inventory.clusters.get(&cluster.name) else { continue };
            let Some(virtual_service) = cluster_inventory.istio_object(
                "VirtualService",
                &egress.virtual_service_namespace,
                &egress.virtual_service_name,
            ) else {
                continue;
            };
            gateway.cluster_ids.insert(cluster.cluster_id.clone());
            let istio_gateway = istio_egress_gateway(cluster_inventory, virtual_service)?;
            for server in istio_gateway.value.pointer("/spec/servers").and_then(Value::as_array).into_iter().flatten() {
                let (Some(number), name) = (
                    server.pointer("/port/number").and_then(Value::as_u64),
                    server.pointer("/port/name").and_then(Value::as_str),
                ) else {
                    continue;
                };
                if !gateway.ports.iter().any(|port| port["port"] == json!(number)) {
                    let name = name.map(str::to_owned).unwrap_or_else(|| format!("port-{number}"));
                    gateway.ports.push(json!({"name": name, "port": number, "targetPort": number}));
                }
            }
        }
    }
    for ingress in plan.ingress.iter().filter(|ingress| desired.ingress.contains(&ingress.name)) {
        gateways.insert(
            ingress.asm_gateway.value.clone(),
            AsmGateway {
                name: ingress.asm_gateway.value.clone(),
                gateway_type: "ingress",
                purpose: format!(" (ingress {})", ingress.name),
                cluster_ids: plan.clusters.iter().map(|cluster| cluster.cluster_id.clone()).collect(),
                ports: ingress.ports.iter().map(|port| serde_json::to_value(port).expect("ports serialize")).collect(),
            },
        );
    }
    Ok(gateways.into_values().collect())
}

/// The Istio Gateway a VirtualService routes egress traffic through (its non-`mesh` gateway).
pub fn istio_egress_gateway<'i>(
    inventory: &'i ClusterInventory,
    virtual_service: &Object,
) -> Result<&'i Object, Diagnostics> {
    let namespace = virtual_service.namespace.clone().unwrap_or_default();
    let reference = virtual_service
        .value
        .pointer("/spec/gateways")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find(|gateway| *gateway != "mesh");
    let Some(reference) = reference else {
        return Err(Diagnostic::in_file(
            Path::new(&virtual_service.file),
            format!("{} routes through no egress gateway: its `gateways` list only `mesh`", virtual_service.describe()),
        )
        .into());
    };
    let (gateway_namespace, name) = reference.split_once('/').unwrap_or((namespace.as_str(), reference));
    inventory.istio_object("Gateway", gateway_namespace, name).ok_or_else(|| {
        Diagnostic::in_file(
            Path::new(&virtual_service.file),
            format!(
                "{} names gateway `{reference}`, which the cluster source does not define",
                virtual_service.describe()
            ),
        )
        .into()
    })
}

type TemplateFn<'t> = dyn Fn(&str, minijinja::Value) -> Result<String, Diagnostics> + 't;

/// The files of `<output>/clusters/<name>/`: a kustomize Component with patches and new objects.
fn render_component(
    plan: &Plan,
    cluster: &crate::plan::Cluster,
    inventory: &ClusterInventory,
    desired: &Desired,
    template: &TemplateFn<'_>,
) -> Result<BTreeMap<String, String>, Diagnostics> {
    let mut files = BTreeMap::new();
    let mut resources: Vec<String> = Vec::new();
    let mut patches: Vec<Value> = Vec::new();
    let engine_name = match plan.engine {
        Engine::ArgoCd => "Argo CD",
        Engine::Flux => "Flux",
    };

    // istio-system: the label removal ASM's east-west migration needs, and a namespace that is never pruned
    // once Istio's own manifests (which may have declared it) are gone.
    let declared = inventory.namespaces.contains_key("istio-system");
    let takeover_label =
        (plan.engine == Engine::Flux && desired.release_istio_system && desired.phase == Some(Phase::Init))
            .then_some("asm-migrate-takeover");
    if desired.release_istio_system || (desired.finished && !declared) {
        let mut annotations = BTreeMap::new();
        if declared {
            if plan.engine == Engine::ArgoCd {
                annotations.insert("argocd.argoproj.io/sync-options", "Replace=true");
            }
            files.insert(
                "istio-system-patch.yaml".to_owned(),
                template("cluster/istio-system-patch.yaml.j2", context! { engine_name, takeover_label, annotations })?,
            );
            patches.push(json!({"path": "istio-system-patch.yaml"}));
        } else {
            match plan.engine {
                Engine::ArgoCd if desired.release_istio_system => {
                    annotations.insert("argocd.argoproj.io/sync-options", "Prune=false,Replace=true")
                }
                Engine::ArgoCd => annotations.insert("argocd.argoproj.io/sync-options", "Prune=false"),
                Engine::Flux => annotations.insert("kustomize.toolkit.fluxcd.io/prune", "disabled"),
            };
            files.insert(
                "istio-system-namespace.yaml".to_owned(),
                template(
                    "cluster/istio-system-namespace.yaml.j2",
                    context! {
                        engine_name, takeover_label, annotations, network => cluster.network,
                        release => desired.release_istio_system,
                    },
                )?,
            );
            resources.push("istio-system-namespace.yaml".to_owned());
        }
    }

    // Kinds whose every workload gets a change take kustomize's builtin transformers (nearly free); the others
    // take targeted replacements and patches.
    let whole_kinds = |set: &BTreeSet<WorkloadKey>| -> Vec<WorkloadKind> {
        WorkloadKind::ALL
            .into_iter()
            .filter(|kind| {
                let mut of_kind = inventory.workloads.iter().filter(|workload| workload.key.kind == *kind).peekable();
                of_kind.peek().is_some() && of_kind.all(|workload| set.contains(&workload.key))
            })
            .collect()
    };
    let kind_names = |kinds: &[WorkloadKind]| kinds.iter().map(|kind| kind.name()).collect::<Vec<_>>();
    let mut transformers = Vec::new();
    let mut restart_targets = Vec::new();
    if let (Some(stamp), Some(workloads)) = (&desired.restarted_at, desired.restarts.get(&cluster.name)) {
        let whole = whole_kinds(workloads);
        if !whole.is_empty() {
            files.insert(
                "restart-transformer.yaml".to_owned(),
                template(
                    "cluster/restart-transformer.yaml.j2",
                    context! { restarted_at => stamp, kinds => kind_names(&whole) },
                )?,
            );
            transformers.push("restart-transformer.yaml".to_owned());
        }
        let rest: BTreeSet<WorkloadKey> = workloads.iter().filter(|key| !whole.contains(&key.kind)).cloned().collect();
        if !rest.is_empty() {
            files.insert(
                "restart-values.yaml".to_owned(),
                template("cluster/restart-values.yaml.j2", context! { restarted_at => stamp })?,
            );
            resources.push("restart-values.yaml".to_owned());
            restart_targets = replacement_targets(&rest, inventory);
        }
    }
    if let Some(workloads) = desired.asm_proxy.get(&cluster.name).filter(|workloads| !workloads.is_empty()) {
        let whole = whole_kinds(workloads);
        if !whole.is_empty() {
            files.insert(
                "asm-proxy-transformer.yaml".to_owned(),
                template("cluster/asm-proxy-transformer.yaml.j2", context! { kinds => kind_names(&whole) })?,
            );
            transformers.push("asm-proxy-transformer.yaml".to_owned());
        }
        let rest: BTreeSet<WorkloadKey> = workloads.iter().filter(|key| !whole.contains(&key.kind)).cloned().collect();
        if !rest.is_empty() {
            files.insert("asm-proxy-patch.yaml".to_owned(), template("cluster/asm-proxy-patch.yaml.j2", context! {})?);
            patches.extend(grouped_targets("asm-proxy-patch.yaml", &rest, inventory));
        }
    }

    let mut egress_gateways: BTreeMap<(String, String), (Value, Vec<Value>, String)> = BTreeMap::new();
    for egress in &plan.egress {
        let Some(weight) = desired.egress_weights.get(&egress.name) else { continue };
        let Some(virtual_service) =
            inventory.istio_object("VirtualService", &egress.virtual_service_namespace, &egress.virtual_service_name)
        else {
            continue;
        };
        let istio_gateway = istio_egress_gateway(inventory, virtual_service)?;
        let namespace = egress.virtual_service_namespace.clone();
        let entry = egress_gateways
            .entry((namespace.clone(), egress.asm_gateway.clone()))
            .or_insert_with(|| (json!(istio_gateway.api_version), Vec::new(), istio_gateway.name.clone()));
        for server in istio_gateway.value.pointer("/spec/servers").and_then(Value::as_array).into_iter().flatten() {
            if !entry.1.contains(server) {
                entry.1.push(server.clone());
            }
        }
        let spec = virtual_service.value.get("spec").cloned().unwrap_or(Value::Null);
        let routed = route_through_asm(&spec, &egress.asm_gateway, *weight, desired.finished).map_err(|reason| {
            Diagnostics::from(Diagnostic::in_file(
                Path::new(&virtual_service.file),
                format!("{}: {reason}", virtual_service.describe()),
            ))
        })?;
        let summary = if desired.finished {
            format!("all mesh traffic to ASM's egress gateway {}, Istio's out of the routes", egress.asm_gateway)
        } else {
            format!(
                "{}% of mesh traffic to ASM's egress gateway {}, {}% to Istio's",
                weight,
                egress.asm_gateway,
                100 - weight
            )
        };
        let file = format!("egress-{}-virtualservice-patch.yaml", egress.name);
        files.insert(
            file.clone(),
            template(
                "cluster/virtualservice-patch.yaml.j2",
                context! {
                    egress => egress.name, summary, api_version => virtual_service.api_version,
                    name => virtual_service.name, namespace, spec => routed,
                },
            )?,
        );
        patches.push(json!({"path": file}));
    }
    for ((namespace, name), (api_version, servers, istio_gateway)) in egress_gateways {
        let egress_names: Vec<&str> = plan
            .egress
            .iter()
            .filter(|e| e.asm_gateway == name && e.virtual_service_namespace == namespace)
            .map(|e| e.name.as_str())
            .collect();
        let file = format!("{name}-{namespace}-gateway.yaml");
        files.insert(
            file.clone(),
            template(
                "cluster/egress-gateway.yaml.j2",
                context! { plan => plan.name, egress => egress_names.join(", "), istio_gateway, api_version, name, namespace, servers },
            )?,
        );
        resources.push(file);
    }

    resources.sort();
    files.insert(
        "kustomization.yaml".to_owned(),
        template(
            "cluster/kustomization.yaml.j2",
            context! {
                plan => plan.name, cluster => cluster.name, source => inventory.kustomization_file,
                resources, transformers, restart_targets, patches,
            },
        )?,
    );
    Ok(files)
}

/// Replacement targets for the restart stamp. A target selects workloads by kind (and namespace) and rejects by
/// name those that must not restart; kustomize then sets the annotation in place, without the merge that makes a
/// patch per workload cost about as much as building the workload. kustomize compares every target with every
/// resource and every match with every reject, so for each kind the cheaper of two shapes is chosen: one target
/// for the kind, or one per namespace.
fn replacement_targets(workloads: &BTreeSet<WorkloadKey>, inventory: &ClusterInventory) -> Vec<Value> {
    let resources = inventory.object_count.max(1);
    let mut targets = Vec::new();
    for kind in WorkloadKind::ALL {
        let of_kind: Vec<&WorkloadKey> =
            inventory.workloads.iter().map(|w| &w.key).filter(|key| key.kind == kind).collect();
        let restarted: Vec<&&WorkloadKey> = of_kind.iter().filter(|key| workloads.contains(**key)).collect();
        if restarted.is_empty() {
            continue;
        }
        let rejected: Vec<&&WorkloadKey> = of_kind.iter().filter(|key| !workloads.contains(**key)).collect();
        let namespaces: BTreeSet<&str> = restarted.iter().map(|key| key.namespace.as_str()).collect();
        let per_namespace: Vec<(&str, Vec<&str>, usize)> = namespaces
            .iter()
            .map(|namespace| {
                let reject: Vec<&str> =
                    rejected.iter().filter(|key| key.namespace == *namespace).map(|key| key.name.as_str()).collect();
                let matched = of_kind.iter().filter(|key| key.namespace == *namespace).count();
                (*namespace, reject, matched)
            })
            .collect();
        let one_target_cost = resources + of_kind.len() * rejected.len();
        let per_namespace_cost: usize =
            per_namespace.iter().map(|(_, reject, matched)| resources + matched * reject.len()).sum();
        if one_target_cost < per_namespace_cost {
            let reject: Vec<Value> =
                rejected.iter().map(|key| json!({"namespace": key.namespace, "name": key.name})).collect();
            targets.push(json!({"kind": kind.name(), "reject": reject}));
        } else {
            for (namespace, reject, _) in per_namespace {
                let reject: Vec<Value> = reject.iter().map(|name| json!({"name": name})).collect();
                targets.push(json!({"kind": kind.name(), "namespace": namespace, "reject": reject}));
            }
        }
    }
    targets
}

/// Patch entries for workloads: for each kind, one entry for the namespaces whose workloads of that kind all move
/// (no name to match), and one per other namespace naming its workloads (kustomize anchors both regexes). Every
/// entry makes kustomize look at every resource, so the fewer the better, whatever the number of workloads.
fn grouped_targets(path: &str, workloads: &BTreeSet<WorkloadKey>, inventory: &ClusterInventory) -> Vec<Value> {
    let mut groups: BTreeMap<(WorkloadKind, &str), Vec<String>> = BTreeMap::new();
    for workload in workloads {
        groups.entry((workload.kind, workload.namespace.as_str())).or_default().push(workload.name.replace('.', "\\."));
    }
    let mut whole: BTreeMap<WorkloadKind, Vec<&str>> = BTreeMap::new();
    let mut entries = Vec::new();
    for ((kind, namespace), names) in groups {
        let whole_group = inventory
            .workloads
            .iter()
            .filter(|workload| workload.key.kind == kind && workload.key.namespace == namespace)
            .all(|workload| workloads.contains(&workload.key));
        if whole_group {
            whole.entry(kind).or_default().push(namespace);
        } else {
            entries.push(
                json!({"path": path, "target": {"kind": kind.name(), "namespace": namespace, "name": names.join("|")}}),
            );
        }
    }
    let mut targets: Vec<Value> = whole
        .into_iter()
        .map(|(kind, namespaces)| json!({"path": path, "target": {"kind": kind.name(), "namespace": namespaces.join("|")}}))
        .collect();
    targets.extend(entries);
    targets
}

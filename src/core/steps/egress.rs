//! `egress/<name>/<weight>`: the share of a VirtualService's mesh route sent to ASM's egress gateway, with that
//! gateway (an IstioGateway of the ASM control plane) and its Gateway in the cluster. The plan's `spec.egress`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use serde_saphyr::Spanned;

use crate::core::component::{AsmGateway, PatchedKey, Rendering};
use crate::core::desired::Desired;
use crate::core::diagnostic::{Diagnostic, Diagnostics, Pos};
use crate::core::gate::Gate;
use crate::core::inventory::{ClusterInventory, Inventory, Object};
use crate::core::json_patch;
use crate::core::names::{
    asm_gateway_workload, check_dns_label, check_dns_subdomain, dns_label, exact_name_pattern, unique_name,
};
use crate::core::observe::{ClusterRead, Observation};
use crate::core::settings::{pos, Checker, Located, Settings};
use crate::core::step_id::{Phase, StepId};
use crate::core::steps::{
    gateways_rolled_out, FoundSource, KindEffects, KindInfo, KindSummary, PendingStep, PlannedGateway, Proposal, ReadKind,
    StepContext, StepKind,
};
use crate::core::yaml::quoted;

/// An egress entry as written in the plan.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawEgress {
    name: Spanned<String>,
    virtual_service: Spanned<String>,
    asm_gateway: Spanned<String>,
    asm_gateway_service: Option<Spanned<String>>,
    weights: Spanned<Vec<Spanned<i64>>>,
}

#[derive(Debug, Clone)]
pub struct Egress {
    pub name: String,
    pub virtual_service_namespace: String,
    pub virtual_service_name: String,
    pub virtual_service_pos: Pos,
    pub asm_gateway: Located<String>,
    /// The Service of ASM's egress gateway in istio-system, when the plan renames it (else ASM's `istio-<name>`).
    pub asm_gateway_service: Option<String>,
    pub weights: Vec<u32>,
}

impl Egress {
    /// Where mesh traffic goes to reach ASM's egress gateway: the Service ASM creates for the IstioGateway
    /// (`istio-<name>` in istio-system), or the one the plan names.
    pub fn asm_host(&self) -> String {
        let service = self.asm_gateway_service.clone().unwrap_or_else(|| asm_gateway_workload(&self.asm_gateway.value));
        format!("{service}.istio-system.svc.cluster.local")
    }
}

/// The plan's egress entries: the egress step kind.
#[derive(Debug, Clone, Default)]
pub struct EgressRoutes(pub Vec<Egress>);

impl EgressRoutes {
    pub const KIND: &'static str = "egress";


    /// The entry and weight of one of the kind's steps (`egress/<name>/<weight>`).
    fn step(&self, step: &StepId) -> Option<(&Egress, u32)> {
        let (name, weight) = step.instance()?.split_once('/')?;
        let entry = self.0.iter().find(|entry| entry.name == name)?;
        Some((entry, weight.parse().ok()?))
    }
}

fn read_egress(entry: RawEgress, check: &mut Checker<'_>) -> Egress {
    check.asm_gateway_name(&entry.asm_gateway);
    if let Some(service) = &entry.asm_gateway_service {
        check.dns_label(service, "asmGatewayService");
    }
    let (namespace, name) = match entry.virtual_service.value.split_once('/') {
        Some((namespace, name)) if check_dns_label(namespace).is_ok() && check_dns_subdomain(name).is_ok() => {
            (namespace.to_owned(), name.to_owned())
        }
        _ => {
            check.fail(
                pos(&entry.virtual_service),
                format!(
                    "virtualService `{}` must be written namespace/name, a DNS-1123 label and a DNS-1123 subdomain",
                    quoted(&entry.virtual_service.value)
                ),
            );
            (String::new(), String::new())
        }
    };
    let weights = weights(&entry.weights, &entry.name.value, check);
    Egress {
        name: entry.name.value,
        virtual_service_namespace: namespace,
        virtual_service_name: name,
        virtual_service_pos: pos(&entry.virtual_service),
        asm_gateway: Located { value: entry.asm_gateway.value.clone(), pos: pos(&entry.asm_gateway) },
        asm_gateway_service: entry.asm_gateway_service.map(|service| service.value),
        weights,
    }
}

fn weights(raw: &Spanned<Vec<Spanned<i64>>>, name: &str, check: &mut Checker<'_>) -> Vec<u32> {
    if let [only] = raw.value.as_slice() {
        if only.value == 100 {
            check.warn(
                pos(raw),
                format!("egress `{name}` moves all of its traffic to ASM in one step"),
                "list weights that shift it step by step, such as [10, 50, 100], and check each step's gates before \
                 the next",
            );
        }
    }
    if raw.value.is_empty() {
        check.fail(pos(raw), "weights must not be empty: list the percentages sent to ASM, ending at 100");
        return Vec::new();
    }
    let mut previous = 0;
    for weight in &raw.value {
        if !(1..=100).contains(&weight.value) {
            check.fail(pos(weight), format!("weight {} is outside 1..100", weight.value));
        } else if weight.value <= previous {
            check.fail(
                pos(weight),
                format!(
                    "weight {} is not greater than {previous}, the weight before it: weights must be strictly increasing",
                    weight.value
                ),
            );
        }
        previous = previous.max(weight.value);
    }
    let last = raw.value.last().map(|weight| weight.value).unwrap_or_default();
    // A last weight outside 1..100 has been reported already.
    if last != 100 && (1..=100).contains(&last) {
        let at = raw.value.last().map(pos).unwrap_or_else(|| pos(raw));
        check.fail(at, format!("the last weight is {last}: it must be 100, so that all egress traffic ends on ASM"));
    }
    raw.value.iter().map(|weight| weight.value.clamp(0, 100) as u32).collect()
}

impl ReadKind for EgressRoutes {
    type Raw = Vec<RawEgress>;

    fn propose(sources: &[FoundSource<'_>]) -> Option<Proposal> {
        let routes = proposed_routes(sources);
        let entries = routes
            .iter()
            .map(|route| {
                json!({
                    "name": route.name, "from": route.from, "virtual_service": route.virtual_service,
                    "asm_gateway": route.asm_gateway, "weights": EGRESS_WEIGHTS,
                })
            })
            .collect();
        Some(Proposal {
            section: Self::KIND,
            template: "init/plan-egress.yaml.j2",
            entries,
            counted: "egress route(s)",
            gateway_clusters: routes.into_iter().flat_map(|route| route.clusters).collect(),
        })
    }

    fn read(raw: Vec<RawEgress>, _settings: &Settings, check: &mut Checker<'_>) -> EgressRoutes {
        EgressRoutes(check.named_entries(raw, "egress", |entry| &entry.name, read_egress))
    }
}

impl StepKind for EgressRoutes {
    fn info(&self) -> KindInfo {
        KindInfo { name: EgressRoutes::KIND, plural: "egress", phase: Phase::Migrating, switches_phase: false }
    }

    fn steps(&self) -> Vec<StepId> {
        self.0
            .iter()
            .flat_map(|entry| {
                entry
                    .weights
                    .iter()
                    .map(|weight| StepId::of_instance(EgressRoutes::KIND, &format!("{}/{weight}", entry.name)))
            })
            .collect()
    }

    /// The weights of one egress move forward, in increasing order.
    fn order_problem(&self, step: &StepId, before: &[StepId]) -> Option<String> {
        let (entry, weight) = self.step(step)?;
        let higher = before.iter().find(|earlier| {
            earlier.kind() == EgressRoutes::KIND
                && self.step(earlier).is_some_and(|(other, w)| other.name == entry.name && w > weight)
        })?;
        Some(format!(
            "step `{step}` comes after `{higher}`: the weights of one egress move forward, in increasing order"
        ))
    }

    /// Each entry's ASM egress gateway, in the clusters whose sources define its VirtualService.
    fn asm_gateways(&self, inventory: &Inventory) -> Vec<PlannedGateway> {
        self.0
            .iter()
            .map(|entry| {
                let clusters = inventory
                    .clusters
                    .iter()
                    .filter(|(_, cluster)| virtual_service(entry, cluster).is_some())
                    .map(|(name, _)| name.clone())
                    .collect();
                PlannedGateway::of(EgressRoutes::KIND, &entry.name, &entry.asm_gateway, false, clusters)
            })
            .collect()
    }

    /// The gates compare each cluster's VirtualServices with the step's weights.
    fn cluster_reads(&self) -> Vec<ClusterRead> {
        vec![VIRTUAL_SERVICES]
    }

    /// Before traffic moves to ASM's egress gateway (again): the gateway is rolled out where it is sent to.
    fn preconditions(&self, pending: &PendingStep<'_>, observation: &Observation) -> Vec<Gate> {
        let Some((entry, _)) = self.step(&pending.step) else { return Vec::new() };
        let gateways: Vec<&PlannedGateway> =
            pending.context.asm_gateways.iter().filter(|gateway| gateway.owner_is(Self::KIND, &entry.name)).collect();
        vec![gateways_rolled_out("ASM gateway rolled out", &gateways, observation)]
    }

    /// The engine has applied the step: each cluster's VirtualService sends the step's share to ASM's egress
    /// gateway, and that gateway is rolled out and ready where it is sent to.
    fn gates(&self, pending: &PendingStep<'_>, observation: &Observation) -> Vec<Gate> {
        let Some((entry, weight)) = self.step(&pending.step) else { return Vec::new() };
        let host = entry.asm_host();
        let mut pending_clusters = Vec::new();
        for (cluster, inventory) in &pending.context.inventory.clusters {
            if virtual_service(entry, inventory).is_none() {
                continue;
            }
            let shown = format!("{cluster}: {}/{}", entry.virtual_service_namespace, entry.virtual_service_name);
            let observed = observation.clusters.get(cluster).and_then(|observed| observed.lists.get(VIRTUAL_SERVICES.name));
            let Some(observed) = observed else {
                pending_clusters
                    .push(format!("{cluster}: VirtualServices not read (a snapshot without virtualservices.yaml)"));
                continue;
            };
            let live = observed
                .iter()
                .map(VirtualServiceObservation::from_object)
                .find(|vs| vs.namespace == entry.virtual_service_namespace && vs.name == entry.virtual_service_name);
            match live.map(|vs| vs.mesh_weight_to(&host)) {
                None => pending_clusters.push(format!("{shown} (not found)")),
                Some(live) if live == Some(u64::from(weight)) => {}
                Some(live) => pending_clusters.push(format!(
                    "{shown} sends {}% to {host}, the step {weight}% (not applied yet)",
                    live.unwrap_or(0)
                )),
            }
        }
        let gateways: Vec<&PlannedGateway> =
            pending.context.asm_gateways.iter().filter(|gateway| gateway.owner_is(Self::KIND, &entry.name)).collect();
        vec![
            Gate::unless_found(
                "VirtualService weights applied",
                &pending_clusters,
                "VirtualService(s) without the step's weights",
            ),
            gateways_rolled_out("ASM gateway rolled out", &gateways, observation),
        ]
    }

    /// Each VirtualService exists, routes mesh traffic through one Istio egress gateway the source defines.
    fn check(&self, context: &StepContext<'_>) -> Vec<Diagnostic> {
        let mut problems = Vec::new();
        for entry in &self.0 {
            let mut found = false;
            for cluster in context.inventory.clusters.values() {
                let Some(virtual_service) = virtual_service(entry, cluster) else { continue };
                found = true;
                let spec = virtual_service.value.get("spec").cloned().unwrap_or(Value::Null);
                if let Err(reason) = route_operations(&spec, &entry.asm_gateway.value, &entry.asm_host(), 1, false) {
                    problems.push(virtual_service.error(reason));
                }
                if let Err(problem) = istio_egress_gateway(cluster, virtual_service) {
                    problems.push(problem);
                }
            }
            if !found {
                problems.push(context.settings.error_at(
                    entry.virtual_service_pos,
                    format!(
                        "egress `{}`: no cluster source defines VirtualService {}/{}",
                        entry.name, entry.virtual_service_namespace, entry.virtual_service_name
                    ),
                ));
            }
        }
        problems
    }

    /// The share of each entry's mesh traffic that moves, and Istio's egress gateway out of the routes at `finished`.
    fn effects(&self, before: &Desired, after: &Desired) -> KindEffects {
        let mut shifts = Vec::new();
        let names: BTreeSet<&str> =
            before.traffic_of(Self::KIND).chain(after.traffic_of(Self::KIND)).map(|(name, _)| name).collect();
        for name in names {
            let from = before.traffic(Self::KIND, name).unwrap_or(0);
            let to = after.traffic(Self::KIND, name).unwrap_or(0);
            let istio_removed = after.finished && !before.finished && after.traffic(Self::KIND, name).is_some();
            if from != to || istio_removed {
                shifts.push(EgressShift { name: name.to_owned(), from_percent: from, to_percent: to, istio_removed });
            }
        }
        let lines = shifts
            .iter()
            .map(|shift| match shift.istio_removed {
                true => {
                    format!("egress {}: Istio's egress gateway out of the routes, all traffic through ASM's", shift.name)
                }
                false => format!(
                    "egress {}: {}% -> {}% of mesh traffic through ASM's egress gateway",
                    shift.name, shift.from_percent, shift.to_percent
                ),
            })
            .collect();
        KindEffects { fields: vec![(Self::KIND, json!(shifts))], lines }
    }

    /// Each entry's route and the gateway it shifts to, with its weights.
    fn summary(&self) -> Option<KindSummary> {
        let json = self
            .0
            .iter()
            .map(|entry| {
                json!({
                    "name": entry.name,
                    "virtualService": {"namespace": entry.virtual_service_namespace, "name": entry.virtual_service_name},
                    "asmGateway": entry.asm_gateway.value,
                    "host": entry.asm_host(),
                    "weights": entry.weights,
                })
            })
            .collect();
        let lines = self
            .0
            .iter()
            .map(|entry| {
                format!(
                    "  egress {}: VirtualService {}/{} sends mesh traffic to ASM's egress gateway {} at {}, weights {}",
                    entry.name,
                    entry.virtual_service_namespace,
                    entry.virtual_service_name,
                    entry.asm_gateway.value,
                    entry.asm_host(),
                    entry.weights.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        Some(KindSummary { key: Self::KIND, json: Value::Array(json), lines })
    }

    fn add_to_desired(&self, step: &StepId, _context: &StepContext<'_>, desired: &mut Desired) {
        if let Some((entry, weight)) = self.step(step) {
            desired.traffic.insert((Self::KIND, entry.name.clone()), weight);
        }
    }

    fn render(&self, pending: &PendingStep<'_>, rendering: &mut Rendering<'_>) -> Result<(), Diagnostics> {
        self.render_asm_gateways(pending, rendering)?;
        let context = &pending.context;
        for cluster in &context.settings.clusters {
            let Some(inventory) = context.inventory.clusters.get(&cluster.name) else { continue };
            self.render_cluster(pending, inventory, &cluster.name, rendering)?;
        }
        Ok(())
    }
}

impl EgressRoutes {
    /// ASM's egress gateways (from `migrating` on), on every cluster whose source routes through them.
    fn render_asm_gateways(&self, pending: &PendingStep<'_>, rendering: &mut Rendering<'_>) -> Result<(), Diagnostics> {
        let context = &pending.context;
        if !pending.desired.asm_gateways {
            return Ok(());
        }
        for entry in &self.0 {
            let name = &entry.asm_gateway.value;
            let sharing: Vec<&str> =
                self.0.iter().filter(|e| &e.asm_gateway.value == name).map(|e| e.name.as_str()).collect();
            let gateway = rendering.asm_gateways.entry(name.clone()).or_insert_with(|| AsmGateway {
                name: name.clone(),
                gateway_type: "egress",
                purpose: String::new(),
                cluster_ids: BTreeSet::new(),
                ports: Vec::new(),
                // Reached from the mesh only.
                service_type: "ClusterIP".to_owned(),
                pod_labels: BTreeMap::new(),
            });
            gateway.purpose = format!(" (egress {})", sharing.join(", "));
            for cluster in &context.settings.clusters {
                let Some(inventory) = context.inventory.clusters.get(&cluster.name) else { continue };
                let Some(virtual_service) = virtual_service(entry, inventory) else { continue };
                // A cluster without an ID has been refused by the plan's check.
                gateway.cluster_ids.extend(cluster.cluster_id.clone());
                let istio_gateway = istio_egress_gateway(inventory, virtual_service)?;
                for (number, name) in servers(istio_gateway).filter_map(server_port) {
                    if !gateway.ports.iter().any(|port| port["port"] == json!(number)) {
                        let name = name.map(str::to_owned).unwrap_or_else(|| format!("port-{number}"));
                        gateway.ports.push(json!({"name": name, "port": number, "targetPort": number}));
                    }
                }
            }
        }
        Ok(())
    }

    /// In one cluster: a Gateway selecting ASM's egress pods per namespace and ASM gateway, with the servers of the
    /// Istio Gateways it stands beside (from `migrating` on), and each VirtualService's route split (a patch).
    fn render_cluster(
        &self,
        pending: &PendingStep<'_>,
        inventory: &ClusterInventory,
        cluster: &str,
        rendering: &mut Rendering<'_>,
    ) -> Result<(), Diagnostics> {
        let (settings, desired) = (pending.context.settings, &pending.desired);
        let mut gateways: BTreeMap<(String, String), (Value, Vec<Value>, String)> = BTreeMap::new();
        for entry in self.0.iter().filter(|_| desired.asm_gateways) {
            let Some(virtual_service) = virtual_service(entry, inventory) else { continue };
            let istio_gateway = istio_egress_gateway(inventory, virtual_service)?;
            let namespace = entry.virtual_service_namespace.clone();
            let (_, servers_so_far, _) = gateways
                .entry((namespace.clone(), entry.asm_gateway.value.clone()))
                .or_insert_with(|| (json!(istio_gateway.api_version), Vec::new(), istio_gateway.name.to_string()));
            for server in servers(istio_gateway) {
                if !servers_so_far.contains(server) {
                    servers_so_far.push(server.clone());
                }
            }
            let Some(weight) = desired.traffic(Self::KIND, &entry.name) else { continue };
            let spec = virtual_service.value.get("spec").cloned().unwrap_or(Value::Null);
            let operations =
                route_operations(&spec, &entry.asm_gateway.value, &entry.asm_host(), weight, desired.finished)
                    .map_err(|reason| virtual_service.error(reason))?;
            let text = route_patch(entry, virtual_service, &operations, weight, desired.finished, rendering)?;
            // The VirtualService as the cluster builds it, patched: what ASM imports in its place.
            let mut routed = virtual_service.value.as_ref().clone();
            json_patch::apply(&mut routed, &operations)
                .map_err(|error| virtual_service.error(format!("its route cannot be split: {error}")))?;
            let key = PatchedKey::of(cluster, virtual_service);
            rendering.patched_istio_objects.insert(key, routed);
            let file = format!("egress-{}-virtualservice-patch.yaml", entry.name);
            let component = rendering.component(cluster);
            component.files.insert(file.clone(), text);
            let version = virtual_service.api_version.rsplit_once('/').map_or("v1", |(_, version)| version);
            component.patches.push(json!({"path": file, "target": {
                "group": "networking.istio.io", "version": version, "kind": "VirtualService",
                // kustomize matches names as anchored regular expressions.
                "namespace": exact_name_pattern(&entry.virtual_service_namespace),
                "name": exact_name_pattern(&virtual_service.name),
            }}));
        }
        for ((namespace, name), (api_version, servers, istio_gateway)) in gateways {
            let egress: Vec<&str> = self
                .0
                .iter()
                .filter(|e| e.asm_gateway.value == name && e.virtual_service_namespace == namespace)
                .map(|e| e.name.as_str())
                .collect();
            let text = rendering.template(
                "cluster/egress-gateway.yaml.j2",
                context! {
                    plan => settings.name, egress => egress.join(", "), istio_gateway, api_version, name,
                    namespace, servers,
                },
            )?;
            rendering.component(cluster).resource(&format!("{name}-{namespace}-gateway.yaml"), text);
        }
        Ok(())
    }
}

/// A step's shift of one egress route, as `--output json` reports it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct EgressShift {
    name: String,
    /// Percent of the route's mesh traffic sent to ASM's egress gateway, before and after.
    from_percent: u32,
    to_percent: u32,
    /// Istio's egress gateway is out of the routes.
    istio_removed: bool,
}

/// The patch of a VirtualService that splits its mesh route (or, at `finished`, sends it all to ASM): its
/// `operations`, from `route_operations`.
fn route_patch(
    entry: &Egress,
    virtual_service: &Object,
    operations: &[Value],
    weight: u32,
    finished: bool,
    rendering: &Rendering<'_>,
) -> Result<String, Diagnostics> {
    let asm_gateway = &entry.asm_gateway.value;
    let summary = if finished {
        format!("all mesh traffic to ASM's egress gateway {asm_gateway}, Istio's out of the routes")
    } else {
        format!("{weight}% of mesh traffic to ASM's egress gateway {asm_gateway}, {}% to Istio's", 100 - weight)
    };
    rendering.template(
        "cluster/virtualservice-patch.yaml.j2",
        context! {
            egress => entry.name, summary, name => virtual_service.name,
            namespace => entry.virtual_service_namespace, operations,
        },
    )
}

fn virtual_service<'i>(entry: &Egress, inventory: &'i ClusterInventory) -> Option<&'i Object> {
    inventory.istio_object("VirtualService", &entry.virtual_service_namespace, &entry.virtual_service_name)
}

fn servers(gateway: &Object) -> impl Iterator<Item = &Value> {
    gateway.value.pointer("/spec/servers").and_then(Value::as_array).into_iter().flatten()
}

/// A Gateway server's port number and name, when it has a number.
fn server_port(server: &Value) -> Option<(u64, Option<&str>)> {
    let number = server.pointer("/port/number").and_then(Value::as_u64)?;
    Some((number, server.pointer("/port/name").and_then(Value::as_str)))
}

/// The Istio Gateway a VirtualService routes egress traffic through (its non-`mesh` gateway).
pub fn istio_egress_gateway<'i>(
    inventory: &'i ClusterInventory,
    virtual_service: &Object,
) -> Result<&'i Object, Diagnostic> {
    let namespace = virtual_service.namespace.clone().unwrap_or_default();
    let reference = virtual_service.strings("/spec/gateways").find(|gateway| *gateway != "mesh");
    let in_its_file = |message: String| Diagnostic::in_file(Path::new(&*virtual_service.file), message);
    let Some(reference) = reference else {
        return Err(in_its_file(format!(
            "{} routes through no egress gateway: its `gateways` list only `mesh`",
            virtual_service.describe()
        )));
    };
    let (gateway_namespace, name) = reference.split_once('/').unwrap_or((&*namespace, reference));
    inventory.istio_object("Gateway", gateway_namespace, name).ok_or_else(|| {
        in_its_file(format!(
            "{} names gateway `{reference}`, which the cluster source does not define",
            virtual_service.describe()
        ))
    })
}

/// Why a VirtualService does not have the shape the egress steps edit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("its `gateways` do not include `mesh`, so no route sends mesh traffic to an egress gateway")]
    NoMesh,
    #[error("its `gateways` name no egress gateway besides `mesh`")]
    NoEgressGateway,
    #[error("its mesh route {protocol}[{index}] must send to exactly one destination (Istio's egress gateway); it has {count}")]
    MeshRouteDestinations { protocol: &'static str, index: usize, count: usize },
    #[error("no route matches `gateways: [mesh]`")]
    NoMeshRoute,
}

/// JSON patch operations on a VirtualService that send its mesh traffic `100-weight` : `weight` to Istio's and
/// ASM's egress gateways (at `finished`, all to ASM's, Istio's out), with ASM's Gateway beside Istio's wherever the
/// VirtualService names it. Only those lists and destinations change, each tested first.
pub fn route_operations(
    spec: &Value,
    asm_gateway: &str,
    asm_host: &str,
    weight: u32,
    finished: bool,
) -> Result<Vec<Value>, RouteError> {
    let gateways = names(spec.get("gateways"));
    if !gateways.contains(&"mesh") {
        return Err(RouteError::NoMesh);
    }
    let istio_gateways: Vec<&str> =
        gateways.iter().copied().filter(|gateway| *gateway != "mesh" && *gateway != asm_gateway).collect();
    if istio_gateways.is_empty() {
        return Err(RouteError::NoEgressGateway);
    }
    let swap = GatewaySwap { istio: &istio_gateways, asm: asm_gateway, finished };
    let mut operations = swap.operations("/spec/gateways", &gateways);
    let mut mesh_routes = 0;
    for protocol in ["http", "tls", "tcp"] {
        let Some(routes) = spec.get(protocol).and_then(Value::as_array) else { continue };
        for (index, route) in routes.iter().enumerate() {
            let mut is_mesh = false;
            for (rule, matched) in route.get("match").and_then(Value::as_array).into_iter().flatten().enumerate() {
                let Some(list) = matched.get("gateways") else { continue };
                let names = names(Some(list));
                is_mesh |= names.contains(&"mesh");
                operations.extend(swap.operations(&format!("/spec/{protocol}/{index}/match/{rule}/gateways"), &names));
            }
            if is_mesh {
                mesh_routes += 1;
                let at = MeshRoute { protocol, index, asm_host };
                operations.extend(at.split(route, weight, finished)?);
            }
        }
    }
    if mesh_routes == 0 {
        return Err(RouteError::NoMeshRoute);
    }
    Ok(operations)
}

fn names(list: Option<&Value>) -> Vec<&str> {
    list.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect()
}

/// ASM's egress gateway beside Istio's in a list of gateway names (at `finished`, instead of them).
struct GatewaySwap<'a> {
    istio: &'a [&'a str],
    asm: &'a str,
    finished: bool,
}

impl GatewaySwap<'_> {
    fn swapped(&self, list: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for gateway in list {
            if self.istio.contains(gateway) {
                if !self.finished {
                    out.push((*gateway).to_owned());
                }
                if !out.iter().any(|g| g == self.asm) {
                    out.push(self.asm.to_owned());
                }
            } else if *gateway != self.asm || !out.iter().any(|g| g == self.asm) {
                out.push((*gateway).to_owned());
            }
        }
        out
    }

    /// The list at `path` tested, then replaced by its swapped version; nothing when the swap changes nothing.
    fn operations(&self, path: &str, list: &[&str]) -> Vec<Value> {
        let swapped = self.swapped(list);
        if swapped == list {
            return Vec::new();
        }
        vec![
            json!({"op": "test", "path": path, "value": list}),
            json!({"op": "replace", "path": path, "value": swapped}),
        ]
    }
}

/// The mesh route at `/spec/<protocol>/<index>`.
struct MeshRoute<'a> {
    protocol: &'static str,
    index: usize,
    asm_host: &'a str,
}

impl MeshRoute<'_> {
    /// Its one destination (Istio's egress gateway) tested, then weighted beside ASM's, or replaced by ASM's.
    fn split(&self, route: &Value, weight: u32, finished: bool) -> Result<Vec<Value>, RouteError> {
        let destinations = route.get("route").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let istio = destinations
            .iter()
            .find(|d| d.pointer("/destination/host").and_then(Value::as_str) != Some(self.asm_host))
            .filter(|_| destinations.len() == 1);
        let Some(istio) = istio else {
            let (protocol, index, count) = (self.protocol, self.index, destinations.len());
            return Err(RouteError::MeshRouteDestinations { protocol, index, count });
        };
        let path = format!("/spec/{}/{}/route", self.protocol, self.index);
        let mut asm = json!({"destination": {"host": self.asm_host}});
        if let Some(port) = istio.pointer("/destination/port") {
            asm["destination"]["port"] = port.clone();
        }
        let host = istio.pointer("/destination/host").cloned().unwrap_or(Value::Null);
        let test = json!({"op": "test", "path": format!("{path}/0/destination/host"), "value": host});
        if finished {
            return Ok(vec![test, json!({"op": "replace", "path": format!("{path}/0"), "value": asm})]);
        }
        asm["weight"] = json!(weight);
        Ok(vec![
            test,
            json!({"op": "add", "path": format!("{path}/0/weight"), "value": 100 - weight}),
            json!({"op": "add", "path": format!("{path}/1"), "value": asm}),
        ])
    }
}

// ---- What the gates read ----

/// Every VirtualService of a cluster, as the GitOps engine last applied it.
const VIRTUAL_SERVICES: ClusterRead = ClusterRead {
    name: "virtualservices",
    group: "networking.istio.io",
    version: "v1beta1",
    kind: "VirtualService",
    plural: "virtualservices",
    namespace: None,
    what: "virtualservices.networking.istio.io",
    unserved_is_empty: true,
};

/// A VirtualService as the cluster has it: what the GitOps engine last applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualServiceObservation {
    pub namespace: String,
    pub name: String,
    pub spec: Value,
}

impl VirtualServiceObservation {
    pub fn from_object(object: &Value) -> VirtualServiceObservation {
        let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned();
        VirtualServiceObservation {
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name"),
            spec: object.get("spec").cloned().unwrap_or(Value::Null),
        }
    }

    /// The weight of the destinations to `host` in the routes that carry mesh traffic (`gateways: [mesh]`, or
    /// no gateways named), as Istio reads it: a lone destination without a weight takes 100.
    pub fn mesh_weight_to(&self, host: &str) -> Option<u64> {
        let mut found = None;
        for protocol in ["http", "tls", "tcp"] {
            for route in self.spec.get(protocol).and_then(Value::as_array).into_iter().flatten() {
                let matches: Vec<&Value> = route.get("match").and_then(Value::as_array).into_iter().flatten().collect();
                let mesh = matches.is_empty()
                    || matches.iter().any(|matched| {
                        matched
                            .get("gateways")
                            .and_then(Value::as_array)
                            .is_none_or(|gateways| gateways.iter().any(|gateway| gateway == "mesh"))
                    });
                let destinations = route.get("route").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
                for destination in destinations.iter().filter(|_| mesh) {
                    if destination.pointer("/destination/host").and_then(Value::as_str) == Some(host) {
                        let weight = destination.get("weight").and_then(Value::as_u64);
                        let weight = weight.unwrap_or(if destinations.len() == 1 { 100 } else { 0 });
                        found = Some(found.unwrap_or(0) + weight);
                    }
                }
            }
        }
        found
    }
}

// ---- What `init` proposes ----

/// The weights `init` proposes for each egress route: a small share first, then larger ones.
const EGRESS_WEIGHTS: [u32; 4] = [1, 10, 50, 100];

/// A VirtualService that sends mesh traffic through Istio's egress gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProposedEgress {
    name: String,
    /// `namespace/name`.
    virtual_service: String,
    asm_gateway: String,
    clusters: Vec<String>,
    from: String,
}

/// The name `init` gives ASM's egress gateway.
const ASM_EGRESS_GATEWAY: &str = "asm-egressgateway";

/// Each VirtualService that sends mesh traffic through an Istio egress gateway, once, with the clusters defining it.
fn proposed_routes(sources: &[FoundSource<'_>]) -> Vec<ProposedEgress> {
    let mut routes: Vec<ProposedEgress> = Vec::new();
    for source in sources {
        let inventory = source.inventory;
        for virtual_service in inventory.istio_objects.iter().filter(|object| &*object.kind == "VirtualService") {
            if !virtual_service.strings("/spec/gateways").any(|gateway| gateway == "mesh") {
                continue;
            }
            let Ok(gateway) = istio_egress_gateway(inventory, virtual_service) else { continue };
            let selector = gateway.value.pointer("/spec/selector").and_then(Value::as_object);
            let egress =
                selector.into_iter().flatten().any(|(_, value)| value.as_str().is_some_and(|v| v.contains("egress")));
            if !egress {
                continue;
            }
            let reference =
                format!("{}/{}", virtual_service.namespace.as_deref().unwrap_or("default"), virtual_service.name);
            match routes.iter_mut().find(|route| route.virtual_service == reference) {
                Some(route) => route.clusters.push(source.cluster.to_owned()),
                None => routes.push(ProposedEgress {
                    name: dns_label(&virtual_service.name),
                    virtual_service: reference,
                    asm_gateway: ASM_EGRESS_GATEWAY.to_owned(),
                    clusters: vec![source.cluster.to_owned()],
                    from: virtual_service.describe(),
                }),
            }
        }
    }
    let mut taken = BTreeMap::new();
    for route in &mut routes {
        route.name = unique_name(&route.name, &taken);
        taken.insert(route.name.clone(), 0);
    }
    routes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::gate::GateOutcome;
    use crate::core::observe::ClusterObservation;
    use crate::testkit::MemoryRepo;

    /// The Service ASM creates for the IstioGateway `asm-egressgateway`.
    const ASM_HOST: &str = "istio-asm-egressgateway.istio-system.svc.cluster.local";

    fn cnn() -> Value {
        json!({
            "hosts": ["edition.cnn.com"],
            "gateways": ["istio-egressgateway", "mesh"],
            "http": [
                {"match": [{"gateways": ["mesh"], "port": 80}],
                 "timeout": "5s",
                 "route": [{"destination": {"host": "istio-egressgateway.istio-system.svc.cluster.local", "subset": "cnn", "port": {"number": 80}}, "weight": 100}]},
                {"match": [{"gateways": ["istio-egressgateway"], "port": 80}],
                 "route": [{"destination": {"host": "edition.cnn.com", "port": {"number": 80}}, "weight": 100}]}
            ]
        })
    }

    #[test]
    fn the_mesh_route_is_split_and_asms_gateway_added_beside_istios_nothing_else_touched() {
        let operations = route_operations(&cnn(), "asm-egressgateway", ASM_HOST, 10, false).unwrap();
        let istio_host = "istio-egressgateway.istio-system.svc.cluster.local";
        assert_eq!(
            operations,
            [
                json!({"op": "test", "path": "/spec/gateways", "value": ["istio-egressgateway", "mesh"]}),
                json!({"op": "replace", "path": "/spec/gateways", "value": ["istio-egressgateway", "asm-egressgateway", "mesh"]}),
                json!({"op": "test", "path": "/spec/http/0/route/0/destination/host", "value": istio_host}),
                json!({"op": "add", "path": "/spec/http/0/route/0/weight", "value": 90}),
                json!({"op": "add", "path": "/spec/http/0/route/1", "value": {"destination": {"host": "istio-asm-egressgateway.istio-system.svc.cluster.local", "port": {"number": 80}}, "weight": 10}}),
                json!({"op": "test", "path": "/spec/http/1/match/0/gateways", "value": ["istio-egressgateway"]}),
                json!({"op": "replace", "path": "/spec/http/1/match/0/gateways", "value": ["istio-egressgateway", "asm-egressgateway"]}),
            ]
        );
        assert!(!operations.iter().any(|op| op["path"].as_str().unwrap().contains("timeout")));
    }

    #[test]
    fn finished_leaves_only_asm() {
        let operations = route_operations(&cnn(), "asm-egressgateway", ASM_HOST, 100, true).unwrap();
        assert!(operations
            .contains(&json!({"op": "replace", "path": "/spec/gateways", "value": ["asm-egressgateway", "mesh"]})));
        assert!(operations.contains(&json!({"op": "replace", "path": "/spec/http/0/route/0", "value": {"destination": {"host": "istio-asm-egressgateway.istio-system.svc.cluster.local", "port": {"number": 80}}}})));
        assert!(operations.contains(
            &json!({"op": "replace", "path": "/spec/http/1/match/0/gateways", "value": ["asm-egressgateway"]})
        ));
    }

    #[test]
    fn a_mesh_route_already_split_is_an_error() {
        let mut spec = cnn();
        spec["http"][0]["route"].as_array_mut().unwrap().push(json!({"destination": {"host": "x"}}));
        assert_eq!(
            route_operations(&spec, "asm-egressgateway", ASM_HOST, 1, false).unwrap_err(),
            RouteError::MeshRouteDestinations { protocol: "http", index: 0, count: 2 }
        );
    }

    /// The shop example with its steps taken up to `step`, in memory.
    fn shop_at(step: &str) -> crate::core::migration::Migration {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/repos/shop");
        MemoryRepo::read_dir(&root).unwrap().at(step).unwrap().migration().unwrap()
    }

    /// The shop's stripe VirtualService as a cluster shows it, its mesh route split `100-weight` : `weight`.
    fn stripe_at(weight: u64) -> Value {
        json!({
            "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"namespace": "payments", "name": "stripe-through-egress-gateway"},
            "spec": {"gateways": ["istio-egressgateway", "asm-egressgateway", "mesh"], "http": [
                {"match": [{"gateways": ["mesh"], "port": 80}], "route": [
                    {"destination": {"host": "istio-egressgateway.istio-system.svc.cluster.local"}, "weight": 100 - weight},
                    {"destination": {"host": ASM_HOST}, "weight": weight}]}]}
        })
    }

    /// The outcome of the gate named `name` of the migration's current step, over `observation`.
    fn outcome(migration: &crate::core::migration::Migration, observation: &Observation, name: &str) -> GateOutcome {
        let (_, gates) = migration.gates(observation).unwrap().expect("a current step");
        gates.into_iter().find(|gate| gate.name == name).expect("the gate").outcome
    }

    #[test]
    fn the_weights_gate_is_met_only_when_every_cluster_shows_the_steps_share() {
        let migration = shop_at("egress/stripe/10");
        let clusters: Vec<String> = migration.plan.settings.clusters.iter().map(|c| c.name.clone()).collect();
        let showing = |weights: &[u64]| Observation {
            clusters: clusters
                .iter()
                .zip(weights)
                .map(|(cluster, weight)| {
                    let lists = [(VIRTUAL_SERVICES.name, vec![stripe_at(*weight)])].into();
                    (cluster.clone(), ClusterObservation { lists, ..ClusterObservation::default() })
                })
                .collect(),
            ..Observation::default()
        };
        assert_eq!(outcome(&migration, &showing(&[10, 10]), "VirtualService weights applied"), GateOutcome::Met);
        let lagging = outcome(&migration, &showing(&[10, 1]), "VirtualService weights applied");
        assert_eq!(
            lagging,
            GateOutcome::Unmet(format!(
                "1 VirtualService(s) without the step's weights: {}: payments/stripe-through-egress-gateway sends 1% to \
                 {ASM_HOST}, the step 10% (not applied yet)",
                clusters[1]
            ))
        );
    }

    #[test]
    fn a_cluster_whose_virtual_services_were_not_read_does_not_meet_the_weights_gate() {
        let migration = shop_at("egress/stripe/10");
        let unread: Observation = Observation {
            clusters: migration
                .plan
                .settings
                .clusters
                .iter()
                .map(|cluster| (cluster.name.clone(), ClusterObservation::default()))
                .collect(),
            ..Observation::default()
        };
        let GateOutcome::Unmet(reason) = outcome(&migration, &unread, "VirtualService weights applied") else {
            panic!("VirtualServices nobody read are no evidence of the weights")
        };
        assert!(reason.contains("VirtualServices not read (a snapshot without virtualservices.yaml)"), "{reason}");
    }

    #[test]
    fn the_kinds_gates_read_every_clusters_virtual_services() {
        assert_eq!(EgressRoutes::default().cluster_reads(), [VIRTUAL_SERVICES]);
        let listed = VirtualServiceObservation::from_object(&stripe_at(50));
        assert_eq!(listed.mesh_weight_to(ASM_HOST), Some(50));
    }
}

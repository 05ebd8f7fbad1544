//! `ingress/<name>`: ASM's ingress gateway, created beside Istio's until traffic has moved; gated on a
//! confirmation that it did. The plan's `spec.ingress`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{json, Value};
use serde_saphyr::Spanned;

use crate::core::component::{AsmGateway, Rendering};
use crate::core::desired::Desired;
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::gate::{confirmation, Gate, GateOutcome};
use crate::core::inventory::{Inventory, Object};
use crate::core::names::{asm_gateway_workload, dns_label, unique_name};
use crate::core::workload::WorkloadRef;
use crate::core::observe::{ClusterRead, Observation};
use crate::core::settings::{pos, Checker, Located, Settings};
use crate::core::step_id::{Phase, StepId};
use crate::core::steps::{
    gateways_rolled_out, FoundSource, KindEffects, KindInfo, PendingStep, PlannedGateway, Proposal, ReadKind,
    StepContext, StepKind,
};
use crate::core::yaml::quoted;

/// The `networking.istio.io` Gateways Istio's ingress gateway serves, in every cluster, and the pod labels that
/// make ASM's gateway serve them too: together, every label their selectors ask for.
struct Served<'i> {
    gateways: Vec<&'i Object>,
    pod_labels: BTreeMap<String, String>,
}

impl Ingress {
    /// The Gateways whose selector matches the pods of Istio's ingress gateway (a Gateway without a selector
    /// matches every gateway), and the labels ASM's gateway pods need to match each of them: every selector is
    /// part of Istio's pod labels, so together they never disagree.
    fn served<'i>(&self, inventory: &'i Inventory) -> Served<'i> {
        let mut served = Served { gateways: Vec::new(), pod_labels: BTreeMap::new() };
        for cluster in inventory.clusters.values() {
            for gateway in cluster.istio_objects.iter().filter(|object| &*object.kind == "Gateway") {
                let selector = gateway.string_map("/spec/selector");
                let selects_istios =
                    selector.iter().all(|(key, value)| self.istio_gateway_labels.get(key) == Some(value));
                let known =
                    served.gateways.iter().any(|known| known.file == gateway.file && known.name == gateway.name);
                if selects_istios && !known {
                    served.pod_labels.extend(selector);
                    served.gateways.push(gateway);
                }
            }
        }
        served
    }
}

impl Served<'_> {
    /// `namespace/name` of each Gateway served.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .gateways
            .iter()
            .map(|gateway| format!("{}/{}", gateway.namespace.as_deref().unwrap_or("default"), gateway.name))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// An ingress entry as written in the plan.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawIngress {
    name: Spanned<String>,
    asm_gateway: Spanned<String>,
    ports: Spanned<Vec<RawPort>>,
    service_type: Option<Spanned<String>>,
    istio_gateway_labels: Option<BTreeMap<String, Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPort {
    name: Spanned<String>,
    port: Spanned<i64>,
    target_port: Option<Spanned<i64>>,
}

#[derive(Debug, Clone)]
pub struct Ingress {
    pub name: String,
    pub name_pos: crate::core::diagnostic::Pos,
    pub asm_gateway: Located<String>,
    pub ports: Vec<GatewayPort>,
    /// The IstioGateway's `serviceType`: how the gateway is reached from outside (LoadBalancer by default).
    pub service_type: String,
    /// The labels of the pods of Istio's ingress gateway whose traffic moves: the Gateways they serve are the ones
    /// ASM's gateway must serve too.
    pub istio_gateway_labels: BTreeMap<String, String>,
}

/// The types of Service an IstioGateway may ask for (ASM's gateway CRD).
const SERVICE_TYPES: [&str; 3] = ["ClusterIP", "NodePort", "LoadBalancer"];

/// The pod labels of Istio's default ingress gateway (its Helm chart and istioctl profiles).
fn default_istio_gateway_labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app".to_owned(), "istio-ingressgateway".to_owned()),
        ("istio".to_owned(), "ingressgateway".to_owned()),
    ])
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayPort {
    pub name: String,
    pub port: u32,
    pub target_port: u32,
}

/// The plan's ingress entries: the ingress step kind.
#[derive(Debug, Clone, Default)]
pub struct Ingresses(pub Vec<Ingress>);

impl Ingresses {
    pub const KIND: &'static str = "ingress";

}

fn read_ingress(entry: RawIngress, check: &mut Checker<'_>) -> Ingress {
    check.asm_gateway_name(&entry.asm_gateway);
    if entry.ports.value.is_empty() {
        check.fail(pos(&entry.ports), "ports must list at least one port");
    }
    let ports = entry
        .ports
        .value
        .into_iter()
        .map(|port| {
            check.dns_label(&port.name, "port name");
            let number = port_number(&port.port, check);
            let target = port.target_port.as_ref().map(|target| port_number(target, check)).unwrap_or(number);
            GatewayPort { name: port.name.value, port: number, target_port: target }
        })
        .collect();
    let service_type = match &entry.service_type {
        Some(service_type) if !SERVICE_TYPES.contains(&service_type.value.as_str()) => {
            check.fail(
                pos(service_type),
                format!("serviceType `{}` is not one of {}", quoted(&service_type.value), SERVICE_TYPES.join(", ")),
            );
            "LoadBalancer".to_owned()
        }
        Some(service_type) => service_type.value.clone(),
        None => "LoadBalancer".to_owned(),
    };
    let istio_gateway_labels = match entry.istio_gateway_labels {
        Some(labels) => labels
            .into_iter()
            .map(|(key, value)| {
                check.label_value(&value, "istioGatewayLabels value");
                (key, value.value)
            })
            .collect(),
        None => default_istio_gateway_labels(),
    };
    Ingress {
        name_pos: pos(&entry.name),
        name: entry.name.value,
        asm_gateway: Located { value: entry.asm_gateway.value.clone(), pos: pos(&entry.asm_gateway) },
        ports,
        service_type,
        istio_gateway_labels,
    }
}

fn port_number(raw: &Spanned<i64>, check: &mut Checker<'_>) -> u32 {
    if !(1..=65535).contains(&raw.value) {
        check.fail(pos(raw), format!("port {} is outside 1..65535", raw.value));
    }
    raw.value.clamp(0, 65535) as u32
}

impl ReadKind for Ingresses {
    type Raw = Vec<RawIngress>;

    fn propose(sources: &[FoundSource<'_>]) -> Option<Proposal> {
        let gateways = proposed_gateways(sources);
        let entries = gateways
            .iter()
            .map(|gateway| {
                let ports: Vec<Value> = gateway
                    .ports
                    .iter()
                    .map(|(name, number)| json!({"name": name, "port": number, "targetPort": number}))
                    .collect();
                json!({
                    "name": gateway.name, "from": gateway.from, "asm_gateway": dns_label(&format!("{}-asm", gateway.name)),
                    "ports": ports,
                    "istio_gateway_labels": gateway.istio_gateway_labels,
                })
            })
            .collect();
        Some(Proposal {
            section: Self::KIND,
            template: "init/plan-ingress.yaml.j2",
            entries,
            counted: "ingress gateway(s)",
            gateway_clusters: gateways.into_iter().flat_map(|gateway| gateway.clusters).collect(),
        })
    }

    fn read(raw: Vec<RawIngress>, _settings: &Settings, check: &mut Checker<'_>) -> Ingresses {
        Ingresses(check.named_entries(raw, "ingress", |entry| &entry.name, read_ingress))
    }
}

impl StepKind for Ingresses {
    fn info(&self) -> KindInfo {
        KindInfo { name: Ingresses::KIND, plural: "ingress", phase: Phase::Migrating, switches_phase: false }
    }

    fn steps(&self) -> Vec<StepId> {
        self.0.iter().map(|entry| StepId::of_instance(Ingresses::KIND, &entry.name)).collect()
    }

    /// Each entry's ASM ingress gateway, in every cluster.
    fn asm_gateways(&self, inventory: &Inventory) -> Vec<PlannedGateway> {
        let clusters: Vec<String> = inventory.clusters.keys().cloned().collect();
        self.0
            .iter()
            .map(|entry| PlannedGateway {
                serves: entry.served(inventory).names(),
                ..PlannedGateway::of(Ingresses::KIND, &entry.name, &entry.asm_gateway, true, clusters.clone())
            })
            .collect()
    }

    /// ASM's ingress gateway serves what Istio's serves: at least one Gateway.
    fn check(&self, context: &StepContext<'_>) -> Vec<Diagnostic> {
        let mut problems = Vec::new();
        for entry in &self.0 {
            if entry.served(context.inventory).gateways.is_empty() {
                problems.push(
                    context
                        .settings
                        .error_at(
                            entry.name_pos,
                            format!(
                                "ingress `{}`: no Gateway of the cluster sources selects the pods of Istio's ingress \
                                 gateway ({}), so ASM's gateway {} would serve nothing and moving traffic to it would \
                                 drop it",
                                entry.name,
                                labels(&entry.istio_gateway_labels),
                                entry.asm_gateway.value
                            ),
                        )
                        .with_help(
                            "set the ingress entry's istioGatewayLabels to the labels of the pods of Istio's ingress \
                             gateway whose traffic moves",
                        ),
                );
            }
        }
        problems
    }

    /// Before traffic moves to ASM's ingress gateway: the gateway is rolled out.
    fn preconditions(&self, pending: &PendingStep<'_>, observation: &Observation) -> Vec<Gate> {
        let name = pending.step.instance().unwrap_or_default();
        let gateways: Vec<&PlannedGateway> =
            pending.context.asm_gateways.iter().filter(|gateway| gateway.owner_is(Self::KIND, name)).collect();
        vec![gateways_rolled_out("ASM gateway rolled out", &gateways, observation)]
    }

    fn add_to_desired(&self, step: &StepId, _context: &StepContext<'_>, desired: &mut Desired) {
        if let Some(name) = step.instance() {
            desired.traffic.insert((Self::KIND, name.to_owned()), 100);
        }
    }

    /// The entries whose traffic the operator moves to ASM's ingress gateway, or back.
    fn effects(&self, before: &Desired, after: &Desired) -> KindEffects {
        let moved = |desired: &Desired| -> BTreeSet<String> {
            desired.traffic_of(Self::KIND).map(|(name, _)| name.to_owned()).collect()
        };
        let (from, to) = (moved(before), moved(after));
        let added: Vec<&String> = to.difference(&from).collect();
        let removed: Vec<&String> = from.difference(&to).collect();
        let mut lines: Vec<String> = added
            .iter()
            .map(|name| {
                format!(
                    "ingress {name}: move its traffic to ASM's ingress gateway (DNS or load-balancer weights), then \
                     confirm"
                )
            })
            .collect();
        lines.extend(removed.iter().map(|name| format!("ingress {name}: move its traffic back to Istio's ingress gateway")));
        KindEffects { fields: vec![("ingressAdded", json!(added)), ("ingressRemoved", json!(removed))], lines }
    }

    /// ASM's ingress gateways (from `migrating` on), on every cluster.
    fn render(&self, pending: &PendingStep<'_>, rendering: &mut Rendering<'_>) -> Result<(), Diagnostics> {
        let (context, desired) = (&pending.context, &pending.desired);
        for entry in self.0.iter().filter(|_| desired.asm_gateways) {
            let served = entry.served(context.inventory);
            rendering.asm_gateways.insert(
                entry.asm_gateway.value.clone(),
                AsmGateway {
                    name: entry.asm_gateway.value.clone(),
                    gateway_type: "ingress",
                    purpose: format!(" (ingress {})", entry.name),
                    // A cluster without an ID has been refused by the plan's check.
                    cluster_ids: context
                        .settings
                        .clusters
                        .iter()
                        .filter_map(|cluster| cluster.cluster_id.clone())
                        .collect(),
                    ports: entry
                        .ports
                        .iter()
                        .map(|port| serde_json::to_value(port).expect("ports serialize"))
                        .collect(),
                    service_type: entry.service_type.clone(),
                    pod_labels: served.pod_labels,
                },
            );
        }
        Ok(())
    }

    /// Which Gateways the traffic that moves is addressed to.
    fn notes(&self, pending: &PendingStep<'_>) -> Vec<String> {
        let name = pending.step.instance().unwrap_or_default();
        let Some(entry) = self.0.iter().find(|entry| entry.name == name) else { return Vec::new() };
        let served = entry.served(pending.context.inventory);
        vec![format!(
            "ASM's ingress gateway {} serves the Gateways {} (pod labels {}), as Istio's does: move DNS or \
             load-balancer weights to its {} Service {} in istio-system",
            entry.asm_gateway.value,
            served.names().join(", "),
            labels(&served.pod_labels),
            entry.service_type,
            asm_gateway_workload(&entry.asm_gateway.value)
        )]
    }

    /// The gates look for the address of ASM's gateway Service.
    fn cluster_reads(&self) -> Vec<ClusterRead> {
        vec![ISTIO_SYSTEM_SERVICES]
    }

    /// ASM's ingress gateway is rolled out and its Service has an address in every cluster before the operator is
    /// asked to confirm that traffic moved there (the message says where).
    fn gates(&self, pending: &PendingStep<'_>, observation: &Observation) -> Vec<Gate> {
        let (step, state) = (&pending.step, pending.context.state);
        let name = step.instance().unwrap_or_default();
        let Some(entry) = self.0.iter().find(|entry| entry.name == name) else { return Vec::new() };
        let gateways: Vec<&PlannedGateway> =
            pending.context.asm_gateways.iter().filter(|gateway| gateway.owner_is(Self::KIND, name)).collect();
        let service = asm_gateway_workload(&entry.asm_gateway.value);
        let (mut addresses, mut missing) = (Vec::new(), Vec::new());
        for cluster in pending.context.inventory.clusters.keys() {
            let services =
                observation.clusters.get(cluster).and_then(|observed| observed.lists.get(ISTIO_SYSTEM_SERVICES.name));
            let Some(services) = services else {
                missing.push(format!("{cluster}: Services not read (a snapshot without istio-system-services.yaml)"));
                continue;
            };
            let services = services.iter().map(ServiceObservation::from_object);
            match services.into_iter().find(|observed| observed.name == service).map(|observed| observed.address) {
                Some(Some(address)) => addresses.push(format!("{cluster}: {address}")),
                Some(None) => missing.push(format!("{cluster}: istio-system/{service} (no address yet)")),
                None => missing.push(format!("{cluster}: istio-system/{service} (not found)")),
            }
        }
        let rolled_out = gateways_rolled_out("ASM gateway rolled out", &gateways, observation);
        let addressed =
            Gate::unless_found("ASM gateway has an address", &missing, "ASM gateway Service(s) without an address");
        let ready = rolled_out.met() && addressed.met();
        let moved = match ready {
            true => confirmation(
                step,
                state,
                &format!(
                    "traffic of ingress {name} moved to ASM's ingress gateway ({}) by DNS or load-balancer weights",
                    addresses.join(", ")
                ),
            ),
            false => Gate::new(
                "confirmed",
                GateOutcome::Unmet("asked for once ASM's ingress gateway is rolled out and has an address".to_owned()),
            ),
        };
        vec![rolled_out, addressed, moved]
    }
}

/// Labels as a selector is written: `app: x, istio: y`.
fn labels(labels: &BTreeMap<String, String>) -> String {
    labels.iter().map(|(key, value)| format!("{key}: {value}")).collect::<Vec<_>>().join(", ")
}

// ---- What the gates read ----

/// The Services of istio-system, where ASM creates its gateway's.
const ISTIO_SYSTEM_SERVICES: ClusterRead = ClusterRead {
    name: "istio-system-services",
    group: "",
    version: "v1",
    kind: "Service",
    plural: "services",
    namespace: Some("istio-system"),
    what: "services in istio-system",
    unserved_is_empty: false,
};

/// A Service of istio-system, with the address it is reached at when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceObservation {
    pub namespace: String,
    pub name: String,
    /// A LoadBalancer's ingress IP or hostname; for the other types, the cluster IP.
    pub address: Option<String>,
}

impl ServiceObservation {
    pub fn from_object(object: &Value) -> ServiceObservation {
        let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str).map(str::to_owned);
        let address = match text("/spec/type").as_deref() {
            Some("LoadBalancer") => object
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find_map(|ingress| ingress.get("ip").or(ingress.get("hostname")).and_then(Value::as_str))
                .map(str::to_owned),
            _ => text("/spec/clusterIP").filter(|ip| !ip.is_empty() && ip != "None"),
        };
        ServiceObservation {
            namespace: text("/metadata/namespace").unwrap_or_default(),
            name: text("/metadata/name").unwrap_or_default(),
            address,
        }
    }
}

// ---- What `init` proposes ----

/// Istio's ingress gateway, as the Gateways it serves select it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProposedIngress {
    /// The entry's name; its ASM gateway is `<name>-asm`.
    name: String,
    /// The servers' ports: (name, number).
    ports: Vec<(String, u64)>,
    /// The pod labels the Gateways select, when they are not Istio's default ingress gateway's.
    istio_gateway_labels: Option<BTreeMap<String, String>>,
    clusters: Vec<String>,
    from: String,
}

/// Istio's default ingress gateway pods' labels, which the plan's `istioGatewayLabels` default to.
const DEFAULT_INGRESS_LABELS: [(&str, &str); 2] = [("app", "istio-ingressgateway"), ("istio", "ingressgateway")];

/// Istio's ingress gateways, one per set of pod labels the Gateways select, with their ports and clusters.
fn proposed_gateways(sources: &[FoundSource<'_>]) -> Vec<ProposedIngress> {
    let mut found: Vec<(GatewayKey, ProposedIngress)> = Vec::new();
    for source in sources {
        let inventory = source.inventory;
        for gateway in inventory.istio_objects.iter().filter(|object| &*object.kind == "Gateway") {
            let selector = gateway.string_map("/spec/selector");
            if !selector.values().any(|value| value.contains("ingress")) {
                continue;
            }
            let ports: Vec<(String, u64)> = gateway
                .value
                .pointer("/spec/servers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|server| {
                    let number = server.pointer("/port/number").and_then(Value::as_u64)?;
                    let name = server.pointer("/port/name").and_then(Value::as_str).map(dns_label);
                    Some((name.unwrap_or_else(|| format!("port-{number}")), number))
                })
                .collect();
            // Gateways selecting the same pods of the cluster are served by one ASM gateway: one entry. Where the
            // pods are not in the repository, the selectors say it.
            let pods: Vec<&WorkloadRef> = inventory
                .istio_labelled_pods
                .iter()
                .filter(|(_, labels)| selector.iter().all(|(key, value)| labels.get(key) == Some(value)))
                .map(|(workload, _)| workload)
                .collect();
            let key = match pods.is_empty() {
                true => GatewayKey::Selector(selector.clone()),
                false => GatewayKey::Pods(pods.iter().map(|workload| workload.to_string()).collect()),
            };
            let entry = match found.iter_mut().find(|(known, _)| *known == key) {
                Some((_, entry)) => entry,
                None => {
                    let value = selector.get("istio").or_else(|| selector.values().next()).cloned().unwrap_or_default();
                    let defaults = selector
                        .iter()
                        .all(|(key, value)| DEFAULT_INGRESS_LABELS.iter().any(|(k, v)| k == key && v == value));
                    let name = dns_label(&value);
                    found.push((
                        key,
                        ProposedIngress {
                            name,
                            ports: Vec::new(),
                            istio_gateway_labels: (!defaults).then(|| selector.clone()),
                            clusters: Vec::new(),
                            from: gateway.describe(),
                        },
                    ));
                    &mut found.last_mut().expect("just pushed").1
                }
            };
            for (name, number) in ports {
                if entry.ports.iter().any(|(_, known)| *known == number) {
                    continue;
                }
                // A Service's port names are unique.
                let name = match entry.ports.iter().any(|(known, _)| *known == name) {
                    true => dns_label(&format!("{name}-{number}")),
                    false => name,
                };
                entry.ports.push((name, number));
            }
            if !entry.clusters.iter().any(|cluster| cluster == source.cluster) {
                entry.clusters.push(source.cluster.to_owned());
            }
        }
    }
    let mut entries: Vec<ProposedIngress> = found.into_iter().map(|(_, entry)| entry).collect();
    let mut taken = BTreeMap::new();
    for (index, entry) in entries.iter_mut().enumerate() {
        entry.ports.sort_by_key(|(_, number)| *number);
        // Entries of other pods whose selectors share the `istio` value: each its own step id and ASM gateway.
        entry.name = unique_name(&entry.name, &taken);
        taken.insert(entry.name.clone(), index);
    }
    entries
}

/// What makes Gateways one ingress entry: the pods of the cluster they select, else (pods not in the repository)
/// their selector.
#[derive(Debug, PartialEq, Eq)]
enum GatewayKey {
    Pods(BTreeSet<String>),
    Selector(BTreeMap<String, String>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::migration::Migration;
    use crate::core::observe::ClusterObservation;
    use crate::testkit::MemoryRepo;

    fn shop_at(step: &str) -> Migration {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/repos/shop");
        MemoryRepo::read_dir(&root).unwrap().at(step).unwrap().migration().unwrap()
    }

    /// Every cluster of the plan, observed as `observed` says.
    fn observing(migration: &Migration, observed: impl Fn(&str) -> ClusterObservation) -> Observation {
        let clusters = migration.plan.settings.clusters.iter();
        Observation {
            clusters: clusters.map(|cluster| (cluster.name.clone(), observed(&cluster.name))).collect(),
            ..Observation::default()
        }
    }

    fn outcome(migration: &Migration, observation: &Observation, name: &str) -> GateOutcome {
        let (_, gates) = migration.gates(observation).unwrap().expect("a current step");
        gates.into_iter().find(|gate| gate.name == name).expect("the gate").outcome
    }

    /// ASM's gateway Service `istio-ingressgateway-asm` with a load balancer's address (or none yet).
    fn services(address: Option<&str>) -> ClusterObservation {
        let ingress: Vec<Value> = address.iter().map(|ip| json!({"ip": ip})).collect();
        let service = json!({
            "metadata": {"namespace": "istio-system", "name": "istio-ingressgateway-asm"},
            "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": ingress}}
        });
        ClusterObservation { lists: [(ISTIO_SYSTEM_SERVICES.name, vec![service])].into(), ..Default::default() }
    }

    #[test]
    fn the_address_gate_is_met_only_when_asms_gateway_service_has_an_address_in_every_cluster() {
        let migration = shop_at("ingress/public");
        let addressed = observing(&migration, |_| services(Some("203.0.113.10")));
        assert_eq!(outcome(&migration, &addressed, "ASM gateway has an address"), GateOutcome::Met);
        let first = migration.plan.settings.clusters[0].name.clone();
        let pending = observing(&migration, |cluster| services((cluster != first).then_some("203.0.113.10")));
        assert_eq!(
            outcome(&migration, &pending, "ASM gateway has an address"),
            GateOutcome::Unmet(format!(
                "1 ASM gateway Service(s) without an address: {first}: istio-system/istio-ingressgateway-asm (no \
                 address yet)"
            ))
        );
    }

    #[test]
    fn services_nobody_read_are_no_address() {
        let migration = shop_at("ingress/public");
        let unread = observing(&migration, |_| ClusterObservation::default());
        let GateOutcome::Unmet(reason) = outcome(&migration, &unread, "ASM gateway has an address") else {
            panic!("an unread list is no evidence of an address")
        };
        assert!(reason.contains("Services not read (a snapshot without istio-system-services.yaml)"), "{reason}");
    }
}

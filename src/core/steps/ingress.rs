//! `ingress/<name>`: ASM's ingress gateway, created beside Istio's until traffic has moved; gated on a
//! confirmation that it did. The plan's `spec.ingress`.

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::core::component::{AsmGateway, Rendering};
use crate::core::desired::Desired;
use crate::core::diagnostic::Diagnostics;
use crate::core::gate::{confirmation, Gate};
use crate::core::inventory::Inventory;
use crate::core::observe::Observation;
use crate::core::settings::{pos, Checker, Located};
use crate::core::step_id::{Phase, StepId};
use crate::core::steps::{gateways_rolled_out, KindInfo, PendingStep, PlannedGateway, StepContext, StepKind};

/// An ingress entry as written in the plan.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawIngress {
    name: Spanned<String>,
    asm_gateway: Spanned<String>,
    ports: Spanned<Vec<RawPort>>,
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
    pub asm_gateway: Located<String>,
    pub ports: Vec<GatewayPort>,
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

    pub fn read(raw: Vec<RawIngress>, check: &mut Checker<'_>) -> Ingresses {
        Ingresses(check.named_entries(raw, "ingress", |entry| &entry.name, read_ingress))
    }
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
    Ingress {
        name: entry.name.value,
        asm_gateway: Located { value: entry.asm_gateway.value.clone(), pos: pos(&entry.asm_gateway) },
        ports,
    }
}

fn port_number(raw: &Spanned<i64>, check: &mut Checker<'_>) -> u32 {
    if !(1..=65535).contains(&raw.value) {
        check.fail(pos(raw), format!("port {} is outside 1..65535", raw.value));
    }
    raw.value.clamp(0, 65535) as u32
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
            .map(|entry| PlannedGateway::of(Ingresses::KIND, &entry.name, &entry.asm_gateway, true, clusters.clone()))
            .collect()
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
            desired.ingress.insert(name.to_owned());
        }
    }

    /// ASM's ingress gateways (from `migrating` on), on every cluster.
    fn render(&self, pending: &PendingStep<'_>, rendering: &mut Rendering<'_>) -> Result<(), Diagnostics> {
        let (context, desired) = (&pending.context, &pending.desired);
        for entry in self.0.iter().filter(|_| desired.asm_gateways) {
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
                },
            );
        }
        Ok(())
    }

    fn gates(&self, pending: &PendingStep<'_>, _observation: &Observation) -> Vec<Gate> {
        let (step, state) = (&pending.step, pending.context.state);
        let name = step.instance().unwrap_or_default();
        vec![confirmation(
            step,
            state,
            &format!("traffic of ingress {name} moved to ASM's ingress gateway (DNS or load-balancer weights)"),
        )]
    }
}

//! The traffic through Istio's gateways that moves to ASM's: mesh routes through Istio's egress gateway, and the
//! Gateways Istio's ingress gateway serves.

use std::collections::BTreeMap;

use serde_json::Value;

use super::clusters::SourceFound;
use super::dns_label;
use crate::core::inventory::ClusterInventory;
use crate::core::steps::egress::istio_egress_gateway;

/// The weights `init` proposes for each egress route: a small share first, then larger ones.
pub const EGRESS_WEIGHTS: [u32; 4] = [1, 10, 50, 100];

/// A VirtualService that sends mesh traffic through Istio's egress gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressFound {
    pub name: String,
    /// `namespace/name`.
    pub virtual_service: String,
    pub asm_gateway: String,
    pub clusters: Vec<String>,
    pub from: String,
}

/// Istio's ingress gateway, as the Gateways it serves select it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressFound {
    pub name: String,
    pub asm_gateway: String,
    /// The servers' ports: (name, number).
    pub ports: Vec<(String, u64)>,
    /// The pod labels the Gateways select, when they are not Istio's default ingress gateway's.
    pub istio_gateway_labels: Option<BTreeMap<String, String>>,
    pub clusters: Vec<String>,
    pub from: String,
}

/// The name `init` gives ASM's egress gateway.
const ASM_EGRESS_GATEWAY: &str = "asm-egressgateway";

pub fn egress_routes(sources: &[(&SourceFound, &ClusterInventory)]) -> Vec<EgressFound> {
    let mut routes: Vec<EgressFound> = Vec::new();
    for (source, inventory) in sources {
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
                Some(route) => route.clusters.push(source.name.clone()),
                None => routes.push(EgressFound {
                    name: dns_label(&virtual_service.name),
                    virtual_service: reference,
                    asm_gateway: ASM_EGRESS_GATEWAY.to_owned(),
                    clusters: vec![source.name.clone()],
                    from: virtual_service.describe(),
                }),
            }
        }
    }
    let mut taken = BTreeMap::new();
    for route in &mut routes {
        route.name = super::unique_name(&route.name, &taken);
        taken.insert(route.name.clone(), 0);
    }
    routes
}

/// Istio's default ingress gateway pods' labels, which the plan's `istioGatewayLabels` default to.
const DEFAULT_INGRESS_LABELS: [(&str, &str); 2] = [("app", "istio-ingressgateway"), ("istio", "ingressgateway")];

pub fn ingress_gateways(sources: &[(&SourceFound, &ClusterInventory)]) -> Vec<IngressFound> {
    let mut found: Vec<(BTreeMap<String, String>, IngressFound)> = Vec::new();
    for (source, inventory) in sources {
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
            let entry = match found.iter_mut().find(|(labels, _)| *labels == selector) {
                Some((_, entry)) => entry,
                None => {
                    let value = selector.get("istio").or_else(|| selector.values().next()).cloned().unwrap_or_default();
                    let defaults = selector
                        .iter()
                        .all(|(key, value)| DEFAULT_INGRESS_LABELS.iter().any(|(k, v)| k == key && v == value));
                    let name = dns_label(&value);
                    found.push((
                        selector.clone(),
                        IngressFound {
                            asm_gateway: dns_label(&format!("{name}-asm")),
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
                if !entry.ports.iter().any(|(_, known)| *known == number) {
                    entry.ports.push((name, number));
                }
            }
            if !entry.clusters.contains(&source.name) {
                entry.clusters.push(source.name.clone());
            }
        }
    }
    let mut entries: Vec<IngressFound> = found.into_iter().map(|(_, entry)| entry).collect();
    for entry in &mut entries {
        entry.ports.sort_by_key(|(_, number)| *number);
    }
    entries
}

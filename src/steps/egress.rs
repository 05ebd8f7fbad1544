//! `egress/<name>/<weight>`: the share of the egress route sent to ASM's egress gateway.

use super::Desired;

pub fn add(name: &str, weight: u32, desired: &mut Desired) {
    desired.egress_weights.insert(name.to_owned(), weight);
}

use serde_json::{json, Value};

/// The VirtualService's `gateways` and routes with ASM's egress gateway added: the mesh route split
/// `100-weight` : `weight`, ASM's Gateway beside Istio's wherever routes match on it. `finished` takes Istio's
/// egress gateway out altogether. Errors say what in the VirtualService does not have the expected shape.
pub fn route_through_asm(spec: &Value, asm_gateway: &str, weight: u32, finished: bool) -> Result<Value, String> {
    let asm_host = format!("{asm_gateway}.istio-system.svc.cluster.local");
    let gateways: Vec<&str> =
        spec.get("gateways").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    if !gateways.contains(&"mesh") {
        return Err(
            "its `gateways` do not include `mesh`, so no route sends mesh traffic to an egress gateway".to_owned()
        );
    }
    let istio_gateways: Vec<&str> =
        gateways.iter().copied().filter(|gateway| *gateway != "mesh" && *gateway != asm_gateway).collect();
    if istio_gateways.is_empty() {
        return Err("its `gateways` name no egress gateway besides `mesh`".to_owned());
    }
    let swap = |list: &[&str]| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for gateway in list {
            if istio_gateways.contains(gateway) {
                if !finished {
                    out.push((*gateway).to_owned());
                }
                if !out.iter().any(|g| g == asm_gateway) {
                    out.push(asm_gateway.to_owned());
                }
            } else if *gateway != asm_gateway || !out.iter().any(|g| g == asm_gateway) {
                out.push((*gateway).to_owned());
            }
        }
        out
    };
    let mut result = serde_json::Map::new();
    result.insert("gateways".to_owned(), json!(swap(&gateways)));
    let mut mesh_routes = 0;
    for protocol in ["http", "tls", "tcp"] {
        let Some(routes) = spec.get(protocol).and_then(Value::as_array) else { continue };
        let mut new_routes = Vec::new();
        for (index, route) in routes.iter().enumerate() {
            let mut route = route.clone();
            let matches = route.get_mut("match").and_then(Value::as_array_mut);
            let mut is_mesh = false;
            for rule in matches.into_iter().flatten() {
                let Some(list) = rule.get("gateways").and_then(Value::as_array) else { continue };
                let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
                is_mesh |= names.contains(&"mesh");
                let swapped = swap(&names);
                rule["gateways"] = json!(swapped);
            }
            if is_mesh {
                mesh_routes += 1;
                let destinations = route.get("route").and_then(Value::as_array).cloned().unwrap_or_default();
                let istio = destinations
                    .iter()
                    .find(|d| d.pointer("/destination/host").and_then(Value::as_str) != Some(asm_host.as_str()));
                let Some(istio) = istio.filter(|_| destinations.len() == 1) else {
                    return Err(format!(
                        "its mesh route {protocol}[{index}] must send to exactly one destination (Istio's egress gateway); it has {}",
                        destinations.len()
                    ));
                };
                let mut asm = json!({"destination": {"host": asm_host}});
                if let Some(port) = istio.pointer("/destination/port") {
                    asm["destination"]["port"] = port.clone();
                }
                let split = if finished {
                    vec![asm]
                } else {
                    let mut istio = istio.clone();
                    istio["weight"] = json!(100 - weight);
                    asm["weight"] = json!(weight);
                    vec![istio, asm]
                };
                route["route"] = json!(split);
            }
            new_routes.push(route);
        }
        result.insert(protocol.to_owned(), json!(new_routes));
    }
    if mesh_routes == 0 {
        return Err("no route matches `gateways: [mesh]`".to_owned());
    }
    Ok(Value::Object(result))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cnn() -> Value {
        json!({
            "hosts": ["edition.cnn.com"],
            "gateways": ["istio-egressgateway", "mesh"],
            "http": [
                {"match": [{"gateways": ["mesh"], "port": 80}],
                 "route": [{"destination": {"host": "istio-egressgateway.istio-system.svc.cluster.local", "subset": "cnn", "port": {"number": 80}}, "weight": 100}]},
                {"match": [{"gateways": ["istio-egressgateway"], "port": 80}],
                 "route": [{"destination": {"host": "edition.cnn.com", "port": {"number": 80}}, "weight": 100}]}
            ]
        })
    }

    #[test]
    fn splits_the_mesh_route_and_adds_the_asm_gateway_where_istios_is_matched() {
        let spec = route_through_asm(&cnn(), "asm-egressgateway", 10, false).unwrap();
        assert_eq!(spec["gateways"], json!(["istio-egressgateway", "asm-egressgateway", "mesh"]));
        assert_eq!(spec["http"][0]["route"][0]["weight"], json!(90));
        assert_eq!(spec["http"][0]["route"][0]["destination"]["subset"], json!("cnn"));
        assert_eq!(
            spec["http"][0]["route"][1],
            json!({"destination": {"host": "asm-egressgateway.istio-system.svc.cluster.local", "port": {"number": 80}}, "weight": 10})
        );
        assert_eq!(spec["http"][1]["match"][0]["gateways"], json!(["istio-egressgateway", "asm-egressgateway"]));
    }

    #[test]
    fn finished_leaves_only_asm() {
        let spec = route_through_asm(&cnn(), "asm-egressgateway", 100, true).unwrap();
        assert_eq!(spec["gateways"], json!(["asm-egressgateway", "mesh"]));
        assert_eq!(spec["http"][0]["route"].as_array().unwrap().len(), 1);
        assert_eq!(spec["http"][1]["match"][0]["gateways"], json!(["asm-egressgateway"]));
    }

    #[test]
    fn a_mesh_route_already_split_is_an_error() {
        let mut spec = cnn();
        spec["http"][0]["route"].as_array_mut().unwrap().push(json!({"destination": {"host": "x"}}));
        assert!(route_through_asm(&spec, "asm-egressgateway", 1, false)
            .unwrap_err()
            .contains("exactly one destination"));
    }
}

//! The gates of a step: pure predicates over what was observed, each met or unmet with the reason in words.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::observe::{Observation, PodObservation};
use crate::plan::Plan;
use crate::state::State;
use crate::steps::{Desired, StepId};

/// Names listed in a reason before "and N more".
const NAMES_IN_REASON: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "camelCase")]
pub enum GateOutcome {
    Met,
    Unmet(String),
    /// Met only by someone saying so: `advance --confirm <step>`.
    NeedsConfirmation(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gate {
    pub name: &'static str,
    #[serde(flatten)]
    pub outcome: GateOutcome,
}

impl Gate {
    fn new(name: &'static str, outcome: GateOutcome) -> Gate {
        Gate { name, outcome }
    }

    pub fn met(&self) -> bool {
        self.outcome == GateOutcome::Met
    }
}

pub struct GateInput<'a> {
    pub plan: &'a Plan,
    pub step: &'a StepId,
    pub state: &'a State,
    /// The desired state after `step`.
    pub desired: &'a Desired,
    pub observation: &'a Observation,
}

/// Every gate of `step`, in the order they are checked.
pub fn gates(input: &GateInput<'_>) -> Vec<Gate> {
    let mut gates = vec![asm_switched(input)];
    match input.step {
        StepId::Setup => {
            gates.push(xds_agent_everywhere(input.observation));
            if input.desired.release_istio_system {
                gates.push(istio_system_injectable(input.observation));
            }
        }
        StepId::Migrating if input.plan.multi_network() => gates.push(confirmation(
            input,
            "ASM's cross-cluster gateway is deployed and each cluster has its Istio network name in ASM",
        )),
        StepId::Wave(_) => gates.extend(waves_on_asm(input)),
        StepId::Ingress(name) => gates.push(confirmation(
            input,
            &format!("traffic of ingress {name} moved to ASM's ingress gateway (DNS or load-balancer weights)"),
        )),
        StepId::Finished => {
            gates.push(no_istio_proxy_left(input.observation));
            gates.push(confirmation(
                input,
                "no traffic goes through Istio's east-west, ingress or egress gateways any more, and every Istio API object is imported into ASM",
            ));
        }
        _ => {}
    }
    gates
}

/// The switch to the step's phase has happened on ASM: state and retry counter caught up, no error message.
fn asm_switched(input: &GateInput<'_>) -> Gate {
    const NAME: &str = "ASM switched";
    let Some(asm) = &input.observation.asm else {
        return Gate::new(NAME, GateOutcome::Unmet("ASMMigrateFromIstio/default was not observed".to_owned()));
    };
    let wanted = input.step.phase().name();
    let outcome = if asm.desired_state.as_deref() != Some(wanted)
        || asm.retry_counter != Some(i64::from(input.state.retry_counter))
    {
        GateOutcome::Unmet(format!(
            "ASM has desiredState {} and retryCounter {}, the repository {wanted} and {}: the GitOps engine has not applied the step yet",
            asm.desired_state.as_deref().unwrap_or("(none)"),
            asm.retry_counter.map(|n| n.to_string()).unwrap_or_else(|| "(none)".to_owned()),
            input.state.retry_counter
        ))
    } else if let Some(message) = &asm.message {
        GateOutcome::Unmet(format!("ASM reports: \"{message}\": fix what it names, then run `asm-migrate retry`"))
    } else if asm.state != asm.desired_state || asm.status_retry_counter != asm.retry_counter {
        GateOutcome::Unmet(format!(
            "ASM is still switching: status.state {}, status.retryCounter {}",
            asm.state.as_deref().unwrap_or("(none)"),
            asm.status_retry_counter.map(|n| n.to_string()).unwrap_or_else(|| "(none)".to_owned())
        ))
    } else {
        GateOutcome::Met
    };
    Gate::new(NAME, outcome)
}

/// Every pod with Istio's proxy runs it with PROXY_CONFIG_XDS_AGENT=true.
fn xds_agent_everywhere(observation: &Observation) -> Gate {
    let missing: Vec<String> = pods(observation)
        .filter(|(_, pod)| pod.istio_proxy && !pod.on_asm && !pod.xds_agent)
        .map(|(cluster, pod)| format!("{cluster}: {}", pod.display()))
        .collect();
    Gate::new(
        "proxies carry PROXY_CONFIG_XDS_AGENT",
        match missing.is_empty() {
            true => GateOutcome::Met,
            false => GateOutcome::Unmet(format!(
                "{} Istio-injected pod(s) without PROXY_CONFIG_XDS_AGENT=true (not restarted yet?): {}",
                missing.len(),
                listed(&missing)
            )),
        },
    )
}

/// No istio-system still carries ASM's `istio-injection` label, so the east-west gateway is injected again (Argo CD
/// replaces the namespace at `init`; Flux takes the label over at `init` and drops it at `setup`).
fn istio_system_injectable(observation: &Observation) -> Gate {
    let labelled: Vec<String> = observation
        .clusters
        .iter()
        .filter_map(|(cluster, observed)| {
            observed
                .istio_system_labels
                .get("istio-injection")
                .map(|value| format!("{cluster} (istio-injection: {value})"))
        })
        .collect();
    Gate::new(
        "istio-system injectable",
        match labelled.is_empty() {
            true => GateOutcome::Met,
            false => GateOutcome::Unmet(format!(
                "istio-system still carries istio-injection in {}: has the GitOps engine synced the namespace?",
                listed(&labelled)
            )),
        },
    )
}

/// Every pod of the workloads moved so far runs on the ASM proxy and is ready; every such rollout is complete.
fn waves_on_asm(input: &GateInput<'_>) -> Vec<Gate> {
    let mut off_asm = Vec::new();
    let mut rollouts = Vec::new();
    for (cluster, moved) in &input.desired.asm_proxy {
        let Some(observed) = input.observation.clusters.get(cluster) else { continue };
        for pod in &observed.pods {
            if pod.workload.as_ref().is_some_and(|workload| moved.contains(workload)) && !(pod.on_asm && pod.ready) {
                let why = if pod.on_asm { "not ready" } else { "not on the ASM proxy" };
                off_asm.push(format!("{cluster}: {} ({why})", pod.display()));
            }
        }
        let observed_workloads: BTreeSet<_> = observed.rollouts.iter().map(|rollout| &rollout.workload).collect();
        for workload in moved {
            match observed.rollouts.iter().find(|rollout| &rollout.workload == workload) {
                Some(rollout) if !rollout.complete() => rollouts.push(format!(
                    "{cluster}: {}/{} ({} of {} updated, {} ready)",
                    workload.namespace, workload.name, rollout.updated, rollout.desired, rollout.ready
                )),
                None if !observed_workloads.is_empty() => {
                    rollouts.push(format!("{cluster}: {}/{} (not found)", workload.namespace, workload.name))
                }
                _ => {}
            }
        }
    }
    let gate = |name, list: Vec<String>, what: &str| {
        Gate::new(
            name,
            match list.is_empty() {
                true => GateOutcome::Met,
                false => GateOutcome::Unmet(format!("{} {what}: {}", list.len(), listed(&list))),
            },
        )
    };
    vec![
        gate("pods on the ASM proxy", off_asm, "pod(s) of moved workloads not on the ASM proxy and ready"),
        gate("rollouts complete", rollouts, "rollout(s) not complete"),
    ]
}

/// No pod runs Istio's own proxy any more.
fn no_istio_proxy_left(observation: &Observation) -> Gate {
    let left: Vec<String> = pods(observation)
        .filter(|(_, pod)| pod.istio_proxy && !pod.on_asm)
        .map(|(cluster, pod)| format!("{cluster}: {}", pod.display()))
        .collect();
    Gate::new(
        "no Istio proxy left",
        match left.is_empty() {
            true => GateOutcome::Met,
            false => GateOutcome::Unmet(format!("{} pod(s) still run Istio's proxy: {}", left.len(), listed(&left))),
        },
    )
}

fn confirmation(input: &GateInput<'_>, what: &str) -> Gate {
    let step = input.step.to_string();
    let confirmed = input.state.confirmations.iter().any(|confirmation| confirmation.step == step);
    Gate::new(
        "confirmed",
        match confirmed {
            true => GateOutcome::Met,
            false => GateOutcome::NeedsConfirmation(format!(
                "no API shows that {what}: confirm it with `asm-migrate advance --confirm {step}`"
            )),
        },
    )
}

fn pods(observation: &Observation) -> impl Iterator<Item = (&String, &PodObservation)> {
    observation.clusters.iter().flat_map(|(cluster, observed)| observed.pods.iter().map(move |pod| (cluster, pod)))
}

fn listed(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(NAMES_IN_REASON).map(String::as_str).collect();
    match names.len().saturating_sub(NAMES_IN_REASON) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

//! Gates: pure predicates over what was observed, each met or unmet with the reason in words. Step kinds add
//! their own; every step has `ASM switched`.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::core::helm::{HelmRelease, ReleasesByCluster};
use crate::core::inventory::{ClusterInventory, Inventory};
use crate::core::observe::{AsmObservation, ClusterObservation, Observation, PodObservation, RolloutObservation};
use crate::core::settings::Settings;
use crate::core::state::State;
use crate::core::step_id::{Phase, StepId};
use crate::core::text::listed;
use crate::core::workload::WorkloadRef;

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
    pub fn new(name: &'static str, outcome: GateOutcome) -> Gate {
        Gate { name, outcome }
    }

    /// Met when nothing is `found`; else unmet, counting and naming what was: "<n> <what>: a, b and 3 more".
    pub fn unless_found(name: &'static str, found: &[String], what: &str) -> Gate {
        Gate::new(
            name,
            match found.is_empty() {
                true => GateOutcome::Met,
                false => GateOutcome::Unmet(format!("{} {what}: {}", found.len(), listed(found, NAMES_IN_REASON))),
            },
        )
    }

    /// Met when nothing is `found`; else unmet with `reason(names)`.
    pub fn unless_found_with(name: &'static str, found: &[String], reason: impl FnOnce(String) -> String) -> Gate {
        Gate::new(
            name,
            match found.is_empty() {
                true => GateOutcome::Met,
                false => GateOutcome::Unmet(reason(listed(found, NAMES_IN_REASON))),
            },
        )
    }

    pub fn met(&self) -> bool {
        self.outcome == GateOutcome::Met
    }
}

/// The switch to the step's phase has happened on ASM: state and retry counter caught up, no error message.
pub fn asm_switched(phase: Phase, state: &State, asm: Option<&AsmObservation>) -> Gate {
    const NAME: &str = "ASM switched";
    let Some(asm) = asm else {
        return Gate::new(NAME, GateOutcome::Unmet("ASMMigrateFromIstio/default was not observed".to_owned()));
    };
    let wanted = phase.name();
    let outcome = if asm.desired_state.as_deref() != Some(wanted)
        || asm.retry_counter != Some(i64::from(state.retry_counter))
    {
        GateOutcome::Unmet(format!(
            "ASM has desiredState {} and retryCounter {}, the repository {wanted} and {}: the GitOps engine has not applied the step yet",
            asm.desired_state.as_deref().unwrap_or("(none)"),
            asm.retry_counter.map(|n| n.to_string()).unwrap_or_else(|| "(none)".to_owned()),
            state.retry_counter
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

/// What no API can show about `step`, met once someone confirmed it (`advance --confirm <step>`).
pub fn confirmation(step: &StepId, state: &State, what: &str) -> Gate {
    named_confirmation("confirmed", step, state, what)
}

/// A confirmation under a name of its own (a step's preconditions may need several).
pub fn named_confirmation(name: &'static str, step: &StepId, state: &State, what: &str) -> Gate {
    Gate::new(
        name,
        match state.confirmed(step) {
            true => GateOutcome::Met,
            false => GateOutcome::NeedsConfirmation(format!(
                "no API shows that {what}: confirm it with `asm-migrate advance --confirm {step}`"
            )),
        },
    )
}

/// Which proxy a pod runs, told by its istio-proxy container's image (ASM documents nothing more to tell them
/// apart by): the image the plan names as ASM's (`spec.asm.proxyImage`), else, for a pod labelled for ASM, any
/// image whose tag is not the installed Istio's version.
pub struct ProxyJudge {
    asm_image: Option<String>,
    istio_version: String,
    /// ASM's own workloads: its gateways' Deployments and the components the plan names.
    asm_workloads: BTreeSet<WorkloadRef>,
}

impl ProxyJudge {
    /// The judge for a plan whose ASM gateways run as `gateways` (their Deployments).
    pub fn of(settings: &Settings, gateways: impl IntoIterator<Item = WorkloadRef>) -> ProxyJudge {
        let (major, minor, patch) = settings.istio.version;
        let mut asm_workloads: BTreeSet<WorkloadRef> = gateways.into_iter().collect();
        asm_workloads.extend(settings.asm.own_workloads.iter().cloned());
        ProxyJudge {
            asm_image: settings.asm.proxy_image.clone(),
            istio_version: format!("{major}.{minor}.{patch}"),
            asm_workloads,
        }
    }

    pub fn on_asm(&self, pod: &PodObservation) -> bool {
        pod.istio_proxy && self.not_on_asm_because(pod).is_none()
    }

    /// Whether the pod belongs to ASM itself (a gateway ASM created, a component the plan names): its proxy
    /// container is named like Istio's, but it is ASM's.
    pub fn asm_own(&self, pod: &PodObservation) -> bool {
        pod.workload.as_ref().is_some_and(|workload| self.asm_workloads.contains(workload))
    }

    /// Whether the pod runs Istio's own proxy (not ASM's, and not one of ASM's own pods).
    pub fn on_istio(&self, pod: &PodObservation) -> bool {
        pod.istio_proxy && !self.asm_own(pod) && !self.on_asm(pod)
    }

    /// Why a pod with a proxy is not on ASM's, in words; `None` when it is.
    pub fn not_on_asm_because(&self, pod: &PodObservation) -> Option<String> {
        let image = pod.proxy_image.as_deref().unwrap_or_default();
        match &self.asm_image {
            Some(asm) if image.contains(asm.as_str()) => None,
            Some(_) => Some(format!("runs {image}, not ASM's proxy")),
            None if !pod.asm_label => Some("not on the ASM proxy".to_owned()),
            None if self.is_istios(image) => Some(format!("runs Istio's proxy {image}")),
            None => None,
        }
    }

    /// An image tagged with the installed Istio's version (`1.22.3`, `1.22.3-distroless`).
    fn is_istios(&self, image: &str) -> bool {
        let name = image.split('@').next().unwrap_or(image);
        let tag = name.rsplit_once(':').map(|(_, tag)| tag).filter(|tag| !tag.contains('/')).unwrap_or_default();
        tag == self.istio_version || tag.starts_with(&format!("{}-", self.istio_version))
    }
}

/// Every observed pod, with its cluster's name.
pub fn pods(observation: &Observation) -> impl Iterator<Item = (&String, &PodObservation)> {
    observation.clusters.iter().flat_map(|(cluster, observed)| observed.pods.iter().map(move |pod| (cluster, pod)))
}

/// Whether `pod`, of `cluster`, runs a workload that one of `releases` rendered.
pub fn in_releases(
    inventory: &Inventory,
    observation: &Observation,
    releases: &ReleasesByCluster,
    cluster: &str,
    pod: &PodObservation,
) -> bool {
    let (Some(found), Some(observed), Some(wanted)) =
        (inventory.clusters.get(cluster), observation.clusters.get(cluster), releases.get(cluster))
    else {
        return false;
    };
    helm_owner(found, observed, pod).is_some_and(|id| wanted.contains(id))
}

/// The id of the patched Helm release or chart kustomization that rendered the workload `pod` belongs to: a Flux
/// release by helm-controller's labels; else a chart kustomization of the pod's namespace, when no workload of the
/// repository owns the pod (kustomize's chart inflation marks nothing).
pub fn helm_owner<'i>(
    inventory: &'i ClusterInventory,
    observed: &ClusterObservation,
    pod: &PodObservation,
) -> Option<&'i str> {
    if let Some(release) = release_of(inventory, observed, pod) {
        return Some(&release.id);
    }
    let workload = pod.workload.as_ref()?;
    if inventory.workloads.iter().any(|known| &known.cluster == workload) {
        return None;
    }
    let charts = inventory.helm_charts.iter().find(|charts| charts.patched() && *charts.namespace == *pod.namespace)?;
    Some(&charts.id)
}

/// The HelmRelease of `inventory` that rendered the workload `pod` belongs to, as the cluster labels it.
pub fn release_of<'i>(
    inventory: &'i ClusterInventory,
    observed: &ClusterObservation,
    pod: &PodObservation,
) -> Option<&'i HelmRelease> {
    let workload = pod.workload.as_ref()?;
    let rollout = observed.rollouts.iter().find(|rollout| &rollout.workload == workload)?;
    inventory.helm_releases.iter().find(|release| release.rendered(rollout))
}

/// The rollouts of the workloads `releases` (ids of releases and chart kustomizations) rendered in a cluster.
pub fn rollouts_of<'o>(
    inventory: &ClusterInventory,
    observed: &'o ClusterObservation,
    releases: &BTreeSet<String>,
) -> Vec<&'o RolloutObservation> {
    let wanted: Vec<&HelmRelease> =
        inventory.helm_releases.iter().filter(|release| releases.contains(&release.id)).collect();
    let chart_namespaces: Vec<&str> = inventory
        .helm_charts
        .iter()
        .filter(|charts| charts.patched() && releases.contains(&charts.id))
        .map(|charts| &*charts.namespace)
        .collect();
    let of_charts = |rollout: &RolloutObservation| {
        rollout.helm_release.is_none()
            && chart_namespaces.contains(&&*rollout.workload.namespace)
            && !inventory.workloads.iter().any(|known| known.cluster == rollout.workload)
    };
    observed
        .rollouts
        .iter()
        .filter(|rollout| wanted.iter().any(|release| release.rendered(rollout)) || of_charts(rollout))
        .collect()
}

/// The current step's gates and the next step's preconditions, as a command reports them.
#[derive(Debug, Clone)]
pub struct GateReport {
    pub plan: String,
    /// The current step, with its 1-based position and the number of steps; `None` before the first step.
    pub step: Option<(StepId, usize, usize)>,
    pub asm: Option<AsmObservation>,
    pub gates: Vec<Gate>,
    /// The next step and its preconditions, when it has any.
    pub next: Option<(StepId, Vec<Gate>)>,
}

impl GateReport {
    fn all(&self) -> impl Iterator<Item = &Gate> {
        self.gates.iter().chain(self.next.iter().flat_map(|(_, preconditions)| preconditions))
    }

    /// Whether the next step may be taken: every gate and precondition met.
    pub fn all_met(&self) -> bool {
        self.all().all(Gate::met)
    }

    /// Whether every gate and precondition the clusters can show is met (confirmations are never observed).
    pub fn observed_met(&self) -> bool {
        self.all().all(|gate| !matches!(gate.outcome, GateOutcome::Unmet(_)))
    }

    pub fn observed_unmet(&self) -> usize {
        self.all().filter(|gate| matches!(gate.outcome, GateOutcome::Unmet(_))).count()
    }
}

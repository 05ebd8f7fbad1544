//! The steps of a migration: their ids, their order, and the cumulative desired state they add up to.

pub mod egress;
mod finished;
mod ingress;
mod init;
mod migrating;
mod setup;
mod wave;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::plan::{Egress, Ingress, Plan, Wave, WorkloadRef};
use crate::repo::Inventory;
use crate::state::State;

/// The value of `ASMMigrateFromIstio.spec.desiredState`; it only ever moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Init,
    SetupIstioForMigrate,
    Migrating,
    Finished,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Init => "Init",
            Phase::SetupIstioForMigrate => "SetupIstioForMigrate",
            Phase::Migrating => "Migrating",
            Phase::Finished => "Finished",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StepId {
    Init,
    Setup,
    Migrating,
    Wave(String),
    Egress(String, u32),
    Ingress(String),
    Finished,
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepId::Init => f.write_str("init"),
            StepId::Setup => f.write_str("setup"),
            StepId::Migrating => f.write_str("migrating"),
            StepId::Wave(name) => write!(f, "wave/{name}"),
            StepId::Egress(name, weight) => write!(f, "egress/{name}/{weight}"),
            StepId::Ingress(name) => write!(f, "ingress/{name}"),
            StepId::Finished => f.write_str("finished"),
        }
    }
}

impl StepId {
    /// init, setup, migrating, the waves, each egress weight by weight, the ingresses, finished.
    pub fn default_order(waves: &[Wave], egress: &[Egress], ingress: &[Ingress]) -> Vec<StepId> {
        let mut steps = vec![StepId::Init, StepId::Setup, StepId::Migrating];
        steps.extend(waves.iter().map(|wave| StepId::Wave(wave.name.clone())));
        for entry in egress {
            steps.extend(entry.weights.iter().map(|weight| StepId::Egress(entry.name.clone(), *weight)));
        }
        steps.extend(ingress.iter().map(|entry| StepId::Ingress(entry.name.clone())));
        steps.push(StepId::Finished);
        steps
    }

    pub fn phase(&self) -> Phase {
        match self {
            StepId::Init => Phase::Init,
            StepId::Setup => Phase::SetupIstioForMigrate,
            StepId::Finished => Phase::Finished,
            StepId::Migrating | StepId::Wave(_) | StepId::Egress(..) | StepId::Ingress(_) => Phase::Migrating,
        }
    }

    /// Position in the order rules: init < setup < migrating < waves, egress and ingress < finished.
    fn rank(&self) -> u8 {
        match self {
            StepId::Init => 0,
            StepId::Setup => 1,
            StepId::Migrating => 2,
            StepId::Wave(_) | StepId::Egress(..) | StepId::Ingress(_) => 3,
            StepId::Finished => 4,
        }
    }

    /// Why this step may not come next in an explicit order, if it may not.
    pub fn cannot_follow(&self, previous: &StepId, before: &[StepId]) -> Option<String> {
        if self.rank() < previous.rank() {
            return Some(format!(
                "step `{self}` cannot come after `{previous}`: the order is init, setup, migrating, then waves, egress and ingress, then finished"
            ));
        }
        if let StepId::Egress(name, weight) = self {
            let higher =
                before.iter().find(|step| matches!(step, StepId::Egress(other, w) if other == name && w > weight));
            if let Some(higher) = higher {
                return Some(format!(
                    "step `{self}` comes after `{higher}`: the weights of one egress move forward, in increasing order"
                ));
            }
        }
        None
    }

    /// Parses `init`, `wave/<name>`, ... against the plan's steps.
    pub fn find(plan: &Plan, text: &str) -> Option<StepId> {
        plan.steps.iter().find(|step| step.to_string() == text).cloned()
    }
}

/// A workload as the patches address it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct WorkloadKey {
    pub kind: crate::plan::WorkloadKind,
    pub namespace: String,
    pub name: String,
}

impl From<&WorkloadRef> for WorkloadKey {
    fn from(workload: &WorkloadRef) -> WorkloadKey {
        WorkloadKey { kind: workload.kind, namespace: workload.namespace.clone(), name: workload.name.clone() }
    }
}

/// What the migration looks like after a step: the sum of that step and every step before it.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    pub phase: Option<Phase>,
    /// ASM stops labelling istio-system, and the label it already set is removed (east-west gateways).
    pub release_istio_system: bool,
    /// `PROXY_CONFIG_XDS_AGENT: "true"` in Istio's mesh config.
    pub xds_agent: bool,
    /// The pod-template stamp that restarts Istio-injected workloads.
    pub restarted_at: Option<String>,
    /// Per cluster: Istio-injected workloads to restart.
    pub restarts: BTreeMap<String, BTreeSet<WorkloadKey>>,
    /// Per cluster: workloads moved to the ASM proxy.
    pub asm_proxy: BTreeMap<String, BTreeSet<WorkloadKey>>,
    /// Per egress name: the percentage sent to ASM's egress gateway.
    pub egress_weights: BTreeMap<String, u32>,
    /// Ingress names whose ASM gateway exists.
    pub ingress: BTreeSet<String>,
    pub finished: bool,
}

/// Everything a step needs to know; steps read it and never touch the disk.
pub struct StepContext<'a> {
    pub plan: &'a Plan,
    pub inventory: &'a Inventory,
    pub state: &'a State,
    /// The restart stamp to use when the state has none yet.
    pub fresh_stamp: &'a str,
}

/// The desired state after `target`: every step up to and including it, in plan order.
pub fn desired_after(context: &StepContext<'_>, target: &StepId) -> Desired {
    let mut desired = Desired::default();
    for step in &context.plan.steps {
        match step {
            StepId::Init => init::add(context, &mut desired),
            StepId::Setup => setup::add(context, &mut desired),
            StepId::Migrating => migrating::add(context, &mut desired),
            StepId::Wave(name) => wave::add(context, name, &mut desired),
            StepId::Egress(name, weight) => egress::add(name, *weight, &mut desired),
            StepId::Ingress(name) => ingress::add(name, &mut desired),
            StepId::Finished => finished::add(&mut desired),
        }
        if step == target {
            break;
        }
    }
    desired
}

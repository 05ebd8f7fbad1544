//! The step kinds: what each kind of step reads from the plan, checks against the repository, adds to the
//! desired state, renders, gates and says. Each kind is one file; the registry below lists them, in order.

/// The registry of step kinds, in the default order of their steps: `module::Type` for each kind, with `[section]`
/// for a kind that reads a section of the plan's `spec`. A new kind is a file in this directory (implementing
/// `StepKind` and `ReadKind`) and one line here; the module, the plan's field, its reading and `Plan::kinds` come
/// from this list. The macro hands the list to `$then`, so each place that needs it expands it its own way.
macro_rules! step_kinds {
    ($then:ident) => {
        $then! {
            init::Init,
            setup::Setup,
            migrating::Migrating,
            wave::Waves [waves],
            egress::EgressRoutes [egress],
            ingress::Ingresses [ingress],
            finished::Finished,
        }
    };
}
pub(crate) use step_kinds;

/// The kinds' modules, and `Kinds`: one value of each kind, as the plan configures it.
macro_rules! declare_kinds {
    ($( $module:ident :: $kind:ident $( [$section:ident] )? ),+ $(,)?) => {
        $( pub mod $module; )+

        /// Every step kind as the plan configures it (read from its section, when it has one).
        #[derive(Debug, Clone)]
        pub struct Kinds {
            $( pub(in crate::core) $module: $module::$kind, )+
        }

        impl Kinds {
            /// The kinds, in the default order of their steps.
            pub fn all(&self) -> Vec<&dyn StepKind> {
                vec![$( &self.$module as &dyn StepKind ),+]
            }
        }

        /// What each kind says of itself in the plan's schema and reference page, in the registry's order: the files
        /// beside it, `<kind>.md` and, for a kind with a section, `<kind>.schema.json`.
        pub fn references() -> Vec<KindReference> {
            vec![$(
                KindReference {
                    name: stringify!($module),
                    section: section_name!($( $section )?),
                    schema: section_schema!($module $( $section )?),
                    page: include_str!(concat!(stringify!($module), ".md")),
                }
            ),+]
        }

        /// What `init` proposes for each kind that proposes something, in the registry's order.
        pub fn proposals(sources: &[FoundSource<'_>]) -> Vec<Proposal> {
            [$( <$module::$kind as ReadKind>::propose(sources) ),+].into_iter().flatten().collect()
        }
    };
}

/// `Some("<section>")` for a kind with a section of the plan, else `None`.
macro_rules! section_name {
    () => {
        None
    };
    ($section:ident) => {
        Some(stringify!($section))
    };
}

/// The schema fragment beside a kind with a section of the plan (`<kind>.schema.json`), else `None`.
macro_rules! section_schema {
    ($module:ident) => {
        None
    };
    ($module:ident $section:ident) => {
        Some(include_str!(concat!(stringify!($module), ".schema.json")))
    };
}

step_kinds!(declare_kinds);

use crate::core::component::Rendering;
use crate::core::desired::Desired;
use crate::core::diagnostic::{Diagnostic, Diagnostics, Pos};
use crate::core::gate::{Gate, ProxyJudge};
use crate::core::inventory::{ClusterInventory, Inventory};
use crate::core::mesh_config::MeshConfigEdit;
use crate::core::names::{asm_gateway_workload, ASM_GATEWAY_NAMESPACE};
use crate::core::observe::{ClusterRead, Observation};
use crate::core::plan_reference::KindReference;
use crate::core::repository::Repository;
use crate::core::settings::{Checker, Located, Settings};
use crate::core::state::State;
use crate::core::step_id::{Phase, StepId};
use crate::core::workload::{WorkloadKind, WorkloadRef};

/// How a kind reads its section of the plan: the one signature every kind reads with. A kind without a section
/// reads `()`.
pub trait ReadKind: StepKind + Sized {
    /// The section as written (a list of entries), with source positions; empty when the plan leaves it out.
    type Raw: serde::de::DeserializeOwned + Default;

    /// The kind as the plan configures it; each problem is said to `check`, positioned in the plan.
    fn read(raw: Self::Raw, settings: &Settings, check: &mut Checker<'_>) -> Self;

    /// What `init` writes into the kind's section from the cluster sources it found, when the kind has a section.
    fn propose(_sources: &[FoundSource<'_>]) -> Option<Proposal> {
        None
    }
}

/// A cluster source `init` found: the plan's name for the cluster, and what its source builds.
pub struct FoundSource<'a> {
    pub cluster: &'a str,
    pub inventory: &'a ClusterInventory,
}

/// What `init` proposes for a kind's section of the plan.
#[derive(Debug, Clone)]
pub struct Proposal {
    /// The section's key in `spec`, which also names the count in `init`'s JSON report.
    pub section: &'static str,
    /// The template that writes the section into the plan, with `proposal` in its context.
    pub template: &'static str,
    /// The entries, as that template reads them.
    pub entries: Vec<serde_json::Value>,
    /// How `init`'s report counts the entries: `egress route(s)`.
    pub counted: &'static str,
    /// The clusters an ASM gateway of the entries runs in: the plan needs their ACK cluster IDs.
    pub gateway_clusters: Vec<String>,
}

/// What names a kind and places its steps in the order rules.
pub struct KindInfo {
    /// The first segment of the kind's step ids: `wave` in `wave/canary`.
    pub name: &'static str,
    /// How the order rules name the kind's steps: `waves`.
    pub plural: &'static str,
    /// The phase ASM is in once one of the kind's steps is taken.
    pub phase: Phase,
    /// Whether the kind's step switches ASM into its phase (and so comes before the other steps of the phase).
    pub switches_phase: bool,
}

/// A kind of step of the migration.
pub trait StepKind {
    fn info(&self) -> KindInfo;

    fn name(&self) -> &'static str {
        self.info().name
    }

    fn phase(&self) -> Phase {
        self.info().phase
    }

    /// Whether the kind's step removes Istio's install paths: from it on, they are neither checked nor followed.
    fn uninstalls_istio(&self) -> bool {
        false
    }

    /// The kind's steps, in their default order: by default its one step, named after it.
    fn steps(&self) -> Vec<StepId> {
        vec![StepId::of_kind(self.name())]
    }

    /// Why `step` may not come after the steps `before` in an explicit order (besides the phase order).
    fn order_problem(&self, _step: &StepId, _before: &[StepId]) -> Option<String> {
        None
    }

    /// The ASM gateways the kind creates, with the clusters they run in (their names are checked against each
    /// other and Istio's, and `migrating` waits for their rollout).
    fn asm_gateways(&self, _inventory: &Inventory) -> Vec<PlannedGateway> {
        Vec::new()
    }

    /// Problems of the plan's section against the repository, located in the plan or in the file at fault.
    fn check(&self, _context: &StepContext<'_>) -> Vec<Diagnostic> {
        Vec::new()
    }

    /// What taking `step` (one of the kind's) adds to the desired state.
    fn add_to_desired(&self, step: &StepId, context: &StepContext<'_>, desired: &mut Desired);

    /// The kind's part of the desired state after the pending step, rendered: the whole picture so far, which
    /// includes the kind's steps taken before (and none of those rolled back).
    fn render(&self, _pending: &PendingStep<'_>, _rendering: &mut Rendering<'_>) -> Result<(), Diagnostics> {
        Ok(())
    }

    /// The gates of the pending step (the current one) besides ASM having switched, over what was observed.
    fn gates(&self, _pending: &PendingStep<'_>, _observation: &Observation) -> Vec<Gate> {
        Vec::new()
    }

    /// What must hold before the pending step is taken (it removes or shifts something), over what was observed:
    /// `advance` checks them before committing the step, and `apply` refuses the step without `--force`.
    fn preconditions(&self, _pending: &PendingStep<'_>, _observation: &Observation) -> Vec<Gate> {
        Vec::new()
    }

    /// The lists the kind's gates read from every data-plane cluster, beyond what every gate reads.
    fn cluster_reads(&self) -> Vec<ClusterRead> {
        Vec::new()
    }

    /// What the operator must do by hand around the pending step, in words.
    fn notes(&self, _pending: &PendingStep<'_>) -> Vec<String> {
        Vec::new()
    }

    /// What taking a step changes in the kind's own part of the desired state, from `before` to `after` (the
    /// shared parts, the phase, restarts, moves and ASM's gateways, are said by `effects::StepEffects`).
    fn effects(&self, _before: &Desired, _after: &Desired) -> KindEffects {
        KindEffects::default()
    }

    /// The kind's part of `validate`'s summary of the plan, when it has one.
    fn summary(&self) -> Option<KindSummary> {
        None
    }
}

/// A kind's part of a step's effects: fields of the JSON report, in order, and lines of text.
#[derive(Default)]
pub struct KindEffects {
    pub fields: Vec<(&'static str, serde_json::Value)>,
    pub lines: Vec<String>,
}

/// A kind's part of `validate`'s summary: a key of the JSON document's `plan`, and lines of its text.
pub struct KindSummary {
    pub key: &'static str,
    pub json: serde_json::Value,
    /// Each line as printed, indented under the plan's first line.
    pub lines: Vec<String>,
}

/// An ASM gateway a kind creates, as the plan names it.
pub struct PlannedGateway {
    pub name: String,
    pub pos: Pos,
    /// The plan entry that creates it: `ingress `public``.
    pub owner: String,
    /// Whether the gateway serves only this entry (an ingress) or may be shared by several (egress).
    pub exclusive: bool,
    pub gateway_type: &'static str,
    /// The clusters its pods run in (its `clusterIds`).
    pub clusters: Vec<String>,
    /// `namespace/name` of the Gateways it serves, when it is an ingress gateway.
    pub serves: Vec<String>,
}

/// A step as the migration would take it: what its kinds compute from, and the desired state after it.
pub struct PendingStep<'a> {
    pub step: StepId,
    pub context: StepContext<'a>,
    pub desired: Desired,
}

impl PlannedGateway {
    /// The gateway `asm_gateway` of entry `entry` of the plan's `kind` section (an `ingress` is exclusive).
    pub fn of(
        kind: &'static str,
        entry: &str,
        asm_gateway: &Located<String>,
        exclusive: bool,
        clusters: Vec<String>,
    ) -> PlannedGateway {
        PlannedGateway {
            name: asm_gateway.value.clone(),
            pos: asm_gateway.pos,
            owner: format!("{kind} `{entry}`"),
            exclusive,
            gateway_type: kind,
            clusters,
            serves: Vec::new(),
        }
    }

    /// Whether the gateway is the one of entry `entry` of the plan's `kind` section.
    pub fn owner_is(&self, kind: &str, entry: &str) -> bool {
        self.gateway_type == kind && self.owner == format!("{kind} `{entry}`")
    }

    /// The Deployment ASM creates for the gateway in each of its clusters: `istio-<name>` in istio-system.
    pub fn deployment(&self) -> WorkloadRef {
        WorkloadRef::new(WorkloadKind::Deployment, ASM_GATEWAY_NAMESPACE, &asm_gateway_workload(&self.name))
    }
}

/// Which proxy each pod runs, knowing ASM's own pods: those of the gateways the plan creates and the components
/// it names.
pub fn proxy_judge(context: &StepContext<'_>) -> ProxyJudge {
    ProxyJudge::of(context.settings, context.asm_gateways.iter().map(PlannedGateway::deployment))
}

/// Met when ASM's Deployment of each gateway is rolled out in each of its clusters.
pub fn gateways_rolled_out(name: &'static str, gateways: &[&PlannedGateway], observation: &Observation) -> Gate {
    let mut pending = Vec::new();
    for gateway in gateways {
        let deployment = gateway.deployment();
        for cluster in &gateway.clusters {
            let rollout = observation
                .clusters
                .get(cluster)
                .and_then(|observed| observed.rollouts.iter().find(|rollout| rollout.workload == deployment));
            let shown = format!("{cluster}: {}/{}", deployment.namespace, deployment.name);
            match rollout {
                None => pending.push(format!("{shown} (not found)")),
                Some(rollout) if !rollout.complete() || rollout.ready < 1 => pending.push(format!(
                    "{shown} ({} of {} updated, {} ready)",
                    rollout.updated, rollout.desired, rollout.ready
                )),
                Some(_) => {}
            }
        }
    }
    Gate::unless_found(name, &pending, "ASM gateway(s) not rolled out")
}

/// Everything a kind computes from: the plan's settings and the repository as loaded for the step.
pub struct StepContext<'a> {
    pub settings: &'a Settings,
    pub repository: &'a Repository,
    /// The cluster sources as they build at the step (without Istio's install paths at `finished`).
    pub inventory: &'a Inventory,
    /// Whether Istio's install paths are gone at the step (`finished`): they are no longer checked or read.
    pub uninstalled: bool,
    pub state: &'a State,
    /// The restart stamp to use when the state has none yet.
    pub fresh_stamp: &'a str,
    /// Istio's mesh config with PROXY_CONFIG_XDS_AGENT set, computed once, or why it cannot be.
    pub mesh_config: &'a Result<MeshConfigEdit, Diagnostic>,
    /// Every ASM gateway the plan's kinds create.
    pub asm_gateways: Vec<PlannedGateway>,
}

/// The kind's position in the order rules: phases in order, and within a phase the step switching into it first.
pub fn rank(kind: &dyn StepKind) -> u8 {
    let info = kind.info();
    (info.phase as u8) * 2 + u8::from(!info.switches_phase)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::MemoryRepo;

    /// A kind's names are said twice, once in its file and once in the registry: they must be the same.
    #[test]
    fn each_kind_names_itself_and_its_section_as_the_registry_does() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/repos/shop");
        let plan = MemoryRepo::read_dir(&root).unwrap().plan().unwrap();
        let registered = references();
        let named: Vec<&str> = plan.kinds().iter().map(|kind| kind.name()).collect();
        assert_eq!(named, registered.iter().map(|kind| kind.name).collect::<Vec<_>>());
        let sections: Vec<&str> = registered.iter().filter_map(|kind| kind.section).collect();
        let proposed: Vec<&str> = proposals(&[]).iter().map(|proposal| proposal.section).collect();
        assert_eq!(proposed, sections, "each kind with a section proposes it, under the registry's name");
        for proposal in proposals(&[]) {
            assert_eq!(proposal.template, format!("init/plan-{}.yaml.j2", proposal.section));
        }
    }
}

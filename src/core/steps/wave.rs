//! `wave/<name>`: the wave's workloads get the pod-template label that puts them on the ASM proxy; gated on their
//! pods running ASM's proxy, ready, and their rollouts complete. The plan's `spec.waves`.

use std::collections::{BTreeMap, BTreeSet};

use minijinja::context;
use serde::Deserialize;
use serde_json::{json, Value};
use serde_saphyr::Spanned;

use crate::core::component::Rendering;
use crate::core::desired::{add_to, in_clusters, ByCluster, Desired};
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::gate::{helm_owner, rollouts_of, Gate, ProxyJudge};
use crate::core::helm::HelmRelease;
use crate::core::inventory::{ClusterInventory, Workload};
use crate::core::names::{any_of, dns_label, exact_name_pattern};
use crate::core::observe::{Observation, PodObservation, RolloutObservation};
use crate::core::settings::{pos, Checker, Located, Settings};
use crate::core::step_id::{Phase, StepId};
use crate::core::steps::{
    proxy_judge, FoundSource, KindInfo, PendingStep, Proposal, ReadKind, StepContext, StepKind,
};
use crate::core::workload::{WorkloadKind, WorkloadRef, WorkloadRefError};
use crate::core::yaml::quoted;

const ISTIO_SYSTEM: &str = "istio-system";

/// A wave as written in the plan.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWave {
    name: Spanned<String>,
    clusters: Option<Vec<Spanned<String>>>,
    workloads: Option<Vec<Spanned<String>>>,
    namespaces: Option<Vec<Spanned<String>>>,
    all: Option<Spanned<bool>>,
}

#[derive(Debug, Clone)]
pub struct Wave {
    pub name: String,
    /// Clusters the wave applies to; every cluster when the plan says nothing.
    pub clusters: Vec<String>,
    pub selection: WaveSelection,
}

#[derive(Debug, Clone)]
pub enum WaveSelection {
    /// Workloads of the repository, and Flux HelmReleases (`HelmRelease/<namespace>/<name>`: every workload of
    /// its chart).
    Workloads {
        workloads: Vec<Located<WorkloadRef>>,
        releases: Vec<Located<String>>,
    },
    Namespaces(Vec<Located<String>>),
    All,
}

/// The plan's waves, in order: the wave step kind.
#[derive(Debug, Clone, Default)]
pub struct Waves(pub Vec<Wave>);

impl Waves {
    pub const KIND: &'static str = "wave";

    fn wave(&self, step: &StepId) -> Option<&Wave> {
        self.0.iter().find(|wave| Some(wave.name.as_str()) == step.instance())
    }
}

impl ReadKind for Waves {
    type Raw = Vec<RawWave>;

    fn propose(sources: &[FoundSource<'_>]) -> Option<Proposal> {
        Some(Proposal {
            section: "waves",
            template: "init/plan-waves.yaml.j2",
            entries: proposed(sources).iter().map(ProposedWave::entry).collect(),
            counted: "wave(s)",
            gateway_clusters: Vec::new(),
        })
    }

    fn read(raw: Vec<RawWave>, settings: &Settings, check: &mut Checker<'_>) -> Waves {
        let cluster_names: Vec<String> = settings.clusters.iter().map(|cluster| cluster.name.clone()).collect();
        let cluster_names = cluster_names.as_slice();
        if let Some(first) = raw.first().filter(|wave| wave.all.as_ref().is_some_and(|all| all.value)) {
            if raw.len() == 1 && first.clusters.is_none() && cluster_names.len() > 1 {
                check.warn(
                    pos(&first.name),
                    format!(
                        "wave `{}` moves every workload of every cluster at once: no canary goes first",
                        first.name.value
                    ),
                    "start with a wave of a few workloads (`workloads:`) or one cluster (`clusters:`), then widen",
                );
            }
        }
        Waves(check.named_entries(
            raw,
            "wave",
            |wave| &wave.name,
            |wave, check| {
                let clusters = wave_clusters(&wave, cluster_names, check);
                let selection = selection(wave.workloads, wave.namespaces, wave.all.as_ref(), &wave.name, check);
                Wave { name: wave.name.value, clusters, selection }
            },
        ))
    }
}

fn wave_clusters(wave: &RawWave, cluster_names: &[String], check: &mut Checker<'_>) -> Vec<String> {
    let Some(names) = &wave.clusters else { return cluster_names.to_vec() };
    for name in names.iter().filter(|name| !cluster_names.contains(&name.value)) {
        check.fail(
            pos(name),
            format!("wave `{}` names cluster `{}`, which the plan does not define", wave.name.value, name.value),
        );
    }
    names.iter().map(|name| name.value.clone()).collect()
}

fn selection(
    workloads: Option<Vec<Spanned<String>>>,
    namespaces: Option<Vec<Spanned<String>>>,
    all: Option<&Spanned<bool>>,
    name: &Spanned<String>,
    check: &mut Checker<'_>,
) -> WaveSelection {
    let all = all.is_some_and(|all| all.value);
    if [workloads.is_some(), namespaces.is_some(), all].iter().filter(|given| **given).count() != 1 {
        check.fail(
            pos(name),
            format!(
                "wave `{}` must select its workloads with exactly one of `workloads`, `namespaces` or `all: true`",
                name.value
            ),
        );
    }
    if let Some(workloads) = workloads {
        if workloads.is_empty() {
            check.fail(pos(name), format!("wave `{}` selects no workload: list at least one", name.value));
        }
        let (mut refs, mut releases) = (Vec::new(), Vec::new());
        for workload in workloads {
            // `HelmRelease/<namespace>/<name>` names a release as `[Kind/]namespace/name` names a workload.
            let release = workload.value.strip_prefix("HelmRelease/");
            let parsed = match release {
                Some(rest) if rest.matches('/').count() == 1 => WorkloadRef::parse(rest),
                Some(_) => Err(WorkloadRefError::Shape),
                None => WorkloadRef::parse(&workload.value),
            };
            match parsed {
                Ok(_) if release.is_some() => {
                    releases.push(Located { value: workload.value.clone(), pos: pos(&workload) })
                }
                Ok(value) => refs.push(Located { value, pos: pos(&workload) }),
                Err(reason) => check.fail(pos(&workload), format!("workload `{}` {reason}", quoted(&workload.value))),
            }
        }
        WaveSelection::Workloads { workloads: refs, releases }
    } else if let Some(namespaces) = namespaces {
        if namespaces.is_empty() {
            check.fail(pos(name), format!("wave `{}` selects no namespace: list at least one", name.value));
        }
        for namespace in &namespaces {
            check.dns_label(namespace, "namespace");
        }
        WaveSelection::Namespaces(
            namespaces.iter().map(|ns| Located { value: ns.value.clone(), pos: pos(ns) }).collect(),
        )
    } else {
        WaveSelection::All
    }
}

impl StepKind for Waves {
    fn info(&self) -> KindInfo {
        KindInfo { name: Waves::KIND, plural: "waves", phase: Phase::Migrating, switches_phase: false }
    }

    fn steps(&self) -> Vec<StepId> {
        self.0.iter().map(|wave| StepId::of_instance(Waves::KIND, &wave.name)).collect()
    }

    /// What a wave names must exist in its clusters' sources, Istio-injected.
    fn check(&self, context: &StepContext<'_>) -> Vec<Diagnostic> {
        self.0.iter().flat_map(|wave| check_wave(wave, context)).collect()
    }

    fn add_to_desired(&self, step: &StepId, context: &StepContext<'_>, desired: &mut Desired) {
        let Some(wave) = self.wave(step) else { return };
        for cluster in &wave.clusters {
            let Some(inventory) = context.inventory.clusters.get(cluster) else { continue };
            add_to(&mut desired.asm_proxy, cluster, selected(wave, inventory));
            desired.helm_asm_proxy.entry(cluster.clone()).or_default().extend(selected_releases(wave, inventory));
        }
    }

    fn render(&self, pending: &PendingStep<'_>, rendering: &mut Rendering<'_>) -> Result<(), Diagnostics> {
        let (context, desired) = (&pending.context, &pending.desired);
        for cluster in &context.settings.clusters {
            let Some(inventory) = context.inventory.clusters.get(&cluster.name) else { continue };
            let Some(workloads) = desired.asm_proxy.get(&cluster.name).filter(|moved| !moved.is_empty()) else {
                continue;
            };
            // Kinds moved whole take kustomize's label transformer; the rest a JSON patch per kind and namespace.
            let split = inventory.split_by_kind(workloads);
            let transformer = ("cluster/asm-proxy-transformer.yaml.j2", "asm-proxy-transformer.yaml");
            rendering.whole_kinds_transformer(&cluster.name, &split, transformer, context! {})?;
            if !split.rest.is_empty() {
                let targets_in = cluster.include_as.targets_file("kustomization.yaml", "this file");
                let text = rendering.template("cluster/asm-proxy-patch.yaml.j2", context! { targets_in })?;
                let component = rendering.component(&cluster.name);
                component.files.insert("asm-proxy-patch.yaml".to_owned(), text);
                component.patches.extend(grouped_targets("asm-proxy-patch.yaml", &split.rest, inventory));
            }
        }
        Ok(())
    }

    fn gates(&self, pending: &PendingStep<'_>, observation: &Observation) -> Vec<Gate> {
        let judge = proxy_judge(&pending.context);
        let moved = in_clusters(&pending.desired.asm_proxy, pending.context.inventory);
        let (mut off_asm, mut rollouts) = moved_workloads_not_ready(&moved, observation, &judge);
        let (more_off_asm, more_rollouts) =
            moved_releases_not_ready(&pending.context, &pending.desired, observation, &judge);
        off_asm.extend(more_off_asm);
        rollouts.extend(more_rollouts);
        vec![
            Gate::unless_found(
                "pods on the ASM proxy",
                &off_asm,
                "pod(s) of moved workloads not on the ASM proxy and ready",
            ),
            Gate::unless_found("rollouts complete", &rollouts, "rollout(s) not complete"),
        ]
    }
}

/// The Istio-injected workloads of a cluster that `wave` moves. Istio's own gateways in istio-system stay Istio's
/// until `finished` removes them.
fn selected<'i>(wave: &'i Wave, inventory: &'i ClusterInventory) -> impl Iterator<Item = WorkloadRef> + 'i {
    inventory
        .workloads
        .iter()
        .filter(|w| w.injected && &*w.workload.namespace != ISTIO_SYSTEM)
        .filter(move |w| match &wave.selection {
            WaveSelection::Workloads { workloads, .. } => workloads.iter().any(|wanted| w.is_named(&wanted.value)),
            WaveSelection::Namespaces(namespaces) => namespaces.iter().any(|ns| w.in_namespace(&ns.value)),
            WaveSelection::All => true,
        })
        .map(|w| w.workload.clone())
}

/// The Helm releases (and Argo CD chart kustomizations) of a cluster whose workloads `wave` moves (through their post
/// renderers, or the Component their kustomization lists); as workloads, never those of istio-system.
fn selected_releases<'i>(wave: &'i Wave, inventory: &'i ClusterInventory) -> impl Iterator<Item = String> + 'i {
    let releases = inventory
        .helm_releases
        .iter()
        .filter(|release| release.patched() && &*release.workload_namespace != ISTIO_SYSTEM)
        .filter(move |release| match &wave.selection {
            WaveSelection::Workloads { releases, .. } => releases.iter().any(|wanted| wanted.value == release.id),
            WaveSelection::Namespaces(namespaces) => {
                namespaces.iter().any(|ns| *ns.value == *release.workload_namespace)
            }
            WaveSelection::All => true,
        })
        .map(|release| release.id.clone());
    // A chart kustomization an Argo CD Application builds moves with its namespace.
    let charts = inventory
        .helm_charts
        .iter()
        .filter(|charts| charts.patched() && &*charts.namespace != ISTIO_SYSTEM)
        .filter(move |charts| match &wave.selection {
            WaveSelection::Workloads { .. } => false,
            WaveSelection::Namespaces(namespaces) => namespaces.iter().any(|ns| *ns.value == *charts.namespace),
            WaveSelection::All => true,
        })
        .map(|charts| charts.id.clone());
    releases.chain(charts)
}

fn check_wave(wave: &Wave, context: &StepContext<'_>) -> Vec<Diagnostic> {
    let settings = context.settings;
    let in_wave = || wave.clusters.iter().filter_map(|cluster| context.inventory.clusters.get(cluster));
    let mut problems = Vec::new();
    match &wave.selection {
        WaveSelection::Workloads { workloads: refs, releases } => {
            for release in releases {
                let found: Vec<&HelmRelease> = in_wave()
                    .filter_map(|cluster| cluster.helm_releases.iter().find(|r| r.id == release.value))
                    .collect();
                let why = match found.iter().find(|r| !r.patched()) {
                    _ if found.iter().any(|r| r.patched()) => continue,
                    None => {
                        problems.push(settings.error_at(
                            release.pos,
                            format!("wave `{}`: no cluster source of the wave defines {}", wave.name, release.value),
                        ));
                        continue;
                    }
                    Some(r) if r.istio_own => {
                        "one of Istio's own releases, which stay Istio's until `finished`".to_owned()
                    }
                    Some(r) if r.acknowledged => {
                        "listed in the cluster's `unseen`: its workloads are yours to restart and move".to_owned()
                    }
                    Some(r) => format!(
                        "in namespace `{}`, which the repository does not label for Istio's injection",
                        r.cluster_workload_namespace
                    ),
                };
                problems.push(settings.error_at(
                    release.pos,
                    format!("wave `{}`: asm-migrate does not move {}: it is {why}", wave.name, release.value),
                ));
            }
            for workload in refs {
                let found: Vec<bool> =
                    in_wave().filter_map(|c| c.named(&workload.value)).map(|w| w.injected).collect();
                if found.is_empty() {
                    problems.push(settings.error_at(
                        workload.pos,
                        format!("wave `{}`: no cluster source of the wave defines {}", wave.name, workload.value),
                    ));
                } else if !found.contains(&true) {
                    problems.push(settings.error_at(
                        workload.pos,
                        format!(
                            "wave `{}`: {} is not Istio-injected, so there is nothing to move to ASM",
                            wave.name, workload.value
                        ),
                    ));
                }
            }
        }
        WaveSelection::Namespaces(namespaces) => {
            for namespace in namespaces {
                let known = in_wave().any(|cluster| {
                    cluster.namespaces.contains_key(&namespace.value)
                        || cluster.workloads.iter().any(|w| w.in_namespace(&namespace.value))
                        || cluster.helm_releases.iter().any(|r| *r.workload_namespace == *namespace.value)
                        || cluster.helm_charts.iter().any(|charts| *charts.namespace == *namespace.value)
                });
                if !known {
                    problems.push(settings.error_at(
                        namespace.pos,
                        format!(
                            "wave `{}`: no cluster source of the wave has namespace `{}`",
                            wave.name, namespace.value
                        ),
                    ));
                }
            }
        }
        WaveSelection::All => {}
    }
    problems
}

/// Patch entries for workloads: for each kind, one entry for the namespaces whose workloads of that kind all move
/// (no name to match), and one per other namespace naming its workloads (kustomize anchors both regexes). Every
/// entry makes kustomize look at every resource, so the fewer the better, whatever the number of workloads.
fn grouped_targets(path: &str, workloads: &BTreeSet<WorkloadRef>, inventory: &ClusterInventory) -> Vec<Value> {
    let mut groups: BTreeMap<(WorkloadKind, &str), Vec<String>> = BTreeMap::new();
    for workload in workloads {
        groups.entry((workload.kind, &*workload.namespace)).or_default().push(workload.name.replace('.', "\\."));
    }
    let mut whole: BTreeMap<WorkloadKind, Vec<&str>> = BTreeMap::new();
    let mut entries = Vec::new();
    for ((kind, namespace), names) in groups {
        let whole_group = inventory.of_kind(kind).filter(|w| &*w.namespace == namespace).all(|w| workloads.contains(w));
        if whole_group {
            whole.entry(kind).or_default().push(namespace);
        } else {
            entries.push(
                json!({"path": path, "target": {"group": "apps", "version": "v1", "kind": kind.name(), "namespace": exact_name_pattern(namespace), "name": any_of(&names)}}),
            );
        }
    }
    let mut targets: Vec<Value> = whole
        .into_iter()
        .map(|(kind, namespaces)| {
            json!({"path": path, "target": {"group": "apps", "version": "v1", "kind": kind.name(), "namespace": any_of(&namespaces)}})
        })
        .collect();
    targets.extend(entries);
    targets
}

/// Pods of the workloads of the Helm releases moved so far (helm-controller labels what each renders) that are not
/// on the ASM proxy and ready, and their incomplete rollouts.
fn moved_releases_not_ready(
    context: &StepContext<'_>,
    desired: &Desired,
    observation: &Observation,
    judge: &ProxyJudge,
) -> (Vec<String>, Vec<String>) {
    let (mut off_asm, mut rollouts) = (Vec::new(), Vec::new());
    for (cluster, moved) in desired.helm_asm_proxy.iter().filter(|(_, moved)| !moved.is_empty()) {
        let (Some(found), Some(observed)) =
            (context.inventory.clusters.get(cluster), observation.clusters.get(cluster))
        else {
            continue;
        };
        for pod in &observed.pods {
            if helm_owner(found, observed, pod).is_some_and(|id| moved.contains(id)) {
                off_asm.extend(not_on_asm_and_ready(cluster, pod, judge));
            }
        }
        let incomplete = rollouts_of(found, observed, moved).into_iter().filter(|rollout| !rollout.complete());
        rollouts.extend(incomplete.map(|rollout| incomplete_rollout(cluster, rollout)));
    }
    (off_asm, rollouts)
}

/// Pods of the workloads moved so far that are not on the ASM proxy and ready, and their incomplete rollouts.
fn moved_workloads_not_ready(
    moved_by_cluster: &ByCluster,
    observation: &Observation,
    judge: &ProxyJudge,
) -> (Vec<String>, Vec<String>) {
    let mut off_asm = Vec::new();
    let mut rollouts = Vec::new();
    for (cluster, moved) in moved_by_cluster {
        let Some(observed) = observation.clusters.get(cluster) else { continue };
        for pod in &observed.pods {
            if pod.workload.as_ref().is_some_and(|workload| moved.contains(workload)) {
                off_asm.extend(not_on_asm_and_ready(cluster, pod, judge));
            }
        }
        let observed_workloads: BTreeSet<_> = observed.rollouts.iter().map(|rollout| &rollout.workload).collect();
        for workload in moved {
            match observed.rollouts.iter().find(|rollout| &rollout.workload == workload) {
                Some(rollout) if !rollout.complete() => rollouts.push(incomplete_rollout(cluster, rollout)),
                None if !observed_workloads.is_empty() => {
                    rollouts.push(format!("{cluster}: {}/{} (not found)", workload.namespace, workload.name))
                }
                _ => {}
            }
        }
    }
    (off_asm, rollouts)
}

/// `cluster: namespace/pod (why)` when a pod of a moved workload is not on the ASM proxy and ready.
fn not_on_asm_and_ready(cluster: &str, pod: &PodObservation, judge: &ProxyJudge) -> Option<String> {
    let why = match judge.not_on_asm_because(pod) {
        Some(why) => why,
        None if !pod.ready => "not ready".to_owned(),
        None => return None,
    };
    Some(format!("{cluster}: {} ({why})", pod.display()))
}

/// `cluster: namespace/name (u of d updated, r ready)`.
fn incomplete_rollout(cluster: &str, rollout: &RolloutObservation) -> String {
    let workload = &rollout.workload;
    format!(
        "{cluster}: {}/{} ({} of {} updated, {} ready)",
        workload.namespace, workload.name, rollout.updated, rollout.desired, rollout.ready
    )
}

// ---- What `init` proposes ----

/// What a proposed wave moves.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ProposedSelection {
    /// `[Kind/]namespace/name` entries.
    Workloads(Vec<String>),
    Namespaces(Vec<String>),
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ProposedWave {
    name: String,
    /// The clusters it moves workloads in; `None`: every cluster.
    clusters: Option<Vec<String>>,
    selects: ProposedSelection,
    from: String,
}

impl ProposedWave {
    /// The wave as the plan template writes it.
    fn entry(&self) -> Value {
        let mut entry = json!({"name": self.name, "from": self.from, "clusters": self.clusters});
        match &self.selects {
            ProposedSelection::Workloads(workloads) => entry["workloads"] = json!(workloads),
            ProposedSelection::Namespaces(namespaces) => entry["namespaces"] = json!(namespaces),
            ProposedSelection::All => {}
        }
        entry
    }
}

fn movable(workload: &Workload) -> bool {
    workload.injected && &*workload.workload.namespace != "istio-system"
}

/// The waves `init` proposes: one small canary first, then one wave per namespace, then the rest.
fn proposed(sources: &[FoundSource<'_>]) -> Vec<ProposedWave> {
    let Some((canary, canary_namespace)) = proposed_canary(sources) else { return Vec::new() };
    let namespaces = namespace_waves(sources, &canary, &canary_namespace);
    let mut waves = vec![canary];
    waves.extend(namespaces);
    waves.push(ProposedWave {
        name: "rest".to_owned(),
        clusters: None,
        selects: ProposedSelection::All,
        from: "whatever is Istio-injected and not moved yet when the step is taken".to_owned(),
    });
    waves
}

/// The canary wave and its workload's namespace: the smallest Istio-injected workload, else (only Helm releases)
/// a Helm release, whose namespace is left empty; `None` when there is neither.
fn proposed_canary(sources: &[FoundSource<'_>]) -> Option<(ProposedWave, String)> {
    let several_clusters = sources.len() > 1;
    match canary(sources) {
        Some((cluster, workload)) => {
            let planned = workload.planned();
            let reference = match planned.kind {
                WorkloadKind::Deployment => format!("{}/{}", planned.namespace, planned.name),
                _ => planned.to_string(),
            };
            let replicas = workload.replicas.map_or("one pod per node".to_owned(), |n| format!("{n} replica(s)"));
            let wave = ProposedWave {
                name: "canary".to_owned(),
                clusters: several_clusters.then(|| vec![cluster.to_owned()]),
                selects: ProposedSelection::Workloads(vec![reference]),
                from: format!("the smallest Istio-injected workload of cluster {cluster} ({replicas})"),
            };
            Some((wave, planned.namespace.to_string()))
        }
        None => {
            // Only Helm releases: the first Flux release of the first cluster, by name, is the canary.
            let (cluster, release) = sources.iter().find_map(|source| {
                let release =
                    source.inventory.helm_releases.iter().find(|release| release.injected && !release.istio_own)?;
                Some((source.cluster, release))
            })?;
            let wave = ProposedWave {
                name: "canary".to_owned(),
                clusters: several_clusters.then(|| vec![cluster.to_owned()]),
                selects: ProposedSelection::Workloads(vec![release.id.clone()]),
                from: format!("a Helm release of cluster {cluster}: its workloads are not in the repository"),
            };
            Some((wave, String::new()))
        }
    }
}

/// One wave per namespace of Istio-injected workloads or injected Helm releases, in order, but for a namespace
/// that holds only the canary.
fn namespace_waves(sources: &[FoundSource<'_>], canary: &ProposedWave, canary_namespace: &str) -> Vec<ProposedWave> {
    let releases: Vec<(&str, &str)> = sources.iter().flat_map(|source| source.inventory.injected_releases()).collect();
    let namespaces: BTreeSet<&str> = sources
        .iter()
        .flat_map(|source| source.inventory.workloads.iter().filter(|w| movable(w)))
        .map(|workload| &*workload.cluster.namespace)
        .chain(releases.iter().map(|(_, namespace)| *namespace))
        .collect();
    let canary_release = match &canary.selects {
        ProposedSelection::Workloads(references) => references.first().map(String::as_str),
        _ => None,
    };
    let mut waves = Vec::new();
    for namespace in namespaces {
        let workloads = sources
            .iter()
            .flat_map(|source| source.inventory.workloads.iter())
            .filter(|w| movable(w) && &*w.cluster.namespace == namespace)
            .count();
        let rendered: BTreeSet<&str> =
            releases.iter().filter(|(_, in_namespace)| *in_namespace == namespace).map(|(id, _)| *id).collect();
        let only_the_canary = (workloads == 1 && rendered.is_empty() && canary_namespace == namespace)
            || (workloads == 0 && rendered.len() == 1 && rendered.iter().next().copied() == canary_release);
        if only_the_canary {
            continue;
        }
        waves.push(namespace_wave(namespace, workloads, rendered));
    }
    waves
}

/// The wave of `namespace`, which holds `workloads` Istio-injected workloads and what the releases `rendered`
/// render; named after it unless that name is `canary` or `rest`.
fn namespace_wave(namespace: &str, workloads: usize, rendered: BTreeSet<&str>) -> ProposedWave {
    let label = dns_label(namespace);
    let name = if ["canary", "rest"].contains(&label.as_str()) { dns_label(&format!("ns-{label}")) } else { label };
    ProposedWave {
        name,
        clusters: None,
        selects: ProposedSelection::Namespaces(vec![namespace.to_owned()]),
        from: match rendered.is_empty() {
            true => format!("{workloads} Istio-injected workload(s) in namespace {namespace}"),
            false => format!(
                "{workloads} Istio-injected workload(s) and what {} render(s) in namespace {namespace}",
                rendered.into_iter().collect::<Vec<_>>().join(", ")
            ),
        },
    }
}

/// The canary: the Istio-injected Deployment (else workload) with the fewest replicas, in the first cluster that
/// has one.
fn canary<'i>(sources: &[FoundSource<'i>]) -> Option<(&'i str, &'i Workload)> {
    sources.iter().find_map(|source| {
        let inventory = source.inventory;
        let movable: Vec<&Workload> = inventory.workloads.iter().filter(|w| movable(w)).collect();
        let deployments = movable.iter().copied().filter(|w| w.workload.kind == WorkloadKind::Deployment);
        let smallest = deployments
            .min_by_key(|w| w.replicas.unwrap_or(1))
            .or_else(|| movable.iter().copied().min_by_key(|w| w.replicas.unwrap_or(u64::MAX)))?;
        Some((source.cluster, smallest))
    })
}

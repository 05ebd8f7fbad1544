//! The migration plan: read with source positions, then validated into types that cannot be wrong.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::diagnostic::{Diagnostic, Diagnostics, Pos};
use crate::steps::StepId;

pub const PLAN_API_VERSION: &str = "asm-migrate/v1alpha1";
pub const DEFAULT_ASM_API_VERSION: &str = "istio.alibabacloud.com/v1beta1";
/// The vendor procedure needs Istio 1.10 or newer.
const MINIMUM_ISTIO: (u32, u32) = (1, 10);

// ---- What the user wrote (stage one) ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPlan {
    api_version: Spanned<String>,
    kind: Spanned<String>,
    metadata: RawMetadata,
    spec: RawSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetadata {
    name: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSpec {
    engine: Spanned<String>,
    output: Spanned<String>,
    #[serde(default)]
    asm: RawAsm,
    istio: RawIstio,
    clusters: Vec<RawCluster>,
    #[serde(default)]
    waves: Vec<RawWave>,
    #[serde(default)]
    egress: Vec<RawEgress>,
    #[serde(default)]
    ingress: Vec<RawIngress>,
    #[serde(default)]
    steps: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAsm {
    api_version: Option<Spanned<String>>,
    context: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawIstio {
    version: Spanned<String>,
    mesh_config: RawMeshConfig,
    #[serde(default)]
    install_paths: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeshConfig {
    kind: Spanned<String>,
    path: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawCluster {
    name: Spanned<String>,
    context: Option<String>,
    network: Spanned<String>,
    #[serde(default)]
    east_west_gateway: bool,
    source: Spanned<String>,
    cluster_id: Option<Spanned<String>>,
    include_component: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWave {
    name: Spanned<String>,
    clusters: Option<Vec<Spanned<String>>>,
    workloads: Option<Vec<Spanned<String>>>,
    namespaces: Option<Vec<Spanned<String>>>,
    all: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawEgress {
    name: Spanned<String>,
    virtual_service: Spanned<String>,
    asm_gateway: Spanned<String>,
    weights: Spanned<Vec<Spanned<i64>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawIngress {
    name: Spanned<String>,
    asm_gateway: Spanned<String>,
    ports: Spanned<Vec<RawPort>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPort {
    name: Spanned<String>,
    port: Spanned<i64>,
    target_port: Option<Spanned<i64>>,
}

// ---- The validated plan (stage two) ----

/// A value from the plan with the position it was written at, for errors found later against the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    pub value: T,
    pub pos: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    ArgoCd,
    Flux,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshConfigKind {
    IstioOperator,
    HelmValues,
    ConfigMap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

impl WorkloadKind {
    pub const ALL: [WorkloadKind; 3] = [WorkloadKind::Deployment, WorkloadKind::StatefulSet, WorkloadKind::DaemonSet];

    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
        }
    }

    pub fn parse(name: &str) -> Option<WorkloadKind> {
        WorkloadKind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// `[Kind/]namespace/name` of a workload.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkloadRef {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for WorkloadRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.kind.name(), self.namespace, self.name)
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// The plan file, as given (for messages) and its text (for positions).
    pub file: PathBuf,
    pub source: String,
    pub name: String,
    pub engine: Engine,
    /// Repository-relative directory the tool owns.
    pub output: Located<String>,
    pub asm: AsmSettings,
    pub istio: IstioSettings,
    pub clusters: Vec<Cluster>,
    pub waves: Vec<Wave>,
    pub egress: Vec<Egress>,
    pub ingress: Vec<Ingress>,
    /// Every step, in the order they are taken.
    pub steps: Vec<StepId>,
}

#[derive(Debug, Clone)]
pub struct AsmSettings {
    pub api_version: String,
    pub context: Option<String>,
}

#[derive(Debug, Clone)]
pub struct IstioSettings {
    pub version: (u32, u32, u32),
    pub mesh_config_kind: MeshConfigKind,
    pub mesh_config_path: Located<String>,
    pub install_paths: Vec<Located<String>>,
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub name: String,
    pub context: Option<String>,
    pub network: String,
    pub east_west_gateway: bool,
    pub source: Located<String>,
    /// The id ASM knows the cluster by (IstioGateway `spec.clusterIds`); defaults to `name`.
    pub cluster_id: String,
    /// Whether `apply` lists the component in the source kustomization (false: Argo CD or Flux includes it).
    pub include_component: bool,
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
    Workloads(Vec<Located<WorkloadRef>>),
    Namespaces(Vec<Located<String>>),
    All,
}

#[derive(Debug, Clone)]
pub struct Egress {
    pub name: String,
    pub virtual_service_namespace: String,
    pub virtual_service_name: String,
    pub virtual_service_pos: Pos,
    pub asm_gateway: String,
    pub weights: Vec<u32>,
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

impl Plan {
    pub fn step_index(&self, step: &StepId) -> Option<usize> {
        self.steps.iter().position(|candidate| candidate == step)
    }

    /// An error at a position of the plan file.
    pub fn error_at(&self, pos: Pos, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(&self.file, &self.source, pos, message)
    }

    pub fn multi_network(&self) -> bool {
        self.clusters.iter().map(|cluster| cluster.network.as_str()).collect::<BTreeSet<_>>().len() > 1
    }
}

/// Reads and validates the plan at `file` (shown as `display` in messages).
pub fn load(file: &Path, display: &Path) -> Result<Plan, Diagnostics> {
    let source = std::fs::read_to_string(file)
        .map_err(|error| Diagnostic::in_file(display, format!("cannot read the plan: {error}")))?;
    parse(display, &source)
}

/// Parses and validates plan text; `file` names it in messages.
pub fn parse(file: &Path, source: &str) -> Result<Plan, Diagnostics> {
    let raw: RawPlan = serde_saphyr::from_str(source).map_err(|error| Diagnostic::from_yaml(file, source, &error))?;
    let mut check = Checker { file, source, problems: Vec::new() };
    let plan = check.plan(raw);
    if check.problems.is_empty() {
        Ok(plan)
    } else {
        Err(Diagnostics(check.problems))
    }
}

struct Checker<'a> {
    file: &'a Path,
    source: &'a str,
    problems: Vec<Diagnostic>,
}

fn pos<T>(spanned: &Spanned<T>) -> Pos {
    Pos::of(&spanned.referenced)
}

impl Checker<'_> {
    fn fail(&mut self, at: Pos, message: impl Into<String>) {
        self.problems.push(Diagnostic::at(self.file, self.source, at, message));
    }

    fn plan(&mut self, raw: RawPlan) -> Plan {
        if raw.api_version.value != PLAN_API_VERSION {
            self.fail(
                pos(&raw.api_version),
                format!("unsupported apiVersion `{}`: expected `{PLAN_API_VERSION}`", raw.api_version.value),
            );
        }
        if raw.kind.value != "MigrationPlan" {
            self.fail(pos(&raw.kind), format!("unsupported kind `{}`: expected `MigrationPlan`", raw.kind.value));
        }
        self.dns_label(&raw.metadata.name, "plan name");
        let spec = raw.spec;
        let engine = match spec.engine.value.as_str() {
            "argocd" => Engine::ArgoCd,
            "flux" => Engine::Flux,
            other => {
                self.fail(pos(&spec.engine), format!("unknown engine `{other}`: expected `argocd` or `flux`"));
                Engine::ArgoCd
            }
        };
        let output = self.repo_path(&spec.output, "output");
        let asm = self.asm(spec.asm);
        let istio = self.istio(spec.istio);
        let clusters = self.clusters(spec.clusters);
        let cluster_names: Vec<String> = clusters.iter().map(|cluster| cluster.name.clone()).collect();
        let waves = self.waves(spec.waves, &cluster_names);
        let egress = self.egress(spec.egress);
        let ingress = self.ingress(spec.ingress);
        let default_steps = StepId::default_order(&waves, &egress, &ingress);
        let steps = self.steps(spec.steps, default_steps);
        Plan {
            file: self.file.to_owned(),
            source: self.source.to_owned(),
            name: raw.metadata.name.value,
            engine,
            output,
            asm,
            istio,
            clusters,
            waves,
            egress,
            ingress,
            steps,
        }
    }

    fn dns_label(&mut self, value: &Spanned<String>, what: &str) {
        if let Err(reason) = check_dns_label(&value.value) {
            self.fail(pos(value), format!("{what} `{}` is not a DNS-1123 label: {reason}", value.value));
        }
    }

    fn repo_path(&mut self, value: &Spanned<String>, what: &str) -> Located<String> {
        let normalized = match normalize_repo_path(&value.value) {
            Ok(path) => path,
            Err(reason) => {
                self.fail(pos(value), format!("{what} `{}` {reason}", value.value));
                value.value.clone()
            }
        };
        Located { value: normalized, pos: pos(value) }
    }

    fn asm(&mut self, raw: RawAsm) -> AsmSettings {
        let api_version = match raw.api_version {
            Some(version) => {
                let valid = version
                    .value
                    .strip_prefix("istio.alibabacloud.com/")
                    .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric()));
                if !valid {
                    self.fail(
                        pos(&version),
                        format!(
                            "asm.apiVersion `{}` is not a version of istio.alibabacloud.com (for example `{DEFAULT_ASM_API_VERSION}`)",
                            version.value
                        ),
                    );
                }
                version.value
            }
            None => DEFAULT_ASM_API_VERSION.to_owned(),
        };
        AsmSettings { api_version, context: raw.context }
    }

    fn istio(&mut self, raw: RawIstio) -> IstioSettings {
        let version = match parse_version(&raw.version.value) {
            Some(version) if (version.0, version.1) >= MINIMUM_ISTIO => version,
            Some(_) => {
                self.fail(
                    pos(&raw.version),
                    format!(
                        "Istio {} is older than 1.10, the oldest version ASM can migrate from: upgrade Istio first",
                        raw.version.value
                    ),
                );
                (0, 0, 0)
            }
            None => {
                self.fail(
                    pos(&raw.version),
                    format!("`{}` is not an Istio version such as \"1.22.3\"", raw.version.value),
                );
                (0, 0, 0)
            }
        };
        let mesh_config_kind = match raw.mesh_config.kind.value.as_str() {
            "IstioOperator" => MeshConfigKind::IstioOperator,
            "HelmValues" => MeshConfigKind::HelmValues,
            "ConfigMap" => MeshConfigKind::ConfigMap,
            other => {
                self.fail(
                    pos(&raw.mesh_config.kind),
                    format!("unknown meshConfig kind `{other}`: expected IstioOperator, HelmValues or ConfigMap"),
                );
                MeshConfigKind::IstioOperator
            }
        };
        let mesh_config_path = self.repo_path(&raw.mesh_config.path, "meshConfig.path");
        let install_paths = raw.install_paths.iter().map(|path| self.repo_path(path, "installPaths entry")).collect();
        IstioSettings { version, mesh_config_kind, mesh_config_path, install_paths }
    }

    fn clusters(&mut self, raw: Vec<RawCluster>) -> Vec<Cluster> {
        if raw.is_empty() {
            self.fail(Pos::new(1, 1), "the plan names no cluster: spec.clusters needs at least one");
        }
        let mut seen = BTreeSet::new();
        let mut clusters = Vec::new();
        for cluster in raw {
            self.dns_label(&cluster.name, "cluster name");
            if !seen.insert(cluster.name.value.clone()) {
                self.fail(pos(&cluster.name), format!("duplicate cluster `{}`", cluster.name.value));
            }
            if cluster.network.value.trim().is_empty() {
                self.fail(pos(&cluster.network), "network must not be empty");
            }
            let source = self.repo_path(&cluster.source, "source");
            let cluster_id = cluster.cluster_id.map(|id| id.value).unwrap_or_else(|| cluster.name.value.clone());
            clusters.push(Cluster {
                name: cluster.name.value,
                context: cluster.context,
                network: cluster.network.value,
                east_west_gateway: cluster.east_west_gateway,
                source,
                cluster_id,
                include_component: cluster.include_component.unwrap_or(true),
            });
        }
        clusters
    }

    fn waves(&mut self, raw: Vec<RawWave>, cluster_names: &[String]) -> Vec<Wave> {
        let mut seen = BTreeSet::new();
        let mut waves = Vec::new();
        for wave in raw {
            self.dns_label(&wave.name, "wave name");
            if !seen.insert(wave.name.value.clone()) {
                self.fail(pos(&wave.name), format!("duplicate wave `{}`", wave.name.value));
            }
            let clusters = match &wave.clusters {
                Some(names) => {
                    for name in names {
                        if !cluster_names.contains(&name.value) {
                            self.fail(
                                pos(name),
                                format!(
                                    "wave `{}` names cluster `{}`, which the plan does not define",
                                    wave.name.value, name.value
                                ),
                            );
                        }
                    }
                    names.iter().map(|name| name.value.clone()).collect()
                }
                None => cluster_names.to_vec(),
            };
            let all = wave.all.as_ref().is_some_and(|all| all.value);
            let given =
                [wave.workloads.is_some(), wave.namespaces.is_some(), all].iter().filter(|given| **given).count();
            if given != 1 {
                self.fail(
                    pos(&wave.name),
                    format!("wave `{}` must select its workloads with exactly one of `workloads`, `namespaces` or `all: true`", wave.name.value),
                );
            }
            let selection = if let Some(workloads) = wave.workloads {
                let mut refs = Vec::new();
                for workload in workloads {
                    match parse_workload_ref(&workload.value) {
                        Ok(value) => refs.push(Located { value, pos: pos(&workload) }),
                        Err(reason) => self.fail(pos(&workload), format!("workload `{}` {reason}", workload.value)),
                    }
                }
                WaveSelection::Workloads(refs)
            } else if let Some(namespaces) = wave.namespaces {
                for namespace in &namespaces {
                    self.dns_label(namespace, "namespace");
                }
                WaveSelection::Namespaces(
                    namespaces.iter().map(|ns| Located { value: ns.value.clone(), pos: pos(ns) }).collect(),
                )
            } else {
                WaveSelection::All
            };
            waves.push(Wave { name: wave.name.value, clusters, selection });
        }
        waves
    }

    fn egress(&mut self, raw: Vec<RawEgress>) -> Vec<Egress> {
        let mut seen = BTreeSet::new();
        let mut egress = Vec::new();
        for entry in raw {
            self.dns_label(&entry.name, "egress name");
            if !seen.insert(entry.name.value.clone()) {
                self.fail(pos(&entry.name), format!("duplicate egress `{}`", entry.name.value));
            }
            self.dns_label(&entry.asm_gateway, "asmGateway");
            let (namespace, name) = match entry.virtual_service.value.split_once('/') {
                Some((namespace, name))
                    if !name.contains('/') && check_dns_label(namespace).is_ok() && !name.is_empty() =>
                {
                    (namespace.to_owned(), name.to_owned())
                }
                _ => {
                    self.fail(
                        pos(&entry.virtual_service),
                        format!("virtualService `{}` must be written namespace/name", entry.virtual_service.value),
                    );
                    (String::new(), String::new())
                }
            };
            let weights = self.weights(&entry.weights);
            egress.push(Egress {
                name: entry.name.value,
                virtual_service_namespace: namespace,
                virtual_service_name: name,
                virtual_service_pos: pos(&entry.virtual_service),
                asm_gateway: entry.asm_gateway.value,
                weights,
            });
        }
        egress
    }

    fn weights(&mut self, raw: &Spanned<Vec<Spanned<i64>>>) -> Vec<u32> {
        if raw.value.is_empty() {
            self.fail(pos(raw), "weights must not be empty: list the percentages sent to ASM, ending at 100");
            return Vec::new();
        }
        let mut previous = 0;
        for weight in &raw.value {
            if !(1..=100).contains(&weight.value) {
                self.fail(pos(weight), format!("weight {} is outside 1..100", weight.value));
            } else if weight.value <= previous {
                self.fail(
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
            self.fail(at, format!("the last weight is {last}: it must be 100, so that all egress traffic ends on ASM"));
        }
        raw.value.iter().map(|weight| weight.value.clamp(0, 100) as u32).collect()
    }

    fn ingress(&mut self, raw: Vec<RawIngress>) -> Vec<Ingress> {
        let mut seen = BTreeSet::new();
        let mut ingress = Vec::new();
        for entry in raw {
            self.dns_label(&entry.name, "ingress name");
            if !seen.insert(entry.name.value.clone()) {
                self.fail(pos(&entry.name), format!("duplicate ingress `{}`", entry.name.value));
            }
            self.dns_label(&entry.asm_gateway, "asmGateway");
            if entry.ports.value.is_empty() {
                self.fail(pos(&entry.ports), "ports must list at least one port");
            }
            let mut ports = Vec::new();
            for port in entry.ports.value {
                let number = self.port_number(&port.port);
                let target = port.target_port.as_ref().map(|target| self.port_number(target)).unwrap_or(number);
                ports.push(GatewayPort { name: port.name.value, port: number, target_port: target });
            }
            ingress.push(Ingress {
                name: entry.name.value,
                asm_gateway: Located { value: entry.asm_gateway.value.clone(), pos: pos(&entry.asm_gateway) },
                ports,
            });
        }
        ingress
    }

    fn port_number(&mut self, raw: &Spanned<i64>) -> u32 {
        if !(1..=65535).contains(&raw.value) {
            self.fail(pos(raw), format!("port {} is outside 1..65535", raw.value));
        }
        raw.value.clamp(0, 65535) as u32
    }

    fn steps(&mut self, raw: Vec<Spanned<String>>, default_steps: Vec<StepId>) -> Vec<StepId> {
        if raw.is_empty() {
            return default_steps;
        }
        let mut order = Vec::new();
        for written in &raw {
            match default_steps.iter().find(|step| step.to_string() == written.value) {
                Some(step) if order.contains(step) => {
                    self.fail(pos(written), format!("step `{}` is listed twice", written.value))
                }
                Some(step) => {
                    if let Some(reason) =
                        order.last().and_then(|previous: &StepId| step.cannot_follow(previous, &order))
                    {
                        self.fail(pos(written), reason);
                    }
                    order.push(step.clone());
                }
                None => self.fail(
                    pos(written),
                    format!("unknown step `{}`: `asm-migrate steps` lists the plan's steps", written.value),
                ),
            }
        }
        let missing: Vec<String> =
            default_steps.iter().filter(|step| !order.contains(step)).map(ToString::to_string).collect();
        if !missing.is_empty() {
            self.fail(
                pos(&raw[0]),
                format!("the explicit step order leaves out {}: list every step once", missing.join(", ")),
            );
        }
        order
    }
}

/// Checks a Kubernetes DNS-1123 label: lower-case alphanumerics and '-', at most 63, starting and ending alphanumeric.
pub fn check_dns_label(value: &str) -> Result<(), &'static str> {
    if value.is_empty() {
        return Err("it is empty");
    }
    if value.len() > 63 {
        return Err("it is longer than 63 characters");
    }
    if !value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err("use only lower-case letters, digits and '-'");
    }
    if value.starts_with('-') || value.ends_with('-') {
        return Err("it must start and end with a letter or digit");
    }
    Ok(())
}

fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.trim_start_matches('v').splitn(3, '.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = match parts.next() {
        Some(patch) => patch.split(['-', '+']).next()?.parse().ok()?,
        None => 0,
    };
    Some((major, minor, patch))
}

fn parse_workload_ref(text: &str) -> Result<WorkloadRef, String> {
    let parts: Vec<&str> = text.split('/').collect();
    let (kind, namespace, name) = match parts.as_slice() {
        [namespace, name] => (WorkloadKind::Deployment, *namespace, *name),
        [kind, namespace, name] => match WorkloadKind::parse(kind) {
            Some(kind) => (kind, *namespace, *name),
            None => return Err(format!("has kind `{kind}`: expected Deployment, StatefulSet or DaemonSet")),
        },
        _ => return Err("must be written [Kind/]namespace/name".to_owned()),
    };
    check_dns_label(namespace)
        .map_err(|reason| format!("has namespace `{namespace}` that is not a DNS-1123 label: {reason}"))?;
    if name.is_empty() {
        return Err("has an empty name".to_owned());
    }
    Ok(WorkloadRef { kind, namespace: namespace.to_owned(), name: name.to_owned() })
}

/// Normalizes a repository-relative path; rejects absolute paths and paths that leave the repository.
pub fn normalize_repo_path(text: &str) -> Result<String, &'static str> {
    if text.trim().is_empty() {
        return Err("is empty");
    }
    if Path::new(text).is_absolute() {
        return Err("is absolute: write it relative to the repository root");
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err("leaves the repository");
                }
            }
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err("is the repository root itself");
    }
    Ok(parts.join("/"))
}

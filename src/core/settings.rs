//! What every step kind reads from the plan: its file, name, engine, output directory, ASM and Istio settings and
//! clusters; and the checker each section of the plan is validated with.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::core::diagnostic::{Diagnostic, Pos, Severity};
use crate::core::names::{check_ack_cluster_id, check_dns_label, check_dns_subdomain, check_label_value};
use crate::core::paths::{is_within, normalize_repo_path};
use crate::core::yaml::quoted;

pub const DEFAULT_ASM_API_VERSION: &str = "istio.alibabacloud.com/v1beta1";
/// The vendor procedure needs Istio 1.10 or newer.
const MINIMUM_ISTIO: (u32, u32) = (1, 10);

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

/// The GitOps object that applies a part of the repository: an Argo CD Application or a Flux Kustomization (the
/// plan's engine says which), and the context it lives in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedBy {
    pub namespace: String,
    pub name: String,
    /// None: the context of what it applies (the cluster's, or the ASM control plane's).
    pub context: Option<String>,
}

/// `syncedBy` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSyncedBy {
    namespace: Spanned<String>,
    name: Spanned<String>,
    context: Option<String>,
}

impl Engine {
    /// The kind of the object that applies a directory: `Application` or `Kustomization`.
    pub fn applier_kind(self) -> &'static str {
        match self {
            Engine::ArgoCd => "Application",
            Engine::Flux => "Kustomization",
        }
    }

    /// The object that applies a directory, as a sentence names it: `an Argo CD Application`, `a Flux Kustomization`.
    pub fn applier_with_article(self) -> &'static str {
        match self {
            Engine::ArgoCd => "an Argo CD Application",
            Engine::Flux => "a Flux Kustomization",
        }
    }

    /// How the plan spells it: `argocd`, `flux`.
    pub fn plan_name(self) -> &'static str {
        match self {
            Engine::ArgoCd => "argocd",
            Engine::Flux => "flux",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Engine::ArgoCd => "Argo CD",
            Engine::Flux => "Flux",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshConfigKind {
    IstioOperator,
    HelmValues,
    ConfigMap,
}

/// The plan file: its name as given (for messages) and its text (for positions).
#[derive(Debug, Clone)]
pub struct PlanSource {
    pub file: PathBuf,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub source: PlanSource,
    pub name: String,
    pub engine: Engine,
    /// Repository-relative directory the tool owns.
    pub output: Located<String>,
    pub asm: AsmSettings,
    pub istio: IstioSettings,
    pub clusters: Vec<Cluster>,
}

#[derive(Debug, Clone)]
pub struct AsmSettings {
    pub api_version: String,
    pub context: Option<String>,
    /// A part of the image of ASM's istio-proxy container, which tells a pod on ASM's proxy from one on Istio's.
    pub proxy_image: Option<String>,
    /// Workloads of ASM's own components in the data-plane clusters (`[Kind/]namespace/name`): their pods carry a
    /// proxy container named like Istio's and are never counted as Istio's proxies.
    pub own_workloads: Vec<crate::core::workload::WorkloadRef>,
    /// The object that applies the output's `asm/` directory to the ASM control plane, when the plan names it.
    pub synced_by: Option<SyncedBy>,
}

#[derive(Debug, Clone)]
pub struct IstioSettings {
    pub version: (u32, u32, u32),
    pub mesh_config_kind: MeshConfigKind,
    pub mesh_config_path: Located<String>,
    /// The HelmRelease of the mesh config file to edit, when it holds several.
    pub mesh_config_release: Option<String>,
    pub install_paths: Vec<Located<String>>,
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub name: String,
    /// Where the plan names the cluster.
    pub name_pos: Pos,
    pub context: Option<String>,
    pub network: String,
    pub east_west_gateway: bool,
    pub source: Located<String>,
    /// The ACK cluster ID ASM knows the cluster by (IstioGateway `spec.clusterIds`): required where an ASM
    /// gateway runs.
    pub cluster_id: Option<String>,
    /// Whether `apply` lists the component in the source kustomization (false: Argo CD or Flux includes it).
    pub include_component: bool,
    /// How the source includes asm-migrate's part of its build.
    pub include_as: IncludeAs,
    /// What the source deploys that asm-migrate cannot see, acknowledged: its workloads are restarted and moved by
    /// hand (`HelmRelease/<namespace>/<name>`, `helmChart/<name>`, `remote/<url>`, `Application/<name>`).
    pub unseen: Vec<Located<String>>,
    /// The object that applies the cluster's source, when the plan names it.
    pub synced_by: Option<SyncedBy>,
}

/// How a cluster's source includes asm-migrate's part of its build (`clusters[].includeAs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeAs {
    /// A kustomize Component, listed in the source's `components:` (or by Argo CD or Flux).
    Component,
    /// A kustomization of the new objects, listed in the source's `resources:`, and one of transformer
    /// configurations, listed in its `transformers:`. No Component: kustomize copies every object of a build once
    /// more for each Component it includes, which costs a large source more than the changes themselves.
    Transformers,
}

/// From this many objects in a cluster's build, `init` takes asm-migrate's part as transformers and `validate`
/// suggests them: the copy kustomize makes of a build for a Component is about 5% of the build at 500 objects and
/// 10 to 13% from 2,000 on (kubectl's CPU profile, bench/component-overhead.sh).
pub const LARGE_SOURCE_OBJECTS: usize = 1_000;

impl IncludeAs {
    /// The file whose targets say what the patches and replacements of a cluster's part apply to, as their
    /// comments name it.
    pub fn targets_file(self, component: &'static str, transformers: &'static str) -> &'static str {
        match self {
            IncludeAs::Component => component,
            IncludeAs::Transformers => transformers,
        }
    }
}

/// The file in the output directory that records the step the repository is at.
pub const STATE_FILE: &str = "state.yaml";

impl Settings {
    /// An error at a position of the plan file.
    pub fn error_at(&self, pos: Pos, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(&self.source.file, &self.source.text, pos, message)
    }

    pub fn multi_network(&self) -> bool {
        self.clusters.iter().map(|cluster| cluster.network.as_str()).collect::<BTreeSet<_>>().len() > 1
    }

    /// `<output>/state.yaml`: the step the repository is at, as asm-migrate records it.
    pub fn state_path(&self) -> String {
        crate::core::paths::join(&self.output.value, STATE_FILE)
    }

    /// The directory of the component `apply` renders for a cluster (with `includeAs: transformers`, the
    /// kustomization of its new objects).
    pub fn component_dir(&self, cluster: &str) -> String {
        crate::core::paths::join(&self.output.value, &format!("clusters/{cluster}"))
    }

    /// With `includeAs: transformers`, the kustomization of the cluster's transformer configurations.
    pub fn transformers_dir(&self, cluster: &str) -> String {
        crate::core::paths::join(&self.component_dir(cluster), "transformers")
    }

    /// Istio's install paths, as written.
    pub fn install_paths(&self) -> Vec<&str> {
        self.istio.install_paths.iter().map(|path| path.value.as_str()).collect()
    }
}

// ---- What the user wrote ----

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawAsm {
    api_version: Option<Spanned<String>>,
    context: Option<String>,
    proxy_image: Option<Spanned<String>>,
    #[serde(default)]
    own_workloads: Vec<Spanned<String>>,
    synced_by: Option<RawSyncedBy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawIstio {
    version: Spanned<String>,
    mesh_config: RawMeshConfig,
    #[serde(default)]
    install_paths: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMeshConfig {
    kind: Spanned<String>,
    path: Spanned<String>,
    release: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCluster {
    name: Spanned<String>,
    context: Option<String>,
    network: Spanned<String>,
    #[serde(default)]
    east_west_gateway: bool,
    source: Spanned<String>,
    cluster_id: Option<Spanned<String>>,
    include_component: Option<bool>,
    include_as: Option<Spanned<String>>,
    #[serde(default)]
    unseen: Vec<Spanned<String>>,
    synced_by: Option<RawSyncedBy>,
}

/// The settings as written, before they are checked.
pub struct RawSettings {
    pub name: Spanned<String>,
    pub engine: Spanned<String>,
    pub output: Spanned<String>,
    pub asm: RawAsm,
    pub istio: RawIstio,
    pub clusters: Vec<RawCluster>,
}

/// Collects every problem of the plan in one pass, so the user fixes them all at once.
pub struct Checker<'a> {
    file: &'a Path,
    source: &'a str,
    pub problems: Vec<Diagnostic>,
    /// Warnings and notes: surprising choices that are not errors, each with a hint (`validate` prints them).
    pub remarks: Vec<Diagnostic>,
}

/// Where a value was written.
pub fn pos<T>(spanned: &Spanned<T>) -> Pos {
    Pos::of(&spanned.referenced)
}

impl<'a> Checker<'a> {
    pub fn new(file: &'a Path, source: &'a str) -> Checker<'a> {
        Checker { file, source, problems: Vec::new(), remarks: Vec::new() }
    }

    pub fn fail(&mut self, at: Pos, message: impl Into<String>) {
        self.problems.push(Diagnostic::at(self.file, self.source, at, message));
    }

    /// A surprising choice, with a hint: reported by `validate`, never an error.
    pub fn warn(&mut self, at: Pos, message: impl Into<String>, help: impl Into<String>) {
        self.remarks
            .push(Diagnostic::at(self.file, self.source, at, message).with_help(help).weighed(Severity::Warning));
    }

    /// A suggestion about the plan file as a whole, with what to do: reported by `validate`.
    pub fn suggest(&mut self, message: impl Into<String>, help: impl Into<String>) {
        self.remarks.push(Diagnostic::in_file(self.file, message).with_help(help).weighed(Severity::Note));
    }

    pub fn dns_label(&mut self, value: &Spanned<String>, what: &str) {
        if let Err(reason) = check_dns_label(&value.value) {
            self.fail(pos(value), format!("{what} `{}` is not a DNS-1123 label: {reason}", quoted(&value.value)));
        }
    }

    pub fn dns_subdomain(&mut self, value: &Spanned<String>, what: &str) {
        if let Err(reason) = check_dns_subdomain(&value.value) {
            self.fail(pos(value), format!("{what} `{}` is not a DNS-1123 subdomain: {reason}", quoted(&value.value)));
        }
    }

    pub fn synced_by(&mut self, raw: RawSyncedBy) -> SyncedBy {
        self.dns_label(&raw.namespace, "syncedBy namespace");
        self.dns_subdomain(&raw.name, "syncedBy name");
        SyncedBy { namespace: raw.namespace.value, name: raw.name.value, context: raw.context }
    }

    /// An IstioGateway's name: a DNS label short enough that ASM's `istio-<name>` Deployment and Service are one.
    pub fn asm_gateway_name(&mut self, value: &Spanned<String>) {
        self.dns_label(value, "asmGateway");
        let workload = crate::core::names::asm_gateway_workload(&value.value);
        if check_dns_label(&value.value).is_ok() && check_dns_label(&workload).is_err() {
            self.fail(
                pos(value),
                format!(
                    "asmGateway `{}` is too long: ASM names the gateway's Deployment and Service `{workload}`, which \
                     must be a DNS-1123 label of at most 63 characters",
                    quoted(&value.value)
                ),
            );
        }
    }

    pub fn label_value(&mut self, value: &Spanned<String>, what: &str) {
        if let Err(reason) = check_label_value(&value.value) {
            self.fail(
                pos(value),
                format!("{what} `{}` is not a Kubernetes label value: {reason}", quoted(&value.value)),
            );
        }
    }

    /// Reads the entries of a list whose `name`s must be DNS-1123 labels, each used once (`what` names an entry).
    pub fn named_entries<R, T>(
        &mut self,
        raw: Vec<R>,
        what: &str,
        name: impl Fn(&R) -> &Spanned<String>,
        mut read: impl FnMut(R, &mut Checker<'a>) -> T,
    ) -> Vec<T> {
        let mut seen = BTreeSet::new();
        let mut entries = Vec::new();
        for entry in raw {
            let value = name(&entry);
            self.dns_label(value, &format!("{what} name"));
            if !seen.insert(value.value.clone()) {
                self.fail(pos(value), format!("duplicate {what} `{}`", value.value));
            }
            entries.push(read(entry, self));
        }
        entries
    }

    pub fn repo_path(&mut self, value: &Spanned<String>, what: &str) -> Located<String> {
        let normalized = match normalize_repo_path(&value.value) {
            Ok(path) => path,
            Err(reason) => {
                self.fail(pos(value), format!("{what} `{}` {reason}", quoted(&value.value)));
                value.value.clone()
            }
        };
        Located { value: normalized, pos: pos(value) }
    }

    pub fn settings(&mut self, raw: RawSettings) -> Settings {
        self.dns_label(&raw.name, "plan name");
        let engine = match raw.engine.value.as_str() {
            "argocd" => Engine::ArgoCd,
            "flux" => Engine::Flux,
            other => {
                self.fail(pos(&raw.engine), format!("unknown engine `{}`: expected `argocd` or `flux`", quoted(other)));
                Engine::ArgoCd
            }
        };
        let output = self.repo_path(&raw.output, "output");
        let asm = self.asm(raw.asm);
        let istio = self.istio(raw.istio);
        let clusters = self.clusters(raw.clusters);
        self.output_of_its_own(&output, &istio, &clusters);
        Settings {
            source: PlanSource { file: self.file.to_owned(), text: self.source.to_owned() },
            name: raw.name.value,
            engine,
            output,
            asm,
            istio,
            clusters,
        }
    }

    /// The output is the tool's own directory: it rewrites and removes what is there, so it must not overlap what
    /// the user keeps (the mesh config, Istio's install paths, the cluster sources).
    fn output_of_its_own(&mut self, output: &Located<String>, istio: &IstioSettings, clusters: &[Cluster]) {
        let overlap = |a: &str, b: &str| is_within(a, b) || is_within(b, a);
        let mut theirs =
            vec![(format!("meshConfig.path `{}`", istio.mesh_config_path.value), &istio.mesh_config_path.value)];
        theirs.extend(
            istio.install_paths.iter().map(|path| (format!("installPaths entry `{}`", path.value), &path.value)),
        );
        theirs.extend(clusters.iter().map(|cluster| {
            (format!("the source `{}` of cluster `{}`", cluster.source.value, cluster.name), &cluster.source.value)
        }));
        for (what, path) in theirs {
            if overlap(&output.value, path) {
                self.fail(
                    output.pos,
                    format!(
                        "output `{}` overlaps {what}: the output is the tool's own directory, which it rewrites",
                        output.value
                    ),
                );
            }
        }
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
        if let Some(image) = raw.proxy_image.as_ref().filter(|image| image.value.trim().is_empty()) {
            self.fail(pos(image), "asm.proxyImage must not be empty: a part of the image of ASM's istio-proxy");
        }
        let own_workloads = raw
            .own_workloads
            .iter()
            .filter_map(|entry| match crate::core::workload::WorkloadRef::parse(&entry.value) {
                Ok(workload) => Some(workload),
                Err(reason) => {
                    self.fail(pos(entry), format!("asm.ownWorkloads entry `{}`: {reason}", quoted(&entry.value)));
                    None
                }
            })
            .collect();
        AsmSettings {
            api_version,
            context: raw.context,
            proxy_image: raw.proxy_image.map(|image| image.value),
            own_workloads,
            synced_by: raw.synced_by.map(|synced_by| self.synced_by(synced_by)),
        }
    }

    fn istio(&mut self, raw: RawIstio) -> IstioSettings {
        let version = match parse_version(&raw.version.value) {
            Some(version) if version.0 != 1 => {
                self.fail(
                    pos(&raw.version),
                    format!(
                        "Istio {} is not an Istio 1.x version: ASM migrates from Istio 1.10 and later 1.x",
                        quoted(&raw.version.value)
                    ),
                );
                (0, 0, 0)
            }
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
                    format!("`{}` is not an Istio version such as \"1.22.3\"", quoted(&raw.version.value)),
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
                    format!(
                        "unknown meshConfig kind `{}`: expected IstioOperator, HelmValues or ConfigMap",
                        quoted(other)
                    ),
                );
                MeshConfigKind::IstioOperator
            }
        };
        let mesh_config_path = self.repo_path(&raw.mesh_config.path, "meshConfig.path");
        if let Some(release) = &raw.mesh_config.release {
            if mesh_config_kind != MeshConfigKind::HelmValues {
                self.fail(pos(release), "meshConfig.release names a HelmRelease: it goes with kind HelmValues");
            }
            self.dns_label(release, "meshConfig.release");
        }
        let mesh_config_release = raw.mesh_config.release.map(|release| release.value);
        let install_paths = raw.install_paths.iter().map(|path| self.repo_path(path, "installPaths entry")).collect();
        IstioSettings { version, mesh_config_kind, mesh_config_path, mesh_config_release, install_paths }
    }

    fn clusters(&mut self, raw: Vec<RawCluster>) -> Vec<Cluster> {
        if raw.is_empty() {
            self.fail(Pos::new(1, 1), "the plan names no cluster: spec.clusters needs at least one");
        }
        self.named_entries(
            raw,
            "cluster",
            |cluster| &cluster.name,
            |cluster, check| {
                if cluster.network.value.is_empty() {
                    check.fail(pos(&cluster.network), "network must not be empty");
                }
                check.label_value(&cluster.network, "network");
                if let Some(id) = &cluster.cluster_id {
                    if let Err(reason) = check_ack_cluster_id(&id.value) {
                        check.fail(pos(id), format!("clusterId `{}` {reason}", quoted(&id.value)));
                    }
                }
                let source = check.repo_path(&cluster.source, "source");
                let include_component = cluster.include_component.unwrap_or(true);
                let include_as = match &cluster.include_as {
                    None => IncludeAs::Component,
                    Some(written) => match written.value.as_str() {
                        "component" => IncludeAs::Component,
                        "transformers" if include_component => IncludeAs::Transformers,
                        "transformers" => {
                            check.fail(
                                pos(written),
                                "includeAs: transformers needs the source's kustomization to list them, and \
                                 includeComponent is false: Argo CD and Flux can include a Component, not transformers",
                            );
                            IncludeAs::Transformers
                        }
                        other => {
                            check.fail(
                                pos(written),
                                format!(
                                    "unknown includeAs `{}`: expected `component` or `transformers`",
                                    quoted(other)
                                ),
                            );
                            IncludeAs::Component
                        }
                    },
                };
                Cluster {
                    name_pos: pos(&cluster.name),
                    name: cluster.name.value,
                    context: cluster.context,
                    network: cluster.network.value,
                    east_west_gateway: cluster.east_west_gateway,
                    source,
                    cluster_id: cluster.cluster_id.map(|id| id.value),
                    include_component,
                    include_as,
                    unseen: cluster
                        .unseen
                        .iter()
                        .map(|entry| Located { value: entry.value.clone(), pos: pos(entry) })
                        .collect(),
                    synced_by: cluster.synced_by.map(|synced_by| check.synced_by(synced_by)),
                }
            },
        )
    }
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

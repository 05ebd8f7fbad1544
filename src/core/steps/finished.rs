//! `finished`: the switch to Finished, Istio's install paths removed (and out of every kustomization that lists
//! them), Istio's egress gateway out of every route; taken once no workload is left on Istio's proxy, Istio's config
//! is in ASM and no traffic goes through Istio's gateways (confirmed); gated on no Istio proxy left.

use std::collections::BTreeSet;
use std::path::Path;

use crate::core::component::Rendering;
use crate::core::desired::Desired;
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::gate::{helm_owner, named_confirmation, pods, Gate, GateOutcome};
use crate::core::observe::{IstioObjectObservation, Observation};
use crate::core::paths::{is_within, join, normalize_repo_path_lossy, parent};
use crate::core::repository::INCLUDING_FIELDS;
use crate::core::settings::{Checker, MeshConfigKind, Settings};
use crate::core::step_id::{Phase, StepId};
use crate::core::steps::{KindInfo, PendingStep, ReadKind, StepContext, StepKind, proxy_judge};
use crate::core::value::str_at;
use crate::core::workload::WorkloadRef;
use crate::core::yaml_edit::remove_list_items;

#[derive(Debug, Clone)]
pub struct Finished;

impl ReadKind for Finished {
    type Raw = ();

    fn read(_raw: (), _settings: &Settings, _check: &mut Checker<'_>) -> Finished {
        Finished
    }
}

impl StepKind for Finished {
    fn info(&self) -> KindInfo {
        KindInfo { name: "finished", plural: "finished", phase: Phase::Finished, switches_phase: true }
    }

    fn uninstalls_istio(&self) -> bool {
        true
    }

    /// Istio's install paths must exist until they are removed.
    fn check(&self, context: &StepContext<'_>) -> Vec<Diagnostic> {
        if context.uninstalled {
            return Vec::new();
        }
        let settings = context.settings;
        settings
            .istio
            .install_paths
            .iter()
            .filter(|path| context.repository.files_under(&path.value).next().is_none())
            .map(|path| settings.error_at(path.pos, format!("install path `{}` does not exist", path.value)))
            .collect()
    }

    fn add_to_desired(&self, _step: &StepId, _context: &StepContext<'_>, desired: &mut Desired) {
        desired.finished = true;
    }

    fn render(&self, pending: &PendingStep<'_>, rendering: &mut Rendering<'_>) -> Result<(), Diagnostics> {
        let (context, desired) = (&pending.context, &pending.desired);
        if !desired.finished {
            return Ok(());
        }
        let install_paths = context.settings.install_paths();
        for dir in &install_paths {
            rendering.removals.extend(context.repository.files_under(dir).cloned());
        }
        remove_install_references(context, &install_paths, rendering)
    }

    /// Istio is gone: no pod runs its proxy any more, its own gateways included.
    fn gates(&self, pending: &PendingStep<'_>, observation: &Observation) -> Vec<Gate> {
        let left = on_istios_proxy(pending, observation, |_| true);
        vec![Gate::unless_found("no Istio proxy left", &left, "pod(s) still run Istio's proxy")]
    }

    /// Before Istio is removed: no workload still depends on it (Istio's own gateways in istio-system go with
    /// it), no traffic goes through its gateways (confirmed), and its config lives in ASM (observed).
    fn preconditions(&self, pending: &PendingStep<'_>, observation: &Observation) -> Vec<Gate> {
        let (step, state) = (&pending.step, pending.context.state);
        let left = on_istios_proxy(pending, observation, |namespace| namespace != ISTIO_SYSTEM);
        vec![
            Gate::unless_found(
                "no workload on Istio's proxy",
                &left,
                "pod(s) outside istio-system still run Istio's proxy",
            ),
            named_confirmation(
                "no traffic through Istio's gateways",
                step,
                state,
                "no traffic goes through Istio's east-west, ingress or egress gateways any more",
            ),
            imported_into_asm(observation),
        ]
    }

    /// How the Istio being removed is uninstalled, as its install paths show it.
    fn notes(&self, pending: &PendingStep<'_>) -> Vec<String> {
        let context = &pending.context;
        let settings = context.settings;
        let installed = installed_objects(context);
        let of_kind = |kind: &str| -> Vec<String> {
            installed.iter().filter(|(k, _)| k == kind).map(|(_, name)| name.clone()).collect()
        };
        let (major, minor, patch) = settings.istio.version;
        let istioctl = format!("run istioctl {major}.{minor}.{patch}'s `istioctl uninstall --purge`");
        let releases = of_kind("HelmRelease");
        let note = if !releases.is_empty() {
            format!(
                "Istio's HelmReleases {} are removed from the repository: {} uninstalls them as it prunes",
                releases.join(", "),
                settings.engine.display_name()
            )
        } else if !of_kind("IstioOperator").is_empty() {
            format!("the IstioOperator is removed from the repository: if istioctl installed Istio from it, {istioctl}")
        } else if !installed.is_empty() {
            format!(
                "Istio's install manifests are removed from the repository: {} prunes them",
                settings.engine.display_name()
            )
        } else if settings.istio.mesh_config_kind == MeshConfigKind::HelmValues {
            "Istio was installed with Helm outside this repository: run `helm uninstall` for its releases (istiod, \
             istio-base and its gateways) in istio-system"
                .to_owned()
        } else {
            format!("Istio was installed outside this repository: if with istioctl, {istioctl}")
        };
        vec![note]
    }
}

const ISTIO_SYSTEM: &str = "istio-system";

/// Met when every object of Istio's config that a data-plane cluster holds is in ASM's control plane too, by group,
/// kind, namespace and name: the import `<output>/asm/istio/` carries is complete and applied, and nothing made
/// outside the repository is left behind.
fn imported_into_asm(observation: &Observation) -> Gate {
    const NAME: &str = "Istio's config imported into ASM";
    let Some(in_asm) = &observation.asm_istio_objects else {
        return Gate::new(
            NAME,
            GateOutcome::Unmet(
                "ASM's Istio objects were not read (a snapshot without asm/istio-objects.yaml)".to_owned(),
            ),
        );
    };
    let in_asm: BTreeSet<&IstioObjectObservation> = in_asm.iter().collect();
    let mut missing = Vec::new();
    for (cluster, observed) in &observation.clusters {
        match &observed.istio_objects {
            None => missing.push(format!("{cluster}: not read (a snapshot without istio-objects.yaml)")),
            Some(objects) => {
                let mut left_out: Vec<&IstioObjectObservation> =
                    objects.iter().filter(|object| !in_asm.contains(object)).collect();
                left_out.sort();
                missing.extend(left_out.into_iter().map(|object| format!("{cluster}: {}", object.display())));
            }
        }
    }
    Gate::unless_found_with(NAME, &missing, |listed| {
        format!(
            "{} Istio object(s) of the clusters are not in ASM (has the engine applied asm/? is each in a cluster \
             source, where asm-migrate imports it from?): {listed}",
            missing.len()
        )
    })
}

/// `(kind, namespace/name)` of the objects in Istio's install paths, sorted.
fn installed_objects(context: &StepContext<'_>) -> Vec<(String, String)> {
    let mut objects = Vec::new();
    for dir in context.settings.install_paths() {
        for file in context.repository.files_under(dir) {
            let Ok(documents) = context.repository.documents(file) else { continue };
            for document in documents {
                let (Some(kind), Some(name)) = (str_at(document, &["kind"]), str_at(document, &["metadata", "name"]))
                else {
                    continue;
                };
                let shown = match str_at(document, &["metadata", "namespace"]) {
                    Some(namespace) => format!("{namespace}/{name}"),
                    None => name.to_owned(),
                };
                objects.push((kind.to_owned(), shown));
            }
        }
    }
    objects.sort();
    objects
}

/// Pods still on Istio's proxy in the namespaces `counted` accepts, as `cluster: namespace/name`.
fn on_istios_proxy(
    pending: &PendingStep<'_>,
    observation: &Observation,
    counted: impl Fn(&str) -> bool,
) -> Vec<String> {
    let judge = proxy_judge(&pending.context);
    let inventory = pending.context.inventory;
    let istio_gateways = inventory.istio_gateway_names();
    pods(observation)
        .filter(|(_, pod)| judge.on_istio(pod) && counted(&pod.namespace))
        .map(|(cluster, pod)| {
            let planned = |workload: &WorkloadRef| {
                inventory.clusters.get(cluster).is_some_and(|found| {
                    found.workload(workload).is_some()
                        || observation
                            .clusters
                            .get(cluster)
                            .is_some_and(|observed| helm_owner(found, observed, pod).is_some())
                })
            };
            let whose = match &pod.workload {
                Some(workload) if istio_gateways.contains(&*workload.name) => {
                    format!(" (Istio's gateway {}/{} still runs)", workload.namespace, workload.name)
                }
                Some(workload) if planned(workload) => String::new(),
                Some(workload) => format!(" ({workload}, outside the plan)"),
                None => " (no workload owns it)".to_owned(),
            };
            format!("{cluster}: {}{whose}", pod.display())
        })
        .collect()
}

/// Every kustomization in the repository stops listing Istio's install paths, so that each one still builds:
/// cluster sources, and others such as Flux's infrastructure kustomizations.
fn remove_install_references(
    context: &StepContext<'_>,
    install_paths: &[&str],
    rendering: &mut Rendering<'_>,
) -> Result<(), Diagnostics> {
    let output = &context.settings.output.value;
    let kustomizations: BTreeSet<&String> = context
        .repository
        .kustomization_files()
        .filter(|file| !is_within(file, output) && !install_paths.iter().any(|dir| is_within(file, dir)))
        .collect();
    for file in kustomizations {
        let dir = parent(file);
        let text = rendering.current_text(file)?.unwrap_or_default();
        let edited = remove_list_items(&text, &INCLUDING_FIELDS, |entry| {
            let target = normalize_repo_path_lossy(&join(dir, entry));
            install_paths.iter().any(|install| is_within(&target, install))
        })
        .map_err(|reason| {
            Diagnostic::in_file(Path::new(file), format!("cannot drop Istio's install paths: {reason}"))
        })?;
        if let Some(edited) = edited {
            rendering.writes.insert(file.clone(), edited);
        }
    }
    Ok(())
}

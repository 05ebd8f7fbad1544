//! `finished`: the switch to Finished, Istio's install paths removed (with the Flux Kustomizations and Argo CD
//! Applications that build them, and out of every kustomization that lists them), Istio's egress gateway out of every route; taken once no workload is left on Istio's proxy, Istio's config
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
use crate::core::delivery::{application_paths, is, name_of};
use crate::core::paths::normalize_repo_path;
use crate::core::yaml_edit::{remove_documents, remove_list_items, remove_nested_list_items, EditError};

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
        let emptied = remove_engine_objects(context, &install_paths, rendering)?;
        remove_install_references(context, &install_paths, &emptied, rendering)
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
        let mut notes = vec![note];
        let builders = install_builders(context, &settings.install_paths());
        if !builders.is_empty() {
            let names: Vec<String> = builders.iter().map(|builder| builder.shown.clone()).collect();
            notes.push(format!(
                "{} built Istio's install paths and {} removed with them (a Flux Kustomization whose path is gone \
                 fails and prunes nothing); no Kustomization depends on them any more",
                names.join(", "),
                if names.len() == 1 { "is" } else { "are" }
            ));
        }
        notes
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

/// A Flux Kustomization or Argo CD Application that builds only Istio's install paths.
struct InstallBuilder {
    file: String,
    /// `Flux Kustomization flux-system/istio (clusters/x/istio.yaml)`.
    shown: String,
    /// `namespace` and `name` of a Flux Kustomization, which others may depend on.
    flux: Option<(String, String)>,
}

/// Whether `object` is a Flux Kustomization or Argo CD Application every path of which is in an install path.
fn builds_only(object: &serde_json::Value, install_paths: &[&str]) -> bool {
    let paths: Vec<String> = if is(object, "kustomize.toolkit.fluxcd.io/", "Kustomization") {
        str_at(object, &["spec", "path"]).and_then(|path| normalize_repo_path(path).ok()).into_iter().collect()
    } else if is(object, "argoproj.io/", "Application") {
        application_paths(object)
    } else {
        Vec::new()
    };
    !paths.is_empty() && paths.iter().all(|path| install_paths.iter().any(|install| is_within(path, install)))
}

/// The engine objects, outside the install paths, that build only Istio's install paths.
fn install_builders(context: &StepContext<'_>, install_paths: &[&str]) -> Vec<InstallBuilder> {
    context
        .repository
        .engine_objects()
        .filter(|(file, object)| {
            !install_paths.iter().any(|install| is_within(file, install)) && builds_only(object, install_paths)
        })
        .map(|(file, object)| {
            let flux = is(object, "kustomize.toolkit.fluxcd.io/", "Kustomization");
            let namespace = str_at(object, &["metadata", "namespace"]).unwrap_or(if flux { "flux-system" } else { "argocd" });
            let name = name_of(object);
            let kind = if flux { "Flux Kustomization" } else { "Application" };
            InstallBuilder {
                file: file.clone(),
                shown: format!("{kind} {namespace}/{name} ({file})"),
                flux: flux.then(|| (namespace.to_owned(), name.to_owned())),
            }
        })
        .collect()
}

/// The Flux Kustomizations and Argo CD Applications that build only Istio's install paths go with them (a Flux
/// Kustomization whose path is gone fails and prunes nothing, so Istio would stay), and so do the `dependsOn`
/// entries naming them (a Kustomization waits for a missing dependency for ever). Returns the files left with no
/// object, removed.
fn remove_engine_objects(
    context: &StepContext<'_>,
    install_paths: &[&str],
    rendering: &mut Rendering<'_>,
) -> Result<BTreeSet<String>, Diagnostics> {
    let builders = install_builders(context, install_paths);
    let cannot = |file: &str, reason: EditError| {
        Diagnostic::in_file(Path::new(file), format!("cannot remove what builds Istio's install paths: {reason}"))
    };
    let mut emptied = BTreeSet::new();
    let files: BTreeSet<&String> = builders.iter().map(|builder| &builder.file).collect();
    for file in files {
        let text = rendering.current_text(file)?.unwrap_or_default();
        let Some(edited) =
            remove_documents(&text, |object| builds_only(object, install_paths)).map_err(|e| cannot(file, e))?
        else {
            continue;
        };
        if edited.trim().is_empty() {
            rendering.writes.remove(file);
            rendering.removals.insert(file.clone());
            emptied.insert(file.clone());
        } else {
            rendering.writes.insert(file.clone(), edited);
        }
    }
    let gone: BTreeSet<(String, String)> = builders.into_iter().filter_map(|builder| builder.flux).collect();
    if gone.is_empty() {
        return Ok(emptied);
    }
    let dependents: BTreeSet<&String> = context
        .repository
        .engine_objects()
        .filter(|(file, _)| !rendering.removals.contains(*file))
        .filter(|(_, object)| is(object, "kustomize.toolkit.fluxcd.io/", "Kustomization"))
        .map(|(file, _)| file)
        .collect();
    for file in dependents {
        let text = rendering.current_text(file)?.unwrap_or_default();
        let edited = remove_nested_list_items(&text, &["spec", "dependsOn"], |object, dependency| {
            let own = str_at(object, &["metadata", "namespace"]).unwrap_or("flux-system");
            let namespace = str_at(dependency, &["namespace"]).unwrap_or(own);
            is(object, "kustomize.toolkit.fluxcd.io/", "Kustomization")
                && str_at(dependency, &["name"])
                    .is_some_and(|name| gone.contains(&(namespace.to_owned(), name.to_owned())))
        })
        .map_err(|e| cannot(file, e))?;
        if let Some(edited) = edited {
            rendering.writes.insert(file.clone(), edited);
        }
    }
    Ok(emptied)
}

/// Every kustomization in the repository stops listing Istio's install paths (and the files of engine objects
/// removed with them), so that each one still builds: cluster sources, and others such as Flux's infrastructure
/// kustomizations.
fn remove_install_references(
    context: &StepContext<'_>,
    install_paths: &[&str],
    emptied: &BTreeSet<String>,
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
            install_paths.iter().any(|install| is_within(&target, install)) || emptied.contains(&target)
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

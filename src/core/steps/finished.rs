//! `finished`: the switch to Finished, Istio's install paths removed (and out of every kustomization that lists
//! them), Istio's egress gateway out of every route; gated on no Istio proxy left and a confirmation.

use std::collections::BTreeSet;
use std::path::Path;

use crate::core::component::Rendering;
use crate::core::desired::Desired;
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::gate::{named_confirmation, pods, Gate};
use crate::core::observe::Observation;
use crate::core::paths::{is_within, join, normalize_repo_path_lossy, parent};
use crate::core::repository::INCLUDING_FIELDS;
use crate::core::settings::Settings;
use crate::core::step_id::{Phase, StepId};
use crate::core::steps::{KindInfo, PendingStep, StepContext, StepKind};
use crate::core::yaml_edit::remove_list_items;

pub struct Finished;

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
    fn gates(&self, _pending: &PendingStep<'_>, observation: &Observation) -> Vec<Gate> {
        let left = on_istios_proxy(observation, |_| true);
        vec![Gate::unless_found("no Istio proxy left", &left, "pod(s) still run Istio's proxy")]
    }

    /// Before Istio is removed: no workload still depends on it (Istio's own gateways in istio-system go with
    /// it), no traffic goes through its gateways, and its config lives in ASM.
    fn preconditions(&self, pending: &PendingStep<'_>, observation: &Observation) -> Vec<Gate> {
        let (step, state) = (&pending.step, pending.context.state);
        let left = on_istios_proxy(observation, |namespace| namespace != ISTIO_SYSTEM);
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
            named_confirmation(
                "Istio's config imported into ASM",
                step,
                state,
                "every Istio API object (VirtualService, Gateway, DestinationRule, ...) is imported into ASM",
            ),
        ]
    }

    fn notes(&self, _step: &StepId, settings: &Settings) -> Vec<String> {
        let (major, minor, patch) = settings.istio.version;
        vec![format!(
            "Istio installed with istioctl rather than these manifests? run istioctl {major}.{minor}.{patch}'s \
             `istioctl uninstall --purge`"
        )]
    }
}

const ISTIO_SYSTEM: &str = "istio-system";

/// Pods still on Istio's proxy in the namespaces `counted` accepts, as `cluster: namespace/name`.
fn on_istios_proxy(observation: &Observation, counted: impl Fn(&str) -> bool) -> Vec<String> {
    pods(observation)
        .filter(|(_, pod)| pod.istio_proxy && !pod.on_asm && counted(&pod.namespace))
        .map(|(cluster, pod)| format!("{cluster}: {}", pod.display()))
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

//! `init`: the ASMMigrateFromIstio resource at Init, and istio-system given back to Istio's injector for east-west gateways.

use super::{Desired, Phase, StepContext};

pub fn add(context: &StepContext<'_>, desired: &mut Desired) {
    desired.phase = Some(Phase::Init);
    // East-west gateway pods in istio-system must be re-injected through the webhook, which ASM's
    // `istio-injection: disable` label on the namespace would prevent.
    desired.release_istio_system = context.plan.clusters.iter().any(|cluster| cluster.east_west_gateway);
}

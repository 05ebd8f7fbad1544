//! `migrating`: the switch to Migrating, after which workloads, egress and ingress move to ASM.

use super::{Desired, Phase, StepContext};

pub fn add(_context: &StepContext<'_>, desired: &mut Desired) {
    desired.phase = Some(Phase::Migrating);
}

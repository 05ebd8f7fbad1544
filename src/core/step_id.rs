//! Step ids (`init`, `wave/canary`, `egress/stripe/10`) and the phases of ASMMigrateFromIstio they move through.

use std::fmt;
use std::str::FromStr;

/// The value of `ASMMigrateFromIstio.spec.desiredState`; it only ever moves forward, one phase at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Init,
    SetupIstioForMigrate,
    Migrating,
    Finished,
}

impl Phase {
    pub const ALL: [Phase; 4] = [Phase::Init, Phase::SetupIstioForMigrate, Phase::Migrating, Phase::Finished];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Init => "Init",
            Phase::SetupIstioForMigrate => "SetupIstioForMigrate",
            Phase::Migrating => "Migrating",
            Phase::Finished => "Finished",
        }
    }
}

/// A step of the plan: the kind's name, then what names the step among the kind's steps, `/`-separated.
/// Step kinds make their ids and read them back; elsewhere an id is only compared and shown.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StepId(String);

/// Why a text is not a step id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a step id such as `init`, `wave/canary` or `egress/stripe/10`")]
pub struct StepIdError(String);

impl StepId {
    /// The id of a kind's only step (`init`).
    pub fn of_kind(kind: &str) -> StepId {
        StepId(kind.to_owned())
    }

    /// `<kind>/<instance>` (`wave/canary`, `egress/stripe/10`).
    pub fn of_instance(kind: &str, instance: &str) -> StepId {
        StepId(format!("{kind}/{instance}"))
    }

    /// The kind's name: `wave` in `wave/canary`.
    pub fn kind(&self) -> &str {
        self.0.split_once('/').map(|(kind, _)| kind).unwrap_or(&self.0)
    }

    /// What follows the kind: `canary` in `wave/canary`, `stripe/10` in `egress/stripe/10`.
    pub fn instance(&self) -> Option<&str> {
        self.0.split_once('/').map(|(_, instance)| instance)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for StepId {
    type Err = StepIdError;

    /// `/`-separated segments of lower-case letters, digits and '-' (the DNS-1123 names steps are made of).
    fn from_str(text: &str) -> Result<StepId, StepIdError> {
        let segment_ok = |segment: &str| {
            !segment.is_empty() && segment.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        if text.split('/').all(segment_ok) {
            Ok(StepId(text.to_owned()))
        } else {
            Err(StepIdError(text.to_owned()))
        }
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for StepId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for StepId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<StepId, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_a_kind_and_an_instance() {
        let id: StepId = "egress/stripe/10".parse().unwrap();
        assert_eq!((id.kind(), id.instance()), ("egress", Some("stripe/10")));
        assert_eq!(StepId::of_instance("egress", "stripe/10"), id);
        assert_eq!(StepId::of_kind("init").instance(), None);
        assert!("wave/".parse::<StepId>().is_err() && "Wave/x".parse::<StepId>().is_err());
    }
}

//! `state.yaml`: what the tool remembers between runs (current step, retry counter, restart stamp, history).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::core::diagnostic::{Diagnostic, Diagnostics, Pos};
use crate::core::step_id::StepId;

pub const STATE_KIND: &str = "MigrationState";
/// `ASMMigrateFromIstio.spec.retryCounter` is an int32.
pub const RETRY_COUNTER_MAX: u32 = i32::MAX as u32;

/// The plan format's version, which the state shares.
pub const PLAN_API_VERSION: &str = "asm-migrate/v1alpha1";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct State {
    pub api_version: String,
    pub kind: String,
    pub plan: String,
    /// The step the repository is at; absent before the first `apply`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<StepId>,
    #[serde(default)]
    pub retry_counter: u32,
    /// Written once, when `setup` is first rendered; never changes afterwards, so re-rendering restarts nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted_at: Option<String>,
    /// `advance --confirm`: who said, and when, what no API can show.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confirmations: Vec<Confirmation>,
    /// `advance --force`: steps whose gates were skipped, by whom and when.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates_skipped: Vec<Confirmation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Confirmation {
    pub step: StepId,
    pub at: String,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HistoryEntry {
    pub step: StepId,
}

impl State {
    pub fn new(plan: &str) -> State {
        State {
            api_version: PLAN_API_VERSION.to_owned(),
            kind: STATE_KIND.to_owned(),
            plan: plan.to_owned(),
            ..State::default()
        }
    }

    /// Whether someone confirmed `step` (`advance --confirm`).
    pub fn confirmed(&self, step: &StepId) -> bool {
        self.confirmations.iter().any(|confirmation| &confirmation.step == step)
    }

    /// Reads `state.yaml` text; `file` names it in messages.
    pub fn parse(file: &Path, text: &str, plan: &str) -> Result<State, Diagnostics> {
        let state: State =
            crate::core::yaml::document(text).map_err(|error| Diagnostic::from_yaml(file, text, &error))?;
        if state.retry_counter > RETRY_COUNTER_MAX {
            return Err(Diagnostic::in_file(
                file,
                format!(
                    "retryCounter {} is beyond what ASM's retryCounter holds ({RETRY_COUNTER_MAX})",
                    state.retry_counter
                ),
            )
            .into());
        }
        if let Some(stamp) = state.restarted_at.as_deref().filter(|stamp| !is_restart_stamp(stamp)) {
            let line = text.lines().position(|line| line.starts_with("restartedAt:")).map_or(1, |index| index + 1);
            return Err(Diagnostic::at(
                file,
                text,
                Pos::new(line, "restartedAt: ".len() + 1),
                format!(
                    "restartedAt `{}` is not a time as asm-migrate writes it (like 2026-01-01T00:00:00Z)",
                    crate::core::yaml::quoted(stamp)
                ),
            )
            .into());
        }
        if state.plan != plan {
            return Err(Diagnostic::in_file(
                file,
                format!(
                    "this state belongs to plan `{}`, not `{plan}`: two plans cannot share one output directory",
                    state.plan
                ),
            )
            .into());
        }
        Ok(state)
    }

    /// The state after moving to `step`.
    pub fn advanced_to(&self, step: &StepId, restarted_at: Option<&str>) -> State {
        let mut next = self.clone();
        if next.step.as_ref() != Some(step) {
            next.history.push(HistoryEntry { step: step.clone() });
            next.step = Some(step.clone());
        }
        if next.restarted_at.is_none() {
            next.restarted_at = restarted_at.map(str::to_owned);
        }
        next
    }

    pub fn to_yaml(&self) -> String {
        let body = serde_saphyr::to_string(self).expect("the state serializes");
        format!("# Written by asm-migrate: the migration's progress. Change it only through asm-migrate.\n{body}")
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the only shape of a restart stamp.
fn is_restart_stamp(stamp: &str) -> bool {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:ddZ";
    stamp.len() == SHAPE.len()
        && stamp
            .bytes()
            .zip(SHAPE)
            .all(|(byte, &shape)| if shape == b'd' { byte.is_ascii_digit() } else { byte == shape })
}

/// What `advance` and `retry` change in the state besides the step.
#[derive(Debug, Clone, Default)]
pub struct StateChange {
    pub confirmations: Vec<Confirmation>,
    pub gates_skipped: Option<Confirmation>,
    pub retry: bool,
}

impl StateChange {
    pub fn applied_to(&self, state: &State) -> State {
        let mut next = state.clone();
        next.confirmations.extend(self.confirmations.iter().cloned());
        next.gates_skipped.extend(self.gates_skipped.clone());
        if self.retry {
            next.retry_counter += 1;
        }
        next
    }

    /// Commit trailers that say what happened beyond rendering.
    pub fn trailers(&self) -> String {
        let mut trailers = String::new();
        for confirmation in &self.confirmations {
            trailers.push_str(&format!("Migration-Confirmed: {} by {}\n", confirmation.step, confirmation.by));
        }
        if let Some(skipped) = &self.gates_skipped {
            trailers.push_str(&format!("Migration-Gates-Skipped: {} by {}\n", skipped.step, skipped.by));
        }
        trailers
    }
}

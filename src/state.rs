//! `state.yaml`: what the tool remembers between runs (current step, retry counter, restart stamp, history).

use serde::{Deserialize, Serialize};

use crate::diagnostic::{Diagnostic, Diagnostics};
use std::path::Path;

pub const STATE_KIND: &str = "MigrationState";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct State {
    pub api_version: String,
    pub kind: String,
    pub plan: String,
    /// The step the repository is at; absent before the first `apply`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default)]
    pub retry_counter: u32,
    /// Written once, when `setup` is first rendered; never changes afterwards, so re-rendering restarts nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted_at: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confirmations: Vec<Confirmation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Confirmation {
    pub step: String,
    pub at: String,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HistoryEntry {
    pub step: String,
}

impl State {
    pub fn new(plan: &str) -> State {
        State {
            api_version: crate::plan::PLAN_API_VERSION.to_owned(),
            kind: STATE_KIND.to_owned(),
            plan: plan.to_owned(),
            ..State::default()
        }
    }

    /// Reads `state.yaml` text; `file` names it in messages.
    pub fn parse(file: &Path, text: &str, plan: &str) -> Result<State, Diagnostics> {
        let state: State = serde_saphyr::from_str(text).map_err(|error| Diagnostic::from_yaml(file, text, &error))?;
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
    pub fn advanced_to(&self, step: &str, restarted_at: Option<&str>) -> State {
        let mut next = self.clone();
        if next.step.as_deref() != Some(step) {
            next.history.push(HistoryEntry { step: step.to_owned() });
            next.step = Some(step.to_owned());
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

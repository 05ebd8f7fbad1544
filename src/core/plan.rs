//! The migration plan: the document as written (with source positions), validated into a `Plan` whose settings
//! and step kinds can no longer be wrong; and the registry of step kinds, in the order their steps are taken.

use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::core::diagnostic::{Diagnostic, Diagnostics, Pos};
use crate::core::discovery::written::DECIDE_MARKER;
use crate::core::observe::ClusterRead;
use crate::core::settings::{pos, Checker, Located, RawAsm, RawCluster, RawIstio, RawSettings, Settings};
use crate::core::state::PLAN_API_VERSION;
use crate::core::step_id::{Phase, StepId};
use crate::core::steps::{rank, step_kinds, Kinds, ReadKind, StepKind};

// ---- What the user wrote ----

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

/// `spec` as written, and how each kind reads its part: the settings, then one section per step kind that reads one
/// (in the registry's order), then the explicit step order.
macro_rules! raw_spec {
    ($( $module:ident :: $kind:ident $( [$section:ident] )? ),+ $(,)?) => {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        struct RawSpec {
            engine: Spanned<String>,
            output: Spanned<String>,
            #[serde(default)]
            asm: RawAsm,
            istio: RawIstio,
            clusters: Vec<RawCluster>,
            $( $(
                #[serde(default)]
                $section: <crate::core::steps::$module::$kind as ReadKind>::Raw,
            )? )+
            #[serde(default)]
            steps: Vec<Spanned<String>>,
        }

        /// The kind sections of `spec`, taken out of it.
        struct RawSections {
            $( $( $section: <crate::core::steps::$module::$kind as ReadKind>::Raw, )? )+
        }

        impl RawSpec {
            /// The settings and the kind sections, apart.
            fn split(self, name: Spanned<String>) -> (RawSettings, RawSections, Vec<Spanned<String>>) {
                let settings = RawSettings {
                    name,
                    engine: self.engine,
                    output: self.output,
                    asm: self.asm,
                    istio: self.istio,
                    clusters: self.clusters,
                };
                (settings, RawSections { $( $( $section: self.$section, )? )+ }, self.steps)
            }
        }

        /// Each kind read from its section (a kind without one reads `()`).
        fn read_kinds(sections: RawSections, settings: &Settings, check: &mut Checker<'_>) -> Kinds {
            // Used even by a registry whose kinds had no section.
            let _ = &sections;
            Kinds {
                $( $module: ReadKind::read(section!($( sections.$section )?), settings, check), )+
            }
        }
    };
}

/// A kind's section, or `()` for a kind without one.
macro_rules! section {
    () => {
        ()
    };
    ($section:expr) => {
        $section
    };
}

step_kinds!(raw_spec);

// ---- The validated plan ----

#[derive(Debug, Clone)]
pub struct Plan {
    pub settings: Settings,
    /// Every step kind, as the plan configures it.
    kinds: Kinds,
    /// Every step, in the order they are taken.
    pub steps: Vec<StepId>,
    /// The JSON Schema the plan's `# yaml-language-server: $schema=` line names, for editors.
    pub schema_reference: Option<Located<String>>,
    /// Surprising choices that are not errors, and suggestions, each with a hint: `validate` prints them.
    pub remarks: Vec<Diagnostic>,
}

impl Plan {
    /// The step kinds, in the default order of their steps, as the registry (`steps::step_kinds`) lists them.
    pub fn kinds(&self) -> Vec<&dyn StepKind> {
        self.kinds.all()
    }

    /// What the gates of every kind read from each data-plane cluster, besides what every gate reads: each read
    /// once, in the registry's order.
    pub fn cluster_reads(&self) -> Vec<ClusterRead> {
        let mut reads: Vec<ClusterRead> = Vec::new();
        for read in self.kinds().iter().flat_map(|kind| kind.cluster_reads()) {
            if !reads.iter().any(|known| known.name == read.name) {
                reads.push(read);
            }
        }
        reads
    }

    /// The kind a step of the plan belongs to. Every step of the plan was made by one of its kinds, and a step id
    /// from outside (`--step`, `state.yaml`) is checked against the plan's steps before it is used; an id of no kind
    /// is a bug, said as one, never taken for another kind's.
    pub fn kind_of(&self, step: &StepId) -> &dyn StepKind {
        match self.kinds().into_iter().find(|kind| kind.name() == step.kind()) {
            Some(kind) => kind,
            None => panic!("step `{step}` is of no step kind: only the plan's steps reach Plan::kind_of"),
        }
    }

    pub fn phase_of(&self, step: &StepId) -> Phase {
        self.kind_of(step).phase()
    }

    /// A step of the plan, by id.
    pub fn step(&self, id: &StepId) -> Option<&StepId> {
        self.steps.iter().find(|step| *step == id)
    }

    pub fn step_index(&self, step: &StepId) -> Option<usize> {
        self.steps.iter().position(|candidate| candidate == step)
    }

    /// 1-based position of a step in the plan, and the number of steps.
    pub fn position(&self, step: &StepId) -> (usize, usize) {
        (self.step_index(step).map(|index| index + 1).unwrap_or(0), self.steps.len())
    }

    /// The order rules in words: `init, setup, migrating, then waves, egress and ingress, then finished`.
    fn order_rules(&self) -> String {
        let mut groups: Vec<Vec<&'static str>> = Vec::new();
        let mut last_rank = None;
        for kind in self.kinds() {
            match groups.last_mut() {
                Some(group) if last_rank == Some(rank(kind)) => group.push(kind.info().plural),
                _ => groups.push(vec![kind.info().plural]),
            }
            last_rank = Some(rank(kind));
        }
        let mut text = String::new();
        for (index, group) in groups.iter().enumerate() {
            if index > 0 {
                let several = group.len() > 1 || groups[index - 1].len() > 1;
                text.push_str(if several { ", then " } else { ", " });
            }
            text.push_str(&match group.split_last() {
                Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
                _ => group.join(""),
            });
        }
        text
    }
}

/// Parses and validates plan text; `file` names it in messages.
pub fn parse(file: &Path, source: &str) -> Result<Plan, Diagnostics> {
    if crate::core::yaml::holds_nothing(source) {
        let empty =
            Diagnostic::in_file(file, "the plan is empty: it holds no YAML document, only blank lines or comments");
        return Err(empty.with_help("`asm-migrate schema` describes the plan; README's quick start shows one").into());
    }
    let undecided = undecided(file, source);
    if !undecided.is_empty() {
        return Err(Diagnostics(undecided));
    }
    let raw: RawPlan =
        crate::core::yaml::strict_document(source).map_err(|error| Diagnostic::from_yaml(file, source, &error))?;
    let mut check = Checker::new(file, source);
    if raw.api_version.value != PLAN_API_VERSION {
        check.fail(
            pos(&raw.api_version),
            format!("unsupported apiVersion `{}`: expected `{PLAN_API_VERSION}`", raw.api_version.value),
        );
    }
    if raw.kind.value != "MigrationPlan" {
        check.fail(pos(&raw.kind), format!("unsupported kind `{}`: expected `MigrationPlan`", raw.kind.value));
    }
    let (settings, sections, steps) = raw.spec.split(raw.metadata.name);
    let settings = check.settings(settings);
    let mut plan = Plan {
        kinds: read_kinds(sections, &settings, &mut check),
        settings,
        steps: Vec::new(),
        schema_reference: None,
        remarks: Vec::new(),
    };
    let default_order: Vec<StepId> = plan.kinds().iter().flat_map(|kind| kind.steps()).collect();
    plan.steps = explicit_order(&plan, steps, default_order, &mut check);
    plan.schema_reference = schema_reference(source);
    if plan.schema_reference.is_none() {
        check.suggest(
            "the plan names no JSON Schema, so editors cannot complete or check it as you type",
            format!(
                "run `asm-migrate schema > migration.schema.json` and make `{SCHEMA_MODELINE}./migration.schema.json` \
                 the plan's first line (VS Code's YAML extension, and Neovim, Helix or Zed with yaml-language-server, \
                 read it)"
            ),
        );
    }
    if check.problems.is_empty() {
        plan.remarks = check.remarks;
        Ok(plan)
    } else {
        Err(Diagnostics(check.problems))
    }
}

/// The `# decide:` lines `init` left: each a field it could not decide, named until the user writes it.
fn undecided(file: &Path, source: &str) -> Vec<Diagnostic> {
    source
        .lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let column = line.find(DECIDE_MARKER).filter(|column| line[..*column].trim().is_empty())?;
            let what = line[column + DECIDE_MARKER.len()..].trim();
            let diagnostic = Diagnostic::at(
                file,
                source,
                Pos::new(index + 1, column + 1),
                format!("`asm-migrate init` could not decide {what}"),
            );
            Some(
                diagnostic.with_help(
                    "write the value (the commented line below shows where) and delete this `# decide:` line",
                ),
            )
        })
        .collect()
}

/// The comment by which the YAML language server finds a file's JSON Schema.
pub const SCHEMA_MODELINE: &str = "# yaml-language-server: $schema=";

/// The schema a `# yaml-language-server: $schema=` comment line names, and where.
fn schema_reference(source: &str) -> Option<Located<String>> {
    source.lines().enumerate().find_map(|(index, line)| {
        let start =
            line.find(SCHEMA_MODELINE.trim_start_matches("# ")).filter(|_| line.trim_start().starts_with('#'))?;
        let reference = line[start..].split_once('=')?.1.trim();
        (!reference.is_empty()).then(|| Located { value: reference.to_owned(), pos: Pos::new(index + 1, start + 1) })
    })
}

/// The plan's `steps:` when written (every step once, in an order the rules allow), else the default order.
fn explicit_order(
    plan: &Plan,
    raw: Vec<Spanned<String>>,
    default_order: Vec<StepId>,
    check: &mut Checker<'_>,
) -> Vec<StepId> {
    if raw.is_empty() {
        return default_order;
    }
    let mut order: Vec<StepId> = Vec::new();
    for written in &raw {
        match default_order.iter().find(|step| step.as_str() == written.value) {
            Some(step) if order.contains(step) => {
                check.fail(pos(written), format!("step `{}` is listed twice", written.value))
            }
            Some(step) => {
                if let Some(reason) = order.last().and_then(|previous| order_problem(plan, step, previous, &order)) {
                    check.fail(pos(written), reason);
                }
                order.push(step.clone());
            }
            None => check.fail(
                pos(written),
                format!("unknown step `{}`: `asm-migrate steps` lists the plan's steps", written.value),
            ),
        }
    }
    let missing: Vec<String> =
        default_order.iter().filter(|step| !order.contains(step)).map(ToString::to_string).collect();
    if !missing.is_empty() {
        check.fail(
            pos(&raw[0]),
            format!("the explicit step order leaves out {}: list every step once", missing.join(", ")),
        );
    }
    order
}

/// Why `step` may not come right after `previous` (with `before` taken already), if it may not.
fn order_problem(plan: &Plan, step: &StepId, previous: &StepId, before: &[StepId]) -> Option<String> {
    let kind = plan.kind_of(step);
    if rank(kind) < rank(plan.kind_of(previous)) {
        return Some(format!("step `{step}` cannot come after `{previous}`: the order is {}", plan.order_rules()));
    }
    kind.order_problem(step, before)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_order_rules_are_said_from_the_registry() {
        let plan = super::parse(
            std::path::Path::new("migration.yaml"),
            "apiVersion: asm-migrate/v1alpha1\nkind: MigrationPlan\nmetadata: {name: p}\nspec:\n  engine: argocd\n  output: out\n  istio: {version: \"1.22.3\", meshConfig: {kind: IstioOperator, path: istio.yaml}}\n  clusters: [{name: a, network: net, source: a}]\n",
        )
        .expect("a valid plan");
        assert_eq!(plan.order_rules(), "init, setup, migrating, then waves, egress and ingress, then finished");
        let ids: Vec<String> = plan.steps.iter().map(ToString::to_string).collect();
        assert_eq!(ids, ["init", "setup", "migrating", "finished"]);
    }
}

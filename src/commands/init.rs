//! `init`: scans a repository asm-migrate has never seen and writes a starter plan beside it (with `--wire`, the
//! object that applies the ASM control plane's part too), saying what each choice was found from.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::adapters::load::load_everything;
use crate::adapters::workspace::{self, Workspace};
use crate::commands::schema::PLAN_SCHEMA;
use crate::commands::{lines_for, Workplace};
use crate::core::change::FileChange;
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::discovery::wiring::{wiring, Wiring};
use crate::core::discovery::written::{plan_text, DECIDE_MARKER};
use crate::core::discovery::{discover, dns_label, Discovery, Found};
use crate::core::templates::Templates;
use crate::output::{json, ReportFormat};

/// What `init` is asked to do besides writing the plan.
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// Write over an existing plan.
    pub force: bool,
    /// Write the object that applies `<output>/asm` to the ASM control plane.
    pub wire: bool,
    /// The ASM control plane's kubeconfig context (Argo CD's name for it).
    pub asm_context: Option<String>,
    /// The Secret holding the ASM kubeconfig, for a Flux Kustomization.
    pub asm_kubeconfig_secret: String,
}

/// The schema file the written plan's first line names.
const SCHEMA_FILE: &str = "migration.schema.json";

/// Writes the starter plan (and, with `--wire`, the ASM applier) and reports what was found.
pub fn run(
    workplace: &Workplace,
    options: &InitOptions,
    format: ReportFormat,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let root = repository_root(workplace);
    if !root.is_dir() {
        return Err(crate::commands::WorkplaceError::NoRepository(root).into());
    }
    let (plan_file, shown) = match &workplace.plan {
        Some(plan) => (plan.clone(), plan.clone()),
        None => (root.join("migration.yaml"), PathBuf::from("migration.yaml")),
    };
    let Some(plan_path) = relative_to(&plan_file, &root) else {
        return Err(Diagnostics::from(
            Diagnostic::in_file(
                &shown,
                "the plan is outside the repository: init writes it into the repository it reads",
            )
            .with_help("give --plan a path inside the repository (the default is migration.yaml at its root)"),
        )
        .into());
    };
    if plan_file.exists() && !options.force {
        return Err(Diagnostics::from(
            Diagnostic::in_file(&shown, "a plan is here already: init does not write over it")
                .with_help("`asm-migrate validate` checks it; `init --force` writes a new one over it"),
        )
        .into());
    }
    let templates = workplace.templates()?;
    let (discovery, wired) = discover_and_wire(&root, &shown, options, &templates)?;
    let text = plan_text(&discovery, &templates)?;
    let mut notes = discovery.notes.clone();
    let changes = changes(&root, &plan_path, &text, &wired, options, &mut notes);
    workspace::write(&Workspace::new(&root), &changes)
        .map_err(|error| Diagnostic::in_file(&shown, format!("init wrote nothing: {error}")))
        .map_err(Diagnostics::from)?;
    let undecided = undecided(&text);
    let written: Vec<&str> = changes.iter().map(|change| change.path.as_str()).collect();
    let report = InitReport {
        discovery: &discovery,
        plan_path: &plan_path,
        written: &written,
        undecided: &undecided,
        notes: &notes,
        wired: &wired,
        wire: options.wire,
    };
    match format {
        ReportFormat::Json => json::print(out, report.json())?,
        ReportFormat::Text => {
            let mut sink = std::io::sink();
            report.write(lines_for(format, out, &mut sink))?;
        }
    }
    Ok(0)
}

/// The repository `init` scans: `--repo`, else the plan's directory, else the current one.
fn repository_root(workplace: &Workplace) -> PathBuf {
    match (&workplace.repo, &workplace.plan) {
        (Some(repo), _) => repo.clone(),
        (None, Some(plan)) => {
            plan.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_owned()
        }
        (None, None) => PathBuf::from("."),
    }
}

/// What the repository at `root` holds, and how to wire the output into it; an error when `--wire` cannot write
/// the ASM applier.
fn discover_and_wire(
    root: &Path,
    shown: &Path,
    options: &InitOptions,
    templates: &Templates,
) -> anyhow::Result<(Discovery, Wiring)> {
    let repository = load_everything(&Workspace::new(root));
    let name = root.canonicalize().ok().and_then(|dir| dir.file_name().map(|n| n.to_string_lossy().into_owned()));
    let mut discovery = discover(&repository, &dns_label(&name.unwrap_or_default()));
    if let Some(context) = &options.asm_context {
        discovery.asm_context = Some(Found::new(context.clone(), "--asm-context"));
    }
    let wired = wiring(&discovery, &repository, templates, &options.asm_kubeconfig_secret)
        .map_err(|reason| Diagnostics::from(Diagnostic::in_file(shown, format!("--wire: {reason}"))))?;
    if options.wire {
        if let Some((missing, help)) = &wired.missing {
            let what = format!(
                "--wire cannot write {} that applies the ASM control plane's part: {missing}",
                applier(&discovery)
            );
            return Err(Diagnostics::from(Diagnostic::in_file(shown, what).with_help(help.clone())).into());
        }
        if let Some(applier) = &wired.asm_applier {
            discovery.asm_synced_by = Some(applier.synced_by.clone());
        }
    }
    Ok((discovery, wired))
}

/// The files `init` writes: the plan, the schema unless another one is there (noted in `notes`), and with
/// `--wire` the ASM applier.
fn changes(
    root: &Path,
    plan_path: &str,
    text: &str,
    wired: &Wiring,
    options: &InitOptions,
    notes: &mut Vec<String>,
) -> Vec<FileChange> {
    let schema_path = crate::core::paths::join(crate::core::paths::parent(plan_path), SCHEMA_FILE);
    let mut changes =
        vec![FileChange { path: plan_path.to_owned(), before: read(root, plan_path), after: Some(text.to_owned()) }];
    let schema_before = read(root, &schema_path);
    match &schema_before {
        Some(before) if *before == *PLAN_SCHEMA => {}
        Some(_) if !options.force => notes.push(format!(
            "{schema_path} is not this asm-migrate's schema and was left as it is (`init --force` writes it)"
        )),
        _ => changes.push(FileChange {
            path: schema_path.clone(),
            before: schema_before,
            after: Some(PLAN_SCHEMA.clone()),
        }),
    }
    if options.wire {
        if let Some(applier) = &wired.asm_applier {
            changes.push(FileChange { path: applier.path.clone(), before: None, after: Some(applier.text.clone()) });
            if let Some((kustomization, text)) = &applier.listed_in {
                changes.push(FileChange {
                    path: kustomization.clone(),
                    before: read(root, kustomization),
                    after: Some(text.clone()),
                });
            }
        }
    }
    changes
}

/// The plan's `# decide:` lines: their line numbers and what each asks.
fn undecided(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(index, line)| Some((index + 1, line.trim_start().strip_prefix(DECIDE_MARKER)?.trim().to_owned())))
        .collect()
}

/// What `init` did and found, as its report says it.
struct InitReport<'a> {
    discovery: &'a Discovery,
    plan_path: &'a str,
    written: &'a [&'a str],
    /// Each `# decide:` line of the plan written: its number and what to decide.
    undecided: &'a [(usize, String)],
    notes: &'a [String],
    wired: &'a Wiring,
    /// Whether the ASM applier was written (`--wire`).
    wire: bool,
}

impl InitReport<'_> {
    /// The report as JSON: the files written, the clusters, the proposals' sizes, what is undecided, the wiring and
    /// what was found.
    fn json(&self) -> serde_json::Value {
        let InitReport { discovery, plan_path, written, undecided, notes, wired, wire } = *self;
        let mut document = json!({
            "plan": plan_path,
            "written": written,
            "clusters": discovery.clusters.iter().map(|c| json!({"name": c.source.name, "source": c.source.source, "workloads": c.workloads, "injected": c.injected})).collect::<Vec<_>>(),
        });
        for proposal in &discovery.proposals {
            document[proposal.section] = json!(proposal.entries.len());
        }
        document["undecided"] =
            undecided.iter().map(|(line, what)| json!({"line": line, "what": what})).collect::<Vec<_>>().into();
        document["wiring"] = wiring_json(wired, wire);
        document["found"] = json!(notes);
        document
    }

    /// The report in lines: what was written and found, what to decide, and how to wire it.
    fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let InitReport { discovery, plan_path, written, undecided, notes, wired, wire } = *self;
        let names: Vec<&str> = discovery.clusters.iter().map(|cluster| cluster.source.name.as_str()).collect();
        let proposed: Vec<String> = discovery
            .proposals
            .iter()
            .map(|proposal| format!(", {} {}", proposal.entries.len(), proposal.counted))
            .collect();
        writeln!(
            out,
            "wrote {}: plan {}, {} cluster(s){}{}",
            written.join(", "),
            discovery.name,
            names.len(),
            if names.is_empty() { String::new() } else { format!(" ({})", names.join(", ")) },
            proposed.concat()
        )?;
        for note in notes {
            writeln!(out, "found: {note}")?;
        }
        if !undecided.is_empty() {
            writeln!(out, "to decide ({}): write each value and delete its `# decide:` line", undecided.len())?;
            for (line, what) in undecided {
                writeln!(out, "  {plan_path}:{line}: {what}")?;
            }
        }
        writeln!(out, "wiring:")?;
        for component in &wired.components {
            if let (true, Some(through)) = (component.shared_source, &component.through_engine) {
                writeln!(
                    out,
                    "  cluster {}: its source is another cluster's too, so {through} (includeComponent: false)",
                    component.cluster
                )?;
                continue;
            }
            writeln!(
                out,
                "  cluster {}: {} lists `components: [{}]` (apply adds it with the first step, when the component exists)",
                component.cluster, component.kustomization, component.reference
            )?;
            if let Some(through) = &component.through_engine {
                writeln!(out, "    or, with includeComponent: false in the plan, {through}")?;
            }
        }
        match (&wired.asm_applier, &wired.missing) {
            (Some(applier), _) if wire => {
                writeln!(
                    out,
                    "  wrote {}: it applies {}/asm to the ASM control plane",
                    applier.path, discovery.output
                )?;
                if let Some((kustomization, _)) = &applier.listed_in {
                    writeln!(
                        out,
                        "  added it to the resources of {kustomization}, which lists what its directory applies"
                    )?;
                }
            }
            (Some(applier), _) => writeln!(
                out,
                "  {} would apply {}/asm to the ASM control plane: `init --wire` writes it",
                applier.path, discovery.output
            )?,
            (None, Some((missing, help))) => writeln!(
                out,
                "  the ASM control plane's part ({}/asm) needs {} aimed at it: {missing}; {help}",
                discovery.output,
                applier(discovery)
            )?,
            (None, None) => {
                if let Some(from) = discovery.asm_context.as_ref().map(|found| found.from.as_str()) {
                    writeln!(out, "  {from} applies {}/asm already", discovery.output)?;
                }
            }
        }
        writeln!(out, "next: asm-migrate validate")?;
        Ok(())
    }
}

/// The object that would apply the ASM control plane's part, with its article: `an Argo CD Application`.
fn applier(discovery: &Discovery) -> &'static str {
    discovery.engine.or_argo_cd().applier_with_article()
}

fn read(root: &Path, path: &str) -> Option<String> {
    std::fs::read_to_string(root.join(path)).ok()
}

/// `file` as a path relative to `root` (both as given); `None` when it is outside `root`.
fn relative_to(file: &Path, root: &Path) -> Option<String> {
    let absolute = |path: &Path| path.canonicalize().unwrap_or_else(|_| path.to_owned());
    let dir = absolute(file.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new(".")));
    let name = file.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let relative = dir.strip_prefix(absolute(root)).ok()?;
    Some(crate::core::paths::join(&relative.to_string_lossy(), &name))
}

fn wiring_json(wired: &Wiring, wire: bool) -> serde_json::Value {
    json!({
        "components": wired.components.iter().map(|c| json!({
            "cluster": c.cluster, "kustomization": c.kustomization, "reference": c.reference, "throughEngine": c.through_engine,
            "sharedSource": c.shared_source,
        })).collect::<Vec<_>>(),
        "asmApplier": wired.asm_applier.as_ref().map(|applier| json!({"path": applier.path, "written": wire})),
        "missing": wired.missing.as_ref().map(|(missing, _)| missing),
    })
}

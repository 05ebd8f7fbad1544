//! The plan `init` writes: what was found, as a plan a person reads, a comment beside each choice saying where it was
//! found, and a `# decide:` line for each field it could not decide.

use serde_json::{json, Value};

use super::{Discovery, Finding, Found};
use crate::core::diagnostic::Diagnostics;
use crate::core::templates::Templates;

/// The line that marks a field `init` could not decide; `plan::parse` names each one until it is gone.
pub const DECIDE_MARKER: &str = "# decide:";

/// The plan's text.
pub fn plan_text(discovery: &Discovery, templates: &Templates) -> Result<String, Diagnostics> {
    templates.render("init/migration.yaml.j2", minijinja::Value::from_serialize(context(discovery))).map_err(|error| {
        Diagnostics::from(crate::core::diagnostic::Diagnostic::in_file(std::path::Path::new(&error.name), error.detail))
    })
}

fn finding<T: serde::Serialize>(finding: &Finding<T>) -> Value {
    match finding {
        Finding::Found(found) => json!({"value": found.value, "from": found.from}),
        Finding::Undecided(what) => json!({"decide": what}),
    }
}

fn found<T: serde::Serialize>(found: &Found<T>) -> Value {
    json!({"value": found.value, "from": found.from})
}

fn context(discovery: &Discovery) -> Value {
    let engine = match &discovery.engine {
        Finding::Found(found) => json!({"value": found.value.plan_name(), "from": found.from}),
        Finding::Undecided(what) => json!({"decide": what}),
    };
    let mesh_config = match &discovery.mesh_config {
        Finding::Found(found) => json!({
            "value": {"kind": found.value.kind_name(), "path": found.value.path, "release": found.value.release},
            "from": found.from,
        }),
        Finding::Undecided(what) => json!({"decide": what}),
    };
    let clusters: Vec<Value> = discovery
        .clusters
        .iter()
        .map(|cluster| {
            json!({
                "name": cluster.source.name,
                "summary": match cluster.helm_rendered {
                    0 => format!("{} workload(s), {} Istio-injected", cluster.workloads, cluster.injected),
                    rendered => format!(
                        "{} workload(s), {} Istio-injected, and {rendered} Helm release(s) or chart kustomization(s) \
                         rendering into injected namespaces",
                        cluster.workloads, cluster.injected
                    ),
                },
                "source": cluster.source.source,
                "from": cluster.source.from,
                "context": cluster.source.context,
                "network": finding(&cluster.network),
                "east_west_gateway": cluster.east_west_gateway,
                "needs_cluster_id": cluster.needs_cluster_id,
                "engine_includes": (!cluster.shares_source_with.is_empty()).then(|| format!(
                    "{} is the source of cluster(s) {} too: none lists its part there, each one's {} includes its \
                     component (init's wiring says how)",
                    cluster.source.source,
                    cluster.shares_source_with.join(", "),
                    discovery.engine.or_argo_cd().applier_kind()
                )),
                "transformers": cluster.as_transformers().then(|| format!(
                    "{} objects: kustomize builds them without the copy a Component costs (README, \"A large source\")",
                    cluster.objects
                )),
                "synced_by": cluster.source.synced_by.as_ref().map(|(namespace, name)| json!({"namespace": namespace, "name": name})),
                "unseen": cluster.unseen.iter().map(found).collect::<Vec<_>>(),
            })
        })
        .collect();
    let proposals: Vec<Value> = discovery
        .proposals
        .iter()
        .map(
            |proposal| json!({"section": proposal.section, "template": proposal.template, "entries": proposal.entries}),
        )
        .collect();
    json!({
        "name": discovery.name,
        "engine": engine,
        "output": discovery.output,
        "output_from": discovery.output_from,
        "asm_context": discovery.asm_context.as_ref().map(found),
        "asm_synced_by": discovery.asm_synced_by.as_ref().map(|(namespace, name)| json!({"namespace": namespace, "name": name})),
        "version": finding(&discovery.version),
        "mesh_config": mesh_config,
        "install_paths": discovery.install_paths.iter().map(found).collect::<Vec<_>>(),
        "clusters": clusters,
        "proposals": proposals,
    })
}

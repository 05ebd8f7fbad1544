//! docs/plan.md and the plan's JSON Schema say the same: every property documented, with its default and values.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::{manifest_dir, matches_golden, Repo};

/// What the schema says of one property, found at a dotted path (`spec.clusters[].name`).
struct Property {
    required: bool,
    schema: Value,
}

fn schema() -> Value {
    let text = std::fs::read_to_string(manifest_dir().join("schema/plan.schema.json")).expect("the schema");
    serde_json::from_str(&text).expect("the schema is JSON")
}

fn doc() -> String {
    std::fs::read_to_string(manifest_dir().join("docs/plan.md")).expect("docs/plan.md")
}

/// Every property of the schema by its path, walking objects and the items of arrays.
fn properties(schema: &Value) -> BTreeMap<String, Property> {
    fn walk(node: &Value, prefix: &str, found: &mut BTreeMap<String, Property>) {
        if let Some(items) = node.get("items") {
            walk(items, &format!("{prefix}[]"), found);
        }
        let Some(children) = node.get("properties").and_then(Value::as_object) else { return };
        let required: Vec<&str> = node["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        for (name, child) in children {
            let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
            found.insert(path.clone(), Property { required: required.contains(&name.as_str()), schema: child.clone() });
            walk(child, &path, found);
        }
    }
    let mut found = BTreeMap::new();
    walk(schema, "", &mut found);
    found
}

/// The rows of the doc's field tables, by the path in their first cell, as their cells.
fn rows(doc: &str) -> BTreeMap<String, Vec<String>> {
    doc.lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| line.trim_matches('|').split(" | ").map(|cell| cell.trim().to_owned()).collect::<Vec<_>>())
        .filter(|cells| cells.len() == 4)
        .map(|cells| (cells[0].trim_matches('`').to_owned(), cells))
        .collect()
}

/// A schema value as the doc writes it: `true`, `argocd`.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => format!("`{text}`"),
        other => format!("`{other}`"),
    }
}

#[test]
fn every_schema_property_is_documented_with_its_default_and_values() {
    let (schema, doc) = (schema(), doc());
    let properties = properties(&schema);
    let rows = rows(&doc);
    assert!(properties.len() > 40, "the walk finds the schema's properties: {}", properties.len());
    let mut problems = Vec::new();
    for (path, property) in &properties {
        let Some(cells) = rows.get(path) else {
            problems.push(format!("`{path}` is not documented in docs/plan.md"));
            continue;
        };
        let row = cells.join(" | ");
        match (property.required, cells[1] == "required") {
            (true, false) => problems.push(format!("`{path}` is required by the schema, not in the doc")),
            (false, true) => problems.push(format!("`{path}` is optional in the schema, required in the doc")),
            _ => {}
        }
        if let Some(default) = property.schema.get("default") {
            let written = format!("default {}", shown(default));
            if !cells[1].contains(&written) {
                problems.push(format!(
                    "`{path}`: the schema's default is {}, the doc says `{}`",
                    shown(default),
                    cells[1]
                ));
            }
        }
        let values = property.schema["enum"].as_array().cloned().unwrap_or_default();
        for value in values.iter().chain(property.schema.get("const")) {
            if !row.contains(&shown(value)) {
                problems.push(format!("`{path}`: the doc does not name the value {}", shown(value)));
            }
        }
    }
    for path in rows.keys().filter(|path| !properties.contains_key(*path)) {
        problems.push(format!("`{path}` is documented in docs/plan.md but is not in the schema"));
    }
    assert!(problems.is_empty(), "docs/plan.md and schema/plan.schema.json differ:\n{}", problems.join("\n"));
}

/// The published schema and reference page are stitched from their bases (`schema/plan.base.json`,
/// `docs/plan.base.md`) and what each kind says beside it (`src/core/steps/<kind>.schema.json` and `<kind>.md`):
/// edit those, then `UPDATE_GOLDEN=1 cargo test --test integration plan_doc` writes the published files again.
#[test]
fn the_published_schema_and_reference_are_stitched_from_the_kinds() {
    matches_golden("schema/plan.schema.json", &asm_migrate::commands::schema::PLAN_SCHEMA);
    matches_golden("docs/plan.md", &asm_migrate::commands::schema::plan_reference());
}

#[test]
fn the_documented_complete_plan_is_valid_for_the_example_repository() {
    let doc = doc();
    let section = doc.split_once("## A complete plan").expect("the section").1;
    let plan = section.split_once("```yaml\n").expect("a YAML block").1.split_once("```").expect("its end").0;
    let repo = Repo::fixture("shop");
    repo.write("migration.yaml", plan);
    let validated = repo.run(&["validate"]).success().stdout;
    assert!(validated.starts_with("plan shop-prod is valid: 2 cluster(s), 17 workload(s)"), "{validated}");
}

#[test]
fn the_readme_points_at_the_plan_reference_in_the_repository() {
    let readme = std::fs::read_to_string(manifest_dir().join("README.md")).expect("README.md");
    assert!(readme.contains("](docs/plan.md)"), "README links docs/plan.md");
    let leaving: Vec<&str> = readme.lines().filter(|line| line.contains("](../") || line.contains("](/")).collect();
    assert!(leaving.is_empty(), "README links outside the repository:\n{}", leaving.join("\n"));
}

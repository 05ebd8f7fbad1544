//! The plan's JSON Schema and its reference page, stitched from a base and what each step kind says of itself.

/// What a step kind contributes to the plan's schema and reference page, from the files beside it.
pub struct KindReference {
    /// The kind's name: `wave`.
    pub name: &'static str,
    /// The property of `spec` the kind reads, if it has a plan section: `waves`.
    pub section: Option<&'static str>,
    /// The JSON Schema of that section, indented from column 0 (`src/core/steps/<kind>.schema.json`).
    pub schema: Option<&'static str>,
    /// The kind's reference page (`src/core/steps/<kind>.md`): with a plan section, it opens with the section's
    /// field table, a `### ` part of its own; the rest is the page of the kind's steps.
    pub page: &'static str,
}

/// The property of `spec` in the base schema that the kinds' sections replace, on a line of its own.
const SCHEMA_MARKER: &str = "\"$kinds\":";
/// The line of the base page that the kinds' field tables replace.
const FIELDS_MARKER: &str =
    "<!-- stitched here: the field table of each step kind's plan section, from src/core/steps/<kind>.md -->";
/// The line of the base page that the kinds' step pages replace.
const STEPS_MARKER: &str = "<!-- stitched here: the page of each step kind, from src/core/steps/<kind>.md -->";

/// The plan's JSON Schema: `base` with its marker line replaced by `"<section>": <schema>` of each kind with a
/// section, in the kinds' order, indented as the marker is.
pub fn stitch_schema(base: &str, kinds: &[KindReference]) -> String {
    let sections: Vec<(&str, &str)> = kinds.iter().filter_map(|kind| Some((kind.section?, kind.schema?))).collect();
    let mut stitched = String::new();
    for line in base.split_inclusive('\n') {
        let Some(at) = line.find(SCHEMA_MARKER) else {
            stitched.push_str(line);
            continue;
        };
        let indent = &line[..at];
        // The marker stands for the sections: they end with a comma where it does, and between each other.
        let followed = line.trim_end().ends_with(',');
        for (index, (section, schema)) in sections.iter().enumerate() {
            stitched.push_str(&format!("{indent}\"{section}\": "));
            stitched.push_str(&schema.trim_end().replace('\n', &format!("\n{indent}")));
            if followed || index + 1 < sections.len() {
                stitched.push(',');
            }
            stitched.push('\n');
        }
    }
    stitched
}

/// The plan's reference page: `base` with its marker lines replaced by the kinds' field tables and the pages of
/// their steps, in the kinds' order, a blank line between two.
pub fn stitch_reference(base: &str, kinds: &[KindReference]) -> String {
    let pages: Vec<(Option<&str>, &str)> = kinds.iter().map(split_page).collect();
    let fields: Vec<&str> = pages.iter().filter_map(|(fields, _)| *fields).collect();
    let steps: Vec<&str> = pages.iter().map(|(_, steps)| *steps).filter(|steps| !steps.is_empty()).collect();
    base.split_inclusive('\n')
        .map(|line| match line.trim_end() {
            FIELDS_MARKER => paragraphs(&fields),
            STEPS_MARKER => paragraphs(&steps),
            _ => line.to_owned(),
        })
        .collect()
}

/// A kind's page as its section's field table (when it has a section) and the page of its steps.
fn split_page(kind: &KindReference) -> (Option<&'static str>, &'static str) {
    let page = kind.page.trim_end();
    if kind.section.is_none() {
        return (None, page);
    }
    match page.find("\n### ") {
        Some(at) => (Some(page[..at].trim_end()), page[at + 1..].trim_end()),
        None => (Some(page), ""),
    }
}

/// Parts as lines, a blank line between two.
fn paragraphs(parts: &[&str]) -> String {
    parts.iter().map(|part| format!("{part}\n")).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [KindReference; 3] = [
        KindReference { name: "start", section: None, schema: None, page: "### `start`\n\nFirst.\n" },
        KindReference {
            name: "hop",
            section: Some("hops"),
            schema: Some("{\n  \"type\": \"array\"\n}\n"),
            page: "### Hops: `hop/<name>` steps\n\n| `spec.hops` |\n\n### `hop/<name>`\n\nOne per hop.\n",
        },
        KindReference {
            name: "leap",
            section: Some("leaps"),
            schema: Some("{ \"type\": \"array\" }\n"),
            page: "### Leaps\n\n| `spec.leaps` |\n\n### `leap/<name>`\n\nOne per leap.\n",
        },
    ];

    #[test]
    fn the_schema_has_each_section_in_the_kinds_order_where_the_marker_is_indented_as_it() {
        let base =
            "{\n  \"properties\": {\n    \"name\": {},\n    \"$kinds\": \"the kinds\",\n    \"order\": {}\n  }\n}\n";
        assert_eq!(
            stitch_schema(base, &KINDS),
            "{\n  \"properties\": {\n    \"name\": {},\n    \"hops\": {\n      \"type\": \"array\"\n    },\n    \
             \"leaps\": { \"type\": \"array\" },\n    \"order\": {}\n  }\n}\n"
        );
    }

    #[test]
    fn the_last_section_takes_no_comma_where_the_marker_ends_the_object() {
        let base = "{\n  \"name\": {},\n  \"$kinds\": \"the kinds\"\n}\n";
        assert_eq!(
            stitch_schema(base, &KINDS),
            "{\n  \"name\": {},\n  \"hops\": {\n    \"type\": \"array\"\n  },\n  \"leaps\": { \"type\": \"array\" }\n}\n"
        );
    }

    #[test]
    fn the_reference_has_the_field_tables_and_the_step_pages_each_where_its_marker_is() {
        let base = format!("# Plan\n\n## Fields\n\n{FIELDS_MARKER}\n\n## Steps\n\n{STEPS_MARKER}\n\n## Command line\n");
        assert_eq!(
            stitch_reference(&base, &KINDS),
            "# Plan\n\n## Fields\n\n### Hops: `hop/<name>` steps\n\n| `spec.hops` |\n\n### Leaps\n\n| `spec.leaps` |\n\n\
             ## Steps\n\n### `start`\n\nFirst.\n\n### `hop/<name>`\n\nOne per hop.\n\n### `leap/<name>`\n\nOne per leap.\n\n\
             ## Command line\n"
        );
    }
}

//! The minijinja templates the manifests are rendered from: embedded in the binary, each replaceable by a text
//! the adapters read from the user's template directory before rendering starts.

use std::collections::BTreeMap;

use include_dir::{include_dir, Dir};
use minijinja::{Environment, UndefinedBehavior, Value as TemplateValue};

static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

pub struct Templates {
    environment: Environment<'static>,
}

#[derive(Debug, thiserror::Error)]
#[error("template {name}: {detail}")]
pub struct TemplateError {
    pub name: String,
    pub detail: String,
}

impl Templates {
    /// The built-in templates, each replaced by the text `overrides` holds under its name.
    pub fn new(overrides: BTreeMap<String, String>) -> Templates {
        let mut environment = Environment::new();
        environment.set_undefined_behavior(UndefinedBehavior::Strict);
        environment.set_keep_trailing_newline(true);
        environment.set_formatter(yaml_formatter);
        environment.add_filter("to_yaml", to_yaml);
        environment.add_filter("comment", comment);
        environment.add_filter("flow", flow);
        environment.add_filter("literal", literal);
        environment.set_loader(move |name| {
            Ok(overrides
                .get(name)
                .cloned()
                .or_else(|| EMBEDDED.get_file(name).and_then(|file| file.contents_utf8()).map(str::to_owned)))
        });
        Templates { environment }
    }

    /// The names of the built-in templates (`asm/kustomization.yaml.j2`, ...).
    pub fn embedded_names() -> Vec<String> {
        let mut names = Vec::new();
        let mut pending = vec![&EMBEDDED];
        while let Some(dir) = pending.pop() {
            for entry in dir.entries() {
                match entry {
                    include_dir::DirEntry::Dir(sub) => pending.push(sub),
                    include_dir::DirEntry::File(file) => names.push(file.path().to_string_lossy().replace('\\', "/")),
                }
            }
        }
        names.sort();
        names
    }

    pub fn render(&self, name: &str, context: TemplateValue) -> Result<String, TemplateError> {
        let failure = |error: minijinja::Error| TemplateError { name: name.to_owned(), detail: error.to_string() };
        let template = self.environment.get_template(name).map_err(failure)?;
        template.render(context).map_err(failure)
    }
}

fn invalid(detail: impl Into<String>) -> minijinja::Error {
    minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, detail.into())
}

/// Every `{{ value }}` of a template is written as one YAML scalar: a string as a serializer writes it, plain
/// only when every YAML reader (1.1 and 1.2) reads it back as that same string, else double-quoted with its
/// line breaks escaped. No value, whatever it holds, can start a new key, a new object or a new document.
/// Text marked safe (what `to_yaml` and `comment` return) is already YAML and is written as it is.
fn yaml_formatter(
    out: &mut minijinja::Output<'_>,
    _state: &minijinja::State<'_, '_>,
    value: &TemplateValue,
) -> Result<(), minijinja::Error> {
    let text = if value.is_safe() { value.as_str().unwrap_or_default().to_owned() } else { scalar(value)? };
    out.write_str(&text).map_err(|error| invalid(error.to_string()))
}

/// One value as a YAML scalar.
fn scalar(value: &TemplateValue) -> Result<String, minijinja::Error> {
    use minijinja::value::ValueKind;
    match value.kind() {
        ValueKind::Bool | ValueKind::Number => Ok(value.to_string()),
        ValueKind::String => Ok(crate::core::yaml::scalar(value.as_str().unwrap_or_default())),
        kind => Err(invalid(format!("a {kind} is written with `| to_yaml(indent)`, not as one scalar"))),
    }
}

/// `{{ text | comment }}`: text for a `#` comment line, its line breaks made spaces so that it stays one comment.
fn comment(text: String) -> TemplateValue {
    let one_line: String =
        text.chars().map(|c| if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') { ' ' } else { c }).collect();
    TemplateValue::from_safe_string(one_line)
}

/// `{{ value | to_yaml(4) }}`: a structured value as block YAML, every line indented by that many spaces.
fn to_yaml(value: TemplateValue, indent: usize) -> Result<TemplateValue, minijinja::Error> {
    let json = serde_json::to_value(&value).map_err(|error| invalid(error.to_string()))?;
    let text = serde_saphyr::to_string(&json).map_err(|error| invalid(error.to_string()))?;
    let pad = " ".repeat(indent);
    Ok(TemplateValue::from_safe_string(text.lines().map(|line| format!("{pad}{line}")).collect::<Vec<_>>().join("\n")))
}

/// `{{ text | literal }}`: a string as a YAML block literal (`|`), for the value of a top-level key: its lines as
/// they are, indented under the key. The serializer writes it, and it is read back: a text a block literal cannot
/// hold as it is fails the rendering rather than become something else.
fn literal(text: String) -> Result<TemplateValue, minijinja::Error> {
    let written = serde_saphyr::to_string(&serde_saphyr::LitStr(&text)).map_err(|error| invalid(error.to_string()))?;
    let read: String = crate::core::yaml::document(&format!("key: {written}"))
        .ok()
        .and_then(|document: serde_json::Value| document.get("key").and_then(|value| value.as_str().map(str::to_owned)))
        .unwrap_or_default();
    if read != text {
        return Err(invalid("a text that a YAML block literal does not hold as it is"));
    }
    Ok(TemplateValue::from_safe_string(written.trim_end_matches('\n').to_owned()))
}

/// `{{ value | flow }}`: a list or mapping as one line of flow-style YAML (`[a, b]`, `{name: http, port: 80}`), every
/// string a scalar no reader takes for anything else.
fn flow(value: TemplateValue) -> Result<TemplateValue, minijinja::Error> {
    let json = serde_json::to_value(&value).map_err(|error| invalid(error.to_string()))?;
    Ok(TemplateValue::from_safe_string(flow_text(&json)))
}

fn flow_text(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Array(items) => format!("[{}]", items.iter().map(flow_text).collect::<Vec<_>>().join(", ")),
        Value::Object(fields) => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(key, value)| format!("{}: {}", crate::core::yaml::flow_scalar(key), flow_text(value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::String(text) => crate::core::yaml::flow_scalar(text),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_literal_is_a_block_scalar_that_reads_back_as_the_text() {
        let text = "- op: add\n  path: /spec/template/metadata/labels/x\n  value: \"true\"\n".to_owned();
        let written = literal(text.clone()).expect("a literal");
        let document: serde_json::Value =
            crate::core::yaml::document(&format!("patch: {}\n", written.as_str().unwrap())).expect("YAML");
        assert_eq!(document["patch"], serde_json::Value::String(text));
        assert!(written.as_str().unwrap().starts_with('|'), "{written}");
        // A new document or key inside the text stays inside the string.
        let hostile = "a: 1\n---\nkind: ClusterRoleBinding\n".to_owned();
        let written = literal(hostile.clone()).expect("a literal");
        let document: serde_json::Value =
            crate::core::yaml::document(&format!("patch: {}\n", written.as_str().unwrap())).expect("one document");
        assert_eq!(document["patch"], serde_json::Value::String(hostile));
    }
}

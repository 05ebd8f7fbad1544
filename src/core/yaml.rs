//! Reading YAML: the parser's options and limits in one place, and its messages in the tool's words.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Limits high enough for what kustomize reads (a manifest of thousands of objects, Istio's CRDs), low enough that
/// hostile input cannot exhaust the machine.
fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_documents = 1_000_000;
    budget.max_nodes = 20_000_000;
    budget.max_events = 100_000_000;
    budget.max_total_scalar_bytes = 512 * 1024 * 1024;
    budget.max_depth = 512;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

/// One YAML document.
pub fn document<T: DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, options())
}

/// A stream of YAML documents.
pub fn documents(text: &str) -> Result<Vec<Value>, serde_saphyr::Error> {
    serde_saphyr::from_multiple_with_options(text, options())
}

/// A document the user writes for asm-migrate (the plan): a string field takes a string, so an unquoted `true` or
/// `1.22` where text is meant is an error, as the plan's JSON Schema has it.
pub fn strict_document<T: DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    let mut options = options();
    options.no_schema = true;
    serde_saphyr::from_str_with_options(text, options)
}

/// Input quoted in a message, cut to a length a terminal shows.
pub fn quoted(text: &str) -> String {
    const MAX: usize = 80;
    let visible = |part: &str| -> String {
        part.chars().map(|c| if c.is_control() { c.escape_debug().to_string() } else { c.to_string() }).collect()
    };
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}… ({} characters)", visible(&text[..at]), text.chars().count()),
        None => visible(text),
    }
}

/// The parser's message, without its position (the diagnostic shows it) and in the tool's words.
pub fn message(error: &serde_saphyr::Error) -> String {
    let text = error.without_snippet().to_string();
    let text = match text.rfind(" at line ") {
        Some(index) if text[index..].contains(", column ") => text[..index].to_owned(),
        _ => text,
    };
    translated(&text)
}

fn translated(text: &str) -> String {
    if let Some(rest) = text.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(", set DuplicateKeyPolicy").next().unwrap_or(rest);
        return format!("duplicate key `{}`: a key is written once in a mapping", quoted(key));
    }
    if let Some(rest) = text.strip_prefix("cannot deserialize null into ") {
        let what = rest.split(';').next().unwrap_or(rest);
        return format!("a value is missing here: expected a {what}");
    }
    if let Some(value) = text.strip_prefix("The string value [").and_then(|rest| rest.strip_suffix("] must be quoted"))
    {
        return format!(
            "`{}` reads as a boolean or a number here, where text is expected: quote it (\"{}\")",
            quoted(value),
            quoted(value)
        );
    }
    if text.starts_with("recursion limit exceeded") {
        return "nested too deeply for asm-migrate to read: lists and mappings within one another, past its limit"
            .to_owned();
    }
    if text.starts_with("tabs disallowed") {
        return "a tab indents this line: YAML indents with spaces only".to_owned();
    }
    if text == "expected string scalar" {
        return "expected a string here".to_owned();
    }
    if let Some(rest) = text.strip_prefix("budget breached: ") {
        // `Documents { documents: 1000001 }`, then maybe ` at line 7, column 63 (defined at ...)`: what was
        // counted, and how many.
        let inner = rest.split_once('{').map_or(rest, |(_, inner)| inner.split('}').next().unwrap_or(inner)).trim();
        let counted = match inner.split_once(": ") {
            Some((what, count)) if what.contains("anchor") || what.contains("alias") => {
                let limit = count.parse::<u64>().map_or(count.to_owned(), |over| over.saturating_sub(1).to_string());
                format!("its aliases replay more than {limit} parser events: an alias bomb")
            }
            Some((what, count)) if count.parse::<u64>().is_ok() => format!("{count} {}", what.replace('_', " ")),
            _ => inner.to_owned(),
        };
        return format!("too large for asm-migrate to read ({counted})");
    }
    quoted_in(text)
}

/// Long input the parser quotes back (a 200 MB value) is cut.
fn quoted_in(text: &str) -> String {
    if text.chars().count() <= 400 {
        return text.to_owned();
    }
    quoted(text)
}

/// A string as a YAML scalar, for a value written into YAML text: plain when the serializer writes it plain and it is
/// made of name and path characters that no YAML reader takes for anything else (not a number, a boolean, a null
/// or a time); else a double-quoted scalar (JSON's, which YAML reads the same: a line break stays `\n`).
pub fn scalar(text: &str) -> String {
    let serialized = serde_saphyr::to_string(&text).unwrap_or_default();
    let plain_by_serializer = serialized.strip_suffix('\n') == Some(text);
    if plain_by_serializer && reads_back_as_text(text) {
        text.to_owned()
    } else {
        double_quoted(text)
    }
}

/// A string as a YAML scalar inside a flow collection (`[a, b]`, `{k: v}`), where `,` ends a plain scalar.
pub fn flow_scalar(text: &str) -> String {
    let written = scalar(text);
    if written == text && text.contains(',') {
        double_quoted(text)
    } else {
        written
    }
}

/// JSON's string (a YAML double-quoted scalar) with the characters YAML does not print, or reads as line breaks
/// (DEL, C1 controls, U+2028, U+2029, a BOM), escaped too.
fn double_quoted(text: &str) -> String {
    let json = serde_json::Value::String(text.to_owned()).to_string();
    let mut quoted = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') {
            quoted.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            quoted.push(c);
        }
    }
    quoted
}

/// Whether `text`, written plain, is that same string to YAML 1.1 readers too (kustomize's and Argo CD's go-yaml
/// reads `yes`, `on`, `0x1f` and `1_000` as something else).
fn reads_back_as_text(text: &str) -> bool {
    const YAML_1_1_WORDS: [&str; 12] = ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "nan", "inf"];
    let Some(first) = text.chars().next() else { return false };
    (first.is_ascii_alphabetic() || text.starts_with("./") || text.starts_with("../"))
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '=' | ',' | '|' | '\\'))
        && !YAML_1_1_WORDS.contains(&text.to_ascii_lowercase().as_str())
}

/// Whether `text` holds no YAML document at all: only blank lines, comments and document markers (what a parser
/// reports as "unexpected end of input", which tells the user nothing).
pub fn holds_nothing(text: &str) -> bool {
    text.trim_start_matches('\u{feff}')
        .lines()
        .map(str::trim)
        .all(|line| line.is_empty() || line.starts_with('#') || line == "---" || line == "...")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Plan {
        output: String,
    }

    fn error(text: &str) -> String {
        message(&strict_document::<Plan>(text).unwrap_err())
    }

    #[test]
    fn the_parsers_words_are_the_tools() {
        assert_eq!(error("output: a\noutput: b\n"), "duplicate key `output`: a key is written once in a mapping");
        assert_eq!(error("output: ~\n"), "a value is missing here: expected a string");
        assert_eq!(
            error("output: true\n"),
            "`true` reads as a boolean or a number here, where text is expected: quote it (\"true\")"
        );
        assert_eq!(error("output: [a]\n"), "expected a string here");
        let many: String = (0..1100).map(|i| format!("---\nkind: ConfigMap\nmetadata: {{name: c{i}}}\n")).collect();
        assert_eq!(documents(&many).map(|documents| documents.len()).unwrap(), 1100, "kustomize reads it");
        assert_eq!(quoted(&"x".repeat(200)), format!("{}… (200 characters)", "x".repeat(80)));
    }

    #[test]
    fn every_string_is_one_scalar_that_reads_back_as_itself() {
        let strings = [
            "payments",
            "../../gitops/asm-migration/clusters/hz",
            "Prune=false,Replace=true",
            "a|b",
            "reviews\\.v2",
            "http\n---\nkind: ClusterRoleBinding",
            "a: b",
            "a #b",
            "- a",
            "[a]",
            "{a: b}",
            "*alias",
            "&anchor",
            "!!str",
            "%YAML",
            "@a",
            "`a",
            "'a'",
            "\"a\"",
            "|",
            ">",
            "?",
            "",
            " a",
            "a ",
            "123",
            "0x1f",
            "1e3",
            "1_000",
            "1:20",
            ".inf",
            ".nan",
            "~",
            "null",
            "Null",
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "true",
            "2026-01-01T00:00:00Z",
            "2026-01-01",
            "a\tb",
            "a\u{85}b",
            "a\u{2028}b",
            "a\u{2029}b",
            "\u{feff}a",
            "a\u{7f}b",
            "a\rb",
            "ü",
            "#",
        ];
        for text in strings {
            let written = scalar(text);
            assert!(
                !written.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']),
                "{text:?} is one line: {written}"
            );
            let document = format!("key: {written}\nnext: 1\n");
            let read: serde_json::Value = serde_saphyr::from_str(&document).expect("the document parses");
            assert_eq!(read, serde_json::json!({"key": text, "next": 1}), "{document}");
        }
        assert_eq!(scalar("payments"), "payments");
        assert_eq!(scalar("123"), "\"123\"");
        assert_eq!(scalar("yes"), "\"yes\"");
    }
}

//! Minimal, comment-preserving edits of block-style YAML the user wrote: set a nested key, add or drop list items.

use crate::core::yaml::scalar;

/// Why a file cannot be edited safely.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("`{key}` is not a block mapping")]
    NotBlockMapping { key: String },
    #[error("`{key}` is not a block list (one `- ` item per entry), which is all asm-migrate edits: edit it by hand")]
    NotBlockList { key: String },
    #[error("`{path}` is missing")]
    Missing { path: String },
    #[error("`{path}` must be a literal block (`{key}: |`) to be edited")]
    NotLiteralBlock { path: String, key: String },
    #[error("the edit would not parse: {}", crate::core::yaml::message(.0))]
    WouldNotParse(serde_saphyr::Error),
    #[error("could not edit `{key}` safely: expected {expected:?} after the edit, found {found:?}")]
    Unverified { key: String, expected: Vec<String>, found: Vec<String> },
}

/// A line's indentation, or `None` for blank and comment-only lines.
fn indent_of(line: &str) -> Option<usize> {
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        None
    } else {
        Some(line.len() - trimmed.len())
    }
}

/// The value text after `key:` when `line` (at `indent`) is that key, else `None`.
fn key_value<'l>(line: &'l str, indent: usize, key: &str) -> Option<&'l str> {
    if indent_of(line) != Some(indent) {
        return None;
    }
    let rest = &line[indent..];
    let after = [key.to_owned(), format!("\"{key}\""), format!("'{key}'")].iter().find_map(|candidate| {
        rest.strip_prefix(candidate.as_str()).and_then(|r| r.strip_prefix(':')).map(|r| r.len())
    })?;
    let value = &rest[rest.len() - after..];
    if !(value.is_empty() || value.starts_with(' ') || value.starts_with('\t')) {
        return None;
    }
    Some(strip_comment(value.trim()))
}

fn strip_comment(value: &str) -> &str {
    match value.find(" #") {
        Some(index) if !value.starts_with('"') && !value.starts_with('\'') => value[..index].trim_end(),
        _ => value,
    }
}

/// Lines `start..end` are the children of the mapping entry at `parent` (whose indent is `parent_indent`).
fn block_end(lines: &[String], start: usize, end: usize, parent_indent: Option<usize>) -> usize {
    let mut last = start;
    for (index, line) in lines.iter().enumerate().take(end).skip(start) {
        match indent_of(line) {
            Some(indent) if parent_indent.is_some_and(|parent| indent <= parent) => return last,
            Some(_) => last = index + 1,
            None => {}
        }
    }
    last
}

/// Sets `path` = `value` (a YAML scalar as written) inside lines `start..end`, creating missing mappings.
/// Returns an error naming the key whose value is not a block mapping it can edit.
pub fn set_scalar(
    lines: &mut Vec<String>,
    start: usize,
    end: usize,
    path: &[&str],
    value: &str,
) -> Result<bool, EditError> {
    set_in(lines, start, end, None, path, value)
}

fn set_in(
    lines: &mut Vec<String>,
    start: usize,
    end: usize,
    parent_indent: Option<usize>,
    path: &[&str],
    value: &str,
) -> Result<bool, EditError> {
    let (key, rest) = path.split_first().expect("a non-empty path");
    let end = block_end(lines, start, end, parent_indent);
    let child_indent = lines[start..end]
        .iter()
        .filter_map(|line| indent_of(line))
        .next()
        .unwrap_or_else(|| parent_indent.map(|indent| indent + 2).unwrap_or(0));
    let found =
        (start..end).find_map(|index| key_value(&lines[index], child_indent, key).map(|v| (index, v.to_owned())));
    match found {
        Some((index, existing)) if rest.is_empty() => {
            if unquote(&existing) == unquote(value) {
                return Ok(false);
            }
            lines[index] = format!("{}{key}: {value}", " ".repeat(child_indent));
            Ok(true)
        }
        Some((index, existing)) if existing.is_empty() => {
            set_in(lines, index + 1, end, Some(child_indent), rest, value)
        }
        Some((index, existing)) if existing == "{}" => {
            lines[index] = format!("{}{key}:", " ".repeat(child_indent));
            set_in(lines, index + 1, index + 1, Some(child_indent), rest, value)
        }
        Some(_) => Err(EditError::NotBlockMapping { key: (*key).to_owned() }),
        None => {
            let mut inserted = Vec::new();
            for (depth, part) in path.iter().enumerate() {
                let pad = " ".repeat(child_indent + 2 * depth);
                if depth + 1 == path.len() {
                    inserted.push(format!("{pad}{part}: {value}"));
                } else {
                    inserted.push(format!("{pad}{part}:"));
                }
            }
            lines.splice(end..end, inserted);
            Ok(true)
        }
    }
}

fn unquote(value: &str) -> &str {
    value.trim().trim_matches('"').trim_matches('\'')
}

/// The block scalar under `path` (e.g. `data.mesh: |`): its line range and indentation.
pub fn block_scalar(
    lines: &[String],
    start: usize,
    end: usize,
    path: &[&str],
) -> Result<(usize, usize, usize), EditError> {
    let mut range = (start, end);
    let mut parent: Option<usize> = None;
    for (depth, key) in path.iter().enumerate() {
        let end = block_end(lines, range.0, range.1, parent);
        let indent = lines[range.0..end].iter().filter_map(|line| indent_of(line)).next().unwrap_or(0);
        let Some((index, value)) =
            (range.0..end).find_map(|index| key_value(&lines[index], indent, key).map(|v| (index, v.to_owned())))
        else {
            return Err(EditError::Missing { path: path[..=depth].join(".") });
        };
        if depth + 1 == path.len() {
            if !value.starts_with('|') {
                return Err(EditError::NotLiteralBlock { path: path.join("."), key: (*key).to_owned() });
            }
            let body_end = block_end(lines, index + 1, end, Some(indent));
            let body_indent =
                lines[index + 1..body_end].iter().filter_map(|line| indent_of(line)).min().unwrap_or(indent + 2);
            return Ok((index + 1, body_end, body_indent));
        }
        range = (index + 1, end);
        parent = Some(indent);
    }
    Err(EditError::Missing { path: String::new() })
}

/// A top-level list of a YAML document as written: block items (`- entry` lines), or a flow list (`[a, b]`).
enum TopLevelList {
    Block { header: usize, items: Vec<(usize, String)> },
    Flow { header: usize },
}

fn top_level_list(lines: &[String], key: &str) -> Option<TopLevelList> {
    let (header, value) =
        lines.iter().enumerate().find_map(|(index, line)| key_value(line, 0, key).map(|v| (index, v)))?;
    if value.starts_with('[') {
        return Some(TopLevelList::Flow { header });
    }
    let mut items = Vec::new();
    for (index, line) in lines.iter().enumerate().skip(header + 1) {
        let Some(indent) = indent_of(line) else { continue };
        match line.trim_start().strip_prefix("- ") {
            Some(entry) => items.push((index, unquote(strip_comment(entry)).to_owned())),
            None if indent == 0 => break,
            None => {}
        }
    }
    Some(TopLevelList::Block { header, items })
}

/// The entries of the top-level list `key` as a YAML parser reads them, to check an edit.
fn parsed_list(text: &str, key: &str) -> Result<Vec<String>, EditError> {
    let document: serde_json::Value = crate::core::yaml::document(text).map_err(EditError::WouldNotParse)?;
    Ok(document
        .get(key)
        .and_then(|list| list.as_array())
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect())
}

fn verified(text: String, key: &str, expected: &[String]) -> Result<String, EditError> {
    let found = parsed_list(&text, key)?;
    if found == expected {
        Ok(text)
    } else {
        Err(EditError::Unverified { key: key.to_owned(), expected: expected.to_vec(), found })
    }
}

/// Adds `entry` to the top-level list `key` (created at the end when missing). A flow list is rewritten as a
/// block list with the same entries. The result is parsed back and checked.
pub fn add_list_item(text: &str, key: &str, entry: &str) -> Result<String, EditError> {
    let mut expected = parsed_list(text, key)?;
    expected.push(entry.to_owned());
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    match top_level_list(&lines, key) {
        Some(TopLevelList::Block { items, .. }) if !items.is_empty() => {
            let (last, _) = items[items.len() - 1];
            let prefix: String = lines[last].chars().take_while(|c| *c == ' ').collect();
            lines.insert(last + 1, format!("{prefix}- {}", scalar(entry)));
        }
        Some(TopLevelList::Block { header, .. } | TopLevelList::Flow { header }) => {
            lines.splice(header..=header, block_list(key, &expected));
        }
        None => lines.extend(block_list(key, &expected)),
    }
    verified(with_newline(lines), key, &expected)
}

fn block_list(key: &str, entries: &[String]) -> Vec<String> {
    if entries.is_empty() {
        return vec![format!("{key}: []")];
    }
    std::iter::once(format!("{key}:")).chain(entries.iter().map(|entry| format!("  - {}", scalar(entry)))).collect()
}

/// Removes the entries of top-level lists for which `drop` is true (an emptied list becomes `[]`); `None`
/// when nothing matches. The result is parsed back and checked.
pub fn remove_list_items(text: &str, keys: &[&str], drop: impl Fn(&str) -> bool) -> Result<Option<String>, EditError> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut expectations = Vec::new();
    for key in keys {
        let before = parsed_list(text, key)?;
        if !before.iter().any(|entry| drop(entry)) {
            continue;
        }
        let kept: Vec<String> = before.iter().filter(|entry| !drop(entry)).cloned().collect();
        match top_level_list(&lines, key) {
            Some(TopLevelList::Block { header, items }) => {
                let doomed: Vec<usize> =
                    items.iter().filter(|(_, entry)| drop(entry)).map(|(index, _)| *index).collect();
                for index in doomed.into_iter().rev() {
                    lines.remove(index);
                }
                if kept.is_empty() {
                    lines[header] = format!("{key}: []");
                }
            }
            Some(TopLevelList::Flow { header }) => {
                lines.splice(header..=header, block_list(key, &kept));
            }
            None => {}
        }
        expectations.push((*key, kept));
    }
    if expectations.is_empty() {
        return Ok(None);
    }
    let mut text = with_newline(lines);
    for (key, kept) in expectations {
        text = verified(text, key, &kept)?;
    }
    Ok(Some(text))
}

/// Removes the documents of a YAML stream for which `drop` is true (each with the `---` line that ends it, or the
/// one before it for the last); `None` when none is dropped. The documents kept are checked to parse as before.
pub fn remove_documents(text: &str, drop: impl Fn(&serde_json::Value) -> bool) -> Result<Option<String>, EditError> {
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let ranges = document_ranges(&lines);
    let mut doomed = Vec::new();
    let mut kept_values = Vec::new();
    for (index, (start, end)) in ranges.iter().enumerate() {
        let value: serde_json::Value =
            crate::core::yaml::document(&lines[*start..*end].join("\n")).map_err(EditError::WouldNotParse)?;
        if drop(&value) {
            doomed.push(index);
        } else if !value.is_null() {
            kept_values.push(value);
        }
    }
    if doomed.is_empty() {
        return Ok(None);
    }
    let mut kept_lines = Vec::new();
    let kept_ranges: Vec<&(usize, usize)> =
        ranges.iter().enumerate().filter(|(index, _)| !doomed.contains(index)).map(|(_, range)| range).collect();
    for (position, (start, end)) in kept_ranges.iter().enumerate() {
        if position > 0 {
            kept_lines.push("---".to_owned());
        }
        kept_lines.extend(lines[*start..*end].iter().cloned());
    }
    let edited = with_newline(kept_lines);
    let found: Vec<serde_json::Value> = crate::core::yaml::documents(&edited)
        .map_err(EditError::WouldNotParse)?
        .into_iter()
        .filter(|value| !value.is_null())
        .collect();
    if found != kept_values {
        return Err(EditError::Unverified {
            key: "the documents kept".to_owned(),
            expected: kept_values.iter().map(|value| value.to_string()).collect(),
            found: found.iter().map(|value| value.to_string()).collect(),
        });
    }
    Ok(Some(edited))
}

/// The line of `key` at `indent` among lines `start..end`, with the value written after it.
fn find_key<'l>(lines: &'l [String], start: usize, end: usize, indent: usize, key: &str) -> Option<(usize, &'l str)> {
    (start..end).find_map(|index| key_value(&lines[index], indent, key).map(|value| (index, value)))
}

/// Removes, in every document of a YAML stream, the items of the block list at `path` (keys from the document's
/// root) for which `drop(document, item)` is true; an emptied list becomes `[]`. `None` when nothing matches. Each
/// edited document is checked to parse as the original with those items removed, and nothing else changed.
pub fn remove_nested_list_items(
    text: &str,
    path: &[&str],
    drop: impl Fn(&serde_json::Value, &serde_json::Value) -> bool,
) -> Result<Option<String>, EditError> {
    let (Some((last, parents)), mut lines) = (path.split_last(), text.lines().map(str::to_owned).collect::<Vec<_>>())
    else {
        return Ok(None);
    };
    let pointer: String = path.iter().map(|key| format!("/{key}")).collect();
    let mut expected_documents = Vec::new();
    let mut changed = false;
    for (start, end) in document_ranges(&lines.clone()).into_iter().rev() {
        let original: serde_json::Value =
            crate::core::yaml::document(&lines[start..end].join("\n")).map_err(EditError::WouldNotParse)?;
        let items = original.pointer(&pointer).and_then(serde_json::Value::as_array).cloned().unwrap_or_default();
        let dropped: Vec<bool> = items.iter().map(|item| drop(&original, item)).collect();
        let mut expected = original.clone();
        if !dropped.contains(&true) {
            expected_documents.push(expected);
            continue;
        }
        if let Some(list) = expected.pointer_mut(&pointer).and_then(serde_json::Value::as_array_mut) {
            let mut flags = dropped.iter();
            list.retain(|_| !flags.next().copied().unwrap_or(false));
        }
        // Down the path: each key's block, at the indent of its first child.
        let (mut from, mut to, mut indent) = (start, end, 0);
        for key in parents {
            let (header, _) =
                find_key(&lines, from, to, indent, key).ok_or_else(|| EditError::Missing { path: path.join(".") })?;
            let block_to = block_end(&lines, header + 1, to, Some(indent));
            indent = (header + 1..block_to)
                .find_map(|index| indent_of(&lines[index]))
                .ok_or_else(|| EditError::NotBlockMapping { key: (*key).to_owned() })?;
            (from, to) = (header + 1, block_to);
        }
        let (header, value) =
            find_key(&lines, from, to, indent, last).ok_or_else(|| EditError::Missing { path: path.join(".") })?;
        if !value.is_empty() {
            return Err(EditError::NotBlockList { key: path.join(".") });
        }
        // The list's items: `- ` lines at one indent, each with the deeper lines under it.
        let mut spans: Vec<(usize, usize)> = Vec::new();
        let mut item_indent = None;
        for index in header + 1..to {
            let Some(line_indent) = indent_of(&lines[index]) else { continue };
            let is_item = lines[index].trim_start().starts_with("- ") || lines[index].trim() == "-";
            match item_indent {
                None if is_item && line_indent >= indent => {
                    item_indent = Some(line_indent);
                    spans.push((index, index + 1));
                }
                Some(at) if is_item && line_indent == at => spans.push((index, index + 1)),
                Some(at) if line_indent > at => spans.last_mut().expect("an item").1 = index + 1,
                _ => break,
            }
        }
        if spans.len() != items.len() {
            return Err(EditError::NotBlockList { key: path.join(".") });
        }
        for ((from, to), _) in spans.iter().zip(&dropped).filter(|(_, dropped)| **dropped).rev() {
            lines.drain(*from..*to);
        }
        if dropped.iter().all(|dropped| *dropped) {
            let key_indent: String = lines[header].chars().take_while(|c| *c == ' ').collect();
            lines[header] = format!("{key_indent}{last}: []");
        }
        expected_documents.push(expected);
        changed = true;
    }
    if !changed {
        return Ok(None);
    }
    expected_documents.reverse();
    let edited = with_newline(lines);
    let found: Vec<serde_json::Value> = document_ranges(&edited.lines().map(str::to_owned).collect::<Vec<_>>())
        .into_iter()
        .map(|(start, end)| {
            let lines: Vec<&str> = edited.lines().skip(start).take(end - start).collect();
            crate::core::yaml::document(&lines.join("\n")).map_err(EditError::WouldNotParse)
        })
        .collect::<Result<_, _>>()?;
    if found != expected_documents {
        return Err(EditError::Unverified {
            key: path.join("."),
            expected: expected_documents.iter().map(|value| value.to_string()).collect(),
            found: found.iter().map(|value| value.to_string()).collect(),
        });
    }
    Ok(Some(edited))
}

pub fn with_newline(lines: Vec<String>) -> String {
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// Line ranges of the documents of a YAML stream (split at `---` lines).
pub fn document_ranges(lines: &[String]) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut start = 0;
    for (index, line) in lines.iter().enumerate() {
        if line.starts_with("---") && line[3..].trim().is_empty() {
            ranges.push((start, index));
            start = index + 1;
        }
    }
    ranges.push((start, lines.len()));
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dependency_is_dropped_from_one_document_and_the_rest_is_kept_as_written() {
        let text = "# the apps\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\nspec:\n  dependsOn:\n    - name: istio  # the control plane\n    - name: infra\n      namespace: flux-system\n  path: ./apps\n---\nkind: Kustomization\nspec:\n  dependsOn:\n  - name: infra\n";
        let edited =
            remove_nested_list_items(text, &["spec", "dependsOn"], |_, item| item["name"] == "istio").unwrap().unwrap();
        assert_eq!(
            edited,
            "# the apps\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\nspec:\n  dependsOn:\n    - name: infra\n      namespace: flux-system\n  path: ./apps\n---\nkind: Kustomization\nspec:\n  dependsOn:\n  - name: infra\n"
        );
        let emptied = remove_nested_list_items(&edited, &["spec", "dependsOn"], |_, item| item["name"] == "infra")
            .unwrap()
            .unwrap();
        assert!(
            emptied
                .contains("spec:\n  dependsOn: []\n  path: ./apps\n---\nkind: Kustomization\nspec:\n  dependsOn: []\n"),
            "{emptied}"
        );
        assert!(remove_nested_list_items(text, &["spec", "dependsOn"], |_, item| item["name"] == "none")
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_flow_list_is_refused_not_rewritten() {
        let text = "spec:\n  dependsOn: [{name: istio}]\n";
        assert!(remove_nested_list_items(text, &["spec", "dependsOn"], |_, _| true).is_err());
    }

    #[test]
    fn a_document_is_dropped_from_a_stream() {
        let text = "kind: A\nmetadata: {name: a}\n---\nkind: B  # gone\n---\nkind: C\n";
        let edited = remove_documents(text, |document| document["kind"] == "B").unwrap().unwrap();
        assert_eq!(edited, "kind: A\nmetadata: {name: a}\n---\nkind: C\n");
        let last = remove_documents(text, |document| document["kind"] == "C").unwrap().unwrap();
        assert_eq!(last, "kind: A\nmetadata: {name: a}\n---\nkind: B  # gone\n");
    }

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn sets_a_nested_key_beside_existing_entries_and_keeps_comments() {
        let mut doc = lines("spec:\n  # mesh\n  meshConfig:\n    defaultConfig:\n      proxyMetadata:\n        A: \"1\" # keep\n  values: {}\n");
        let end = doc.len();
        assert!(set_scalar(
            &mut doc,
            0,
            end,
            &["spec", "meshConfig", "defaultConfig", "proxyMetadata", "X"],
            "\"true\""
        )
        .unwrap());
        assert_eq!(
            with_newline(doc),
            "spec:\n  # mesh\n  meshConfig:\n    defaultConfig:\n      proxyMetadata:\n        A: \"1\" # keep\n        X: \"true\"\n  values: {}\n"
        );
    }

    #[test]
    fn creates_missing_mappings_and_is_idempotent() {
        let mut doc = lines("meshConfig:\n  accessLogFile: /dev/stdout\nglobal:\n  meshID: m\n");
        let end = doc.len();
        assert!(
            set_scalar(&mut doc, 0, end, &["meshConfig", "defaultConfig", "proxyMetadata", "X"], "\"true\"").unwrap()
        );
        let text = with_newline(doc.clone());
        assert_eq!(text, "meshConfig:\n  accessLogFile: /dev/stdout\n  defaultConfig:\n    proxyMetadata:\n      X: \"true\"\nglobal:\n  meshID: m\n");
        let end = doc.len();
        assert!(
            !set_scalar(&mut doc, 0, end, &["meshConfig", "defaultConfig", "proxyMetadata", "X"], "\"true\"").unwrap()
        );
    }

    #[test]
    fn refuses_flow_mappings_it_cannot_edit_safely() {
        let mut doc = lines("meshConfig: {defaultConfig: {}}\n");
        let end = doc.len();
        assert_eq!(
            set_scalar(&mut doc, 0, end, &["meshConfig", "x"], "1").unwrap_err().to_string(),
            "`meshConfig` is not a block mapping"
        );
    }

    #[test]
    fn adds_and_removes_list_items() {
        let text = "resources:\n  - ../../infra/istio # istio\n  - ../../apps/a\n";
        let added = add_list_item(text, "components", "../../out").unwrap();
        assert_eq!(added, "resources:\n  - ../../infra/istio # istio\n  - ../../apps/a\ncomponents:\n  - ../../out\n");
        let removed = remove_list_items(&added, &["resources"], |entry| entry.ends_with("istio")).unwrap().unwrap();
        assert_eq!(removed, "resources:\n  - ../../apps/a\ncomponents:\n  - ../../out\n");
        assert_eq!(
            remove_list_items("resources:\n- a\n", &["resources"], |_| true).unwrap().unwrap(),
            "resources: []\n"
        );
        assert_eq!(remove_list_items("resources:\n- a\n", &["resources"], |_| false).unwrap(), None);
    }

    #[test]
    fn flow_lists_keep_every_entry() {
        let added =
            add_list_item("components: [../shared, \"../x\"]\nresources: [a]\n", "components", "../out").unwrap();
        assert_eq!(added, "components:\n  - ../shared\n  - ../x\n  - ../out\nresources: [a]\n");
        let removed =
            remove_list_items("resources: [../../infra/istio, ../../apps]\n", &["resources"], |e| e.contains("istio"));
        assert_eq!(removed.unwrap().unwrap(), "resources:\n  - ../../apps\n");
    }
}

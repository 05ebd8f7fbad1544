//! The messages of the tool, as its source writes them: every `#[error("...")]`, and every literal given to what
//! turns text into a diagnostic or an error (`Diagnostic::at`, `Diagnostic::in_file`, `error_at`, `Checker::fail`,
//! `with_help`, `with_context`, `Err("...")`), each reduced to its longest fixed fragment.

use std::path::{Path, PathBuf};

/// What takes a message: its name as the source calls it, and whether the message is its first argument alone
/// (`#[error("...", args)]`, `Err("...")`) or any literal among its arguments (`format!("...")` included).
const SINKS: [(&str, Taken); 9] = [
    ("#[error(", Taken::First),
    ("Err(", Taken::First),
    ("Diagnostic::at(", Taken::Any),
    ("Diagnostic::in_file(", Taken::Any),
    ("error_at(", Taken::Any),
    (".fail(", Taken::Any),
    (".with_help(", Taken::Any),
    ("in_its_file(", Taken::Any),
    ("with_context(", Taken::Any),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Taken {
    First,
    Any,
}

/// A message of the tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Relative to the crate's root: `src/core/names.rs`.
    pub file: String,
    pub line: usize,
    /// The message as written, escapes and line continuations read: `` `{0}` is not a step id such as ... ``.
    pub text: String,
    /// Its longest part that no interpolation changes: what a test that shows the message must contain.
    pub fragment: String,
}

/// Every message of `src/`, in file and line order; wrappers (`#[error(transparent)]`, `"{0}"`, `"{path}: {source}"`)
/// are left out, their messages being those they wrap.
pub fn messages(root: &Path) -> Vec<Message> {
    let mut found = Vec::new();
    for path in rust_files(&root.join("src")) {
        let source = std::fs::read_to_string(&path).expect("a source file");
        let file = path.strip_prefix(root).expect("under the root").to_string_lossy().replace('\\', "/");
        found.extend(messages_in(&file, without_unit_tests(&source)));
    }
    found.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    found.dedup_by(|a, b| a.file == b.file && a.line == b.line && a.text == b.text);
    found
}

/// Every `.rs` file under `dir`, sorted.
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir).into_iter().filter(|path| path.extension().is_some_and(|extension| extension == "rs")).collect()
}

/// Every file under `dir`, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("a directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The source up to its unit tests (`#[cfg(test)] mod tests`, always last): their strings are no messages.
fn without_unit_tests(source: &str) -> &str {
    source.find("#[cfg(test)]").map_or(source, |at| &source[..at])
}

fn messages_in(file: &str, source: &str) -> Vec<Message> {
    let mut found = Vec::new();
    for (sink, taken) in SINKS {
        for (at, _) in source.match_indices(sink) {
            // `Err(` and `error_at(` are whole names, not the end of another (`map_err(` is not `Err(`).
            let before = source[..at].chars().next_back();
            if sink.starts_with(char::is_alphabetic) && before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let open = at + sink.len() - 1;
            let Some(close) = closing_paren(source, open) else { continue };
            for (start, text, in_format) in literals(&source[open + 1..close], taken) {
                let template = sink == "#[error(" || in_format;
                let line = source[..open + 1 + start].matches('\n').count() + 1;
                let fragment = longest_fragment(&text, template);
                if is_wrapper(&fragment) {
                    continue;
                }
                found.push(Message { file: file.to_owned(), line, text, fragment });
            }
        }
    }
    found
}

/// Whether a fragment says nothing of its own (`: `, `git: `): the message is another's, wrapped.
fn is_wrapper(fragment: &str) -> bool {
    fragment.chars().filter(|c| c.is_alphanumeric()).count() < 4
}

/// The index of the `)` that closes the `(` at `open`, strings, characters and comments skipped.
fn closing_paren(source: &str, open: usize) -> Option<usize> {
    let bytes = source.as_bytes();
    let mut depth = 0usize;
    let mut index = open;
    while index < bytes.len() {
        match bytes[index] {
            b'"' => index = string_end(source, index)?,
            b'\'' => index = char_end(source, index),
            b'/' if bytes.get(index + 1) == Some(&b'/') => index = source[index..].find('\n').map(|n| index + n)?,
            b'(' => {
                depth += 1;
                index += 1;
            }
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(index);
                }
                index += 1;
            }
            _ => index += 1,
        }
    }
    None
}

/// The index after the string literal opening at `start` (a `"`).
fn string_end(source: &str, start: usize) -> Option<usize> {
    let bytes = source.as_bytes();
    let mut index = start + 1;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 2,
            b'"' => return Some(index + 1),
            _ => index += 1,
        }
    }
    None
}

/// The index after a character literal (`'"'`, `'\''`) at `start`, or after the `'` of a lifetime.
fn char_end(source: &str, start: usize) -> usize {
    let rest = &source[start + 1..];
    if rest.starts_with('\\') {
        return rest[2..].find('\'').map_or(start + 1, |end| start + 1 + 2 + end + 1);
    }
    let mut chars = rest.char_indices();
    match (chars.next(), chars.next()) {
        (Some(_), Some((end, '\''))) => start + 1 + end + 1,
        _ => start + 1,
    }
}

/// The string literals of a call's arguments, with where each starts, its text (escapes read) and whether it is
/// the template of a `format!`.
fn literals(arguments: &str, taken: Taken) -> Vec<(usize, String, bool)> {
    let mut found = Vec::new();
    let bytes = arguments.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'"' => {
                let end = string_end(arguments, index).unwrap_or(arguments.len());
                let in_format = arguments[..index].trim_end().ends_with("format!(");
                // An argument of its own, not a part of an expression (`"restartedAt: ".len()`).
                let after = arguments[end..].trim_start();
                let whole = after.is_empty() || after.starts_with([',', ')']);
                if whole {
                    found.push((index, unescaped(&arguments[index + 1..end - 1]), in_format));
                }
                index = end;
            }
            b'\'' => index = char_end(arguments, index),
            b'/' if bytes.get(index + 1) == Some(&b'/') => {
                index = arguments[index..].find('\n').map_or(arguments.len(), |n| index + n)
            }
            _ if taken == Taken::First && !bytes[index].is_ascii_whitespace() => break,
            _ => index += 1,
        }
        if taken == Taken::First && !found.is_empty() {
            break;
        }
    }
    found
}

/// A string literal's text as the program has it: escapes read, `\` line continuations joined.
pub fn unescaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('\n') => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            Some('u') => {
                let code: String = chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                out.extend(u32::from_str_radix(&code, 16).ok().and_then(char::from_u32));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// The longest part of a message between interpolations (`{...}` in a format template; `{{` is a brace).
fn longest_fragment(text: &str, template: bool) -> String {
    if !template {
        return text.to_owned();
    }
    let mut parts = vec![String::new()];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                parts.last_mut().expect("a part").push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                parts.last_mut().expect("a part").push('}');
            }
            '{' => {
                chars.by_ref().find(|c| *c == '}');
                parts.push(String::new());
            }
            _ => parts.last_mut().expect("a part").push(c),
        }
    }
    parts.into_iter().fold(String::new(), |longest, part| if part.len() > longest.len() { part } else { longest })
}

#[test]
fn the_scan_reads_templates_literals_and_wrappers() {
    let source = r#"
        #[error("`{0}` is not a step id such as `init`, \
                 `wave/canary`")]
        Step(String),
        #[error(transparent)]
        Other(#[from] Error),
        #[error("{path}: {source}")]
        Io { path: String },
        #[error("it holds the HelmReleases {} and none: name one", .0.join(", "))]
        Which(Vec<String>),
        fn f() { check.fail(pos(x), format!("weight {} is outside 1..100 {{braces}}", w)); }
        fn g() { let _ = map_err(|e| e); Err("is not an ACK cluster ID: c and 32 digits") }
        fn h() { Diagnostic::in_file(Path::new(dir), "is included as a kustomization\nbut ')' has none") }
        fn i() { Diagnostic::at(file, text, Pos::new(line, "restartedAt: ".len() + 1), "not a time") }
    "#;
    let mut found: Vec<(usize, String)> =
        messages_in("src/x.rs", source).into_iter().map(|message| (message.line, message.fragment)).collect();
    found.sort();
    assert_eq!(
        found,
        [
            (2, "` is not a step id such as `init`, `wave/canary`".to_owned()),
            (9, "it holds the HelmReleases ".to_owned()),
            (11, " is outside 1..100 {braces}".to_owned()),
            (12, "is not an ACK cluster ID: c and 32 digits".to_owned()),
            (13, "is included as a kustomization\nbut ')' has none".to_owned()),
            (14, "not a time".to_owned()),
        ]
    );
}

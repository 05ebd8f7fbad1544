//! Errors in the user's input, carrying the file, line and column at fault, rendered once at the top.

use std::fmt;
use std::path::{Path, PathBuf};

/// A position in a text file: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    pub fn new(line: usize, column: usize) -> Pos {
        let narrow = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Pos { line: narrow(line), column: narrow(column) }
    }

    pub fn of(location: &serde_saphyr::Location) -> Pos {
        Pos::new(location.line() as usize, location.column() as usize)
    }
}

/// How much a diagnostic weighs: an error stops the command (exit 2); a warning or a note only informs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    #[default]
    Error,
    /// A surprising or deprecated choice, with a hint.
    Warning,
    /// Something to know or do that is not wrong.
    Note,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// A problem (or, with a lower severity, a remark) in the plan or the repository, located in a file (and, when
/// known, at a line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub file: PathBuf,
    pub pos: Option<Pos>,
    /// The text of the offending line, shown under the location with a caret.
    pub source_line: Option<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at a position of `source`, the text of `file`.
    pub fn at(file: &Path, source: &str, pos: Pos, message: impl Into<String>) -> Diagnostic {
        let source_line = source.lines().nth((pos.line as usize).saturating_sub(1)).map(str::to_owned);
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            file: file.to_owned(),
            pos: Some(pos),
            source_line,
            help: None,
        }
    }

    /// An error about a file (or an object in it) without a precise position.
    pub fn in_file(file: &Path, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            file: file.to_owned(),
            pos: None,
            source_line: None,
            help: None,
        }
    }

    /// A YAML syntax or shape error reported by serde-saphyr while reading `file`.
    pub fn from_yaml(file: &Path, source: &str, error: &serde_saphyr::Error) -> Diagnostic {
        if crate::core::yaml::holds_nothing(source) {
            return Diagnostic::in_file(
                file,
                "the file is empty: it holds no YAML document, only blank lines or comments",
            );
        }
        let message = crate::core::yaml::message(error);
        match error.location() {
            Some(location) => Diagnostic::at(file, source, Pos::of(&location), message),
            None => Diagnostic::in_file(file, message),
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// The same finding, weighed as `severity`.
    pub fn weighed(mut self, severity: Severity) -> Diagnostic {
        self.severity = severity;
        self
    }

    /// The diagnostic as data (`--output json`): severity, message, file, line and column (when known), help.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::json!({
            "severity": self.severity,
            "message": self.message,
            "file": self.file.display().to_string(),
        });
        if let Some(pos) = self.pos {
            value["line"] = pos.line.into();
            value["column"] = pos.column.into();
        }
        if let Some(help) = &self.help {
            value["help"] = help.as_str().into();
        }
        value
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {}", self.severity.name(), self.message)?;
        match self.pos {
            Some(pos) => {
                let gutter = " ".repeat(pos.line.to_string().len());
                writeln!(f, "{gutter}--> {}:{}:{}", self.file.display(), pos.line, pos.column)?;
                if let Some(line) = &self.source_line {
                    let (shown, column) = window(line, pos.column as usize);
                    writeln!(f, "{gutter} |")?;
                    writeln!(f, "{} | {}", pos.line, shown)?;
                    let pad: String = shown
                        .chars()
                        .take(column.saturating_sub(1))
                        .map(|c| if c == '\t' { '\t' } else { ' ' })
                        .collect();
                    writeln!(f, "{gutter} | {pad}^")?;
                }
            }
            None => writeln!(f, "  --> {}", self.file.display())?,
        }
        if let Some(help) = &self.help {
            writeln!(f, "help: {help}")?;
        }
        Ok(())
    }
}

/// A long source line cut to the part around `column` (a 200 MB value is not echoed whole), with the column in
/// what is shown.
fn window(line: &str, column: usize) -> (String, usize) {
    const SIDE: usize = 60;
    let length = line.chars().count();
    if length <= 2 * SIDE + 20 {
        return (line.to_owned(), column);
    }
    let start = column.saturating_sub(SIDE + 1);
    let end = (column + SIDE).min(length);
    let middle: String = line.chars().skip(start).take(end - start).collect();
    let (before, after) = (if start > 0 { "…" } else { "" }, if end < length { "…" } else { "" });
    (format!("{before}{middle}{after}"), column - start + before.chars().count())
}

/// Every problem found in one pass, so the user fixes them all at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, diagnostic) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl Diagnostics {
    /// The diagnostics with repeats left out: a file every cluster includes is read for each, and its problem
    /// is said once.
    pub fn without_repeats(&self) -> Diagnostics {
        let mut kept: Vec<Diagnostic> = Vec::with_capacity(self.0.len());
        for diagnostic in &self.0 {
            if !kept.contains(diagnostic) {
                kept.push(diagnostic.clone());
            }
        }
        Diagnostics(kept)
    }
}

impl std::error::Error for Diagnostics {}

impl From<Diagnostic> for Diagnostics {
    fn from(diagnostic: Diagnostic) -> Diagnostics {
        Diagnostics(vec![diagnostic])
    }
}

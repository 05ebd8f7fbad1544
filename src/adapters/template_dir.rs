//! A directory of templates replacing built-in ones (`--templates DIR`), read before rendering starts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::core::templates::Templates;

#[derive(Debug, thiserror::Error)]
#[error("cannot read the template {path}")]
pub struct TemplateDirError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// The built-in templates, each replaced by the file with the same relative path in `dir`, when there is one.
pub fn templates(dir: Option<&Path>) -> Result<Templates, TemplateDirError> {
    let mut overrides = BTreeMap::new();
    if let Some(dir) = dir {
        for name in Templates::embedded_names() {
            let path = dir.join(&name);
            if path.is_file() {
                let text = std::fs::read_to_string(&path).map_err(|source| TemplateDirError { path, source })?;
                overrides.insert(name, text);
            }
        }
    }
    Ok(Templates::new(overrides))
}

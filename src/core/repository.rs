//! The repository as the adapters loaded it, once, at the edge: every file's path, the texts of the files the
//! migration reads or rewrites, and the parsed YAML of what the cluster sources include. The core reads nothing
//! else.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::rc::Rc;

use serde_json::Value;

use crate::core::diagnostic::Diagnostic;
use crate::core::paths::{is_within, join, normalize_repo_path};
use crate::core::value::str_at;

/// The names kustomize looks for in a directory, in its order.
pub const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The fields of a kustomization that include other kustomizations or manifests.
pub const INCLUDING_FIELDS: [&str; 3] = ["resources", "bases", "components"];

#[derive(Debug, Clone, Default)]
pub struct Repository {
    /// Every file of the repository (or of the commit), repository-relative.
    files: BTreeSet<String>,
    /// Every directory holding a file, and directories found empty when an entry named them.
    dirs: BTreeSet<String>,
    /// What reading a file gave: its text, or why it could not be read.
    texts: BTreeMap<String, Result<String, Diagnostic>>,
    /// The YAML documents of the kustomizations and manifests the cluster sources include, shared with the
    /// objects read from them (a manifest that no step rewrites keeps no text, only these).
    documents: BTreeMap<String, Result<Vec<Rc<Value>>, Diagnostic>>,
    /// Files that declare Argo CD's or Flux's own objects (their documents are among `documents`).
    engine_files: BTreeSet<String>,
    /// Symbolic links on the paths the tool writes, with where they point.
    symlinks: BTreeMap<String, String>,
}

/// Where an entry of a kustomization's `resources`, `bases` or `components` leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryTarget {
    /// A URL or a git reference: built by kustomize, not read by asm-migrate.
    Remote,
    /// A repository-relative path (which may not exist).
    Path(String),
    /// A path outside the repository.
    OutsideRepository,
}

/// Resolves `entry`, written in the kustomization of directory `dir`.
pub fn resolve_entry(dir: &str, entry: &str) -> EntryTarget {
    if entry.contains("://") || entry.starts_with("github.com/") || entry.starts_with("git@") {
        return EntryTarget::Remote;
    }
    match normalize_repo_path(&join(dir, entry)) {
        Ok(path) => EntryTarget::Path(path),
        Err(_) => EntryTarget::OutsideRepository,
    }
}

/// Where following an entry of a kustomization leads, as the loader and the inventory walk the cluster sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followed {
    /// Built by kustomize from elsewhere.
    Remote,
    OutsideRepository,
    /// asm-migrate's output, or a directory the walk leaves out: never input.
    Skipped(String),
    /// A directory: its kustomization is followed next.
    Kustomization(String),
    /// A file: its objects are read.
    Manifest(String),
    /// Neither a file nor a directory holding one.
    Missing(String),
}

impl Followed {
    /// The repository path the entry names, when it names one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Followed::Remote | Followed::OutsideRepository => None,
            Followed::Skipped(path)
            | Followed::Kustomization(path)
            | Followed::Manifest(path)
            | Followed::Missing(path) => Some(path),
        }
    }
}

/// Follows `entry`, written in the kustomization of directory `dir`, in the repository's listing: what is within
/// `output` or one of the `excluded` directories is skipped.
pub fn follow_entry(repository: &Repository, dir: &str, entry: &str, output: &str, excluded: &[&str]) -> Followed {
    let target = match resolve_entry(dir, entry) {
        EntryTarget::Remote => return Followed::Remote,
        EntryTarget::OutsideRepository => return Followed::OutsideRepository,
        EntryTarget::Path(target) => target,
    };
    if is_within(&target, output) || excluded.iter().any(|excluded| is_within(&target, excluded)) {
        Followed::Skipped(target)
    } else if repository.is_dir(&target) {
        Followed::Kustomization(target)
    } else if repository.is_file(&target) {
        Followed::Manifest(target)
    } else {
        Followed::Missing(target)
    }
}

/// The entries of a kustomization document's including fields, in kustomize's order.
pub fn included_entries(document: &Value) -> impl Iterator<Item = &str> {
    INCLUDING_FIELDS
        .iter()
        .filter_map(|field| document.get(*field).and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
}

/// The files a kustomization document applies as patches (`patches[].path`, `patchesJson6902[].path`, and the
/// entries of `patchesStrategicMerge` that are paths rather than inline patches).
pub fn patch_files(document: &Value) -> impl Iterator<Item = &str> {
    patch_entries(document).into_iter().filter_map(|entry| match entry.text {
        PatchText::File(path) => Some(path),
        PatchText::Inline(_) => None,
    })
}

/// A patch a kustomization applies: its text or file, its `target`, and whether it is a JSON patch.
pub struct PatchEntry<'d> {
    pub text: PatchText<'d>,
    pub target: Option<&'d Value>,
    /// `patchesJson6902`, or a `patches` entry written inline as a list of operations (one in a file is told by
    /// parsing it).
    pub json: bool,
}

/// Every patch a kustomization document applies, field by field in kustomize's order (`patches`,
/// `patchesJson6902`, `patchesStrategicMerge`), each in the order written.
pub fn patch_entries(document: &Value) -> Vec<PatchEntry<'_>> {
    let mut entries = Vec::new();
    for (field, json) in [("patches", false), ("patchesJson6902", true)] {
        for patch in document.get(field).and_then(Value::as_array).into_iter().flatten() {
            let text = match (str_at(patch, &["patch"]), str_at(patch, &["path"])) {
                (Some(inline), _) => PatchText::Inline(inline),
                (None, Some(path)) => PatchText::File(path),
                (None, None) => continue,
            };
            let json = json || matches!(text, PatchText::Inline(inline) if inline.trim_start().starts_with('-'));
            entries.push(PatchEntry { text, target: patch.get("target"), json });
        }
    }
    for entry in document.get("patchesStrategicMerge").and_then(Value::as_array).into_iter().flatten() {
        let Some(entry) = entry.as_str() else { continue };
        let text = match entry.contains('\n') || entry.contains(": ") {
            true => PatchText::Inline(entry),
            false => PatchText::File(entry),
        };
        entries.push(PatchEntry { text, target: None, json: false });
    }
    entries
}

/// A patch of a kustomization: its text, or the file holding it.
pub enum PatchText<'d> {
    Inline(&'d str),
    File(&'d str),
}

/// Whether a repository-relative path is a kustomization file.
pub fn is_kustomization_file(path: &str) -> bool {
    KUSTOMIZATION_FILES.iter().any(|name| path == *name || path.ends_with(&format!("/{name}")))
}

impl Repository {
    /// A repository of `files` (repository-relative paths), nothing read yet.
    pub fn listing(files: impl IntoIterator<Item = String>) -> Repository {
        let files: BTreeSet<String> = files.into_iter().collect();
        let mut dirs = BTreeSet::new();
        for file in &files {
            let mut path = file.as_str();
            while let Some((dir, _)) = path.rsplit_once('/') {
                if !dirs.insert(dir.to_owned()) {
                    break;
                }
                path = dir;
            }
        }
        Repository { files, dirs, ..Repository::default() }
    }

    /// Records a directory that holds no file (kustomize still sees it).
    pub fn add_empty_dir(&mut self, dir: &str) {
        self.dirs.insert(dir.to_owned());
    }

    /// Records what reading `path` gave.
    pub fn add_text(&mut self, path: &str, text: Result<String, Diagnostic>) {
        self.texts.insert(path.to_owned(), text);
    }

    /// Records the YAML documents parsed from `path`.
    pub fn add_documents(&mut self, path: &str, documents: Result<Vec<Value>, Diagnostic>) {
        self.documents.insert(path.to_owned(), documents.map(|documents| documents.into_iter().map(Rc::new).collect()));
    }

    /// Records a symbolic link (`path` -> `target`).
    pub fn add_symlink(&mut self, path: &str, target: &str) {
        self.symlinks.insert(path.to_owned(), target.to_owned());
    }

    /// Where `path` points, when it is a symbolic link the loader looked at.
    pub fn symlink(&self, path: &str) -> Option<&str> {
        self.symlinks.get(path).map(String::as_str)
    }

    /// Records a file that declares Argo CD's or Flux's objects.
    pub fn add_engine_file(&mut self, path: &str) {
        self.engine_files.insert(path.to_owned());
    }

    /// Argo CD's and Flux's objects in the repository, with their files: how the sources are delivered.
    pub fn engine_objects(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.engine_files.iter().flat_map(move |file| {
            let documents = self.documents.get(file).and_then(|documents| documents.as_ref().ok());
            documents.into_iter().flatten().map(move |document| (file, document.as_ref()))
        })
    }

    pub fn has_text(&self, path: &str) -> bool {
        self.texts.contains_key(path)
    }

    pub fn has_documents(&self, path: &str) -> bool {
        self.documents.contains_key(path)
    }

    pub fn is_file(&self, path: &str) -> bool {
        self.files.contains(path)
    }

    pub fn is_dir(&self, path: &str) -> bool {
        path.is_empty() || self.dirs.contains(path)
    }

    /// The text of a file, `None` when the repository has no such file.
    pub fn text(&self, path: &str) -> Result<Option<&str>, Diagnostic> {
        match self.texts.get(path) {
            Some(Ok(text)) => Ok(Some(text)),
            Some(Err(problem)) => Err(problem.clone()),
            None if self.is_file(path) => {
                Err(Diagnostic::in_file(Path::new(path), "was not loaded: asm-migrate cannot use this file here"))
            }
            None => Ok(None),
        }
    }

    /// The YAML documents of an included kustomization or manifest, as parsed when the repository was loaded.
    pub fn documents(&self, path: &str) -> Result<&[Rc<Value>], Diagnostic> {
        match self.documents.get(path) {
            Some(Ok(documents)) => Ok(documents),
            Some(Err(problem)) => Err(problem.clone()),
            None => Err(Diagnostic::in_file(Path::new(path), "was not loaded: asm-migrate cannot use this file here")),
        }
    }

    /// Every file under a directory (or the file itself), sorted.
    pub fn files_under<'r>(&'r self, dir: &'r str) -> impl Iterator<Item = &'r String> + 'r {
        let start = if dir.is_empty() { String::new() } else { dir.to_owned() };
        self.files
            .range(start..)
            .take_while(move |file| dir.is_empty() || file.starts_with(dir))
            .filter(move |file| dir.is_empty() || is_within(file, dir))
    }

    /// Every kustomization file of the repository.
    pub fn kustomization_files(&self) -> impl Iterator<Item = &String> {
        self.files.iter().filter(|file| is_kustomization_file(file))
    }

    /// The kustomization file of a directory, if it has one.
    pub fn kustomization_in(&self, dir: &str) -> Option<String> {
        KUSTOMIZATION_FILES.iter().map(|name| join(dir, name)).find(|path| self.is_file(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_knows_files_and_directories() {
        let repository =
            Repository::listing(["a/b/kustomization.yaml", "a/b/x.yaml", "a/bc.yaml", "c.yaml"].map(str::to_owned));
        assert!(repository.is_dir("a") && repository.is_dir("a/b") && !repository.is_dir("a/bc.yaml"));
        assert_eq!(repository.files_under("a/b").collect::<Vec<_>>(), ["a/b/kustomization.yaml", "a/b/x.yaml"]);
        assert_eq!(repository.files_under("c.yaml").count(), 1);
        assert_eq!(repository.files_under("").count(), 4);
        assert_eq!(repository.kustomization_in("a/b").as_deref(), Some("a/b/kustomization.yaml"));
        assert_eq!(resolve_entry("clusters/hz", "../../../apps"), EntryTarget::OutsideRepository);
        assert_eq!(resolve_entry("clusters/hz", "../../infra/istio"), EntryTarget::Path("infra/istio".to_owned()));
    }

    #[test]
    fn an_entry_leads_where_kustomize_follows_it() {
        let repository = Repository::listing(
            ["apps/a/kustomization.yaml", "apps/b.yaml", "out/asm/x.yaml", "infra/istio/kustomization.yaml"]
                .map(str::to_owned),
        );
        let follow = |entry: &str| follow_entry(&repository, "apps", entry, "out", &["infra/istio"]);
        assert_eq!(follow("a"), Followed::Kustomization("apps/a".to_owned()));
        assert_eq!(follow("b.yaml"), Followed::Manifest("apps/b.yaml".to_owned()));
        assert_eq!(follow("c.yaml"), Followed::Missing("apps/c.yaml".to_owned()));
        assert_eq!(follow("../out/asm"), Followed::Skipped("out/asm".to_owned()));
        assert_eq!(follow("../infra/istio"), Followed::Skipped("infra/istio".to_owned()));
        assert_eq!(follow("../../elsewhere"), Followed::OutsideRepository);
        assert_eq!(follow("https://github.com/example/base?ref=v1"), Followed::Remote);
    }
}

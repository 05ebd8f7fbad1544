//! Loading the repository, once per command: every file's path, and the texts (and YAML) of what the migration
//! reads: `state.yaml`, the tool's output, the mesh config, Istio's install paths, every kustomization, and
//! everything the cluster sources include. Each file is read and parsed once, however many clusters share it.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::path::Path;

use serde_json::Value;

use crate::adapters::RepoFiles;
use crate::core::diagnostic::Diagnostic;
use crate::core::kustomize_walk::{self, Entered, KustomizationVisitor};
use crate::core::paths::{is_within, join};
use crate::core::plan::Plan;
use crate::core::repository::{is_kustomization_file, patch_files, resolve_entry, EntryTarget, Followed, Repository};

/// Everything the commands compute from, read through `files`.
pub fn load_repository(files: &dyn RepoFiles, plan: &Plan) -> Repository {
    let settings = &plan.settings;
    let mut loader = Loader {
        files,
        repository: Repository::listing(files.files_under("")),
        output: &settings.output.value,
        manifests: Vec::new(),
    };
    // Symbolic links on the output's path: the tool must not write through them.
    let mut prefix = String::new();
    for part in settings.output.value.split('/') {
        prefix = join(&prefix, part);
        if let Some(target) = files.symlink(&prefix) {
            loader.repository.add_symlink(&prefix, &target);
        }
    }
    let state = settings.state_path();
    let edited = [state.as_str(), settings.istio.mesh_config_path.value.as_str()];
    let under: Vec<String> = std::iter::once(settings.output.value.as_str())
        .chain(settings.install_paths())
        .flat_map(|dir| loader.repository.files_under(dir).cloned().collect::<Vec<_>>())
        .collect();
    let kustomizations: Vec<String> = loader.repository.kustomization_files().cloned().collect();
    for path in edited.iter().copied().chain(under.iter().map(String::as_str)) {
        loader.read(path);
    }
    for kustomization in &kustomizations {
        loader.read(kustomization);
    }
    // What Istio's install paths hold says how Istio is uninstalled at `finished`.
    for install_path in settings.install_paths() {
        let yaml: Vec<String> = loader.repository.files_under(install_path).filter(|f| is_yaml(f)).cloned().collect();
        for file in yaml {
            loader.parse(&file, is_kustomization_file(&file));
        }
    }
    for cluster in &settings.clusters {
        loader.follow(&cluster.source.value);
    }
    loader.parse_manifests();
    loader.engine_objects();
    loader.repository
}

/// Every YAML file of the repository, for `init`, which has no plan yet to say what to read: kustomizations as one
/// document, manifests as streams, Argo CD's and Flux's objects marked. A file that does not parse (a Helm chart's
/// template) keeps its error: it matters only if a cluster source includes it.
pub fn load_everything(files: &dyn RepoFiles) -> Repository {
    let mut loader =
        Loader { files, repository: Repository::listing(files.files_under("")), output: "", manifests: Vec::new() };
    let yaml: Vec<String> = loader.repository.files_under("").filter(|file| is_yaml(file)).cloned().collect();
    for file in yaml {
        match is_kustomization_file(&file) {
            // Kept as written too: `init --wire` lists the file it writes in its directory's kustomization.
            true => {
                loader.read(&file);
                loader.parse(&file, true);
            }
            false => loader.manifests.push(file),
        }
    }
    for kustomization in loader.repository.kustomization_files().cloned().collect::<Vec<_>>() {
        loader.parse(&kustomization, true);
    }
    loader.parse_manifests();
    loader.engine_objects();
    loader.repository
}

/// Only the state: for commands that need nothing else (`steps`).
pub fn load_state(files: &dyn RepoFiles, plan: &Plan) -> Repository {
    let state = plan.settings.state_path();
    let exists = files.is_file(&state);
    let mut repository = Repository::listing(exists.then(|| state.clone()));
    if exists {
        repository.add_text(&state, files.read(&state).map(Option::unwrap_or_default));
    }
    repository
}

struct Loader<'a> {
    files: &'a dyn RepoFiles,
    repository: Repository,
    output: &'a str,
    /// Manifests the cluster sources include, to parse together once every source is followed.
    manifests: Vec<String>,
}

impl Loader<'_> {
    /// Reads a file of the listing once.
    fn read(&mut self, path: &str) {
        if self.repository.is_file(path) && !self.repository.has_text(path) {
            let text = self.files.read(path).map(Option::unwrap_or_default);
            self.repository.add_text(path, text);
        }
    }

    /// Parses a file as YAML once: a kustomization as one document, a manifest as a stream. A file read only to
    /// be parsed keeps its documents, not its text: no step rewrites it.
    fn parse(&mut self, path: &str, kustomization: bool) {
        if self.repository.has_documents(path) {
            return;
        }
        let documents = match self.repository.has_text(path) {
            true => match self.repository.text(path) {
                Ok(text) => parse_yaml(path, text.unwrap_or_default(), kustomization),
                Err(problem) => Err(problem),
            },
            false => match self.files.read(path) {
                Ok(text) => parse_yaml(path, &text.unwrap_or_default(), kustomization),
                Err(problem) => Err(problem),
            },
        };
        self.repository.add_documents(path, documents);
    }

    /// Parses the manifests the sources include, each once, on as many threads as the machine has: parsing is most
    /// of a run's time on a large repository. The files are read here, in order; the documents are kept in that
    /// order whatever thread parsed them.
    fn parse_manifests(&mut self) {
        let mut seen = BTreeSet::new();
        let mut texts = Vec::new();
        for path in std::mem::take(&mut self.manifests) {
            if !seen.insert(path.clone()) || self.repository.has_documents(&path) {
                continue;
            }
            if self.repository.has_text(&path) {
                self.parse(&path, false);
                continue;
            }
            let text = self.files.read(&path).map(Option::unwrap_or_default);
            texts.push((path, text));
        }
        let threads = std::thread::available_parallelism().map_or(1, usize::from).clamp(1, texts.len().max(1));
        let parsed: Vec<Result<Vec<Value>, Diagnostic>> = std::thread::scope(|scope| {
            let workers: Vec<_> = texts
                .chunks(texts.len().div_ceil(threads).max(1))
                .map(|chunk| {
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .map(|(path, text)| match text {
                                Ok(text) => parse_yaml(path, text, false),
                                Err(problem) => Err(problem.clone()),
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect()
        });
        for ((path, _), documents) in texts.iter().zip(parsed) {
            self.repository.add_documents(path, documents);
        }
    }

    /// The YAML files that declare how Argo CD and Flux deliver the sources (Applications, Kustomizations,
    /// HelmReleases, artifacts), wherever they are in the repository: each read once, parsed (and its text kept)
    /// when it names one of their API groups.
    fn engine_objects(&mut self) {
        let output = self.output.to_owned();
        let candidates: Vec<String> =
            self.repository.files_under("").filter(|f| is_yaml(f) && !is_within(f, &output)).cloned().collect();
        for file in candidates {
            let declares = |text: &str| ENGINE_GROUPS.iter().any(|group| text.contains(group));
            let engine = match self.repository.has_documents(&file) {
                true => self.repository.documents(&file).is_ok_and(|documents| {
                    documents
                        .iter()
                        .any(|document| document.get("apiVersion").and_then(Value::as_str).is_some_and(&declares))
                }),
                false => {
                    let text = match self.repository.text(&file) {
                        Ok(Some(text)) => Some(text.to_owned()),
                        _ => self.files.read(&file).ok().flatten(),
                    };
                    let Some(text) = text.filter(|text| declares(text)) else { continue };
                    self.repository.add_documents(&file, parse_yaml(&file, &text, is_kustomization_file(&file)));
                    self.repository.add_text(&file, Ok(text));
                    true
                }
            };
            if engine {
                // Kept as written too: `finished` edits the engine objects that build Istio's install paths.
                self.read(&file);
                self.repository.add_engine_file(&file);
            }
        }
    }

    /// Follows a kustomization directory and everything it includes, as kustomize would (without the renaming,
    /// which is the inventory's business), reading each file as the walk reaches it. The tool's own output is never
    /// input.
    fn follow(&mut self, dir: &str) {
        let output = self.output;
        // What the inventory says is wrong (a directory without a kustomization, an entry outside the repository
        // or missing) is left to it: the loader only reads.
        let Ok(_) = kustomize_walk::walk(self, dir, output, &[], ());
    }
}

impl KustomizationVisitor for Loader<'_> {
    type Context = ();
    type Error = Infallible;

    fn repository(&self) -> &Repository {
        &self.repository
    }

    fn no_kustomization(&mut self, _dir: &str) -> Result<(), Infallible> {
        Ok(())
    }

    /// Parses the kustomization, and reads its patches to know whether they decide Istio's injection.
    fn kustomization(&mut self, dir: &str, file: &str, _outer: &()) -> Result<Entered<()>, Infallible> {
        self.parse(file, true);
        let Ok(document) = self.repository.documents(file).map(|documents| documents.first().cloned()) else {
            return Ok(None);
        };
        let document = document.unwrap_or_default();
        for patch in patch_files(&document) {
            if let EntryTarget::Path(target) = resolve_entry(dir, patch) {
                self.read(&target);
            }
        }
        Ok(Some((document, ())))
    }

    fn entry(&mut self, _dir: &str, _file: &str, _entry: &str, followed: &Followed, _: &()) -> Result<(), Infallible> {
        match followed {
            Followed::Manifest(target) => self.manifests.push(target.clone()),
            // A directory without files: kustomize says it has no kustomization.
            Followed::Missing(target) if self.files.is_dir(target) => self.repository.add_empty_dir(target),
            _ => {}
        }
        Ok(())
    }
}

/// The API groups of Argo CD's and Flux's own objects.
const ENGINE_GROUPS: [&str; 2] = ["argoproj.io/", "fluxcd.io/"];

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

fn parse_yaml(path: &str, text: &str, kustomization: bool) -> Result<Vec<Value>, Diagnostic> {
    let file = Path::new(path);
    if kustomization {
        crate::core::yaml::document(text)
            .map(|document| vec![document])
            .map_err(|error| Diagnostic::from_yaml(file, text, &error))
    } else {
        crate::core::yaml::documents(text).map_err(|error| Diagnostic::from_yaml(file, text, &error))
    }
}

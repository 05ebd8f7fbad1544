//! The import of Istio's config into ASM: from `migrating` on, `<output>/asm/istio/` holds every object of Istio's
//! config API groups that the cluster sources build, as the step leaves them, once each.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::rc::Rc;

use minijinja::context;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::core::component::{PatchedKey, Rendering};
use crate::core::desired::Desired;
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::inventory::with_pairs;
use crate::core::names::is_istio_api_group;
use crate::core::names::{check_dns_label, check_dns_subdomain, ASM_GATEWAY_NAMESPACE};
use crate::core::paths::join;
use crate::core::settings::Engine;
use crate::core::step_id::Phase;
use crate::core::steps::StepContext;
use crate::core::text::listed;
use crate::core::value::str_at;

/// The directory of `<output>/asm/` that holds the imported objects, one directory per namespace.
const IMPORT_DIR: &str = "istio";

/// Annotations of a source object that are no configuration of the mesh: what `kubectl apply` and Argo CD leave on
/// live objects (a manifest dumped from a cluster carries them), and kustomize's own bookkeeping.
const STRIPPED_ANNOTATIONS: [&str; 2] =
    ["kubectl.kubernetes.io/last-applied-configuration", "argocd.argoproj.io/tracking-id"];
const STRIPPED_ANNOTATION_PREFIXES: [&str; 4] =
    ["config.kubernetes.io/", "internal.config.kubernetes.io/", "kustomize.config.k8s.io/", "config.k8s.io/"];
/// Labels Flux leaves on the live objects it applies, to track them.
const STRIPPED_LABELS: [&str; 2] = ["kustomize.toolkit.fluxcd.io/name", "kustomize.toolkit.fluxcd.io/namespace"];
/// The longest file name most file systems take.
const MAX_FILE_NAME: usize = 255;

/// An imported object's namespace, kind and name: ASM holds one object of each.
type ImportKey = (Rc<str>, Rc<str>, Rc<str>);

/// One object as ASM gets it, and where the clusters have it from.
struct Imported {
    kind: Rc<str>,
    namespace: Rc<str>,
    name: Rc<str>,
    document: Value,
    /// `(cluster, file)` of each cluster that builds it, in the plan's order.
    origins: Vec<(String, String)>,
    /// Whether a component patches it (an egress VirtualService at the step's weights).
    patched: bool,
}

/// Renders the import into `<output>/asm/istio/` and returns the files written, relative to `<output>/asm/`, for
/// its kustomization; nothing before `migrating`.
pub fn render_import(
    context: &StepContext<'_>,
    desired: &Desired,
    rendering: &mut Rendering<'_>,
) -> Result<Vec<String>, Diagnostics> {
    if desired.phase < Some(Phase::Migrating) {
        return Ok(Vec::new());
    }
    let imported = imported_objects(context, rendering)?;
    let settings = context.settings;
    let asm_dir = join(&settings.output.value, "asm");
    let mut files = Vec::new();
    let namespaces: BTreeSet<&str> = imported.values().map(|object| &*object.namespace).collect();
    for namespace in namespaces.into_iter().filter(|namespace| *namespace != ASM_GATEWAY_NAMESPACE) {
        let (key, value) = no_prune_annotation(settings.engine);
        let text = rendering.template(
            "asm/namespace.yaml.j2",
            context! { plan => settings.name, name => namespace, annotations => BTreeMap::from([(key, value)]) },
        )?;
        let file = format!("{IMPORT_DIR}/{namespace}/namespace.yaml");
        rendering.writes.insert(join(&asm_dir, &file), text);
        files.push(file);
    }
    for object in imported.values() {
        // Serialized here rather than by the template's `to_yaml`, which sorts keys: the object keeps the order of
        // its source (apiVersion, kind, metadata, spec), as a reviewer reads it beside that source.
        let yaml = serde_saphyr::to_string(&object.document)
            .map_err(|error| Diagnostic::in_file(Path::new(&object.origins[0].1), error.to_string()))?;
        let text = rendering.template(
            "asm/istio-object.yaml.j2",
            context! {
                plan => settings.name, kind => &*object.kind, namespace => &*object.namespace,
                name => &*object.name, origins => origins(object), patched => object.patched,
                object => minijinja::Value::from_safe_string(yaml.trim_end().to_owned()),
            },
        )?;
        let file = format!("{IMPORT_DIR}/{}/{}", object.namespace, file_name(&object.kind, &object.name));
        rendering.writes.insert(join(&asm_dir, &file), text);
        files.push(file);
    }
    files.sort();
    Ok(files)
}

/// The annotation that keeps the GitOps engine from pruning an object it applied: a namespace ASM's objects live in
/// must outlive what asm-migrate stops rendering.
fn no_prune_annotation(engine: Engine) -> (&'static str, &'static str) {
    match engine {
        Engine::ArgoCd => ("argocd.argoproj.io/sync-options", "Prune=false"),
        Engine::Flux => ("kustomize.toolkit.fluxcd.io/prune", "disabled"),
    }
}

/// Every Istio object the clusters build at the step, by namespace, kind and name: each source's, as the component
/// patches it, and the component's own; an object several clusters build alike is imported once, one they build
/// differently is an error naming both files.
fn imported_objects(
    context: &StepContext<'_>,
    rendering: &Rendering<'_>,
) -> Result<BTreeMap<ImportKey, Imported>, Diagnostics> {
    let mut imported: BTreeMap<ImportKey, Imported> = BTreeMap::new();
    let mut conflicting = BTreeSet::new();
    let mut problems = Vec::new();
    for cluster in &context.settings.clusters {
        let Some(inventory) = context.inventory.clusters.get(&cluster.name) else { continue };
        let mut built = Vec::new();
        for object in &inventory.istio_objects {
            let patched = rendering.patched_istio_objects.get(&PatchedKey::of(&cluster.name, object));
            built.push(Built {
                kind: Rc::clone(&object.kind),
                namespace: object.namespace.clone(),
                name: Rc::clone(&object.name),
                value: patched.unwrap_or(&object.value).clone(),
                file: object.file.to_string(),
                patched: patched.is_some(),
            });
        }
        let component_dir = context.settings.component_dir(&cluster.name);
        let component = rendering.components.get(&cluster.name);
        let resources = component
            .into_iter()
            .flat_map(|parts| parts.resources.iter().filter_map(|file| Some((file, parts.files.get(file)?))));
        for (file, text) in resources {
            let path = join(&component_dir, file);
            let documents = crate::core::yaml::documents(text)
                .map_err(|error| Diagnostic::from_yaml(Path::new(&path), text, &error))?;
            for mut value in documents.into_iter().filter(is_istio_object) {
                // The source's own labels and annotations reach the component's objects too.
                with_pairs(&mut value, "/metadata", "labels", &inventory.naming.labels);
                with_pairs(&mut value, "/metadata", "annotations", &inventory.naming.annotations);
                let text = |field: &[&str]| str_at(&value, field).map(Rc::<str>::from);
                let (Some(kind), Some(name)) = (text(&["kind"]), text(&["metadata", "name"])) else { continue };
                let namespace = text(&["metadata", "namespace"]);
                built.push(Built { kind, namespace, name, value, file: path.clone(), patched: false });
            }
        }
        for object in built.into_iter().filter(|object| !is_local_config(&object.value)) {
            let (namespace, name) = inventory.naming.place(object.namespace.as_ref(), &object.name);
            if let Err(problem) = check_name(&object.kind, &namespace, &name, &object.file) {
                problems.push(problem);
                continue;
            }
            let document = imported_document(&object.value, &namespace, &name);
            let origin = (cluster.name.clone(), object.file);
            let key = (Rc::clone(&namespace), Rc::clone(&object.kind), Rc::clone(&name));
            match imported.get_mut(&key) {
                None => {
                    let (kind, origins, patched) = (object.kind, vec![origin], object.patched);
                    imported.insert(key, Imported { kind, namespace, name, document, origins, patched });
                }
                Some(first) if first.document == document => {
                    if !first.origins.contains(&origin) {
                        first.origins.push(origin);
                    }
                }
                // Said once per object, however many clusters build it differently.
                Some(first) => {
                    if conflicting.insert(key) {
                        problems.push(conflict(first, &document, &origin));
                    }
                }
            }
        }
    }
    match problems.is_empty() {
        true => Ok(imported),
        false => Err(Diagnostics(problems)),
    }
}

/// An Istio object as one cluster builds it, before its name and namespace are the cluster's.
struct Built {
    kind: Rc<str>,
    namespace: Option<Rc<str>>,
    name: Rc<str>,
    value: Value,
    file: String,
    patched: bool,
}

fn is_istio_object(document: &Value) -> bool {
    let group = str_at(document, &["apiVersion"]).and_then(|version| version.rsplit_once('/')).map(|(group, _)| group);
    group.is_some_and(is_istio_api_group)
}

/// kustomize leaves an object marked `config.kubernetes.io/local-config: "true"` out of what it builds.
fn is_local_config(value: &Value) -> bool {
    str_at(value, &["metadata", "annotations", "config.kubernetes.io/local-config"]) == Some("true")
}

/// The name and namespace become directories and a file of `<output>/asm/`: they must be what Kubernetes takes.
fn check_name(kind: &str, namespace: &str, name: &str, file: &str) -> Result<(), Diagnostic> {
    if check_dns_label(namespace).is_ok() && check_dns_subdomain(name).is_ok() {
        return Ok(());
    }
    Err(Diagnostic::in_file(
        Path::new(file),
        format!(
            "Istio's {kind} `{name}` in namespace `{namespace}` cannot be imported into ASM: Kubernetes takes only a \
             DNS-1123 subdomain as its name and a DNS-1123 label as its namespace"
        ),
    ))
}

/// The same object built differently by two clusters: ASM holds one, so neither can be imported for the other.
fn conflict(first: &Imported, document: &Value, (cluster, file): &(String, String)) -> Diagnostic {
    let (first_cluster, first_file) = &first.origins[0];
    let parts: Vec<&str> = ["apiVersion", "spec", "metadata"]
        .into_iter()
        .filter(|part| first.document.get(*part) != document.get(*part))
        .collect();
    let differ = match parts.as_slice() {
        [] => "differ".to_owned(),
        parts => format!("differ in {}", parts.join(" and ")),
    };
    Diagnostic::in_file(
        Path::new(first_file),
        format!(
            "Istio's {} {}/{} is built differently by cluster `{first_cluster}` ({first_file}) and cluster \
                 `{cluster}` ({file}): the two {differ}, and ASM holds one object of each name, so asm-migrate cannot \
                 import it",
            first.kind, first.namespace, first.name
        ),
    )
    .with_help("make the two the same, or give one of them another name or namespace")
}

/// The object as ASM gets it: its own fields and configuration, with its namespace written out; what only a live
/// object or a build carries (status, metadata the API server sets, tracking labels and annotations) left out.
fn imported_document(value: &Value, namespace: &str, name: &str) -> Value {
    let mut document = Map::new();
    for (field, content) in value.as_object().into_iter().flatten() {
        match field.as_str() {
            "status" => {}
            "metadata" => {
                document.insert(field.clone(), imported_metadata(content, namespace, name));
            }
            _ => {
                document.insert(field.clone(), content.clone());
            }
        }
    }
    Value::Object(document)
}

/// `metadata` reduced to what configures the object: its name, namespace, labels and annotations.
fn imported_metadata(metadata: &Value, namespace: &str, name: &str) -> Value {
    let mut kept = Map::new();
    kept.insert("name".to_owned(), Value::from(name));
    kept.insert("namespace".to_owned(), Value::from(namespace));
    let annotation_kept = |key: &str| {
        !STRIPPED_ANNOTATIONS.contains(&key)
            && !STRIPPED_ANNOTATION_PREFIXES.iter().any(|prefix| key.starts_with(prefix))
    };
    let label_kept = |key: &str| !STRIPPED_LABELS.contains(&key);
    for (field, keep) in [("labels", &label_kept as &dyn Fn(&str) -> bool), ("annotations", &annotation_kept)] {
        let pairs: Map<String, Value> = metadata
            .get(field)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(key, _)| keep(key))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        if !pairs.is_empty() {
            kept.insert(field.to_owned(), Value::Object(pairs));
        }
    }
    Value::Object(kept)
}

/// Where the object comes from, one line per file: `apps/payments/egress.yaml (clusters hz, sh)`.
fn origins(object: &Imported) -> Vec<String> {
    let mut by_file: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (cluster, file) in &object.origins {
        by_file.entry(file).or_default().push(cluster);
    }
    by_file
        .iter()
        .map(|(file, clusters)| {
            let plural = if clusters.len() > 1 { "s" } else { "" };
            format!("{file} (cluster{plural} {})", listed(clusters, 10))
        })
        .collect()
}

/// `<kind>-<name>.yaml`, lower case; a name too long for a file name is cut and told apart by a digest of it.
fn file_name(kind: &str, name: &str) -> String {
    let kind = kind.to_ascii_lowercase();
    let whole = format!("{kind}-{name}.yaml");
    if whole.len() <= MAX_FILE_NAME {
        return whole;
    }
    let digest: String = Sha256::digest(name.as_bytes()).iter().take(8).map(|byte| format!("{byte:02x}")).collect();
    // The name is ASCII (a DNS-1123 subdomain): cutting it at any byte is cutting it at a character.
    let room = MAX_FILE_NAME - kind.len() - "-".len() - "-".len() - digest.len() - ".yaml".len();
    format!("{kind}-{}-{digest}.yaml", &name[..room.min(name.len())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_only_a_live_object_or_a_build_carries_is_left_out() {
        let live = json!({
            "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {
                "name": "reviews", "namespace": "other", "uid": "1", "resourceVersion": "2", "generation": 3,
                "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{}],
                "labels": {"app": "reviews", "kustomize.toolkit.fluxcd.io/name": "apps"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}",
                                "argocd.argoproj.io/tracking-id": "x", "config.kubernetes.io/origin": "y"},
            },
            "spec": {"host": "reviews"},
            "status": {"observedGeneration": 3},
        });
        assert_eq!(
            imported_document(&live, "bookinfo", "reviews"),
            json!({
                "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                "metadata": {"name": "reviews", "namespace": "bookinfo", "labels": {"app": "reviews"}},
                "spec": {"host": "reviews"},
            })
        );
    }

    #[test]
    fn a_name_too_long_for_a_file_is_cut_and_told_apart() {
        assert_eq!(file_name("VirtualService", "stripe"), "virtualservice-stripe.yaml");
        let long = "a".repeat(253);
        let (one, other) =
            (file_name("AuthorizationPolicy", &long), file_name("AuthorizationPolicy", &"a".repeat(252)));
        assert_eq!(one.len(), MAX_FILE_NAME);
        assert!(one.starts_with("authorizationpolicy-aaa") && one.ends_with(".yaml"), "{one}");
        assert_ne!(one, other);
    }
}

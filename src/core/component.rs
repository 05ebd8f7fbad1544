//! A step's rendering as it is assembled: what each step kind contributes (files of the repository it rewrites or
//! removes, ASM gateways, parts of each cluster's kustomize Component), before the common parts are added.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::inventory::{KindSplit, Object};
use crate::core::repository::Repository;
use crate::core::templates::Templates;

/// An `IstioGateway` of the ASM control plane.
#[derive(Debug, Clone)]
pub struct AsmGateway {
    pub name: String,
    pub gateway_type: &'static str,
    /// Words after "ASM's <type> gateway" in the file's comment: ` (egress stripe)`.
    pub purpose: String,
    pub cluster_ids: BTreeSet<String>,
    pub ports: Vec<Value>,
    /// ClusterIP, NodePort or LoadBalancer, always written: ASM's default is not the tool's to assume.
    pub service_type: String,
    /// Labels the gateway's pods carry besides ASM's own, so that the Gateways that select Istio's pods select them.
    pub pod_labels: BTreeMap<String, String>,
}

/// What goes into one cluster's Component, in the order kustomize applies it.
#[derive(Debug, Clone, Default)]
pub struct ComponentParts {
    /// Files of the component directory besides its kustomization.
    pub files: BTreeMap<String, String>,
    pub resources: Vec<String>,
    pub transformers: Vec<String>,
    /// Targets of the replacement that copies the restart stamp into pod templates.
    pub restart_targets: Vec<Value>,
    pub patches: Vec<Value>,
}

impl ComponentParts {
    /// A file of the component, listed as a resource.
    pub fn resource(&mut self, file: &str, text: String) {
        self.files.insert(file.to_owned(), text);
        self.resources.push(file.to_owned());
    }

    /// A file of the component, listed as a transformer.
    pub fn transformer(&mut self, file: &str, text: String) {
        self.files.insert(file.to_owned(), text);
        self.transformers.push(file.to_owned());
    }

    /// A file of the component, applied as a patch to what its own header names.
    pub fn patch(&mut self, file: &str, text: String) {
        self.files.insert(file.to_owned(), text);
        self.patches.push(serde_json::json!({ "path": file }));
    }
}

/// An Istio object of a cluster's source, as the inventory names it: cluster, kind, namespace, name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PatchedKey {
    pub cluster: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl PatchedKey {
    pub fn of(cluster: &str, object: &Object) -> PatchedKey {
        PatchedKey {
            cluster: cluster.to_owned(),
            kind: object.kind.to_string(),
            namespace: object.namespace.as_deref().unwrap_or_default().to_owned(),
            name: object.name.to_string(),
        }
    }
}

pub struct Rendering<'r> {
    templates: &'r Templates,
    repository: &'r Repository,
    /// Files of the repository written, with their whole new content.
    pub writes: BTreeMap<String, String>,
    pub removals: BTreeSet<String>,
    /// ASM gateways by name.
    pub asm_gateways: BTreeMap<String, AsmGateway>,
    /// Each cluster's component, by cluster name.
    pub components: BTreeMap<String, ComponentParts>,
    /// Istio objects of the sources as the components patch them (the egress VirtualServices at the step's
    /// weights): what `<output>/asm/` imports in their place.
    pub patched_istio_objects: BTreeMap<PatchedKey, Value>,
}

impl<'r> Rendering<'r> {
    pub fn new(templates: &'r Templates, repository: &'r Repository) -> Rendering<'r> {
        Rendering {
            templates,
            repository,
            writes: BTreeMap::new(),
            removals: BTreeSet::new(),
            asm_gateways: BTreeMap::new(),
            components: BTreeMap::new(),
            patched_istio_objects: BTreeMap::new(),
        }
    }

    /// Renders a template; a failure names the template.
    pub fn template(&self, name: &str, values: minijinja::Value) -> Result<String, Diagnostics> {
        self.templates
            .render(name, values)
            .map_err(|error| Diagnostics::from(Diagnostic::in_file(Path::new(&error.name), error.detail)))
    }

    /// A file's text as this rendering leaves it so far: rewritten, or as the repository holds it.
    pub fn current_text(&self, path: &str) -> Result<Option<String>, Diagnostic> {
        match self.writes.get(path) {
            Some(text) => Ok(Some(text.clone())),
            None => Ok(self.repository.text(path)?.map(str::to_owned)),
        }
    }

    /// For the kinds of which every workload of the cluster changes: one of kustomize's builtin transformers,
    /// rendered from `template` with those kinds as `kinds` (nearly free for kustomize, whatever their number).
    pub fn whole_kinds_transformer(
        &mut self,
        cluster: &str,
        split: &KindSplit,
        (template, file): (&str, &str),
        values: minijinja::Value,
    ) -> Result<(), Diagnostics> {
        if split.whole.is_empty() {
            return Ok(());
        }
        let text = self.template(template, minijinja::context! { kinds => split.whole_names(), ..values })?;
        self.component(cluster).transformer(file, text);
        Ok(())
    }

    pub fn component(&mut self, cluster: &str) -> &mut ComponentParts {
        self.components.entry(cluster.to_owned()).or_default()
    }
}

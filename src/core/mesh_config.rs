//! `PROXY_CONFIG_XDS_AGENT: "true"` merged into Istio's proxyMetadata, in the file the user keeps it in.

use serde_json::Value;

use crate::core::settings::MeshConfigKind;
use crate::core::yaml_edit::{block_scalar, document_ranges, set_scalar, with_newline, EditError};

pub const XDS_AGENT: &str = "PROXY_CONFIG_XDS_AGENT";

/// Why PROXY_CONFIG_XDS_AGENT cannot be set in the file the plan names.
#[derive(Debug, thiserror::Error)]
pub enum MeshConfigError {
    #[error("it holds no IstioOperator")]
    NoIstioOperator,
    #[error("it holds no ConfigMap named istio or istio-<revision>")]
    NoMeshConfigMap,
    #[error(
        "it holds the HelmReleases {} and none of the istiod chart: name the one to edit in the plan's \
         istio.meshConfig.release", .0.join(", ")
    )]
    WhichRelease(Vec<String>),
    #[error("it holds no HelmRelease named {wanted} (only {})", .found.join(", "))]
    NoSuchRelease { wanted: String, found: Vec<String> },
    #[error(transparent)]
    Edit(#[from] EditError),
    #[error("the edit would not parse: {}", crate::core::yaml::message(.0))]
    WouldNotParse(serde_saphyr::Error),
    #[error("the edit did not land where Istio reads it")]
    NotWhereIstioReads,
}

/// Istio's mesh config with PROXY_CONFIG_XDS_AGENT set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshConfigEdit {
    /// The file with the variable set, or `None` when it is set already.
    pub text: Option<String>,
    /// The object edited, in words: `HelmRelease istio-system/istiod`, `Helm values`.
    pub target: String,
}

/// PROXY_CONFIG_XDS_AGENT set in the file of the plan's mesh config (`release`: the HelmRelease the plan names).
/// Other entries, comments and layout stay.
pub fn enable_xds_agent(
    kind: MeshConfigKind,
    release: Option<&str>,
    text: &str,
) -> Result<MeshConfigEdit, MeshConfigError> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let documents = document_ranges(&lines);
    let parsed: Vec<Value> = documents
        .iter()
        .map(|(start, end)| {
            crate::core::yaml::document::<Value>(&lines[*start..*end].join("\n")).unwrap_or(Value::Null)
        })
        .collect();
    let kind_of = |value: &Value| value.get("kind").and_then(Value::as_str).map(str::to_owned);
    let described = |kind: &str, index: usize| {
        let value = &parsed[index];
        let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        match (value.pointer("/metadata/namespace").and_then(Value::as_str), name) {
            // An IstioOperator without a name: istioctl installs it all the same.
            (_, "") => format!("{kind} without a name"),
            (Some(namespace), _) => format!("{kind} {namespace}/{name}"),
            (None, _) => format!("{kind} {name}"),
        }
    };
    let target;
    let changed = match kind {
        MeshConfigKind::IstioOperator => {
            let index = parsed
                .iter()
                .position(|doc| kind_of(doc).as_deref() == Some("IstioOperator"))
                .ok_or(MeshConfigError::NoIstioOperator)?;
            let (start, end) = documents[index];
            target = described("IstioOperator", index);
            set_scalar(
                &mut lines,
                start,
                end,
                &["spec", "meshConfig", "defaultConfig", "proxyMetadata", XDS_AGENT],
                "\"true\"",
            )?
        }
        MeshConfigKind::HelmValues => {
            // A plain values file, or a Flux HelmRelease carrying the values inline: istiod's, or the one named.
            let releases: Vec<usize> =
                (0..parsed.len()).filter(|index| kind_of(&parsed[*index]).as_deref() == Some("HelmRelease")).collect();
            let (index, prefix): (usize, &[&str]) = match istiod_release(&parsed, &releases, release)? {
                Some(index) => {
                    target = described("HelmRelease", index);
                    (index, &["spec", "values"])
                }
                None => {
                    target = "Helm values".to_owned();
                    (0, &[])
                }
            };
            let (start, end) = documents[index];
            let path: Vec<&str> =
                prefix.iter().copied().chain(["meshConfig", "defaultConfig", "proxyMetadata", XDS_AGENT]).collect();
            set_scalar(&mut lines, start, end, &path, "\"true\"")?
        }
        MeshConfigKind::ConfigMap => {
            let is_mesh_map = |doc: &Value| {
                kind_of(doc).as_deref() == Some("ConfigMap")
                    && doc
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .is_some_and(|name| name == "istio" || name.starts_with("istio-"))
            };
            let index = parsed.iter().position(is_mesh_map).ok_or(MeshConfigError::NoMeshConfigMap)?;
            target = described("ConfigMap", index);
            let (start, end) = documents[index];
            let (body_start, body_end, indent) = block_scalar(&lines, start, end, &["data", "mesh"])?;
            let mut mesh: Vec<String> =
                lines[body_start..body_end].iter().map(|line| line.get(indent..).unwrap_or("").to_owned()).collect();
            let mesh_end = mesh.len();
            let changed =
                set_scalar(&mut mesh, 0, mesh_end, &["defaultConfig", "proxyMetadata", XDS_AGENT], "\"true\"")?;
            let pad = " ".repeat(indent);
            let reindented: Vec<String> =
                mesh.into_iter().map(|line| if line.is_empty() { line } else { format!("{pad}{line}") }).collect();
            lines.splice(body_start..body_end, reindented);
            changed
        }
    };
    if !changed {
        return Ok(MeshConfigEdit { text: None, target });
    }
    let edited = with_newline(lines);
    verify(kind, &edited)?;
    Ok(MeshConfigEdit { text: Some(edited), target })
}

/// Which of the file's HelmReleases (document indexes) carries istiod's values: the one named in the plan, else
/// the only one, else the only one of the `istiod` chart; `None` for a plain values file.
fn istiod_release(parsed: &[Value], releases: &[usize], named: Option<&str>) -> Result<Option<usize>, MeshConfigError> {
    let name = |index: &usize| parsed[*index].pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let names = || releases.iter().map(|index| name(index).to_owned()).collect::<Vec<_>>();
    if let Some(wanted) = named {
        return match releases.iter().find(|index| name(index) == wanted) {
            Some(index) => Ok(Some(*index)),
            None => Err(MeshConfigError::NoSuchRelease { wanted: wanted.to_owned(), found: names() }),
        };
    }
    if releases.len() <= 1 {
        return Ok(releases.first().copied());
    }
    let chart = |index: &&usize| parsed[**index].pointer("/spec/chart/spec/chart").and_then(Value::as_str);
    let istiod: Vec<&usize> = releases.iter().filter(|index| chart(index) == Some("istiod")).collect();
    match istiod.as_slice() {
        [index] => Ok(Some(**index)),
        _ => Err(MeshConfigError::WhichRelease(names())),
    }
}

/// Reads the edited file back: the edit must parse and carry the variable where Istio looks for it.
fn verify(kind: MeshConfigKind, text: &str) -> Result<(), MeshConfigError> {
    let documents: Vec<Value> = crate::core::yaml::documents(text).map_err(MeshConfigError::WouldNotParse)?;
    let pointer = "/defaultConfig/proxyMetadata/PROXY_CONFIG_XDS_AGENT";
    let found = documents.iter().any(|doc| match kind {
        MeshConfigKind::IstioOperator => {
            doc.pointer(&format!("/spec/meshConfig{pointer}")).and_then(Value::as_str) == Some("true")
        }
        MeshConfigKind::HelmValues => {
            doc.pointer(&format!("/meshConfig{pointer}")).and_then(Value::as_str) == Some("true")
                || doc.pointer(&format!("/spec/values/meshConfig{pointer}")).and_then(Value::as_str) == Some("true")
        }
        MeshConfigKind::ConfigMap => doc
            .pointer("/data/mesh")
            .and_then(Value::as_str)
            .and_then(|mesh| crate::core::yaml::document::<Value>(mesh).ok())
            .is_some_and(|mesh| mesh.pointer(pointer).and_then(Value::as_str) == Some("true")),
    });
    if found {
        Ok(())
    } else {
        Err(MeshConfigError::NotWhereIstioReads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istio_operator_keeps_other_proxy_metadata() {
        let text = "# ops\napiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  meshConfig:\n    defaultConfig:\n      proxyMetadata:\n        ISTIO_META_DNS_CAPTURE: \"true\"\n  profile: default\n";
        let edited = enable_xds_agent(MeshConfigKind::IstioOperator, None, text).unwrap().text.unwrap();
        assert!(edited.contains(
            "        ISTIO_META_DNS_CAPTURE: \"true\"\n        PROXY_CONFIG_XDS_AGENT: \"true\"\n  profile: default\n"
        ));
        assert_eq!(enable_xds_agent(MeshConfigKind::IstioOperator, None, &edited).unwrap().text, None);
    }

    #[test]
    fn config_map_edits_the_mesh_string() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio\n  namespace: istio-system\ndata:\n  mesh: |-\n    accessLogFile: /dev/stdout\n    defaultConfig:\n      discoveryAddress: istiod.istio-system.svc:15012\n  meshNetworks: 'networks: {}'\n";
        let edited = enable_xds_agent(MeshConfigKind::ConfigMap, None, text).unwrap().text.unwrap();
        assert!(edited.contains(
            "    defaultConfig:\n      discoveryAddress: istiod.istio-system.svc:15012\n      proxyMetadata:\n        PROXY_CONFIG_XDS_AGENT: \"true\"\n  meshNetworks:"
        ), "{edited}");
    }

    #[test]
    fn a_flux_helm_release_carries_the_values_inline() {
        let text = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: istiod\nspec:\n  chart:\n    spec:\n      chart: istiod\n  values:\n    meshConfig:\n      accessLogFile: /dev/stdout\n";
        let edited = enable_xds_agent(MeshConfigKind::HelmValues, None, text).unwrap().text.unwrap();
        assert!(edited.ends_with("  values:\n    meshConfig:\n      accessLogFile: /dev/stdout\n      defaultConfig:\n        proxyMetadata:\n          PROXY_CONFIG_XDS_AGENT: \"true\"\n"), "{edited}");
    }

    #[test]
    fn a_file_without_the_kind_is_an_error() {
        assert_eq!(
            enable_xds_agent(MeshConfigKind::IstioOperator, None, "kind: ConfigMap\n").unwrap_err().to_string(),
            "it holds no IstioOperator"
        );
    }

    #[test]
    fn helm_values_gain_the_whole_path_when_missing() {
        let edited =
            enable_xds_agent(MeshConfigKind::HelmValues, None, "global:\n  meshID: m\n").unwrap().text.unwrap();
        assert_eq!(edited, "global:\n  meshID: m\nmeshConfig:\n  defaultConfig:\n    proxyMetadata:\n      PROXY_CONFIG_XDS_AGENT: \"true\"\n");
    }
}

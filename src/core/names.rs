//! Kubernetes' rules for names: what a plan may call a cluster, a wave, a namespace or a gateway.

/// Why a value is not a DNS-1123 label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DnsLabelError {
    #[error("it is empty")]
    Empty,
    #[error("it is longer than 63 characters")]
    TooLong,
    #[error("use only lower-case letters, digits and '-'")]
    Characters,
    #[error("it must start and end with a letter or digit")]
    Edges,
}

/// Checks a Kubernetes DNS-1123 label: lower-case alphanumerics and '-', at most 63, starting and ending alphanumeric.
pub fn check_dns_label(value: &str) -> Result<(), DnsLabelError> {
    if value.is_empty() {
        return Err(DnsLabelError::Empty);
    }
    if !value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err(DnsLabelError::Characters);
    }
    if value.len() > 63 {
        return Err(DnsLabelError::TooLong);
    }
    if value.starts_with('-') || value.ends_with('-') {
        return Err(DnsLabelError::Edges);
    }
    Ok(())
}

/// Why a value is not a DNS-1123 subdomain (the name of a Deployment, a VirtualService, most objects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DnsSubdomainError {
    #[error("it is empty")]
    Empty,
    #[error("it is longer than 253 characters")]
    TooLong,
    #[error("use only lower-case letters, digits, '-' and '.'")]
    Characters,
    #[error("each part between dots must start and end with a letter or digit")]
    Edges,
}

/// Checks a Kubernetes DNS-1123 subdomain: DNS-1123 labels joined by dots, at most 253 characters in all.
pub fn check_dns_subdomain(value: &str) -> Result<(), DnsSubdomainError> {
    if value.is_empty() {
        return Err(DnsSubdomainError::Empty);
    }
    if !value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.') {
        return Err(DnsSubdomainError::Characters);
    }
    if value.len() > 253 {
        return Err(DnsSubdomainError::TooLong);
    }
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !value.split('.').all(|part| edge(part.chars().next()) && edge(part.chars().last())) {
        return Err(DnsSubdomainError::Edges);
    }
    Ok(())
}

/// Why a value is not a Kubernetes label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LabelValueError {
    #[error("it is longer than 63 characters")]
    TooLong,
    #[error("use only letters, digits, '-', '_' and '.'")]
    Characters,
    #[error("it must start and end with a letter or digit")]
    Edges,
}

/// Checks a Kubernetes label value: empty, or at most 63 alphanumerics, '-', '_' and '.', starting and ending
/// alphanumeric.
pub fn check_label_value(value: &str) -> Result<(), LabelValueError> {
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(LabelValueError::Characters);
    }
    if value.len() > 63 {
        return Err(LabelValueError::TooLong);
    }
    let edge = |c: Option<char>| c.is_none_or(|c| c.is_ascii_alphanumeric());
    if !edge(value.chars().next()) || !edge(value.chars().last()) {
        return Err(LabelValueError::Edges);
    }
    Ok(())
}

/// kustomize reads a selector's `name` and `namespace` as an anchored regular expression: this one matches exactly
/// `name` (a `.` in `reviews.v2` would match any character).
pub fn exact_name_pattern(name: &str) -> String {
    let mut pattern = String::with_capacity(name.len());
    for c in name.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern
}

/// A selector pattern matching exactly one of `names`.
pub fn any_of<S: AsRef<str>>(names: &[S]) -> String {
    names.iter().map(|name| exact_name_pattern(name.as_ref())).collect::<Vec<_>>().join("|")
}

/// Why `id` is not an ACK cluster ID as ASM knows clusters: `c` and 32 lowercase hexadecimal digits
/// (`c75918e3f2d4a4b3c8e1a0f5d6b7c8d9e`; ACK's DescribeClustersV1 and the ASM console show them).
pub fn check_ack_cluster_id(id: &str) -> Result<(), &'static str> {
    let hex = id.strip_prefix('c').filter(|hex| hex.len() == 32);
    if hex.is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))) {
        Ok(())
    } else {
        Err("is not an ACK cluster ID: ASM knows clusters by IDs like c75918e3f2d4a4b3c8e1a0f5d6b7c8d9e (`c` and 32 \
             lowercase hexadecimal digits); find it in the ASM console (the instance's Cluster & Workload Management \
             page) or with `aliyun cs GET /api/v1/clusters`")
    }
}

/// Where ASM creates the Deployment and Service of every IstioGateway.
pub const ASM_GATEWAY_NAMESPACE: &str = "istio-system";

/// The name of the Deployment and of the Service ASM creates for the IstioGateway `gateway` (ASM's gateway
/// documentation): `istio-<gateway>`. Its pods carry `istio: <gateway>` and `app: istio-<gateway>`.
pub fn asm_gateway_workload(gateway: &str) -> String {
    format!("istio-{gateway}")
}

/// The API groups of Istio's config: what is imported into ASM (issue 9). `extensions.istio.io` (WasmPlugin) and
/// `install.istio.io` (IstioOperator) are not config of the mesh's traffic, security or telemetry.
pub const ISTIO_API_GROUPS: [&str; 3] = ["networking.istio.io", "security.istio.io", "telemetry.istio.io"];

/// Whether `group` is one of Istio's config API groups.
pub fn is_istio_api_group(group: &str) -> bool {
    ISTIO_API_GROUPS.contains(&group)
}

/// A DNS-1123 label made of `text`: lowercase, other characters as `-`, at most 63 characters.
pub fn dns_label(text: &str) -> String {
    let mut label: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    label.truncate(63);
    let label = label.trim_end_matches('-').to_owned();
    if label.is_empty() {
        "migration".to_owned()
    } else {
        label
    }
}

/// Names unique among `taken`: `name`, else `name-2`, `name-3`...
pub fn unique_name(name: &str, taken: &std::collections::BTreeMap<String, usize>) -> String {
    if !taken.contains_key(name) {
        return name.to_owned();
    }
    (2..)
        .map(|n| dns_label(&format!("{name}-{n}")))
        .find(|candidate| !taken.contains_key(candidate))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_labels() {
        assert_eq!(dns_label("Shop_GitOps.repo"), "shop-gitops-repo");
        assert_eq!(dns_label("--"), "migration");
        assert_eq!(dns_label(&"a".repeat(70)).len(), 63);
        let taken = std::collections::BTreeMap::from([("hz".to_owned(), 0), ("hz-2".to_owned(), 1)]);
        assert_eq!(unique_name("hz", &taken), "hz-3");
        assert_eq!(unique_name("sh", &taken), "sh");
    }

    #[test]
    fn names_follow_kubernetes_rules() {
        assert_eq!(check_dns_subdomain("reviews.v2"), Ok(()));
        assert_eq!(check_dns_subdomain("reviews..v2"), Err(DnsSubdomainError::Edges));
        assert_eq!(check_dns_subdomain("api\n---"), Err(DnsSubdomainError::Characters));
        assert_eq!(check_label_value("Network_1.a"), Ok(()));
        assert_eq!(check_label_value(""), Ok(()));
        assert_eq!(check_label_value("net\nwork"), Err(LabelValueError::Characters));
        assert_eq!(check_label_value("-net"), Err(LabelValueError::Edges));
        assert_eq!(check_label_value(&"n".repeat(64)), Err(LabelValueError::TooLong));
        assert_eq!(exact_name_pattern("reviews.v2"), "reviews\\.v2");
    }
}

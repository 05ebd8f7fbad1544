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
    if value.len() > 63 {
        return Err(DnsLabelError::TooLong);
    }
    if !value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err(DnsLabelError::Characters);
    }
    if value.starts_with('-') || value.ends_with('-') {
        return Err(DnsLabelError::Edges);
    }
    Ok(())
}

//! Workloads as the migration addresses them: `[Kind/]namespace/name` of a Deployment, StatefulSet or DaemonSet.

use std::fmt;
use std::rc::Rc;

use crate::core::names::{check_dns_label, check_dns_subdomain, DnsLabelError, DnsSubdomainError};
use crate::core::yaml::quoted;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

impl WorkloadKind {
    pub const ALL: [WorkloadKind; 3] = [WorkloadKind::Deployment, WorkloadKind::StatefulSet, WorkloadKind::DaemonSet];

    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
        }
    }

    pub fn parse(name: &str) -> Option<WorkloadKind> {
        WorkloadKind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// A workload: in the plan, in the repository, in a cluster's pods and rollouts alike.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct WorkloadRef {
    pub kind: WorkloadKind,
    /// Shared, not copied: a fleet's clusters and every step's desired sets hold the same names many times over.
    pub namespace: Rc<str>,
    pub name: Rc<str>,
}

/// Why `[Kind/]namespace/name` as written does not name a workload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkloadRefError {
    #[error("has kind `{0}`: expected Deployment, StatefulSet or DaemonSet")]
    Kind(String),
    #[error("must be written [Kind/]namespace/name")]
    Shape,
    #[error("has namespace `{namespace}` that is not a DNS-1123 label: {reason}")]
    Namespace { namespace: String, reason: DnsLabelError },
    #[error("has name `{name}` that is not a DNS-1123 subdomain: {reason}")]
    Name { name: String, reason: DnsSubdomainError },
}

impl WorkloadRef {
    pub fn new(kind: WorkloadKind, namespace: &str, name: &str) -> WorkloadRef {
        WorkloadRef { kind, namespace: namespace.into(), name: name.into() }
    }

    /// Parses `[Kind/]namespace/name`; the kind defaults to Deployment.
    pub fn parse(text: &str) -> Result<WorkloadRef, WorkloadRefError> {
        let parts: Vec<&str> = text.split('/').collect();
        let (kind, namespace, name) = match parts.as_slice() {
            [namespace, name] => (WorkloadKind::Deployment, *namespace, *name),
            [kind, namespace, name] => match WorkloadKind::parse(kind) {
                Some(kind) => (kind, *namespace, *name),
                None => return Err(WorkloadRefError::Kind(quoted(kind))),
            },
            _ => return Err(WorkloadRefError::Shape),
        };
        check_dns_label(namespace)
            .map_err(|reason| WorkloadRefError::Namespace { namespace: quoted(namespace), reason })?;
        check_dns_subdomain(name).map_err(|reason| WorkloadRefError::Name { name: quoted(name), reason })?;
        Ok(WorkloadRef::new(kind, namespace, name))
    }
}

impl fmt::Display for WorkloadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.kind.name(), self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_defaults_to_deployment() {
        assert_eq!(WorkloadRef::parse("payments/api").unwrap().to_string(), "Deployment/payments/api");
        assert_eq!(WorkloadRef::parse("StatefulSet/payments/ledger").unwrap().kind, WorkloadKind::StatefulSet);
        assert_eq!(
            WorkloadRef::parse("Pod/a/b").unwrap_err().to_string(),
            "has kind `Pod`: expected Deployment, StatefulSet or DaemonSet"
        );
        assert_eq!(WorkloadRef::parse("a").unwrap_err(), WorkloadRefError::Shape);
    }
}

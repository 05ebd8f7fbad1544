//! `ingress/<name>`: ASM's ingress gateway, created beside Istio's until traffic has moved.

use super::Desired;

pub fn add(name: &str, desired: &mut Desired) {
    desired.ingress.insert(name.to_owned());
}

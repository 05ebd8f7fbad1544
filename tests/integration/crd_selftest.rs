//! Self-test of the Istio CRD schema validator the other tests rely on.

use crate::crd::IstioSchemas;
use std::path::Path;

fn errors_of(schemas: &IstioSchemas, yaml: &str) -> Vec<String> {
    match schemas.validate_stream(yaml) {
        Ok(n) => panic!("expected validation errors, but {n} object(s) validated"),
        Err(errors) => errors,
    }
}

#[test]
fn real_world_istio_samples_validate() {
    let schemas = IstioSchemas::load();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/third-party/istio");
    let mut total = 0;
    for dir in ["bookinfo", "egress"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            match schemas.validate_stream(&text) {
                Ok(n) => total += n,
                Err(errors) => panic!("{} does not validate:\n{}", file.display(), errors.join("\n")),
            }
        }
    }
    assert!(total > 0, "no Istio objects were checked");
}

#[test]
fn unknown_field_is_rejected() {
    let yaml = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews]
  http:
  - bogus: true
    route:
    - destination: {host: reviews}
"#;
    let errors = errors_of(&IstioSchemas::load(), yaml);
    assert!(errors.iter().any(|e| e.contains("bogus") && e.contains("/spec/http/0")), "{errors:?}");
    assert!(errors[0].starts_with("VirtualService/bookinfo/reviews"), "{errors:?}");
}

#[test]
fn string_weight_is_rejected() {
    let yaml = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: "ten"
"#;
    let errors = errors_of(&IstioSchemas::load(), yaml);
    assert!(errors.iter().any(|e| e.contains("/spec/http/0/route/0/weight")), "{errors:?}");
}

#[test]
fn unserved_version_is_rejected() {
    let yaml = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: skipped}
---
apiVersion: networking.istio.io/v9
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
"#;
    let errors = errors_of(&IstioSchemas::load(), yaml);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("Gateway/istio-system/gw") && errors[0].contains("v9"), "{errors:?}");
}

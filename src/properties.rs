//! Issue 10, point 4: properties of the migration over generated input, with the repository in memory (proptest),
//! each step prepared as `apply` prepares it.
//!
//! - Rendering is deterministic (two loads of the same files render the same bytes) and idempotent (a step taken
//!   renders no change when taken again).
//! - Over any sequence of `apply --force` of the plan's steps, `desiredState` never goes back, and every mesh route
//!   of every egress VirtualService, patched as kustomize patches it, has weights that sum to 100.
//! - A random byte mutation of a valid plan, or of `state.yaml`, is read as `validate` and `apply` read it: it is
//!   valid or it is an error (exit 2), never a panic.
//!
//! CI runs a short campaign. `PROPTEST_CASES=100000 cargo test --release properties::a_mutated` is the long one
//! (README, "Development"); a failure prints the smallest input proptest found.

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

use crate::core::step_id::Phase;
use crate::testkit::{MemoryRepo, PLAN};

const STATE: &str = "gitops/asm-migration/state.yaml";
const ASM_RESOURCE: &str = "gitops/asm-migration/asm/asmmigratefromistio.yaml";

/// The shop example, in memory.
fn shop() -> MemoryRepo {
    MemoryRepo::read_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/repos/shop")).unwrap()
}

/// What the properties ask of a repository besides the test kit.
trait Properties {
    fn desired_state(&self) -> Option<Phase>;
    fn patched_virtual_services(&self) -> Vec<(String, Value)>;
    fn virtual_service(&self, namespace: &str, name: &str) -> Option<Value>;
}

impl Properties for MemoryRepo {
    fn desired_state(&self) -> Option<Phase> {
        let resource: Value = crate::core::yaml::document(self.0.get(ASM_RESOURCE)?).ok()?;
        let name = resource.pointer("/spec/desiredState")?.as_str()?;
        Phase::ALL.into_iter().find(|phase| phase.name() == name)
    }

    /// Every egress VirtualService of every cluster, patched as the cluster's component patches it.
    fn patched_virtual_services(&self) -> Vec<(String, Value)> {
        let mut found = Vec::new();
        for (path, text) in self.0.iter().filter(|(path, _)| path.starts_with("gitops/asm-migration/clusters/")) {
            if !path.ends_with("/kustomization.yaml") {
                continue;
            }
            let component: Value = crate::core::yaml::document(text).expect("the component parses");
            let dir = path.trim_end_matches("/kustomization.yaml");
            for patch in component.get("patches").and_then(Value::as_array).into_iter().flatten() {
                if patch.pointer("/target/kind").and_then(Value::as_str) != Some("VirtualService") {
                    continue;
                }
                let file = format!("{dir}/{}", patch["path"].as_str().expect("a patch file"));
                let operations: Vec<Value> = crate::core::yaml::document(&self.0[&file]).expect("the patch parses");
                let exact = |field: &str| {
                    let pattern = patch.pointer(&format!("/target/{field}")).and_then(Value::as_str).unwrap_or("");
                    pattern.trim_start_matches('^').trim_end_matches('$').replace("\\.", ".")
                };
                let (namespace, name) = (exact("namespace"), exact("name"));
                let mut target = self.virtual_service(&namespace, &name).unwrap_or_else(|| {
                    panic!("{file} patches VirtualService {namespace}/{name}, which the repository does not hold")
                });
                crate::core::json_patch::apply(&mut target, &operations).unwrap_or_else(|why| panic!("{file}: {why}"));
                found.push((file, target));
            }
        }
        found
    }

    fn virtual_service(&self, namespace: &str, name: &str) -> Option<Value> {
        self.0.iter().filter(|(path, _)| path.starts_with("apps/")).find_map(|(_, text)| {
            let documents: Vec<Value> = crate::core::yaml::documents(text).ok()?;
            documents.into_iter().find(|document| {
                document["kind"] == "VirtualService"
                    && document.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
                    && document.pointer("/metadata/namespace").and_then(Value::as_str) == Some(namespace)
            })
        })
    }
}

/// The short campaign's number of cases, unless `PROPTEST_CASES` asks for another.
fn config(short: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(short);
    Config { cases, failure_persistence: None, ..Config::default() }
}

#[test]
fn over_any_sequence_of_steps_rendering_is_deterministic_idempotent_forward_and_weights_sum_to_100() {
    let shop = shop();
    let steps = shop.plan().unwrap().steps;
    let sequences = proptest::collection::vec(0..steps.len(), 1..10);
    TestRunner::new(config(24))
        .run(&sequences, |picks| {
            let mut files = shop.clone();
            let mut phase = None;
            for pick in picks {
                let step = &steps[pick];
                let Ok(changes) = files.rendered(step) else { continue };
                // Deterministic: the same files, loaded again, render the same bytes.
                prop_assert_eq!(&files.rendered(step), &Ok(changes.clone()), "{} rendered twice", step);
                files = files.with(&changes);
                // Idempotent: taken again, nothing to change.
                prop_assert_eq!(files.rendered(step), Ok(Vec::new()), "{} taken twice", step);
                let now = files.desired_state();
                prop_assert!(now.is_some(), "{step}: {ASM_RESOURCE} holds a desiredState");
                prop_assert!(now >= phase, "{step}: desiredState went back from {phase:?} to {now:?}");
                phase = now;
                for (file, virtual_service) in files.patched_virtual_services() {
                    for (index, rule) in virtual_service["spec"]["http"].as_array().into_iter().flatten().enumerate() {
                        let routes = rule["route"].as_array().cloned().unwrap_or_default();
                        let weights: Vec<u64> = routes
                            .iter()
                            .map(|route| route.get("weight").and_then(Value::as_u64).unwrap_or(100))
                            .collect();
                        let total: u64 = match routes.len() {
                            1 => weights[0],
                            _ => weights.iter().sum(),
                        };
                        prop_assert_eq!(total, 100, "{}: {}: http[{}] weights {:?}", step, file, index, weights);
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}

/// A byte changed, inserted or removed at a position.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, u8),
    Insert(usize, u8),
    Remove(usize),
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let one = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Replace(at, byte)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        any::<usize>().prop_map(Mutation::Remove),
        // The bytes YAML gives meaning to, more often than chance would.
        (any::<usize>(), proptest::sample::select(b":-[]{}&*!|>'\"#%@` \t\n\r,?".to_vec()))
            .prop_map(|(at, byte)| Mutation::Insert(at, byte)),
    ];
    proptest::collection::vec(one, 1..4)
}

fn mutated(text: &str, mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for mutation in mutations {
        let len = bytes.len().max(1);
        match *mutation {
            Mutation::Replace(at, byte) if !bytes.is_empty() => bytes[at % len] = byte,
            Mutation::Insert(at, byte) => bytes.insert(at % (bytes.len() + 1), byte),
            Mutation::Remove(at) if !bytes.is_empty() => drop(bytes.remove(at % len)),
            _ => {}
        }
    }
    bytes
}

#[test]
fn a_mutated_plan_or_state_is_valid_or_an_error_never_a_panic() {
    let shop = shop();
    let steps = shop.plan().unwrap().steps;
    // The state after `migrating`: the mutations meet a state with a step, confirmations and a stamp.
    let mut at_migrating = shop.clone();
    for step in &steps[..3] {
        at_migrating = at_migrating.with(&at_migrating.rendered(step).unwrap());
    }
    let next = steps[3].clone();
    let cases = (any::<bool>(), mutations());
    TestRunner::new(config(400))
        .run(&cases, |(in_state, mutations)| {
            let (files, path) = match in_state {
                true => (&at_migrating, STATE),
                false => (&shop, PLAN),
            };
            // Not UTF-8: refused when the file is read (the plan-not-utf8 and file-not-utf8 messages).
            let Ok(text) = String::from_utf8(mutated(&files.0[path], &mutations)) else { return Ok(()) };
            let mut files = files.clone();
            files.0.insert(path.to_owned(), text);
            // Validated, then the next step rendered from it: each is an answer or an error, and a panic fails.
            if files.migration().is_ok() {
                let _ = files.rendered(&next);
            }
            Ok(())
        })
        .unwrap();
}

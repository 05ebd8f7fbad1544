//! RFC 6902 operations (test, add, replace, remove) applied to a JSON value, as kustomize applies a JSON patch.

use serde_json::Value;

/// Why an operation cannot be applied: the operation, its path and the reason in a word or two.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op} {path}: {reason}")]
pub struct PatchError {
    pub op: String,
    pub path: String,
    pub reason: &'static str,
}

/// `target` with every operation applied in turn; the first that cannot be applied stops it.
pub fn apply(target: &mut Value, operations: &[Value]) -> Result<(), PatchError> {
    operations.iter().try_for_each(|operation| apply_operation(target, operation))
}

fn apply_operation(target: &mut Value, operation: &Value) -> Result<(), PatchError> {
    let op = operation["op"].as_str().unwrap_or_default();
    let path = operation["path"].as_str().unwrap_or_default();
    let failed = |reason| PatchError { op: op.to_owned(), path: path.to_owned(), reason };
    let (parent, last) = path.rsplit_once('/').ok_or_else(|| failed("not a JSON pointer"))?;
    let last = last.replace("~1", "/").replace("~0", "~");
    let value = || operation.get("value").cloned().ok_or_else(|| failed("no value"));
    match op {
        "test" => match target.pointer(path) == operation.get("value") {
            true => Ok(()),
            false => Err(failed("the value differs")),
        },
        "add" | "replace" | "remove" => {
            let container = target.pointer_mut(parent).ok_or_else(|| failed("no parent"))?;
            match container {
                Value::Array(items) => {
                    let index = match last.as_str() {
                        "-" => items.len(),
                        index => index.parse().map_err(|_| failed("not an index"))?,
                    };
                    match op {
                        "add" if index <= items.len() => items.insert(index, value()?),
                        "replace" if index < items.len() => items[index] = value()?,
                        "remove" if index < items.len() => drop(items.remove(index)),
                        _ => return Err(failed("index out of range")),
                    }
                }
                Value::Object(fields) => match op {
                    "remove" => drop(fields.shift_remove(&last).ok_or_else(|| failed("absent"))?),
                    "replace" if !fields.contains_key(&last) => return Err(failed("absent")),
                    _ => drop(fields.insert(last, value()?)),
                },
                _ => return Err(failed("the parent is a scalar")),
            }
            Ok(())
        }
        _ => Err(failed("unknown operation")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operations_apply_in_turn_and_a_failed_test_stops_them() {
        let mut route = json!({"route": [{"destination": {"host": "a"}}]});
        apply(
            &mut route,
            &[
                json!({"op": "test", "path": "/route/0/destination/host", "value": "a"}),
                json!({"op": "add", "path": "/route/0/weight", "value": 90}),
                json!({"op": "add", "path": "/route/1", "value": {"destination": {"host": "b"}, "weight": 10}}),
            ],
        )
        .unwrap();
        assert_eq!(
            route,
            json!({"route": [{"destination": {"host": "a"}, "weight": 90}, {"destination": {"host": "b"}, "weight": 10}]})
        );
        let failed = apply(&mut route, &[json!({"op": "test", "path": "/route/0/destination/host", "value": "b"})]);
        assert_eq!(failed.unwrap_err().to_string(), "test /route/0/destination/host: the value differs");
        let absent = apply(&mut route, &[json!({"op": "replace", "path": "/timeout", "value": "5s"})]);
        assert_eq!(absent.unwrap_err().reason, "absent");
    }
}

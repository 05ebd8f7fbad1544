//! Reading Kubernetes objects held as JSON values.

use serde_json::Value;

/// The string at `path` (object keys) of `value`, if there is one.
pub fn str_at<'v>(value: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter().try_fold(value, |value, key| value.get(key)).and_then(Value::as_str)
}

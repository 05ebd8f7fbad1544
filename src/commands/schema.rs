//! `schema`: the JSON Schema of the plan file, for editors and CI linting.

use std::io::Write;
use std::sync::LazyLock;

use crate::core::plan_reference::{stitch_reference, stitch_schema};
use crate::core::steps;

/// What the plan's schema says besides the kinds' sections (`schema/plan.schema.json` is the stitch).
const SCHEMA_BASE: &str = include_str!("../../schema/plan.base.json");
/// What the plan's reference page says besides the kinds' parts (`docs/plan.md` is the stitch).
const REFERENCE_BASE: &str = include_str!("../../docs/plan.base.md");

/// The plan's JSON Schema, published as `schema/plan.schema.json`.
pub static PLAN_SCHEMA: LazyLock<String> = LazyLock::new(|| stitch_schema(SCHEMA_BASE, &steps::references()));

/// The plan's reference page, published as `docs/plan.md`.
pub fn plan_reference() -> String {
    stitch_reference(REFERENCE_BASE, &steps::references())
}

pub fn run(out: &mut dyn Write) -> anyhow::Result<i32> {
    out.write_all(PLAN_SCHEMA.as_bytes())?;
    Ok(0)
}

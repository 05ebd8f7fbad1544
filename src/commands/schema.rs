//! `schema`: the JSON Schema of the plan file, for editors and CI linting.

use std::io::Write;

pub const PLAN_SCHEMA: &str = include_str!("../../schema/plan.schema.json");

pub fn run(out: &mut dyn Write) -> anyhow::Result<i32> {
    out.write_all(PLAN_SCHEMA.as_bytes())?;
    Ok(0)
}

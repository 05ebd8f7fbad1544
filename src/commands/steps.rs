//! `steps`: the plan's steps in order, the current one marked.

use std::io::Write;

use crate::adapters::load::load_state;
use crate::adapters::workspace::Workspace;
use crate::commands::{fresh_stamp, Workplace};
use crate::core::migration::Migration;
use crate::output::{json, table, OutputFormat};

pub fn run(workplace: &Workplace, format: OutputFormat, out: &mut dyn Write) -> anyhow::Result<i32> {
    let plan = workplace.read_plan()?;
    // The steps need the state alone.
    let repository = load_state(&Workspace::new(&workplace.root()), &plan);
    let migration = Migration::new(plan, repository, fresh_stamp(None))?;
    let current = migration.current_step();
    match format {
        OutputFormat::Table => write!(out, "{}", table::steps(&migration.plan, current))?,
        OutputFormat::Json => json::print(out, json::steps(&migration.plan, current))?,
    }
    Ok(0)
}

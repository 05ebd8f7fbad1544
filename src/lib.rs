//! asm-migrate as a library: the pure core, its adapters and commands, so a step kind's tests run in-process and the
//! binary (`main.rs`) is only the command line's dispatch.

pub mod adapters;
pub mod cli;
pub mod commands;
pub mod core;
pub mod output;
#[cfg(test)]
mod properties;
pub mod testkit;

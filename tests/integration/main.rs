//! Integration tests: the real binary against real git repositories in temporary directories.

mod architecture;
mod asm;
mod cli;
mod commands;
mod crd;
mod crd_selftest;
mod demo;
mod fake;
mod gates;
mod gitflow;
mod golden;
mod helm;
mod hostile;
mod import;
mod init;
mod machine;
mod messages;
mod plan_doc;
mod plan_errors;
mod rerun;
mod review;
mod safety;
mod support;
mod transformers;
mod walk;
mod write_path;

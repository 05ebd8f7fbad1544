//! `man`: the manual pages (roff), generated from the same definitions clap parses with.

use std::io::Write;
use std::path::Path;

/// Prints asm-migrate(1) from `command` (the command line, as clap parses it); with `dir`, writes it and a page per
/// command (asm-migrate-status(1), ...) there.
pub fn run(command: clap::Command, dir: Option<&Path>, out: &mut dyn Write) -> anyhow::Result<i32> {
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|error| anyhow::anyhow!("{}: {error}", dir.display()))?;
            clap_mangen::generate_to(command, dir).map_err(|error| anyhow::anyhow!("{}: {error}", dir.display()))?;
            writeln!(out, "wrote the manual pages into {} (man -l {}/asm-migrate.1)", dir.display(), dir.display())?;
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command).render(&mut page)?;
            out.write_all(&page)?;
        }
    }
    Ok(0)
}

//! `completion <shell>`: the shell completion script, generated from the same definitions clap parses with.

use std::io::Write;

use clap_complete::Shell;

/// Prints the completion script of `command` (the command line, as clap parses it) for `shell`.
pub fn run(mut command: clap::Command, shell: Shell, out: &mut dyn Write) -> anyhow::Result<i32> {
    let name = command.get_name().to_owned();
    // Generated in memory: clap_complete panics on a failed write, which a closed pipe would be.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, name.clone(), &mut script);
    if shell == Shell::Bash {
        script = bash_arms_as_the_loop_spells_them(&script, &name);
    }
    out.write_all(&script)?;
    Ok(0)
}

/// clap_complete's bash script reaches the state `asm__migrate__subcmd__apply` but spells its case arm
/// `asm__subcmd__migrate__subcmd__apply` for a name with a hyphen, so no subcommand's flags ever complete
/// (clap-rs/clap#6421, open for clap_complete 4.6.11). The arms are respelled the way the loop spells the state.
fn bash_arms_as_the_loop_spells_them(script: &[u8], name: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(script);
    let loop_spelling = name.replace('-', "__");
    let arm_spelling = name.replace('-', "__subcmd__");
    text.replace(&format!("{arm_spelling}__subcmd__"), &format!("{loop_spelling}__subcmd__")).into_bytes()
}

//! Whether output is coloured, decided as git and ripgrep decide it: `--color`, then `NO_COLOR`, `CLICOLOR_FORCE`
//! and `CLICOLOR`, then whether the stream is a terminal; and the few styles the tool paints with.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::sync::OnceLock;

/// `--color`: when to colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    // On a terminal, unless NO_COLOR is set (or CLICOLOR=0); also when piped if CLICOLOR_FORCE is set.
    #[default]
    Auto,
    // Always, also into a pipe or a file.
    Always,
    Never,
}

/// The choice the command line made, set once at the start.
static CHOICE: OnceLock<ColorChoice> = OnceLock::new();

pub fn choose(choice: ColorChoice) {
    let _ = CHOICE.set(choice);
}

/// What the environment says about colour, read once per decision.
#[derive(Debug, Clone, Default)]
pub struct ColourEnvironment {
    pub no_color: Option<OsString>,
    pub clicolor_force: Option<OsString>,
    pub clicolor: Option<OsString>,
}

impl ColourEnvironment {
    pub fn read() -> ColourEnvironment {
        ColourEnvironment {
            no_color: std::env::var_os("NO_COLOR"),
            clicolor_force: std::env::var_os("CLICOLOR_FORCE"),
            clicolor: std::env::var_os("CLICOLOR"),
        }
    }
}

/// Whether to colour a stream. `--color always|never` wins; under `auto`, a non-empty NO_COLOR turns colour off
/// (no-color.org), a CLICOLOR_FORCE other than empty or `0` turns it on even into a pipe, CLICOLOR=0 turns it off
/// on a terminal (bixense.com/clicolors), and otherwise a terminal is coloured.
pub fn decide(choice: ColorChoice, environment: &ColourEnvironment, terminal: bool) -> bool {
    let set = |value: &Option<OsString>| value.as_ref().is_some_and(|value| !value.is_empty() && value != "0");
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto if environment.no_color.as_ref().is_some_and(|value| !value.is_empty()) => false,
        ColorChoice::Auto if set(&environment.clicolor_force) => true,
        ColorChoice::Auto if environment.clicolor.as_ref().is_some_and(|value| value == "0") => false,
        ColorChoice::Auto => terminal,
    }
}

fn choice() -> ColorChoice {
    CHOICE.get().copied().unwrap_or_default()
}

/// Whether stdout gets colour.
pub fn stdout() -> bool {
    decide(choice(), &ColourEnvironment::read(), std::io::stdout().is_terminal())
}

/// Whether stderr gets colour.
pub fn stderr() -> bool {
    decide(choice(), &ColourEnvironment::read(), std::io::stderr().is_terminal())
}

/// The styles the tool paints with, as ANSI SGR codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Red,
    Green,
    Yellow,
    Cyan,
    Bold,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Red => "1;31",
            Style::Green => "32",
            Style::Yellow => "33",
            Style::Cyan => "36",
            Style::Bold => "1",
        }
    }
}

/// `text` in `style` when `enabled`, else as it is.
pub fn paint(text: &str, style: Style, enabled: bool) -> String {
    match enabled {
        true => format!("\x1b[{}m{text}\x1b[0m", style.code()),
        false => text.to_owned(),
    }
}

/// Messages for stderr with their `error:`, `warning:`, `note:` and `help:` words coloured at line starts.
pub fn messages(text: &str, enabled: bool) -> String {
    if !enabled {
        return text.to_owned();
    }
    const WORDS: [(&str, Style); 4] =
        [("error:", Style::Red), ("warning:", Style::Yellow), ("note:", Style::Cyan), ("help:", Style::Bold)];
    text.split_inclusive('\n')
        .map(|line| match WORDS.iter().find(|(word, _)| line.starts_with(word)) {
            Some((word, style)) => format!("{}{}", paint(word, *style, true), &line[word.len()..]),
            None => line.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(no_color: Option<&str>, force: Option<&str>, clicolor: Option<&str>) -> ColourEnvironment {
        ColourEnvironment {
            no_color: no_color.map(Into::into),
            clicolor_force: force.map(Into::into),
            clicolor: clicolor.map(Into::into),
        }
    }

    #[test]
    fn colour_is_decided_as_git_and_ripgrep_decide_it() {
        let plain = environment(None, None, None);
        assert!(decide(ColorChoice::Auto, &plain, true), "a terminal is coloured");
        assert!(!decide(ColorChoice::Auto, &plain, false), "a pipe is not");
        assert!(decide(ColorChoice::Always, &environment(Some("1"), None, None), false), "--color always wins");
        assert!(!decide(ColorChoice::Never, &environment(None, Some("1"), None), true), "--color never wins");
        assert!(!decide(ColorChoice::Auto, &environment(Some("1"), None, None), true), "NO_COLOR");
        assert!(decide(ColorChoice::Auto, &environment(Some(""), None, None), true), "an empty NO_COLOR is unset");
        assert!(decide(ColorChoice::Auto, &environment(None, Some("1"), None), false), "CLICOLOR_FORCE in a pipe");
        assert!(!decide(ColorChoice::Auto, &environment(None, Some("0"), None), false), "CLICOLOR_FORCE=0 is unset");
        assert!(!decide(ColorChoice::Auto, &environment(Some("1"), Some("1"), None), true), "NO_COLOR beats FORCE");
        assert!(!decide(ColorChoice::Auto, &environment(None, None, Some("0")), true), "CLICOLOR=0");
    }

    #[test]
    fn message_words_are_painted_only_at_line_starts() {
        let text = "error: the plan\n  --> migration.yaml\nhelp: an error: here\n";
        assert_eq!(messages(text, false), text);
        assert_eq!(
            messages(text, true),
            "\x1b[1;31merror:\x1b[0m the plan\n  --> migration.yaml\n\x1b[1mhelp:\x1b[0m an error: here\n"
        );
    }
}

//! The commands that read no mapping: `schema` (the mapping format's JSON Schema) and
//! `completions` (a shell's completion script).

use crate::plan;

/// `schema`: the mapping format's JSON Schema on stdout, or in `--out FILE`.
pub(super) fn schema(out: Option<&std::path::Path>) -> u8 {
    let text = plan::schema::json();
    match out {
        None => {
            super::say(&text);
            super::EXIT_OK
        }
        Some(path) => match std::fs::write(path, text) {
            Ok(()) => super::EXIT_OK,
            Err(e) => {
                super::complain(&format!(
                    "error: cannot write the schema to `{}`: {e}; check that its folder exists and is writable",
                    path.display()
                ));
                super::EXIT_FAILED
            }
        },
    }
}

/// `completions SHELL`: the completion script of the command line, examples included.
pub(super) fn completions(shell: clap_complete::Shell) -> String {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut super::command(), "rowferry", &mut script);
    String::from_utf8_lossy(&script).into_owned()
}

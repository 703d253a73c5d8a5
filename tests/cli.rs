//! The command line's own surface: shell completions, colour, `--json`, help with examples.

use crate::util::{repo, rowferry};

#[test]
fn completions_name_every_command_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let run = rowferry(&repo(), &["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        for command in ["run", "check", "validate", "schema", "completions"] {
            assert!(run.stdout.contains(command), "{shell} lacks {command}");
        }
        assert!(
            run.stdout.contains("dry-run"),
            "{shell} lacks run's options"
        );
    }
    let unknown = rowferry(&repo(), &["completions", "tcsh"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("bash"), "{}", unknown.stderr);
}

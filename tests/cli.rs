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

const ESC: &str = "\x1b[";

fn rejecting() -> crate::util::Job {
    crate::util::Job::new()
        .mapping(
            "[source]\npath = \"in.csv\"\nstructure = \"s\"\n[structures.s.fields]\nid = { type = \"integer\" }\n[targets.t]\npath = \"t.csv\"\npassthrough = true\n",
        )
        .input("in.csv", "id\n1\nx\n")
        .loud()
}

#[test]
fn color_always_styles_the_summary_and_the_diagnostics() {
    let job = rejecting();
    let run = job.run_with("validate", &["--color", "always"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.contains(ESC), "{}", run.stdout);
    assert!(run.stdout.contains("every row accounted for"));
    // `always` wins over NO_COLOR.
    let job = job.env("NO_COLOR", "1");
    assert!(
        job.run_with("validate", &["--color=always"])
            .stdout
            .contains(ESC)
    );

    let bad = crate::util::Job::new().mapping("[source]\npath = \"in.csv\"\ndelimter = \";\"\n");
    let check = bad.run_with("check", &["--color", "always"]);
    assert_eq!(check.code, 2);
    assert!(check.stderr.contains(ESC), "{}", check.stderr);
    assert!(check.stderr.contains("delimter"));
}

#[test]
fn no_color_and_color_never_write_no_escape() {
    let job = rejecting();
    let never = job.run_with("validate", &["--color", "never"]);
    assert!(
        never.stdout.contains("every row accounted for"),
        "{}",
        never.stdout
    );
    assert!(!never.stdout.contains(ESC) && !never.stderr.contains(ESC));
    let job = job.env("NO_COLOR", "1");
    let no_color = job.run("validate");
    assert!(no_color.stdout.contains("every row accounted for"));
    assert!(!no_color.stdout.contains(ESC) && !no_color.stderr.contains(ESC));
    // Not a terminal: `auto` writes none either, and the plain text is what it always was.
    assert_eq!(rejecting().run("validate").stdout, never.stdout);

    let bad = crate::util::Job::new()
        .mapping("[source]\npath = \"in.csv\"\ndelimter = \";\"\n")
        .env("NO_COLOR", "1");
    let check = bad.run("check");
    assert!(check.stderr.contains("delimter") && !check.stderr.contains(ESC));
    let unknown = bad.run_with("check", &["--color", "sometimes"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("always"), "{}", unknown.stderr);
}

#[test]
fn json_prints_the_report_on_stdout_and_nothing_else() {
    let job = rejecting();
    for cmd in ["validate", "run"] {
        let run = job.run_with(cmd, &["--json"]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
        let report = job.report();
        assert_eq!(json["outcome"], "rejected");
        assert_eq!(json["exit_code"], 1);
        assert!(
            json["report_dir"].as_str().unwrap().ends_with("_report"),
            "{json}"
        );
        for part in [
            "command",
            "rows",
            "conservation",
            "issues",
            "targets",
            "status",
        ] {
            assert_eq!(json["report"][part], report[part], "{cmd}: {part}");
        }
        assert_eq!(json["report"]["command"], cmd);
        assert_eq!(json["report"]["rows"]["read"], 2);
        assert_eq!(json["report"]["rows"]["rejected"], 1);
        assert_eq!(
            json["report"]["issues"]["by_code"]["type-mismatch"]["errors"], 1,
            "{json}"
        );
        assert_eq!(json["report"]["conservation"]["holds"], true);
        assert!(!run.stdout.contains("every row accounted for"));
    }
    // With --quiet too; and an error is JSON as well.
    let quiet = job.run_with("validate", &["--json", "--quiet"]);
    let json: serde_json::Value = serde_json::from_str(&quiet.stdout).unwrap();
    assert_eq!(json["exit_code"], 1);
    let broken = crate::util::Job::new().mapping("[source]\npath = \"missing.csv\"\n");
    let failed = broken.run_with("validate", &["--json"]);
    assert_eq!(failed.code, 2);
    let json: serde_json::Value = serde_json::from_str(&failed.stdout).expect("stdout is JSON");
    assert_eq!(json["outcome"], "failed");
    assert_eq!(json["exit_code"], 2);
    assert!(
        json["error"].as_str().unwrap().contains("missing.csv"),
        "{json}"
    );
    assert!(failed.stderr.contains("missing.csv"));
}

/// The commands `rowferry --help` lists (so that a new one is checked too).
fn commands() -> Vec<String> {
    let help = rowferry(&repo(), &["--help"]).stdout;
    let listed = help
        .split("Commands:")
        .nth(1)
        .expect("the help lists commands")
        .split("\n\n")
        .next()
        .unwrap();
    listed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_command_has_an_example_in_its_help() {
    let commands = commands();
    for c in ["run", "check", "validate", "schema", "completions"] {
        assert!(commands.iter().any(|l| l == c), "{c} not in {commands:?}");
    }
    for c in &commands {
        let help = rowferry(&repo(), &["help", c]);
        assert_eq!(help.code, 0, "{c}: {}", help.stderr);
        assert!(
            help.stdout.contains("Example"),
            "`rowferry help {c}` has no example"
        );
        assert!(
            help.stdout.contains(&format!("rowferry {c}")),
            "{c}: {}",
            help.stdout
        );
        assert!(rowferry(&repo(), &[c, "--help"]).stdout.contains("Example"));
    }
    let styled = rowferry(&repo(), &["--color", "always", "help", "run"]);
    assert!(styled.stdout.contains(ESC), "{}", styled.stdout);
    assert!(
        !rowferry(&repo(), &["help", "run", "--color=never"])
            .stdout
            .contains(ESC)
    );
    let top = rowferry(&repo(), &["--help"]);
    assert!(
        top.stdout.contains("Examples:") && top.stdout.contains("--color"),
        "{}",
        top.stdout
    );
}

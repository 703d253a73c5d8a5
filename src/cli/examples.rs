//! The examples at the end of `--help`: one table beside the commands, applied to the parser
//! [`Cli`] derives, so the `Command` enum stays free of them.

use clap::CommandFactory;

use super::Cli;

/// Examples shown at the end of `--help` (the whole program's, then each command's). A
/// command without one fails `tests/cli.rs`.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "",
        "Examples:
  rowferry check mappings/crm-contacts.toml       check a mapping, read no data
  rowferry validate mappings/crm-contacts.toml    every stage, only the report written
  rowferry run mappings/crm-contacts.toml         write the targets
  rowferry help run                               a command's options and an example",
    ),
    (
        "run",
        "Examples:
  rowferry run mappings/crm-contacts.toml
  rowferry run customers.toml --input export-2024-06.csv --out out/june --limit 1000
  rowferry run customers.toml --set run.max_errors=100 --json > summary.json
  rowferry run customers.toml --resume     send the HTTP batches a killed run left pending",
    ),
    (
        "validate",
        "Examples:
  rowferry validate mappings/crm-contacts.toml
  gunzip -c export.csv.gz | rowferry validate customers.toml --input - --json",
    ),
    (
        "check",
        "Examples:
  rowferry check mappings/crm-contacts.toml
  rowferry check customers.toml --set lookups.brands.path=prod/brands.csv",
    ),
    (
        "infer",
        "Examples:
  rowferry infer export.csv                          print a mapping for it
  rowferry infer export.xlsx --sheet Clients --out clients.toml
  rowferry validate clients.toml                     then check its guesses",
    ),
    (
        "preview",
        "Examples:
  rowferry preview mappings/shop-products.toml             the first 10 rows of each target
  rowferry preview customers.toml --rows 3 --input june.csv",
    ),
    (
        "schema",
        "Examples:
  rowferry schema --out rowferry.schema.json
  then start a mapping with `#:schema ./rowferry.schema.json` (Taplo, Even Better TOML)",
    ),
    (
        "completions",
        "Examples:
  rowferry completions bash > ~/.local/share/bash-completion/completions/rowferry
  rowferry completions zsh > ~/.zfunc/_rowferry
  rowferry completions fish > ~/.config/fish/completions/rowferry.fish",
    ),
];

/// The command line as parsed: [`Cli`] with the examples of [`EXAMPLES`].
pub fn command() -> clap::Command {
    EXAMPLES
        .iter()
        .fold(Cli::command(), |cmd, &(name, example)| match name {
            "" => cmd.after_help(example),
            _ => cmd.mut_subcommand(name, |sub| sub.after_help(example)),
        })
}

/// `--color WHEN` or `--color=WHEN` among `args`, before `--`; the last one wins, as in clap.
pub(super) fn color_ahead(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Option<crate::style::ColorChoice> {
    use clap::ValueEnum;
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .take_while(|a| a != "--")
        .collect();
    let mut found = None;
    for (i, arg) in args.iter().enumerate() {
        let value = match arg.strip_prefix("--color") {
            Some("") => args.get(i + 1).map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        if let Some(choice) = value.and_then(|v| crate::style::ColorChoice::from_str(v, false).ok())
        {
            found = Some(choice);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::style::ColorChoice;

    fn ahead(args: &[&str]) -> Option<ColorChoice> {
        color_ahead(args.iter().map(std::ffi::OsString::from))
    }

    #[test]
    fn color_is_read_ahead_of_clap() {
        assert_eq!(ahead(&["rowferry", "--help"]), None);
        assert_eq!(
            ahead(&["rowferry", "--color", "never", "run"]),
            Some(ColorChoice::Never)
        );
        assert_eq!(
            ahead(&["rowferry", "run", "--color=always"]),
            Some(ColorChoice::Always)
        );
        assert_eq!(ahead(&["rowferry", "--color=bad"]), None);
        assert_eq!(ahead(&["rowferry", "--", "--color=always"]), None);
    }
}

//! `rowferry infer`: a mapping for an export, that `check` and `validate` take as it is, with
//! the types a person would pick.

use crate::util::Job;

const EXPORT: &str = "Code client;Nom;E-mail;Solde;Né le;Actif;Pays;Compte;Créé\n\
00012;Ada;ada@example.com;12,50;31/01/1990;oui;FR;1001;2024-01-31 10:00:00\n\
00013;Bob;bob@example.com;-3,00;29/02/1992;non;FR;1002;2024-02-01 11:30:00\n\
00014;Cy;;0,125;15/03/1985;oui;DE;1003;2024-02-02 09:15:00\n";

#[test]
fn an_inferred_mapping_checks_and_validates_as_it_is() {
    // Enough rows for the country to be an enum.
    let mut export = EXPORT.to_string();
    for i in 0..20 {
        export.push_str(&format!(
            "{:05};N{i};n{i}@example.com;1,00;01/01/2000;non;{};{};2024-03-01 08:00:00\n",
            100 + i,
            if i % 2 == 0 { "FR" } else { "DE" },
            2000 + i
        ));
    }
    let job = Job::new().input("clients.csv", export);
    let res = job.exec(&["infer", "clients.csv", "--out", "clients.toml"]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    let mapping = job.read("clients.toml");
    for expected in [
        "path = \"clients.csv\"",
        "delimiter = \";\"",
        "code_client = { column = \"Code client\", type = \"string\", required = true, unique = true }",
        "e_mail = { column = \"E-mail\", type = \"email\" }",
        "solde = { column = \"Solde\", type = \"decimal\", decimal_separator = \",\", scale = 3, required = true }",
        "ne_le = { column = \"Né le\", type = \"date\", format = \"%d/%m/%Y\", required = true }",
        "actif = { column = \"Actif\", type = \"boolean\", true_values = [\"oui\"], false_values = [\"non\"], required = true }",
        "pays = { column = \"Pays\", type = \"string\", required = true, enum = [\"DE\", \"FR\"] }",
        "compte = { column = \"Compte\", type = \"integer\", required = true, unique = true }",
        "cree = { column = \"Créé\", type = \"datetime\", format = \"%Y-%m-%d %H:%M:%S\", required = true }",
        "# 1 empty of 23; 22 distinct",
    ] {
        assert!(mapping.contains(expected), "{expected}:\n{mapping}");
    }
    assert_eq!(job.exec(&["check", "clients.toml"]).code, 0);
    let res = job.exec(&["validate", "clients.toml", "--out", "out", "-q"]);
    assert_eq!(res.code, 0, "every row accepted: {}", res.stderr);
    // An existing file is not overwritten without --force.
    let again = job.exec(&["infer", "clients.csv", "--out", "clients.toml"]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    assert_eq!(
        job.exec(&["infer", "clients.csv", "--out", "clients.toml", "--force"])
            .code,
        0
    );
}

#[test]
fn on_the_shop_sample_only_malformed_records_are_rejected() {
    let job = Job::new();
    let sample = crate::util::repo().join("samples/shop/products.csv");
    let out = job.path().join("m/shop.toml");
    let res = job.exec(&[
        "infer",
        sample.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    let res = job.exec(&["validate", out.to_str().unwrap(), "--out", "out", "-q"]);
    assert!(matches!(res.code, 0 | 1), "{}", res.stderr);
    // Every value fits its inferred type: what is rejected is rejected by the reader.
    for (_, _, code) in res.error_codes() {
        assert!(
            ["ragged-row", "bad-quoting", "bad-encoding"].contains(&code.as_str()),
            "{code}"
        );
    }
}

/// Files nobody here wrote (`../shared/corpus/`, see its README): a Windows-1252 CSV, a
/// UTF-16 CSV and a workbook each give a mapping that checks and validates every row.
#[test]
fn on_corpus_files_the_mapping_checks_and_validates_every_row() {
    let dir = crate::util::repo().join("../shared/corpus");
    if !dir.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "../shared/corpus is absent and CI is set"
        );
        eprintln!("SKIPPED: ../shared/corpus is absent");
        return;
    }
    for (file, expected) in [
        (
            "encodings/rust-csv--uspop-latin1.csv",
            "encoding = \"windows-1252\"",
        ),
        (
            "encodings/csvkit--test_utf16_little.csv",
            "encoding = \"utf-16le\"",
        ),
        ("xlsx/csvkit/dummy.xlsx", "sheet = \"Sheet1\""),
    ] {
        let job = Job::new();
        let export = dir.join(file);
        let res = job.exec(&["infer", export.to_str().unwrap(), "--out", "m.toml"]);
        assert_eq!(res.code, 0, "{file}: {}", res.stderr);
        let mapping = job.read("m.toml");
        assert!(mapping.contains(expected), "{file}: {expected}\n{mapping}");
        assert_eq!(job.exec(&["check", "m.toml"]).code, 0, "{file}:\n{mapping}");
        let res = job.exec(&["validate", "m.toml", "--out", "out", "-q"]);
        assert_eq!(res.code, 0, "{file}: every row accepted: {}", res.stderr);
    }
}

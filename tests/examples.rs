//! Every mapping in `mappings/` runs against `samples/`, so the examples cannot rot.

use std::collections::BTreeSet;

use crate::util::{Project, read_csv, repo, rowferry};

/// Runs `validate` on a shipped mapping, with the report in a scratch folder.
fn validate_example(mapping: &str) -> (crate::util::Run, Project) {
    let p = Project::new();
    let out = p.path().join("out");
    let run = rowferry(
        &repo(),
        &[
            "validate",
            mapping,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
    );
    (run, p)
}

#[test]
fn every_mapping_passes_check() {
    let mut n = 0;
    for entry in std::fs::read_dir(repo().join("mappings")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            n += 1;
            let run = rowferry(&repo(), &["check", path.to_str().unwrap()]);
            assert_eq!(run.code, 0, "{}: {}", path.display(), run.stderr);
            let (run, _) = validate_example(path.to_str().unwrap());
            assert!(
                run.code == 0 || run.code == 1,
                "{} must validate its sample: {}",
                path.display(),
                run.stderr
            );
            let scratch = Project::new();
            let out = scratch.path().join("out");
            let run = rowferry(
                &repo(),
                &[
                    "run",
                    path.to_str().unwrap(),
                    "--out",
                    out.to_str().unwrap(),
                    "--quiet",
                ],
            );
            assert!(
                run.code == 0 || run.code == 1,
                "{} must run on its sample: {}",
                path.display(),
                run.stderr
            );
            assert_eq!(scratch.report()["conservation"]["holds"], true);
        }
    }
    assert!(n >= 1, "mappings/ holds the examples");
}

/// The `(row, line, field, code)` of every issue a shipped example must find.
fn expected_issues(name: &str) -> BTreeSet<(u64, u64, String, String)> {
    std::fs::read_to_string(repo().join("tests/data").join(name))
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (
                c[0].parse().unwrap(),
                c[1].parse().unwrap(),
                c[2].to_string(),
                c[3].to_string(),
            )
        })
        .collect()
}

fn found_issues(p: &Project) -> BTreeSet<(u64, u64, String, String)> {
    p.errors()
        .into_iter()
        .map(|e| {
            (
                e["row"].parse().unwrap(),
                e["line"].parse().unwrap(),
                e["field"].clone(),
                e["code"].clone(),
            )
        })
        .collect()
}

/// `shop-products.toml` finds exactly the defects seeded in the sample, row by row.
#[test]
fn shop_products_finds_exactly_the_seeded_defects() {
    let (run, p) = validate_example("mappings/shop-products.toml");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let expected = expected_issues("shop-products.expected-issues.tsv");
    assert_eq!(found_issues(&p), expected);

    // rejects.csv holds those rows with their original values, in the source dialect.
    let original = csv::ReaderBuilder::new()
        .delimiter(b';')
        .flexible(true)
        .from_path(repo().join("samples/shop/products.csv"))
        .unwrap()
        .into_records()
        .map(|r| r.unwrap())
        .filter(|r| r.iter().any(|f| !f.is_empty()))
        .map(|r| {
            let line = r.position().unwrap().line();
            (line, r.iter().map(str::to_string).collect::<Vec<_>>())
        })
        .collect::<std::collections::BTreeMap<u64, Vec<String>>>();
    let rejects = read_csv(&p.path().join("out/_report/rejects.csv"), b';');
    assert_eq!(rejects.len(), expected.len());
    let header: Vec<&str> = "SKU;Nom du produit;Marque;Couleur;Prix TTC;Prix soldé;Stock;Entrepôt;Date de création;Email fournisseur;Actif"
        .split(';')
        .collect();
    for r in &rejects {
        let line: u64 = r["_line"].parse().unwrap();
        let fields = &original[&line];
        if fields.len() == header.len() {
            for (h, v) in header.iter().zip(fields) {
                assert_eq!(&r[*h], v, "line {line}, column {h}");
            }
        } else {
            assert_eq!(r["_errors"], "ragged-row");
            assert_eq!(r["SKU"], fields[0]);
        }
    }

    let report = p.report();
    assert_eq!(report["rows"]["read"], 302);
    assert_eq!(report["rows"]["skipped"], 2);
    assert_eq!(report["rows"]["accepted"], 282);
    assert_eq!(report["rows"]["rejected"], 18);
    assert_eq!(report["issues"]["by_code"]["type-mismatch"]["errors"], 5);
}

/// `crm-contacts.toml` finds the defects seeded in the CRM export (samples/crm/README.md) and
/// the contacts of the owner who left, and splits the rest by owner.
#[test]
fn crm_contacts_finds_the_seeded_defects_and_splits_by_owner() {
    let (run, p) = validate_example("mappings/crm-contacts.toml");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        found_issues(&p),
        expected_issues("crm-contacts.expected-issues.tsv")
    );
    let report = p.report();
    assert_eq!(report["rows"]["read"], 161);
    assert_eq!(report["rows"]["skipped"], 1);
    assert_eq!(report["rows"]["rejected"], 17);
    assert_eq!(report["rows"]["accepted"], 143);
    assert_eq!(report["issues"]["by_code"]["lookup-miss"]["errors"], 9);

    let out = Project::new();
    let dir = out.path().join("out");
    let run = rowferry(
        &repo(),
        &[
            "run",
            "mappings/crm-contacts.toml",
            "--out",
            dir.to_str().unwrap(),
            "--quiet",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    // Valid rows per owner, from samples/crm/README.md, under the new CRM's user ids.
    for (user, rows) in [
        ("u_8a0798", 43),
        ("u_eb3e26", 31),
        ("u_fc810c", 30),
        ("u_71d3be", 21),
        ("u_bc1844", 18),
    ] {
        let contacts = read_csv(&dir.join(format!("contacts/{user}.csv")), b',');
        assert_eq!(contacts.len(), rows, "{user}");
    }
    let files: Vec<_> = std::fs::read_dir(dir.join("contacts")).unwrap().collect();
    assert_eq!(files.len(), 5, "one file per owner still in the CRM");
}

//! `rowferry preview`: each target's first rows as a table, the counts so far and the first
//! rejects, on the shipped example; nothing written.

use crate::util::Job;

#[test]
fn preview_shows_what_each_target_receives_and_writes_nothing() {
    let job = Job::shipped("mappings/shop-products.toml");
    let res = job.exec(&[
        "preview",
        "mappings/shop-products.toml",
        "--rows",
        "2",
        "--out",
        "out",
    ]);
    assert_eq!(res.code, 0, "{}", res.stderr);
    let out = &res.stdout;
    for target in [
        "catalog → catalog/products.csv (csv)",
        "pricing → pricing/prices.csv (csv)",
        "stock → stock/{warehouse}.csv (csv)",
        "database → shop.db (sqlite)",
    ] {
        assert!(out.contains(target), "{target}: {out}");
    }
    // The catalog's header and exactly two rows, aligned.
    let catalog: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.contains("catalog →"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(catalog[0].trim_start().starts_with("id "), "{catalog:?}");
    assert_eq!(catalog.len(), 4, "header, rule and two rows: {catalog:?}");
    assert!(catalog[2].contains("TSH-8602"), "{catalog:?}");
    assert!(
        out.contains("first rejects") && out.contains("lookup-miss"),
        "{out}"
    );
    assert!(!job.out_dir().exists(), "preview writes nothing");
}

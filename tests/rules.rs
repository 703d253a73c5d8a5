//! Every type and rule, accepting and rejecting, through `rowferry validate`.

use crate::util::{Job, mapping};

/// Runs `fields` over `csv` and returns the `(row, field, code)` errors.
fn errors(fields: &str, csv: &str) -> (i32, Vec<(u64, String, String)>) {
    let p = Job::new().mapping(mapping(fields)).input("data.csv", csv);
    let run = p.run("validate");
    assert!(
        run.code == 0 || run.code == 1,
        "unexpected exit {}: {}",
        run.code,
        run.stderr
    );
    (run.code, p.error_codes())
}

fn e(row: u64, field: &str, code: &str) -> (u64, String, String) {
    (row, field.to_string(), code.to_string())
}

#[test]
fn integer_accepts_whole_numbers_and_rejects_the_rest() {
    let (code, errs) = errors(
        "n = { type = \"integer\" }",
        "n\n12\n-3\n+4\n 7 \n\"3,5\"\n1e3\nabc\n0x10\n\n",
    );
    assert_eq!(code, 1);
    assert_eq!(
        errs,
        vec![
            e(6, "n", "type-mismatch"),
            e(7, "n", "type-mismatch"),
            e(8, "n", "type-mismatch"),
            e(9, "n", "type-mismatch")
        ]
    );
}

#[test]
fn integer_with_thousands_separator() {
    let (_, errs) = errors(
        "n = { type = \"integer\", thousands_separator = \" \" }",
        "n\n1 234 567\n12\n1.234\n",
    );
    assert_eq!(errs, vec![e(4, "n", "type-mismatch")]);
}

#[test]
fn decimal_is_exact_with_separators_and_scale() {
    let (_, errs) = errors(
        "p = { type = \"decimal\", scale = 2, decimal_separator = \",\", thousands_separator = \".\", min = 0, max = \"1000.00\" }",
        "p\n\"0,29\"\n\"1.000,00\"\n\"1.000,01\"\n\"12,505\"\n\"-0,01\"\n\"12,5,0\"\n7\n",
    );
    assert_eq!(
        errs,
        vec![
            e(4, "p", "out-of-range"),
            e(5, "p", "type-mismatch"),
            e(6, "p", "out-of-range"),
            e(7, "p", "type-mismatch")
        ]
    );
}

#[test]
fn separators_are_strict_and_grouping_is_checked() {
    let (_, errs) = errors(
        "p = { type = \"decimal\", scale = 2, decimal_separator = \",\", thousands_separator = \"\\u202f\" }\n\
         n = { type = \"integer\", thousands_separator = \",\" }",
        "p,n\n\"1\u{202f}234,50\",\"1,234\"\n12.50,\"1,2,3\"\n\"1\u{202f}23,00\",123456\n",
    );
    assert_eq!(
        errs,
        vec![
            e(3, "p", "type-mismatch"),
            e(3, "n", "type-mismatch"),
            e(4, "p", "type-mismatch")
        ]
    );
}

#[test]
fn decimal_arithmetic_in_checks_is_exact() {
    let (_, errs) = errors(
        "p = { type = \"decimal\", scale = 2, decimal_separator = \",\" }\n\n\
         [[structures.s.checks]]\nname = \"cents\"\nrule = \"p * 100 = 29\"\n",
        "p\n\"0,29\"\n\"0,30\"\n",
    );
    assert_eq!(errs, vec![e(3, "", "check-failed")]);
}

#[test]
fn number_accepts_floats_and_rejects_words() {
    let (_, errs) = errors(
        "x = { type = \"number\", min = -1.5, max = 1e3 }",
        "x\n1.5\n-1.5\n2e2\n-1.6\n1001\nNaN\ninf\n",
    );
    assert_eq!(
        errs,
        vec![
            e(5, "x", "out-of-range"),
            e(6, "x", "out-of-range"),
            e(7, "x", "type-mismatch"),
            e(8, "x", "type-mismatch")
        ]
    );
}

#[test]
fn boolean_uses_configurable_words_in_any_case() {
    let (_, errs) = errors(
        "b = { type = \"boolean\", true_values = [\"oui\"], false_values = [\"non\"] }",
        "b\noui\nNON\nOui\nyes\nmaybe\n",
    );
    assert_eq!(
        errs,
        vec![e(5, "b", "type-mismatch"), e(6, "b", "type-mismatch")]
    );
    let (_, errs) = errors(
        "b = { type = \"boolean\" }",
        "b\ntrue\nFALSE\n1\n0\nyes\nno\noui\n",
    );
    assert_eq!(errs, vec![e(8, "b", "type-mismatch")]);
}

#[test]
fn date_with_formats_and_calendar_checks() {
    let (_, errs) = errors(
        "d = { type = \"date\", format = \"%d/%m/%Y\", min = \"2020-01-01\" }",
        "d\n29/02/2024\n31/02/2024\n2024-03-01\n31/12/2019\n1/1/2020\n1/3/24\n",
    );
    assert_eq!(
        errs,
        vec![
            e(3, "d", "type-mismatch"),
            e(4, "d", "type-mismatch"),
            e(5, "d", "out-of-range"),
            e(7, "d", "type-mismatch")
        ]
    );
    let (_, errs) = errors(
        "d = { type = \"date\", format = [\"%d/%m/%Y\", \"%Y-%m-%d\"] }",
        "d\n01/03/2024\n2024-03-01\n03-01-2024\n",
    );
    assert_eq!(errs, vec![e(4, "d", "type-mismatch")]);
}

#[test]
fn datetime_default_formats_and_custom_format() {
    let (_, errs) = errors(
        "t = { type = \"datetime\", max = \"2025-01-01T00:00:00\" }",
        "t\n2024-03-01T10:20:30\n2024-03-01 10:20:30\n2024-03-01\n2025-06-01T00:00:00\n2024-13-01T00:00:00\n",
    );
    assert_eq!(
        errs,
        vec![
            e(4, "t", "type-mismatch"),
            e(5, "t", "out-of-range"),
            e(6, "t", "type-mismatch")
        ]
    );
    let (_, errs) = errors(
        "t = { type = \"datetime\", format = \"%d/%m/%Y %H:%M\" }",
        "t\n01/03/2024 10:20\n01/03/2024\n",
    );
    assert_eq!(errs, vec![e(3, "t", "type-mismatch")]);
}

#[test]
fn email_url_uuid() {
    let (_, errs) = errors(
        "m = { type = \"email\" }\nu = { type = \"url\" }\ni = { type = \"uuid\" }",
        "m,u,i\n\
         a@b.fr,https://x.fr/p?q=1,123e4567-e89b-12d3-a456-426614174000\n\
         a.b.fr,x.fr,123e4567e89b12d3a456426614174000\n\
         a@b,ftp://h/f,123E4567-E89B-12D3-A456-426614174000\n",
    );
    assert_eq!(
        errs,
        vec![
            e(3, "m", "type-mismatch"),
            e(3, "u", "type-mismatch"),
            e(3, "i", "type-mismatch"),
            e(4, "m", "type-mismatch")
        ]
    );
}

#[test]
fn required_treats_blank_text_as_missing() {
    let (_, errs) = errors(
        "a = { required = true }\nb = { type = \"integer\", required = true }",
        "a,b\nx,1\n,2\n   ,3\ny,\nz,  \n",
    );
    assert_eq!(
        errs,
        vec![
            e(3, "a", "required-missing"),
            e(4, "a", "required-missing"),
            e(5, "b", "required-missing"),
            e(6, "b", "required-missing")
        ]
    );
}

#[test]
fn pattern_enum_and_lengths() {
    let (_, errs) = errors(
        "sku = { pattern = '^[A-Z]{3}-\\d{4,}$' }\n\
         c = { enum = [\"Rouge\", \"Bleu\"], ignore_case = true }\n\
         s = { enum = [\"A\", \"B\"] }\n\
         t = { min_length = 2, max_length = 4, trim = true }",
        "sku,c,s,t\n\
         ABC-1234,rouge,A,abc\n\
         abc-1234,BLEU,a,  ab  \n\
         ABC-12,Violet,B,a\n\
         ABC-99999,,C,abcde\n\
         ,,,é€àü\n",
    );
    assert_eq!(
        errs,
        vec![
            e(3, "sku", "pattern-mismatch"),
            e(3, "s", "enum-mismatch"),
            e(4, "sku", "pattern-mismatch"),
            e(4, "c", "enum-mismatch"),
            e(4, "t", "length-out-of-range"),
            e(5, "s", "enum-mismatch"),
            e(5, "t", "length-out-of-range"),
        ]
    );
}

#[test]
fn unique_first_occurrence_wins_single_and_composite() {
    let p = Job::new().mapping(
        "[source]\npath = \"data.csv\"\nstructure = \"line\"\n\n\
         [structures.line]\nunique = [[\"order\", \"line\"]]\n\n\
         [structures.line.fields]\nid = { unique = true }\norder = {}\nline = { type = \"integer\" }\n",
    )
    .file(
        "data.csv",
        "id,order,line\nA,O1,1\nB,O1,2\nA,O2,1\nC,O1,01\nD,,1\nE,,1\n",
    );
    let run = p.run("validate");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errs = p.errors();
    let dups: Vec<(&str, &str, &str)> = errs
        .iter()
        .map(|e| {
            (
                e["row"].as_str(),
                e["field"].as_str(),
                e["message"].as_str(),
            )
        })
        .collect();
    assert_eq!(dups.len(), 2, "{dups:?}");
    assert_eq!(dups[0].0, "4");
    assert_eq!(dups[0].1, "id");
    assert!(dups[0].2.contains("row 2"), "{}", dups[0].2);
    // O1/01 is the same key as O1/1 once typed; keys with a missing part are not keys.
    assert_eq!(dups[1].0, "5");
    assert_eq!(dups[1].1, "order");
    assert!(dups[1].2.contains("row 2"), "{}", dups[1].2);
}

#[test]
fn checks_are_sql_predicates_over_typed_fields() {
    let (_, errs) = errors(
        "price = { type = \"decimal\", scale = 2 }\nsale = { type = \"decimal\", scale = 2 }\n\
         kind = {}\nweight = { type = \"number\" }\n\n\
         [[structures.s.checks]]\nname = \"sale_below_price\"\nrule = \"sale IS NULL OR sale <= price\"\nfield = \"sale\"\n\n\
         [[structures.s.checks]]\nname = \"parcels_have_weight\"\nrule = \"NOT (kind = 'parcel' AND weight IS NULL)\"\n",
        "price,sale,kind,weight\n10.00,9.99,parcel,1\n10.00,10.01,letter,\n5,,parcel,\n5,,letter,\n",
    );
    assert_eq!(
        errs,
        vec![e(3, "sale", "check-failed"), e(4, "", "check-failed")]
    );
}

#[test]
fn a_row_gets_every_issue_it_has() {
    let (_, errs) = errors(
        "a = { type = \"integer\", min = 0 }\nb = { required = true }\nc = { pattern = '^x' }",
        "a,b,c\n-1,,y\n",
    );
    assert_eq!(
        errs,
        vec![
            e(2, "a", "out-of-range"),
            e(2, "b", "required-missing"),
            e(2, "c", "pattern-mismatch")
        ]
    );
}

#[test]
fn warnings_keep_the_row() {
    let p = Job::new().mapping(
        mapping("a = { type = \"integer\", severity = \"warning\" }\nb = { pattern = '^x', severity = { pattern = \"warning\" }, required = true }"),
    )
    .file("data.csv", "a,b\nz,y\n1,\n");
    let run = p.run("validate");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        p.warning_codes(),
        vec![e(2, "a", "type-mismatch"), e(2, "b", "pattern-mismatch")]
    );
    assert_eq!(p.error_codes(), vec![e(3, "b", "required-missing")]);
    let report = p.report();
    assert_eq!(report["rows"]["accepted"], 1);
    assert_eq!(report["rows"]["rejected"], 1);
    assert_eq!(report["issues"]["warnings"], 2);
}

#[test]
fn warnings_alone_exit_zero() {
    let p = Job::new()
        .mapping(mapping(
            "a = { type = \"integer\", severity = \"warning\" }",
        ))
        .file("data.csv", "a\nz\n1\n");
    let run = p.run("validate");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(p.warning_codes(), vec![e(2, "a", "type-mismatch")]);
}

#[test]
fn blank_and_padded_text_is_null_for_checks_and_stripped_for_types() {
    let (_, errs) = errors(
        "code = {}\nqty = { type = \"integer\", min = 1 }\nmail = { type = \"email\" }\n\n\
         [[structures.s.checks]]\nname = \"code_or_mail\"\nrule = \"code IS NOT NULL OR mail IS NOT NULL\"\n",
        "code,qty,mail\nA,  3 ,\n   , 0,\n,4,  a@b.fr  \n  , 5 ,x@\n",
    );
    assert_eq!(
        errs,
        vec![
            e(3, "qty", "out-of-range"),
            e(3, "", "check-failed"),
            e(5, "mail", "type-mismatch"),
        ]
    );
}

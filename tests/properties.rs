//! Properties: whatever the input, every row is accounted for.

use proptest::prelude::*;

use crate::util::Project;

/// A line of a generated export: a good row, a bad value, a ragged row, a blank line or a row
/// of empty fields.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        (0i64..1000, "[a-z]{1,6}").prop_map(|(n, s)| format!("{n},{s},\"{s}, quoted\"")),
        "[a-z]{1,4}".prop_map(|s| format!("{s},x,y")),
        Just("1,2".to_string()),
        Just("1,2,3,4".to_string()),
        Just(String::new()),
        Just(",,".to_string()),
        (0i64..10).prop_map(|n| format!("{n},\"multi\nline\",z")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn rows_read_equal_skipped_plus_accepted_plus_rejected(lines in prop::collection::vec(line(), 0..60)) {
        let p = Project::new();
        p.file(
            "mapping.toml",
            "[source]\npath = \"data.csv\"\ndelimiter = \",\"\nstructure = \"s\"\n[structures.s.fields]\nn = { type = \"integer\", required = true }\nname = {}\nnote = {}\n",
        );
        let mut csv = String::from("n,name,note\n");
        for l in &lines {
            csv.push_str(l);
            csv.push('\n');
        }
        p.file("data.csv", &csv);
        let run = p.validate();
        prop_assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
        let r = p.report();
        let n = |k: &str| r["rows"][k].as_u64().unwrap();
        prop_assert_eq!(n("read"), lines.len() as u64);
        prop_assert_eq!(n("read"), n("skipped") + n("accepted") + n("rejected"));
        let expected_skipped = lines.iter().filter(|l| l.is_empty() || *l == ",,").count() as u64;
        prop_assert_eq!(n("skipped"), expected_skipped);
        // Each rejected row is in rejects.csv exactly once.
        let rejects = crate::util::read_csv(&p.path().join("out/_report/rejects.csv"), b',');
        prop_assert_eq!(rejects.len() as u64, n("rejected"));
        prop_assert_eq!(run.code == 1, n("rejected") > 0);
    }
}

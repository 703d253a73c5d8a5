//! CSV inputs that lost or changed rows without a word: each now ends written, rejected with
//! its reason, or skipped and counted.

use crate::util::Project;

const PASSTHROUGH: &str = "[source]\npath = \"data.csv\"\n\n[targets.t]\npath = \"t.csv\"\n";

#[test]
fn text_after_a_closing_quote_is_bad_quoting() {
    let p = Project::new();
    p.file("mapping.toml", PASSTHROUGH).file(
        "data.csv",
        "a,b,c\n1,\"f\"g,h\n2,\"ok\",i\n3,\"x\"\"y\",j\n",
    );
    let r = p.run(&["run", "mapping.toml", "--out", "out", "-q"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        p.error_codes(),
        [(2, "".to_string(), "bad-quoting".to_string())]
    );
    let e = &p.errors()[0];
    assert_eq!(e["column"], "b");
    assert!(e["message"].contains("followed by more text"), "{e:?}");
    assert_eq!(p.read("out/t.csv"), "a,b,c\n2,ok,i\n3,\"x\"\"y\",j\n");
}

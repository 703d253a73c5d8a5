//! Routing: `when` predicates send each accepted row to zero, one or several targets;
//! `[run] unrouted` says what becomes of a row no target takes.

use crate::util::{Job, report_target};

pub(crate) fn routing_mapping(unrouted: &str) -> String {
    format!(
        r#"[source]
path = "data.csv"
structure = "s"

[structures.s.fields]
n = {{ type = "integer" }}
name = {{}}

[targets.big]
path = "big.csv"
when = "n > 1"
columns.name = "name"

[targets.small]
path = "small.csv"
when = "n < 3"
columns.name = "name"

[run]
unrouted = "{unrouted}"
"#
    )
}

pub(crate) const ROUTING_DATA: &str = "n,name\n1,a\n2,b\n3,c\n,d\n";

#[test]
fn rows_fan_out_and_a_null_when_does_not_take_them() {
    let p = Job::new()
        .mapping(routing_mapping("count"))
        .input("data.csv", ROUTING_DATA);
    let res = p.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    assert_eq!(p.read("out/big.csv"), "name\nb\nc\n");
    assert_eq!(p.read("out/small.csv"), "name\na\nb\n");
    let r = p.report();
    assert_eq!(r["rows"]["accepted"], 4);
    assert_eq!(r["rows"]["routed"], 3);
    assert_eq!(r["rows"]["unrouted"], 1);
    assert_eq!(r["conservation"]["holds"], true);
    assert_eq!(
        r["conservation"]["routing"],
        "4 accepted = 3 routed to a target + 1 unrouted"
    );
    assert_eq!(report_target(&r, "big")["rows"], 2);
    assert_eq!(report_target(&r, "small")["rows"], 2);
    assert!(p.errors().is_empty(), "count writes no issue");
}

#[test]
fn unrouted_warn_keeps_the_row_with_a_warning() {
    let p = Job::new()
        .mapping(routing_mapping("warn"))
        .input("data.csv", ROUTING_DATA);
    let res = p.run("run");
    assert_eq!(res.code, 0, "{}", res.stderr);
    let r = p.report();
    assert_eq!(r["rows"]["accepted"], 4);
    assert_eq!(r["rows"]["rejected"], 0);
    assert_eq!(r["rows"]["routed"], 3);
    assert_eq!(r["rows"]["unrouted"], 1);
    assert_eq!(r["conservation"]["holds"], true);
    let errors = p.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["row"], "5");
    assert_eq!(errors[0]["stage"], "route");
    assert_eq!(errors[0]["code"], "unrouted");
    assert_eq!(errors[0]["severity"], "warning");
}

#[test]
fn unrouted_reject_rejects_the_row() {
    let p = Job::new()
        .mapping(routing_mapping("reject"))
        .input("data.csv", ROUTING_DATA);
    let res = p.run("run");
    assert_eq!(res.code, 1, "{}", res.stderr);
    let r = p.report();
    assert_eq!(r["rows"]["read"], 4);
    assert_eq!(r["rows"]["accepted"], 3);
    assert_eq!(r["rows"]["rejected"], 1);
    assert_eq!(r["rows"]["routed"], 3);
    assert_eq!(r["rows"]["unrouted"], 0);
    assert_eq!(r["conservation"]["holds"], true);
    let errors = p.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["stage"], "route");
    assert_eq!(errors[0]["code"], "unrouted");
    assert_eq!(errors[0]["severity"], "error");
    let rejects = p.rejects();
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0]["name"], "d");
    assert_eq!(rejects[0]["_row"], "5");
    assert_eq!(p.read("out/big.csv"), "name\nb\nc\n");
}

#[test]
fn nothing_routed_anywhere_exits_2() {
    let p = Job::new()
        .mapping(
            routing_mapping("count")
                .replace("n > 1", "n > 100")
                .replace("n < 3", "n < 0"),
        )
        .input("data.csv", ROUTING_DATA);
    let res = p.run("run");
    assert_eq!(res.code, 2, "{}", res.stderr);
    assert!(res.stderr.contains("no row was written"), "{}", res.stderr);
    let r = p.report();
    assert_eq!(r["rows"]["unrouted"], 4);
    // Nothing written is a failed run: only the report is committed, no (empty) target.
    assert!(!p.exists("out/big.csv"));
    assert!(!p.exists("out/small.csv"));
}

//! CSV inputs that lost or changed rows without a word: each now ends written, rejected with
//! its reason, or skipped and counted.

use crate::util::Job;

const PASSTHROUGH: &str = "[source]\npath = \"data.csv\"\n\n[targets.t]\npath = \"t.csv\"\n";

#[test]
fn text_after_a_closing_quote_is_bad_quoting() {
    let p = Job::new().mapping(PASSTHROUGH).file(
        "data.csv",
        "a,b,c\n1,\"f\"g,h\n2,\"ok\",i\n3,\"x\"\"y\",j\n",
    );
    let r = p.exec(&["run", "mapping.toml", "--out", "out", "-q"]);
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

#[test]
fn header_detection_in_doubt_keeps_line_one_and_rejects_the_ragged_rows() {
    let mut data = String::from("id,name,address\n1,Alice,Paris\n");
    for i in 2..12 {
        data.push_str(&format!("{i},Bob,{i}, rue X\n"));
    }
    let p = Job::new().mapping(PASSTHROUGH).file("data.csv", &data);
    let r = p.exec(&["run", "mapping.toml", "--out", "out", "-q"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let report = p.report();
    assert_eq!(report["input"]["header_row"], 1);
    assert_eq!(report["rows"]["read"], 11);
    assert_eq!(report["rows"]["accepted"], 1);
    assert_eq!(report["rows"]["rejected"], 10);
    assert_eq!(p.read("out/t.csv"), "id,name,address\n1,Alice,Paris\n");
    assert!(p.error_codes().iter().all(|(_, _, c)| c == "ragged-row"));
}

#[test]
fn lines_above_a_detected_header_are_counted_and_shown() {
    let p = Job::new().mapping(PASSTHROUGH).file(
        "data.csv",
        "Export du 12/03/2024\nBoutique de Lyon\n\nsku;qty;price\nA;1;2\nB;3;4\n",
    );
    let r = p.exec(&["run", "mapping.toml", "--out", "out"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("5 read = 3 skipped + 2 accepted + 0 rejected")
            && r.stdout.contains(
                "lines 1–3 above the header skipped: `Export du 12/03/2024`, `Boutique de Lyon`"
            ),
        "{}",
        r.stdout
    );
}

#[test]
fn a_utf8_file_with_a_few_bad_bytes_stays_utf8_and_rejects_those_rows() {
    let mut data = b"name;city\n".to_vec();
    for i in 0..50 {
        data.extend_from_slice(format!("Zoë {i};Besançon\n").as_bytes());
    }
    data.extend_from_slice(b"Bad \xE9 byte;Paris\n");
    let p = Job::new().mapping(PASSTHROUGH).file("data.csv", &data);
    let r = p.exec(&["run", "mapping.toml", "--out", "out"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let report = p.report();
    assert_eq!(report["input"]["encoding"], "UTF-8");
    assert!(
        report["input"]["encoding_evidence"]
            .as_str()
            .is_some_and(|e| e.contains("1 byte that is not UTF-8")),
        "{report:#}"
    );
    assert_eq!(
        p.error_codes(),
        [(52, "".to_string(), "bad-encoding".to_string())]
    );
    assert!(p.read("out/t.csv").contains("Zoë 49,Besançon\n"));
    assert!(
        r.stdout
            .contains("encoding UTF-8: 100 UTF-8 characters and 1 byte"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_legacy_encoding_guess_shows_its_evidence() {
    let mut data = b"name;city\n".to_vec();
    for i in 0..20 {
        data.extend_from_slice(format!("Zo{i};Besan\u{e7}on\n").as_bytes());
    }
    let latin: Vec<u8> = String::from_utf8(data)
        .unwrap()
        .chars()
        .map(|c| c as u32 as u8)
        .collect();
    let p = Job::new().mapping(PASSTHROUGH).file("data.csv", &latin);
    let r = p.exec(&["run", "mapping.toml", "--out", "out"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = p.report();
    assert_eq!(report["input"]["encoding"], "windows-1252");
    assert!(
        r.stdout
            .contains("encoding windows-1252: 20 bytes not UTF-8 in the file"),
        "{}",
        r.stdout
    );
    assert!(p.read("out/t.csv").contains("Zo3,Besançon\n"));
}

/// `rowferry ARGS` in `p` with `input` written to its standard input.
fn piped(p: &Job, args: &[&str], input: &[u8]) -> (i32, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rowferry"))
        .args(args)
        .current_dir(p.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_pipe_as_input_is_read_once_from_its_first_byte() {
    let mut data = String::from("id;name\n");
    for i in 0..200_000 {
        data.push_str(&format!("{i};n{i}\n"));
    }
    let p = Job::new().mapping(PASSTHROUGH);
    for input in ["-", "/dev/stdin"] {
        let (code, stderr) = piped(
            &p,
            &[
                "run",
                "mapping.toml",
                "--input",
                input,
                "--out",
                "out",
                "-q",
            ],
            data.as_bytes(),
        );
        assert_eq!(code, 0, "{input}: {stderr}");
        let report = p.report();
        assert_eq!(
            report["input"]["columns"],
            serde_json::json!(["id", "name"]),
            "{input}"
        );
        assert_eq!(report["rows"]["read"], 200_000, "{input}");
        assert_eq!(report["input"]["bytes"], data.len(), "{input}");
        assert_eq!(p.read("out/t.csv"), data.replace(';', ","), "{input}");
    }
    // A workbook cannot be read from a pipe: it says so.
    let (code, stderr) = piped(
        &p,
        &["run", "mapping.toml", "--input", "-", "--out", "out", "-q"],
        b"PK\x03\x04 not really a workbook",
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("save it to a file"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn a_fifo_as_input_is_read_once() {
    let p = Job::new().mapping(PASSTHROUGH);
    let fifo = p.path().join("in.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let writer = std::thread::spawn({
        let fifo = fifo.clone();
        move || std::fs::write(fifo, "a,b\n1,2\n3,4\n").unwrap()
    });
    let r = p.exec(&[
        "run",
        "mapping.toml",
        "--input",
        "in.fifo",
        "--out",
        "out",
        "-q",
    ]);
    writer.join().unwrap();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(p.read("out/t.csv"), "a,b\n1,2\n3,4\n");
}

#[test]
fn a_long_value_without_a_quote_is_too_long_not_a_runaway_quote() {
    let p = Job::new();
    let long = "x".repeat(200);
    p.write(
        "mapping.toml",
        "[source]\npath = \"data.csv\"\nmax_field_bytes = 64\n\n[targets.t]\npath = \"t.csv\"\n",
    )
    .write("data.csv", format!("a,b\n1,{long}\n2,ok\n"));
    let r = p.exec(&["run", "mapping.toml", "--out", "out", "-q"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        p.error_codes(),
        [(2, "".to_string(), "field-too-long".to_string())]
    );
    assert!(
        !p.errors()[0]["message"].contains("not closed"),
        "{:?}",
        p.errors()
    );
    assert_eq!(p.read("out/t.csv"), "a,b\n2,ok\n");
    // In the header, it says what is likely wrong instead of blaming a quote.
    p.write("data.csv", format!("{long}\n1\n"));
    let r = p.exec(&["run", "mapping.toml", "--out", "out", "-q"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("longer than `max_field_bytes` (64 bytes) with no quote"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_lone_cr_is_a_line_break_outside_quotes_and_text_inside() {
    let p = Job::new().mapping(PASSTHROUGH);
    let cases: [(&[u8], &str, u64); 4] = [
        (
            b"email\nbob@x.fr\rcarol@x.fr\n",
            "email\nbob@x.fr\ncarol@x.fr\n",
            2,
        ),
        (b"a,b\n1,2\r3,4\n5,6\n", "a,b\n1,2\n3,4\n5,6\n", 3),
        // `\n\r`: the CR is an empty line of its own, never the start of the next value.
        (b"a,b\n1,2\n\r3,4\n", "a,b\n1,2\n3,4\n", 3),
        // Inside quotes it is text; CRLF stays one line break.
        (b"a,b\r\n\"x\ry\",2\r\n3,4", "a,b\n\"x\ry\",2\n3,4\n", 2),
    ];
    for (input, written, read) in cases {
        p.write("data.csv", input);
        let r = p.exec(&["run", "mapping.toml", "--out", "out", "-q"]);
        assert_eq!(r.code, 0, "{input:?}: {}", r.stderr);
        assert_eq!(p.read("out/t.csv"), written, "{input:?}");
        assert_eq!(p.report()["rows"]["read"], read, "{input:?}");
    }
    // Lines count lone CRs as line breaks: the third record starts on line 4.
    p.write(
        "mapping.toml",
        "[source]\npath = \"data.csv\"\nstructure = \"s\"\n\n[structures.s.fields]\nn = { type = \"integer\" }\n",
    )
    .write("data.csv", b"n\n1\r2\rx\n".as_slice());
    let r = p.exec(&["validate", "mapping.toml", "--out", "out", "-q"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let e = &p.errors()[0];
    assert_eq!((e["row"].as_str(), e["line"].as_str()), ("4", "4"));
}

#[test]
fn a_character_split_by_a_delimiter_is_bad_encoding_not_a_crash() {
    // `à` is C3 A0: with commas between its two bytes, neither field is UTF-8, though the
    // parser's fields end to end are.
    let p = Job::new().mapping(PASSTHROUGH).file(
        "data.csv",
        [
            "a,b,c\n".as_bytes(),
            "Zoë,ü,é\n".repeat(4).as_bytes(),
            b"x\"\xC3,\xA0\"y,2\n4,5,6\n",
        ]
        .concat(),
    );
    let r = p.exec(&["run", "mapping.toml", "--out", "out", "-q"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        p.read("out/t.csv"),
        format!("a,b,c\n{}4,5,6\n", "Zoë,ü,é\n".repeat(4))
    );
    assert_eq!(
        p.error_codes(),
        [(6, "".to_string(), "bad-encoding".to_string())]
    );
}

#[test]
fn a_run_stopped_early_on_a_pipe_reports_the_checksum_of_what_it_read() {
    use sha2::{Digest, Sha256};
    let mut data = String::from("id,n\n");
    for i in 0..300_000 {
        data.push_str(&format!("{i},{}\n", if i == 5 { "x" } else { "1" }));
    }
    let p = Job::new().mapping(
        "[source]\npath = \"data.csv\"\nstructure = \"s\"\n\n[structures.s.fields]\nid = {}\nn = { type = \"integer\" }\n\n[targets.t]\npath = \"t.csv\"\n\n[run]\nmax_errors = 0\n",
    );
    let (code, stderr) = piped(
        &p,
        &["run", "mapping.toml", "--input", "-", "--out", "out", "-q"],
        data.as_bytes(),
    );
    assert_eq!(code, 2, "{stderr}");
    let report = p.report();
    assert_eq!(report["status"], "stopped");
    let bytes = report["input"]["bytes"].as_u64().unwrap() as usize;
    assert!(bytes > 0 && bytes <= data.len(), "{bytes}");
    let expected = Sha256::digest(&data.as_bytes()[..bytes]);
    let hex: String = expected.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(report["input"]["sha256"], hex);
}

//! JSON and NDJSON targets: records as objects, nested by the column names.
//!
//! JSON keeps the types: numbers and booleans bare, text quoted, null as `null`; a dotted column
//! name (`product.price.amount`) nests objects. A JSON record may also gather the rows of one
//! group (see [`Tree`] and [`Encode::group`]): `lines[].sku` columns become an array with one
//! item per row. A JSON file's records may sit under an envelope key (`{"records":[…]}`).
//! Records are handed to the file in blocks (see [`super::hand_on`]).

use std::io::{self, Write};

use super::{Encode, Row, hand_on, record_as_text};
use crate::project::cells::Cells;
use crate::project::text::Kind;

/// The shape of JSON records, from the column names.
///
/// A dotted name (`product.price.amount`) nests objects. A name with one `[]` segment is an
/// array column: `lines[].sku` puts `sku` in each item of the array `lines`, and the path may go
/// on inside the item (`lines[].price.amount`) or start deeper (`order.lines[].qty`). A record
/// may have several arrays. Keys come in the order of the first column that names them. A name
/// that cannot be placed is kept flat, as one key: an empty part (`a..b`), a name where a value
/// already is (`a` then `a.b`, `lines` then `lines[].sku`), more than one `[]` segment, `[]` not
/// closing a segment, or an array with no item path (`tags[]`).
#[derive(Debug, Default)]
pub struct Tree {
    nodes: Vec<Node>,
    /// A tree without arrays, compiled: a record is each slot's literal JSON (braces, commas,
    /// escaped keys) followed by its column's value, then `tail`.
    flat: Option<Flat>,
}

#[derive(Debug, Default)]
struct Flat {
    slots: Vec<(Vec<u8>, usize)>,
    tail: Vec<u8>,
}

impl Flat {
    /// `None` when the tree has an array.
    fn new(nodes: &[Node]) -> Option<Flat> {
        fn walk(nodes: &[Node], pending: &mut Vec<u8>, slots: &mut Vec<(Vec<u8>, usize)>) -> bool {
            pending.push(b'{');
            for (i, node) in nodes.iter().enumerate() {
                if i > 0 {
                    pending.push(b',');
                }
                // Writing to a Vec cannot fail.
                let _ = string(pending, node.key());
                pending.push(b':');
                match node {
                    Node::Leaf { col, .. } => slots.push((std::mem::take(pending), *col)),
                    Node::Object { children, .. } => {
                        if !walk(children, pending, slots) {
                            return false;
                        }
                    }
                    Node::Array { .. } => return false,
                }
            }
            pending.push(b'}');
            true
        }
        let mut tail = Vec::new();
        let mut slots = Vec::new();
        walk(nodes, &mut tail, &mut slots).then_some(Flat { slots, tail })
    }

    fn write<W: Write, R: Row>(&self, out: &mut W, row: &R, kinds: &[Kind]) -> io::Result<()> {
        for (literal, col) in &self.slots {
            out.write_all(literal)?;
            value(
                out,
                row.cell(*col),
                kinds.get(*col).copied().unwrap_or(Kind::Text),
            )?;
        }
        out.write_all(&self.tail)
    }
}

impl Flat {
    /// [`Flat::write`] for row `i` of `cells`.
    #[inline]
    fn write_cells(&self, out: &mut Vec<u8>, cells: &[Cells], i: usize, kinds: &[Kind]) {
        for (literal, col) in &self.slots {
            out.extend_from_slice(literal);
            let kind = kinds.get(*col).copied().unwrap_or(Kind::Text);
            match cells.get(*col) {
                None => out.extend_from_slice(b"null"),
                // Writing to a Vec cannot fail.
                Some(Cells::Text(a)) => {
                    let _ = value(out, a.get(i), kind);
                }
                Some(typed) => {
                    let quoted = matches!(kind, Kind::Text | Kind::Date | Kind::DateTime);
                    let start = out.len();
                    if quoted {
                        out.push(b'"');
                    }
                    if typed.text(i, out).is_none() {
                        out.truncate(start);
                        out.extend_from_slice(b"null");
                    } else if quoted {
                        out.push(b'"');
                    }
                }
            }
        }
        out.extend_from_slice(&self.tail);
    }
}

#[derive(Debug)]
enum Node {
    Leaf {
        key: String,
        col: usize,
    },
    Object {
        key: String,
        children: Vec<Node>,
    },
    /// One item per row of a group: an object of `items`.
    Array {
        key: String,
        items: Vec<Node>,
    },
}

impl Node {
    fn key(&self) -> &str {
        match self {
            Node::Leaf { key, .. } | Node::Object { key, .. } | Node::Array { key, .. } => key,
        }
    }
}

impl Tree {
    /// One record for a group of rows (not empty); see [`Encode::group`].
    fn write<W: Write, R: Row>(&self, out: &mut W, rows: &[R], kinds: &[Kind]) -> io::Result<()> {
        match (&self.flat, rows.first()) {
            (Some(flat), Some(row)) => flat.write(out, row, kinds),
            _ => object(out, &self.nodes, rows, kinds),
        }
    }

    pub fn new(names: &[String]) -> Self {
        let mut nodes: Vec<Node> = Vec::new();
        let mut placed = Placed::new();
        for (col, name) in names.iter().enumerate() {
            let parts: Vec<&str> = name.split('.').collect();
            if !placeable(&parts) || !insert(&mut nodes, &parts, col, "", &mut placed) {
                // Kept under its whole name; a later column of that name is not looked up
                // here, as before.
                nodes.push(Node::Leaf {
                    key: name.clone(),
                    col,
                });
            }
        }
        let flat = Flat::new(&nodes);
        Tree { nodes, flat }
    }

    /// Whether some column is an array column (`lines[].sku`): records of such a tree gather
    /// the rows of a group.
    #[cfg(test)]
    pub fn has_arrays(&self) -> bool {
        fn any(nodes: &[Node]) -> bool {
            nodes.iter().any(|n| match n {
                Node::Leaf { .. } => false,
                Node::Object { children, .. } => any(children),
                Node::Array { .. } => true,
            })
        }
        any(&self.nodes)
    }
}

/// No empty part, and at most one `[]`, closing a non-empty part that is not the last.
fn placeable(parts: &[&str]) -> bool {
    let mut arrays = 0;
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() {
            return false;
        }
        if p.contains("[]") {
            let ok = p
                .strip_suffix("[]")
                .is_some_and(|k| !k.is_empty() && !k.contains("[]"));
            if !ok || i + 1 == parts.len() {
                return false;
            }
            arrays += 1;
        }
    }
    arrays <= 1
}

/// Where each node placed so far stands among its siblings, by its path: a key is found in
/// one look-up, so a header of 100,000 columns builds its tree in linear time.
type Placed = std::collections::HashMap<String, usize>;

/// Places column `col` at `parts` under the node at `path`; false, with nothing changed, when
/// something else is there.
fn insert(
    nodes: &mut Vec<Node>,
    parts: &[&str],
    col: usize,
    path: &str,
    placed: &mut Placed,
) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return false;
    };
    let key = first.strip_suffix("[]").unwrap_or(first);
    let here = format!("{path}\u{1}{key}");
    let existing = placed.get(&here).and_then(|&i| nodes.get_mut(i));
    if first.ends_with("[]") {
        return match existing {
            Some(Node::Array { items, .. }) => insert(items, rest, col, &here, placed),
            Some(_) => false,
            None => {
                let mut items = Vec::new();
                let ok = insert(&mut items, rest, col, &here, placed);
                placed.insert(here, nodes.len());
                nodes.push(Node::Array {
                    key: key.to_string(),
                    items,
                });
                ok
            }
        };
    }
    match (existing, rest.is_empty()) {
        (None, true) => {
            placed.insert(here, nodes.len());
            nodes.push(Node::Leaf {
                key: first.to_string(),
                col,
            });
            true
        }
        (None, false) => {
            let mut children = Vec::new();
            let ok = insert(&mut children, rest, col, &here, placed);
            placed.insert(here, nodes.len());
            nodes.push(Node::Object {
                key: first.to_string(),
                children,
            });
            ok
        }
        (Some(Node::Object { children, .. }), false) => insert(children, rest, col, &here, placed),
        _ => false,
    }
}

/// A JSON or NDJSON target's file: a JSON array of records, maybe under an envelope, or one
/// record per line.
pub struct Records<W: Write> {
    out: W,
    /// Records not yet handed to `out`: they go in blocks (see [`super::BLOCK`]).
    buf: Vec<u8>,
    records: u64,
    /// JSON: the records are items of an array; NDJSON: lines.
    array: bool,
    /// JSON: the keys the records array sits under (`data.items`:
    /// `{"data":{"items":[…]}}`); empty for a bare array.
    envelope: Vec<String>,
}

impl<W: Write> Records<W> {
    /// A JSON file over `out`, its records under `envelope` (`records`, or dotted:
    /// `data.items`; each part is one key) or in a bare array.
    pub fn json(out: W, envelope: Option<&str>) -> Self {
        Records {
            envelope: envelope
                .map(|p| p.split('.').map(str::to_string).collect())
                .unwrap_or_default(),
            ..Records::ndjson(out)
        }
        .in_array()
    }

    /// An NDJSON file over `out`: one record per line.
    pub fn ndjson(out: W) -> Self {
        Records {
            out,
            buf: Vec::with_capacity(super::BLOCK + 4096),
            records: 0,
            array: false,
            envelope: Vec::new(),
        }
    }

    fn in_array(mut self) -> Self {
        self.array = true;
        self
    }

    /// What goes before a record: in an array, the comma after the previous one.
    #[inline]
    fn open(&mut self) {
        if self.array {
            if self.records > 0 {
                self.buf.push(b',');
            }
            self.buf.push(b'\n');
        }
        self.records += 1;
    }

    /// What goes after a record: the end of its line in NDJSON; then the block goes out if full.
    #[inline]
    fn close(&mut self) -> io::Result<()> {
        if !self.array {
            self.buf.push(b'\n');
        }
        hand_on(&mut self.out, &mut self.buf)
    }

    fn rows<R: Row>(&mut self, rows: &[R], kinds: &[Kind], tree: &Tree) -> io::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.open();
        tree.write(&mut self.buf, rows, kinds)?;
        self.close()
    }
}

impl<W: Write> Encode<W> for Records<W> {
    /// JSON: the array's `[`, inside its envelope.
    fn start(&mut self, _names: &[String]) -> io::Result<()> {
        if !self.array {
            return Ok(());
        }
        for key in &self.envelope {
            self.buf.push(b'{');
            string(&mut self.buf, key)?;
            self.buf.push(b':');
        }
        self.buf.push(b'[');
        Ok(())
    }

    fn resume(&mut self, records: u64) {
        self.records = records;
    }

    fn record(&mut self, values: &[Option<&str>], kinds: &[Kind], tree: &Tree) -> io::Result<()> {
        self.rows(std::slice::from_ref(&values), kinds, tree)
    }

    fn record_cells(
        &mut self,
        cells: &[Cells],
        i: usize,
        kinds: &[Kind],
        tree: &Tree,
    ) -> io::Result<()> {
        let Some(flat) = &tree.flat else {
            return record_as_text(self, cells, i, kinds, tree);
        };
        self.open();
        flat.write_cells(&mut self.buf, cells, i, kinds);
        self.close()
    }

    fn group(
        &mut self,
        rows: &[Vec<Option<String>>],
        kinds: &[Kind],
        tree: &Tree,
    ) -> io::Result<()> {
        self.rows(rows, kinds, tree)
    }

    /// JSON: the array's `]`, and its envelope.
    fn finish(&mut self) -> io::Result<()> {
        if !self.array {
            return Ok(());
        }
        self.buf
            .extend_from_slice(if self.records == 0 { b"]" } else { b"\n]" });
        for _ in &self.envelope {
            self.buf.push(b'}');
        }
        self.buf.push(b'\n');
        Ok(())
    }

    fn into_inner(mut self: Box<Self>) -> io::Result<W> {
        self.out.write_all(&self.buf)?;
        Ok(self.out)
    }
}

/// The object of `nodes` for a group of `rows` (not empty): leaves from the first row, one
/// array item per row.
fn object<W: Write, R: Row>(
    out: &mut W,
    nodes: &[Node],
    rows: &[R],
    kinds: &[Kind],
) -> io::Result<()> {
    out.write_all(b"{")?;
    for (i, node) in nodes.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        string(out, node.key())?;
        out.write_all(b":")?;
        match node {
            Node::Leaf { col, .. } => {
                let v = rows.first().and_then(|r| r.cell(*col));
                value(out, v, kinds.get(*col).copied().unwrap_or(Kind::Text))?;
            }
            Node::Object { children, .. } => object(out, children, rows, kinds)?,
            Node::Array { items, .. } => {
                out.write_all(b"[")?;
                let mut first = true;
                for row in rows {
                    if all_null(items, row) {
                        continue;
                    }
                    if !first {
                        out.write_all(b",")?;
                    }
                    first = false;
                    object(out, items, std::slice::from_ref(row), kinds)?;
                }
                out.write_all(b"]")?;
            }
        }
    }
    out.write_all(b"}")
}

/// Whether every value under `nodes` is null in `row`.
fn all_null<R: Row>(nodes: &[Node], row: &R) -> bool {
    nodes.iter().all(|n| match n {
        Node::Leaf { col, .. } => row.cell(*col).is_none(),
        Node::Object { children, .. } => all_null(children, row),
        Node::Array { items, .. } => all_null(items, row),
    })
}

fn value<W: Write>(out: &mut W, v: Option<&str>, kind: Kind) -> io::Result<()> {
    match (v, kind) {
        (None, _) => out.write_all(b"null"),
        (Some(v), Kind::Number) => {
            // JSON has no NaN or infinity.
            if v.bytes()
                .all(|b| b.is_ascii_digit() || b"-+.eE".contains(&b))
                && !v.is_empty()
            {
                out.write_all(v.as_bytes())
            } else {
                out.write_all(b"null")
            }
        }
        (Some(v), Kind::Boolean) => out.write_all(v.as_bytes()),
        (Some(v), Kind::Text | Kind::Date | Kind::DateTime) => string(out, v),
    }
}

fn string<W: Write>(out: &mut W, s: &str) -> io::Result<()> {
    // Most text needs no escape: JSON escapes only control characters, `"` and `\`.
    if !json_escapes(s.as_bytes()) {
        out.write_all(b"\"")?;
        out.write_all(s.as_bytes())?;
        return out.write_all(b"\"");
    }
    serde_json::to_writer(&mut *out, s).map_err(io::Error::other)
}

/// Whether `s` has a byte JSON escapes (below 0x20, `"`, `\`).
#[inline]
fn json_escapes(s: &[u8]) -> bool {
    use super::swar::{any, below, has};
    any(
        s,
        |x| below(x, 0x20) | has(x, b'"') | has(x, b'\\'),
        |b| b < 0x20 || b == b'"' || b == b'\\',
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Format;

    #[test]
    fn json_escapes_finds_every_byte_to_escape() {
        for b in 0u8..=255 {
            let escaped = b < 0x20 || b == b'"' || b == b'\\';
            for at in [0usize, 3, 7, 8, 13, 15, 16, 20] {
                let mut s = vec![b'a'; 21];
                s[at] = b;
                assert_eq!(json_escapes(&s), escaped, "byte {b:#x} at {at}");
            }
        }
        assert!(!json_escapes("Écharpe en laine – 100 % 🧣".as_bytes()));
        assert!(!json_escapes(b""));
    }

    /// Typed decimals are written as `decimal_text` writes them, whether their unscaled value fits
    /// 64 bits or not.
    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    fn encoder(format: Format, out: Vec<u8>, fresh: bool) -> Box<dyn Encode<Vec<u8>>> {
        enveloped(format, None, out, fresh)
    }

    fn enveloped(
        format: Format,
        envelope: Option<&str>,
        out: Vec<u8>,
        fresh: bool,
    ) -> Box<dyn Encode<Vec<u8>>> {
        let options = crate::sink::format::tests::utf8_csv();
        crate::sink::format::encoder(format, &options, envelope, out, fresh).expect("encoder")
    }

    fn text(e: Box<dyn Encode<Vec<u8>>>) -> String {
        String::from_utf8(e.into_inner().expect("inner")).expect("utf-8")
    }

    fn row(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_string)).collect()
    }

    /// An order with record-level fields nested two deep, two arrays, an array item nesting an
    /// object, and an item column placed after a record-level one.
    fn order() -> (Tree, Vec<Kind>) {
        use Kind::*;
        let tree = Tree::new(&names(&[
            "order.id",
            "order.customer.name",
            "total",
            "lines[].sku",
            "lines[].price.amount",
            "lines[].price.currency",
            "payments[].amount",
            "paid",
            "lines[].qty",
        ]));
        let kinds = vec![
            Text, Text, Number, Text, Number, Text, Number, Boolean, Number,
        ];
        (tree, kinds)
    }

    type Rows = Vec<Vec<Option<String>>>;

    /// Two orders: `A1` with two lines and two payments over three rows, `B2` with none.
    fn order_rows() -> (Rows, Rows) {
        let a = vec![
            row(&[
                Some("A1"),
                Some("Ann \"A\""),
                Some("12.5"),
                Some("S1"),
                Some("3.5"),
                Some("EUR"),
                None,
                Some("true"),
                Some("2"),
            ]),
            // Record-level values of later rows are not read.
            row(&[
                Some("A1"),
                Some("Bob"),
                Some("99"),
                Some("S2"),
                None,
                None,
                Some("12.5"),
                Some("false"),
                Some("1"),
            ]),
            // No line on this row: no item in `lines`, but a payment.
            row(&[
                Some("A1"),
                Some("Ann"),
                Some("12.5"),
                None,
                None,
                None,
                Some("7"),
                Some("true"),
                None,
            ]),
        ];
        let b = vec![row(&[
            Some("B2"),
            None,
            Some("NaN"),
            None,
            None,
            None,
            None,
            None,
            None,
        ])];
        (a, b)
    }

    const ORDER_A: &str = concat!(
        r#"{"order":{"id":"A1","customer":{"name":"Ann \"A\""}},"total":12.5,"#,
        r#""lines":[{"sku":"S1","price":{"amount":3.5,"currency":"EUR"},"qty":2},"#,
        r#"{"sku":"S2","price":{"amount":null,"currency":null},"qty":1}],"#,
        r#""payments":[{"amount":12.5},{"amount":7}],"paid":true}"#
    );
    const ORDER_B: &str = concat!(
        r#"{"order":{"id":"B2","customer":{"name":null}},"total":null,"#,
        r#""lines":[],"payments":[],"paid":null}"#
    );

    #[test]
    fn a_group_is_one_json_record_with_its_rows_as_array_items() {
        let (tree, kinds) = order();
        assert!(tree.has_arrays());
        let (a, b) = order_rows();
        let mut e = encoder(Format::Json, Vec::new(), true);
        e.start(&[]).expect("start");
        e.group(&a, &kinds, &tree).expect("a");
        e.group(&b, &kinds, &tree).expect("b");
        e.group(&[], &kinds, &tree).expect("empty");
        e.finish().expect("finish");
        assert_eq!(text(e), format!("[\n{ORDER_A},\n{ORDER_B}\n]\n"));

        let mut e = encoder(Format::Ndjson, Vec::new(), true);
        e.start(&[]).expect("start");
        e.group(&a, &kinds, &tree).expect("a");
        e.group(&b, &kinds, &tree).expect("b");
        e.finish().expect("finish");
        assert_eq!(text(e), format!("{ORDER_A}\n{ORDER_B}\n"));

        // Borrowed rows give the same record as owned ones.
        let borrowed: Vec<Vec<Option<&str>>> = b
            .iter()
            .map(|r| r.iter().map(|v| v.as_deref()).collect())
            .collect();
        let (mut owned, mut lent) = (Vec::new(), Vec::new());
        tree.write(&mut owned, &b, &kinds).expect("owned");
        tree.write(&mut lent, &borrowed, &kinds).expect("borrowed");
        assert_eq!(owned, lent);
    }

    #[test]
    fn a_single_record_with_arrays_is_a_group_of_one_row() {
        let (tree, kinds) = order();
        let (a, _) = order_rows();
        let values: Vec<Option<&str>> = a[2].iter().map(|v| v.as_deref()).collect();
        let mut e = encoder(Format::Ndjson, Vec::new(), true);
        e.record(&values, &kinds, &tree).expect("record");
        assert_eq!(
            text(e),
            concat!(
                r#"{"order":{"id":"A1","customer":{"name":"Ann"}},"total":12.5,"lines":[],"#,
                r#""payments":[{"amount":7}],"paid":true}"#,
                "\n"
            )
        );
    }

    #[test]
    fn arrays_nest_under_objects_and_unplaceable_names_stay_flat() {
        let tree = Tree::new(&names(&[
            "order.id",
            "order.lines[].qty",
            "a[].b[].c",
            "tags[]",
            "x",
            "x[].y",
            "order.lines[].unit",
            "m[]n.o",
            "[].p",
        ]));
        assert!(tree.has_arrays());
        let rows = vec![
            row(&[
                Some("1"),
                Some("2"),
                Some("c"),
                Some("t"),
                Some("x"),
                Some("y"),
                Some("kg"),
                Some("n"),
                Some("p"),
            ]),
            row(&[
                Some("9"),
                Some("3"),
                None,
                None,
                None,
                None,
                None,
                None,
                None,
            ]),
        ];
        let kinds = vec![Kind::Number; 9];
        let mut e = encoder(Format::Ndjson, Vec::new(), true);
        e.group(&rows, &kinds, &tree).expect("group");
        assert_eq!(
            text(e),
            concat!(
                r#"{"order":{"id":1,"lines":[{"qty":2,"unit":null},{"qty":3,"unit":null}]},"#,
                r#""a[].b[].c":null,"tags[]":null,"x":null,"x[].y":null,"m[]n.o":null,"[].p":null}"#,
                "\n"
            )
        );
        assert!(!Tree::new(&names(&["a", "b.c", "tags[]"])).has_arrays());
    }

    fn envelope_file(
        envelope: Option<&str>,
        records: usize,
        reopen_after: Option<usize>,
    ) -> String {
        let tree = Tree::new(&names(&["id", "name"]));
        let kinds = [Kind::Number, Kind::Text];
        let values = [[Some("1"), Some("a")], [Some("2"), None]];
        let mut e = enveloped(Format::Json, envelope, Vec::new(), true);
        e.start(&[]).expect("start");
        for (i, v) in values.iter().take(records).enumerate() {
            if reopen_after == Some(i) {
                // Closed, then reopened to append, as when the open-file cap is reached.
                let out = e.into_inner().expect("inner");
                e = enveloped(Format::Json, envelope, out, false);
                e.resume(i as u64);
            }
            e.record(v, &kinds, &tree).expect("record");
        }
        if reopen_after == Some(records) {
            let out = e.into_inner().expect("inner");
            e = enveloped(Format::Json, envelope, out, false);
            e.resume(records as u64);
        }
        e.finish().expect("finish");
        text(e)
    }

    #[test]
    fn envelopes_wrap_the_records_array() {
        let r1 = r#"{"id":1,"name":"a"}"#;
        let r2 = r#"{"id":2,"name":null}"#;
        let cases: [(Option<&str>, [String; 3]); 3] = [
            (
                None,
                [
                    "[]\n".into(),
                    format!("[\n{r1}\n]\n"),
                    format!("[\n{r1},\n{r2}\n]\n"),
                ],
            ),
            (
                Some("records"),
                [
                    "{\"records\":[]}\n".into(),
                    format!("{{\"records\":[\n{r1}\n]}}\n"),
                    format!("{{\"records\":[\n{r1},\n{r2}\n]}}\n"),
                ],
            ),
            (
                Some("data.items"),
                [
                    "{\"data\":{\"items\":[]}}\n".into(),
                    format!("{{\"data\":{{\"items\":[\n{r1}\n]}}}}\n"),
                    format!("{{\"data\":{{\"items\":[\n{r1},\n{r2}\n]}}}}\n"),
                ],
            ),
        ];
        for (envelope, expected) in &cases {
            for (records, want) in expected.iter().enumerate() {
                let got = envelope_file(*envelope, records, None);
                assert_eq!(&got, want, "{envelope:?}, {records} records");
                serde_json::from_str::<serde_json::Value>(&got).expect("valid JSON");
                for reopen in 0..=records {
                    assert_eq!(
                        &envelope_file(*envelope, records, Some(reopen)),
                        want,
                        "{envelope:?}, {records} records, reopened after {reopen}"
                    );
                }
            }
        }
        // NDJSON has no envelope.
        let mut e = enveloped(Format::Ndjson, Some("records"), Vec::new(), true);
        e.start(&[]).expect("start");
        e.finish().expect("finish");
        assert_eq!(text(e), "");
    }
}

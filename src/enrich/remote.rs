//! Lookups read from servers, once before the first chunk: a PostgreSQL query's rows and an
//! HTTP API's records, both as [`TextColumns`] that `mod.rs` indexes like any lookup.
//!
//! **PostgreSQL.** One connection (with a connect timeout), a `READ ONLY` transaction, the query
//! prepared first (so that a bad query, or more than one statement, is refused before anything
//! runs, and so that its columns are known even with no row), then run with the simple-query
//! protocol, which gives every value as PostgreSQL's own text (`t`/`f`, ISO dates, exact
//! numerics). `table` reads `SELECT * FROM "schema"."table"`.
//!
//! **APIs.** [`crate::deliver::fetch_records`] reads every page (a JSON array, an array at the
//! `records` pointer, or NDJSON; `Link: rel="next"` paging). A record's fields are columns, in
//! the order first seen across records; strings as they are, numbers and booleans as their JSON
//! text, nested objects and arrays as compact JSON, `null` (or a field a record lacks) as null.
//!
//! Either way an empty text is null, as in every lookup. Secrets: errors name the server by its
//! URL without password or token ([`Lookup::location`]); header values
//! never leave [`crate::plan::Secret`] except into the request.

use indexmap::IndexSet;
use postgres::SimpleQueryMessage;
use serde_json::Value;

use super::{EnrichError, TextColumns};
use crate::pg::{describe, qualified};
use crate::plan::{ApiRead, DatabaseRead, Lookup, Server};

/// The rows of lookup `l`'s `read` on the PostgreSQL `server`, in a read-only transaction.
pub(super) fn read_postgres(
    l: &Lookup,
    server: &Server,
    read: &DatabaseRead,
) -> Result<TextColumns, EnrichError> {
    let connect = |message: String| EnrichError::Connect {
        name: l.name.clone(),
        server: server.shown.clone(),
        message,
    };
    let query = |message: String| EnrichError::Query {
        name: l.name.clone(),
        server: server.shown.clone(),
        message,
    };
    let mut client = crate::pg::connect(server).map_err(connect)?;
    let sql = match read {
        DatabaseRead::Table(t) => format!("SELECT * FROM {}", qualified(t)),
        DatabaseRead::Query(q) => q.clone(),
    };
    let mut tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .map_err(|e| query(describe(&e)))?;
    let statement = tx.prepare(&sql).map_err(|e| query(describe(&e)))?;
    let header: Vec<String> = statement
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    if header.is_empty() {
        return Err(query(
            "it returns no columns; a lookup's query is a SELECT".to_owned(),
        ));
    }
    if let Some(twice) = repeated(&header) {
        return Err(query(format!(
            "it returns two columns named `{twice}`; name them apart with AS"
        )));
    }
    let messages = tx.simple_query(&sql).map_err(|e| query(describe(&e)))?;
    let mut columns: Vec<Vec<Option<String>>> = vec![Vec::new(); header.len()];
    let mut rows = 0;
    for message in messages {
        let SimpleQueryMessage::Row(row) = message else {
            continue;
        };
        rows += 1;
        if row.len() != header.len() {
            return Err(query(format!(
                "row {rows} has {} values for {} columns",
                row.len(),
                header.len()
            )));
        }
        for (i, column) in columns.iter_mut().enumerate() {
            let value = row.try_get(i).map_err(|e| query(describe(&e)))?;
            column.push(value.filter(|v| !v.is_empty()).map(str::to_owned));
        }
    }
    // Nothing was written: ending the transaction either way leaves the server as it was.
    tx.rollback().map_err(|e| query(describe(&e)))?;
    Ok(TextColumns {
        header,
        columns,
        rows,
    })
}

/// The records of lookup `l`'s API, every page, as text columns.
pub(super) fn read_api(l: &Lookup, api: &ApiRead) -> Result<TextColumns, EnrichError> {
    let headers: Vec<(String, String)> = api
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), value.expose().to_owned()))
        .collect();
    let records = crate::deliver::fetch_records(
        api.url.expose(),
        &headers,
        api.records.as_deref(),
        api.timeout,
    )
    .map_err(|e| EnrichError::Api {
        name: l.name.clone(),
        url: l.location(),
        problem: in_lookup_words(&e),
    })?;
    let header: IndexSet<&str> = records
        .iter()
        .flat_map(|r| r.keys().map(String::as_str))
        .collect();
    let columns = header
        .iter()
        .map(|field| {
            records
                .iter()
                .map(|r| r.get(*field).and_then(text))
                .collect()
        })
        .collect();
    Ok(TextColumns {
        header: header.iter().map(|h| (*h).to_owned()).collect(),
        columns,
        rows: records.len(),
    })
}

/// The HTTP reader's error as a lookup's user reads it: the reader names the pointer
/// `records_pointer` and its settings a target's, where a lookup has `records`.
fn in_lookup_words(e: &crate::deliver::DeliverError) -> String {
    e.to_string()
        .replace("`records_pointer`", "`records`")
        .replace("Fix it in the target's settings", "Fix it in the lookup")
}

/// A JSON value as a lookup's text: `None` for null and empty strings.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => (!s.is_empty()).then(|| s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        // Compact JSON: serialising a `Value` cannot fail.
        nested => serde_json::to_string(nested).ok(),
    }
}

/// The first name given twice, if any.
fn repeated(names: &[String]) -> Option<&str> {
    let mut seen = std::collections::HashSet::new();
    names
        .iter()
        .find(|n| !seen.insert(n.as_str()))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{repeated, text};

    #[test]
    fn json_values_become_lookup_text() {
        assert_eq!(text(&json!("Acme")), Some("Acme".into()));
        assert_eq!(
            text(&json!("")),
            None,
            "empty text is null, as in every lookup"
        );
        assert_eq!(text(&json!(null)), None);
        assert_eq!(text(&json!(true)), Some("true".into()));
        assert_eq!(text(&json!(42)), Some("42".into()));
        assert_eq!(text(&json!(-0.5)), Some("-0.5".into()));
        assert_eq!(
            text(&json!({"a": [1, "x"], "b": null})),
            Some(r#"{"a":[1,"x"],"b":null}"#.into())
        );
        assert_eq!(text(&json!([1, 2])), Some("[1,2]".into()));
        // Integers of 64 bits are exact; other numbers go through a 64-bit float.
        let read: Vec<serde_json::Value> = serde_json::from_str(
            "[9007199254740993, -9223372036854775808, 0.1, 123456789012345678901]",
        )
        .unwrap_or_default();
        let texts: Vec<Option<String>> = read.iter().map(text).collect();
        assert_eq!(
            texts,
            [
                Some("9007199254740993".to_string()),
                Some("-9223372036854775808".to_string()),
                Some("0.1".to_string()),
                Some("1.2345678901234567e+20".to_string()),
            ]
        );
    }

    #[test]
    fn tables_are_quoted_a_part_at_a_time() {}

    #[test]
    fn a_repeated_column_is_found() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(repeated(&names(&["id", "name", "id"])), Some("id"));
        assert_eq!(repeated(&names(&["id", "name"])), None);
    }
}

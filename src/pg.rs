//! PostgreSQL connections, shared by the stages that talk to a server — lookups read from one
//! (`enrich`) and tables loaded into one (`load`): how a connection is opened (a connect timeout
//! unless the URL sets one, `application_name = rowferry`, no TLS), how an error is put in
//! words, and how a `schema.table` name is quoted. Imports no stage. Nothing here shows a
//! URL's password: errors are the server's or the client's words, never the URL.

use std::time::Duration;

use postgres::{Client, NoTls};

use crate::plan::{Server, quote_ident};

/// How long a connection may take before the run says the server does not answer (unless the
/// URL sets `connect_timeout`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A connection to `server`; `Err` says why not, in words.
pub fn connect(server: &Server) -> Result<Client, String> {
    let mut config: postgres::Config = server
        .url
        .expose()
        .parse()
        .map_err(|e: postgres::Error| describe(&e))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.application_name("rowferry");
    config.connect(NoTls).map_err(|e| describe(&e))
}

/// A PostgreSQL error in words: the server's message with its SQLSTATE (and hint), or the
/// client's reason (a refused connection, a timeout).
pub fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut m = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(hint) = db.hint() {
                m.push_str(&format!("; {hint}"));
            }
            m
        }
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

/// `schema.table` as `"schema"."table"`: each part one name, whatever it holds (a dot
/// separates the schema).
pub fn qualified(table: &str) -> String {
    table
        .split('.')
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::qualified;

    #[test]
    fn a_schema_is_quoted_apart() {
        assert_eq!(qualified("products"), "\"products\"");
        assert_eq!(qualified("shop.Products"), "\"shop\".\"Products\"");
        assert_eq!(qualified("we\"ird"), "\"we\"\"ird\"");
    }
}

//! The PostgreSQL server of the database tests: `ROWFERRY_TEST_DATABASE_URL`, set by
//! `scripts/with-postgres` (which `.ci/run` uses). Each test works in a schema of its own,
//! dropped when it ends. Without a server a test says it is skipped — and fails under `CI`,
//! where the server must be there.

use postgres::{Client, NoTls};

/// A connection to the test server and a schema of the test's own.
pub struct Pg {
    pub client: Client,
    /// The server's URL, as a mapping's `url` takes it.
    pub url: String,
    pub schema: String,
}

impl Pg {
    /// The test server with a fresh schema `name`; `None` (the test is skipped) when there is no
    /// server outside CI.
    pub fn schema(name: &str) -> Option<Pg> {
        let Ok(url) = std::env::var("ROWFERRY_TEST_DATABASE_URL") else {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "ROWFERRY_TEST_DATABASE_URL is not set: under CI the PostgreSQL tests must run (scripts/with-postgres cargo test)"
                );
            }
            eprintln!(
                "skipped: no PostgreSQL server (run `scripts/with-postgres cargo test` to include the database tests)"
            );
            return None;
        };
        let mut client = Client::connect(&url, NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to the test server {url}: {e}"));
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
            ))
            .unwrap();
        Some(Pg {
            client,
            url,
            schema: name.to_string(),
        })
    }

    /// Runs `sql` (statements separated by `;`).
    pub fn execute(&mut self, sql: &str) {
        self.client
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Each row of `sql` as its values' text (`NULL` for null), read with the simple protocol.
    pub fn rows(&mut self, sql: &str) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for m in self.client.simple_query(sql).unwrap() {
            if let postgres::SimpleQueryMessage::Row(r) = m {
                out.push(
                    (0..r.len())
                        .map(|i| r.get(i).unwrap_or("NULL").to_string())
                        .collect(),
                );
            }
        }
        out
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = self
            .client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
    }
}

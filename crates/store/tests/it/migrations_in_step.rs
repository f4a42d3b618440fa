//! The PostgreSQL migrations (`migrations/postgres`) are kept in step with SQLite's: applied in
//! order to a fresh schema of the database at `PAYSYNC_TEST_DATABASE_URL`, they make the same
//! tables with the same columns (type, nullability), primary keys and indexes as SQLite's make
//! in a new store. The test fails — it is never skipped — when that database does not answer.
//!
//! It talks to PostgreSQL through `psql` (which `scripts/test.sh` requires anyway), so that no
//! PostgreSQL client library is built for it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use paysync_store::SqliteStore;

/// A column: its type family (`integer`, `text`, `bytes`) and whether it may be NULL.
type Columns = BTreeMap<String, (String, bool)>;

#[derive(Debug, Default, PartialEq, Eq)]
struct Schema {
    tables: BTreeMap<String, Columns>,
    primary_keys: BTreeMap<String, Vec<String>>,
    indexes: Vec<String>,
}

fn migrations(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    files
}

fn database_url() -> String {
    std::env::var("PAYSYNC_TEST_DATABASE_URL").expect(
        "PAYSYNC_TEST_DATABASE_URL is not set: run the tests with ./scripts/test.sh \
         (PostgreSQL at postgres://postgres@127.0.0.1:5432/test by default)",
    )
}

/// Runs `sql` through psql, stopping at the first error; returns its unaligned output.
fn psql(url: &str, sql: &str) -> String {
    let mut child = Command::new("psql")
        .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-F", "|", url])
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql (Debian: postgresql-client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "psql failed against {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn rows(output: &str) -> impl Iterator<Item = Vec<&str>> {
    output
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('|').collect())
}

/// A fresh schema, dropped at the end of the test whatever happens.
struct PgSchema {
    url: String,
    name: String,
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-X", "-q", &self.url, "-c"])
            .arg(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
            .output();
    }
}

fn postgres_schema() -> Schema {
    let url = database_url();
    let schema = PgSchema {
        name: format!("paysync_migrations_{}", std::process::id()),
        url: url.clone(),
    };
    let s = &schema.name;
    psql(
        &url,
        &format!("DROP SCHEMA IF EXISTS {s} CASCADE; CREATE SCHEMA {s};"),
    );
    for file in migrations("postgres") {
        let sql = std::fs::read_to_string(&file).unwrap();
        psql(&url, &format!("SET search_path TO {s};\n{sql}"));
    }
    let mut out = Schema::default();
    let columns = psql(
        &url,
        &format!(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns \
             WHERE table_schema = '{s}' ORDER BY 1, ordinal_position"
        ),
    );
    for row in rows(&columns) {
        let family = match row[2] {
            "bigint" => "integer",
            "text" => "text",
            "bytea" => "bytes",
            other => panic!("{}.{}: unexpected type {other}", row[0], row[1]),
        };
        out.tables
            .entry(row[0].to_owned())
            .or_default()
            .insert(row[1].to_owned(), (family.to_owned(), row[3] == "YES"));
    }
    let keys = psql(
        &url,
        &format!(
            "SELECT k.table_name, k.column_name FROM information_schema.table_constraints c \
             JOIN information_schema.key_column_usage k ON k.constraint_name = c.constraint_name \
             AND k.table_schema = c.table_schema \
             WHERE c.table_schema = '{s}' AND c.constraint_type = 'PRIMARY KEY' \
             ORDER BY k.table_name, k.ordinal_position"
        ),
    );
    for row in rows(&keys) {
        out.primary_keys
            .entry(row[0].to_owned())
            .or_default()
            .push(row[1].to_owned());
    }
    let indexes = psql(
        &url,
        &format!(
            "SELECT indexname FROM pg_indexes WHERE schemaname = '{s}' \
             AND indexname NOT LIKE '%\\_pkey' ORDER BY 1"
        ),
    );
    out.indexes = rows(&indexes).map(|r| r[0].to_owned()).collect();
    out
}

async fn sqlite_schema() -> Schema {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    drop(SqliteStore::open(&path, 0).await.unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut out = Schema::default();
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'schema_migrations'",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for table in tables {
        let mut keys = Vec::new();
        let columns: Vec<(String, String, bool, i64)> = conn
            .prepare(&format!("PRAGMA table_info({table})"))
            .unwrap()
            .query_map([], |r| Ok((r.get(1)?, r.get(2)?, r.get(3)?, r.get(5)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut map = Columns::new();
        for (name, kind, not_null, pk) in columns {
            let family = match kind.as_str() {
                "INTEGER" => "integer",
                "TEXT" => "text",
                "BLOB" => "bytes",
                other => panic!("{table}.{name}: unexpected type {other}"),
            };
            if pk > 0 {
                keys.push((pk, name.clone()));
            }
            // A primary key column is never NULL (an INTEGER one is the rowid).
            map.insert(name, (family.to_owned(), !not_null && pk == 0));
        }
        keys.sort();
        if !keys.is_empty() {
            out.primary_keys
                .insert(table.clone(), keys.into_iter().map(|(_, n)| n).collect());
        }
        out.tables.insert(table, map);
    }
    out.indexes = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'index' \
             AND name NOT LIKE 'sqlite_autoindex%' ORDER BY 1",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    out
}

#[test]
fn postgres_migrations_make_the_schema_sqlite_migrations_make() {
    let sqlite_files: Vec<_> = migrations("sqlite")
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    let postgres_files: Vec<_> = migrations("postgres")
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    assert_eq!(
        sqlite_files, postgres_files,
        "one migration per backend, same names"
    );
    let sqlite = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(sqlite_schema());
    let postgres = postgres_schema();
    assert!(sqlite.tables.len() >= 18, "{:?}", sqlite.tables.keys());
    for (table, columns) in &sqlite.tables {
        assert_eq!(
            Some(columns),
            postgres.tables.get(table),
            "table {table}: SQLite's, then PostgreSQL's"
        );
    }
    assert_eq!(sqlite.tables.len(), postgres.tables.len());
    assert_eq!(sqlite.primary_keys, postgres.primary_keys);
    assert_eq!(sqlite.indexes, postgres.indexes);
}

//! One way to run SQL on either backend, so that every query of the store is written once.
//!
//! The store's functions take a [`Db`]: SQLite's connection, or a PostgreSQL transaction
//! ([`crate::postgres`]). Statements are written in the dialect both accept (`?1` placeholders,
//! `ON CONFLICT … DO UPDATE`, `RETURNING`, `COUNT(*) FILTER (WHERE …)`, integers for booleans);
//! the few places that must differ ask [`Db::dialect`]. A parameter tested with `IS NULL` is
//! cast to its type there (`CAST(?1 AS TEXT) IS NULL`): PostgreSQL must know it where it first
//! appears. Values cross as [`Arg`]s and come back as
//! [`Row`]s of [`Value`]s, read with [`Row::get`] into the Rust type the caller asks for.

use crate::{Result, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A value bound to a statement.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// What may be bound to a statement.
pub(crate) trait ToArg {
    fn to_arg(&self) -> Arg<'_>;
}

impl ToArg for i64 {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Int(*self)
    }
}

impl ToArg for u32 {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Int(i64::from(*self))
    }
}

impl ToArg for bool {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Int(i64::from(*self))
    }
}

impl ToArg for str {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}

impl ToArg for String {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}

impl ToArg for [u8] {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Blob(self)
    }
}

impl ToArg for Vec<u8> {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Blob(self)
    }
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn to_arg(&self) -> Arg<'_> {
        (**self).to_arg()
    }
}

impl<T: ToArg> ToArg for Option<T> {
    fn to_arg(&self) -> Arg<'_> {
        self.as_ref().map_or(Arg::Null, ToArg::to_arg)
    }
}

/// The arguments of a statement: `args![a, b, &(n as i64)]`.
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        &[$(&$arg as &dyn $crate::sql::ToArg),*] as &[&dyn $crate::sql::ToArg]
    };
}
pub(crate) use args;

/// A value read from a row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// One row of a result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row(pub(crate) Vec<Value>);

impl Row {
    /// Column `i` as `T`; a missing column or a value of another type is [`StoreError::Corrupt`].
    pub(crate) fn get<T: FromValue>(&self, i: usize) -> Result<T> {
        let value = self
            .0
            .get(i)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {i} in the row")))?;
        T::from_value(value)
    }
}

/// What a column may be read as.
pub(crate) trait FromValue: Sized {
    fn from_value(value: &Value) -> Result<Self>;
}

fn unexpected<T>(value: &Value, wanted: &str) -> Result<T> {
    let found = match value {
        Value::Null => "NULL",
        Value::Int(_) => "an integer",
        Value::Real(_) => "a real",
        Value::Text(_) => "text",
        Value::Blob(_) => "a blob",
    };
    Err(StoreError::Corrupt(format!(
        "{found} where {wanted} was expected"
    )))
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Int(i) => Ok(*i),
            other => unexpected(other, "an integer"),
        }
    }
}

impl FromValue for u32 {
    fn from_value(value: &Value) -> Result<Self> {
        let i = i64::from_value(value)?;
        u32::try_from(i).map_err(|_| StoreError::Corrupt(format!("{i} is out of range")))
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self> {
        Ok(i64::from_value(value)? != 0)
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Text(s) => Ok(s.clone()),
            other => unexpected(other, "text"),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Blob(b) => Ok(b.clone()),
            other => unexpected(other, "a blob"),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// A connection (or transaction) the store's SQL runs on.
pub(crate) trait Db {
    fn dialect(&self) -> Dialect;
    /// Runs a statement; returns how many rows it changed.
    fn execute(&self, sql: &str, args: &[&dyn ToArg]) -> Result<usize>;
    /// Runs a query; returns every row.
    fn query(&self, sql: &str, args: &[&dyn ToArg]) -> Result<Vec<Row>>;
    /// Runs several statements without arguments (a migration), returning nothing.
    fn execute_batch(&self, sql: &str) -> Result<()>;
}

impl dyn Db + '_ {
    /// The first row, if any.
    pub(crate) fn query_opt(&self, sql: &str, args: &[&dyn ToArg]) -> Result<Option<Row>> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// The one row a query always returns (an aggregate, `EXISTS`).
    pub(crate) fn query_one(&self, sql: &str, args: &[&dyn ToArg]) -> Result<Row> {
        self.query_opt(sql, args)?
            .ok_or_else(|| StoreError::Database(format!("no row from: {sql}")))
    }

    /// The first column of the one row a query returns.
    pub(crate) fn value<T: FromValue>(&self, sql: &str, args: &[&dyn ToArg]) -> Result<T> {
        self.query_one(sql, args)?.get(0)
    }

    /// The SQL reading text field `key` of the JSON object in `column`.
    pub(crate) fn json_text(&self, column: &str, key: &str) -> String {
        match self.dialect() {
            Dialect::Sqlite => format!("json_extract({column}, '$.{key}')"),
            Dialect::Postgres => format!("(CAST({column} AS jsonb) ->> '{key}')"),
        }
    }

    /// Every row, each made into a `T`.
    pub(crate) fn query_map<T>(
        &self,
        sql: &str,
        args: &[&dyn ToArg],
        each: impl Fn(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.query(sql, args)?.iter().map(each).collect()
    }
}

// ---- SQLite ------------------------------------------------------------------------------------

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match *self {
            Arg::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Arg::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(i)),
            Arg::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Arg::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

impl Db for rusqlite::Connection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&self, sql: &str, args: &[&dyn ToArg]) -> Result<usize> {
        let args = rusqlite::params_from_iter(args.iter().map(|a| a.to_arg()));
        Ok(self.prepare_cached(sql)?.execute(args)?)
    }

    fn execute_batch(&self, sql: &str) -> Result<()> {
        Ok(rusqlite::Connection::execute_batch(self, sql)?)
    }

    fn query(&self, sql: &str, args: &[&dyn ToArg]) -> Result<Vec<Row>> {
        use rusqlite::types::ValueRef;
        let mut stmt = self.prepare_cached(sql)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(args.iter().map(|a| a.to_arg())))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(i) => Value::Int(i),
                    ValueRef::Real(f) => Value::Real(f),
                    ValueRef::Text(t) => Value::Text(
                        std::str::from_utf8(t)
                            .map_err(|e| StoreError::Corrupt(format!("text column: {e}")))?
                            .to_owned(),
                    ),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cross_sqlite_both_ways() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let db: &dyn Db = &conn;
        db.execute(
            "CREATE TABLE t (i INTEGER, s TEXT, b BLOB, n TEXT)",
            args![],
        )
        .unwrap();
        let none: Option<&str> = None;
        let n = db
            .execute(
                "INSERT INTO t VALUES (?1, ?2, ?3, ?4)",
                args![42i64, "héllo", vec![0u8, 255], none],
            )
            .unwrap();
        assert_eq!(n, 1);
        let row = db.query_one("SELECT i, s, b, n FROM t", args![]).unwrap();
        assert_eq!(row.get::<i64>(0).unwrap(), 42);
        assert_eq!(row.get::<String>(1).unwrap(), "héllo");
        assert_eq!(row.get::<Vec<u8>>(2).unwrap(), vec![0, 255]);
        assert_eq!(row.get::<Option<String>>(3).unwrap(), None);
        assert!(matches!(row.get::<String>(0), Err(StoreError::Corrupt(_))));
        assert!(matches!(row.get::<i64>(9), Err(StoreError::Corrupt(_))));
    }
}

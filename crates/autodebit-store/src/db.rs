//! The seam between the store and sqlx: one small executor trait over a transaction of either
//! backend, with values and rows as plain data. Every query the store runs is written once with
//! `$n` placeholders (which both PostgreSQL and SQLite read) and goes through here, so the mapping
//! code in [`crate::rows`] and [`crate::store`] is shared by both backends.
//!
//! Only two column types exist in the schema, `BIGINT`/`INTEGER` and `TEXT`, so a value is an
//! optional integer or an optional text.

use std::borrow::Cow;

use async_trait::async_trait;
use autodebit_domain::ports::StoreError;
use sqlx::{AssertSqlSafe, Column, Postgres, Row as _, Sqlite, Transaction, TypeInfo, ValueRef};

/// A parameter or a column value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    /// An integer (or a typed NULL for an integer column).
    Int(Option<i64>),
    /// A text (or a typed NULL for a text column).
    Text(Option<String>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(Some(v.to_owned()))
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::Text(v)
    }
}

impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Value::Text(v.map(str::to_owned))
    }
}

/// A row read back: its values by position, with the column names for error messages.
#[derive(Debug)]
pub(crate) struct Row {
    names: Vec<String>,
    values: Vec<Value>,
}

impl Row {
    fn missing(&self, i: usize) -> StoreError {
        StoreError::Corrupt(format!(
            "column {} is missing or of the wrong type",
            self.names.get(i).map_or("?", String::as_str)
        ))
    }

    /// An integer column that may be NULL.
    pub(crate) fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.values.get(i) {
            Some(Value::Int(v)) => Ok(*v),
            Some(Value::Text(None)) => Ok(None),
            _ => Err(self.missing(i)),
        }
    }

    /// An integer column.
    pub(crate) fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.opt_int(i)?.ok_or_else(|| self.missing(i))
    }

    /// A text column that may be NULL.
    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.values.get(i) {
            Some(Value::Text(v)) => Ok(v.clone()),
            Some(Value::Int(None)) => Ok(None),
            _ => Err(self.missing(i)),
        }
    }

    /// A text column.
    pub(crate) fn text(&self, i: usize) -> Result<String, StoreError> {
        self.opt_text(i)?.ok_or_else(|| self.missing(i))
    }

    /// A row made by hand, for unit tests of the mapping.
    #[cfg(test)]
    pub(crate) fn for_tests(names: &[&str], values: Vec<Value>) -> Self {
        Self {
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            values,
        }
    }

    /// The name of column `i`.
    pub(crate) fn name(&self, i: usize) -> &str {
        self.names.get(i).map_or("?", String::as_str)
    }
}

/// Runs statements inside one open transaction.
///
/// A query text is a constant, or (`*_sql`) one assembled by this crate from constant fragments
/// and `$n` placeholders only: no value is ever formatted into a query.
#[async_trait]
pub(crate) trait Exec: Send {
    /// Runs a query and reads every row.
    async fn fetch_sql(
        &mut self,
        sql: Cow<'static, str>,
        args: Vec<Value>,
    ) -> Result<Vec<Row>, StoreError>;
    /// Runs a statement; returns the rows it affected.
    async fn execute_sql(
        &mut self,
        sql: Cow<'static, str>,
        args: Vec<Value>,
    ) -> Result<u64, StoreError>;
    /// Commits.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;

    /// Runs a constant query and reads every row.
    async fn fetch(&mut self, sql: &'static str, args: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        self.fetch_sql(Cow::Borrowed(sql), args).await
    }
    /// Runs a constant statement; returns the rows it affected.
    async fn execute(&mut self, sql: &'static str, args: Vec<Value>) -> Result<u64, StoreError> {
        self.execute_sql(Cow::Borrowed(sql), args).await
    }
}

/// Maps a driver error to the port's error. Only the database's own message and code are kept
/// (PostgreSQL's `DETAIL`, which can quote a row's values, is not).
pub(crate) fn map_error(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let message = format!("{} (code {code})", db.message());
            if db.is_unique_violation() {
                StoreError::Conflict(message)
            } else if matches!(code.as_str(), "40001" | "40P01") {
                // PostgreSQL: serialization failure, deadlock. The unit of work was rolled back and
                // may be re-applied.
                StoreError::Conflict(message)
            } else {
                StoreError::Unavailable(message)
            }
        }
        sqlx::Error::ColumnDecode { index, source } => {
            StoreError::Corrupt(format!("column {index}: {source}"))
        }
        sqlx::Error::Decode(source) => StoreError::Corrupt(source.to_string()),
        other => StoreError::Unavailable(other.to_string()),
    }
}

macro_rules! exec_for {
    ($db:ty) => {
        #[async_trait]
        impl Exec for Transaction<'static, $db> {
            async fn fetch_sql(
                &mut self,
                sql: Cow<'static, str>,
                args: Vec<Value>,
            ) -> Result<Vec<Row>, StoreError> {
                let mut query = sqlx::query::<$db>(AssertSqlSafe(sql));
                for arg in args {
                    query = match arg {
                        Value::Int(v) => query.bind(v),
                        Value::Text(v) => query.bind(v),
                    };
                }
                let rows = query.fetch_all(&mut **self).await.map_err(map_error)?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let mut names = Vec::with_capacity(row.len());
                    let mut values = Vec::with_capacity(row.len());
                    for (i, column) in row.columns().iter().enumerate() {
                        names.push(column.name().to_owned());
                        let raw = row.try_get_raw(i).map_err(map_error)?;
                        let integer = if raw.is_null() {
                            column.type_info().name().contains("INT")
                        } else {
                            raw.type_info().name().contains("INT")
                        };
                        let null = raw.is_null();
                        values.push(match (integer, null) {
                            (true, true) => Value::Int(None),
                            (false, true) => Value::Text(None),
                            (true, false) => {
                                Value::Int(Some(row.try_get::<i64, _>(i).map_err(map_error)?))
                            }
                            (false, false) => {
                                Value::Text(Some(row.try_get::<String, _>(i).map_err(map_error)?))
                            }
                        });
                    }
                    out.push(Row { names, values });
                }
                Ok(out)
            }

            async fn execute_sql(
                &mut self,
                sql: Cow<'static, str>,
                args: Vec<Value>,
            ) -> Result<u64, StoreError> {
                let mut query = sqlx::query::<$db>(AssertSqlSafe(sql));
                for arg in args {
                    query = match arg {
                        Value::Int(v) => query.bind(v),
                        Value::Text(v) => query.bind(v),
                    };
                }
                let done = query.execute(&mut **self).await.map_err(map_error)?;
                Ok(done.rows_affected())
            }

            async fn commit(self: Box<Self>) -> Result<(), StoreError> {
                (*self).commit().await.map_err(map_error)
            }
        }
    };
}

exec_for!(Sqlite);
exec_for!(Postgres);

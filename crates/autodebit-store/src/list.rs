//! Lists of records for the port's `list_*` reads: newest first by `(created_at, id)`, both
//! descending, filtered, and paged by a cursor (the id of the last item of the page before).
//!
//! The query is assembled from constant fragments (the table, its columns, the filtered column
//! names) and `$n` placeholders; every value is a bound parameter. The cursor is placed by its own
//! `(created_at, id)`, whether or not it matches the filter; a cursor naming no row of the list
//! (none of this merchant's) reads as an empty page. On PostgreSQL ids compare byte-wise
//! (`COLLATE "C"`), as they do on SQLite, so a page boundary falls in the same place on both.

use std::borrow::Cow;

use autodebit_domain::ports::{PageRequest, StoreError};

use crate::Backend;
use crate::db::Value;
use crate::tx::{Decode, SqlTx};

/// One list query under construction.
pub(crate) struct Listing {
    table: &'static str,
    columns: &'static str,
    conditions: Vec<String>,
    args: Vec<Value>,
}

impl Listing {
    /// A list of `table`'s rows, read as `columns`, scoped to the unit of work's merchant.
    pub(crate) fn new(tx: &SqlTx, table: &'static str, columns: &'static str) -> Self {
        let mut listing = Self {
            table,
            columns,
            conditions: Vec::new(),
            args: Vec::new(),
        };
        listing.equals("merchant_id", tx.merchant_value());
        listing
    }

    /// The next placeholder, bound to `value`.
    fn bind(&mut self, value: Value) -> String {
        self.args.push(value);
        format!("${}", self.args.len())
    }

    /// Only rows whose `column` is `value`.
    pub(crate) fn equals(&mut self, column: &'static str, value: Value) {
        let at = self.bind(value);
        self.conditions.push(format!("{column} = {at}"));
    }

    /// Only rows whose `column` is one of `values` (no condition when there are none).
    pub(crate) fn any_of(&mut self, column: &'static str, mut values: Vec<&'static str>) {
        values.sort_unstable();
        values.dedup();
        if values.is_empty() {
            return;
        }
        let places: Vec<String> = values.into_iter().map(|v| self.bind(v.into())).collect();
        self.conditions
            .push(format!("{column} IN ({})", places.join(", ")));
    }

    /// Reads the page `page` asks for.
    pub(crate) async fn read<T>(
        mut self,
        tx: &mut SqlTx,
        page: &PageRequest,
        decode: Decode<T>,
    ) -> Result<Vec<T>, StoreError> {
        let id = match tx.backend {
            Backend::Sqlite => "id",
            Backend::Postgres => "id COLLATE \"C\"",
        };
        if let Some(after) = &page.after {
            let cursor = tx
                .exec
                .fetch_sql(
                    Cow::Owned(format!(
                        "SELECT created_at, id FROM {} WHERE id = $1 AND merchant_id = $2",
                        self.table
                    )),
                    vec![after.as_str().into(), tx.merchant_value()],
                )
                .await?;
            let Some(cursor) = cursor.first() else {
                return Ok(Vec::new());
            };
            let (created_at, cursor_id) = (cursor.int(0)?, cursor.text(1)?);
            let at = self.bind(created_at.into());
            let at_id = self.bind(cursor_id.into());
            self.conditions
                .push(format!("(created_at, {id}) < ({at}, {at_id})"));
        }
        let limit = self.bind(i64::from(page.limit).into());
        let sql = format!(
            "SELECT {} FROM {} WHERE {} ORDER BY created_at DESC, {id} DESC LIMIT {limit}",
            self.columns,
            self.table,
            self.conditions.join(" AND "),
        );
        let rows = tx.exec.fetch_sql(Cow::Owned(sql), self.args).await?;
        rows.iter().map(|row| decode(row, &tx.keys)).collect()
    }
}

//! `scan`: pages of rows in primary-key order.

use store_core::{Operation, Result, ScanCursor, ScanPage, scan::key_order_start};

use crate::codec::{Arg, scan_page};
use crate::connect::SqlStore;
use crate::query::Dialect;

impl<D: Dialect> SqlStore<D> {
    /// One `SELECT` in primary-key order from the cursor's key, `limit`
    /// rows at most; rows that do not decode are named, not fatal. On
    /// SQLite, rows whose key is not text (no store writes those) are not
    /// visited.
    pub(crate) async fn scan_rows(
        &self,
        cursor: Option<&ScanCursor>,
        limit: usize,
    ) -> Result<ScanPage> {
        let op = Operation::Scan;
        let after = key_order_start(cursor, limit).map_err(|e| e.in_context(D::BACKEND, op))?;
        let limit_param = Arg::Int(i64::try_from(limit).unwrap_or(i64::MAX));
        let now = self.config.clock.now();
        let rows = match after {
            Some(after) => {
                let args = [Arg::Text(after), limit_param];
                self.rows(op, &self.sql.scan_after, &args).await?
            }
            None => self.rows(op, &self.sql.scan_first, &[limit_param]).await?,
        };
        let rows = rows
            .iter()
            .map(|row| Ok((self.key_text(row, op)?, self.entry(row, op))))
            .collect::<Result<Vec<_>>>()?;
        Ok(scan_page(rows, now, limit))
    }
}

//! The probe write behind the store's health: filler that must grow the database.

use rusqlite::params;

use super::{Context, Tx};
use crate::store::Result;

impl Tx<'_> {
    /// Writes (`fill`) or removes `bytes` of filler under a key of its own in `meta`.
    pub fn probe_space(&self, fill: bool, bytes: usize) -> Result<()> {
        if fill {
            self.conn()
                .prepare_cached(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('health_probe', zeroblob(?1))",
                )?
                .execute(params![bytes as i64])
                .context("writing the health probe")?;
        } else {
            self.conn()
                .prepare_cached("DELETE FROM meta WHERE key = 'health_probe'")?
                .execute([])
                .context("removing the health probe")?;
        }
        Ok(())
    }
}

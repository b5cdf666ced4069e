//! The probe write behind the store's health: filler that must grow the database.

use super::{Context, Tx};
use crate::store::Result;

impl Tx<'_, '_> {
    /// Writes (`fill`) or removes `bytes` of filler under a key of its own in `meta`. Random
    /// hex, so PostgreSQL cannot compress it away: the commit must find room for the rows.
    pub fn probe_space(&self, fill: bool, bytes: usize) -> Result<()> {
        if fill {
            let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
            self.execute(
                "INSERT INTO meta (key, value)
                 SELECT 'health_probe', string_agg(md5(random()::text), '')
                 FROM generate_series(1, GREATEST($1 / 32, 1))
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&bytes],
            )
            .context("writing the health probe")?;
        } else {
            self.execute("DELETE FROM meta WHERE key = 'health_probe'", &[])
                .context("removing the health probe")?;
        }
        Ok(())
    }
}

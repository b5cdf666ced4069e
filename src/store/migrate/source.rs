//! The SQLite side of `pagerd migrate`: the file opened read-only (never migrated, never
//! checkpointed), one read transaction for the whole copy, its tables in foreign-key order
//! and their rows streamed one at a time.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

/// One table's figures: rows and largest `id` (tables without an `id` column: `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyStats {
    pub table: String,
    pub rows: i64,
    pub max_id: Option<i64>,
}

/// A table to copy: its columns in schema order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub columns: Vec<String>,
}

impl Table {
    pub fn has_id(&self) -> bool {
        self.columns.iter().any(|c| c == "id")
    }

    /// The rows that are data: `meta`'s `health_probe` is the disk-space probe's transient
    /// filler (a blob), not state.
    pub fn source_filter(&self) -> &'static str {
        if self.name == "meta" {
            " WHERE key <> 'health_probe'"
        } else {
            ""
        }
    }
}

/// One value of a row, as PostgreSQL's BIGINT/TEXT columns take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

pub struct Source {
    conn: Connection,
    path: PathBuf,
}

impl Source {
    /// Opens `path` read-only. A running daemon is not disturbed (WAL readers do not block
    /// its writer), but stop it first: what it writes after the snapshot is not copied.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("--from: opening {} read-only", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "query_only", true)?;
        // The last connection to close would otherwise checkpoint the WAL into the file.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Starts the one read transaction the whole copy reads from, and checks (inside it)
    /// that the file has the schema this binary knows.
    pub fn snapshot(&mut self) -> anyhow::Result<Snapshot<'_>> {
        let tx = self.conn.unchecked_transaction()?;
        let version: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .with_context(|| format!("--from: reading {}", self.path.display()))?;
        check_version(&self.path, version, crate::store::sqlite::schema_version())?;
        Ok(Snapshot { tx })
    }
}

/// Only a file at exactly this binary's schema version is copied: an older one is migrated
/// by starting this pagerd on it once, a newer one needs the newer binary.
fn check_version(path: &Path, version: i64, known: i64) -> anyhow::Result<()> {
    if version == 0 {
        bail!(
            "--from: {} is not a pagerd database (schema version 0)",
            path.display()
        );
    }
    if version < known {
        bail!(
            "--from: {} has schema version {version}, this pagerd copies version {known}: \
             start this pagerd on it once (it migrates the file at start), stop it, then run \
             `pagerd migrate` again",
            path.display()
        );
    }
    if version > known {
        bail!(
            "--from: {} has schema version {version}, newer than this pagerd knows ({known}): \
             run `pagerd migrate` of the pagerd that wrote it",
            path.display()
        );
    }
    Ok(())
}

/// The read transaction every table is read in: one consistent view of the file.
pub struct Snapshot<'c> {
    tx: rusqlite::Transaction<'c>,
}

impl Snapshot<'_> {
    /// Every table of the schema (not SQLite's own), parents before the tables that
    /// reference them, otherwise in creation order.
    pub fn tables(&self) -> anyhow::Result<Vec<Table>> {
        let names: Vec<String> = self
            .tx
            .prepare(
                "SELECT name FROM sqlite_schema WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid",
            )?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut tables = Vec::with_capacity(names.len());
        let mut parents = Vec::with_capacity(names.len());
        for name in &names {
            let columns: Vec<String> = self
                .tx
                .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?
                .query_map([name], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let refs: Vec<String> = self
                .tx
                .prepare("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)")?
                .query_map([name], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            tables.push(Table {
                name: name.clone(),
                columns,
            });
            parents.push(refs);
        }
        let order = fk_order(&names, &parents)?;
        Ok(order.into_iter().map(|i| tables[i].clone()).collect())
    }

    /// Count and largest id of `table`'s data rows.
    pub fn stats(&self, table: &Table) -> anyhow::Result<CopyStats> {
        let max = if table.has_id() { "MAX(id)" } else { "NULL" };
        let sql = format!(
            "SELECT COUNT(*), {max} FROM {}{}",
            quote(&table.name),
            table.source_filter()
        );
        let (rows, max_id) = self
            .tx
            .query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
            .with_context(|| format!("counting {} in the source", table.name))?;
        Ok(CopyStats {
            table: table.name.clone(),
            rows,
            max_id,
        })
    }

    /// Streams `table`'s data rows to `each`, one at a time (a table is never held in
    /// memory); returns how many there were.
    pub fn each_row(
        &self,
        table: &Table,
        mut each: impl FnMut(&[Field<'_>]) -> anyhow::Result<()>,
    ) -> anyhow::Result<i64> {
        let columns: Vec<String> = table.columns.iter().map(|c| quote(c)).collect();
        let sql = format!(
            "SELECT {} FROM {}{}",
            columns.join(", "),
            quote(&table.name),
            table.source_filter()
        );
        let mut stmt = self.tx.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        let mut n = 0i64;
        while let Some(row) = rows.next()? {
            n += 1;
            let mut fields = Vec::with_capacity(table.columns.len());
            for (i, column) in table.columns.iter().enumerate() {
                fields.push(match row.get_ref(i)? {
                    ValueRef::Null => Field::Null,
                    ValueRef::Integer(v) => Field::Int(v),
                    ValueRef::Text(t) => {
                        Field::Text(std::str::from_utf8(t).with_context(|| {
                            format!("{}.{column}, row {n}: text is not UTF-8", table.name)
                        })?)
                    }
                    ValueRef::Real(v) => bail!(
                        "{}.{column}, row {n}: a real number ({v}) where pagerd stores \
                         integers or text",
                        table.name
                    ),
                    ValueRef::Blob(_) => bail!(
                        "{}.{column}, row {n}: a blob where pagerd stores integers or text",
                        table.name
                    ),
                });
            }
            each(&fields)?;
        }
        Ok(n)
    }
}

/// Indices of `names` so that each table comes after the tables it references (`parents`,
/// by name; self-references ignored), and otherwise in the given order.
fn fk_order(names: &[String], parents: &[Vec<String>]) -> anyhow::Result<Vec<usize>> {
    let mut placed = vec![false; names.len()];
    let mut order = Vec::with_capacity(names.len());
    while order.len() < names.len() {
        let next = (0..names.len()).find(|&i| {
            !placed[i]
                && parents[i].iter().all(|p| {
                    p == &names[i] || names.iter().position(|n| n == p).is_none_or(|j| placed[j])
                })
        });
        let Some(i) = next else {
            let left: Vec<&str> = (0..names.len())
                .filter(|&i| !placed[i])
                .map(|i| names[i].as_str())
                .collect();
            bail!("the tables {left:?} reference each other in a cycle");
        };
        placed[i] = true;
        order.push(i);
    }
    Ok(order)
}

/// `name` as a quoted SQL identifier (the same syntax in SQLite and PostgreSQL).
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parents_come_first_otherwise_creation_order_holds() {
        let names = strings(&["meta", "pages", "due_actions", "incidents", "tree"]);
        let parents = vec![
            vec![],
            strings(&["incidents"]),
            strings(&["incidents"]),
            vec![],
            strings(&["tree"]),
        ];
        let order: Vec<&str> = fk_order(&names, &parents)
            .unwrap()
            .into_iter()
            .map(|i| names[i].as_str())
            .collect();
        assert_eq!(order, ["meta", "incidents", "pages", "due_actions", "tree"]);

        let cycle = fk_order(&strings(&["a", "b"]), &[strings(&["b"]), strings(&["a"])]);
        assert!(cycle.unwrap_err().to_string().contains("cycle"));
    }

    #[test]
    fn only_this_binarys_schema_version_is_copied() {
        let path = Path::new("/d/pagerd.db");
        let known = 12;
        assert!(check_version(path, 12, known).is_ok());
        let cases = [
            (0, "not a pagerd database"),
            (11, "start this pagerd on it once"),
            (13, "newer than this pagerd knows (12)"),
        ];
        for (version, want) in cases {
            let err = check_version(path, version, known).unwrap_err().to_string();
            assert!(
                err.starts_with("--from: /d/pagerd.db") && err.contains(want),
                "{err}"
            );
        }
    }

    /// A daemon that keeps writing (WAL, as pagerd runs it) does not change what the copy
    /// reads: every table is read in the snapshot taken when the copy started.
    #[test]
    fn writes_after_the_snapshot_began_are_not_seen_by_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pagerd.db");
        let mut daemon = Connection::open(&path).unwrap();
        daemon.pragma_update(None, "journal_mode", "WAL").unwrap();
        crate::store::sqlite::migrate_for_tests(&mut daemon).unwrap();
        let audit = "INSERT INTO audit (at, actor, via, action, target, detail)
                     VALUES (1, 'a', 'cli', 'x', 't', '')";
        daemon.execute(audit, []).unwrap();

        let mut source = Source::open(&path).unwrap();
        let snap = source.snapshot().unwrap();
        let tables = snap.tables().unwrap();
        let table = tables.iter().find(|t| t.name == "audit").unwrap();
        daemon.execute(audit, []).unwrap();
        daemon.execute(audit, []).unwrap();
        assert_eq!(snap.stats(table).unwrap().rows, 1);
        assert_eq!(snap.each_row(table, |_| Ok(())).unwrap(), 1);
        drop(snap);
        let later = source.snapshot().unwrap();
        assert_eq!(later.stats(table).unwrap().rows, 3);
    }

    /// The real schema, migrated to the end: every table, in an order the foreign keys
    /// allow, and the probe filler in `meta` is not data.
    #[test]
    fn the_schema_lists_every_pagerd_table_parents_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pagerd.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            crate::store::sqlite::migrate_for_tests(&mut conn).unwrap();
            conn.execute_batch(
                "INSERT INTO meta (key, value) VALUES ('health_probe', zeroblob(16));
                 INSERT INTO audit (at, actor, via, action, target, detail)
                     VALUES (1, 'a', 'cli', 'x', 't', 'tab\there');",
            )
            .unwrap();
        }
        let mut source = Source::open(&path).unwrap();
        let snap = source.snapshot().unwrap();
        let tables = snap.tables().unwrap();
        let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        let pos = |n: &str| names.iter().position(|x| *x == n).expect(n);
        for child in ["incident_events", "due_actions", "pages"] {
            assert!(pos("incidents") < pos(child), "{names:?}");
        }
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            [
                "audit",
                "due_actions",
                "heartbeats",
                "incident_events",
                "incidents",
                "maintenance_windows",
                "meta",
                "pages",
                "rotation_phases",
                "schedule_overrides",
                "shift_ledger",
                "tokens",
                "ui_sessions",
                "ui_used_links",
                "url_secrets"
            ]
        );
        let meta = &tables[pos("meta")];
        assert_eq!(snap.stats(meta).unwrap().rows, 1, "store_id only");
        let mut seen = Vec::new();
        snap.each_row(meta, |f| {
            seen.push(format!("{f:?}"));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 1);
        assert!(seen[0].contains("store_id"), "{seen:?}");
        let audit = &tables[pos("audit")];
        let stats = snap.stats(audit).unwrap();
        assert_eq!((stats.rows, stats.max_id), (1, Some(1)));
    }
}

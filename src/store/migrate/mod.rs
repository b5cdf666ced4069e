//! `pagerd migrate --from sqlite://PATH --to postgres://…`: copies a whole installation from
//! its SQLite file into an empty PostgreSQL database — the one module that names both drivers.
//!
//! The copy is all-or-nothing: the SQLite file is read in one read transaction (one
//! consistent snapshot, never written), and PostgreSQL is written in one transaction that
//! first refuses a target holding any row, then streams every table in foreign-key order
//! (`COPY … FROM STDIN`, ids kept), moves each identity past the copied ids, and compares
//! every table's count and largest id with the source's before it commits. Any mismatch
//! rolls the whole copy back and names the table.

#[cfg(test)]
mod on_postgres;
mod source;
mod target;

use std::path::PathBuf;

use anyhow::{Context, bail};

pub use crate::store::url::redacted as redact;
pub use source::CopyStats;

/// What was copied, one entry per table in copy order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub tables: Vec<CopyStats>,
}

impl Summary {
    /// An aligned per-table report.
    pub fn to_text(&self) -> String {
        let width = self.tables.iter().map(|t| t.table.len()).max().unwrap_or(5);
        let mut out = format!("{:<width$}  {:>10}  {:>10}\n", "TABLE", "ROWS", "MAX ID");
        for t in &self.tables {
            let max = t.max_id.map_or("-".to_string(), |m| m.to_string());
            out.push_str(&format!(
                "{:<width$}  {:>10}  {:>10}\n",
                t.table, t.rows, max
            ));
        }
        let total: i64 = self.tables.iter().map(|t| t.rows).sum();
        out.push_str(&format!(
            "{} tables, {total} rows copied and verified\n",
            self.tables.len()
        ));
        out
    }
}

/// The two ends of a copy, checked.
#[derive(Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// The SQLite file (`sqlite://PATH`, PATH relative to the working directory).
    pub from: PathBuf,
    /// The PostgreSQL URL, as given.
    pub to: String,
}

/// Checks `--from` and `--to` before anything is opened: the message names the flag.
pub fn parse_endpoints(from: &str, to: &str) -> Result<Endpoints, String> {
    let (from, to) = (from.trim(), to.trim());
    if from == to {
        return Err(format!(
            "--from and --to are the same ({}): copy from a SQLite file to a PostgreSQL \
             database",
            redact(from)
        ));
    }
    let Some(path) = from.strip_prefix("sqlite://") else {
        return Err(format!(
            "--from `{}` is not a sqlite:// URL (give the daemon's file as sqlite://PATH)",
            redact(from)
        ));
    };
    if path.is_empty() {
        return Err("--from sqlite:// names no file (sqlite://PATH)".into());
    }
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        return Err(format!(
            "--to `{}` is not a postgres:// URL (e.g. postgres://pagerd@db.example/pagerd)",
            redact(to)
        ));
    }
    Ok(Endpoints {
        from: PathBuf::from(path),
        to: to.to_string(),
    })
}

/// Copies the installation at `from` (sqlite://PATH) into the empty database at `to`
/// (postgres://…); see the module doc. Blocking: call it outside an async runtime.
pub fn run(from: &str, to: &str) -> anyhow::Result<Summary> {
    let ends = parse_endpoints(from, to).map_err(anyhow::Error::msg)?;
    if !ends.from.is_file() {
        bail!(
            "--from: no file at {} (the daemon's database, e.g. sqlite://DATA_DIR/pagerd.db)",
            ends.from.display()
        );
    }
    let mut src = source::Source::open(&ends.from)?;
    let snapshot = src.snapshot()?;
    let tables = snapshot.tables()?;

    let mut client = target::connect(&ends.to)?;
    target::migrate_schema(&mut client)
        .with_context(|| format!("migrating the schema of --to {}", redact(&ends.to)))?;
    let mut tx = target::begin(&mut client)?;
    target::check_columns(&mut tx, &tables)?;
    target::refuse_rows(&mut tx, &tables)?;

    let mut copied = Vec::with_capacity(tables.len());
    for table in &tables {
        let rows = target::copy_table(&mut tx, &snapshot, table)
            .with_context(|| format!("copying table {}", table.name))?;
        copied.push((table, rows));
    }
    target::bump_identities(&mut tx, &tables)?;

    // Counted again on both sides, in the same snapshot and transaction the copy used.
    let mut stats = Vec::with_capacity(tables.len());
    for (table, streamed) in copied {
        let want = snapshot.stats(table)?;
        let got = target::stats(&mut tx, table)?;
        verify(&want, &got, streamed)?;
        stats.push(want);
    }
    tx.commit()
        .with_context(|| format!("committing the copy into {}", redact(&ends.to)))?;
    drop(snapshot);
    Ok(Summary { tables: stats })
}

/// Whether the target holds what the source does: the same count and largest id, and every
/// streamed row was taken. A mismatch names the table (the caller rolls back).
fn verify(want: &CopyStats, got: &CopyStats, streamed: i64) -> anyhow::Result<()> {
    if streamed != want.rows {
        bail!(
            "table {}: {streamed} rows streamed but the source holds {}; nothing was copied",
            want.table,
            want.rows
        );
    }
    if got != want {
        let id = |m: Option<i64>| m.map_or("none".to_string(), |m| m.to_string());
        bail!(
            "table {}: the target holds {} rows (largest id {}) but the source {} (largest id \
             {}); nothing was copied",
            want.table,
            got.rows,
            id(got.max_id),
            want.rows,
            id(want.max_id)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_checked_and_each_error_names_its_flag() {
        let ok = parse_endpoints("sqlite://data/pagerd.db", "postgres://u@h/db").unwrap();
        assert_eq!(ok.from, PathBuf::from("data/pagerd.db"));
        assert_eq!(ok.to, "postgres://u@h/db");
        let abs = parse_endpoints("sqlite:///var/lib/pagerd/pagerd.db", "postgresql://h/db");
        assert_eq!(
            abs.unwrap().from,
            PathBuf::from("/var/lib/pagerd/pagerd.db")
        );

        let cases = [
            (
                "sqlite://a.db",
                "sqlite://a.db",
                "--from and --to are the same",
            ),
            (
                "postgres://h/db",
                "postgres://h/db",
                "--from and --to are the same",
            ),
            (
                "/tmp/a.db",
                "postgres://h/db",
                "--from `/tmp/a.db` is not a sqlite://",
            ),
            (
                "postgres://h/a",
                "postgres://h/b",
                "--from `postgres://h/a` is not",
            ),
            (
                "sqlite://",
                "postgres://h/db",
                "--from sqlite:// names no file",
            ),
            (
                "sqlite://a.db",
                "sqlite://b.db",
                "--to `sqlite://b.db` is not a postgres://",
            ),
            (
                "sqlite://a.db",
                "mysql://h/db",
                "--to `mysql://h/db` is not",
            ),
        ];
        for (from, to, want) in cases {
            let err = parse_endpoints(from, to).unwrap_err();
            assert!(err.contains(want), "{from} {to}: {err}");
        }
    }

    #[test]
    fn errors_about_urls_never_show_a_password() {
        let err = parse_endpoints("postgres://u:hunter2@h/a", "postgres://u:hunter2@h/a");
        assert!(!err.unwrap_err().contains("hunter2"));
        let err = parse_endpoints("sqlite://a.db", "pg://u:hunter2@h/a").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn redact_hides_passwords_only() {
        let cases = [
            ("postgres://h/db", "postgres://h/db"),
            ("postgres://u@h:5432/db", "postgres://u@h:5432/db"),
            ("postgres://u:pw@h/db", "postgres://u:***@h/db"),
            ("postgres://u:p@ss:w@h/db", "postgres://u:***@h/db"),
            ("postgres://u:@h/db", "postgres://u:***@h/db"),
            (
                "postgres://h/db?sslmode=off&password=pw",
                "postgres://h/db?sslmode=off&password=***",
            ),
            ("sqlite://data/pagerd.db", "sqlite://data/pagerd.db"),
            ("not a url", "not a url"),
        ];
        for (url, want) in cases {
            assert_eq!(redact(url), want, "{url}");
        }
    }

    #[test]
    fn verify_names_the_table_that_differs() {
        let stats = |rows, max_id| CopyStats {
            table: "pages".into(),
            rows,
            max_id,
        };
        assert!(verify(&stats(3, Some(9)), &stats(3, Some(9)), 3).is_ok());
        let cases = [
            (
                stats(3, Some(9)),
                stats(2, Some(9)),
                3,
                "target holds 2 rows",
            ),
            (stats(3, Some(9)), stats(3, Some(8)), 3, "largest id 8"),
            (stats(3, Some(9)), stats(3, Some(9)), 2, "2 rows streamed"),
        ];
        for (want, got, streamed, msg) in cases {
            let err = verify(&want, &got, streamed).unwrap_err().to_string();
            assert!(err.contains("table pages") && err.contains(msg), "{err}");
        }
    }

    #[test]
    fn summary_lists_every_table_and_the_total() {
        let summary = Summary {
            tables: vec![
                CopyStats {
                    table: "incidents".into(),
                    rows: 2,
                    max_id: Some(7),
                },
                CopyStats {
                    table: "meta".into(),
                    rows: 1,
                    max_id: None,
                },
            ],
        };
        let text = summary.to_text();
        assert!(text.contains("incidents           2           7"), "{text}");
        assert!(text.contains("meta                1           -"), "{text}");
        assert!(
            text.ends_with("2 tables, 3 rows copied and verified\n"),
            "{text}"
        );
    }
}

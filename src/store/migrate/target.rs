//! The PostgreSQL side of `pagerd migrate`: the schema made by the PostgreSQL backend's own
//! migrations, then one transaction that refuses a non-empty target, streams each table in
//! with `COPY … FROM STDIN` (text format), moves the identities past the copied ids and
//! counts what it holds.

use std::io::Write;

use anyhow::{Context, bail};
use postgres::{Client, NoTls, Transaction};

use super::redact;
use super::source::{CopyStats, Field, Snapshot, Table, quote};

/// Bytes of COPY data gathered before they are handed to the connection.
const CHUNK: usize = 64 * 1024;

pub fn connect(url: &str) -> anyhow::Result<Client> {
    Client::connect(url, NoTls).with_context(|| format!("--to: connecting to {}", redact(url)))
}

/// Creates or upgrades the schema exactly as a pagerd node starting on this database would.
pub fn migrate_schema(client: &mut Client) -> anyhow::Result<()> {
    crate::store::postgres::schema::migrate(client)?;
    Ok(())
}

/// The copy's one transaction. It holds the writers' advisory lock throughout, so a node
/// started on the target meanwhile cannot commit between the emptiness check and the copy.
pub fn begin(client: &mut Client) -> anyhow::Result<Transaction<'_>> {
    let mut tx = client.transaction()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&crate::store::postgres::WRITER_LOCK],
    )?;
    Ok(tx)
}

/// Every source table exists in the target with every source column (the two backends keep
/// the same tables and columns, so a mismatch means the binaries differ).
pub fn check_columns(tx: &mut Transaction<'_>, tables: &[Table]) -> anyhow::Result<()> {
    for table in tables {
        let have: Vec<String> = tx
            .query(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 \
                 ORDER BY ordinal_position",
                &[&table.name],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if have.is_empty() {
            bail!(
                "--to: the target has no table {} after its migrations (a pagerd of another \
                 version?)",
                table.name
            );
        }
        let missing: Vec<&str> = (table.columns.iter())
            .filter(|c| !have.contains(c))
            .map(|c| c.as_str())
            .collect();
        if !missing.is_empty() {
            bail!(
                "--to: table {} has no column(s) {} (a pagerd of another version?)",
                table.name,
                missing.join(", ")
            );
        }
    }
    Ok(())
}

/// Refuses a target that holds any row of pagerd's (`meta` aside: the schema's own
/// migrations write its `store_id`, which the copy replaces with the source's).
pub fn refuse_rows(tx: &mut Transaction<'_>, tables: &[Table]) -> anyhow::Result<()> {
    let mut held = Vec::new();
    for table in tables.iter().filter(|t| t.name != "meta") {
        let n: i64 = tx
            .query_one(&format!("SELECT COUNT(*) FROM {}", quote(&table.name)), &[])?
            .get(0);
        if n > 0 {
            held.push(format!("{} holds {n} row(s)", table.name));
        }
    }
    if !held.is_empty() {
        bail!(
            "--to: the target database is not empty ({}); pagerd migrate copies only into an \
             empty database",
            held.join(", ")
        );
    }
    Ok(())
}

/// Streams `table` from the snapshot into the target; returns the rows PostgreSQL took.
pub fn copy_table(
    tx: &mut Transaction<'_>,
    snapshot: &Snapshot<'_>,
    table: &Table,
) -> anyhow::Result<i64> {
    if table.name == "meta" {
        // The source's keys replace the target's (its store_id keeps idempotency keys).
        let mut keys: Vec<String> = Vec::new();
        snapshot.each_row(table, |fields| {
            if let Some(Field::Text(k)) = fields.first() {
                keys.push(k.to_string());
            }
            Ok(())
        })?;
        tx.execute("DELETE FROM meta WHERE key = ANY($1)", &[&keys])?;
    }
    let columns: Vec<String> = table.columns.iter().map(|c| quote(c)).collect();
    let sql = format!(
        "COPY {} ({}) FROM STDIN",
        quote(&table.name),
        columns.join(", ")
    );
    let mut writer = tx.copy_in(&sql)?;
    let mut buf = Vec::with_capacity(CHUNK + 4096);
    snapshot.each_row(table, |fields| {
        encode_row(fields, &mut buf);
        if buf.len() >= CHUNK {
            writer.write_all(&buf)?;
            buf.clear();
        }
        Ok(())
    })?;
    writer.write_all(&buf)?;
    Ok(writer.finish()? as i64)
}

/// Moves each table's `id` identity past the largest copied id, so the next row a node
/// inserts gets a fresh id.
pub fn bump_identities(tx: &mut Transaction<'_>, tables: &[Table]) -> anyhow::Result<()> {
    for table in tables.iter().filter(|t| t.has_id()) {
        let seq: Option<String> = tx
            .query_one("SELECT pg_get_serial_sequence($1, 'id')", &[&table.name])?
            .get(0);
        let Some(seq) = seq else { continue };
        let sql = format!(
            "SELECT setval($1::text::regclass, COALESCE((SELECT MAX(id) FROM {}), 0) + 1, false)",
            quote(&table.name)
        );
        tx.query_one(&sql, &[&seq])
            .with_context(|| format!("moving the identity of {} past its ids", table.name))?;
    }
    Ok(())
}

/// Count and largest id of `table` in the target, counted the way the source counts.
pub fn stats(tx: &mut Transaction<'_>, table: &Table) -> anyhow::Result<CopyStats> {
    let max = if table.has_id() {
        "MAX(id)"
    } else {
        "NULL::bigint"
    };
    let sql = format!(
        "SELECT COUNT(*), {max} FROM {}{}",
        quote(&table.name),
        table.source_filter()
    );
    let row = tx.query_one(&sql, &[])?;
    Ok(CopyStats {
        table: table.name.clone(),
        rows: row.get(0),
        max_id: row.get(1),
    })
}

/// One row in COPY's text format: tab-separated, `\N` for NULL, backslash escapes.
fn encode_row(fields: &[Field<'_>], out: &mut Vec<u8>) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        match field {
            Field::Null => out.extend_from_slice(b"\\N"),
            Field::Int(v) => out.extend_from_slice(v.to_string().as_bytes()),
            Field::Text(s) => {
                for b in s.bytes() {
                    match b {
                        b'\\' => out.extend_from_slice(b"\\\\"),
                        b'\n' => out.extend_from_slice(b"\\n"),
                        b'\r' => out.extend_from_slice(b"\\r"),
                        b'\t' => out.extend_from_slice(b"\\t"),
                        _ => out.push(b),
                    }
                }
            }
        }
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_rows_escape_what_the_text_format_reserves() {
        let cases: &[(&[Field], &str)] = &[
            (&[Field::Int(7), Field::Null], "7\t\\N\n"),
            (&[Field::Int(-1), Field::Text("")], "-1\t\n"),
            (&[Field::Text("a\tb\nc\rd")], "a\\tb\\nc\\rd\n"),
            (&[Field::Text("\\N")], "\\\\N\n"),
            (&[Field::Text("\\.")], "\\\\.\n"),
            (&[Field::Text("{\"k\":\"ü\"}")], "{\"k\":\"ü\"}\n"),
        ];
        for (fields, want) in cases {
            let mut out = Vec::new();
            encode_row(fields, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), *want, "{fields:?}");
        }
    }
}

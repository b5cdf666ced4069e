//! `pagerctl audit`: who did what, as the daemon authenticated them (admin).

use serde_json::{Value, json};

use pagerd::proto as pb;

use crate::Global;
use crate::cli::AuditArgs;
use crate::render::json::timestamp_json;
use crate::render::time::local_time_of;
use crate::render::{emit, emit_json, finish_table, plain_table};

pub(crate) async fn audit(g: &Global, args: AuditArgs) -> anyhow::Result<()> {
    let since = g
        .time_opt("--since", args.since.as_ref())?
        .map(pagerd::api::convert::timestamp);
    let pagerd = g.connect().await?;
    let r = pagerd
        .call(pagerd.daemon().list_audit(pb::ListAuditRequest {
            since,
            limit: args.limit,
        }))
        .await?;
    if g.json {
        let entries: Vec<Value> = r
            .entries
            .iter()
            .map(|e| {
                json!({"at": timestamp_json(e.at.as_ref()), "actor": e.actor, "via": e.via,
                       "action": e.action, "target": e.target, "detail": e.detail})
            })
            .collect();
        return emit_json(&json!({ "entries": entries }));
    }
    let mut table = plain_table();
    table.set_header(vec!["AT", "ACTOR", "VIA", "ACTION", "TARGET", "DETAIL"]);
    for e in &r.entries {
        table.add_row(vec![
            local_time_of(e.at.as_ref()),
            e.actor.clone(),
            e.via.clone(),
            e.action.clone(),
            e.target.clone(),
            e.detail.clone(),
        ]);
    }
    emit(&finish_table(table))
}

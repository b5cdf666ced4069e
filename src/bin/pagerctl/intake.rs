//! Intake commands: maintenance windows (add, list, remove) and heartbeats (ping, list).

use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

use pagerd::proto as pb;

use crate::Global;
use crate::cli::{HeartbeatCommand, MaintenanceCommand};
use crate::render::json::window_json;
use crate::render::time::{format_duration, local_time, local_time_of, to_datetime, to_timestamp};
use crate::render::{clean, emit, emit_json, plain_table};

pub(crate) async fn maintenance(g: &Global, cmd: MaintenanceCommand) -> anyhow::Result<()> {
    let window = match &cmd {
        MaintenanceCommand::Add { until, from, .. } => Some((
            g.time("--until", until)?,
            g.time_opt("--from", from.as_ref())?,
        )),
        _ => None,
    };
    let pagerd = g.connect().await?;
    let mut intake = pagerd.intake();
    match cmd {
        MaintenanceCommand::Add {
            service,
            until: _,
            from: _,
            reason,
            quiet_after,
            by,
        } => {
            let (until, from) = window.context("the window's times")?;
            let request = pb::AddMaintenanceRequest {
                service,
                start: from.map(to_timestamp),
                end: Some(to_timestamp(until)),
                reason,
                quiet_after,
                by,
            };
            let w = pagerd
                .call(intake.add_maintenance(request))
                .await?
                .window
                .unwrap_or_default();
            if g.json {
                return emit_json(&window_json(&w));
            }
            emit(&format!(
                "maintenance window {} for {}: until {}{}",
                w.id,
                clean(&w.service),
                local_time_of(w.end.as_ref()),
                if w.page_after {
                    "; open incidents from it page when it ends"
                } else {
                    "; its incidents stay quiet"
                }
            ))
        }
        MaintenanceCommand::Remove { id, by } => {
            let w = pagerd
                .call(intake.remove_maintenance(pb::RemoveMaintenanceRequest { id, by }))
                .await?
                .window
                .unwrap_or_default();
            if g.json {
                return emit_json(&window_json(&w));
            }
            emit(&format!(
                "maintenance window {} for {} ended by {}",
                w.id,
                clean(&w.service),
                clean(&w.removed_by)
            ))
        }
        MaintenanceCommand::List { service, all } => {
            let request = pb::ListMaintenanceRequest {
                service: service.unwrap_or_default(),
                include_removed: all,
            };
            let list = pagerd.call(intake.list_maintenance(request)).await?;
            if g.json {
                let items: Vec<Value> = list.windows.iter().map(window_json).collect();
                return emit_json(&json!({ "windows": items }));
            }
            if list.windows.is_empty() {
                return emit("no maintenance windows");
            }
            let mut table = plain_table();
            table.set_header(["ID", "SERVICE", "FROM", "UNTIL", "AFTER", "BY", "REASON"]);
            for w in &list.windows {
                table.add_row([
                    if w.id == 0 {
                        "file".to_string()
                    } else {
                        w.id.to_string()
                    },
                    clean(&w.service),
                    local_time_of(w.start.as_ref()),
                    local_time_of(w.end.as_ref()),
                    if w.page_after { "page" } else { "quiet" }.to_string(),
                    if w.removed_by.is_empty() {
                        clean(&w.created_by)
                    } else {
                        format!(
                            "{} (removed by {})",
                            clean(&w.created_by),
                            clean(&w.removed_by)
                        )
                    },
                    clean(&w.reason),
                ]);
            }
            emit(&table.to_string())
        }
    }
}

pub(crate) async fn heartbeat(g: &Global, cmd: HeartbeatCommand) -> anyhow::Result<()> {
    let pagerd = g.connect().await?;
    let mut intake = pagerd.intake();
    match cmd {
        HeartbeatCommand::Ping { name } => {
            let r = pagerd
                .call(intake.heartbeat(pb::HeartbeatRequest { name: name.clone() }))
                .await?;
            let expires = to_datetime(r.expires_at.as_ref());
            if g.json {
                return emit_json(&json!({
                    "name": name,
                    "expires_at": expires.map(|t| t.to_rfc3339()),
                    "resolved_incident_id": (r.resolved_incident_id != 0).then_some(r.resolved_incident_id),
                }));
            }
            let mut line = format!(
                "heartbeat {}: next ping due by {}",
                clean(&name),
                expires.map(local_time).unwrap_or_default()
            );
            if r.resolved_incident_id != 0 {
                line.push_str(&format!("; resolved incident {}", r.resolved_incident_id));
            }
            emit(&line)
        }
        HeartbeatCommand::List => {
            let list = pagerd
                .call(intake.list_heartbeats(pb::ListHeartbeatsRequest {}))
                .await?;
            if g.json {
                let items: Vec<Value> = list
                    .heartbeats
                    .iter()
                    .map(|h| {
                        json!({
                            "name": h.name,
                            "service": h.service,
                            "interval_seconds": h.interval_seconds,
                            "last_ping_at": to_datetime(h.last_ping_at.as_ref()).map(|t| t.to_rfc3339()),
                            "expires_at": to_datetime(h.expires_at.as_ref()).map(|t| t.to_rfc3339()),
                            "ping_url": h.ping_url,
                            "token": h.token,
                        })
                    })
                    .collect();
                return emit_json(&json!({ "heartbeats": items }));
            }
            if list.heartbeats.is_empty() {
                return emit("no heartbeats in the policy files");
            }
            let mut table = plain_table();
            table.set_header([
                "NAME",
                "SERVICE",
                "EVERY",
                "LAST PING",
                "EXPIRES",
                "PING URL",
            ]);
            for h in &list.heartbeats {
                table.add_row([
                    clean(&h.name),
                    clean(&h.service),
                    format_duration(Duration::from_secs(h.interval_seconds)),
                    to_datetime(h.last_ping_at.as_ref())
                        .map(local_time)
                        .unwrap_or_else(|| "never".into()),
                    to_datetime(h.expires_at.as_ref())
                        .map(local_time)
                        .unwrap_or_else(|| "EXPIRED".into()),
                    clean(&h.ping_url),
                ]);
            }
            emit(&table.to_string())
        }
        HeartbeatCommand::Rotate { name } => {
            let r = pagerd
                .call(intake.rotate_heartbeat_token(pb::RotateHeartbeatTokenRequest { name }))
                .await?;
            let h = r.heartbeat.unwrap_or_default();
            if g.json {
                return emit_json(&json!({
                    "name": h.name,
                    "ping_url": h.ping_url,
                    "token": h.token,
                }));
            }
            emit(&format!(
                "heartbeat {}: new ping URL {} (the old one no longer works)",
                clean(&h.name),
                clean(&h.ping_url)
            ))
        }
    }
}

//! Incident commands: trigger, ack, resolve, escalate, list, show, watch.

use std::collections::HashMap;

use anyhow::Context;
use chrono::Utc;
use serde_json::{Value, json};

use pagerd::proto as pb;

use crate::Global;
use crate::cli::{AckArgs, EscalateArgs, ListArgs, ResolveArgs, Target, TriggerArgs, WatchArgs};
use crate::client::Usage;
use crate::render::incidents::{
    already_unless, emit_action, emit_key_action, incident_header, incident_table, timeline_table,
    watch_line,
};
use crate::render::json::{event_json, incident_json};
use crate::render::time::to_timestamp;
use crate::render::{clean, emit, emit_json};

pub(crate) async fn trigger(g: &Global, args: TriggerArgs) -> anyhow::Result<()> {
    let mut details = HashMap::new();
    for (k, v) in args.details {
        if details.contains_key(&k) {
            return Err(Usage(format!("--detail `{k}` is given more than once")).into());
        }
        details.insert(k, v);
    }
    let request = pb::TriggerRequest {
        service: args.service.unwrap_or_default(),
        dedup_key: args.dedup_key.unwrap_or_default(),
        severity: args.severity as i32,
        summary: args.summary,
        source: args.source.unwrap_or_default(),
        details,
        links: args.links,
        integration_key: args.integration_key.unwrap_or_default(),
    };
    let pagerd = g.connect().await?;
    let r = pagerd.call(pagerd.alerts().trigger(request)).await?;
    if g.json {
        return emit_json(&json!({
            "incident_id": r.incident_id,
            "dedup_key": r.dedup_key,
            "deduplicated": r.deduplicated,
            "alert_count": r.alert_count,
        }));
    }
    if r.deduplicated {
        emit(&format!(
            "incident {}: deduplicated ({} alerts)",
            r.incident_id, r.alert_count
        ))
    } else {
        emit(&format!(
            "incident {} triggered (dedup key {})",
            r.incident_id,
            clean(&r.dedup_key)
        ))
    }
}

pub(crate) async fn ack(g: &Global, args: AckArgs) -> anyhow::Result<()> {
    let target = args.target.target()?;
    let pagerd = g.connect().await?;
    match target {
        Target::Id(id) => {
            let request = pb::AcknowledgeRequest { id, by: args.by };
            let r = pagerd.call(pagerd.incidents().acknowledge(request)).await?;
            emit_action(&r, g.json, |desc| already_unless(r.changed, desc))
        }
        Target::Key { service, dedup_key } => {
            let request = pb::AlertAcknowledgeRequest {
                service: service.clone(),
                dedup_key: dedup_key.clone(),
                by: args.by,
                integration_key: String::new(),
            };
            let r = pagerd.call(pagerd.alerts().acknowledge(request)).await?;
            emit_key_action(&r, &service, &dedup_key, g.json)
        }
    }
}

pub(crate) async fn resolve(g: &Global, args: ResolveArgs) -> anyhow::Result<()> {
    let note = args.note.unwrap_or_default();
    let target = args.target.target()?;
    let pagerd = g.connect().await?;
    match target {
        Target::Id(id) => {
            let request = pb::ResolveRequest {
                id,
                by: args.by,
                note,
            };
            let r = pagerd.call(pagerd.incidents().resolve(request)).await?;
            emit_action(&r, g.json, |desc| already_unless(r.changed, desc))
        }
        Target::Key { service, dedup_key } => {
            let request = pb::AlertResolveRequest {
                service: service.clone(),
                dedup_key: dedup_key.clone(),
                by: args.by,
                note,
                integration_key: String::new(),
            };
            let r = pagerd.call(pagerd.alerts().resolve(request)).await?;
            emit_key_action(&r, &service, &dedup_key, g.json)
        }
    }
}

pub(crate) async fn escalate(g: &Global, args: EscalateArgs) -> anyhow::Result<()> {
    let request = pb::EscalateRequest {
        id: args.id,
        by: args.by,
    };
    let pagerd = g.connect().await?;
    let r = pagerd.call(pagerd.incidents().escalate(request)).await?;
    emit_action(&r, g.json, |desc| {
        if r.changed {
            format!("escalated, now {desc}")
        } else {
            format!("not escalated, still {desc}")
        }
    })
}

pub(crate) async fn list(g: &Global, args: ListArgs) -> anyhow::Result<()> {
    let mut request = pb::ListIncidentsRequest {
        states: args.states.into_iter().map(|s| s as i32).collect(),
        service: args.service.unwrap_or_default(),
        since: args.since.map(to_timestamp),
        until: args.until.map(to_timestamp),
        page_size: args.limit,
        page_token: String::new(),
    };
    let pagerd = g.connect().await?;
    let mut incidents = Vec::new();
    let next_page_token = loop {
        let page = pagerd
            .call(pagerd.incidents().list(request.clone()))
            .await?;
        incidents.extend(page.incidents);
        if !args.all || page.next_page_token.is_empty() {
            break page.next_page_token;
        }
        request.page_token = page.next_page_token;
    };
    if g.json {
        let incidents: Vec<Value> = incidents.iter().map(incident_json).collect();
        return emit_json(&json!({ "incidents": incidents, "next_page_token": next_page_token }));
    }
    if incidents.is_empty() {
        eprintln!("no incidents match");
        return Ok(());
    }
    emit(&incident_table(&incidents, Utc::now()))?;
    if !next_page_token.is_empty() {
        eprintln!(
            "(showing the newest {}; more match: use --all or a larger --limit)",
            incidents.len()
        );
    }
    Ok(())
}

pub(crate) async fn show(g: &Global, id: i64) -> anyhow::Result<()> {
    let pagerd = g.connect().await?;
    let r = pagerd
        .call(pagerd.incidents().get(pb::GetIncidentRequest { id }))
        .await?;
    let incident = r.incident.context("pagerd replied without the incident")?;
    if g.json {
        let timeline: Vec<Value> = r.timeline.iter().map(event_json).collect();
        let mut value = incident_json(&incident);
        value["timeline"] = Value::Array(timeline);
        return emit_json(&value);
    }
    let now = Utc::now();
    let mut text = incident_header(&incident, now);
    text.push_str("\nTIMELINE\n");
    text.push_str(&timeline_table(&r.timeline));
    emit(&text)
}

pub(crate) async fn watch(g: &Global, args: WatchArgs) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    // Installed before the stream opens, so an early Ctrl-C still ends the watch cleanly.
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the Ctrl-C handler")?;
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let request = pb::WatchRequest {
        incident_id: args.incident.unwrap_or(0),
        service: args.service.unwrap_or_default(),
    };
    let pagerd = g.connect().await?;
    let mut stream = pagerd.call(pagerd.incidents().watch(request)).await?;
    eprintln!("watching pagerd at {} (Ctrl-C to stop)", pagerd.addr);
    loop {
        tokio::select! {
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
            message = stream.message() => match message {
                Ok(Some(event)) if g.json => emit_json(&event_json(&event))?,
                Ok(Some(event)) => emit(&watch_line(&event))?,
                Ok(None) => {
                    eprintln!("pagerd closed the stream");
                    return Ok(());
                }
                Err(status) => {
                    return Err(pagerd.status_error(status)).context("watch stream ended");
                }
            },
        }
    }
}

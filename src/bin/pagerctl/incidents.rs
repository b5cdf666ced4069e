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
        since: g
            .time_opt("--since", args.since.as_ref())?
            .map(to_timestamp),
        until: g
            .time_opt("--until", args.until.as_ref())?
            .map(to_timestamp),
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
    // A long timeline comes in pages, each well under the gRPC message limit.
    let mut request = pb::GetIncidentRequest {
        id,
        ..Default::default()
    };
    let mut incident = None;
    let mut timeline = Vec::new();
    loop {
        let r = pagerd.call(pagerd.incidents().get(request.clone())).await?;
        incident = r.incident.or(incident);
        timeline.extend(r.timeline);
        if r.next_timeline_page_token.is_empty() {
            break;
        }
        request.timeline_page_token = r.next_timeline_page_token;
    }
    let incident = incident.context("pagerd replied without the incident")?;
    if g.json {
        let timeline: Vec<Value> = timeline.iter().map(event_json).collect();
        let mut value = incident_json(&incident);
        value["timeline"] = Value::Array(timeline);
        return emit_json(&value);
    }
    let now = Utc::now();
    let mut text = incident_header(&incident, now);
    text.push_str("\nTIMELINE\n");
    text.push_str(&timeline_table(&timeline));
    emit(&text)
}

/// How one watch stream ended.
enum WatchEnd {
    /// Ctrl-C or SIGTERM.
    Stopped,
    /// The connection or the stream went away; resume after the last sequence seen.
    Lost(String),
}

/// Follows the event stream, and when it breaks (daemon restart, network, falling behind)
/// reconnects and resumes after the last event printed, so nothing is missed or repeated.
pub(crate) async fn watch(g: &Global, args: WatchArgs) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    // Installed before the stream opens, so an early Ctrl-C still ends the watch cleanly.
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the Ctrl-C handler")?;
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut stop = async move || {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
    };
    let mut after = args.after;
    let mut first = true;
    let mut backoff = std::time::Duration::from_millis(200);
    loop {
        let request = pb::WatchRequest {
            incident_id: args.incident.unwrap_or(0),
            service: args.service.clone().unwrap_or_default(),
            after_sequence: after,
        };
        let attempt = async {
            let pagerd = g.connect().await?;
            let response =
                tokio::time::timeout(pagerd.timeout, pagerd.incidents().watch(request)).await;
            match response {
                Ok(Ok(r)) => anyhow::Ok((pagerd, r)),
                Ok(Err(status)) => Err(pagerd.status_error(status)),
                Err(_) => anyhow::bail!("no answer from pagerd at {} to Watch", pagerd.addr),
            }
        };
        let opened = tokio::select! {
            _ = stop() => return Ok(()),
            r = attempt => r,
        };
        let (pagerd, response) = match opened {
            Ok(ok) => ok,
            // The first connection reports its failure; later ones keep trying.
            Err(e) if first => return Err(e),
            Err(e) if is_refusal(&e) => return Err(e),
            Err(e) => {
                eprintln!("reconnect failed ({e:#}); retrying in {backoff:?}");
                tokio::select! {
                    _ = stop() => return Ok(()),
                    _ = tokio::time::sleep(backoff) => {},
                }
                backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
                continue;
            }
        };
        if after.is_none() {
            after = response
                .metadata()
                .get("pagerd-sequence")
                .and_then(|v| v.to_str().ok()?.parse().ok());
        }
        if first {
            eprintln!("watching pagerd at {} (Ctrl-C to stop)", pagerd.addr);
            first = false;
        } else {
            let from = after.map_or("now".to_string(), |n| format!("sequence {n}"));
            eprintln!(
                "reconnected to pagerd at {}; resuming after {from}",
                pagerd.addr
            );
        }
        backoff = std::time::Duration::from_millis(200);
        let mut stream = response.into_inner();
        let end = loop {
            tokio::select! {
                _ = stop() => break WatchEnd::Stopped,
                message = stream.message() => match message {
                    Ok(Some(event)) => {
                        after = Some(event.sequence.max(event.id));
                        if g.json {
                            emit_json(&event_json(&event))?;
                        } else {
                            emit(&watch_line(&event))?;
                        }
                    }
                    Ok(None) => break WatchEnd::Lost("pagerd closed the stream".into()),
                    Err(status) => {
                        if status.code() == tonic::Code::Aborted
                            && let Some(n) = status
                                .metadata()
                                .get("pagerd-resume-after-sequence")
                                .and_then(|v| v.to_str().ok()?.parse::<i64>().ok())
                        {
                            // We printed everything up to here; the daemon agrees.
                            after = Some(after.map_or(n, |a| a.max(n)));
                            break WatchEnd::Lost(status.message().to_string());
                        }
                        let e = pagerd.status_error(status);
                        if is_refusal(&e) {
                            return Err(e).context("watch stream ended");
                        }
                        break WatchEnd::Lost(format!("{e:#}"));
                    }
                },
            }
        };
        match end {
            WatchEnd::Stopped => return Ok(()),
            WatchEnd::Lost(why) => eprintln!("watch interrupted ({why}); reconnecting"),
        }
    }
}

/// An answer that a retry would only repeat (bad request, no permission): not a lost
/// connection, and one of the codes a request is refused with.
fn is_refusal(e: &anyhow::Error) -> bool {
    let text = e.to_string();
    e.downcast_ref::<crate::client::Unreachable>().is_none()
        && [
            "invalid argument:",
            "not found:",
            "permission denied:",
            "unauthenticated:",
            "failed precondition:",
        ]
        .iter()
        .any(|code| text.starts_with(code))
}

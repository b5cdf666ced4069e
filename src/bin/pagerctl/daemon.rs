//! Daemon commands: status, reload, and a test page through the real delivery path.

use std::time::Duration;

use anyhow::{Context, anyhow};
use chrono::Utc;
use serde_json::{Value, json};

use pagerd::proto as pb;

use crate::Global;
use crate::cli::TestPageArgs;
use crate::client::Pagerd;
use crate::render::daemon::{refused_text, reloaded_text, status_text};
use crate::render::json::{reload_json, status_json};
use crate::render::{emit, emit_json, finish_table, plain_table};

pub(crate) async fn test_page(g: &Global, args: TestPageArgs) -> anyhow::Result<()> {
    let pagerd = g.connect().await?;
    // The daemon waits up to 30 s for the providers' answers.
    let pagerd = Pagerd {
        timeout: pagerd.timeout.max(Duration::from_secs(35)),
        ..pagerd
    };
    let r = pagerd
        .call(pagerd.daemon().test_page(pb::TestPageRequest {
            person: args.person.clone(),
            channel: args.channel.unwrap_or_default(),
            by: args.by,
        }))
        .await?;
    let all_sent = r
        .results
        .iter()
        .all(|x| x.status == pagerd::api::convert::PAGE_SENT);
    if g.json {
        let results: Vec<Value> = r
            .results
            .iter()
            .map(|x| {
                json!({"channel": x.channel, "address": x.address, "status": x.status,
                       "response": x.response, "error": x.error})
            })
            .collect();
        emit_json(&json!({ "person": args.person, "results": results }))?;
    } else {
        let mut table = plain_table();
        table.set_header(vec!["CHANNEL", "ADDRESS", "STATUS", "ANSWER"]);
        for x in &r.results {
            let answer = if x.error.is_empty() {
                &x.response
            } else {
                &x.error
            };
            table.add_row(vec![
                x.channel.as_str(),
                x.address.as_str(),
                x.status.as_str(),
                answer.as_str(),
            ]);
        }
        emit(&finish_table(table))?;
    }
    if all_sent {
        Ok(())
    } else {
        Err(anyhow!("not every test page was sent"))
    }
}

pub(crate) async fn status(g: &Global) -> anyhow::Result<()> {
    let pagerd = g.connect().await?;
    let s = pagerd
        .call(pagerd.daemon().status(pb::StatusRequest {}))
        .await?;
    if g.json {
        return emit_json(&status_json(&s));
    }
    emit(&status_text(&s, &pagerd.addr, Utc::now()))
}

pub(crate) async fn reload(g: &Global) -> anyhow::Result<()> {
    let pagerd = g.connect().await?;
    let r = pagerd
        .call(pagerd.schedules().reload(pb::ReloadRequest {}))
        .await?;
    let result = r
        .result
        .context("pagerd replied without the reload result")?;
    if g.json {
        emit_json(&reload_json(&result))?;
    } else if result.applied {
        // What is serving now, for the line; the reload itself has succeeded either way.
        let status = pagerd
            .call(pagerd.daemon().status(pb::StatusRequest {}))
            .await
            .ok();
        emit(&reloaded_text(&result, status.as_ref()))?;
    } else {
        emit(&refused_text(&result))?;
    }
    if result.applied {
        Ok(())
    } else {
        Err(anyhow!(
            "reload refused; pagerd keeps serving the policy set it had"
        ))
    }
}

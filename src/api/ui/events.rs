//! `GET /ui/events`: the dashboard's live updates, a Server-Sent Events stream of the
//! committed events (the `Watch` stream's, in commit order). Each event's SSE `id` is its
//! sequence, so a browser that reconnects sends `Last-Event-ID` and gets what it missed from
//! the store first (`?after=N` does the same). Events are coalesced into at most a few
//! messages a second; each message's `id` is the last sequence it covers and its data names
//! only the incidents that changed; the page re-reads what it shows. A stream ends after [`STREAM_FOR`] (the browser reconnects, and
//! its session is checked again) or when it falls behind (it resumes from where it was).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;

use super::Ui;
use super::page::error;
use super::session::Viewer;
use crate::api::grpc::watch::{self, WatchFilter};

/// How long one stream lasts before the browser reconnects (and is authenticated again).
const STREAM_FOR: Duration = Duration::from_secs(300);
/// Events committed within this long of the first go out as one message.
const BATCH_EVERY: Duration = Duration::from_millis(250);
/// At most this many events per message (the rest follow at once).
const BATCH_MAX: usize = 1024;
/// A message names at most this many incidents; past it, it says `"many": true`.
const BATCH_IDS: usize = 50;

/// A message's data: the incidents that changed, each once, in order; or `many` when there
/// were more than [`BATCH_IDS`].
fn batch_data(ids: &[i64]) -> String {
    let mut unique: Vec<i64> = Vec::new();
    for id in ids {
        if !unique.contains(id) {
            if unique.len() == BATCH_IDS {
                return "{\"incidents\":[],\"many\":true}".into();
            }
            unique.push(*id);
        }
    }
    let list: Vec<String> = unique.iter().map(i64::to_string).collect();
    format!("{{\"incidents\":[{}],\"many\":false}}", list.join(","))
}

/// Streams one session may hold open at once (a few tabs; more are refused).
pub const PER_SESSION: usize = 8;

/// Live-update streams open per session.
#[derive(Default)]
pub struct PerSession(std::sync::Mutex<std::collections::HashMap<String, usize>>);

/// One session's stream; counted until dropped.
pub struct SessionSlot {
    of: std::sync::Arc<PerSession>,
    session: String,
}

impl PerSession {
    /// A slot for `session`, or `None` when it already holds [`PER_SESSION`] streams.
    pub fn take(self: &std::sync::Arc<Self>, session: &str) -> Option<SessionSlot> {
        let mut open = self.0.lock().expect("stream counts");
        let n = open.entry(session.to_string()).or_default();
        if *n >= PER_SESSION {
            return None;
        }
        *n += 1;
        Some(SessionSlot {
            of: self.clone(),
            session: session.to_string(),
        })
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut open = self.of.0.lock().expect("stream counts");
        if let Some(n) = open.get_mut(&self.session) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.session);
            }
        }
    }
}

#[derive(Deserialize)]
pub struct EventsQuery {
    after: Option<i64>,
}

/// The sequence to resume after: `Last-Event-ID`, else `?after=`.
fn resume_after(headers: &HeaderMap, q: &EventsQuery) -> Result<Option<i64>, ()> {
    match headers.get("last-event-id") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or(()),
        None => Ok(q.after),
    }
}

pub async fn stream(
    viewer: Viewer,
    State(ui): State<Ui>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Response {
    let Ok(after) = resume_after(&headers, &q) else {
        return error(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "Last-Event-ID: not a sequence",
        );
    };
    let Some(slot) = ui.session_streams.take(&viewer.id_hash) else {
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many streams",
            &format!(
                "This session already follows {PER_SESSION} live-update streams; close a tab."
            ),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("30"));
        return r;
    };
    let Ok(permit) = ui.streams.clone().try_acquire_owned() else {
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Busy",
            "Too many live-update streams are open; the page still works without them.",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("30"));
        return r;
    };
    let filter = WatchFilter {
        incident_id: 0,
        service: String::new(),
    };
    let opened = watch::open(ui.engine.clone(), filter, after, ui.stop.child_token()).await;
    let events = match opened {
        Ok(r) => r.into_inner(),
        Err(s) => {
            return error(StatusCode::BAD_REQUEST, "Cannot follow events", s.message());
        }
    };
    let start = futures::stream::once(async {
        Ok::<_, Infallible>(Event::default().event("ready").data("{}"))
    });
    let events = events
        // A lagging stream ends; the browser resumes from the last id it got.
        .take_while(|r| std::future::ready(r.is_ok()))
        .filter_map(|r| async move { r.ok() });
    // Coalesced: one message per [`BATCH_EVERY`] at most, naming the incidents that changed;
    // a page re-reads what it shows anyway, and a storm costs each browser a few messages a
    // second instead of one per event.
    let live =
        tokio_stream::StreamExt::chunks_timeout(events, BATCH_MAX, BATCH_EVERY).map(move |batch| {
            let _held = (&permit, &slot);
            let last = batch.last().map_or(0, |e| e.sequence);
            let ids: Vec<i64> = batch.iter().map(|e| e.incident_id).collect();
            Ok::<_, Infallible>(
                Event::default()
                    .id(last.to_string())
                    .event("incidents")
                    .data(batch_data(&ids)),
            )
        });
    let bounded = start.chain(live).take_until(tokio::time::sleep(STREAM_FOR));
    let mut r = Sse::new(bounded)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(20)))
        .into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_holds_at_most_its_share_of_streams() {
        let per = std::sync::Arc::new(PerSession::default());
        let mut held: Vec<SessionSlot> = (0..PER_SESSION).map(|_| per.take("a").unwrap()).collect();
        assert!(per.take("a").is_none());
        assert!(per.take("b").is_some(), "another session is not affected");
        held.pop();
        assert!(per.take("a").is_some(), "a closed stream frees its slot");
        drop(held);
        assert!(per.0.lock().unwrap().get("a").is_none_or(|n| *n == 0));
    }

    #[test]
    fn a_batch_names_each_incident_once_or_says_many() {
        assert_eq!(
            batch_data(&[3, 1, 3, 2]),
            "{\"incidents\":[3,1,2],\"many\":false}"
        );
        assert_eq!(batch_data(&[]), "{\"incidents\":[],\"many\":false}");
        let fifty: Vec<i64> = (0..50).chain(0..50).collect();
        assert!(batch_data(&fifty).contains("\"many\":false"));
        let more: Vec<i64> = (0..51).collect();
        assert_eq!(batch_data(&more), "{\"incidents\":[],\"many\":true}");
    }

    #[test]
    fn last_event_id_wins_over_the_query_and_must_be_a_sequence() {
        let mut h = HeaderMap::new();
        assert_eq!(
            resume_after(&h, &EventsQuery { after: Some(4) }),
            Ok(Some(4))
        );
        assert_eq!(resume_after(&h, &EventsQuery { after: None }), Ok(None));
        h.insert("last-event-id", "17".parse().unwrap());
        assert_eq!(
            resume_after(&h, &EventsQuery { after: Some(4) }),
            Ok(Some(17))
        );
        for bad in ["x", "-1", ""] {
            h.insert("last-event-id", bad.parse().unwrap());
            assert_eq!(
                resume_after(&h, &EventsQuery { after: None }),
                Err(()),
                "{bad}"
            );
        }
    }
}

//! `IncidentService.Watch`: committed events in sequence (commit) order, resumable.
//!
//! With `after_sequence`, the stream first replays from the store every matching event
//! committed after it, then goes live. The live feed is subscribed *before* the replay reads,
//! and the store publishes events only after they commit, in sequence order; so an event is
//! either in the replay or arrives live with a higher sequence than anything replayed, and
//! live events at or below the last replayed one are dropped: no gap, no duplicate.
//! Without `after_sequence` the stream is live only, and its response metadata
//! `pagerd-sequence` says which sequence it starts after (a client keeps it to resume).
//!
//! A watcher that falls further behind than the live buffer (`store.event_buffer`) ends with
//! `ABORTED` and the sequence to resume after, in the metadata `pagerd-resume-after-sequence`
//! and in the message.

use std::collections::VecDeque;
use std::pin::Pin;

use tokio::sync::broadcast;
use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataValue;
use tonic::{Response, Status};

use crate::domain::Event;
use crate::engine::Engine;
use crate::proto as pb;

pub type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::IncidentEvent, Status>> + Send>>;

/// Response metadata of a live-only stream: the sequence it starts after.
pub const SEQUENCE_HEADER: &str = "pagerd-sequence";
/// Metadata of the `ABORTED` status a lagging watcher gets: where to resume.
pub const RESUME_HEADER: &str = "pagerd-resume-after-sequence";
/// Events read from the store per replay step.
const REPLAY_CHUNK: usize = 256;

/// What a watcher asked for.
#[derive(Debug, Clone)]
pub struct WatchFilter {
    /// 0: every incident.
    pub incident_id: i64,
    /// Empty: every service.
    pub service: String,
}

impl WatchFilter {
    fn wants(&self, ev: &Event) -> bool {
        (self.incident_id == 0 || ev.incident_id == self.incident_id)
            && (self.service.is_empty() || ev.service == self.service)
    }
}

struct State {
    engine: Engine,
    filter: WatchFilter,
    rx: broadcast::Receiver<Event>,
    shutdown: CancellationToken,
    /// The sequence of the last event sent (or the start point): nothing at or below it is
    /// sent again.
    last: i64,
    /// Still reading committed events from the store.
    replaying: bool,
    backlog: VecDeque<Event>,
}

/// The ABORTED status of a watcher that fell behind.
pub fn lagged(resume_after: i64, missed: u64) -> Status {
    let mut status = Status::aborted(format!(
        "watcher fell {missed} events behind; watch again with after_sequence = {resume_after}"
    ));
    status
        .metadata_mut()
        .insert(RESUME_HEADER, MetadataValue::from(resume_after));
    status
}

/// Opens a watch: validates `after_sequence`, subscribes, and returns the stream.
pub async fn open(
    engine: Engine,
    filter: WatchFilter,
    after_sequence: Option<i64>,
    shutdown: CancellationToken,
) -> Result<Response<WatchStream>, Status> {
    // Subscribe first: whatever commits from here on is in the live feed, which holds
    // exactly the events after `published`.
    let (rx, published) = engine.subscribe_at();
    let (last, replaying) = match after_sequence {
        None => (published, false),
        Some(n) if n < 0 => {
            return Err(super::invalid("after_sequence", "must not be negative"));
        }
        Some(n) if n > published && n > engine.last_sequence().await? => {
            let committed = engine.last_sequence().await?;
            return Err(super::invalid(
                "after_sequence",
                format!("{n} is beyond the last committed sequence {committed}"),
            ));
        }
        Some(n) => (n, true),
    };
    let state = State {
        engine,
        filter,
        rx,
        shutdown,
        last,
        replaying,
        backlog: VecDeque::new(),
    };
    let stream = futures::stream::unfold(Some(state), |state| async move {
        let mut s = state?;
        match s.next().await {
            Some(Ok(ev)) => Some((Ok(ev.into()), Some(s))),
            // An error ends the stream after it is sent.
            Some(Err(status)) => Some((Err(status), None)),
            None => None,
        }
    });
    let mut response = Response::new(Box::pin(stream) as WatchStream);
    if after_sequence.is_none() {
        response
            .metadata_mut()
            .insert(SEQUENCE_HEADER, MetadataValue::from(last));
    }
    Ok(response)
}

impl State {
    /// The next event to send; `None` ends the stream (shutdown).
    async fn next(&mut self) -> Option<Result<Event, Status>> {
        loop {
            if let Some(ev) = self.backlog.pop_front() {
                self.last = ev.id;
                return Some(Ok(ev));
            }
            if self.replaying {
                let filter = &self.filter;
                let read = self.engine.events_after(
                    self.last,
                    (filter.incident_id != 0).then_some(filter.incident_id),
                    (!filter.service.is_empty()).then(|| filter.service.clone()),
                    REPLAY_CHUNK,
                );
                let events = tokio::select! {
                    _ = self.shutdown.cancelled() => return None,
                    r = read => r,
                };
                match events {
                    Ok(events) => {
                        self.replaying = events.len() == REPLAY_CHUNK;
                        self.backlog.extend(events);
                    }
                    Err(e) => return Some(Err(e.into())),
                }
                continue;
            }
            let received = tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                r = self.rx.recv() => r,
            };
            match received {
                Ok(ev) if ev.id > self.last && self.filter.wants(&ev) => {
                    self.last = ev.id;
                    return Some(Ok(ev));
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    return Some(Err(lagged(self.last, n)));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

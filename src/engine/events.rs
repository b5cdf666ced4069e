//! Reads of the event sequence: pages of one incident's timeline (`Get`) and the events
//! committed after a sequence (`Watch` replays them before it streams live).
//!
//! Every event's id is its **sequence**: the store assigns ids in commit order and publishes
//! committed events in that order (see `store::sqlite::run_batch`), so "events after N" from
//! the store and the live feed join without a gap or a duplicate.

use super::{Engine, EngineError, EngineResult};
use crate::domain::{Event, Incident};

/// Events in one timeline page unless asked for fewer.
pub const DEFAULT_TIMELINE_PAGE: u32 = 500;
/// The most events one timeline page holds.
pub const MAX_TIMELINE_PAGE: u32 = 1000;
/// A page also ends once its events reach about this many bytes, so an answer stays well
/// under gRPC's 4 MiB message limit whatever the events hold (each is bounded by the input
/// limits far below this).
pub const TIMELINE_PAGE_BYTES: usize = 1024 * 1024;

/// One page of a timeline, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelinePage {
    pub events: Vec<Event>,
    /// The sequence to continue after, when more events follow.
    pub next_after: Option<i64>,
}

/// About how many bytes an event takes on the wire.
fn wire_size(e: &Event) -> usize {
    64 + e.service.len()
        + e.message.len()
        + e.person.as_ref().map_or(0, String::len)
        + e.channel.as_ref().map_or(0, String::len)
        + e.actor.as_ref().map_or(0, String::len)
}

/// Cuts `events` (read one longer than `limit`) to a page: at most `limit` events and about
/// `budget` bytes, but never empty while there are events.
pub fn cut_page(mut events: Vec<Event>, limit: usize, budget: usize) -> TimelinePage {
    let mut bytes = 0;
    let mut keep = 0;
    for e in events.iter().take(limit) {
        bytes += wire_size(e);
        if keep > 0 && bytes > budget {
            break;
        }
        keep += 1;
    }
    let more = events.len() > keep;
    events.truncate(keep);
    let next_after = more.then(|| events.last().map_or(0, |e| e.id));
    TimelinePage { events, next_after }
}

impl Engine {
    /// The incident and its first timeline page.
    pub async fn get(&self, id: i64) -> EngineResult<(Incident, TimelinePage)> {
        self.get_page(id, 0, DEFAULT_TIMELINE_PAGE).await
    }

    /// The incident and the page of its timeline after sequence `after` (`limit` events at
    /// most, capped at [`MAX_TIMELINE_PAGE`]).
    pub async fn get_page(
        &self,
        id: i64,
        after: i64,
        limit: u32,
    ) -> EngineResult<(Incident, TimelinePage)> {
        let limit = limit.clamp(1, MAX_TIMELINE_PAGE) as usize;
        let found = self
            .inner
            .store
            .read(move |r| match r.incident(id)? {
                Some(inc) => Ok(Some((inc, r.timeline_after(id, after, limit + 1)?))),
                None => Ok(None),
            })
            .await?;
        let (inc, events) =
            found.ok_or_else(|| EngineError::NotFound(format!("no incident {id}")))?;
        Ok((inc, cut_page(events, limit, TIMELINE_PAGE_BYTES)))
    }

    /// Up to `limit` events committed after sequence `after` (of one incident or service, if
    /// given), in sequence order.
    pub async fn events_after(
        &self,
        after: i64,
        incident: Option<i64>,
        service: Option<String>,
        limit: usize,
    ) -> EngineResult<Vec<Event>> {
        Ok(self
            .inner
            .store
            .read(move |r| r.events_after(after, incident, service.as_deref(), limit))
            .await?)
    }

    /// The highest sequence committed so far.
    pub async fn last_sequence(&self) -> EngineResult<i64> {
        Ok(self.inner.store.read(|r| r.last_event_id()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventKind;

    fn ev(id: i64, message_len: usize) -> Event {
        Event {
            id,
            incident_id: 1,
            service: "db".into(),
            kind: EventKind::Deduplicated,
            at: chrono::DateTime::UNIX_EPOCH,
            level: None,
            person: None,
            channel: None,
            actor: None,
            message: "x".repeat(message_len),
        }
    }

    #[test]
    fn a_page_ends_at_its_size_or_its_byte_budget_and_says_where_to_go_on() {
        // (events read, limit, budget, kept, next_after)
        type Case = (Vec<Event>, usize, usize, usize, Option<i64>);
        let table: [Case; 5] = [
            ((1..=3).map(|i| ev(i, 10)).collect(), 5, 10_000, 3, None),
            ((1..=6).map(|i| ev(i, 10)).collect(), 5, 10_000, 5, Some(5)),
            // 4 × ~1 KB over a 2.5 KB budget: two fit.
            (
                (1..=4).map(|i| ev(i, 1000)).collect(),
                10,
                2_500,
                2,
                Some(2),
            ),
            // One event bigger than the budget still makes a page: no endless empty pages.
            (vec![ev(7, 5000), ev(8, 1)], 10, 100, 1, Some(7)),
            (vec![], 10, 100, 0, None),
        ];
        for (events, limit, budget, kept, next) in table {
            let page = cut_page(events, limit, budget);
            assert_eq!(page.events.len(), kept, "{limit} {budget}");
            assert_eq!(page.next_after, next, "{limit} {budget}");
        }
    }
}

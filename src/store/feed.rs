//! The feed of committed events. A backend publishes each batch's events here after the
//! commit, in sequence order; a subscriber learns exactly which sequence its receiver starts
//! after, because publishing and subscribing take the same lock.

use std::sync::Mutex;

use tokio::sync::broadcast;

use crate::domain::Event;

pub struct EventFeed {
    /// The sender, and the highest sequence published (or committed before the start).
    inner: Mutex<(broadcast::Sender<Event>, i64)>,
}

impl EventFeed {
    /// A feed keeping `capacity` events for slow receivers; `last` is the highest sequence
    /// already in the store when it starts.
    pub fn new(capacity: usize, last: i64) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self {
            inner: Mutex::new((tx, last)),
        }
    }

    /// Sends committed events, in sequence order. An event at or below the highest sequence
    /// published is skipped: with several nodes, another node's events and this node's may
    /// reach the feed by two paths (the writer and the listener), each once.
    pub fn publish(&self, events: Vec<Event>) {
        let mut inner = self.inner.lock().expect("event feed poisoned");
        for ev in events {
            if ev.id <= inner.1 {
                continue;
            }
            inner.1 = ev.id;
            // No receivers is fine.
            let _ = inner.0.send(ev);
        }
    }

    /// The highest sequence published (or committed before the start).
    pub fn last(&self) -> i64 {
        self.inner.lock().expect("event feed poisoned").1
    }

    /// A receiver of every event published from now on, and the sequence it starts after:
    /// it receives exactly the events with higher sequences.
    pub fn subscribe(&self) -> (broadcast::Receiver<Event>, i64) {
        let inner = self.inner.lock().expect("event feed poisoned");
        (inner.0.subscribe(), inner.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventKind;

    fn ev(id: i64) -> Event {
        Event {
            id,
            incident_id: 1,
            service: "db".into(),
            kind: EventKind::Triggered,
            at: chrono::DateTime::UNIX_EPOCH,
            level: None,
            person: None,
            channel: None,
            actor: None,
            message: String::new(),
        }
    }

    #[test]
    fn a_subscriber_gets_exactly_the_events_after_the_sequence_it_is_told() {
        let feed = EventFeed::new(8, 10);
        assert_eq!(feed.subscribe().1, 10);
        feed.publish(vec![ev(11), ev(12)]);
        let (mut rx, after) = feed.subscribe();
        assert_eq!(after, 12);
        feed.publish(vec![ev(13)]);
        assert_eq!(rx.try_recv().unwrap().id, 13);
        assert!(rx.try_recv().is_err());
    }
}

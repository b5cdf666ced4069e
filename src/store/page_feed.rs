//! The pages a writer has just committed, handed to the outbox so that it need not read
//! them back from the database.
//!
//! Without it, every commit that queued a page woke the outbox to read its channels again.
//! On SQLite such a read starts with an empty page cache (another connection committed), and
//! it cost about an eighth of the daemon's instructions per alert at saturation. The writer
//! reads a batch's new pages inside the batch's own transaction instead, where they are
//! still in its page cache, and publishes them here after the commit.
//!
//! The feed is a shortcut, never the record: the pages are durably queued either way. When it
//! cannot carry them (no outbox is taking them, the queue is full, the read-back failed) it
//! says "look" instead, and the outbox reads the database as before.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::domain::Page;

/// A page committed as pending, as the outbox would read it, and when it is due.
#[derive(Debug, Clone)]
pub struct FreshPage {
    pub page: Page,
    pub next_attempt_at: DateTime<Utc>,
}

/// What the outbox takes from the feed.
#[derive(Debug, Default)]
pub struct Taken {
    /// Pages committed since the last take, in commit order.
    pub pages: Vec<FreshPage>,
    /// Pages were committed that are not in `pages`: read the database.
    pub look: bool,
}

#[derive(Default)]
struct State {
    /// Whether an outbox takes from the feed (only then is reading pages back worth it).
    open: bool,
    taken: Taken,
    /// About how many bytes `taken.pages` holds (see [`size`]).
    bytes: usize,
}

pub struct PageFeed {
    state: Mutex<State>,
    notify: Notify,
    /// Pages held at most; more are dropped for a "look".
    capacity: usize,
    /// Bytes held at most (by [`size`]): a page's incident carries up to 64 KiB of details.
    max_bytes: usize,
}

/// A page's size in the feed, about: its text fields, which bound the rest.
fn size(p: &FreshPage) -> usize {
    let page = &p.page;
    let incident = page.incident.as_ref().map_or(0, |i| {
        let details: usize = i.details.iter().map(|(k, v)| k.len() + v.len()).sum();
        let links: usize = i.links.iter().map(|l| l.href.len() + l.text.len()).sum();
        i.summary.len() + i.source.len() + i.dedup_key.len() + details + links
    });
    let notice = page
        .notice
        .as_ref()
        .map_or(0, |n| n.subject.len() + n.body.len());
    std::mem::size_of::<FreshPage>() + incident + notice
}

impl PageFeed {
    pub fn new(capacity: usize, max_bytes: usize) -> Self {
        Self {
            state: Mutex::default(),
            notify: Notify::new(),
            capacity,
            max_bytes,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether an outbox takes pages: a writer reads a batch's pages back only then.
    pub fn is_open(&self) -> bool {
        self.state().open
    }

    /// The outbox starts taking pages. Whatever was published before is dropped: the outbox
    /// reads the database when it starts.
    pub fn open(&self) {
        *self.state() = State {
            open: true,
            ..State::default()
        };
    }

    /// The outbox stopped taking pages.
    pub fn close(&self) {
        *self.state() = State::default();
    }

    /// After a commit that queued pages: `Some` with all of them (pending ones read back in
    /// the batch), or `None` when they were not read back.
    pub fn publish(&self, pages: Option<Vec<FreshPage>>) {
        {
            let mut s = self.state();
            if !s.open {
                return;
            }
            let bytes = pages.as_ref().map_or(0, |p| p.iter().map(size).sum());
            match pages {
                Some(p)
                    if s.taken.pages.len() + p.len() <= self.capacity
                        && s.bytes + bytes <= self.max_bytes =>
                {
                    s.taken.pages.extend(p);
                    s.bytes += bytes;
                }
                _ => s.taken.look = true,
            }
        }
        self.notify.notify_one();
    }

    /// Resolves once something was published since the last take (at once if it was).
    pub async fn published(&self) {
        self.notify.notified().await
    }

    /// Everything published since the last take.
    pub fn take(&self) -> Taken {
        let mut s = self.state();
        s.bytes = 0;
        std::mem::take(&mut s.taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{PageKind, Position};

    fn page(id: i64) -> FreshPage {
        FreshPage {
            page: Page {
                id,
                idempotency_key: format!("s-{id}"),
                incident: None,
                notice: None,
                reply_code: None,
                kind: PageKind::Page,
                person: "ann".into(),
                channel: "webhook".into(),
                pos: Position::default(),
                attempts: 0,
                due_at: DateTime::UNIX_EPOCH,
                created_at: DateTime::UNIX_EPOCH,
            },
            next_attempt_at: DateTime::UNIX_EPOCH,
        }
    }

    fn ids(t: &Taken) -> Vec<i64> {
        t.pages.iter().map(|p| p.page.id).collect()
    }

    #[test]
    fn pages_pass_in_commit_order_while_open_and_a_take_empties_the_feed() {
        let feed = PageFeed::new(8, 1 << 20);
        feed.publish(Some(vec![page(1)]));
        feed.open();
        assert!(feed.is_open());
        feed.publish(Some(vec![page(2), page(3)]));
        feed.publish(Some(vec![page(4)]));
        let t = feed.take();
        assert_eq!((ids(&t), t.look), (vec![2, 3, 4], false));
        let t = feed.take();
        assert_eq!((ids(&t), t.look), (vec![], false));
    }

    #[test]
    fn what_the_feed_cannot_carry_becomes_a_look() {
        let feed = PageFeed::new(3, 1 << 20);
        feed.open();
        feed.publish(Some(vec![page(1), page(2)]));
        // Two more would pass the capacity: dropped, the database is read instead.
        feed.publish(Some(vec![page(3), page(4)]));
        feed.publish(Some(vec![page(5)]));
        let t = feed.take();
        assert_eq!((ids(&t), t.look), (vec![1, 2, 5], true));
        // Not read back.
        feed.publish(None);
        let t = feed.take();
        assert_eq!((ids(&t), t.look), (vec![], true));
    }

    #[test]
    fn big_pages_are_bounded_by_bytes_too() {
        let mut big = page(1);
        big.page.notice = Some(crate::domain::Notice {
            subject: String::new(),
            body: "x".repeat(1000),
        });
        let one = size(&big);
        let feed = PageFeed::new(100, 2 * one);
        feed.open();
        feed.publish(Some(vec![big.clone(), big.clone()]));
        feed.publish(Some(vec![big.clone()]));
        let t = feed.take();
        assert_eq!((ids(&t), t.look), (vec![1, 1], true));
        // A take frees the room.
        feed.publish(Some(vec![big]));
        assert_eq!(ids(&feed.take()), vec![1]);
    }

    #[test]
    fn a_closed_feed_keeps_nothing() {
        let feed = PageFeed::new(8, 1 << 20);
        feed.open();
        feed.publish(Some(vec![page(1)]));
        feed.close();
        assert!(!feed.is_open());
        feed.publish(Some(vec![page(2)]));
        feed.publish(None);
        feed.open();
        let t = feed.take();
        assert_eq!((ids(&t), t.look), (vec![], false));
    }

    #[tokio::test]
    async fn a_publish_wakes_a_waiting_outbox() {
        let feed = std::sync::Arc::new(PageFeed::new(8, 1 << 20));
        feed.open();
        let waiter = {
            let feed = feed.clone();
            tokio::spawn(async move {
                feed.published().await;
                feed.take()
            })
        };
        tokio::task::yield_now().await;
        feed.publish(Some(vec![page(7)]));
        let t = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(ids(&t), vec![7]);
    }
}

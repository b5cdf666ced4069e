//! The dispatcher's two rules for pages the writer hands over, driven one step at a time in
//! orders the run loop can meet: a page that a store read already started is never started
//! again from the feed, whether its job is still sending or has just ended.
//!
//! The daemon's burst test cannot show them: the duplicate they prevent needs a store read to
//! begin between a commit and the dispatcher's next look at the feed. Here that order is
//! made, not waited for.

use std::sync::Mutex;

use chrono::Utc;
use tokio::sync::{Semaphore, mpsc};

use super::*;
use crate::clock::Clock;
use crate::config::settings::StoreSettings;
use crate::domain::{PageKind, Person, PolicySet};
use crate::notify::{Delivered, SendError};
use crate::store::{Store, WriterDone};

/// A channel whose sends wait for a permit; it notes every page it is asked to send.
struct Held {
    gate: Semaphore,
    asked: Mutex<Vec<i64>>,
}

#[async_trait::async_trait]
impl Channel for Held {
    fn name(&self) -> &str {
        "held"
    }

    async fn send(&self, page: &Page, _: Option<&Person>) -> Result<Delivered, SendError> {
        self.asked.lock().unwrap().push(page.id);
        self.gate.acquire().await.unwrap().forget();
        Ok(Delivered::with("ok"))
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    _writer: WriterDone,
    store: Store,
    held: Arc<Held>,
    d: Dispatcher,
    _open: FeedOpen,
    done: mpsc::UnboundedSender<tokio::task::Id>,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (store, writer) = Store::open(&dir.path().join("t.db"), &StoreSettings::default())
        .await
        .unwrap();
    let engine = Engine::new(
        store.clone(),
        PolicySet::default(),
        Clock::System,
        vec!["held".into()],
    );
    let held = Arc::new(Held {
        gate: Semaphore::new(0),
        asked: Mutex::default(),
    });
    let worker = OutboxWorker::new(
        engine.clone(),
        vec![held.clone() as Arc<dyn Channel>],
        OutboxSettings::default(),
    );
    let feed = engine
        .page_feed()
        .cloned()
        .expect("SQLite hands pages over");
    let open = FeedOpen::new(feed.clone());
    let d = Dispatcher::new(worker.shared.clone(), Some(feed));
    let (done, _) = mpsc::unbounded_channel();
    Setup {
        _dir: dir,
        _writer: writer,
        store,
        held,
        d,
        _open: open,
        done,
    }
}

/// Queues one page on the `held` channel; the writer hands it over after the commit.
async fn queue(store: &Store) -> i64 {
    store
        .write(|tx| {
            let now = Utc::now();
            Ok(tx.enqueue_notice(PageKind::Test, "ana", "held", "subject", "body", now, now)?)
        })
        .await
        .unwrap()
}

impl Setup {
    /// The page is committed and in the feed, but the dispatcher reads the store before it
    /// takes the feed (a read that began just after the commit): the read starts its job.
    async fn read_starts(&mut self, id: i64) {
        self.d.look_again();
        assert!(matches!(
            self.d.pass(&self.done).await.unwrap(),
            Pass::Started
        ));
        assert_eq!(self.running(), vec![id]);
    }

    /// The run loop's next turn: take the feed, then start what may start.
    async fn next_turn(&mut self) {
        self.d.take_fresh();
        self.d.pass(&self.done).await.unwrap();
    }

    fn running(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .d
            .running
            .values()
            .flat_map(|r| r.pages.iter().copied())
            .collect();
        ids.sort();
        ids
    }
}

#[tokio::test]
async fn a_handed_over_page_that_a_read_started_is_not_started_again_while_it_sends() {
    let mut s = setup().await;
    let id = queue(&s.store).await;
    s.read_starts(id).await;

    s.next_turn().await;
    assert_eq!(s.running(), vec![id], "started twice");
    assert!(s.d.fresh.is_empty());

    s.held.gate.add_permits(1);
    let joined = s.d.jobs.join_next_with_id().await.unwrap();
    s.d.ended(joined);
    s.next_turn().await;
    assert!(s.running().is_empty());
    assert_eq!(*s.held.asked.lock().unwrap(), vec![id]);
}

#[tokio::test]
async fn a_handed_over_page_whose_job_ended_before_the_feed_was_read_is_not_started_again() {
    let mut s = setup().await;
    let id = queue(&s.store).await;
    s.read_starts(id).await;

    // The job sends and records before the dispatcher looks at the feed again: its end is
    // the first thing the loop handles.
    s.held.gate.add_permits(1);
    let joined = s.d.jobs.join_next_with_id().await.unwrap();
    s.d.ended(joined);
    s.next_turn().await;
    assert!(s.running().is_empty(), "started again: {:?}", s.running());
    s.held.gate.add_permits(1);
    while let Some(joined) = s.d.jobs.join_next_with_id().await {
        s.d.ended(joined);
    }
    assert_eq!(*s.held.asked.lock().unwrap(), vec![id]);
}

#[tokio::test]
async fn a_handed_over_page_on_a_channel_about_to_be_read_starts_once_with_the_read() {
    let mut s = setup().await;
    // Something may wait on every channel (a wake from the store, a page come due): the
    // channel is read on the next turn, and that read sees the new page too.
    s.d.look_again();
    let id = queue(&s.store).await;
    s.next_turn().await;
    assert_eq!(s.running(), vec![id], "started from the feed and the read");
    s.held.gate.add_permits(2);
    while let Some(joined) = s.d.jobs.join_next_with_id().await {
        s.d.ended(joined);
    }
    assert_eq!(*s.held.asked.lock().unwrap(), vec![id]);
}

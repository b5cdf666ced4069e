//! Several nodes on one real PostgreSQL database: the lease and its fencing token, and every
//! node's event feed following all commits in sequence order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::config::settings::StoreSettings;
use crate::domain::{EventKind, NewAlert, NewEvent, Position, Severity};
use crate::store::cluster::{LeaseBackend, NodeRecord};
use crate::store::pg_server::PgServer;
use crate::store::url::StoreUrl;
use crate::store::{Store, WriterDone};

use super::cluster::lease;

async fn open(url: &str) -> (Store, WriterDone) {
    Store::open_url(&StoreUrl::Postgres(url.into()), &StoreSettings::default())
        .await
        .unwrap()
}

fn alert(key: &str) -> NewAlert {
    NewAlert {
        service: "svc".into(),
        dedup_key: key.into(),
        severity: Severity::High,
        summary: "s".into(),
        source: String::new(),
        details: Default::default(),
        links: vec![],
    }
}

/// Runs blocking lease calls off the runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

type Shared = Arc<std::sync::Mutex<super::cluster::PgLease>>;

async fn acquire(l: &Shared, node: &'static str, ttl: Duration) -> Option<i64> {
    let l = l.clone();
    blocking(move || l.lock().unwrap().acquire(node, ttl).unwrap()).await
}

#[tokio::test]
async fn one_node_holds_the_lease_and_a_new_holder_fences_the_old_one_out() {
    let url = PgServer::shared().fresh_database();
    let (store, writer) = open(&url).await; // migrates
    let settings = StoreSettings::default();
    let a: Shared = Arc::new(lease(&url, &settings).unwrap().into());
    let b: Shared = Arc::new(lease(&url, &settings).unwrap().into());
    let ttl = Duration::from_millis(400);
    let ta = acquire(&a, "a", ttl).await.expect("a wins a free lease");
    assert_eq!(
        acquire(&b, "b", ttl).await,
        None,
        "b cannot take a live lease"
    );
    // a renews: same token. A fenced write under it commits.
    assert_eq!(acquire(&a, "a", ttl).await, Some(ta));
    store
        .write(move |tx| {
            tx.fence(ta)?;
            Ok(tx.insert_incident(&alert("k1"), "p", Position::default(), chrono::Utc::now())?)
        })
        .await
        .unwrap();
    // a stops renewing; after the expiry b takes it with a higher token.
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let tb = acquire(&b, "b", ttl)
        .await
        .expect("b takes an expired lease");
    assert!(tb > ta, "{tb} > {ta}");
    // The old holder's fenced write is refused and keeps nothing.
    let refused = store
        .write(move |tx| {
            tx.insert_incident(&alert("k2"), "p", Position::default(), chrono::Utc::now())?;
            tx.fence(ta)?;
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(crate::store::fenced(&refused), Some(ta), "{refused:#}");
    let kept = store
        .read(|r| r.open_incident_id("svc", "k2"))
        .await
        .unwrap();
    assert_eq!(kept, None, "nothing of a fenced-out write is kept");
    // Coming back, a takes nothing while b holds it.
    assert_eq!(acquire(&a, "a", ttl).await, None);
    // The sync client must be dropped off the runtime's threads.
    std::thread::spawn(move || drop((a, b))).join().unwrap();
    drop(store);
    writer.wait().await;
}

#[tokio::test]
async fn a_released_lease_is_taken_at_once_and_nodes_report_themselves() {
    let url = PgServer::shared().fresh_database();
    let (store, writer) = open(&url).await;
    let settings = StoreSettings::default();
    let (mut a, mut b) = (
        lease(&url, &settings).unwrap(),
        lease(&url, &settings).unwrap(),
    );
    let ttl = Duration::from_secs(60);
    let now = chrono::Utc::now();
    let report = |name: &str, leader: bool| NodeRecord {
        name: name.into(),
        address: format!("{name}:1"),
        version: "v".into(),
        policy_digest: format!("digest-{name}"),
        started_at: now,
        seen_at: now,
        leader,
    };
    let (ra, rb) = (report("a", true), report("b", false));
    let (t1, t2) = blocking(move || {
        let t1 = a.acquire("a", ttl).unwrap().unwrap();
        a.report(&ra).unwrap();
        b.report(&rb).unwrap();
        assert_eq!(b.acquire("b", ttl).unwrap(), None);
        a.release("a").unwrap();
        let t2 = b
            .acquire("b", ttl)
            .unwrap()
            .expect("released: taken at once");
        (t1, t2)
    })
    .await;
    assert!(t2 > t1);
    let nodes = store.read(|r| r.cluster_nodes()).await.unwrap();
    let names: Vec<(&str, bool, &str)> = nodes
        .iter()
        .map(|n| (n.name.as_str(), n.leader, n.policy_digest.as_str()))
        .collect();
    assert_eq!(names, [("a", true, "digest-a"), ("b", false, "digest-b")]);
    drop(store);
    writer.wait().await;
}

/// Two nodes write interleaved; each node's feed delivers every committed event exactly
/// once, in sequence order, whichever node committed it; a node hears of the other's commits.
#[tokio::test]
async fn every_node_sees_every_commit_in_sequence_order() {
    let url = PgServer::shared().fresh_database();
    let (a, wa) = open(&url).await;
    let (b, wb) = open(&url).await;
    let woken = Arc::new(AtomicUsize::new(0));
    {
        let woken = woken.clone();
        b.on_remote_change(Arc::new(move || {
            woken.fetch_add(1, Ordering::SeqCst);
        }));
    }
    let now = chrono::Utc::now();
    let id = a
        .write(move |tx| Ok(tx.insert_incident(&alert("k"), "p", Position::default(), now)?))
        .await
        .unwrap();
    let (mut ra, _) = a.subscribe();
    let (mut rb, _) = b.subscribe();
    let mut writes = Vec::new();
    for i in 0..40 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        writes.push(tokio::spawn(async move {
            store
                .write(move |tx| {
                    tx.add_event(
                        id,
                        "svc",
                        NewEvent::new(EventKind::Paged, format!("e{i}")),
                        now,
                    )?;
                    Ok(())
                })
                .await
                .unwrap()
        }));
    }
    for w in writes {
        w.await.unwrap();
    }
    let all: Vec<i64> = a
        .read(move |r| r.timeline(id))
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EventKind::Paged)
        .map(|e| e.id)
        .collect();
    assert_eq!(all.len(), 40);
    for (name, rx) in [("a", &mut ra), ("b", &mut rb)] {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while got.len() < 40 {
            let ev = tokio::time::timeout_at(deadline, rx.recv())
                .await
                .unwrap_or_else(|_| panic!("node {name} saw only {got:?}"))
                .unwrap();
            if ev.kind == EventKind::Paged {
                got.push(ev.id);
            }
        }
        assert_eq!(got, all, "node {name}: every event once, in sequence order");
    }
    assert!(
        woken.load(Ordering::SeqCst) > 0,
        "b was told of a's commits"
    );
    drop((a, b, ra, rb));
    wa.wait().await;
    wb.wait().await;
}

//! The PostgreSQL backend against a real server (`store::pg_server`, one per test process,
//! a fresh database per test): the writer's batches, the schema's migrations, two stores
//! ("nodes") on one database, and a lost connection.

use crate::config::settings::StoreSettings;
use crate::domain::{NewAlert, Position, Severity};
use crate::store::pg_server::PgServer;
use crate::store::url::StoreUrl;
use crate::store::{IncidentFilter, Store, WriterDone};

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

async fn open(url: &str) -> (Store, WriterDone) {
    Store::open_url(&StoreUrl::Postgres(url.into()), &StoreSettings::default())
        .await
        .unwrap()
}

/// Runs `sql` on the database at `url` from a plain thread (the sync client must not run
/// on the runtime's threads).
fn psql(url: &str, sql: &str) -> Result<Vec<postgres::Row>, postgres::Error> {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
        client.query(&sql, &[])
    })
    .join()
    .unwrap()
}

#[tokio::test]
async fn a_failing_job_rolls_back_alone_while_its_batch_commits() {
    let (store, writer) = open(&PgServer::shared().fresh_database()).await;
    let now = chrono::Utc::now();
    let write = |key: &'static str, fail: bool| {
        let store = store.clone();
        async move {
            store
                .write(move |tx| {
                    let id = tx.insert_incident(&alert(key), "p", Position::default(), now)?;
                    if fail {
                        anyhow::bail!("refused after writing {id}");
                    }
                    Ok(id)
                })
                .await
        }
    };
    // Queued together, so they share one batch (one transaction).
    let (a, b, c) = tokio::join!(write("a", false), write("b", true), write("c", false));
    assert!(a.is_ok() && c.is_ok());
    assert!(b.unwrap_err().to_string().contains("refused"));
    let keys = store
        .read(|r| {
            let list = r.list_incidents(&IncidentFilter {
                limit: 10,
                ..Default::default()
            })?;
            Ok(list.into_iter().map(|i| i.dedup_key).collect::<Vec<_>>())
        })
        .await
        .unwrap();
    assert_eq!(keys, ["c", "a"]);
    // The unique index backs the dedup rule even if a caller forgot to look first; the job
    // that broke it rolls back alone, its batch neighbour commits.
    let (again, d) = tokio::join!(write("a", false), write("d", false));
    let err = format!("{:#}", again.unwrap_err());
    assert!(err.contains("incidents_open_key"), "{err}");
    assert!(d.is_ok());
    // A job that swallows a failed statement and carries on is refused alone too: its batch
    // neighbour is kept (PostgreSQL would otherwise roll the whole batch back at COMMIT).
    let swallowing = {
        let store = store.clone();
        async move {
            store
                .write(move |tx| {
                    let _ = tx.insert_incident(&alert("d"), "p", Position::default(), now);
                    Ok(tx.insert_incident(&alert("e"), "p", Position::default(), now)?)
                })
                .await
        }
    };
    let (swallowed, f) = tokio::join!(swallowing, write("f", false));
    assert!(swallowed.is_err());
    assert!(f.is_ok());
    let keys = store
        .read(|r| {
            let list = r.list_incidents(&IncidentFilter {
                limit: 10,
                ..Default::default()
            })?;
            Ok(list.into_iter().map(|i| i.dedup_key).collect::<Vec<_>>())
        })
        .await
        .unwrap();
    assert_eq!(keys, ["f", "d", "c", "a"]);
    drop(store);
    writer.wait().await;
}

// Draining before a stop and publishing events in sequence order are contract cases
// (`store::contract_tests`), run on both backends.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_racing_on_one_dedup_key_open_one_incident() {
    let url = PgServer::shared().fresh_database();
    let (one, w1) = open(&url).await;
    let (two, w2) = open(&url).await;
    let now = chrono::Utc::now();
    for round in 0..20 {
        let key = format!("race-{round}");
        let racer = |store: Store, key: String| async move {
            store
                .write(move |tx| {
                    Ok(tx.insert_incident(&alert(&key), "p", Position::default(), now)?)
                })
                .await
        };
        let (a, b) = tokio::join!(
            tokio::spawn(racer(one.clone(), key.clone())),
            tokio::spawn(racer(two.clone(), key.clone()))
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a.is_ok() != b.is_ok(), "round {round}: {a:?} / {b:?}");
        let loser = format!("{:#}", a.err().or(b.err()).unwrap());
        assert!(loser.contains("incidents_open_key"), "{loser}");
    }
    let open_count = one.read(|r| r.open_incident_count()).await.unwrap();
    assert_eq!(open_count, 20);
    drop((one, two));
    w1.wait().await;
    w2.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_starting_at_once_migrate_once_and_reopening_changes_nothing() {
    let url = PgServer::shared().fresh_database();
    let (a, b) = tokio::join!(open(&url), open(&url));
    let versions = psql(&url, "SELECT version FROM schema_version ORDER BY version").unwrap();
    let versions: Vec<i64> = versions.iter().map(|r| r.get(0)).collect();
    let all: Vec<i64> = (1..=super::schema::known_version()).collect();
    assert_eq!(versions, all, "each migration applied once");
    let store_id = |url: &str| -> String {
        psql(url, "SELECT value FROM meta WHERE key = 'store_id'").unwrap()[0].get(0)
    };
    let id = store_id(&url);
    assert_eq!(id.len(), 32, "{id}");
    for (store, writer) in [a, b] {
        drop(store);
        writer.wait().await;
    }
    let (store, writer) = open(&url).await;
    assert_eq!(store_id(&url), id, "a second start migrates nothing");
    drop(store);
    writer.wait().await;
}

#[tokio::test]
async fn a_schema_newer_than_this_binary_is_refused() {
    let url = PgServer::shared().fresh_database();
    let (store, writer) = open(&url).await;
    drop(store);
    writer.wait().await;
    psql(&url, "INSERT INTO schema_version VALUES (99, 0)").unwrap();
    let err = Store::open_url(&StoreUrl::Postgres(url), &StoreSettings::default())
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("newer"), "{err}");
}

#[tokio::test]
async fn a_lost_connection_is_unavailable_and_the_writer_reconnects() {
    let url = PgServer::shared().fresh_database();
    let (store, writer) = open(&url).await;
    let now = chrono::Utc::now();
    let insert = |key: &'static str| {
        let store = store.clone();
        async move {
            store
                .write(move |tx| {
                    Ok(tx.insert_incident(&alert(key), "p", Position::default(), now)?)
                })
                .await
        }
    };
    insert("before").await.unwrap();
    let db = url.rsplit('/').next().unwrap().to_string();
    let killed = psql(
        &PgServer::shared().url(),
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = '{db}' AND application_name = 'pagerd'"
        ),
    )
    .unwrap();
    assert!(!killed.is_empty());
    // The first write finds the connection gone: retry-able, not a verdict on the request.
    let lost = insert("during").await.unwrap_err();
    assert!(
        crate::store::unavailable(&lost).is_some(),
        "{lost:#} should say unavailable"
    );
    // Within the backoff the writer reconnects; reads do too.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match insert("after").await {
            Ok(_) => break,
            Err(e) if std::time::Instant::now() < deadline => {
                assert!(crate::store::unavailable(&e).is_some(), "{e:#}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("never reconnected: {e:#}"),
        }
    }
    let mut count = None;
    for _ in 0..READ_RETRIES {
        match store.read(|r| r.open_incident_count()).await {
            Ok(n) => {
                count = Some(n);
                break;
            }
            Err(e) => assert!(e.is_unavailable(), "{e:#}"),
        }
    }
    assert_eq!(count, Some(2), "before and after; during never happened");
    drop(store);
    writer.wait().await;
}

/// Each reader may find its connection killed once.
const READ_RETRIES: usize = super::READERS + 1;

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error_naming_no_password() {
    // Nothing listens on port 1.
    let url = "postgres://pagerd:hunter2@127.0.0.1:1/pagerd?connect_timeout=2";
    let err = Store::open_url(&StoreUrl::Postgres(url.into()), &StoreSettings::default())
        .await
        .err()
        .expect("refused");
    let text = format!("{:#}", anyhow::Error::from(err));
    assert!(text.contains("connecting the store writer"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    let bad = Store::open_url(
        &StoreUrl::Postgres("postgres://u:hunter2@h:notaport/d".into()),
        &StoreSettings::default(),
    )
    .await
    .err()
    .expect("refused");
    let text = bad.to_string();
    assert!(
        text.contains("store.url") && !text.contains("hunter2"),
        "{text}"
    );
}

//! Engine-level trigger throughput (no gRPC): isolates the store writer's cost per trigger.
//! `cargo run --release --example engine_bench -- [TRIGGERS] [CONCURRENCY]`

use std::sync::Arc;
use std::time::Instant;

use pagerd::config::settings::StoreSettings;
use pagerd::domain::{
    EscalationPolicy, Level, NewAlert, Person, PolicySet, Repeat, Service, Severity, Target,
    Timeline,
};
use pagerd::engine::{Clock, Engine};
use pagerd::store::Store;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map_or(Ok(50_000), |s| s.parse())?;
    let conc: usize = args.get(2).map_or(Ok(64), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    let (store, writer) = Store::open(&dir.path().join("b.db"), &StoreSettings::default()).await?;
    let mut policies = PolicySet::default();
    policies.people.insert(
        "p".into(),
        Person {
            name: "p".into(),
            time_zone: chrono_tz::UTC,
            email: None,
            sms: None,
            slack: None,
            contact_rules: Vec::new(),
            low_contact_rules: Vec::new(),
        },
    );
    policies.services.insert("s".into(), Service::new("s", "e"));
    policies.policies.insert(
        "e".into(),
        EscalationPolicy {
            name: "e".into(),
            default: Timeline {
                levels: vec![Level {
                    targets: vec![Target::Person("p".into())],
                    delay: std::time::Duration::from_secs(86400),
                }],
            },
            per_severity: Default::default(),
            repeat: Repeat::Times(0),
            ack_timeout: None,
            response_targets: Default::default(),
        },
    );
    let engine = Engine::new(store, policies, Clock::System, vec!["webhook".into()]);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conc {
        let (engine, next) = (engine.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let alert = NewAlert {
                    service: "s".into(),
                    dedup_key: uuid::Uuid::new_v4().to_string(),
                    severity: Severity::High,
                    summary: "bench".into(),
                    source: "bench".into(),
                    details: Default::default(),
                    links: vec![],
                };
                engine.trigger(alert).await.unwrap();
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{n} triggers, {conc} concurrent: {:.0}/s ({:.1} µs each)",
        n as f64 / secs,
        secs * 1e6 / n as f64
    );
    drop(engine);
    writer.wait().await;
    Ok(())
}

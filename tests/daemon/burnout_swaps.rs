//! The rest after a busy shift and swaps in the running daemon, on a paused clock: who is on
//! call and who gets paged, with the ledger's reasons.

use pagerd::engine::Clock;

use crate::burnout::{POLICIES, advance_to, at, resolve, shift_at, start, trigger_paged};
use crate::helpers::*;

/// Pages one incident on `web` and returns who got it.
async fn paged(app: &mut TestApp, sink: &mut WebhookSink, key: &str) -> String {
    let (id, who) = trigger_paged(app, sink, "web", key).await;
    resolve(app, id).await;
    who
}

#[tokio::test(start_paused = true)]
async fn a_busy_week_rests_the_week_after_it_and_a_moved_turn_is_swapped_back() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(POLICIES);
    let mut sink = WebhookSink::start().await;
    let clock = Clock::anchored(start());
    let mut app = spawn_app(&dirs, &sink, clock).await;

    // ann, bob, cat weekly from Monday 5 January. Ann's first week is busy (4 incidents):
    // her rest is 12–19 January, which bob's and cat's turns cover anyway.
    for k in 0..4 {
        assert_eq!(paged(&mut app, &mut sink, &format!("a{k}")).await, "ann");
    }
    // Her next turn (26 January) starts after the rest: hers, and bob has one week only.
    advance_to(&app, clock, at("2026-01-26T10:00:00Z")).await;
    let s = shift_at(&app, "primary", clock.now()).await;
    assert_eq!(
        (s.person.as_str(), s.reason.as_str(), s.projected),
        ("ann", "ann's turn", false)
    );
    assert_eq!(paged(&mut app, &mut sink, "b0").await, "ann");

    // Ann covers cat's week of 9 February (an override) and it is busy: her rest runs to
    // 23 February 09:00, so her own turn of 16 February goes to bob, and bob's of
    // 23 February comes back to her.
    pagerd::proto::schedule_service_client::ScheduleServiceClient::new(app.channel.clone())
        .add_override(pagerd::proto::AddOverrideRequest {
            schedule: "primary".into(),
            person: "ann".into(),
            start: ts_of("2026-02-09T09:00:00Z"),
            end: ts_of("2026-02-16T09:00:00Z"),
            reason: "covering cat".into(),
            by: "victor".into(),
        })
        .await
        .expect("AddOverride");
    advance_to(&app, clock, at("2026-02-09T10:00:00Z")).await;
    for k in 0..4 {
        assert_eq!(paged(&mut app, &mut sink, &format!("c{k}")).await, "ann");
    }
    let moved = "ann skipped: rest after a busy shift (4 incidents from 2026-02-09, more than \
                 3, rest until 2026-02-23 09:00) → bob; ann is owed bob's next turn";
    let swap = "bob takes ann's 16 Feb turn (rest after busy shift); ann takes bob's 23 Feb turn";
    // Projected as soon as the fourth incident is counted.
    within("the rest is projected", async {
        while shift_at(&app, "primary", at("2026-02-17T00:00:00Z"))
            .await
            .person
            != "bob"
        {
            real_timeout(
                std::time::Duration::from_millis(20),
                std::future::pending::<()>(),
            )
            .await;
        }
    })
    .await;
    let s = shift_at(&app, "primary", at("2026-02-24T00:00:00Z")).await;
    assert_eq!(
        (s.person.as_str(), s.reason.as_str(), s.projected),
        ("ann", swap, true)
    );

    // As the weeks start: bob is on call and paged on 16 February, ann on 23 February, cat
    // on 2 March; nobody has two weeks in a row.
    advance_to(&app, clock, at("2026-02-16T10:00:00Z")).await;
    let s = shift_at(&app, "primary", clock.now()).await;
    assert_eq!(
        (s.person.as_str(), s.reason.as_str(), s.projected, s.flagged),
        ("bob", moved, false, false)
    );
    assert_eq!(paged(&mut app, &mut sink, "d0").await, "bob");
    advance_to(&app, clock, at("2026-02-23T10:00:00Z")).await;
    let s = shift_at(&app, "primary", clock.now()).await;
    assert_eq!(
        (s.person.as_str(), s.reason.as_str(), s.projected),
        ("ann", swap, false)
    );
    assert_eq!(paged(&mut app, &mut sink, "e0").await, "ann");
    advance_to(&app, clock, at("2026-03-02T10:00:00Z")).await;
    let s = shift_at(&app, "primary", clock.now()).await;
    assert_eq!(
        (s.person.as_str(), s.reason.as_str()),
        ("cat", "cat's turn")
    );
    assert_eq!(paged(&mut app, &mut sink, "f0").await, "cat");
    app.stop().await;
}

fn ts_of(s: &str) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: at(s).timestamp(),
        nanos: 0,
    })
}

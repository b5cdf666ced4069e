//! The contract's core: transactions, the writer, event order, the dedup rule, incidents,
//! timelines and due actions.

use super::{Opened, Place, alert, at, incident};
use crate::domain::due::{Due, DueScope};
use crate::domain::{EventKind, IncidentState, NewEvent, Position, Severity};
use crate::store::IncidentFilter;

pub(super) async fn a_failing_job_rolls_back_alone_while_its_batch_commits(place: Place) {
    let db = Opened::new(&place).await;
    let store = &db.store;
    let write = |key: &'static str, fail: bool| {
        let store = store.clone();
        async move {
            store
                .write(move |tx| {
                    let id = tx.insert_incident(&alert(key), "p", Position::default(), at(0))?;
                    if fail {
                        anyhow::bail!("refused after writing {id}");
                    }
                    Ok(id)
                })
                .await
        }
    };
    // Queued together, so they may share one batch (one transaction).
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
    db.close().await;
}

pub(super) async fn the_writer_drains_queued_jobs_before_it_stops(place: Place) {
    let db = Opened::new(&place).await;
    let pending: Vec<_> = (0..100)
        .map(|i| {
            let store = db.store.clone();
            tokio::spawn(async move {
                store
                    .write(move |tx| {
                        let a = alert(&format!("k{i}"));
                        Ok(tx.insert_incident(&a, "p", Position::default(), at(0))?)
                    })
                    .await
            })
        })
        .collect();
    db.close().await;
    for p in pending {
        p.await.unwrap().unwrap();
    }
    let db = Opened::new(&place).await;
    assert_eq!(
        db.store.read(|r| r.open_incident_count()).await.unwrap(),
        100
    );
    db.close().await;
}

pub(super) async fn committed_events_are_published_in_sequence_order_and_rolled_back_ones_never(
    place: Place,
) {
    let db = Opened::new(&place).await;
    let store = &db.store;
    let id = incident(store, "svc", "k", Severity::High).await;
    let (mut rx, start) = store.subscribe();
    assert_eq!(start, 0);
    let write = |what: &'static str, fail: bool| {
        let store = store.clone();
        async move {
            store
                .write(move |tx| {
                    tx.add_event(id, "svc", NewEvent::new(EventKind::Paged, what), at(1))?;
                    if fail {
                        anyhow::bail!("refused");
                    }
                    Ok(())
                })
                .await
        }
    };
    let (a, b, c) = tokio::join!(write("a", false), write("b", true), write("c", false));
    assert!(a.is_ok() && b.is_err() && c.is_ok());
    let mut got: Vec<(i64, String)> = (0..2)
        .map(|_| rx.try_recv().map(|e| (e.id, e.message)).unwrap())
        .collect();
    assert!(got[0].0 < got[1].0, "published in sequence order: {got:?}");
    got.sort_by(|x, y| x.1.cmp(&y.1));
    assert_eq!([got[0].1.as_str(), got[1].1.as_str()], ["a", "c"]);
    assert!(rx.try_recv().is_err(), "nothing else was committed");

    // A repeat line right after a repeat line moves to the next sequence.
    let moved = store
        .write(move |tx| {
            let first = tx.coalesce_repeat(id, "svc", "alert #2 added", at(2))?;
            let again = tx.coalesce_repeat(id, "svc", "alert #3 added", at(3))?;
            Ok((first.id, again.id))
        })
        .await
        .unwrap();
    assert!(moved.1 > moved.0);
    let timeline = store.read(move |r| r.timeline(id)).await.unwrap();
    let repeats: Vec<&str> = timeline
        .iter()
        .filter(|e| e.kind == EventKind::Deduplicated)
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(repeats, ["alert #3 added"]);
    assert_eq!(timeline.last().unwrap().id, moved.1);
    assert_eq!(timeline.last().unwrap().at, at(3));
    assert_eq!(rx.try_recv().unwrap().id, moved.0);
    assert_eq!(rx.try_recv().unwrap().id, moved.1);
    assert_eq!(store.subscribe().1, moved.1);
    assert_eq!(store.read(|r| r.last_event_id()).await.unwrap(), moved.1);
    drop(rx);
    db.close().await;
}

pub(super) async fn the_dedup_rule_is_a_unique_constraint_on_open_incidents(place: Place) {
    let db = Opened::new(&place).await;
    let store = &db.store;
    let first = incident(store, "svc", "k", Severity::High).await;
    // A caller that did not look first is still refused: the store enforces it.
    let again = store
        .write(|tx| Ok(tx.insert_incident(&alert("k"), "p", Position::default(), at(1))?))
        .await;
    assert!(again.is_err(), "a second open incident with the same key");
    // Another service may use the key; a resolved incident frees it.
    incident(store, "other", "k", Severity::High).await;
    let count = store
        .write(move |tx| Ok(tx.record_duplicate(first, &alert("k"), at(5))?))
        .await
        .unwrap();
    assert_eq!(count, 2);
    let found = store
        .read(|r| r.open_incident_id("svc", "k"))
        .await
        .unwrap();
    assert_eq!(found, Some(first));
    store
        .write(move |tx| Ok(tx.set_resolved(first, "ann", "fixed", at(6))?))
        .await
        .unwrap();
    assert_eq!(
        store
            .read(|r| r.open_incident_id("svc", "k"))
            .await
            .unwrap(),
        None
    );
    let second = incident(store, "svc", "k", Severity::High).await;
    assert!(second > first);
    let openings = store
        .read(|r| r.openings_since("svc", "k", super::at(-1)))
        .await
        .unwrap();
    assert_eq!(openings.len(), 2);
    db.close().await;
}

pub(super) async fn incidents_change_state_and_list_newest_first_with_filters(place: Place) {
    let db = Opened::new(&place).await;
    let store = &db.store;
    let a = incident(store, "api", "a", Severity::Critical).await;
    let b = incident(store, "web", "b", Severity::Low).await;
    let c = incident(store, "api", "c", Severity::High).await;
    store
        .write(move |tx| {
            tx.set_acknowledged(a, "ann", at(10))?;
            tx.set_position(
                b,
                Position {
                    level: 2,
                    loop_no: 1,
                },
            )?;
            tx.set_severity(b, Severity::Medium)?;
            tx.set_resolved(c, "bob", "done", at(20))?;
            tx.set_postmortem_required(c)?;
            tx.set_postmortem_url(c, "https://wiki/pm/1")?;
            Ok(())
        })
        .await
        .unwrap();
    let (ia, ib, ic) = store
        .read(move |r| Ok((r.incident(a)?, r.incident(b)?, r.incident(c)?)))
        .await
        .unwrap();
    let (ia, ib, ic) = (ia.unwrap(), ib.unwrap(), ic.unwrap());
    assert_eq!(ia.state, IncidentState::Acknowledged);
    assert_eq!(
        (ia.acknowledged_by.as_deref(), ia.acknowledged_at),
        (Some("ann"), Some(at(10)))
    );
    assert_eq!(
        (ib.pos, ib.severity),
        (
            Position {
                level: 2,
                loop_no: 1
            },
            Severity::Medium
        )
    );
    assert_eq!(ic.state, IncidentState::Resolved);
    assert_eq!(ic.resolve_note.as_deref(), Some("done"));
    assert!(ic.postmortem_required && !ic.postmortem_pending());
    store
        .write(move |tx| Ok(tx.set_triggered(a)?))
        .await
        .unwrap();

    let list = |filter: IncidentFilter| {
        let store = store.clone();
        async move {
            let got = store
                .read(move |r| r.list_incidents(&filter))
                .await
                .unwrap();
            got.into_iter().map(|i| i.id).collect::<Vec<_>>()
        }
    };
    let all = IncidentFilter {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(list(all.clone()).await, [c, b, a]);
    let api = IncidentFilter {
        service: Some("api".into()),
        ..all.clone()
    };
    assert_eq!(list(api).await, [c, a]);
    let open = IncidentFilter {
        states: vec![IncidentState::Triggered],
        ..all.clone()
    };
    assert_eq!(list(open).await, [b, a]);
    let page = IncidentFilter {
        before_id: Some(c),
        limit: 1,
        ..all
    };
    assert_eq!(list(page).await, [b]);
    let (count, by_state, of) = store
        .read(|r| {
            Ok((
                r.open_incident_count()?,
                r.open_incidents_by_state()?,
                r.open_incidents_of(&["web", "none"], 10)?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(count, 2);
    assert_eq!(by_state, [(IncidentState::Triggered, 2)]);
    assert_eq!(of.iter().map(|i| i.id).collect::<Vec<_>>(), [b]);
    assert!(store.read(|r| r.incident(999_999)).await.unwrap().is_none());
    db.close().await;
}

pub(super) async fn timelines_page_by_sequence_and_events_after_filters(place: Place) {
    let db = Opened::new(&place).await;
    let store = &db.store;
    let a = incident(store, "api", "a", Severity::High).await;
    let b = incident(store, "web", "b", Severity::High).await;
    let ids = store
        .write(move |tx| {
            let mut ids = Vec::new();
            for i in 0..5 {
                let (inc, svc) = if i % 2 == 0 { (a, "api") } else { (b, "web") };
                let mut ev = NewEvent::new(EventKind::Note, format!("n{i}"));
                ev.person = Some("ann".into());
                ev.level = Some(i);
                ids.push(tx.add_event(inc, svc, ev, at(i64::from(i)))?.id);
            }
            Ok(ids)
        })
        .await
        .unwrap();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let timeline = store.read(move |r| r.timeline(a)).await.unwrap();
    let notes: Vec<&str> = timeline.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(notes, ["n0", "n2", "n4"]);
    assert_eq!(timeline[1].person.as_deref(), Some("ann"));
    assert_eq!((timeline[1].level, timeline[1].at), (Some(2), at(2)));
    let page = store
        .read(move |r| r.timeline_after(a, timeline[0].id, 1))
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
        ["n2"]
    );
    let first = ids[0];
    let (all, of_b, of_web, limited) = store
        .read(move |r| {
            Ok((
                r.events_after(first, None, None, 100)?,
                r.events_after(0, Some(b), None, 100)?,
                r.events_after(0, None, Some("web"), 100)?,
                r.events_after(first, None, None, 2)?,
            ))
        })
        .await
        .unwrap();
    let msgs = |v: &[crate::domain::Event]| v.iter().map(|e| e.message.clone()).collect::<Vec<_>>();
    assert_eq!(msgs(&all), ["n1", "n2", "n3", "n4"]);
    assert_eq!(msgs(&of_b), ["n1", "n3"]);
    assert_eq!(msgs(&of_web), ["n1", "n3"]);
    assert_eq!(msgs(&limited), ["n1", "n2"]);
    db.close().await;
}

fn every_kind(incident: i64) -> Vec<Due> {
    vec![
        Due::Escalate { incident },
        Due::AckTimeout { incident },
        Due::Release { incident },
        Due::Contact {
            incident,
            person: "ann".into(),
            channel: "sms".into(),
            pos: Position {
                level: 2,
                loop_no: 1,
            },
        },
        Due::Handoff {
            schedule: "rota".into(),
        },
        Due::Shift {
            schedule: "rota".into(),
        },
        Due::HeartbeatExpiry {
            heartbeat: "nightly".into(),
        },
        Due::Rebalance {
            schedule: "rota".into(),
        },
    ]
}

pub(super) async fn every_due_action_kind_round_trips_earliest_first(place: Place) {
    let db = Opened::new(&place).await;
    let store = &db.store;
    let id = incident(store, "svc", "k", Severity::High).await;
    let all = every_kind(id);
    // Set in reverse, so "earliest first" is the store's doing.
    let set = all.clone();
    store
        .write(move |tx| {
            for (i, due) in set.iter().enumerate().rev() {
                tx.set_due(due, at(i as i64 * 10))?;
            }
            // Keyed actions are one each: setting again moves them.
            tx.set_due(&set[4], at(45))?;
            tx.set_due(&set[6], at(65))?;
            Ok(())
        })
        .await
        .unwrap();
    let (next, held) = store
        .read(move |r| Ok((r.next_due_at()?, r.is_held(id)?)))
        .await
        .unwrap();
    assert_eq!((next, held), (Some(at(0)), true));
    let (handoffs, shifts) = store
        .read(|r| Ok((r.scheduled_handoffs()?, r.scheduled_shifts()?)))
        .await
        .unwrap();
    assert_eq!(handoffs, [("rota".to_string(), at(45))]);
    assert_eq!(shifts, [("rota".to_string(), at(50))]);

    // Only what is due, at most `limit`, earliest first; taken ones are gone.
    let early = store.write(|tx| Ok(tx.take_due(at(25), 2)?)).await.unwrap();
    assert_eq!(early, [(all[0].clone(), at(0)), (all[1].clone(), at(10))]);
    let rest = store
        .write(|tx| Ok(tx.take_due(at(1000), 100)?))
        .await
        .unwrap();
    let want: Vec<_> = all[2..]
        .iter()
        .cloned()
        .zip([20, 30, 45, 50, 65, 70].map(at))
        .collect();
    assert_eq!(rest, want);
    assert!(
        store
            .write(|tx| Ok(tx.take_due(at(1000), 100)?))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.read(|r| r.next_due_at()).await.unwrap(), None);
    db.close().await;
}

pub(super) async fn ensure_and_cancel_due_touch_only_their_scope(place: Place) {
    let db = Opened::new(&place).await;
    let store = &db.store;
    let id = incident(store, "svc", "k", Severity::High).await;
    let other = incident(store, "svc", "k2", Severity::High).await;
    let handoff = |s: &str| Due::Handoff { schedule: s.into() };
    let set = store
        .write(move |tx| {
            tx.set_due(&Due::Escalate { incident: id }, at(1))?;
            tx.set_due(&Due::Release { incident: id }, at(2))?;
            tx.set_due(&Due::Escalate { incident: other }, at(3))?;
            let first = tx.ensure_due(&handoff("rota"), at(4))?;
            // A pending one is never moved by ensure.
            let second = tx.ensure_due(&handoff("rota"), at(99))?;
            tx.set_due(
                &Due::Shift {
                    schedule: "rota".into(),
                },
                at(5),
            )?;
            tx.set_due(&handoff("other"), at(6))?;
            tx.set_due(
                &Due::HeartbeatExpiry {
                    heartbeat: "nightly".into(),
                },
                at(7),
            )?;
            tx.set_due(
                &Due::Rebalance {
                    schedule: "rota".into(),
                },
                at(8),
            )?;
            Ok((first, second))
        })
        .await
        .unwrap();
    assert_eq!(set, (true, false));
    let refused = store
        .write(move |tx| Ok(tx.ensure_due(&Due::Escalate { incident: id }, at(1))?))
        .await;
    assert!(refused.is_err(), "ensure_due is for schedule actions only");
    store
        .write(move |tx| {
            tx.cancel_due(&DueScope::Incident(id))?;
            tx.cancel_due(&DueScope::Handoff("rota".into()))?;
            tx.cancel_due(&DueScope::Heartbeat("nightly".into()))?;
            tx.cancel_due(&DueScope::Rebalance("rota".into()))?;
            Ok(())
        })
        .await
        .unwrap();
    assert!(!store.read(move |r| r.is_held(id)).await.unwrap());
    let kept: Vec<Due> = store
        .write(|tx| Ok(tx.take_due(at(100), 100)?))
        .await
        .unwrap()
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    assert_eq!(
        kept,
        [
            Due::Escalate { incident: other },
            Due::Shift {
                schedule: "rota".into()
            },
            handoff("other"),
        ]
    );
    db.close().await;
}

//! The contract for what the store keeps beside incidents: overrides, the shift ledger,
//! tokens, the audit trail, maintenance windows, heartbeats, URL secrets, rotation phases.

use super::{Opened, Place, at, incident};
use crate::domain::access::Role;
use crate::domain::audit::AuditEntry;
use crate::domain::due::Due;
use crate::domain::ingest::MaintenanceWindow;
use crate::domain::{PageKind, Position, Severity};
use crate::store::{
    AttemptInfo, AttemptOutcome, HeartbeatState, LedgerEntry, NewToken, StoredPhase,
};

pub(super) async fn overrides_are_stored_listed_and_removed_once(place: Place) {
    let db = Opened::new(&place).await;
    let store = &db.store;
    let (a, b) = store
        .write(|tx| {
            let a = tx.insert_override("rota", "ann", at(0), at(100), "swap", "bob", at(0))?;
            let b = tx.insert_override("other", "cy", at(50), at(200), "", "bob", at(1))?;
            Ok((a, b))
        })
        .await
        .unwrap();
    assert!(b.id > a.id);
    assert_eq!(
        (
            a.schedule.as_str(),
            a.person.as_str(),
            a.start,
            a.end,
            a.reason.as_str()
        ),
        ("rota", "ann", at(0), at(100), "swap")
    );
    assert_eq!(
        (a.created_by.as_str(), a.created_at, a.removed_at),
        ("bob", at(0), None)
    );
    let (live, listed, one) = store
        .read(move |r| {
            Ok((
                r.live_overrides(at(10))?,
                r.list_overrides(Some("rota"), at(10), false)?,
                r.schedule_override(a.id)?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(live.iter().map(|o| o.id).collect::<Vec<_>>(), [a.id, b.id]);
    assert_eq!(listed, std::slice::from_ref(&a));
    assert_eq!(one, Some(a.clone()));

    let (first, second, missing) = store
        .write(move |tx| {
            Ok((
                tx.remove_override(a.id, "cy", at(5))?,
                tx.remove_override(a.id, "dee", at(6))?,
                tx.remove_override(999_999, "dee", at(6))?,
            ))
        })
        .await
        .unwrap();
    let (removed, changed) = first.unwrap();
    assert!(changed);
    assert_eq!(
        (removed.removed_by.as_deref(), removed.removed_at),
        (Some("cy"), Some(at(5)))
    );
    let (again, changed) = second.unwrap();
    assert!(!changed, "removed once");
    assert_eq!(again.removed_by.as_deref(), Some("cy"));
    assert!(missing.is_none());
    let (live, all) = store
        .read(|r| {
            Ok((
                r.live_overrides(at(10))?,
                r.list_overrides(None, at(10), true)?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(live.iter().map(|o| o.id).collect::<Vec<_>>(), [b.id]);
    assert_eq!(
        all.iter().map(|o| o.id).collect::<Vec<_>>(),
        [b.id, a.id],
        "newest first"
    );
    // Ended before `since`: not listed.
    assert!(
        store
            .read(|r| r.live_overrides(at(300)))
            .await
            .unwrap()
            .is_empty()
    );
    db.close().await;
}

fn shift(start: i64, end: i64, person: &str, reason: &str) -> LedgerEntry {
    LedgerEntry {
        schedule: "rota".into(),
        layer: "weekly".into(),
        turn: Some(0),
        start: at(start),
        end: at(end),
        person: person.into(),
        candidate: "ann".into(),
        reason: reason.into(),
        skipped: vec!["bob".into()],
        flagged: true,
        nobody_eligible: false,
        rested: true,
        evening: false,
        incidents: 0,
    }
}

pub(super) async fn a_recorded_shift_never_changes(place: Place) {
    let db = Opened::new(&place).await;
    let store = &db.store;
    let inc = incident(store, "svc", "k", Severity::High).await;
    let (first, again, next) = store
        .write(move |tx| {
            let first = tx.record_shift(&shift(0, 1000, "cy", "ann over the cap"), at(0))?;
            // The same decision again (another reason) changes nothing.
            let again = tx.record_shift(&shift(0, 1000, "cy", "something else"), at(5))?;
            let next = tx.record_shift(&shift(1000, 2000, "ann", "ann's turn"), at(1000))?;
            tx.set_due(
                &Due::Shift {
                    schedule: "rota".into(),
                },
                at(2000),
            )?;
            // A page sent to cy in the shift counts as one of its incidents.
            let page = tx.enqueue_page(
                inc,
                PageKind::Page,
                "cy",
                "email",
                Position::default(),
                at(0),
                at(0),
            )?;
            tx.record_attempt(
                page,
                &AttemptOutcome::Sent,
                &AttemptInfo::default(),
                at(500),
            )?;
            Ok((first, again, next))
        })
        .await
        .unwrap();
    assert_eq!((first, again, next), (true, false, true));
    let (rows, between, all, due) = store
        .read(|r| {
            Ok((
                r.ledger("rota", at(0))?,
                r.ledger_between(Some("rota"), at(500), at(1500))?,
                r.ledger_between(None, at(0), at(5000))?,
                r.scheduled_shifts()?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let mut want = shift(0, 1000, "cy", "ann over the cap");
    want.incidents = 1;
    assert_eq!(rows[0], want);
    assert_eq!((rows[1].person.as_str(), rows[1].incidents), ("ann", 0));
    assert_eq!(
        between.iter().map(|e| e.start).collect::<Vec<_>>(),
        [at(1000)]
    );
    assert_eq!(all.len(), 2);
    assert_eq!(due, [("rota".to_string(), at(2000))]);
    // Rows that ended by `since` are not the schedule's ledger any more.
    assert_eq!(
        store
            .read(|r| r.ledger("rota", at(1000)))
            .await
            .unwrap()
            .len(),
        1
    );
    db.close().await;
}

pub(super) async fn tokens_are_found_by_hash_named_once_and_revoked_once(place: Place) {
    let db = Opened::new(&place).await;
    let store = &db.store;
    let token = |name: &str, role, hash: &str| NewToken {
        name: name.into(),
        role,
        person: (role == Role::Responder).then(|| "ann".to_string()),
        secret_hash: hash.into(),
        expires_at: (role == Role::Viewer).then(|| at(100)),
    };
    let (a, b, dup) = store
        .write(move |tx| {
            Ok((
                tx.insert_token(&token("ops", Role::Responder, "h1"), at(1))?,
                tx.insert_token(&token("dash", Role::Viewer, "h2"), at(2))?,
                tx.insert_token(&token("ops", Role::Admin, "h3"), at(3))?,
            ))
        })
        .await
        .unwrap();
    assert_eq!((a, b, dup), (true, true, false));
    let (found, dash, none) = store
        .read(|r| {
            Ok((
                r.token_by_hash("h1")?,
                r.token_by_hash("h2")?,
                r.token_by_hash("h3")?,
            ))
        })
        .await
        .unwrap();
    let found = found.unwrap();
    assert_eq!(
        (
            found.name.as_str(),
            found.role,
            found.person.as_deref(),
            found.created_at
        ),
        ("ops", Role::Responder, Some("ann"), at(1))
    );
    assert_eq!(dash.unwrap().expires_at, Some(at(100)));
    assert!(none.is_none());
    let (revoked, again, missing) = store
        .write(|tx| {
            Ok((
                tx.revoke_token("ops", at(10))?,
                tx.revoke_token("ops", at(11))?,
                tx.revoke_token("nobody", at(11))?,
            ))
        })
        .await
        .unwrap();
    assert_eq!((revoked, again, missing), (true, false, false));
    let list = store.read(|r| r.list_tokens()).await.unwrap();
    assert_eq!(
        list.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["dash", "ops"]
    );
    assert_eq!(list[1].revoked_at, Some(at(10)));
    assert!(!list[1].is_live(at(12)) && list[0].is_live(at(12)));
    db.close().await;
}

pub(super) async fn audit_entries_come_back_oldest_first_from_since(place: Place) {
    let db = Opened::new(&place).await;
    let store = &db.store;
    let entry = |t: i64, action: &str| AuditEntry {
        at: at(t),
        actor: "ann".into(),
        via: "grpc".into(),
        action: action.into(),
        target: format!("incident {t}"),
        detail: "{\"note\":\"x\"}".into(),
    };
    let entries = [entry(30, "resolve"), entry(10, "ack"), entry(20, "note")];
    let stored = entries.clone();
    store
        .write(move |tx| {
            for e in &stored {
                tx.add_audit(e)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let (all, since, limited) = store
        .read(|r| {
            Ok((
                r.list_audit(at(0), 10)?,
                r.list_audit(at(20), 10)?,
                r.list_audit(at(0), 1)?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(
        all,
        [entries[1].clone(), entries[2].clone(), entries[0].clone()]
    );
    assert_eq!(since, [entries[2].clone(), entries[0].clone()]);
    assert_eq!(limited, [entries[1].clone()]);
    db.close().await;
}

pub(super) async fn maintenance_windows_heartbeats_and_url_secrets_round_trip(place: Place) {
    let db = Opened::new(&place).await;
    let store = &db.store;
    let window = |service: &str, start, end, page_after| MaintenanceWindow {
        id: None,
        service: service.into(),
        start: at(start),
        end: at(end),
        reason: "deploy".into(),
        page_after,
        created_by: "ann".into(),
    };
    let (a, b) = store
        .write(move |tx| {
            Ok((
                tx.insert_maintenance(&window("api", 0, 100, true), at(0))?,
                tx.insert_maintenance(&window("web", 0, 200, false), at(0))?,
            ))
        })
        .await
        .unwrap();
    assert!(a.id.is_some() && b.id > a.id);
    assert_eq!(
        a,
        MaintenanceWindow {
            id: a.id,
            ..window("api", 0, 100, true)
        }
    );
    let (removed, again) = store
        .write(move |tx| {
            Ok((
                tx.remove_maintenance(a.id.unwrap(), "bob", at(5))?,
                tx.remove_maintenance(a.id.unwrap(), "cy", at(6))?,
            ))
        })
        .await
        .unwrap();
    let (stored, changed) = removed.unwrap();
    assert!(changed && !again.unwrap().1);
    assert_eq!(stored.removed_by.as_deref(), Some("bob"));
    let (live, of_api) = store
        .read(|r| {
            Ok((
                r.live_maintenance(at(10))?,
                r.list_maintenance(Some("api"), at(10), true)?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(live.iter().map(|w| w.window.id).collect::<Vec<_>>(), [b.id]);
    assert_eq!(of_api.len(), 1);

    // A held incident's release moves earlier when its window ends early.
    let held = incident(store, "api", "held", Severity::High).await;
    let moved = store
        .write(move |tx| {
            tx.set_due(&Due::Release { incident: held }, at(100))?;
            Ok((
                tx.advance_releases("api", at(50))?,
                tx.advance_releases("web", at(10))?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(moved, (1, 0));
    assert_eq!(store.read(|r| r.next_due_at()).await.unwrap(), Some(at(50)));

    // Heartbeats: pings counted, an expiry shown until it is taken.
    store
        .write(|tx| {
            tx.record_ping("nightly", at(1))?;
            tx.record_ping("nightly", at(2))?;
            tx.set_due(
                &Due::HeartbeatExpiry {
                    heartbeat: "hourly".into(),
                },
                at(60),
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let beats = store.read(|r| r.heartbeat_states()).await.unwrap();
    assert_eq!(
        beats,
        [
            HeartbeatState {
                name: "hourly".into(),
                last_ping_at: None,
                pings: 0,
                expires_at: Some(at(60)),
            },
            HeartbeatState {
                name: "nightly".into(),
                last_ping_at: Some(at(2)),
                pings: 2,
                expires_at: None,
            },
        ]
    );

    // URL secrets: stored, replaced on rotation, per kind and name.
    store
        .write(|tx| {
            tx.set_url_secret("heartbeat", "nightly", "s1", at(0))?;
            tx.set_url_secret("schedule", "nightly", "s2", at(0))?;
            tx.set_url_secret("heartbeat", "nightly", "s3", at(1))?;
            Ok(())
        })
        .await
        .unwrap();
    let secrets = store
        .read(|r| {
            Ok((
                r.url_secret("heartbeat", "nightly")?,
                r.url_secret("schedule", "nightly")?,
                r.url_secret("person", "nightly")?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(secrets, (Some("s3".into()), Some("s2".into()), None));
    db.close().await;
}

pub(super) async fn rotation_phases_are_replaced_per_layer(place: Place) {
    let db = Opened::new(&place).await;
    let store = &db.store;
    let phase = |layer: &str, definition: &str, phase| StoredPhase {
        schedule: "rota".into(),
        layer: layer.into(),
        definition: definition.into(),
        phase,
    };
    store
        .write(move |tx| {
            tx.set_rotation_phase(&phase("day", "[\"ann\",\"bob\"]", 0), at(0))?;
            tx.set_rotation_phase(&phase("night", "[\"cy\"]", 0), at(0))?;
            tx.set_rotation_phase(&phase("day", "[\"bob\",\"ann\"]", 1), at(1))?;
            Ok(())
        })
        .await
        .unwrap();
    let mut phases = store.read(|r| r.rotation_phases()).await.unwrap();
    phases.sort_by(|x, y| x.layer.cmp(&y.layer));
    assert_eq!(
        phases,
        [
            phase("day", "[\"bob\",\"ann\"]", 1),
            phase("night", "[\"cy\"]", 0)
        ]
    );
    db.close().await;
}

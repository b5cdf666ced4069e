//! The contract for the outbox: what is pending and in which order, attempts, holds,
//! cancellation and SMS reply codes.

use super::{Opened, Place, at, incident};
use crate::domain::{PageKind, Position, Severity};
use crate::store::{AttemptInfo, AttemptOutcome};

const POS: Position = Position {
    level: 0,
    loop_no: 0,
};

pub(super) async fn pending_pages_come_most_urgent_then_oldest_without_skipped_ones(place: Place) {
    let db = Opened::new(&place).await;
    let store = &db.store;
    let low = incident(store, "svc", "low", Severity::Low).await;
    let crit = incident(store, "svc", "crit", Severity::Critical).await;
    let high = incident(store, "svc", "high", Severity::High).await;
    let ids = store
        .write(move |tx| {
            let page = |inc, person: &str, channel: &str, now| {
                tx.enqueue_page(inc, PageKind::Page, person, channel, POS, at(0), at(now))
            };
            Ok([
                page(low, "ann", "email", 1)?,
                page(high, "bob", "email", 2)?,
                page(crit, "cy", "email", 3)?,
                page(high, "dee", "email", 4)?,
                page(crit, "ann", "sms", 5)?,
                // Not due until 100.
                page(crit, "eve", "email", 100)?,
                tx.enqueue_notice(
                    PageKind::Handoff,
                    "fay",
                    "email",
                    "Handoff",
                    "text",
                    at(6),
                    at(6),
                )?,
            ])
        })
        .await
        .unwrap();
    let [low_ann, high_bob, crit_cy, high_dee, _, crit_eve, notice] = ids;
    let pending = |skip_ids: Vec<i64>, skip_people: Vec<String>, now: i64, limit: usize| {
        let store = store.clone();
        async move {
            let pages = store
                .read(move |r| r.pending_pages("email", at(now), &skip_ids, &skip_people, limit))
                .await
                .unwrap();
            pages.into_iter().map(|p| p.id).collect::<Vec<_>>()
        }
    };
    // Critical, then high (older first), then the notice (medium by default), then low.
    assert_eq!(
        pending(vec![], vec![], 50, 10).await,
        [crit_cy, high_bob, high_dee, notice, low_ann]
    );
    assert_eq!(pending(vec![], vec![], 50, 2).await, [crit_cy, high_bob]);
    assert_eq!(
        pending(vec![high_bob], vec!["ann".into()], 50, 10).await,
        [crit_cy, high_dee, notice]
    );
    // Either list alone (the SQLite statement leaves an empty one out).
    assert_eq!(
        pending(vec![high_bob, notice], vec![], 50, 10).await,
        [crit_cy, high_dee, low_ann]
    );
    assert_eq!(
        pending(vec![], vec!["cy".into(), "ann".into()], 50, 10).await,
        [high_bob, high_dee, notice]
    );
    assert_eq!(pending(vec![], vec![], 1000, 1).await, [crit_cy]);
    assert!(pending(vec![], vec![], 1000, 10).await.contains(&crit_eve));

    let pages = store
        .read(|r| r.pending_pages("email", at(50), &[], &[], 10))
        .await
        .unwrap();
    let first = &pages[0];
    assert_eq!(
        (first.person.as_str(), first.kind, first.attempts),
        ("cy", PageKind::Page, 0)
    );
    assert_eq!(first.incident.as_ref().map(|i| i.id), Some(crit));
    assert_eq!((first.due_at, first.created_at), (at(0), at(3)));
    // Idempotency keys are unique across databases: the store's id, then the page's.
    assert!(first.idempotency_key.ends_with(&format!("-{crit_cy}")));
    assert_ne!(first.idempotency_key, pages[1].idempotency_key);
    let handoff = pages.iter().find(|p| p.id == notice).unwrap();
    assert!(handoff.incident.is_none());
    let text = handoff.notice.as_ref().unwrap();
    assert_eq!(
        (text.subject.as_str(), text.body.as_str()),
        ("Handoff", "text")
    );

    let (channels, oldest, next, summary) = store
        .read(|r| {
            Ok((
                r.pending_channels()?,
                r.oldest_pending_page_at()?,
                r.next_page_after(at(50))?,
                r.outbox_summary()?,
            ))
        })
        .await
        .unwrap();
    let mut channels = channels;
    channels.sort();
    assert_eq!(channels, ["email", "sms"]);
    assert_eq!((oldest, next), (Some(at(1)), Some(at(100))));
    assert_eq!(summary, (7, Some(at(1))));
    let tried = store
        .read(move |r| r.channels_tried(crit, "ann", POS))
        .await
        .unwrap();
    assert_eq!(tried, ["sms"]);
    db.close().await;
}

pub(super) async fn attempts_holds_and_cancellation_change_what_is_pending(place: Place) {
    let db = Opened::new(&place).await;
    let store = &db.store;
    let inc = incident(store, "svc", "k", Severity::High).await;
    let [a, b, c, d] = store
        .write(move |tx| {
            let page = |person: &str| {
                tx.enqueue_page(inc, PageKind::Page, person, "email", POS, at(0), at(0))
            };
            Ok([page("ann")?, page("bob")?, page("cy")?, page("dee")?])
        })
        .await
        .unwrap();
    let sent = AttemptInfo {
        address: Some("ann@example.com".into()),
        response: Some("250 queued".into()),
    };
    store
        .write(move |tx| {
            tx.record_attempt(a, &AttemptOutcome::Sent, &sent, at(10))?;
            let retry = AttemptOutcome::Retry {
                at: at(500),
                error: "503".into(),
            };
            tx.record_attempt(b, &retry, &AttemptInfo::default(), at(10))?;
            let failed = AttemptOutcome::Failed {
                error: "no address".into(),
            };
            tx.record_attempt(c, &failed, &AttemptInfo::default(), at(10))?;
            Ok(())
        })
        .await
        .unwrap();
    let ids = |now: i64| {
        let store = store.clone();
        async move {
            let pages = store
                .read(move |r| r.pending_pages("email", at(now), &[], &[], 10))
                .await
                .unwrap();
            pages
                .into_iter()
                .map(|p| (p.id, p.attempts))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(100).await, [(d, 0)]);
    // Oldest next attempt first: d has waited since 0, b's retry is due at 500.
    assert_eq!(ids(500).await, [(d, 0), (b, 1)]);
    let sends = store
        .read(|r| r.recent_sends("ann", "email", at(5)))
        .await
        .unwrap();
    assert_eq!(sends, [at(10)]);
    let delivered = store
        .read(|r| r.delivered_pages(at(0), at(100)))
        .await
        .unwrap();
    assert_eq!(
        delivered
            .iter()
            .map(|p| (p.person.as_str(), p.incident_id, p.sent_at))
            .collect::<Vec<_>>(),
        [("ann", inc, at(10))]
    );

    // A hold moves the next attempt; only the first hold of a page is reported.
    let first = store
        .write(move |tx| Ok(tx.hold_pages(&[d], at(300))?))
        .await
        .unwrap();
    assert_eq!(first, [d]);
    let again = store
        .write(move |tx| Ok(tx.hold_pages(&[b, d], at(400))?))
        .await
        .unwrap();
    assert_eq!(again, [b]);
    assert!(ids(399).await.is_empty());
    // Now due at the same instant: queued first goes first.
    assert_eq!(ids(400).await, [(b, 1), (d, 0)]);

    // Acknowledged: pending pages are cancelled; one in flight stays cancelled after its
    // attempt is recorded.
    let cancelled = store
        .write(move |tx| Ok(tx.cancel_pending_pages(inc)?))
        .await
        .unwrap();
    assert_eq!(cancelled, 2);
    store
        .write(move |tx| {
            Ok(tx.record_attempt(d, &AttemptOutcome::Sent, &AttemptInfo::default(), at(20))?)
        })
        .await
        .unwrap();
    assert!(ids(1000).await.is_empty());
    assert_eq!(store.read(|r| r.outbox_summary()).await.unwrap(), (0, None));
    db.close().await;
}

pub(super) async fn reply_codes_are_kept_per_person_and_found_while_open(place: Place) {
    let db = Opened::new(&place).await;
    let store = &db.store;
    let inc = incident(store, "svc", "k", Severity::High).await;
    let other = incident(store, "svc", "k2", Severity::High).await;
    let (code, same, elsewhere) = store
        .write(move |tx| {
            let page = tx.enqueue_page(inc, PageKind::Page, "ann", "sms", POS, at(0), at(0))?;
            let code = tx.reply_code(inc, "ann", at(0))?;
            tx.set_reply_code(page, &code)?;
            let same = tx.reply_code(inc, "ann", at(1))?;
            let elsewhere = tx.reply_code(other, "ann", at(1))?;
            Ok((code, same, elsewhere))
        })
        .await
        .unwrap();
    assert_eq!(code, same, "one code per person and incident");
    assert_ne!(
        code, elsewhere,
        "a new code does not clash with a recent one"
    );
    assert_eq!(code.len(), crate::domain::contact::REPLY_CODE_LEN);
    let lookup = |code: String, now: i64| {
        let store = store.clone();
        async move {
            store
                .read(move |r| r.incident_for_reply_code("ann", &code, at(now)))
                .await
                .unwrap()
        }
    };
    assert_eq!(lookup(code.clone(), 10).await, Some(inc));
    assert_eq!(lookup("ZZZZZZ".into(), 10).await, None);
    let expired = crate::domain::contact::REPLY_CODE_TTL.num_milliseconds() + 1;
    assert_eq!(lookup(code.clone(), expired).await, None);
    store
        .write(move |tx| Ok(tx.set_resolved(inc, "ann", "", at(20))?))
        .await
        .unwrap();
    assert_eq!(
        lookup(code, 30).await,
        None,
        "not once the incident is resolved"
    );
    db.close().await;
}

//! The contract for the dashboard's records: sessions (kept by the hash of their cookie,
//! expired ones dropped when a new one starts) and sign-in links, each usable once.

use super::{Opened, Place, at};
use crate::domain::access::Role;
use crate::store::UiSession;

fn session(id: &str, token: Option<&str>, expires: i64) -> UiSession {
    UiSession {
        id_hash: id.into(),
        person: token.is_none().then(|| "ann".to_string()),
        token_hash: token.map(str::to_string),
        label: "ann".into(),
        role: Role::Responder,
        csrf: format!("csrf-{id}"),
        created_at: at(0),
        expires_at: at(expires),
    }
}

pub(super) async fn sessions_round_trip_end_once_and_expire(place: Place) {
    let db = Opened::new(&place).await;
    let store = &db.store;
    let (a, b) = (session("a", None, 1000), session("b", Some("ff00"), 50));
    let (a2, b2) = (a.clone(), b.clone());
    store
        .write(move |tx| {
            tx.insert_ui_session(&a2, at(0))?;
            tx.insert_ui_session(&b2, at(0))?;
            Ok(())
        })
        .await
        .unwrap();
    let (got_a, got_b, none) = store
        .read(|r| Ok((r.ui_session("a")?, r.ui_session("b")?, r.ui_session("zz")?)))
        .await
        .unwrap();
    assert_eq!(got_a, Some(a));
    assert_eq!(got_b, Some(b));
    assert_eq!(none, None);
    // A session starting after b expired drops b.
    let c = session("c", None, 2000);
    let ended = store
        .write(move |tx| {
            tx.insert_ui_session(&c, at(100))?;
            Ok((tx.delete_ui_session("a")?, tx.delete_ui_session("a")?))
        })
        .await
        .unwrap();
    assert_eq!(ended, (true, false), "ended once");
    let left = store
        .read(|r| Ok((r.ui_session("a")?, r.ui_session("b")?, r.ui_session("c")?)))
        .await
        .unwrap();
    assert_eq!((left.0, left.1), (None, None));
    assert_eq!(left.2.map(|s| s.role), Some(Role::Responder));
    db.close().await;
}

pub(super) async fn a_sign_in_link_is_used_once_until_it_is_forgotten(place: Place) {
    let db = Opened::new(&place).await;
    let store = &db.store;
    let uses = store
        .write(|tx| {
            Ok((
                tx.use_signin_link("n1", at(100), at(0))?,
                tx.use_signin_link("n1", at(100), at(1))?,
                tx.use_signin_link("n2", at(100), at(2))?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(uses, (true, false, true));
    // Still refused in a later transaction, before it expires.
    let again = store
        .write(|tx| Ok(tx.use_signin_link("n1", at(100), at(50))?))
        .await
        .unwrap();
    assert!(!again);
    db.close().await;
}

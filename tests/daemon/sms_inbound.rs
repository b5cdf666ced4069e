//! SMS replies against the real daemon: only with the provider's secret (or Twilio's
//! signature), with 6-character codes that die with the incident or after 24 h, and a lockout
//! after 5 wrong codes in 10 minutes that a forged `From` cannot trigger.

use pagerd::app::{self, Listeners, Options};
use pagerd::config::Settings;
use pagerd::config::settings::{Secret, SmsInboundProvider};
use pagerd::engine::Clock;
use pagerd::proto::{self as pb, IncidentState, Severity};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::channels::{PEOPLE, Stands, channel_settings, http, other_code, stands, state, trigger};
use crate::helpers::*;

const BOB: &str = "+15550000002";
const CAROL: &str = "+15550000003";
const TWILIO_URL: &str = "https://pagerd.example.com/integrations/sms/inbound";
const TWILIO_TOKEN: &str = "twilio-auth-token";

/// Triggers `service` and returns the incident and the reply code its SMS carries.
async fn paged(app: &mut TestApp, s: &mut Stands, service: &str, key: &str) -> (i64, String) {
    let id = trigger(app, service, Severity::Critical, key).await;
    let body = s.sms.next().await.form()["Body"].clone();
    let code = body.rsplit(' ').next().unwrap().to_string();
    assert_eq!(code.len(), 6, "{body}");
    (id, code)
}

/// The generic provider's request: the secret as `?token=`.
async fn reply(app: &TestApp, token: &str, from: &str, text: &str) -> (u16, String) {
    let url = format!(
        "http://{}/integrations/sms/inbound?token={token}",
        app.http_addr
    );
    let form = [("From", from), ("Body", text)];
    let r = within("an SMS reply", http().post(url).form(&form).send())
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

/// `app::run` with these settings must refuse to start; returns its error.
async fn start_error(settings: Settings) -> String {
    let policies = pagerd::config::load_dir(&settings.schedules_dir).unwrap();
    let listeners = Listeners {
        grpc: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        http: TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    let run = app::run(
        settings,
        policies,
        listeners,
        Options::default(),
        CancellationToken::new(),
    );
    let err = within("pagerd to refuse its settings", run)
        .await
        .expect_err("pagerd must not start");
    format!("{err:#}")
}

#[tokio::test]
async fn without_a_secret_the_daemon_does_not_start_unless_sms_replies_are_turned_off() {
    let dirs = AppDirs::new(PEOPLE);
    let s = stands().await;
    let mut settings = channel_settings(&dirs, &s);
    settings.notify.sms.inbound.secret = None;
    let err = start_error(settings.clone()).await;
    assert!(err.contains("notify.sms.inbound.secret"), "{err}");
    assert!(err.contains("notify.sms.inbound.enabled = false"), "{err}");

    // Twilio signs the public URL, which the daemon cannot guess.
    let mut twilio = settings.clone();
    twilio.notify.sms.inbound.secret = Some(Secret::new(TWILIO_TOKEN));
    twilio.notify.sms.inbound.provider = SmsInboundProvider::Twilio;
    let err = start_error(twilio).await;
    assert!(err.contains("notify.sms.inbound.public_url"), "{err}");

    // Turned off explicitly: the daemon runs and the endpoint is not there.
    settings.notify.sms.inbound.enabled = false;
    let app = spawn_app_with(settings, Clock::System).await;
    let (status, _) = reply(&app, "", BOB, "ACK K7QH3M").await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_missing_or_wrong_secret_is_refused_and_cannot_lock_anyone_out() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(PEOPLE);
    let mut s = stands().await;
    let mut app = spawn_app_with(channel_settings(&dirs, &s), Clock::anchored(t0())).await;
    let (id, code) = paged(&mut app, &mut s, "mail", "db").await;

    // No token, a wrong one, a prefix of the right one: refused, nothing acknowledged.
    let url = format!("http://{}/integrations/sms/inbound", app.http_addr);
    let form = [("From", BOB.to_string()), ("Body", format!("ACK {code}"))];
    let r = http().post(&url).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 403);
    for token in ["nope", "inbound-toke", "inbound-token2"] {
        assert_eq!(reply(&app, token, BOB, &format!("ACK {code}")).await.0, 403);
    }
    assert_eq!(state(&mut app, id).await.0, IncidentState::Triggered);

    // Forged wrong codes from bob's number without the secret do not count toward a lockout.
    for _ in 0..6 {
        let text = format!("ACK {}", other_code(&code));
        assert_eq!(reply(&app, "nope", BOB, &text).await.0, 403);
    }
    // The secret in the X-Pagerd-Token header works as well as in the URL.
    let r = http()
        .post(&url)
        .header("x-pagerd-token", "inbound-token")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        state(&mut app, id).await,
        (IncidentState::Acknowledged, "bob".to_string())
    );
    // The audit trail names the person and the (masked) number it came from.
    let entries = pb::daemon_service_client::DaemonServiceClient::new(app.channel.clone())
        .list_audit(pb::ListAuditRequest::default())
        .await
        .unwrap()
        .into_inner()
        .entries;
    let target = format!("incident {id}");
    assert!(
        entries.iter().any(|e| e.target == target
            && e.action == "acknowledge"
            && e.actor == "bob"
            && e.via == "via SMS +155******02"),
        "{entries:?}"
    );
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn five_wrong_codes_lock_a_number_out_for_ten_minutes() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(PEOPLE);
    let mut s = stands().await;
    let mut app = spawn_app_with(channel_settings(&dirs, &s), Clock::anchored(t0())).await;
    let (id, code) = paged(&mut app, &mut s, "mail", "db").await;
    let wrong = other_code(&code);
    let (_, wrong_answer) = reply(&app, "inbound-token", BOB, &format!("ACK {wrong}")).await;
    for _ in 0..4 {
        advance(mins(1)).await;
        let (status, _) = reply(&app, "inbound-token", BOB, &format!("ACK {wrong}")).await;
        assert_eq!(status, 404);
    }
    // Locked: the right code is answered like a wrong one, and changes nothing.
    let (status, answer) = reply(&app, "inbound-token", BOB, &format!("ACK {code}")).await;
    assert_eq!(status, 404);
    assert_eq!(answer, wrong_answer.replace(&wrong, &code));
    assert_eq!(state(&mut app, id).await.0, IncidentState::Triggered);
    // Another number is not affected by bob's lockout (carol has no page: a plain wrong code).
    assert_eq!(
        reply(&app, "inbound-token", CAROL, "ACK K7QH3M").await.0,
        404
    );

    advance(mins(9)).await;
    let (status, _) = reply(&app, "inbound-token", BOB, &format!("ACK {code}")).await;
    assert_eq!(
        status, 404,
        "still locked 9 minutes after the fifth wrong code"
    );
    advance(mins(1)).await;
    let (status, answer) = reply(&app, "inbound-token", BOB, &format!("ACK {code}")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        state(&mut app, id).await,
        (IncidentState::Acknowledged, "bob".to_string())
    );
    app.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_code_dies_with_its_incident_and_a_day_after_its_page() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(PEOPLE);
    let mut s = stands().await;
    let mut app = spawn_app_with(channel_settings(&dirs, &s), Clock::anchored(t0())).await;

    // Resolved: the code no longer names the incident (not "already resolved").
    let (id, code) = paged(&mut app, &mut s, "mail", "db").await;
    app.incidents
        .resolve(pb::ResolveRequest {
            id,
            by: "alice".into(),
            note: String::new(),
        })
        .await
        .unwrap();
    let (status, answer) = reply(&app, "inbound-token", BOB, &format!("ACK {code}")).await;
    assert_eq!(
        (status, answer),
        (404, format!("No page with code {code}.\n"))
    );

    // Carol's code works for 24 h after her last page about the incident, not after. (One
    // level, no repeat: her last page is the "unanswered" notice 30 minutes in.)
    let (id, code) = paged(&mut app, &mut s, "ops", "disk").await;
    advance(mins(30)).await;
    let notice = s.sms.next().await.form()["Body"].clone();
    assert!(notice.ends_with(&format!("RES {code}")), "{notice}");
    advance(mins(24 * 60 - 1)).await;
    let (status, _) = reply(&app, "inbound-token", CAROL, &format!("ack {code}")).await;
    assert_eq!(status, 200);
    assert_eq!(state(&mut app, id).await.0, IncidentState::Acknowledged);
    advance(mins(2)).await;
    let (status, _) = reply(&app, "inbound-token", CAROL, &format!("RES {code}")).await;
    assert_eq!(status, 404);
    assert_eq!(state(&mut app, id).await.0, IncidentState::Acknowledged);
    app.stop().await;
}

/// Twilio's signature, computed here from its documented recipe (not the daemon's code).
fn twilio_sign(token: &str, url: &str, form: &[(&str, &str)]) -> String {
    use base64::Engine as _;
    use hmac::{Hmac, KeyInit, Mac};
    let mut sorted = form.to_vec();
    sorted.sort();
    let mut data = url.to_string();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test(start_paused = true)]
async fn with_twilio_the_request_signature_is_verified() {
    let _frozen = freeze_time();
    let dirs = AppDirs::new(PEOPLE);
    let mut s = stands().await;
    let mut settings = channel_settings(&dirs, &s);
    let inbound = &mut settings.notify.sms.inbound;
    inbound.provider = SmsInboundProvider::Twilio;
    inbound.secret = Some(Secret::new(TWILIO_TOKEN));
    inbound.public_url = Some(TWILIO_URL.into());
    let mut app = spawn_app_with(settings, Clock::anchored(t0())).await;
    let (id, code) = paged(&mut app, &mut s, "mail", "db").await;

    let text = format!("ACK {code}");
    let form = [
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("From", BOB),
        ("To", "+15559990000"),
        ("Body", text.as_str()),
    ];
    let url = format!("http://{}/integrations/sms/inbound", app.http_addr);
    let post = |sig: Option<String>, form: Vec<(&'static str, String)>| {
        let url = url.clone();
        async move {
            let mut req = http().post(url).form(&form);
            if let Some(sig) = sig {
                req = req.header("x-twilio-signature", sig);
            }
            within("an SMS reply", req.send()).await.unwrap().status()
        }
    };
    let owned = |f: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        f.iter().map(|(k, v)| (*k, v.to_string())).collect()
    };
    // No signature; signed for another URL or with another token; a body changed after
    // signing; the shared-token style: all refused.
    assert_eq!(post(None, owned(&form)).await, 403);
    let other_url = twilio_sign(TWILIO_TOKEN, "https://evil.example.com/x", &form);
    assert_eq!(post(Some(other_url), owned(&form)).await, 403);
    let other_token = twilio_sign("guess", TWILIO_URL, &form);
    assert_eq!(post(Some(other_token), owned(&form)).await, 403);
    let good = twilio_sign(TWILIO_TOKEN, TWILIO_URL, &form);
    let mut tampered = owned(&form);
    tampered[3].1 = format!("RES {code}");
    assert_eq!(post(Some(good.clone()), tampered).await, 403);
    let r = http()
        .post(format!("{url}?token={TWILIO_TOKEN}"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(state(&mut app, id).await.0, IncidentState::Triggered);

    // Signed as Twilio signs: acknowledged as bob.
    assert_eq!(post(Some(good), owned(&form)).await, 200);
    assert_eq!(
        state(&mut app, id).await,
        (IncidentState::Acknowledged, "bob".to_string())
    );
    app.stop().await;
}

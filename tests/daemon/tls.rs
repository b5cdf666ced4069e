//! TLS on both listeners, with a private CA made in the test (rcgen): the Rust gRPC client,
//! reqwest on the HTTP listener, `pagerctl --ca-file`, client certificates on gRPC (mTLS),
//! start-up errors for bad files, and the certificate re-read on SIGHUP.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use pagerd::app::Options;
use pagerd::app::tls::Tls;
use pagerd::config::settings::TlsSettings;
use pagerd::proto::alert_service_client::AlertServiceClient;
use pagerd::proto::{self as pb};

use crate::helpers::*;

const PAGERCTL: &str = env!("CARGO_BIN_EXE_pagerctl");
const PAGERD: &str = env!("CARGO_BIN_EXE_pagerd");
const PATIENCE: Duration = Duration::from_secs(20);

/// A certificate authority of the test's own.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A PEM certificate and its PEM private key.
struct Pair {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for this machine's loopback names, as the daemon presents it.
    fn server(&self) -> Pair {
        self.leaf(
            &["localhost", "127.0.0.1"],
            "localhost",
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate for mTLS.
    fn client(&self, name: &str) -> Pair {
        self.leaf(&[], name, ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn leaf(&self, names: &[&str], cn: &str, usage: ExtendedKeyUsagePurpose) -> Pair {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// `NAME.pem` in `dir`.
fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{name}.pem"));
    std::fs::write(&path, pem).unwrap();
    path
}

fn tls_dir(dirs: &AppDirs) -> PathBuf {
    dirs.root.path().join("tls")
}

/// Settings serving `pair` on both listeners, and gRPC client certificates signed by
/// `client_ca` when given.
fn tls_settings(
    dirs: &AppDirs,
    sink: &WebhookSink,
    pair: &Pair,
    client_ca: Option<&Ca>,
) -> pagerd::config::Settings {
    let dir = tls_dir(dirs);
    let mut settings = test_settings(dirs, &sink.url);
    settings.tls = TlsSettings {
        cert_file: Some(write(&dir, "cert", &pair.cert)),
        key_file: Some(write(&dir, "key", &pair.key)),
        client_ca_file: client_ca.map(|ca| write(&dir, "client-ca", &ca.pem())),
    };
    settings
}

fn trusting(ca: &Ca) -> ClientTlsConfig {
    ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca.pem()))
}

/// A connection to `addr` over TLS with `tls`; the error's whole chain on failure.
async fn connect(addr: std::net::SocketAddr, tls: ClientTlsConfig) -> Result<Channel, String> {
    let endpoint = Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .map_err(|e| format!("{e:?}"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5));
    endpoint.connect().await.map_err(|e| format!("{e:?}"))
}

/// Connects with `tls` and raises one alert; the error (connect or call) as text.
async fn trigger_over(
    addr: std::net::SocketAddr,
    tls: ClientTlsConfig,
    token: &str,
) -> Result<i64, String> {
    let channel = connect(addr, tls).await?;
    let mut request = tonic::Request::new(pb::TriggerRequest {
        service: "checkout".into(),
        severity: pb::Severity::High as i32,
        summary: "checkout is down".into(),
        source: "tls test".into(),
        ..Default::default()
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ASCII token"),
    );
    let reply = AlertServiceClient::new(channel)
        .trigger(request)
        .await
        .map_err(|status| format!("{status:?}"))?;
    Ok(reply.into_inner().incident_id)
}

fn https_client(ca: &Ca) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[tokio::test]
async fn both_listeners_serve_tls_that_clients_of_the_private_ca_accept() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let ca = Ca::new("pagerd test CA");
    let daemon = InProcess::start(
        tls_settings(&dirs, &sink, &ca.server(), None),
        Options::default(),
    )
    .await;
    let token = daemon.admin_token().await;

    let id = trigger_over(daemon.grpc_addr, trusting(&ca), &token)
        .await
        .expect("a client trusting the CA triggers over TLS");
    assert!(id > 0);

    let other = Ca::new("someone else's CA");
    let refused = trigger_over(daemon.grpc_addr, trusting(&other), &token).await;
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("UnknownIssuer")),
        "a client without the CA must not trust the daemon: {refused:?}"
    );

    // A plaintext client gets no gRPC answer from a TLS listener.
    let plain = async {
        let channel = Channel::from_shared(format!("http://{}", daemon.grpc_addr))
            .unwrap()
            .timeout(Duration::from_secs(5))
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        AlertServiceClient::new(channel)
            .trigger(pb::TriggerRequest {
                service: "checkout".into(),
                summary: "x".into(),
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())
    };
    assert!(plain.await.is_err(), "plaintext gRPC must be refused");

    let health = https_client(&ca)
        .get(format!("https://{}/healthz", daemon.http_addr))
        .send()
        .await
        .expect("/healthz answers over https");
    assert_eq!(health.status(), 200);
    let untrusted = https_client(&other)
        .get(format!("https://{}/healthz", daemon.http_addr))
        .send()
        .await;
    assert!(untrusted.is_err(), "{untrusted:?}");
    let plain_http = reqwest::Client::new()
        .get(format!("http://{}/healthz", daemon.http_addr))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(
        plain_http
            .as_ref()
            .map_or(true, |r| !r.status().is_success()),
        "plaintext HTTP must not be served: {plain_http:?}"
    );
    daemon.stop().await;
}

#[tokio::test]
async fn grpc_with_a_client_ca_refuses_clients_without_a_certificate_it_signed() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let ca = Ca::new("pagerd test CA");
    let clients = Ca::new("pagerd clients CA");
    let settings = tls_settings(&dirs, &sink, &ca.server(), Some(&clients));
    let daemon = InProcess::start(settings, Options::default()).await;
    let token = daemon.admin_token().await;

    let anonymous = trigger_over(daemon.grpc_addr, trusting(&ca), &token).await;
    assert!(anonymous.is_err(), "no client certificate: {anonymous:?}");

    let stranger = Ca::new("a stranger's CA").client("mallory");
    let forged = trigger_over(
        daemon.grpc_addr,
        trusting(&ca).identity(Identity::from_pem(&stranger.cert, &stranger.key)),
        &token,
    )
    .await;
    assert!(forged.is_err(), "a certificate of another CA: {forged:?}");

    let ops = clients.client("ops-automation");
    trigger_over(
        daemon.grpc_addr,
        trusting(&ca).identity(Identity::from_pem(&ops.cert, &ops.key)),
        &token,
    )
    .await
    .expect("a certificate signed by the client CA is accepted");

    // The HTTP listener faces Slack and SMS providers: it never asks for a certificate.
    let health = https_client(&ca)
        .get(format!("https://{}/healthz", daemon.http_addr))
        .send()
        .await
        .expect("/healthz needs no client certificate");
    assert_eq!(health.status(), 200);
    daemon.stop().await;
}

/// Runs pagerctl to completion: (exit code, stdout, stderr).
async fn pagerctl(args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = tokio::process::Command::new(PAGERCTL);
    cmd.args(args)
        .env_remove("PAGERD_ADDR")
        .env_remove("PAGERD_CA_FILE")
        .env_remove("PAGERD_CERT_FILE")
        .env_remove("PAGERD_KEY_FILE")
        .env("TZ", "UTC");
    let out = tokio::time::timeout(PATIENCE, cmd.output())
        .await
        .expect("pagerctl finishes")
        .expect("pagerctl runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn pagerctl_with_ca_file_and_client_certificate_talks_to_a_tls_daemon() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let ca = Ca::new("pagerd test CA");
    let clients = Ca::new("pagerd clients CA");
    let daemon = InProcess::start(
        tls_settings(&dirs, &sink, &ca.server(), Some(&clients)),
        Options::default(),
    )
    .await;
    let dir = tls_dir(&dirs);
    let ca_file = write(&dir, "pagerctl-ca", &ca.pem());
    let me = clients.client("alice");
    let cert_file = write(&dir, "alice-cert", &me.cert);
    let key_file = write(&dir, "alice-key", &me.key);
    let addr = format!("https://{}", daemon.grpc_addr);
    let (ca_file, cert_file, key_file) = (
        path_str(&ca_file),
        path_str(&cert_file),
        path_str(&key_file),
    );

    let token = daemon.admin_token().await;
    let trigger = [
        "--token",
        &token,
        "--addr",
        &addr,
        "--ca-file",
        ca_file,
        "--cert-file",
        cert_file,
        "--key-file",
        key_file,
        "--json",
        "trigger",
        "--service",
        "checkout",
        "--summary",
        "disk full",
    ];
    let (code, stdout, stderr) = pagerctl(&trigger).await;
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let reply: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert!(
        reply["incident_id"].as_i64().is_some_and(|id| id > 0),
        "{reply}"
    );

    // Without the CA, the daemon's certificate is not trusted: unreachable, exit 2.
    let (code, _, stderr) = pagerctl(&[
        "--addr",
        &addr,
        "--cert-file",
        cert_file,
        "--key-file",
        key_file,
        "status",
    ])
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("cannot reach pagerd"), "{stderr}");

    // With the CA but without a client certificate, the daemon refuses.
    let (code, _, stderr) = pagerctl(&["--addr", &addr, "--ca-file", ca_file, "status"]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--cert-file"),
        "says what is missing: {stderr}"
    );

    // A TLS file with a plaintext address is a usage error that says what to do.
    let plain = format!("http://{}", daemon.grpc_addr);
    let (code, _, stderr) = pagerctl(&["--addr", &plain, "--ca-file", ca_file, "status"]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--ca-file") && stderr.contains("https://"),
        "{stderr}"
    );
    daemon.stop().await;
}

#[test]
fn unreadable_or_invalid_pem_is_a_startup_error_naming_the_setting_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("pagerd test CA");
    let good = ca.server();
    let other = ca.server();
    let cert = write(dir.path(), "cert", &good.cert);
    let key = write(dir.path(), "key", &good.key);
    let garbage = write(dir.path(), "garbage", "not a certificate\n");
    let missing = dir.path().join("missing.pem");
    let other_key = write(dir.path(), "other-key", &other.key);
    let settings = |cert: &Path, key: &Path, ca: Option<&Path>| TlsSettings {
        cert_file: Some(cert.to_path_buf()),
        key_file: Some(key.to_path_buf()),
        client_ca_file: ca.map(Path::to_path_buf),
    };
    let cases: [(TlsSettings, &str, &Path); 6] = [
        (settings(&missing, &key, None), "tls.cert_file", &missing),
        (settings(&garbage, &key, None), "tls.cert_file", &garbage),
        (settings(&cert, &missing, None), "tls.key_file", &missing),
        (settings(&cert, &garbage, None), "tls.key_file", &garbage),
        (
            settings(&cert, &other_key, None),
            "tls.key_file",
            &other_key,
        ),
        (
            settings(&cert, &key, Some(&garbage)),
            "tls.client_ca_file",
            &garbage,
        ),
    ];
    for (settings, setting, file) in cases {
        let err = match Tls::from_settings(&settings) {
            Ok(_) => panic!("{settings:?} must be refused"),
            Err(e) => format!("{e:#}"),
        };
        assert!(
            err.contains(setting) && err.contains(&file.display().to_string()),
            "{settings:?}: {err}"
        );
    }
    assert!(
        Tls::from_settings(&settings(&cert, &key, None))
            .unwrap()
            .is_some()
    );
    assert!(
        Tls::from_settings(&TlsSettings::default())
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn the_pagerd_binary_refuses_to_start_on_a_bad_certificate() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let ca = Ca::new("pagerd test CA");
    let dir = tls_dir(&dirs);
    let cert = write(&dir, "cert", "-----BEGIN CERTIFICATE-----\nbroken\n");
    let key = write(&dir, "key", &ca.server().key);
    let mut spec = ProcessSpec::new(PAGERD, &dirs);
    spec.env = vec![
        ("PAGERD_TLS__CERT_FILE".into(), path_str(&cert).to_owned()),
        ("PAGERD_TLS__KEY_FILE".into(), path_str(&key).to_owned()),
    ];
    spec.grpc_tls = Some(trusting(&ca));
    let err = match DaemonProcess::start(&spec).await {
        Ok(_) => panic!("pagerd must not start with a broken certificate"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("exited") && err.contains("tls.cert_file") && err.contains(path_str(&cert)),
        "{err}"
    );
}

/// Polls `probe` until it returns true, for `PATIENCE` at most.
async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !probe().await {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn sighup(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[tokio::test]
async fn sighup_serves_a_new_certificate_and_keeps_the_old_one_when_the_new_is_bad() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let dir = tls_dir(&dirs);
    let first = Ca::new("first CA");
    let second = Ca::new("second CA");
    let pair = first.server();
    let cert = write(&dir, "cert", &pair.cert);
    let key = write(&dir, "key", &pair.key);
    let mut spec = ProcessSpec::new(PAGERD, &dirs);
    spec.env = vec![
        ("PAGERD_TLS__CERT_FILE".into(), path_str(&cert).to_owned()),
        ("PAGERD_TLS__KEY_FILE".into(), path_str(&key).to_owned()),
    ];
    spec.grpc_tls = Some(trusting(&first));
    let mut daemon = DaemonProcess::start(&spec)
        .await
        .expect("pagerd starts with TLS");
    let token = daemon.admin_token().await;
    assert!(
        connect(daemon.grpc, trusting(&second)).await.is_err(),
        "the second CA's clients do not trust the first certificate"
    );

    let next = second.server();
    std::fs::write(&key, &next.key).unwrap();
    std::fs::write(&cert, &next.cert).unwrap();
    sighup(daemon.pid);
    eventually("the new certificate to be served", || async {
        connect(daemon.grpc, trusting(&second)).await.is_ok()
    })
    .await;
    // The HTTP listener presents the same new certificate.
    let health = https_client(&second)
        .get(format!("https://{}/healthz", daemon.http))
        .send()
        .await
        .expect("the HTTP listener serves the new certificate");
    assert_eq!(health.status(), 200);

    // A broken replacement is refused and logged; the current certificate keeps serving.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\ntruncated\n").unwrap();
    sighup(daemon.pid);
    let log = daemon.log.clone();
    eventually("the refusal to be logged", || {
        let log = log.clone();
        async move {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("TLS certificate reload refused")
        }
    })
    .await;
    trigger_over(daemon.grpc, trusting(&second), &token)
        .await
        .expect("the previous certificate still serves after a refused reload");
    let (_, status) = daemon.terminate().await.unwrap();
    assert!(status.success(), "{status}\n{}", daemon.log_tail());
}

#[tokio::test]
async fn sighup_rereads_the_client_ca_and_keeps_the_old_one_when_the_new_is_bad() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let dir = tls_dir(&dirs);
    let ca = Ca::new("server CA");
    let old_clients = Ca::new("old clients CA");
    let new_clients = Ca::new("new clients CA");
    let pair = ca.server();
    let client_ca = write(&dir, "client-ca", &old_clients.pem());
    let mut spec = ProcessSpec::new(PAGERD, &dirs);
    spec.env = vec![
        (
            "PAGERD_TLS__CERT_FILE".into(),
            path_str(&write(&dir, "cert", &pair.cert)).to_owned(),
        ),
        (
            "PAGERD_TLS__KEY_FILE".into(),
            path_str(&write(&dir, "key", &pair.key)).to_owned(),
        ),
        (
            "PAGERD_TLS__CLIENT_CA_FILE".into(),
            path_str(&client_ca).to_owned(),
        ),
    ];
    let old_id = old_clients.client("ops-old");
    let new_id = new_clients.client("ops-new");
    let with_old = trusting(&ca).identity(Identity::from_pem(&old_id.cert, &old_id.key));
    let with_new = trusting(&ca).identity(Identity::from_pem(&new_id.cert, &new_id.key));
    spec.grpc_tls = Some(with_old.clone());
    let mut daemon = DaemonProcess::start(&spec)
        .await
        .expect("pagerd starts with mTLS");
    let token = daemon.admin_token().await;
    trigger_over(daemon.grpc, with_old.clone(), &token)
        .await
        .expect("the old CA's client is accepted");
    assert!(
        trigger_over(daemon.grpc, with_new.clone(), &token)
            .await
            .is_err(),
        "the new CA is not trusted yet"
    );

    // The CA is rotated: after SIGHUP the new CA's clients get in and the old ones do not.
    std::fs::write(&client_ca, new_clients.pem()).unwrap();
    sighup(daemon.pid);
    eventually("the new client CA to be used", || {
        let with_new = with_new.clone();
        let token = token.clone();
        async move { trigger_over(daemon.grpc, with_new, &token).await.is_ok() }
    })
    .await;
    assert!(
        trigger_over(daemon.grpc, with_old, &token).await.is_err(),
        "the old CA's clients are refused after the rotation"
    );

    // A broken CA file is refused whole; the CA in use stays.
    std::fs::write(&client_ca, "-----BEGIN CERTIFICATE-----\ntruncated\n").unwrap();
    sighup(daemon.pid);
    let log = daemon.log.clone();
    eventually("the refusal to be logged", || {
        let log = log.clone();
        async move {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("TLS certificate reload refused")
        }
    })
    .await;
    trigger_over(daemon.grpc, with_new, &token)
        .await
        .expect("the new CA still admits its clients after a refused reload");
    let (_, status) = daemon.terminate().await.unwrap();
    assert!(status.success(), "{status}\n{}", daemon.log_tail());
}

#[tokio::test]
async fn over_tls_a_stalled_handshake_is_dropped_and_connections_over_the_limit_get_503() {
    let dirs = AppDirs::new(TEST_POLICIES);
    let sink = WebhookSink::start().await;
    let ca = Ca::new("pagerd test CA");
    let mut settings = tls_settings(&dirs, &sink, &ca.server(), None);
    settings.connections.http.max_connections = 2;
    settings.connections.http.tls_handshake_timeout = Duration::from_secs(1);
    let daemon = InProcess::start(settings, Options::default()).await;
    let url = format!("https://localhost:{}/healthz", daemon.http_addr.port());

    // A client that connects and never starts its handshake is let go after the timeout
    // (and holds its slot no longer).
    let mut stalled = tokio::net::TcpStream::connect(daemon.http_addr)
        .await
        .unwrap();
    let opened = Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(
        PATIENCE,
        tokio::io::AsyncReadExt::read(&mut stalled, &mut buf),
    )
    .await
    .expect("the stalled handshake is dropped within the bound");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let took = opened.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "dropped after {took:?}; tls_handshake_timeout is 1s"
    );

    // Two clients hold both slots (their kept-alive connections); a third is answered 503,
    // over TLS.
    let (a, b) = (https_client(&ca), https_client(&ca));
    for c in [&a, &b] {
        assert_eq!(c.get(&url).send().await.unwrap().status(), 200);
    }
    let third = https_client(&ca).get(&url).send().await.expect("an answer");
    assert_eq!(third.status(), 503);
    assert_eq!(third.headers()["retry-after"], "1");
    drop((a, b));
    eventually("a slot to come free", || async {
        let r = https_client(&ca).get(&url).send().await;
        r.is_ok_and(|r| r.status() == 200)
    })
    .await;
    daemon.stop().await;
}

//! TLS on both listeners (rustls with the aws-lc-rs provider, the only one in the build).
//!
//! Both listeners present the same certificate, held in one [`CertStore`] that SIGHUP
//! re-reads, together with `tls.client_ca_file`: a new set that does not load is refused
//! whole with a logged error and the old one keeps serving. With `tls.client_ca_file`, the
//! gRPC listener also requires a client certificate signed by that CA; the HTTP listener
//! never asks for one, since it faces Slack and SMS providers that have none.
//!
//! The handshakes themselves run in [`super::conn`], each in its own task under
//! `connections.http.tls_handshake_timeout`, so a client that stalls mid-handshake holds up
//! no one else.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::config::settings::TlsSettings;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The server certificate both listeners present; replaced whole on reload.
#[derive(Debug)]
pub struct CertStore {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: ArcSwap<CertifiedKey>,
}

impl CertStore {
    fn load(cert_file: &Path, key_file: &Path, provider: &CryptoProvider) -> anyhow::Result<Self> {
        let current = ArcSwap::from_pointee(load_pair(cert_file, key_file, provider)?);
        Ok(Self {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            current,
        })
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Reads a PEM certificate chain and its private key, and checks that they belong together.
fn load_pair(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> anyhow::Result<CertifiedKey> {
    let chain = read_certs(cert_file, "tls.cert_file")?;
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
        anyhow::anyhow!(
            "tls.key_file: {}: no usable PEM private key ({e})",
            key_file.display()
        )
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        anyhow::anyhow!(
            "tls.key_file: {} does not fit tls.cert_file {}: {e}",
            key_file.display(),
            cert_file.display()
        )
    })
}

/// Every certificate of a PEM file; none is an error naming `setting` and the file.
fn read_certs(path: &Path, setting: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("{setting}: {}: cannot read PEM ({e})", path.display()))?;
    if certs.is_empty() {
        bail!(
            "{setting}: {} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")",
            path.display()
        );
    }
    Ok(certs)
}

/// The TLS set-up of both listeners.
pub struct Tls {
    pub reloader: Arc<TlsReloader>,
    http: TlsAcceptor,
    /// Whether gRPC clients must present a certificate.
    pub mutual: bool,
}

/// What SIGHUP re-reads: the certificate pair and the client CA, swapped in together.
#[derive(Debug)]
pub struct TlsReloader {
    certs: Arc<CertStore>,
    client_ca_file: Option<PathBuf>,
    provider: Arc<CryptoProvider>,
    /// The gRPC listener's configuration: its client verifier holds the CA, so a new CA
    /// means a new configuration, taken by each handshake that starts after the swap.
    grpc: ArcSwap<ServerConfig>,
}

impl TlsReloader {
    /// Re-reads every file; on any error nothing changes.
    pub fn reload(&self) -> anyhow::Result<()> {
        let pair = load_pair(&self.certs.cert_file, &self.certs.key_file, &self.provider)?;
        let grpc = match &self.client_ca_file {
            Some(_) => Some(grpc_config(
                self.client_ca_file.as_deref(),
                &self.provider,
                self.certs.clone(),
            )?),
            None => None,
        };
        self.certs.current.store(Arc::new(pair));
        if let Some(grpc) = grpc {
            self.grpc.store(Arc::new(grpc));
        }
        Ok(())
    }
}

fn config_builder(
    provider: &Arc<CryptoProvider>,
) -> anyhow::Result<rustls::ConfigBuilder<ServerConfig, rustls::WantsVerifier>> {
    ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")
}

/// The gRPC listener's configuration, requiring client certificates signed by `client_ca`
/// when there is one.
fn grpc_config(
    client_ca: Option<&Path>,
    provider: &Arc<CryptoProvider>,
    certs: Arc<CertStore>,
) -> anyhow::Result<ServerConfig> {
    let grpc = config_builder(provider)?;
    let mut grpc = match client_ca {
        None => grpc.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca, "tls.client_ca_file")? {
                roots
                    .add(cert)
                    .map_err(|e| anyhow::anyhow!("tls.client_ca_file: {}: {e}", ca.display()))?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| anyhow::anyhow!("tls.client_ca_file: {}: {e}", ca.display()))?;
            grpc.with_client_cert_verifier(verifier)
        }
    }
    .with_cert_resolver(certs);
    // gRPC is HTTP/2 only; clients such as tonic insist on it being negotiated.
    grpc.alpn_protocols = vec![b"h2".to_vec()];
    Ok(grpc)
}

impl Tls {
    /// `None` when TLS is off. Errors name the setting and the file.
    pub fn from_settings(settings: &TlsSettings) -> anyhow::Result<Option<Self>> {
        let (cert_file, key_file) = match (&settings.cert_file, &settings.key_file) {
            (None, None) => return Ok(None),
            (Some(c), Some(k)) => (c, k),
            // Settings::validate refuses these first; kept for callers that skip it.
            (Some(_), None) => bail!("tls.key_file: required when tls.cert_file is set"),
            (None, Some(_)) => bail!("tls.cert_file: required when tls.key_file is set"),
        };
        let provider = provider();
        let certs = Arc::new(CertStore::load(cert_file, key_file, &provider)?);
        let mut http = config_builder(&provider)?
            .with_no_client_auth()
            .with_cert_resolver(certs.clone());
        http.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let client_ca_file = settings.client_ca_file.clone();
        let grpc = grpc_config(client_ca_file.as_deref(), &provider, certs.clone())?;
        Ok(Some(Self {
            reloader: Arc::new(TlsReloader {
                certs,
                client_ca_file,
                provider,
                grpc: ArcSwap::from_pointee(grpc),
            }),
            http: TlsAcceptor::from(Arc::new(http)),
            mutual: settings.client_ca_file.is_some(),
        }))
    }

    /// The gRPC listener's handshake as configured now (with client certificates under
    /// mTLS): taken per connection, so a CA re-read on SIGHUP holds for the next one.
    pub fn grpc_acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.reloader.grpc.load_full())
    }

    /// A source of [`Tls::grpc_acceptor`] for the accept loop.
    pub fn grpc_acceptors(&self) -> impl Fn() -> TlsAcceptor + Send + Sync + 'static {
        let reloader = self.reloader.clone();
        move || TlsAcceptor::from(reloader.grpc.load_full())
    }

    /// The HTTP listener's handshake.
    pub fn http_acceptor(&self) -> TlsAcceptor {
        self.http.clone()
    }

    /// How the "pagerd ready" line describes the listeners.
    pub fn mode(tls: Option<&Self>) -> &'static str {
        match tls {
            None => "off",
            Some(t) if t.mutual => "mtls",
            Some(_) => "on",
        }
    }
}

/// Re-reads the certificate and client CA on every SIGHUP until `stop`; a refused set is
/// logged and the old one stays. Listens from the moment it is called, so no SIGHUP after
/// it is missed.
pub fn sighup_reloader(
    certs: Arc<TlsReloader>,
    stop: CancellationToken,
) -> anyhow::Result<impl Future<Output = anyhow::Result<()>> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
    Ok(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                Some(()) = hup.recv() => match certs.reload() {
                    Ok(()) => tracing::info!(
                        cert_file = %certs.certs.cert_file.display(),
                        client_ca_file = ?certs.client_ca_file,
                        "TLS certificate reloaded"
                    ),
                    Err(e) => tracing::error!(
                        error = format!("{e:#}"),
                        "TLS certificate reload refused; the previous certificate stays in use"
                    ),
                },
            }
        }
    })
}

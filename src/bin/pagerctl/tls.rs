//! TLS towards pagerd: an `https://` address, an optional private CA (`--ca-file`) and an
//! optional client certificate (`--cert-file` / `--key-file`) for a daemon that requires
//! one (mTLS).

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use crate::client::Usage;

/// The TLS files named on the command line (or by `PAGERD_CA_FILE` and friends).
pub(crate) struct TlsFiles {
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) cert_file: Option<PathBuf>,
    pub(crate) key_file: Option<PathBuf>,
}

impl TlsFiles {
    /// The client TLS set-up for `addr`: `None` for `http://`. Without `--ca-file` the
    /// public web PKI roots are trusted.
    pub(crate) fn client_config(&self, addr: &str) -> anyhow::Result<Option<ClientTlsConfig>> {
        if !addr.starts_with("https://") {
            let named = [
                (&self.ca_file, "--ca-file"),
                (&self.cert_file, "--cert-file"),
                (&self.key_file, "--key-file"),
            ];
            if let Some((_, flag)) = named.iter().find(|(f, _)| f.is_some()) {
                return Err(Usage(format!(
                    "{flag} is for TLS, but {addr} is a plaintext address: use --addr https://HOST:PORT"
                ))
                .into());
            }
            return Ok(None);
        }
        let mut config = ClientTlsConfig::new();
        config = match &self.ca_file {
            Some(path) => config.ca_certificate(Certificate::from_pem(read(path, "--ca-file")?)),
            None => config.with_enabled_roots(),
        };
        match (&self.cert_file, &self.key_file) {
            (None, None) => {}
            (Some(cert), Some(key)) => {
                config = config.identity(Identity::from_pem(
                    read(cert, "--cert-file")?,
                    read(key, "--key-file")?,
                ));
            }
            (Some(_), None) => return Err(Usage("--cert-file needs --key-file".into()).into()),
            (None, Some(_)) => return Err(Usage("--key-file needs --cert-file".into()).into()),
        }
        Ok(Some(config))
    }
}

fn read(path: &Path, flag: &str) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path)
        .map_err(|e| Usage(format!("{flag} {}: cannot read: {e}", path.display())))?;
    if !String::from_utf8_lossy(&bytes).contains("-----BEGIN ") {
        return Err(Usage(format!("{flag} {}: not a PEM file", path.display())).into());
    }
    Ok(bytes)
}

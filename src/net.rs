//! The one HTTP stack: a `reqwest::Client` (rustls) shared by the Graph client, the token credentials and the Key
//! Vault SDK, with an optional extra trusted root (`--ca-cert`) for the emulator or a TLS-inspecting proxy.
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot read the CA certificate file {path}: {source}")]
    CaCertUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the CA certificate file {path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)"
    )]
    CaCertInvalid { path: PathBuf },
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// The largest response body keyturn reads from any service: a Graph page of 999 applications is a few MB.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Why a response body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the answer is larger than keyturn reads ({limit} bytes)")]
    TooLarge { limit: usize },
    #[error(transparent)]
    Read(#[from] reqwest::Error),
}

/// The body as text (UTF-8, invalid sequences replaced), refused once it grows past `limit` bytes: a hostile or
/// broken endpoint cannot make keyturn buffer without end.
pub async fn read_body(mut resp: reqwest::Response, limit: usize) -> Result<String, BodyError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if buf.len().saturating_add(chunk.len()) > limit {
            return Err(BodyError::TooLarge { limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(match String::from_utf8(buf) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// Options for the shared HTTP client.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Extra trusted root certificate (PEM file), added to the platform's roots.
    pub ca_cert: Option<PathBuf>,
    /// Per-request timeout; `None` means the default of 60 s.
    pub timeout: Option<Duration>,
}

/// Build the shared client. TLS is always verified; an extra root is merged into the default ones.
pub fn http_client(opts: &HttpOptions) -> Result<reqwest::Client, NetError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("keyturn/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(opts.timeout.unwrap_or(Duration::from_secs(60)));
    if let Some(path) = &opts.ca_cert {
        builder = builder.tls_certs_merge(load_ca_certs(path)?);
    }
    Ok(builder.build()?)
}

/// Read a PEM bundle; an unreadable file or one without a certificate is an error that names the file.
pub fn load_ca_certs(path: &Path) -> Result<Vec<reqwest::Certificate>, NetError> {
    let pem = std::fs::read(path).map_err(|source| NetError::CaCertUnreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let certs =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| NetError::CaCertInvalid {
            path: path.to_path_buf(),
        })?;
    if certs.is_empty() {
        return Err(NetError::CaCertInvalid {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// True when `host` is a loopback address or `localhost`: the only hosts for which keyturn relaxes the Key Vault
/// challenge-resource check (the emulator serves vaults on 127.0.0.1).
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") {
        return true;
    }
    h.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_host("127.0.0.1"));
        assert!(is_loopback_host("127.8.9.10"));
        assert!(is_loopback_host("[::1]"));
        assert!(is_loopback_host("LOCALHOST"));
        assert!(!is_loopback_host("myvault.vault.azure.net"));
        assert!(!is_loopback_host("10.0.0.1"));
        assert!(!is_loopback_host("localhost.evil.com"));
    }

    #[test]
    fn broken_ca_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "not a certificate").unwrap();
        let err = load_ca_certs(&p).unwrap_err().to_string();
        assert!(err.contains("ca.pem"), "{err}");
        let missing = dir.path().join("missing.pem");
        assert!(matches!(
            load_ca_certs(&missing),
            Err(NetError::CaCertUnreadable { .. })
        ));
    }
}

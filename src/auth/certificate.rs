//! Certificate sign-in without openssl: azure_identity's `ClientCertificateCredential` needs its `openssl` feature,
//! so keyturn signs the client-assertion JWT itself (RS256 with `ring`, already in the tree) and hands it to
//! azure_identity's public `ClientAssertionCredential`, which does the token request over keyturn's transport.
//!
//! Supported: a PEM file holding the certificate and its unencrypted RSA private key (PKCS#8 or PKCS#1), the form
//! `AZURE_CLIENT_CERTIFICATE_PATH` takes in the Azure SDKs. Not supported: PKCS#12 (.pfx) files and encrypted keys
//! (both need a password-based decryption keyturn does not carry); the error says how to convert them.
use super::{AuthError, SignInTarget, client_options};
use azure_core::credentials::TokenCredential;
use azure_core::http::ClientMethodOptions;
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions,
};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How long a signed assertion is valid: Entra accepts up to 10 minutes; a fresh one is signed for every request.
const ASSERTION_LIFETIME_SECS: i64 = 600;

/// A certificate and its key, ready to sign client assertions.
pub struct CertificateAssertion {
    key: Arc<RsaKeyPair>,
    /// base64url SHA-1 thumbprint (`x5t`, what Entra matches against keyCredentials).
    x5t: String,
    /// base64url SHA-256 thumbprint (`x5t#S256`).
    x5t_s256: String,
    client_id: String,
    audience: String,
    path: PathBuf,
}

impl std::fmt::Debug for CertificateAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAssertion")
            .field("path", &self.path)
            .field("x5t", &self.x5t)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl CertificateAssertion {
    /// Load `path` for `client_id`; `token_endpoint` is the assertion's audience.
    pub fn load(path: &Path, client_id: &str, token_endpoint: &str) -> Result<Self, AuthError> {
        let bad = |reason: String| AuthError::Certificate {
            path: path.to_path_buf(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let text = String::from_utf8_lossy(&pem);
        if !text.contains("-----BEGIN") {
            return Err(bad(
                "it is not a PEM file (a .pfx/PKCS#12 file?); convert it with \
                 `openssl pkcs12 -in cert.pfx -out cert.pem -nodes`"
                    .into(),
            ));
        }
        if text.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(bad(
                "its private key is encrypted; keyturn needs an unencrypted key in a file only you can read \
                 (`openssl pkey -in cert.pem -out key.pem`, then append the certificate)"
                    .into(),
            ));
        }
        let cert = CertificateDer::pem_slice_iter(&pem)
            .next()
            .ok_or_else(|| bad("it holds no certificate (-----BEGIN CERTIFICATE-----)".into()))?
            .map_err(|e| bad(format!("its certificate is unreadable: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(&pem)
            .map_err(|e| bad(format!("it holds no readable private key: {e}")))?;
        let key = match &key {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => {
                return Err(bad(
                    "its private key is not RSA; Entra ID certificate credentials need an RSA key"
                        .into(),
                ));
            }
        }
        .map_err(|e| bad(format!("its private key was rejected: {e}")))?;
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.as_ref());
        let sha256 = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
        Ok(CertificateAssertion {
            key: Arc::new(key),
            x5t: b64(sha1.as_ref()),
            x5t_s256: b64(sha256.as_ref()),
            client_id: client_id.to_string(),
            audience: token_endpoint.to_string(),
            path: path.to_path_buf(),
        })
    }

    /// A signed assertion valid from `now` (Unix seconds).
    pub fn sign(&self, now: i64) -> Result<String, AuthError> {
        let header = serde_json::json!({
            "alg": "RS256", "typ": "JWT", "x5t": self.x5t, "x5t#S256": self.x5t_s256,
        });
        let claims = serde_json::json!({
            "aud": self.audience,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| AuthError::Certificate {
                path: self.path.clone(),
                reason: "signing the client assertion failed".into(),
            })?;
        Ok(format!("{signing_input}.{}", b64(&sig)))
    }

    pub fn thumbprint_sha1(&self) -> &str {
        &self.x5t
    }
}

/// The assertion source handed to azure_identity; it asks for a fresh one per token request.
#[derive(Debug)]
struct Assertion(CertificateAssertion);

#[async_trait::async_trait]
impl ClientAssertion for Assertion {
    async fn secret(
        &self,
        _options: Option<ClientMethodOptions<'_>>,
    ) -> azure_core::Result<String> {
        self.0.sign(chrono::Utc::now().timestamp()).map_err(|e| {
            azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, e.to_string())
        })
    }
}

/// A certificate credential over keyturn's transport and authority host.
pub fn certificate_credential(
    target: &SignInTarget,
    path: &Path,
    http: &reqwest::Client,
) -> Result<Arc<dyn TokenCredential>, AuthError> {
    let endpoint = format!(
        "{}/{}/oauth2/v2.0/token",
        target.authority_host.trim_end_matches('/'),
        target.tenant_id
    );
    let assertion = CertificateAssertion::load(path, &target.client_id, &endpoint)?;
    let cred = ClientAssertionCredential::new(
        target.tenant_id.clone(),
        target.client_id.clone(),
        Assertion(assertion),
        Some(ClientAssertionCredentialOptions {
            client_options: client_options(http, &target.authority_host),
        }),
    )
    .map_err(|e| AuthError::Setup(e.to_string()))?;
    Ok(cred)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed RSA certificate made for these tests only (`openssl req -x509 -newkey rsa:2048 -nodes`).
    const TEST_CERT: &str = include_str!("testdata/test-cert.pem");

    #[test]
    fn signs_a_verifiable_rs256_assertion() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cert.pem");
        let pem = TEST_CERT;
        std::fs::write(&path, pem).unwrap();
        let a = CertificateAssertion::load(
            &path,
            "client-1",
            "https://login.example/t/oauth2/v2.0/token",
        )
        .unwrap();
        let jwt = a.sign(1_700_000_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let dec = |s: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap()
        };
        let header: serde_json::Value = serde_json::from_slice(&dec(parts[0])).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&dec(parts[1])).unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["x5t"], a.thumbprint_sha1());
        assert_eq!(claims["iss"], "client-1");
        assert_eq!(claims["aud"], "https://login.example/t/oauth2/v2.0/token");
        assert_eq!(claims["exp"], 1_700_000_600);
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            a.key.public().as_ref(),
        );
        public
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &dec(parts[2]),
            )
            .expect("signature verifies with the certificate's public key");
    }

    #[test]
    fn unsupported_files_say_how_to_convert() {
        let dir = tempfile::tempdir().unwrap();
        let pfx = dir.path().join("cert.pfx");
        std::fs::write(&pfx, [0x30, 0x82, 0x01]).unwrap();
        let e = CertificateAssertion::load(&pfx, "c", "aud")
            .unwrap_err()
            .to_string();
        assert!(e.contains("openssl pkcs12"), "{e}");
        let enc = dir.path().join("enc.pem");
        std::fs::write(
            &enc,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nxx\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = CertificateAssertion::load(&enc, "c", "aud")
            .unwrap_err()
            .to_string();
        assert!(e.contains("encrypted"), "{e}");
        assert!(e.contains("enc.pem"), "{e}");
    }
}

//! E-mail over SMTP (lettre, tokio + rustls): one plain-text mail per recipient, listing the credentials of the
//! apps they own (or, for apps without an owner who has an address, to `mail_fallback`). Everything the tenant
//! controls is made inert first ([`crate::safe_text`]): no control or bidi character reaches the subject or body,
//! so a display name with CR/LF cannot add a header; lettre validates and encodes the headers as well.
use super::message::{Notice, Reason, headline, plural, text_block};
use crate::config::{Profile, SmtpTls};
use crate::safe_text::{Safe, lines, terminal};
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

/// The `mail` target's settings, checked.
pub struct MailConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub from: Mailbox,
    pub fallback: Option<Address>,
    /// `--ca-cert`: an extra trusted root for a relay with a private CA.
    pub ca_cert: Option<PathBuf>,
}

impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl MailConfig {
    /// From the profile; `password` from the environment or keyring. Errors say which key to set.
    pub fn from_profile(
        p: &Profile,
        password: Option<SecretString>,
        ca_cert: Option<PathBuf>,
    ) -> Result<MailConfig, String> {
        let host = p
            .smtp_host
            .clone()
            .ok_or("the mail target needs smtp_host (the SMTP server) in the profile")?;
        let tls = p.smtp_tls.unwrap_or_default();
        if tls == SmtpTls::None && !crate::net::is_loopback_host(&host) {
            return Err(format!(
                "smtp_tls = \"none\" is only allowed for a relay on this machine (loopback), not {}: use \
                 \"starttls\" (port 587) or \"tls\" (port 465)",
                terminal(&host)
            ));
        }
        let port = p.smtp_port.unwrap_or(match tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        });
        let from: Mailbox = p
            .mail_from
            .as_deref()
            .ok_or("the mail target needs mail_from (the sender, e.g. \"keyturn <keyturn@contoso.com>\")")?
            .parse()
            .map_err(|e| format!("mail_from is not a mail address: {e}"))?;
        let fallback = match p.mail_fallback.as_deref() {
            Some(a) => Some(
                a.trim()
                    .parse::<Address>()
                    .map_err(|e| format!("mail_fallback is not a mail address: {e}"))?,
            ),
            None => None,
        };
        let username = p.smtp_username.clone().filter(|u| !u.trim().is_empty());
        if username.is_some() && password.is_none() {
            return Err(
                "smtp_username is set but there is no SMTP password: set KEYTURN_SMTP_PASSWORD or store it with \
                 `keyturn notify --set-secret smtp`"
                    .into(),
            );
        }
        Ok(MailConfig {
            host,
            port,
            tls,
            username,
            password,
            from,
            fallback,
            ca_cert,
        })
    }

    /// "smtp.contoso.com:587 (starttls)", for messages.
    pub fn describe(&self) -> String {
        let tls = match self.tls {
            SmtpTls::Starttls => "starttls",
            SmtpTls::Tls => "tls",
            SmtpTls::None => "no tls",
        };
        format!("{}:{} ({tls})", terminal(&self.host), self.port)
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let params = || -> Result<TlsParameters, String> {
            let mut b = TlsParameters::builder(self.host.clone());
            if let Some(path) = &self.ca_cert {
                let pem = std::fs::read(path).map_err(|e| {
                    format!("cannot read the CA certificate {}: {e}", path.display())
                })?;
                let cert = Certificate::from_pem(&pem).map_err(|e| {
                    format!("the CA certificate {} is not PEM: {e}", path.display())
                })?;
                b = b.add_root_certificate(cert);
            }
            b.build_rustls().map_err(|e| format!("TLS setup: {e}"))
        };
        let tls = match self.tls {
            SmtpTls::Starttls => Tls::Required(params()?),
            SmtpTls::Tls => Tls::Wrapper(params()?),
            SmtpTls::None => Tls::None,
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.as_str())
            .port(self.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(30)));
        if let (Some(user), Some(password)) = (&self.username, &self.password) {
            b = b.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_string(),
            ));
        }
        Ok(b.build())
    }
}

/// An owner's address as lettre reads it; `None` for one Graph gave that is not an address.
pub fn parse_address(raw: &str) -> Option<Address> {
    raw.trim().parse().ok()
}

/// Subject and body of the mail to one recipient.
pub fn compose(
    items: &[(&Notice, Reason)],
    tenant: &str,
    profile: &str,
    is_fallback: bool,
) -> (String, String) {
    // One app: its name leads the subject, so an owner sees at once which automation is at risk. Tenant text is made
    // inert (no CR/LF, control or bidi character reaches the header).
    let first = items.first().map(|(n, _)| n.object_id.as_str());
    let subject = if items
        .iter()
        .all(|(n, _)| Some(n.object_id.as_str()) == first)
        && let Some((n, _)) = items.first()
    {
        format!(
            "keyturn: {} has {} ({}) in tenant {}",
            Safe(&n.display_name),
            plural(items.len() as i64, "expiring credential"),
            worst(items),
            Safe(tenant)
        )
    } else {
        terminal(&headline(items, tenant)).into_owned()
    };
    let mut body = String::new();
    let why = if is_fallback {
        "You get this mail as the fallback address for apps that have no owner with a mail address."
    } else {
        "You get this mail as an owner of the apps below."
    };
    // Writing to a String cannot fail.
    let _ = writeln!(
        body,
        "keyturn found {} at warning or worse in tenant {} (profile {}).\n{why}\n",
        plural(items.len() as i64, "credential"),
        Safe(tenant),
        Safe(profile),
    );
    for (n, reason) in items {
        body.push_str(&text_block(n, *reason, ""));
        if n.object_type == crate::graph::ObjectType::Application
            && n.credential_type == crate::inventory::CredentialType::Secret
        {
            let _ = writeln!(
                body,
                "Rotate:     keyturn rotate --app {} --key-id {}",
                Safe(&n.app_id),
                Safe(&n.key_id)
            );
        }
        body.push('\n');
    }
    body.push_str("-- \nSent by keyturn notify. A credential is mailed again when its status gets worse or after the reminder interval.\n");
    (subject, lines(&body).into_owned())
}

/// The worst status among `items`, as a word.
fn worst(items: &[(&Notice, Reason)]) -> &'static str {
    items
        .iter()
        .map(|(n, _)| n.status)
        .min()
        .map(|s| s.as_str())
        .unwrap_or("ok")
}

/// Send one mail. The error names the server and what it said, never the password.
pub async fn send(cfg: &MailConfig, to: &Address, subject: &str, body: &str) -> Result<(), String> {
    let message = Message::builder()
        .from(cfg.from.clone())
        .to(Mailbox::new(None, to.clone()))
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_string())
        .map_err(|e| format!("cannot build the mail: {e}"))?;
    let transport = cfg.transport()?;
    transport
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP server {}: {e}", cfg.describe()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{CredentialType, Status};
    use crate::notify::message::{Owner, Owners};

    fn profile(text: &str) -> Profile {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, format!("[profiles.p]\n{text}")).unwrap();
        crate::config::Config::load(Some(&path))
            .unwrap()
            .profile("p")
            .unwrap()
    }

    #[test]
    fn settings_are_checked_with_the_key_to_set() {
        let e = MailConfig::from_profile(&profile(""), None, None).unwrap_err();
        assert!(e.contains("smtp_host"), "{e}");
        let e = MailConfig::from_profile(
            &profile("smtp_host = \"smtp.contoso.com\"\nsmtp_tls = \"none\"\nmail_from = \"k@contoso.com\"\n"),
            None,
            None,
        )
        .unwrap_err();
        assert!(
            e.contains("only allowed for a relay on this machine"),
            "{e}"
        );
        let e = MailConfig::from_profile(
            &profile("smtp_host = \"smtp.contoso.com\"\nmail_from = \"k@contoso.com\"\nsmtp_username = \"k\"\n"),
            None,
            None,
        )
        .unwrap_err();
        assert!(e.contains("KEYTURN_SMTP_PASSWORD"), "{e}");
        let ok = MailConfig::from_profile(
            &profile("smtp_host = \"127.0.0.1\"\nsmtp_tls = \"none\"\nmail_from = \"keyturn <k@contoso.com>\"\nmail_fallback = \"ops@contoso.com\"\n"),
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            (ok.port, ok.fallback.unwrap().to_string()),
            (25, "ops@contoso.com".into())
        );
    }

    #[test]
    fn a_hostile_name_is_inert_in_subject_and_body() {
        let n = Notice {
            object_type: crate::graph::ObjectType::Application,
            object_id: "o".into(),
            app_id: "a".into(),
            display_name: "Payroll\r\nBcc: attacker@evil.example\u{202e}".into(),
            credential_type: CredentialType::Secret,
            key_id: "k".into(),
            credential_name: Some("x\ny".into()),
            start: None,
            end: None,
            days_left: None,
            status: Status::Critical,
            owners: Owners::Known(vec![Owner {
                id: "u".into(),
                kind: "user",
                display_name: None,
                mail: Some("a@contoso.com".into()),
                user_principal_name: None,
            }]),
        };
        let (subject, body) = compose(&[(&n, Reason::New)], "t\r\nX: y", "p", false);
        assert!(!subject.contains(['\r', '\n', '\u{202e}']), "{subject}");
        assert!(
            subject.starts_with("keyturn: Payroll\\u{d}\\u{a}Bcc:"),
            "{subject}"
        );
        assert!(
            body.contains("Payroll\\u{d}\\u{a}Bcc: attacker@evil.example\\u{202e}"),
            "{body}"
        );
        assert!(!body.contains('\r') && !body.contains('\u{202e}'), "{body}");
        assert!(!body.lines().any(|l| l.starts_with("Bcc:")), "{body}");
        assert!(body.contains("keyturn rotate --app a --key-id k"), "{body}");
        // lettre accepts the inert subject as one header.
        let m = Message::builder()
            .from("k@contoso.com".parse().unwrap())
            .to("a@contoso.com".parse().unwrap())
            .subject(subject)
            .body(body)
            .unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(
            !raw.lines()
                .any(|l| l.starts_with("Bcc:") || l.starts_with("X: y")),
            "{raw}"
        );
    }
}

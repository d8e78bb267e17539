//! `keyturn notify` end to end: the real binary against the emulator, posting to a Teams-style, a Slack-style and a
//! generic JSON receiver and mailing a local SMTP sink, all started here on 127.0.0.1. Every expectation (which
//! credentials, their status and days left, the owners' addresses) is computed from the emulator's state and the
//! demo tenant's seed, never from keyturn.
use crate::show::{env_for, keyturn};
use crate::support;
use axum::extract::State;
use axum::routing::post;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use keyturn::emulator::{AppChange, EmulatorConfig};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const DEMO: &str = include_str!("../../assets/demo_tenant.json");

/// A webhook receiver recording each JSON body; it answers `fail_status` (500, or 429 with `Retry-After: 1`) to the
/// first `fail_first` posts.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Hook {
    bodies: Arc<Mutex<Vec<Value>>>,
    fail_left: Arc<AtomicUsize>,
    fail_status: u16,
    ok_status: u16,
    ok_body: &'static str,
}

type Answer = (
    axum::http::StatusCode,
    [(&'static str, &'static str); 1],
    &'static str,
);

async fn record(State(h): State<Hook>, body: String) -> Answer {
    let status = |c: u16| axum::http::StatusCode::from_u16(c).unwrap();
    if h.fail_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return (status(h.fail_status), [("retry-after", "1")], "boom");
    }
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    h.bodies.lock().unwrap().push(v);
    (status(h.ok_status), [("x-receiver", "test")], h.ok_body)
}

/// Teams Workflows answers 202 Accepted; Slack 200 `ok`.
async fn receiver(ok_status: u16, ok_body: &'static str, fail_first: usize) -> Receiver {
    receiver_failing(ok_status, ok_body, fail_first, 500).await
}

async fn receiver_failing(
    ok_status: u16,
    ok_body: &'static str,
    fail_first: usize,
    fail_status: u16,
) -> Receiver {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let hook = Hook {
        bodies: bodies.clone(),
        fail_left: Arc::new(AtomicUsize::new(fail_first)),
        fail_status,
        ok_status,
        ok_body,
    };
    let app = axum::Router::new()
        .route("/hook/{token}", post(record))
        .with_state(hook);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver {
        url: format!("http://{addr}/hook/SECRET-TOKEN-{}", addr.port()),
        bodies,
        task,
    }
}

impl Receiver {
    fn take(&self) -> Vec<Value> {
        std::mem::take(&mut *self.bodies.lock().unwrap())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One mail as the sink received it: envelope and the DATA text.
#[derive(Debug, Clone)]
struct Mail {
    rcpt: Vec<String>,
    data: String,
    /// Received after STARTTLS.
    tls: bool,
    /// The AUTH PLAIN argument the client sent on this connection, if any.
    auth: Option<String>,
}

impl Mail {
    /// The header block and the decoded body (quoted-printable or base64, as lettre chose).
    fn parts(&self) -> (String, String) {
        let (head, body) = self.data.split_once("\r\n\r\n").unwrap();
        let h = head.to_ascii_lowercase();
        let body = if h.contains("content-transfer-encoding: base64") {
            let joined: String = body.split_whitespace().collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(joined)
                    .unwrap(),
            )
            .unwrap()
        } else if h.contains("content-transfer-encoding: quoted-printable") {
            quoted_printable(body)
        } else {
            body.to_string()
        };
        (head.to_string(), body.replace("\r\n", "\n"))
    }
}

fn quoted_printable(s: &str) -> String {
    let s = s.replace("=\r\n", "");
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// A minimal SMTP server (no TLS, no AUTH): enough for lettre to hand over mails, each recorded.
async fn smtp_sink() -> (u16, Arc<Mutex<Vec<Mail>>>, tokio::task::JoinHandle<()>) {
    smtp_sink_with(None).await
}

/// The SMTP dialogue on one stream. With `starttls` it offers STARTTLS and returns the stream when the client asks
/// to upgrade; after TLS (`tls`) it offers AUTH PLAIN. Every mail is recorded with whether it came over TLS and the
/// AUTH it saw.
async fn dialogue<S>(
    stream: S,
    starttls: bool,
    tls: bool,
    greet: bool,
    store: &Arc<Mutex<Vec<Mail>>>,
) -> Option<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut s = BufReader::new(stream);
    if greet {
        let _ = s.write_all(b"220 sink ESMTP\r\n").await;
    }
    let mut rcpt = Vec::new();
    let mut auth = None;
    let mut line = String::new();
    loop {
        line.clear();
        if s.read_line(&mut line).await.unwrap_or(0) == 0 {
            return None;
        }
        let cmd = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
            if starttls {
                b"250-sink\r\n250-8BITMIME\r\n250 STARTTLS\r\n"
            } else if tls {
                b"250-sink\r\n250-8BITMIME\r\n250 AUTH PLAIN LOGIN\r\n"
            } else {
                b"250-sink\r\n250 8BITMIME\r\n"
            }
        } else if cmd == "STARTTLS" && starttls {
            let _ = s.write_all(b"220 go ahead\r\n").await;
            let _ = s.flush().await;
            return Some(s.into_inner());
        } else if cmd.starts_with("AUTH PLAIN ") {
            auth = Some(line.trim_end()[11..].to_string());
            b"235 ok\r\n"
        } else if cmd.starts_with("MAIL FROM") {
            rcpt.clear();
            b"250 OK\r\n"
        } else if cmd.starts_with("RCPT TO") {
            rcpt.push(
                line.trim_end()[8..]
                    .trim()
                    .trim_matches(['<', '>'])
                    .to_string(),
            );
            b"250 OK\r\n"
        } else if cmd == "DATA" {
            let _ = s.write_all(b"354 go ahead\r\n").await;
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if s.read_line(&mut l).await.unwrap_or(0) == 0 {
                    return None;
                }
                if l == ".\r\n" {
                    break;
                }
                data.push_str(l.strip_prefix('.').unwrap_or(&l));
            }
            store.lock().unwrap().push(Mail {
                rcpt: std::mem::take(&mut rcpt),
                data,
                tls,
                auth: auth.clone(),
            });
            b"250 queued\r\n"
        } else if cmd == "QUIT" {
            let _ = s.write_all(b"221 bye\r\n").await;
            return None;
        } else {
            b"250 OK\r\n"
        };
        if s.write_all(reply).await.is_err() {
            return None;
        }
    }
}

/// The sink; with `tls` it requires STARTTLS with that server configuration before AUTH.
async fn smtp_sink_with(
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
) -> (u16, Arc<Mutex<Vec<Mail>>>, tokio::task::JoinHandle<()>) {
    let mails = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let store = mails.clone();
    let task = tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let store = store.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let Some(plain) = dialogue(sock, tls.is_some(), false, true, &store).await else {
                    return;
                };
                let Some(config) = tls else { return };
                let Ok(secure) = tokio_rustls::TlsAcceptor::from(config).accept(plain).await else {
                    return;
                };
                dialogue(secure, false, true, false, &store).await;
            });
        }
    });
    (port, mails, task)
}

/// A CA (its PEM) and a server configuration for 127.0.0.1 signed by it.
fn sink_tls() -> (String, Arc<tokio_rustls::rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "smtp sink CA");
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let key = tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(
        tokio_rustls::rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der()),
    );
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
        .unwrap();
    (ca.pem(), Arc::new(config))
}

/// What the tenant says one notification must carry, computed from the emulator's state and the demo seed.
#[derive(Debug, Clone)]
struct Expected {
    object_id: String,
    display_name: String,
    /// The keyIds that stand for this credential (a certificate's Sign and Verify entries share one thumbprint).
    key_ids: BTreeSet<String>,
    days_left: i64,
    status: &'static str,
    /// Owners' mail addresses (users only).
    owner_mails: BTreeSet<String>,
}

fn status_at(end: DateTime<Utc>, now: DateTime<Utc>, warn: i64, crit: i64) -> &'static str {
    if end <= now {
        "expired"
    } else if end <= now + Duration::days(crit) {
        "critical"
    } else if end <= now + Duration::days(warn) {
        "warning"
    } else {
        "ok"
    }
}

/// Every credential at warning or worse, keyed by (objectId, secret keyId or certificate thumbprint).
fn expected(
    state: &Value,
    now: DateTime<Utc>,
    warn: i64,
    crit: i64,
) -> BTreeMap<(String, String), Expected> {
    let demo: Value = serde_json::from_str(DEMO).unwrap();
    let users = demo["users"].as_array().unwrap();
    let mail_of = |pred: &dyn Fn(&Value) -> bool| -> Option<String> {
        users
            .iter()
            .find(|u| pred(u))
            .and_then(|u| u["mail"].as_str().map(str::to_string))
    };
    let mut out = BTreeMap::new();
    for coll in ["applications", "servicePrincipals"] {
        for obj in state[coll].as_array().unwrap() {
            let id = obj["id"].as_str().unwrap().to_string();
            let owner_mails: BTreeSet<String> = if coll == "applications" {
                obj["owners"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|o| mail_of(&|u: &Value| u["id"] == *o))
                    .collect()
            } else {
                demo["externalServicePrincipals"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|s| s["id"].as_str() == Some(id.as_str()))
                    .flat_map(|s| s["owners"].as_array().unwrap().clone())
                    .filter_map(|k| mail_of(&|u: &Value| u["key"] == k))
                    .collect()
            };
            let mut add = |key: String, key_id: &str, end: &str| {
                let end = DateTime::parse_from_rfc3339(end)
                    .unwrap()
                    .with_timezone(&Utc);
                let status = status_at(end, now, warn, crit);
                if status == "ok" {
                    return;
                }
                let e = out.entry((id.clone(), key)).or_insert_with(|| Expected {
                    object_id: id.clone(),
                    display_name: obj["displayName"].as_str().unwrap().to_string(),
                    key_ids: BTreeSet::new(),
                    days_left: (end - now).num_seconds().div_euclid(86_400),
                    status,
                    owner_mails: owner_mails.clone(),
                });
                e.key_ids.insert(key_id.to_string());
            };
            for p in obj["passwordCredentials"].as_array().unwrap() {
                let k = p["keyId"].as_str().unwrap();
                add(k.to_string(), k, p["endDateTime"].as_str().unwrap());
            }
            for k in obj["keyCredentials"].as_array().unwrap() {
                let key_id = k["keyId"].as_str().unwrap();
                let thumb = k["customKeyIdentifier"].as_str().unwrap_or(key_id);
                add(
                    format!("cert:{thumb}"),
                    key_id,
                    k["endDateTime"].as_str().unwrap(),
                );
            }
        }
    }
    out
}

/// "5 days left" / "expired 3 days ago", as keyturn words days left (floor).
fn days_words(days: i64) -> String {
    let unit = |n: i64| if n == 1 { "day" } else { "days" };
    if days < 0 {
        format!("expired {} {} ago", -days, unit(-days))
    } else {
        format!("{days} {} left", unit(days))
    }
}

/// The webhook receiver's credentials as (objectId, keyId) -> row.
fn webhook_rows(bodies: &[Value]) -> Vec<Value> {
    bodies
        .iter()
        .flat_map(|b| b["credentials"].as_array().unwrap().clone())
        .collect()
}

fn expected_key_of(row: &Value, want: &BTreeMap<(String, String), Expected>) -> (String, String) {
    let oid = row["objectId"].as_str().unwrap();
    let kid = row["keyId"].as_str().unwrap();
    want.iter()
        .find(|((o, _), e)| o == oid && e.key_ids.contains(kid))
        .map(|(k, _)| k.clone())
        .unwrap_or_else(|| panic!("keyturn sent {oid}/{kid}, which is not at warning or worse"))
}

fn config_with(home: &std::path::Path, extra: &str) {
    let path = home.join("config.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(extra);
    std::fs::write(path, text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_tells_every_target_once_then_again_when_worse() {
    let emu = support::start(EmulatorConfig::default()).await;
    let home = tempfile::tempdir().unwrap();
    let teams = receiver(202, "", 0).await;
    let slack = receiver(200, "ok", 0).await;
    let hook = receiver(200, "", 0).await;
    let (smtp_port, mails, smtp_task) = smtp_sink().await;
    let now = Utc::now();
    let now_text = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let now = DateTime::parse_from_rfc3339(&now_text)
        .unwrap()
        .with_timezone(&Utc);
    let mut env = env_for(&emu, home.path());
    config_with(
        home.path(),
        &format!(
            "notify_targets = [\"teams\", \"slack\", \"webhook\", \"mail\"]\nsmtp_host = \"127.0.0.1\"\n\
             smtp_port = {smtp_port}\nsmtp_tls = \"none\"\nmail_from = \"keyturn <keyturn@ops.example>\"\n\
             mail_fallback = \"identity-team@ops.example\"\n"
        ),
    );
    env.extend([
        ("KEYTURN_NOW".to_string(), now_text.clone()),
        ("KEYTURN_TEAMS_WEBHOOK_URL".to_string(), teams.url.clone()),
        ("KEYTURN_SLACK_WEBHOOK_URL".to_string(), slack.url.clone()),
        ("KEYTURN_WEBHOOK_URL".to_string(), hook.url.clone()),
    ]);
    let want = expected(&emu.state(), now, 30, 7);
    assert!(
        want.len() >= 5,
        "the demo tenant has credentials at warning or worse: {want:?}"
    );

    // --dry-run first: it says what it would send and to whom, sends and records nothing.
    let dry = keyturn(env.clone(), &["notify", "--dry-run"]).await;
    assert_eq!(dry.code, 0, "stderr: {}", dry.stderr);
    assert!(dry.stdout.contains("nothing was sent"), "{}", dry.stdout);
    assert!(
        dry.stdout
            .contains("teams (webhook from KEYTURN_TEAMS_WEBHOOK_URL)")
    );
    assert!(
        dry.stdout
            .contains("mail to identity-team@ops.example (fallback)")
    );
    for e in want.values() {
        assert!(dry.stdout.contains(&e.display_name), "{}", e.display_name);
    }
    assert!(teams.take().is_empty() && slack.take().is_empty() && hook.take().is_empty());
    assert!(mails.lock().unwrap().is_empty());
    assert!(
        !home
            .path()
            .join("xdg_data_home/keyturn/notify.sqlite")
            .exists(),
        "a dry run records nothing"
    );

    // First run: every credential at warning or worse goes to every target.
    let run = keyturn(env.clone(), &["notify"]).await;
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    for secret in ["SECRET-TOKEN", "/hook/"] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "a webhook URL is never shown: {}\n{}",
            run.stdout,
            run.stderr
        );
    }
    let db = home.path().join("xdg_data_home/keyturn/notify.sqlite");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the notification record is private");
    }

    // The JSON webhook: exactly the expected credentials, each with its status, days left and owners.
    let rows = webhook_rows(&hook.take());
    let got: BTreeSet<_> = rows.iter().map(|r| expected_key_of(r, &want)).collect();
    assert_eq!(got, want.keys().cloned().collect::<BTreeSet<_>>());
    assert_eq!(rows.len(), want.len(), "each credential once");
    for r in &rows {
        let e = &want[&expected_key_of(r, &want)];
        assert_eq!(r["status"], e.status, "{r}");
        assert_eq!(r["daysLeft"], e.days_left, "{r}");
        assert_eq!(r["displayName"], e.display_name.as_str());
        assert_eq!(r["reason"], "new");
        let mails: BTreeSet<String> = r["owners"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| o["mail"].as_str().map(str::to_string))
            .collect();
        assert_eq!(mails, e.owner_mails, "{r}");
    }

    // Teams: an Adaptive Card message; each credential's app, keyId, days left and owners are on a card.
    let cards = teams.take();
    assert!(!cards.is_empty());
    let fixture: Value = serde_json::from_str(include_str!(
        "../fixtures/microsoft/teams/webhook_adaptive_card/message.json"
    ))
    .unwrap();
    let keys = |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    for c in &cards {
        assert_eq!(
            keys(c),
            keys(&fixture),
            "top level as Microsoft documents it"
        );
        assert_eq!(c["type"], fixture["type"]);
        let att = &c["attachments"][0];
        assert_eq!(keys(att), keys(&fixture["attachments"][0]));
        assert_eq!(att["contentType"], fixture["attachments"][0]["contentType"]);
        assert_eq!(att["content"]["type"], "AdaptiveCard");
        assert_eq!(
            att["content"]["$schema"],
            fixture["attachments"][0]["content"]["$schema"]
        );
        let v: f64 = att["content"]["version"].as_str().unwrap().parse().unwrap();
        assert!(v >= 1.4, "Adaptive Card 1.4 or later");
    }
    let containers: Vec<&Value> = cards
        .iter()
        .flat_map(|c| c["attachments"][0]["content"]["body"].as_array().unwrap())
        .filter(|b| b["type"] == "Container")
        .collect();
    assert_eq!(containers.len(), want.len());
    for e in want.values() {
        let found = containers.iter().any(|c| {
            let text = c.to_string();
            c["items"][0]["text"] == e.display_name.as_str()
                && e.key_ids.iter().any(|k| text.contains(k.as_str()))
                && text.contains(&days_words(e.days_left))
                && e.owner_mails.iter().all(|m| text.contains(m.as_str()))
        });
        assert!(found, "no Teams card entry for {e:?}");
    }

    // Slack: {text, blocks}; a section per credential.
    let posts = slack.take();
    assert!(!posts.is_empty());
    let sections: Vec<String> = posts
        .iter()
        .flat_map(|p| {
            assert!(p["text"].is_string(), "{p}");
            p["blocks"].as_array().unwrap().clone()
        })
        .filter(|b| b["type"] == "section")
        .map(|b| b["text"]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sections.len(), want.len());
    let slack_escaped = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    for e in want.values() {
        assert!(
            sections
                .iter()
                .any(|s| s.contains(&slack_escaped(&e.display_name))
                    && e.key_ids.iter().any(|k| s.contains(k.as_str()))
                    && s.contains(&days_words(e.days_left))
                    && e.owner_mails.iter().all(|m| s.contains(m.as_str()))),
            "no Slack section for {e:?}"
        );
    }

    // Mail: each owner gets one mail naming their credentials; ownerless apps go to the fallback address.
    let sent: Vec<Mail> = std::mem::take(&mut *mails.lock().unwrap());
    let mut by_rcpt: BTreeMap<String, String> = BTreeMap::new();
    for m in &sent {
        assert_eq!(m.rcpt.len(), 1, "one recipient per mail: {:?}", m.rcpt);
        let (head, body) = m.parts();
        assert!(head.contains("Subject: "), "{head}");
        assert!(
            by_rcpt.insert(m.rcpt[0].clone(), body).is_none(),
            "one mail per recipient"
        );
    }
    let mut want_rcpts = BTreeSet::new();
    for e in want.values() {
        let to: Vec<String> = if e.owner_mails.is_empty() {
            vec!["identity-team@ops.example".into()]
        } else {
            e.owner_mails.iter().cloned().collect()
        };
        for r in to {
            let body = by_rcpt
                .get(&r)
                .unwrap_or_else(|| panic!("no mail to {r} about {e:?}"));
            assert!(body.contains(&e.display_name), "{r}: {body}");
            assert!(
                e.key_ids.iter().any(|k| body.contains(k.as_str())),
                "{body}"
            );
            assert!(body.contains(&days_words(e.days_left)), "{body}");
            for m in &e.owner_mails {
                assert!(body.contains(m.as_str()), "owners named: {body}");
            }
            want_rcpts.insert(r);
        }
    }
    assert_eq!(
        by_rcpt.keys().cloned().collect::<BTreeSet<_>>(),
        want_rcpts,
        "mail goes to the owners (and the fallback) only"
    );

    // Second run the same day: nothing new anywhere.
    let again = keyturn(env.clone(), &["notify"]).await;
    assert_eq!(again.code, 0, "stderr: {}", again.stderr);
    assert!(teams.take().is_empty() && slack.take().is_empty() && hook.take().is_empty());
    assert!(mails.lock().unwrap().is_empty(), "no mail the second time");

    // A wider critical window turns warnings into criticals: exactly those are sent again, as worse.
    let worse_want = expected(&emu.state(), now, 30, 29);
    let worsened: BTreeSet<_> = want
        .iter()
        .filter(|(k, e)| e.status == "warning" && worse_want[*k].status == "critical")
        .map(|(k, _)| k.clone())
        .collect();
    assert!(!worsened.is_empty(), "the demo has warnings within 29 days");
    let dry = keyturn(
        env.clone(),
        &["notify", "--critical-days", "29", "--dry-run"],
    )
    .await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stdout.contains("worse (was warning)"), "{}", dry.stdout);
    assert!(hook.take().is_empty() && mails.lock().unwrap().is_empty());
    let run = keyturn(env.clone(), &["notify", "--critical-days", "29"]).await;
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let rows = webhook_rows(&hook.take());
    let got: BTreeSet<_> = rows
        .iter()
        .map(|r| expected_key_of(r, &worse_want))
        .collect();
    assert_eq!(got, worsened);
    for r in &rows {
        assert_eq!(
            (&r["status"], &r["reason"]),
            (&"critical".into(), &"worse".into())
        );
        assert_eq!(r["previousStatus"], "warning");
    }
    let containers = teams
        .take()
        .iter()
        .map(|c| {
            c["attachments"][0]["content"]["body"]
                .as_array()
                .unwrap()
                .len()
                - 1
        })
        .sum::<usize>();
    assert_eq!(containers, worsened.len());
    assert!(!slack.take().is_empty());
    assert!(!mails.lock().unwrap().is_empty());
    smtp_task.abort();
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_target_is_retried_next_run_and_a_hostile_name_stays_inert_in_mail_and_exact_in_json()
 {
    let emu = support::start(EmulatorConfig::default()).await;
    let home = tempfile::tempdir().unwrap();
    let state = emu.state();
    let now_text = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let now = DateTime::parse_from_rfc3339(&now_text)
        .unwrap()
        .with_timezone(&Utc);
    let want = expected(&state, now, 30, 7);
    // An app with owners and a credential at warning or worse gets a hostile name, as if renamed in the portal.
    let apps: BTreeSet<&str> = state["applications"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    let target = want
        .values()
        .find(|e| !e.owner_mails.is_empty() && apps.contains(e.object_id.as_str()))
        .cloned()
        .expect("an owned app at warning or worse");
    let hostile = "Payroll\r\nBcc: attacker@evil.example\r\n\u{1b}]52;c;aGk=\u{7}\u{202e}gnp.exe";
    assert!(emu.mutate_app(&target.object_id, AppChange::Rename(hostile.into())));

    let teams = receiver(202, "", 1).await; // fails once (500): left to the next run
    let hook = receiver_failing(200, "", 1, 429).await; // throttled once: tried again after Retry-After
    let (smtp_port, mails, smtp_task) = smtp_sink().await;
    let mut env = env_for(&emu, home.path());
    config_with(
        home.path(),
        &format!(
            "notify_targets = [\"teams\", \"webhook\", \"mail\"]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {smtp_port}\n\
             smtp_tls = \"none\"\nmail_from = \"keyturn@ops.example\"\nmail_fallback = \"fallback@ops.example\"\n"
        ),
    );
    env.extend([
        ("KEYTURN_SECRET_STORE".to_string(), "file".to_string()),
        ("KEYTURN_NOW".to_string(), now_text.clone()),
        ("KEYTURN_TEAMS_WEBHOOK_URL".to_string(), teams.url.clone()),
    ]);
    // The generic webhook's URL lives in the secret store (the 0600 file here), not in the environment.
    let mut set_env = env.clone();
    set_env.push(("KEYTURN_WEBHOOK_URL".into(), hook.url.clone()));
    let set = keyturn(
        set_env,
        &["notify", "--set-secret", "webhook", "--from-env"],
    )
    .await;
    assert_eq!(set.code, 0, "{}", set.stderr);
    assert!(!set.stderr.contains("SECRET-TOKEN"), "{}", set.stderr);
    let config_text = std::fs::read_to_string(home.path().join("config.toml")).unwrap();
    assert!(!config_text.contains("SECRET-TOKEN"));

    let run = keyturn(env.clone(), &["notify"]).await;
    assert_eq!(run.code, 3, "a failed target is exit 3: {}", run.stderr);
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains("teams failed") && l.contains("500")),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("SECRET-TOKEN") && !run.stdout.contains("SECRET-TOKEN"));
    // Teams gets a card per 20 credentials: the first failed, any later ones went through.
    let cards_first = teams.take();

    // JSON: the exact name, control characters as JSON escapes.
    let rows = webhook_rows(&hook.take());
    assert!(!rows.is_empty());
    assert!(
        rows.iter().any(|r| r["displayName"] == hostile),
        "exact in JSON"
    );

    // Mail to the app's owners: subject and body inert, no header added.
    let sent: Vec<Mail> = std::mem::take(&mut *mails.lock().unwrap());
    let owner = target.owner_mails.iter().next().unwrap().clone();
    let m = sent
        .iter()
        .find(|m| m.rcpt == [owner.clone()])
        .unwrap_or_else(|| panic!("no mail to {owner}"));
    let (head, body) = m.parts();
    assert!(
        !head
            .lines()
            .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
        "no injected header: {head}"
    );
    assert!(
        !sent
            .iter()
            .any(|m| m.rcpt.iter().any(|r| r.contains("evil"))),
        "nothing mailed to an address from the name"
    );
    assert!(!m.data.contains('\u{1b}') && !m.data.contains('\u{202e}') && !body.contains('\u{1b}'));
    assert!(
        body.contains("Payroll\\u{d}\\u{a}Bcc: attacker@evil.example"),
        "{body}"
    );
    assert!(!body.lines().any(|l| l.starts_with("Bcc:")), "{body}");

    // Next run: only the failed target is tried again, and it gets everything; the others were recorded.
    let again = keyturn(env.clone(), &["notify"]).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    let cards = teams.take();
    let n: usize = cards
        .iter()
        .chain(&cards_first)
        .map(|c| {
            c["attachments"][0]["content"]["body"]
                .as_array()
                .unwrap()
                .len()
                - 1
        })
        .sum();
    assert_eq!(n, want.len());
    let exact_in_card = cards.iter().chain(&cards_first).any(|c| {
        c["attachments"][0]["content"]["body"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["items"][0]["text"] == hostile)
    });
    assert!(exact_in_card, "exact in the card");
    assert!(hook.take().is_empty());
    assert!(mails.lock().unwrap().is_empty());
    smtp_task.abort();
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_url_in_the_config_file_is_refused_without_echo_and_no_target_is_exit_3() {
    let emu = support::start(EmulatorConfig::default()).await;
    let home = tempfile::tempdir().unwrap();
    let env = env_for(&emu, home.path());
    let none = keyturn(env.clone(), &["notify"]).await;
    assert_eq!(none.code, 3);
    assert!(none.stderr.contains("notify_targets"), "{}", none.stderr);
    config_with(
        home.path(),
        "teams_webhook_url = \"https://prod.westeurope.logic.azure.com/workflows/x?sig=SECRETSIG\"\n",
    );
    let run = keyturn(env, &["notify", "--dry-run"]).await;
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("is a secret"), "{}", run.stderr);
    assert!(!run.stderr.contains("SECRETSIG"), "{}", run.stderr);
    emu.shutdown().await;
}

/// Two emulated tenants as two profiles: `notify --profile a --profile b` tells the webhook about each tenant's
/// credentials, each under its own tenant id; a second run sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_over_two_profiles_sends_each_tenant_once() {
    use keyturn::emulator::TenantSource;
    let a = support::start(EmulatorConfig::default()).await;
    let b = support::start(EmulatorConfig {
        tenant: TenantSource::Generated { apps: 60, seed: 7 },
        ..EmulatorConfig::default()
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let hook = receiver(200, "", 0).await;
    let now_text = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let now = DateTime::parse_from_rfc3339(&now_text)
        .unwrap()
        .with_timezone(&Utc);
    let profile = |name: &str, emu: &keyturn::emulator::Emulator| {
        let i = emu.info();
        format!(
            "[profiles.{name}]\ntenant_id = \"{}\"\nclient_id = \"{}\"\nauthority_host = \"{}\"\ngraph_url = \"{}\"\n\
             ca_cert = \"{}\"\nsign_in = \"secret\"\nnotify_targets = [\"webhook\"]\n",
            i.tenant_id,
            i.client_id,
            i.authority_host,
            i.graph_url,
            i.ca_cert.display()
        )
    };
    let config = home.path().join("config.toml");
    std::fs::write(&config, format!("{}{}", profile("a", &a), profile("b", &b))).unwrap();
    let mut env = crate::support::isolated_env(home.path());
    env.extend([
        ("KEYTURN_CONFIG".to_string(), config.display().to_string()),
        ("KEYTURN_SECRET_STORE".to_string(), "file".to_string()),
        ("KEYTURN_NOW".to_string(), now_text.clone()),
        ("KEYTURN_WEBHOOK_URL".to_string(), hook.url.clone()),
    ]);
    // Each profile's client secret is stored for it, as an operator would with `keyturn login`.
    for (name, emu) in [("a", &a), ("b", &b)] {
        let mut e = env.clone();
        e.push((
            "AZURE_CLIENT_SECRET".into(),
            emu.info().client_secret.clone(),
        ));
        let login = keyturn(e, &["--profile", name, "login", "--from-env"]).await;
        assert_eq!(login.code, 0, "{}", login.stderr);
    }

    let run = keyturn(env.clone(), &["--profile", "a", "--profile", "b", "notify"]).await;
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let bodies = hook.take();
    for emu in [&a, &b] {
        let tenant = emu.info().tenant_id.clone();
        let want = expected(&emu.state(), now, 30, 7);
        assert!(
            !want.is_empty(),
            "tenant {tenant} has credentials at warning or worse"
        );
        let rows: Vec<Value> = bodies
            .iter()
            .filter(|d| d["tenantId"] == tenant.as_str())
            .flat_map(|d| d["credentials"].as_array().unwrap().clone())
            .collect();
        let got: BTreeSet<_> = rows.iter().map(|r| expected_key_of(r, &want)).collect();
        assert_eq!(
            got,
            want.keys().cloned().collect::<BTreeSet<_>>(),
            "tenant {tenant}"
        );
        assert_eq!(
            rows.len(),
            want.len(),
            "tenant {tenant}: each credential once"
        );
        assert!(run.stdout.contains(&tenant), "{}", run.stdout);
    }
    let again = keyturn(env, &["--all-profiles", "notify"]).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(hook.take().is_empty(), "nothing new in either tenant");
    a.shutdown().await;
    b.shutdown().await;
}

/// An identity that may read applications but not users gets owners without names or addresses: the mail goes to
/// the fallback address and keyturn says which permission would name the owners.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_without_names_go_to_the_fallback_with_a_note() {
    let emu = support::start(EmulatorConfig::default()).await;
    let home = tempfile::tempdir().unwrap();
    let (client_id, secret) = emu.add_client("reader", &["Application.Read.All"]);
    let hook = receiver(200, "", 0).await;
    let (smtp_port, mails, smtp_task) = smtp_sink().await;
    let now_text = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let now = DateTime::parse_from_rfc3339(&now_text)
        .unwrap()
        .with_timezone(&Utc);
    let mut env: Vec<(String, String)> = env_for(&emu, home.path())
        .into_iter()
        .filter(|(k, _)| k != "AZURE_CLIENT_ID" && k != "AZURE_CLIENT_SECRET")
        .collect();
    config_with(
        home.path(),
        &format!(
            "notify_targets = [\"webhook\", \"mail\"]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {smtp_port}\n\
             smtp_tls = \"none\"\nmail_from = \"keyturn@ops.example\"\nmail_fallback = \"fallback@ops.example\"\n"
        ),
    );
    env.extend([
        ("AZURE_CLIENT_ID".to_string(), client_id),
        ("AZURE_CLIENT_SECRET".to_string(), secret),
        ("KEYTURN_NOW".to_string(), now_text),
        ("KEYTURN_WEBHOOK_URL".to_string(), hook.url.clone()),
    ]);
    let want = expected(&emu.state(), now, 30, 7);
    let owned = want.values().filter(|e| !e.owner_mails.is_empty()).count();
    assert!(owned > 0);

    let run = keyturn(env, &["notify"]).await;
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(
        run.stderr
            .contains("names need User.Read.All or Directory.Read.All"),
        "{}",
        run.stderr
    );
    let sent: Vec<Mail> = std::mem::take(&mut *mails.lock().unwrap());
    let rcpts: BTreeSet<String> = sent.iter().flat_map(|m| m.rcpt.clone()).collect();
    assert_eq!(
        rcpts,
        BTreeSet::from(["fallback@ops.example".to_string()]),
        "no owner address was readable"
    );
    let (_, body) = sent[0].parts();
    for e in want.values() {
        assert!(e.key_ids.iter().any(|k| body.contains(k.as_str())), "{e:?}");
    }
    let rows = webhook_rows(&hook.take());
    assert_eq!(rows.len(), want.len());
    assert!(rows.iter().all(|r| {
        r["owners"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["mail"].is_null() && o["id"].is_string())
    }));
    smtp_task.abort();
    emu.shutdown().await;
}

/// The production shape of the mail target: STARTTLS required (the server's CA from --ca-cert), then AUTH with the
/// password from KEYTURN_SMTP_PASSWORD, which never travels before TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_goes_over_starttls_with_the_password_from_the_environment() {
    let emu = support::start(EmulatorConfig::default()).await;
    let home = tempfile::tempdir().unwrap();
    let (sink_ca, server) = sink_tls();
    let (smtp_port, mails, smtp_task) = smtp_sink_with(Some(server)).await;
    // One --ca-cert bundle: the emulator's CA (Graph) and the sink's (SMTP).
    let bundle = home.path().join("roots.pem");
    let emulator_ca = std::fs::read_to_string(&emu.info().ca_cert).unwrap();
    std::fs::write(&bundle, format!("{emulator_ca}\n{sink_ca}")).unwrap();
    let mut env: Vec<(String, String)> = env_for(&emu, home.path())
        .into_iter()
        .filter(|(k, _)| k != "KEYTURN_CA_CERT")
        .collect();
    config_with(
        home.path(),
        &format!(
            "notify_targets = [\"mail\"]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {smtp_port}\n\
             smtp_tls = \"starttls\"\nsmtp_username = \"keyturn@ops.example\"\nmail_from = \"keyturn@ops.example\"\n\
             mail_fallback = \"fallback@ops.example\"\n"
        ),
    );
    env.extend([
        ("KEYTURN_CA_CERT".to_string(), bundle.display().to_string()),
        (
            "KEYTURN_SMTP_PASSWORD".to_string(),
            "s3cret-Pa55".to_string(),
        ),
    ]);
    let run = keyturn(env, &["notify"]).await;
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(!run.stderr.contains("s3cret") && !run.stdout.contains("s3cret"));
    let sent: Vec<Mail> = std::mem::take(&mut *mails.lock().unwrap());
    assert!(!sent.is_empty());
    for m in &sent {
        assert!(m.tls, "every mail after STARTTLS");
        let plain = base64::engine::general_purpose::STANDARD
            .decode(m.auth.as_deref().expect("AUTH before the mail"))
            .unwrap();
        assert_eq!(plain, b"\0keyturn@ops.example\0s3cret-Pa55");
    }
    smtp_task.abort();
    emu.shutdown().await;
}

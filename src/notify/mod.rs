//! `keyturn notify`: for cron. Tells the profile's targets (Teams, Slack, a JSON webhook, the apps' owners by mail)
//! about every credential at warning or worse that is new or worse since the last run, or whose reminder interval
//! passed (`dedup`). Same statuses and day counting as `keyturn check` (`inventory::credential_rows`).
//!
//! Exit codes: 0 everything due was sent (or nothing was due); 3 it could not complete: sign-in or Graph failed, or
//! a target failed (named on stderr). A failed target is not recorded, so the next run tries it again.
pub mod dedup;
pub mod mail;
pub mod message;
pub mod slack;
pub mod targets;
pub mod teams;
pub mod webhook;

use crate::auth::Env;
use crate::auth::store::SecretStores;
use crate::config::NotifyTarget;
use crate::graph::ObjectId;
use crate::inventory::{self, Status, Thresholds, load::LoadOptions};
use crate::safe_text::Safe;
use crate::session::Session;
use chrono::{DateTime, Utc};
use dedup::{SentKey, SentLog};
use futures::StreamExt;
use message::{Notice, Owner, Owners, Reason};
use secrecy::SecretString;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use targets::SecretName;

/// Exit code: could not complete (the monitoring-plugins "unknown", as `check` uses it).
pub const EXIT_FAILED: u8 = 3;

/// The dedup recipient of a webhook target: its channel, known by a digest of the URL (the URL itself is a secret
/// and is never stored), so a new webhook (another channel) gets the whole backlog.
fn channel(url: &SecretString) -> String {
    use secrecy::ExposeSecret;
    let digest = ring::digest::digest(&ring::digest::SHA256, url.expose_secret().trim().as_bytes());
    let hex: String = digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("channel:{hex}")
}

/// Owners are read for this many apps at a time.
const OWNER_READS: usize = 8;

#[derive(Debug, Clone, clap::Args)]
pub struct NotifyArgs {
    /// Print what would be sent to whom; send nothing, record nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Days before expiry that count as warning [default: the profile's warn_days, else 30]
    #[arg(long = "warn-days", value_name = "DAYS", value_parser = crate::cli::threshold_days)]
    pub warn_days: Option<i64>,
    /// Days before expiry that count as critical [default: the profile's critical_days, else 7]
    #[arg(long = "critical-days", value_name = "DAYS", value_parser = crate::cli::threshold_days)]
    pub critical_days: Option<i64>,
    /// Store a target's secret in the OS keyring (a 0600 file where there is none) for the profile's tenant, read
    /// from standard input (one line), or with --from-env from its environment variable; then exit.
    #[arg(long = "set-secret", value_name = "TARGET", value_enum)]
    pub set_secret: Option<SecretName>,
    /// With --set-secret: take the value from its environment variable (KEYTURN_TEAMS_WEBHOOK_URL, ...).
    #[arg(long = "from-env", requires = "set_secret")]
    pub from_env: bool,
}

/// A target ready to send: its secret found, its settings checked.
enum Ready {
    Hook {
        target: NotifyTarget,
        url: SecretString,
        origin: String,
    },
    Mail(Box<mail::MailConfig>),
}

/// One message to send: to one target and recipient, about `items`.
struct Outgoing<'a> {
    target: NotifyTarget,
    /// The dedup recipient: `channel:<digest of the URL>`, or the lowercased mail address.
    recipient: String,
    /// For mail: the address, and whether it is the fallback.
    to: Option<(lettre::Address, bool)>,
    items: Vec<(&'a Notice, Reason)>,
}

/// What the run saw and did, for the summary and the exit code.
#[derive(Default)]
struct Tally {
    failures: Vec<String>,
    sent_messages: usize,
    sent_items: usize,
}

impl Tally {
    fn fail(&mut self, err: &mut impl Write, what: String) {
        let _ = writeln!(err, "keyturn: notify: {what}");
        tracing::warn!("notify: {what}");
        self.failures.push(what);
    }
}

/// `keyturn notify` on one signed-in profile.
pub async fn notify_command(
    session: &Session,
    args: &NotifyArgs,
    out: &mut impl Write,
    err: &mut impl Write,
) -> u8 {
    let mut tally = Tally::default();
    // Signed in through the Azure CLI or a managed identity without tenant_id: the token says which tenant. The
    // record and the messages need it.
    let mut own;
    let session = if session.tenant_id.is_empty() {
        own = session.clone();
        if let Err(e) = own.whoami().await {
            tally.fail(err, format!("could not sign in: {e}"));
            return EXIT_FAILED;
        }
        &own
    } else {
        session
    };
    let profile_name = session.settings.profile_name.clone();
    let targets = session
        .settings
        .profile
        .notify_targets
        .clone()
        .unwrap_or_default();
    if targets.is_empty() {
        tally.fail(
            err,
            format!(
                "profile {} has no notification targets: set notify_targets = [\"teams\", \"slack\", \"webhook\", \
                 \"mail\"] (any of them) in {}",
                Safe(&profile_name),
                session.settings.config_path.display()
            ),
        );
        return EXIT_FAILED;
    }
    let ready = resolve_targets(session, &targets, &mut tally, err);

    let thresholds = Thresholds {
        warn_days: args.warn_days.unwrap_or(session.thresholds.warn_days),
        critical_days: args
            .critical_days
            .unwrap_or(session.thresholds.critical_days),
    };
    let entries = match inventory::load::load_all(
        &session.graph,
        LoadOptions {
            service_principals: session.include_service_principals,
        },
    )
    .await
    {
        Ok(e) => e,
        Err(e) => {
            tally.fail(err, format!("could not read the tenant's apps: {e}"));
            return EXIT_FAILED;
        }
    };
    let now = session.clock.now();
    let rows: Vec<_> = inventory::credential_rows(&entries, now, thresholds)
        .into_iter()
        .filter(|r| r.status != Status::Ok)
        .collect();
    let owners = load_owners(session, &rows, &mut tally, err).await;
    let notices: Vec<Notice> = rows
        .iter()
        .map(|r| {
            let o = owners
                .get(r.object_id.as_str())
                .cloned()
                .unwrap_or_else(|| Owners::Known(Vec::new()));
            Notice::from_row(r, o)
        })
        .collect();

    let log = match open_log(args.dry_run) {
        Ok(l) => l,
        Err(e) => {
            tally.fail(err, e.to_string());
            return EXIT_FAILED;
        }
    };
    let tenant = session.tenant_id.clone();
    let reminder_days = session.settings.profile.notify_reminder_days.unwrap_or(7);
    let mut outgoing = Vec::new();
    for r in &ready {
        match plan(
            r,
            &notices,
            &log,
            &tenant,
            now,
            reminder_days,
            &mut tally,
            err,
        ) {
            Ok(mut o) => outgoing.append(&mut o),
            Err(e) => tally.fail(err, format!("the notification record: {e}")),
        }
    }

    let ctx = Ctx {
        tenant: &tenant,
        profile: &profile_name,
        now,
        thresholds,
    };
    if args.dry_run {
        dry_run(&ctx, &ready, &outgoing, notices.len(), out);
    } else {
        for o in &outgoing {
            send(session, &ctx, &ready, o, &log, &mut tally, err).await;
        }
        let due: usize = outgoing.iter().map(|o| o.items.len()).sum();
        let _ = writeln!(
            out,
            "keyturn notify: profile {}, tenant {}: {} at warning or worse; sent {} ({} of {} due)",
            Safe(&profile_name),
            Safe(&tenant),
            message::plural(notices.len() as i64, "credential"),
            message::plural(tally.sent_messages as i64, "message"),
            tally.sent_items,
            due,
        );
    }
    if tally.failures.is_empty() {
        0
    } else {
        EXIT_FAILED
    }
}

struct Ctx<'a> {
    tenant: &'a str,
    profile: &'a str,
    now: DateTime<Utc>,
    thresholds: Thresholds,
}

/// Find each target's secret and check its settings; a target that cannot be used is a failure (named) and the
/// others still run.
fn resolve_targets(
    session: &Session,
    targets: &[NotifyTarget],
    tally: &mut Tally,
    err: &mut impl Write,
) -> Vec<Ready> {
    let env = Env::from_process();
    let stores =
        SecretStores::from_env(&env, crate::config::secrets_dir().ok()).unwrap_or_else(|e| {
            let _ = writeln!(err, "keyturn: notify: warning: {e}");
            SecretStores::none()
        });
    let tenant = session
        .settings
        .tenant_id
        .as_deref()
        .or(Some(session.tenant_id.as_str()).filter(|t| !t.is_empty()));
    let mut warnings = Vec::new();
    let mut ready = Vec::new();
    for &target in targets {
        match target {
            NotifyTarget::Mail => {
                let password =
                    targets::lookup(SecretName::Smtp, tenant, &env, &stores, &mut warnings)
                        .map(|f| f.value);
                match mail::MailConfig::from_profile(
                    &session.settings.profile,
                    password,
                    session.settings.ca_cert.clone(),
                ) {
                    Ok(cfg) => ready.push(Ready::Mail(Box::new(cfg))),
                    Err(e) => tally.fail(err, format!("mail: {e}")),
                }
            }
            hook => {
                let Some(name) = SecretName::of_target(hook) else {
                    continue;
                };
                match targets::lookup(name, tenant, &env, &stores, &mut warnings) {
                    Some(found) => match targets::check_webhook_url(name, &found.value) {
                        Ok(()) => ready.push(Ready::Hook {
                            target: hook,
                            url: found.value,
                            origin: found.origin,
                        }),
                        Err(e) => tally.fail(err, format!("{hook}: {e} (from {})", found.origin)),
                    },
                    None => tally.fail(
                        err,
                        format!(
                            "{hook}: no webhook URL: set {} or store it with `keyturn notify --set-secret {}`",
                            name.env_var(),
                            name.as_str()
                        ),
                    ),
                }
            }
        }
    }
    for w in warnings {
        let _ = writeln!(err, "keyturn: notify: warning: {w}");
    }
    ready
}

/// The owners of every app with a credential to tell about (only those apps), a few reads at a time. A failed read
/// leaves that app's owners unknown and counts as a failure.
async fn load_owners(
    session: &Session,
    rows: &[inventory::CredentialRow<'_>],
    tally: &mut Tally,
    err: &mut impl Write,
) -> HashMap<String, Owners> {
    let mut apps: BTreeMap<&str, (crate::graph::ObjectType, &str)> = BTreeMap::new();
    for r in rows {
        apps.entry(r.object_id.as_str())
            .or_insert((r.object_type, r.display_name));
    }
    let graph = &session.graph;
    let results: Vec<_> = futures::stream::iter(apps)
        .map(|(id, (kind, name))| async move {
            let got = graph.owners(kind, &ObjectId::new(id)).await;
            (id, name, got)
        })
        .buffer_unordered(OWNER_READS)
        .collect()
        .await;
    let mut out = HashMap::new();
    let mut unnamed = 0;
    for (id, name, got) in results {
        let owners = match got {
            Ok(list) => {
                if list.iter().any(crate::graph::Owner::is_unnamed_user) {
                    unnamed += 1;
                }
                Owners::Known(list.into_iter().filter_map(Owner::from_graph).collect())
            }
            Err(e) => {
                tally.fail(
                    err,
                    format!("could not read the owners of {}: {e}", Safe(name)),
                );
                Owners::Unknown(e.to_string())
            }
        };
        out.insert(id.to_string(), owners);
    }
    if unnamed > 0 {
        // Graph hid the users' names and addresses: their mail goes to mail_fallback until the permission is there.
        let _ = writeln!(
            err,
            "keyturn: notify: note: the owners of {} came without names or mail addresses (names need {} for \
             the identity keyturn signs in as); mail about them goes to mail_fallback",
            message::plural(unnamed, "app"),
            crate::graph::models::OWNER_NAMES_PERMISSIONS
        );
    }
    out
}

fn open_log(dry_run: bool) -> Result<SentLog, dedup::DedupError> {
    let path = SentLog::default_path()?;
    // A dry run reads what was sent but creates nothing.
    if dry_run && !path.exists() {
        return SentLog::in_memory();
    }
    SentLog::open(&path)
}

/// One mail recipient's address, whether it is the fallback, and the notices for them.
type MailBatch<'a> = (lettre::Address, bool, Vec<(&'a Notice, Reason)>);

/// What to send to one target: the notices due there, in messages of the target's size.
#[allow(clippy::too_many_arguments)]
fn plan<'a>(
    ready: &Ready,
    notices: &'a [Notice],
    log: &SentLog,
    tenant: &str,
    now: DateTime<Utc>,
    reminder_days: i64,
    tally: &mut Tally,
    err: &mut impl Write,
) -> Result<Vec<Outgoing<'a>>, dedup::DedupError> {
    let due = |n: &Notice, target: NotifyTarget, recipient: &str| {
        log.due(
            &SentKey {
                tenant,
                object_id: &n.object_id,
                key_id: &n.key_id,
                target: target.as_str(),
                recipient,
            },
            n.status,
            now,
            reminder_days,
        )
    };
    match ready {
        Ready::Hook { target, url, .. } => {
            let recipient = channel(url);
            let mut items = Vec::new();
            for n in notices {
                if let Some(reason) = due(n, *target, &recipient)? {
                    items.push((n, reason));
                }
            }
            let per = match target {
                NotifyTarget::Teams => teams::PER_MESSAGE,
                NotifyTarget::Slack => slack::PER_MESSAGE,
                _ => webhook::PER_MESSAGE,
            };
            Ok(items
                .chunks(per)
                .map(|c| Outgoing {
                    target: *target,
                    recipient: recipient.clone(),
                    to: None,
                    items: c.to_vec(),
                })
                .collect())
        }
        Ready::Mail(cfg) => {
            // recipient -> (address, fallback?, items)
            let mut by: BTreeMap<String, MailBatch> = BTreeMap::new();
            for n in notices {
                let mut to: Vec<(lettre::Address, bool)> = Vec::new();
                for o in n.owners.known() {
                    match o.address().map(|a| (a, mail::parse_address(a))) {
                        Some((_, Some(a))) if !to.iter().any(|(t, _)| t == &a) => {
                            to.push((a, false));
                        }
                        Some((_, Some(_))) => {}
                        Some((raw, None)) => {
                            let _ = writeln!(
                                err,
                                "keyturn: notify: note: owner {} of {} has no usable mail address",
                                Safe(raw),
                                Safe(&n.display_name)
                            );
                        }
                        None => {}
                    }
                }
                if to.is_empty() {
                    match &cfg.fallback {
                        Some(f) => to.push((f.clone(), true)),
                        None => {
                            tally.fail(
                                err,
                                format!(
                                    "mail: nobody to mail about {} ({}): no owner has a mail address and the \
                                     profile has no mail_fallback",
                                    Safe(&n.display_name),
                                    Safe(&n.app_id)
                                ),
                            );
                            continue;
                        }
                    }
                }
                for (addr, fallback) in to {
                    let recipient = addr.to_string().to_ascii_lowercase();
                    if let Some(reason) = due(n, NotifyTarget::Mail, &recipient)? {
                        by.entry(recipient)
                            .or_insert_with(|| (addr.clone(), fallback, Vec::new()))
                            .2
                            .push((n, reason));
                    }
                }
            }
            Ok(by
                .into_iter()
                .map(|(recipient, (addr, fallback, items))| Outgoing {
                    target: NotifyTarget::Mail,
                    recipient,
                    to: Some((addr, fallback)),
                    items,
                })
                .collect())
        }
    }
}

fn hook_url(ready: &[Ready], target: NotifyTarget) -> Option<(&SecretString, &str)> {
    ready.iter().find_map(|r| match r {
        Ready::Hook {
            target: t,
            url,
            origin,
        } if *t == target => Some((url, origin.as_str())),
        _ => None,
    })
}

fn mail_config(ready: &[Ready]) -> Option<&mail::MailConfig> {
    ready.iter().find_map(|r| match r {
        Ready::Mail(c) => Some(c.as_ref()),
        _ => None,
    })
}

/// The JSON body of a webhook message (compact, exact values, unsafe characters as `\u` escapes).
fn hook_body(ctx: &Ctx, o: &Outgoing) -> String {
    let value = match o.target {
        NotifyTarget::Teams => teams::payload(&o.items, ctx.tenant),
        NotifyTarget::Slack => slack::payload(&o.items, ctx.tenant),
        _ => webhook::payload(
            &o.items,
            &webhook::Header {
                tenant: ctx.tenant,
                profile: ctx.profile,
                now: ctx.now,
                thresholds: ctx.thresholds,
            },
        ),
    };
    // Serialising a Value cannot fail.
    crate::safe_text::to_json(&value).unwrap_or_default()
}

async fn send(
    session: &Session,
    ctx: &Ctx<'_>,
    ready: &[Ready],
    o: &Outgoing<'_>,
    log: &SentLog,
    tally: &mut Tally,
    err: &mut impl Write,
) {
    let result = match (&o.to, o.target) {
        (Some((addr, fallback)), NotifyTarget::Mail) => match mail_config(ready) {
            Some(cfg) => {
                let (subject, body) = mail::compose(&o.items, ctx.tenant, ctx.profile, *fallback);
                mail::send(cfg, addr, &subject, &body).await
            }
            None => return,
        },
        (_, target) => match hook_url(ready, target) {
            Some((url, _)) => targets::post_json(&session.http, url, hook_body(ctx, o)).await,
            None => return,
        },
    };
    let whom = match &o.to {
        Some((addr, _)) => format!("mail to {}", Safe(addr.as_ref())),
        None => o.target.to_string(),
    };
    match result {
        Ok(()) => {
            tally.sent_messages += 1;
            tally.sent_items += o.items.len();
            for (n, _) in &o.items {
                let key = SentKey {
                    tenant: ctx.tenant,
                    object_id: &n.object_id,
                    key_id: &n.key_id,
                    target: o.target.as_str(),
                    recipient: &o.recipient,
                };
                if let Err(e) = log.record(&key, n.status, ctx.now) {
                    tally.fail(
                        err,
                        format!(
                            "{whom} was sent but could not be recorded (it may be sent again): {e}"
                        ),
                    );
                }
            }
        }
        Err(e) => tally.fail(
            err,
            format!(
                "{whom} failed ({} not sent; tried again at the next run): {e}",
                message::plural(o.items.len() as i64, "credential")
            ),
        ),
    }
}

/// `--dry-run`: each message, to whom, and what it lists; nothing is sent or recorded.
fn dry_run(
    ctx: &Ctx,
    ready: &[Ready],
    outgoing: &[Outgoing],
    at_warning: usize,
    out: &mut impl Write,
) {
    let due: usize = outgoing.iter().map(|o| o.items.len()).sum();
    let _ = writeln!(
        out,
        "keyturn notify --dry-run: profile {}, tenant {}: {} at warning or worse; {} due in {}",
        Safe(ctx.profile),
        Safe(ctx.tenant),
        message::plural(at_warning as i64, "credential"),
        message::plural(due as i64, "notice"),
        message::plural(outgoing.len() as i64, "message"),
    );
    for o in outgoing {
        let whom = match (&o.to, o.target) {
            (Some((addr, fallback)), _) => {
                let via = mail_config(ready).map(|c| c.describe()).unwrap_or_default();
                let role = if *fallback { "fallback" } else { "owner" };
                format!("mail to {} ({role}) via {via}", Safe(addr.as_ref()))
            }
            (None, target) => {
                let origin = hook_url(ready, target).map(|(_, o)| o).unwrap_or("");
                format!("{target} (webhook from {origin})")
            }
        };
        let _ = writeln!(
            out,
            "\n{whom}: {}",
            message::plural(o.items.len() as i64, "credential")
        );
        if o.to.is_some() {
            let (subject, _) = mail::compose(&o.items, ctx.tenant, ctx.profile, false);
            let _ = writeln!(out, "  Subject: {subject}");
        }
        for (n, reason) in &o.items {
            let _ = writeln!(out, "{}", message::text_block(n, *reason, "  "));
        }
    }
    let _ = writeln!(out, "\nDry run: nothing was sent and nothing was recorded.");
}

/// `keyturn notify --set-secret NAME`: store one target secret for the profile's tenant. Needs no sign-in.
pub fn set_secret_command(
    settings: &crate::session::Settings,
    name: SecretName,
    from_env: bool,
    err: &mut impl Write,
) -> u8 {
    let Some(tenant) = settings.tenant_id.as_deref() else {
        let _ = writeln!(
            err,
            "keyturn: notify: secrets are stored per tenant: set tenant_id in profile {} or pass --tenant",
            Safe(&settings.profile_name)
        );
        return EXIT_FAILED;
    };
    let env = Env::from_process();
    let value = if from_env {
        match env.var(name.env_var()).filter(|v| !v.trim().is_empty()) {
            Some(v) => SecretString::from(v),
            None => {
                let _ = writeln!(
                    err,
                    "keyturn: notify: --from-env was given but {} is empty or not set",
                    name.env_var()
                );
                return EXIT_FAILED;
            }
        }
    } else if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        // Typed or pasted at a terminal: not echoed, so the URL stays off the screen and out of scrollback.
        match crate::auth::login::prompt_secret(&format!(
            "{} for tenant {} (typing is hidden): ",
            name.words(),
            Safe(tenant)
        )) {
            Ok(v) => v,
            Err(e) => {
                let _ = writeln!(err, "keyturn: notify: {e}");
                return EXIT_FAILED;
            }
        }
    } else {
        let mut line = String::new();
        if let Err(e) = std::io::stdin().read_line(&mut line) {
            let _ = writeln!(err, "keyturn: notify: cannot read standard input: {e}");
            return EXIT_FAILED;
        }
        SecretString::from(line.trim().to_string())
    };
    let stores = match SecretStores::from_env(&env, crate::config::secrets_dir().ok()) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "keyturn: notify: {e}");
            return EXIT_FAILED;
        }
    };
    match targets::store(name, tenant, &value, &stores) {
        Ok((origin, warnings)) => {
            for w in warnings {
                let _ = writeln!(err, "keyturn: warning: {w}");
            }
            let _ = writeln!(
                err,
                "keyturn: {} for tenant {} stored in {origin}",
                name.words(),
                Safe(tenant)
            );
            0
        }
        Err(e) => {
            let _ = writeln!(err, "keyturn: notify: {e}");
            EXIT_FAILED
        }
    }
}

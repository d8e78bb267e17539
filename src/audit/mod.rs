//! The tenant-wide change feed: every credential change (and owner / permission change of apps) of the last N days,
//! decoded into rows (what, when, who, result), joined with what is known about the app it concerns (privilege,
//! owners, the credential's current state, keyturn's own journal) and checked by the finding rules.
//!
//! Sources produce [`AuditRow`]s from the log (`graph_source` reads `/auditLogs/directoryAudits`); [`gather_facts`]
//! reads each target app once; [`findings::apply`] is pure. `keyturn audit` and the TUI's Changes view are faces
//! over [`collect`].
pub mod facts;
pub mod findings;
pub mod graph_source;
pub mod office365_source;

use crate::graph::{GraphClient, GraphError, ObjectType};
use crate::store::journal::JournalEntry;
use chrono::{DateTime, Duration, Utc};

pub use facts::{CredentialState, TargetFacts, gather_facts};
pub use findings::FindingPolicy;

/// The built-in window of `keyturn audit` and the Changes view.
pub const DEFAULT_DAYS: i64 = 7;

/// How long Entra keeps directory audit events: 7 days on Entra ID Free, 30 days with P1/P2.
pub const RETENTION_FREE_DAYS: i64 = 7;
pub const RETENTION_P1_DAYS: i64 = 30;

/// Where the events come from (profile key `audit_source`, flag `--source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Microsoft Graph `/auditLogs/directoryAudits`.
    Graph,
    /// The Office 365 Management Activity API (`Audit.AzureActiveDirectory`).
    Office365,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Graph => "graph",
            Source::Office365 => "office365",
        }
    }
}

/// What a row changed, as the contract names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activity {
    CredentialAdded,
    CredentialRemoved,
    OwnerAdded,
    OwnerRemoved,
    PermissionGranted,
    Consent,
    Other,
}

impl Activity {
    pub fn as_str(self) -> &'static str {
        match self {
            Activity::CredentialAdded => "credentialAdded",
            Activity::CredentialRemoved => "credentialRemoved",
            Activity::OwnerAdded => "ownerAdded",
            Activity::OwnerRemoved => "ownerRemoved",
            Activity::PermissionGranted => "permissionGranted",
            Activity::Consent => "consent",
            Activity::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitiatorType {
    User,
    App,
}

impl InitiatorType {
    pub fn as_str(self) -> &'static str {
        match self {
            InitiatorType::User => "user",
            InitiatorType::App => "app",
        }
    }
}

/// Who made a change: a user (id, UPN) or an app identity (service principal id, name), with the IP where the log
/// has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Initiator {
    pub kind: InitiatorType,
    pub id: Option<String>,
    pub name: Option<String>,
    /// The app identity's appId, when the log names it (owners are compared by object id, journals by appId).
    pub app_id: Option<String>,
    pub ip_address: Option<String>,
}

impl Initiator {
    /// "alice@contoso.com" or "app Backup Daemon", for a person reading a row.
    pub fn label(&self) -> String {
        let who = self
            .name
            .clone()
            .or_else(|| self.id.clone())
            .unwrap_or_else(|| "unknown".into());
        match self.kind {
            InitiatorType::User => who,
            InitiatorType::App => format!("app {who}"),
        }
    }
}

/// One change, as `keyturn audit` prints it and the Changes view lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub activity_date_time: DateTime<Utc>,
    pub activity: Activity,
    /// The log's own activity name, dashes normalised ("Update application - Certificates and secrets management").
    pub activity_display_name: String,
    pub target_object_type: Option<ObjectType>,
    pub target_object_id: Option<String>,
    pub target_app_id: Option<String>,
    pub target_display_name: Option<String>,
    /// "secret" or "certificate".
    pub credential_type: Option<&'static str>,
    pub key_id: Option<String>,
    pub credential_name: Option<String>,
    pub initiated_by: Initiator,
    pub result: Option<String>,
    /// The log record the row came from (one record can hold several changes).
    pub record_id: String,
    pub by_keyturn: bool,
    /// One line each: why this change deserves a look.
    pub findings: Vec<String>,
    /// Impact: the target app's privileged permissions (`None`: unknown).
    pub privileged: Option<Vec<String>>,
    /// Impact: where the credential stands now.
    pub credential_state: CredentialState,
}

impl AuditRow {
    /// "added secret 'x' (keyId 1a2b3c4d)", "owner added", ...: what happened, for a person.
    pub fn what(&self) -> String {
        let short = self
            .key_id
            .as_deref()
            .map(|k| k.get(..8).unwrap_or(k).to_string());
        let cred = |verb: &str| {
            let mut s = format!("{verb} {}", self.credential_type.unwrap_or("credential"));
            if let Some(n) = &self.credential_name {
                s.push_str(&format!(" '{n}'"));
            }
            if let Some(k) = &short {
                s.push_str(&format!(" (keyId {k})"));
            }
            s
        };
        match self.activity {
            Activity::CredentialAdded => cred("added"),
            Activity::CredentialRemoved => cred("removed"),
            Activity::OwnerAdded => "owner added".into(),
            Activity::OwnerRemoved => "owner removed".into(),
            Activity::PermissionGranted => "permission granted".into(),
            Activity::Consent => "consent granted".into(),
            Activity::Other => self.activity_display_name.clone(),
        }
    }
}

/// How much history a source holds, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    pub days: i64,
    pub reason: String,
}

/// The feed over a window, with what could not be known said once each.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditReport {
    pub generated_at: DateTime<Utc>,
    pub source: Source,
    /// The days asked for.
    pub requested_days: i64,
    /// The days the source can actually show (never more than it keeps).
    pub covered_days: i64,
    pub retention: Retention,
    /// Newest first.
    pub rows: Vec<AuditRow>,
    pub notes: Vec<String>,
    /// The office365 subscription was started by this run (its content may lag up to 12 hours).
    pub first_subscription: bool,
}

impl AuditReport {
    pub fn finding_count(&self) -> usize {
        self.rows.iter().filter(|r| !r.findings.is_empty()).count()
    }

    /// What an empty list means, without claiming more history than the source holds.
    pub fn empty_text(&self) -> String {
        if self.first_subscription {
            return format!(
                "No changes listed yet: the audit subscription was only just started, and Microsoft documents up to \
                 {} hours before its first content appears. This does not mean nothing changed; run again later.",
                office365_source::FIRST_SUBSCRIPTION_DELAY_HOURS
            );
        }
        if self.covered_days < self.requested_days {
            format!(
                "No credential changes in the last {} days, the most this source keeps ({}); changes from the {} days \
                 before cannot be seen here.",
                self.covered_days,
                self.retention.reason,
                self.requested_days - self.covered_days
            )
        } else {
            format!(
                "No credential changes in the last {} days.",
                self.covered_days
            )
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error("{0}")]
    Unsupported(String),
}

/// What [`collect`] needs besides Graph.
pub struct CollectOptions<'a> {
    pub now: DateTime<Utc>,
    pub days: i64,
    pub source: Source,
    pub policy: FindingPolicy,
    pub journal: &'a [JournalEntry],
    /// The Management Activity API client, for source `office365`.
    pub office365: Option<office365_source::ManagementClient>,
}

/// How long the tenant keeps directory audits: 30 days when the P1/P2-only sign-in activity report answers, else 7
/// (Entra ID Free, or the licence cannot be confirmed).
pub async fn graph_retention(graph: &GraphClient) -> Retention {
    // Any keyId will do: the question is whether the report answers at all.
    let probe = crate::graph::KeyId::new("00000000-0000-0000-0000-000000000000".to_string());
    match graph.credential_sign_in(&probe).await {
        Ok(crate::graph::LastUse::Known(_)) => Retention {
            days: RETENTION_P1_DAYS,
            reason: "Entra ID P1/P2 keeps audit logs 30 days".into(),
        },
        _ => Retention {
            days: RETENTION_FREE_DAYS,
            reason: "Entra ID Free keeps audit logs 7 days, and P1/P2 could not be confirmed"
                .into(),
        },
    }
}

/// The change feed of the last `days` days from the chosen source, with impact and findings.
pub async fn collect(
    graph: &GraphClient,
    opts: CollectOptions<'_>,
) -> Result<AuditReport, AuditError> {
    let days = opts.days.max(1);
    let mut first_subscription = false;
    let (retention, mut rows) = match opts.source {
        Source::Graph => {
            let retention = graph_retention(graph).await;
            let covered = days.min(retention.days);
            let since = opts.now - Duration::days(covered);
            let records = graph_source::fetch(graph, since).await?;
            (retention, graph_source::rows(&records))
        }
        Source::Office365 => {
            let Some(client) = &opts.office365 else {
                return Err(AuditError::Unsupported(
                    "the office365 audit source needs the Management Activity API's URL (--office365-url)".into(),
                ));
            };
            let retention = Retention {
                days: office365_source::RETENTION_DAYS,
                reason: "the Management Activity API lists content of the last 7 days".into(),
            };
            let covered = days.min(retention.days);
            let since = opts.now - Duration::days(covered);
            let (records, subscription) = client.fetch(since, opts.now).await?;
            first_subscription = subscription == office365_source::Subscription::Started;
            (retention, graph_source::rows(&records))
        }
    };
    let covered_days = days.min(retention.days);
    let mut notes = crate::impact::Notes::default();
    if first_subscription {
        notes.push(format!(
            "the Audit.AzureActiveDirectory subscription was only just started: Microsoft documents up to {} hours \
             before its first content appears, so changes may be missing until then",
            office365_source::FIRST_SUBSCRIPTION_DELAY_HOURS
        ));
    }
    let facts = gather_facts(graph, &mut rows, &mut notes).await;
    findings::mark_by_keyturn(&mut rows, opts.journal);
    findings::apply(&mut rows, &facts, &opts.policy);
    // Ties broken by what the row is, not by the log's record id: both sources list the same rows in one order.
    rows.sort_by(|a, b| {
        b.activity_date_time
            .cmp(&a.activity_date_time)
            .then_with(|| a.target_object_id.cmp(&b.target_object_id))
            .then_with(|| a.key_id.cmp(&b.key_id))
            .then_with(|| a.activity.as_str().cmp(b.activity.as_str()))
    });
    Ok(AuditReport {
        generated_at: opts.now,
        source: opts.source,
        requested_days: days,
        covered_days,
        retention,
        rows,
        notes: notes.into_vec(),
        first_subscription,
    })
}

//! Removing one credential (a client secret or a certificate) as an action of its own, typically one flagged
//! unused: the plan (what goes, its last use, whether it is the app's last valid credential), the confirmation
//! rules, the journaled Graph call, and the reconciliation a start does for a removal a crash cut off.
//!
//! Confirmation: the operator types the app's display name; when the credential is the app's last valid one and the
//! app signed in within the `unused_days` window (or its last use cannot be read), a second typed confirmation is
//! required too, because removing it stops whatever still signs in as the app.
//!
//! Secrets go through `removePassword`; certificates through a PATCH of `keyCredentials` without them (see
//! `graph::credentials`: `removeKey` needs a proof JWT signed by one of the app's own certificates).
pub mod cli;

use crate::graph::{Application, GraphClient, GraphError, KeyId, ObjectId, ObjectType};
use crate::impact::{self, AppRef, ImpactError, LastUseState};
use crate::inventory::{self, CredentialType, Entry, Status, Thresholds, rfc3339};
use crate::safe_text::Safe;
use crate::store::journal::{Journal, JournalError, NewRemoval, RemovalEntry, RemovalState};
use chrono::{DateTime, Duration, Utc};

/// What the operator types as the second confirmation when removing an app's last valid credential.
pub const LAST_CREDENTIAL_PHRASE: &str = "remove the last one";

#[derive(Debug, thiserror::Error)]
pub enum RemovalError {
    #[error(transparent)]
    App(#[from] ImpactError),
    #[error(
        "{app} has no credential with keyId {key_id}: `keyturn show` lists its credentials and their keyIds"
    )]
    NoSuchCredential { app: String, key_id: String },
    #[error("the session is read-only: nothing is removed")]
    ReadOnly,
    #[error(
        "the typed name does not match the app's display name {expected:?}: nothing was removed"
    )]
    NameMismatch { expected: String },
    #[error(
        "{key_id} is the last valid credential of {app}, which signed in within {days} days (or its last use is unknown): \
         removing it stops whatever still signs in as the app. Confirm that a second time to go ahead; nothing was removed"
    )]
    SecondConfirmationMissing {
        app: String,
        key_id: String,
        days: i64,
    },
    #[error("the journal could not record the removal, so nothing was removed: {0}")]
    Journal(#[from] JournalError),
}

/// What a removal would do, shown before anyone confirms.
#[derive(Debug, Clone, PartialEq)]
pub struct RemovalPlan {
    pub app: AppRef,
    pub key_id: KeyId,
    pub credential_type: CredentialType,
    pub credential_name: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub status: Status,
    pub last_use: LastUseState,
    /// This credential's last sign-in (`None`: never, or unknown: see `last_use`).
    pub last_sign_in: Option<DateTime<Utc>>,
    /// The latest sign-in of any credential of the app.
    pub app_last_sign_in: Option<DateTime<Utc>>,
    pub unused: bool,
    pub unused_days: i64,
    /// Valid credentials (now) that stay on the app.
    pub other_valid: usize,
    /// Valid now, the only one valid, and the app signed in within the window (or that is unknown).
    pub needs_second_confirmation: bool,
}

impl RemovalPlan {
    /// The credential is valid now and no other valid one stays.
    pub fn is_last_valid(&self) -> bool {
        self.status != Status::Expired && self.other_valid == 0
    }

    /// "signed in 3 days ago", "never signed in", "unknown (...)", for the confirmation.
    pub fn last_use_text(&self, now: DateTime<Utc>) -> String {
        match (self.last_sign_in, &self.last_use) {
            (Some(t), _) => format!("signed in {}", crate::clock::ago(t, now)),
            (None, LastUseState::Known) => "never signed in (per the sign-in report)".into(),
            (None, LastUseState::Unknown(why)) => format!("unknown ({why})"),
        }
    }

    /// The plan as text (CLI and TUI): what goes, its last use, and what the confirmation needs.
    pub fn lines(&self, now: DateTime<Utc>) -> Vec<String> {
        let plan = self;
        // Short lines: the TUI's dialog shows them as they are.
        let mut lines = vec![
            format!(
                "Remove the {} {} of {}.",
                plan.credential_type.as_str(),
                Safe(plan.credential_name.as_deref().unwrap_or("(no name)")),
                Safe(&plan.app.display_name),
            ),
            format!("keyId {} · appId {}", plan.key_id, plan.app.app_id),
            format!(
                "Status {}, ends {}.",
                plan.status.as_str(),
                plan.end.map(rfc3339).unwrap_or_else(|| "never".into())
            ),
            format!("Last use: {}.", plan.last_use_text(now)),
        ];
        if plan.unused {
            lines.push(format!(
                "Unused: no sign-in for {} days; keyturn suggests removing it.",
                plan.unused_days
            ));
        }
        lines.push(match plan.other_valid {
            0 if plan.is_last_valid() => "It is the app's LAST valid credential.".into(),
            0 => "No other valid credential stays on the app.".into(),
            n => format!("{n} other valid credential(s) stay on the app."),
        });
        if plan.needs_second_confirmation {
            lines.push(format!(
                "The app signed in within {} days: a second confirmation follows.",
                plan.unused_days
            ));
        }
        lines
    }

    /// The confirmation rules: the app's display name typed exactly, and for the last valid credential of an app
    /// that signed in within the window, the second phrase too.
    pub fn check_confirmation(
        &self,
        typed_name: &str,
        second: Option<&str>,
    ) -> Result<(), RemovalError> {
        if typed_name.trim() != self.app.display_name.trim()
            || self.app.display_name.trim().is_empty()
        {
            return Err(RemovalError::NameMismatch {
                expected: self.app.display_name.clone(),
            });
        }
        if self.needs_second_confirmation && second.map(str::trim) != Some(LAST_CREDENTIAL_PHRASE) {
            return Err(RemovalError::SecondConfirmationMissing {
                app: self.app.display_name.clone(),
                key_id: self.key_id.to_string(),
                days: self.unused_days,
            });
        }
        Ok(())
    }
}

/// Build the plan from the app as read now and its last-use facts.
pub fn plan_from(
    app: Application,
    key_id: &KeyId,
    facts: &impact::ImpactFacts,
    now: DateTime<Utc>,
    thresholds: Thresholds,
) -> Result<RemovalPlan, RemovalError> {
    let app_ref = AppRef {
        object_type: ObjectType::Application,
        object_id: app.id.clone(),
        app_id: app.app_id.clone(),
        display_name: app.display_name.clone().unwrap_or_default(),
        created: app.created_date_time,
    };
    let entry = Entry::from_application(app);
    let rows = inventory::credential_rows(std::slice::from_ref(&entry), now, thresholds);
    let same = |k: &KeyId| k.as_str().eq_ignore_ascii_case(key_id.as_str());
    let Some(row) = rows.iter().find(|r| same(r.key_id)) else {
        return Err(RemovalError::NoSuchCredential {
            app: app_ref.display_name,
            key_id: key_id.to_string(),
        });
    };
    let valid_now = |start: Option<DateTime<Utc>>, status: Status| {
        status != Status::Expired && start.is_none_or(|s| s <= now)
    };
    let other_valid = rows
        .iter()
        .filter(|r| !same(r.key_id) && valid_now(r.start_date_time, r.status))
        .count();
    let known = facts.last_use_known();
    let last_sign_in = facts.last_sign_in_of(row.key_id);
    let app_last_sign_in = rows
        .iter()
        .filter_map(|r| facts.last_sign_in_of(r.key_id))
        .max();
    let window = now - Duration::days(facts.unused_days);
    let signed_in_recently = !known || app_last_sign_in.is_some_and(|t| t >= window);
    let last_valid = valid_now(row.start_date_time, row.status) && other_valid == 0;
    Ok(RemovalPlan {
        key_id: row.key_id.clone(),
        credential_type: row.credential_type,
        credential_name: row.credential_name.map(str::to_owned),
        start: row.start_date_time,
        end: row.end_date_time,
        status: row.status,
        unused: facts.is_unused(row.key_id, row.start_date_time, now),
        last_use: facts.last_use.clone(),
        last_sign_in,
        app_last_sign_in,
        unused_days: facts.unused_days,
        other_valid,
        needs_second_confirmation: last_valid && signed_in_recently,
        app: app_ref,
    })
}

/// Read the app and its last use, and plan the removal of one of its credentials.
pub async fn plan(
    graph: &GraphClient,
    app: &str,
    key_id: &KeyId,
    unused_days: i64,
    now: DateTime<Utc>,
    thresholds: Thresholds,
) -> Result<RemovalPlan, RemovalError> {
    let application = impact::resolve_app(graph, app).await?;
    let facts = impact::facts(graph, &application.app_id, unused_days).await;
    plan_from(application, key_id, &facts, now, thresholds)
}

/// Who and where, for the journal.
#[derive(Debug, Clone, Default)]
pub struct RemovalContext {
    pub tenant_id: Option<String>,
    pub profile: Option<String>,
    pub operator: String,
}

/// How a removal ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovalOutcome {
    pub removal_id: i64,
    pub state: RemovalState,
    /// Every keyId that went (a certificate's Sign and Verify entries).
    pub removed: Vec<KeyId>,
    pub detail: Option<String>,
}

/// Whether the app still has the credential (by keyId, secrets and certificates).
fn has_credential(app: &Application, key_id: &KeyId) -> bool {
    let same = |k: &KeyId| k.as_str().eq_ignore_ascii_case(key_id.as_str());
    app.password_credentials.iter().any(|p| same(&p.key_id))
        || app.key_credentials.iter().any(|k| same(&k.key_id))
}

/// Journal the approved removal, call Graph, journal the outcome. A refusal is recorded as `Failed` (after checking
/// the credential really is still there: an answer lost on the way may hide a removal that happened).
pub async fn execute(
    graph: &GraphClient,
    journal: &Journal,
    plan: &RemovalPlan,
    ctx: &RemovalContext,
    now: DateTime<Utc>,
) -> Result<RemovalOutcome, RemovalError> {
    let id = journal.create_removal(
        &NewRemoval {
            tenant_id: ctx.tenant_id.clone(),
            profile: ctx.profile.clone(),
            object_type: plan.app.object_type,
            app_object_id: plan.app.object_id.clone(),
            app_id: plan.app.app_id.clone(),
            app_name: plan.app.display_name.clone(),
            key_id: plan.key_id.clone(),
            credential_type: plan.credential_type.as_str().to_string(),
            credential_name: plan.credential_name.clone(),
            end: plan.end,
            last_sign_in: plan.last_sign_in,
            last_use_known: plan.last_use == LastUseState::Known,
            last_valid: plan.needs_second_confirmation,
            operator: ctx.operator.clone(),
        },
        now,
    )?;
    if std::env::var_os(PAUSE_ENV).is_some() {
        // Test hook: journaled, nothing sent yet; wait here to be killed.
        tracing::warn!("{PAUSE_ENV} is set: pausing after journaling removal {id}");
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
    let sent = match plan.credential_type {
        CredentialType::Secret => graph
            .remove_password(plan.app.object_type, &plan.app.object_id, &plan.key_id)
            .await
            .map(|()| vec![plan.key_id.clone()]),
        CredentialType::Certificate => {
            graph
                .remove_key_credential(plan.app.object_type, &plan.app.object_id, &plan.key_id)
                .await
        }
    };
    let (state, removed, detail) = match sent {
        Ok(removed) if removed.is_empty() => (
            RemovalState::Removed,
            removed,
            Some("it was already gone".to_string()),
        ),
        Ok(removed) => (RemovalState::Removed, removed, None),
        Err(e) => match still_there(graph, &plan.app.object_id, &plan.key_id).await {
            Some(false) => (
                RemovalState::Removed,
                vec![plan.key_id.clone()],
                Some(format!("Graph answered {e}, but the credential is gone")),
            ),
            _ => (RemovalState::Failed, Vec::new(), Some(e.to_string())),
        },
    };
    journal.finish_removal(id, state, detail.as_deref(), &removed, now)?;
    Ok(RemovalOutcome {
        removal_id: id,
        state,
        removed,
        detail,
    })
}

/// `Some(true)` still on the app, `Some(false)` gone (or the app is), `None` could not tell.
async fn still_there(graph: &GraphClient, app: &ObjectId, key_id: &KeyId) -> Option<bool> {
    match graph.find_application(app.as_str()).await {
        Ok(a) => Some(has_credential(&a, key_id)),
        Err(GraphError::NotFound { .. }) => Some(false),
        Err(_) => None,
    }
}

/// Hidden test hook: after journaling a removal, sleep instead of calling Graph (so a test can kill the process).
pub const PAUSE_ENV: &str = "KEYTURN_TEST_PAUSE_REMOVAL";

/// At start: finish the journal rows of removals a crash cut off (this tenant's only), by looking at the app.
/// One line per reconciled removal, for the start banner or stderr.
pub async fn reconcile(
    graph: &GraphClient,
    journal: &Journal,
    tenant_id: &str,
    now: DateTime<Utc>,
) -> Vec<String> {
    let open = match journal.interrupted_removals() {
        Ok(o) => o,
        Err(e) => return vec![format!("interrupted removals could not be read: {e}")],
    };
    let mut lines = Vec::new();
    for e in open.iter().filter(|e| {
        e.removal
            .tenant_id
            .as_deref()
            .is_none_or(|t| tenant_id.is_empty() || t.eq_ignore_ascii_case(tenant_id))
    }) {
        lines.push(reconcile_one(graph, journal, e, now).await);
    }
    lines
}

async fn reconcile_one(
    graph: &GraphClient,
    journal: &Journal,
    e: &RemovalEntry,
    now: DateTime<Utc>,
) -> String {
    let r = &e.removal;
    let what = format!(
        "removal {} of {} {} of {}",
        e.id,
        r.credential_type,
        r.key_id,
        crate::safe_text::terminal(&r.app_name)
    );
    let (state, detail) = match still_there(graph, &r.app_object_id, &r.key_id).await {
        Some(false) => (
            RemovalState::Removed,
            "interrupted; the credential is gone: recorded as removed",
        ),
        Some(true) => (
            RemovalState::NotRemoved,
            "interrupted before Graph answered; the credential is still on the app: nothing changed, remove it again if still wanted",
        ),
        None => {
            return format!(
                "{what} was interrupted and the app could not be read: checked again at the next start"
            );
        }
    };
    let removed = if state == RemovalState::Removed {
        vec![r.key_id.clone()]
    } else {
        Vec::new()
    };
    match journal.finish_removal(e.id, state, Some(detail), &removed, now) {
        Ok(()) => format!("{what} was {detail}"),
        Err(x) => format!("{what}: the journal could not be updated: {x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::impact::ImpactFacts;
    use chrono::TimeZone;
    use std::collections::HashMap;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 8, 0, 0).unwrap()
    }

    fn app(secrets: &[(&str, i64, i64)]) -> Application {
        let creds: Vec<serde_json::Value> = secrets
            .iter()
            .map(|(k, start_days, end_days)| {
                serde_json::json!({
                    "keyId": k,
                    "displayName": format!("secret {k}"),
                    "startDateTime": (now() + Duration::days(*start_days)).to_rfc3339(),
                    "endDateTime": (now() + Duration::days(*end_days)).to_rfc3339(),
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "id": "obj-1",
            "appId": "app-1",
            "displayName": "Backup Daemon",
            "passwordCredentials": creds,
            "keyCredentials": [],
        }))
        .unwrap()
    }

    fn facts(known: bool, sign_ins: &[(&str, i64)]) -> ImpactFacts {
        ImpactFacts {
            last_use: if known {
                LastUseState::Known
            } else {
                LastUseState::Unknown("last use unknown: needs Entra ID P1".into())
            },
            last_sign_in: sign_ins
                .iter()
                .map(|(k, days_ago)| (KeyId::new(*k), now() - Duration::days(*days_ago)))
                .collect::<HashMap<_, _>>(),
            permissions: Vec::new(),
            has_service_principal: Some(true),
            permissions_unknown: None,
            unused_days: 90,
        }
    }

    fn plan_of(a: Application, key: &str, f: &ImpactFacts) -> RemovalPlan {
        plan_from(a, &KeyId::new(key), f, now(), Thresholds::default()).unwrap()
    }

    #[test]
    fn an_unused_secret_beside_a_valid_one_needs_only_the_name() {
        let p = plan_of(
            app(&[("a", -400, 300), ("b", -10, 700)]),
            "a",
            &facts(true, &[("b", 1)]),
        );
        assert!(p.unused);
        assert_eq!(p.other_valid, 1);
        assert!(!p.needs_second_confirmation);
        assert!(p.check_confirmation("Backup Daemon", None).is_ok());
        assert!(matches!(
            p.check_confirmation("Backup", None),
            Err(RemovalError::NameMismatch { .. })
        ));
        assert!(matches!(
            p.check_confirmation("", None),
            Err(RemovalError::NameMismatch { .. })
        ));
    }

    #[test]
    fn the_last_valid_secret_of_an_app_in_use_needs_the_second_phrase() {
        // "b" expired; "a" is the only valid one and the app signed in 3 days ago.
        let p = plan_of(
            app(&[("a", -400, 300), ("b", -800, -5)]),
            "a",
            &facts(true, &[("a", 3)]),
        );
        assert!(p.is_last_valid());
        assert!(p.needs_second_confirmation);
        assert!(matches!(
            p.check_confirmation("Backup Daemon", None),
            Err(RemovalError::SecondConfirmationMissing { .. })
        ));
        assert!(matches!(
            p.check_confirmation("Backup Daemon", Some("yes")),
            Err(RemovalError::SecondConfirmationMissing { .. })
        ));
        assert!(
            p.check_confirmation("Backup Daemon", Some(LAST_CREDENTIAL_PHRASE))
                .is_ok()
        );
    }

    #[test]
    fn unknown_last_use_counts_as_in_use_and_a_quiet_app_needs_no_second_phrase() {
        let only = app(&[("a", -400, 300)]);
        assert!(plan_of(only.clone(), "a", &facts(false, &[])).needs_second_confirmation);
        // Known, and nothing signed in within 90 days.
        let quiet = plan_of(only.clone(), "a", &facts(true, &[("a", 200)]));
        assert!(quiet.is_last_valid());
        assert!(!quiet.needs_second_confirmation);
        // Removing an expired one never needs it.
        let expired = plan_of(
            app(&[("a", -400, -1), ("b", -400, 30)]),
            "a",
            &facts(true, &[("b", 1)]),
        );
        assert!(!expired.needs_second_confirmation);
        assert!(matches!(
            plan_from(
                only,
                &KeyId::new("zz"),
                &facts(true, &[]),
                now(),
                Thresholds::default()
            ),
            Err(RemovalError::NoSuchCredential { .. })
        ));
    }
}

//! The plan: everything the confirmation screen shows (docs/ARCHITECTURE.md section 4), built from Graph and the vault
//! before anything is changed, and approved only by typing the app's display name.
use super::ports::{GraphApi, VaultApi};
use crate::graph::{AppId, GraphError, KeyId, LifetimeCap, ObjectId};
use crate::keyvault::mapping::{self, MappingEntry, MappingSource, ResolvedMapping, TagMatch};
use crate::keyvault::{
    DeletedSecretInfo, KeyVaultError, SecretTarget, TAG_CREDENTIAL_ID, VersionInfo,
    soft_deleted_advice,
};
use chrono::{DateTime, Duration, Utc};
use std::fmt;

/// Lifetimes keyturn accepts: the same bound as the config's `lifetime_days` (Entra's portal maximum, 24
/// months). The tenant's app management policy may still refuse a shorter one (addPassword then fails and nothing
/// changes).
pub const MAX_LIFETIME_DAYS: i64 = 730;
pub const PORTAL_MAX_LIFETIME_DAYS: i64 = 730;
/// `keep_old_days` when the profile does not set it.
pub const DEFAULT_KEEP_OLD_DAYS: i64 = 7;

/// What happens to the old credential once the new one is proven. It is never removed before that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldDisposition {
    /// Remove it as soon as the new secret is proven (`--remove-old`, or the old one has already expired).
    RemoveWhenProven,
    /// Keep it on the app until this date (never past its own end), for consumers that cache the value; it is then
    /// a pending removal that `keyturn cleanup` (or the TUI) finishes after its checks.
    KeepUntil(DateTime<Utc>),
}

impl fmt::Display for OldDisposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OldDisposition::RemoveWhenProven => {
                f.write_str("remove it once the new secret is proven (a sign-in with it succeeded)")
            }
            OldDisposition::KeepUntil(d) => write!(
                f,
                "keep it until {}, then remove it with keyturn cleanup (never before the new secret is proven)",
                d.format("%Y-%m-%d %H:%M UTC")
            ),
        }
    }
}

/// What the operator asked for; the plan turns it into an [`OldDisposition`] with the old secret's end date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldChoice {
    /// `--remove-old`.
    RemoveWhenProven,
    /// `--keep-old DAYS`, or the profile's `keep_old_days` when neither flag is given.
    KeepDays(i64),
    /// Bare `--keep-old`: until the old secret's own end.
    KeepUntilEnd,
}

impl OldChoice {
    /// The disposition for an old secret ending at `old_end`: never kept past its own end, and an old secret
    /// that already expired is removed once the new one is proven (nothing can be using it).
    pub fn resolve(self, old_end: Option<DateTime<Utc>>, now: DateTime<Utc>) -> OldDisposition {
        if old_end.is_some_and(|end| end <= now) {
            return OldDisposition::RemoveWhenProven;
        }
        let until = match self {
            OldChoice::RemoveWhenProven => return OldDisposition::RemoveWhenProven,
            OldChoice::KeepDays(d) => {
                let wanted = now + Duration::days(d.clamp(0, MAX_LIFETIME_DAYS));
                old_end.map_or(wanted, |end| wanted.min(end))
            }
            // No end date (Graph always sends one): keep for the default span rather than forever.
            OldChoice::KeepUntilEnd => {
                old_end.unwrap_or(now + Duration::days(DEFAULT_KEEP_OLD_DAYS))
            }
        };
        OldDisposition::KeepUntil(until)
    }
}

/// What the operator asked for.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    /// appId or application object id.
    pub app: String,
    /// keyId of the client secret to replace.
    pub key_id: KeyId,
    /// Vault and secret given explicitly (flags, or typed on the plan screen); otherwise the mapping decides.
    pub target: Option<(SecretTarget, MappingSource)>,
    pub lifetime_days: i64,
    pub old_choice: OldChoice,
    /// Who runs keyturn (a person); part of the new credential's name.
    pub operator: String,
    /// The identity keyturn is signed in as (an app, a user, a managed identity), shown next to the person.
    pub signed_in_as: String,
    /// Explicit mappings from the config file.
    pub mappings: Vec<MappingEntry>,
    /// The profile's vaults whose tags are searched.
    pub vaults: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSummary {
    pub object_id: ObjectId,
    pub app_id: AppId,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OldCredential {
    pub key_id: KeyId,
    pub display_name: Option<String>,
    pub hint: Option<String>,
    pub end: Option<DateTime<Utc>>,
    /// Whole days until `end` (floor; negative when expired).
    pub days_left: Option<i64>,
}

/// The vault secret the new value goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTarget {
    pub target: SecretTarget,
    pub source: MappingSource,
    /// The latest version now; `None` when the secret does not exist yet (it will be created).
    pub current: Option<VersionInfo>,
    /// When the secret does not exist: a soft-deleted secret of that name, which Key Vault would not let the
    /// rotation write (409) until it is recovered or purged. Such a plan cannot be approved.
    pub deleted: Option<DeletedSecretInfo>,
}

impl PlannedTarget {
    /// Read the target's current version and, when there is none, whether a deleted secret holds the name. Reads
    /// only. A vault that does not let this identity read deleted secrets answers nothing here; the write would
    /// then be refused and rolled back with the same explanation.
    pub async fn read<V: VaultApi>(
        vault: &V,
        target: SecretTarget,
        source: MappingSource,
    ) -> Result<PlannedTarget, KeyVaultError> {
        let current = vault.latest(&target).await?;
        let deleted = if current.is_none() {
            match vault.deleted(&target).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(secret = %target, error = %e, "cannot tell whether a deleted secret holds the name");
                    None
                }
            }
        } else {
            None
        };
        Ok(PlannedTarget {
            target,
            source,
            current,
            deleted,
        })
    }
}

/// Everything the confirmation screen shows. Nothing has been changed when one exists.
#[derive(Debug, Clone, PartialEq)]
pub struct RotationPlan {
    pub app: AppSummary,
    pub old: OldCredential,
    /// `keyturn <date> <operator>`.
    pub new_display_name: String,
    pub new_end: DateTime<Utc>,
    pub lifetime_days: i64,
    /// The tenant's `passwordLifetime` restriction, when it shortened the lifetime asked for.
    pub lifetime_cap: Option<CappedLifetime>,
    /// `None`: no mapping found, or more than one (see `candidates`); the screen asks for vault and secret
    /// (`set_target`), the CLI for `--vault` and `--secret-name`.
    pub target: Option<PlannedTarget>,
    /// Every vault secret whose tags claim the credential when more than one does: keyturn chooses none of them.
    pub candidates: Vec<ResolvedMapping>,
    pub old_disposition: OldDisposition,
    pub operator: String,
    /// Who approves: the operator at the keyboard, by typing the app's display name.
    pub approver: String,
    /// The app's client secrets now: anything that appears later with our name is ours.
    pub known_key_ids: Vec<KeyId>,
    /// Things the operator should read before approving.
    pub warnings: Vec<String>,
    pub planned_at: DateTime<Utc>,
}

/// A lifetime shortened by the tenant's app management policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CappedLifetime {
    pub requested_days: i64,
    pub cap: LifetimeCap,
}

impl CappedLifetime {
    /// "capped by tenant policy to 90 days (180 asked for)".
    pub fn describe(&self) -> String {
        let by = if self.cap.source == "tenant policy" {
            "tenant policy".to_string()
        } else {
            format!("tenant policy ({})", self.cap.source)
        };
        format!(
            "capped by {by} to {} days ({} asked for)",
            self.cap.days(),
            self.requested_days
        )
    }
}

/// The lifetime a new secret gets: what was asked for, shortened to the policy's whole days when it allows less
/// (a cap under one day is kept exact).
pub fn capped_lifetime(
    requested_days: i64,
    cap: Option<LifetimeCap>,
) -> (Duration, Option<CappedLifetime>) {
    let requested = Duration::days(requested_days);
    match cap {
        Some(cap) if cap.max_lifetime < requested => {
            let allowed = if cap.days() >= 1 {
                Duration::days(cap.days())
            } else {
                cap.max_lifetime
            };
            (
                allowed,
                Some(CappedLifetime {
                    requested_days,
                    cap,
                }),
            )
        }
        _ => (requested, None),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read the app: {0}")]
    Graph(#[from] GraphError),
    #[error("the app {app} has no client secret with keyId {key_id}; its secrets are: {available}")]
    CredentialNotFound {
        app: String,
        key_id: KeyId,
        available: String,
    },
    #[error(
        "keyId {key_id} is a certificate of {app}; keyturn rotates client secrets only (renew certificates where they are issued)"
    )]
    IsCertificate { app: String, key_id: KeyId },
    #[error("a lifetime of {days} days is out of range: use 1 to {MAX_LIFETIME_DAYS} days")]
    LifetimeOutOfRange { days: i64 },
    #[error("the vault secret cannot be used: {0}")]
    Vault(#[from] KeyVaultError),
    #[error(
        "no vault secret is known for this credential: give --vault and --secret-name, add a mapping to the config file, or tag the secret with ProviderAddress={object_id} and CredentialId={key_id}"
    )]
    NoTarget { object_id: ObjectId, key_id: KeyId },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("type the app's display name exactly ({expected:?}) to approve")]
    NameMismatch { expected: String },
    #[error("no vault secret chosen: enter the vault URL and secret name before approving")]
    NoTarget,
    #[error(
        "the vault secret {target} is soft-deleted: Key Vault refuses to write a deleted secret's name (409 Conflict, ObjectIsDeletedButRecoverable) until it is recovered or purged, so nothing was changed; {advice}"
    )]
    SoftDeleted { target: String, advice: String },
}

/// A plan a human approved. Only the executor consumes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovedPlan {
    pub plan: RotationPlan,
    pub target: PlannedTarget,
    pub approver: String,
}

impl RotationPlan {
    /// What must be typed to approve.
    pub fn confirmation_text(&self) -> &str {
        &self.app.display_name
    }

    /// For the screen: does what is typed so far approve? (Exact, after trimming surrounding spaces.)
    pub fn confirms(&self, typed: &str) -> bool {
        typed.trim() == self.app.display_name
    }

    /// Approve by typing the app's display name (the confirmation screen).
    pub fn approve(self, typed: &str) -> Result<ApprovedPlan, ApprovalError> {
        if !self.confirms(typed) {
            return Err(ApprovalError::NameMismatch {
                expected: self.app.display_name.clone(),
            });
        }
        self.approve_by_flag()
    }

    /// Approve without typing: `keyturn rotate --yes` (the operator approved on the command line).
    pub fn approve_by_flag(self) -> Result<ApprovedPlan, ApprovalError> {
        let target = self.target.clone().ok_or(ApprovalError::NoTarget)?;
        if target.deleted.is_some() {
            return Err(ApprovalError::SoftDeleted {
                target: target.target.to_string(),
                advice: soft_deleted_advice(&target.target.vault_url, &target.target.name),
            });
        }
        let approver = self.approver.clone();
        Ok(ApprovedPlan {
            plan: self,
            target,
            approver,
        })
    }

    /// The operator changed what happens to the old secret (plan screen): capped at its own end, and an expired
    /// one is removed once the new one is proven whatever was asked.
    pub fn set_old_disposition(&mut self, d: OldDisposition) {
        self.old_disposition = match d {
            OldDisposition::RemoveWhenProven => OldDisposition::RemoveWhenProven,
            OldDisposition::KeepUntil(until) => match self.old.end {
                Some(end) if end <= self.planned_at => OldDisposition::RemoveWhenProven,
                Some(end) => OldDisposition::KeepUntil(until.min(end)),
                None => OldDisposition::KeepUntil(until),
            },
        };
        self.refresh_warnings();
    }

    /// `set_old_disposition` from a choice (remove once proven, keep N days, keep until its end).
    pub fn choose_old(&mut self, choice: OldChoice) {
        self.old_disposition = choice.resolve(self.old.end, self.planned_at);
        self.refresh_warnings();
    }

    /// Use this vault secret (typed in on the screen): validated, and its current version read so the plan shows
    /// it. A secret that does not exist yet is fine (it will be created); a vault that refuses is not.
    pub async fn set_target<V: VaultApi>(
        &mut self,
        vault: &V,
        target: SecretTarget,
        source: MappingSource,
    ) -> Result<(), PlanError> {
        self.target = Some(PlannedTarget::read(vault, target, source).await?);
        self.refresh_warnings();
        Ok(())
    }

    fn refresh_warnings(&mut self) {
        let mut w = Vec::new();
        if let Some(c) = &self.lifetime_cap {
            w.push(format!(
                "the new secret's lifetime is {}: the tenant's app management policy (passwordLifetime) allows no more",
                c.describe()
            ));
        }
        if self.old.days_left.is_some_and(|d| d < 0) {
            w.push(
                "the old secret has already expired: whatever still uses it is failing now"
                    .to_string(),
            );
        }
        if self.lifetime_days > PORTAL_MAX_LIFETIME_DAYS {
            w.push(format!(
                "a lifetime of {} days is beyond the portal's 24 months; the tenant's policy may refuse it",
                self.lifetime_days
            ));
        }
        if self.target.is_none() && self.candidates.len() > 1 {
            w.push(format!(
                "{} vault secrets claim this credential by their tags, and anyone who can tag a secret in a listed vault can make such a claim: choose one explicitly",
                self.candidates.len()
            ));
            for c in &self.candidates {
                w.push(format!("candidate: {} (from {})", c.target, c.source));
            }
        }
        if let Some(t) = &self.target {
            match &t.current {
                None if t.deleted.is_some() => w.push(format!(
                    "the secret {} was deleted and is kept recoverable{}: Key Vault refuses to write its name until it is recovered or purged, so this plan cannot run; {}",
                    t.target,
                    t.deleted
                        .as_ref()
                        .and_then(|d| d.purge_on)
                        .map(|p| format!(" until {}", p.format("%Y-%m-%d")))
                        .unwrap_or_default(),
                    soft_deleted_advice(&t.target.vault_url, &t.target.name)
                )),
                None => w.push(format!(
                    "the secret {} does not exist yet: it will be created, and nothing reads it today",
                    t.target
                )),
                Some(v) => match v.tag(TAG_CREDENTIAL_ID) {
                    Some(k) if !k.eq_ignore_ascii_case(self.old.key_id.as_str()) => w.push(format!(
                        "the vault secret's current version is tagged for credential {k}, not for the one being rotated ({}): check that this is the right secret",
                        self.old.key_id
                    )),
                    _ => {}
                },
            }
            if t.source == MappingSource::ProviderTag {
                w.push(
                    "the vault secret was matched by its ProviderAddress tag only (it has no CredentialId tag)"
                        .to_string(),
                );
            }
        }
        if let (OldDisposition::KeepUntil(d), Some(end)) = (self.old_disposition, self.old.end)
            && d >= end
        {
            w.push(format!(
                "the old secret is kept until its own end ({}), not longer",
                end.format("%Y-%m-%d")
            ));
        }
        if self.old.end.is_some_and(|end| end <= self.planned_at) {
            w.push(
                "the old secret has expired, so it is removed as soon as the new one is proven"
                    .to_string(),
            );
        }
        self.warnings = w;
    }
}

/// `keyturn 2025-06-01 alice`: the date and the operator, so the portal shows who made it and when.
pub fn new_credential_name(now: DateTime<Utc>, operator: &str) -> String {
    let op = operator.trim();
    let op = if op.is_empty() { "unknown" } else { op };
    format!("keyturn {} {}", now.format("%Y-%m-%d"), op)
}

/// Build the plan: read the app, find the old credential, resolve the vault secret (flags, config, tags) and read
/// its current version. Changes nothing.
pub async fn build_plan<G: GraphApi, V: VaultApi>(
    graph: &G,
    vault: &V,
    req: &PlanRequest,
    now: DateTime<Utc>,
) -> Result<RotationPlan, PlanError> {
    if !(1..=MAX_LIFETIME_DAYS).contains(&req.lifetime_days) {
        return Err(PlanError::LifetimeOutOfRange {
            days: req.lifetime_days,
        });
    }
    let app = graph.find_application(req.app.trim()).await?;
    let display_name = app
        .display_name
        .clone()
        .unwrap_or_else(|| app.app_id.to_string());
    let Some(old) = app
        .password_credentials
        .iter()
        .find(|c| c.key_id.as_str().eq_ignore_ascii_case(req.key_id.as_str()))
    else {
        if app
            .key_credentials
            .iter()
            .any(|c| c.key_id.as_str().eq_ignore_ascii_case(req.key_id.as_str()))
        {
            return Err(PlanError::IsCertificate {
                app: display_name,
                key_id: req.key_id.clone(),
            });
        }
        let available = app
            .password_credentials
            .iter()
            .map(|c| {
                format!(
                    "{} ({})",
                    c.key_id,
                    c.display_name.as_deref().unwrap_or("no name")
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        return Err(PlanError::CredentialNotFound {
            app: display_name,
            key_id: req.key_id.clone(),
            available: if available.is_empty() {
                "none".into()
            } else {
                available
            },
        });
    };

    let (target, candidates) = match &req.target {
        Some((t, source)) => (Some((t.clone(), *source)), Vec::new()),
        None => resolve_target(vault, req, &app.id, &app.app_id, &old.key_id).await?,
    };
    let target = match target {
        Some((t, source)) => Some(PlannedTarget::read(vault, t, source).await?),
        None => None,
    };

    let cap = graph
        .password_lifetime_cap(&app.id, app.created_date_time)
        .await;
    let (lifetime, lifetime_cap) = capped_lifetime(req.lifetime_days, cap);
    let mut plan = RotationPlan {
        app: AppSummary {
            object_id: app.id.clone(),
            app_id: app.app_id.clone(),
            display_name,
        },
        old: OldCredential {
            key_id: old.key_id.clone(),
            display_name: old.display_name.clone(),
            hint: old.hint.clone(),
            end: old.end_date_time,
            days_left: old
                .end_date_time
                .map(|end| (end - now).num_seconds().div_euclid(86_400)),
        },
        new_display_name: new_credential_name(now, &req.operator),
        new_end: now + lifetime,
        lifetime_days: lifetime.num_days(),
        lifetime_cap,
        target,
        candidates,
        old_disposition: req.old_choice.resolve(old.end_date_time, now),
        operator: req.operator.clone(),
        approver: if req.signed_in_as.trim().is_empty() {
            req.operator.clone()
        } else {
            format!("{} (signed in as {})", req.operator, req.signed_in_as)
        },
        known_key_ids: app
            .password_credentials
            .iter()
            .map(|c| c.key_id.clone())
            .collect(),
        warnings: Vec::new(),
        planned_at: now,
    };
    plan.refresh_warnings();
    Ok(plan)
}

/// The chosen target, or the candidates when tags disagree.
type Resolved = (Option<(SecretTarget, MappingSource)>, Vec<ResolvedMapping>);

/// Config entries first, then tags in the listed vaults. A vault that cannot be listed is skipped (the operator
/// may lack list rights there) rather than failing the plan. More than one claim by tags chooses nothing.
async fn resolve_target<V: VaultApi>(
    vault: &V,
    req: &PlanRequest,
    object_id: &ObjectId,
    app_id: &AppId,
    key_id: &KeyId,
) -> Result<Resolved, PlanError> {
    if let Some(m) = mapping::from_config(&req.mappings, object_id, app_id) {
        let m = m?;
        return Ok((Some((m.target, m.source)), Vec::new()));
    }
    let mut all = Vec::new();
    for v in &req.vaults {
        match vault.list_secrets(v).await {
            Ok(list) => all.extend(list),
            Err(e) => {
                tracing::warn!(vault = %v, error = %e, "cannot list secrets for the tag mapping")
            }
        }
    }
    Ok(match mapping::from_tags(&all, object_id, key_id) {
        TagMatch::One(m) => (Some((m.target, m.source)), Vec::new()),
        TagMatch::Ambiguous(all) => (None, all),
        TagMatch::None => (None, Vec::new()),
    })
}

#[cfg(test)]
mod tests {
    use super::super::fakes::{FakeGraph, FakeVault};
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()
    }

    fn request(days: i64) -> PlanRequest {
        PlanRequest {
            app: "app-1".into(),
            key_id: KeyId::new("old-key"),
            target: None,
            lifetime_days: days,
            old_choice: OldChoice::RemoveWhenProven,
            operator: "alice".into(),
            signed_in_as: String::new(),
            mappings: Vec::new(),
            vaults: Vec::new(),
        }
    }

    fn cap(days: i64) -> LifetimeCap {
        LifetimeCap {
            max_lifetime: Duration::days(days),
            source: "tenant policy".into(),
        }
    }

    async fn plan_under(cap_days: Option<i64>, asked: i64) -> RotationPlan {
        let graph = FakeGraph::default();
        graph.add_app(
            "obj-1",
            "app-1",
            "Payroll",
            &[("old-key", "OLDvalue-123", now() + Duration::days(3))],
        );
        if let Some(d) = cap_days {
            graph.set_lifetime_cap(cap(d));
        }
        build_plan(&graph, &FakeVault::default(), &request(asked), now())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_tenant_lifetime_policy_caps_the_new_end_and_the_plan_says_so() {
        let p = plan_under(Some(90), 180).await;
        assert_eq!(p.lifetime_days, 90);
        assert_eq!(p.new_end, now() + Duration::days(90));
        let said: Vec<&String> = p
            .warnings
            .iter()
            .filter(|w| w.contains("capped by tenant policy to 90 days (180 asked for)"))
            .collect();
        assert_eq!(said.len(), 1, "{:?}", p.warnings);
    }

    #[tokio::test]
    async fn a_looser_policy_or_none_changes_nothing() {
        for cap_days in [None, Some(365), Some(180)] {
            let p = plan_under(cap_days, 180).await;
            assert_eq!(p.lifetime_days, 180, "{cap_days:?}");
            assert_eq!(p.new_end, now() + Duration::days(180));
            assert_eq!(p.lifetime_cap, None);
            assert!(!p.warnings.iter().any(|w| w.contains("capped")));
        }
    }

    #[test]
    fn a_cap_under_a_day_is_kept_exact() {
        let short = LifetimeCap {
            max_lifetime: Duration::hours(12),
            source: "app policy Strict".into(),
        };
        let (d, c) = capped_lifetime(30, Some(short));
        assert_eq!(d, Duration::hours(12));
        assert_eq!(
            c.unwrap().describe(),
            "capped by tenant policy (app policy Strict) to 0 days (30 asked for)"
        );
        // P4DT12H30M5S allows a 4-day secret.
        let odd = LifetimeCap {
            max_lifetime: Duration::seconds(4 * 86_400 + 45_005),
            source: "tenant policy".into(),
        };
        assert_eq!(capped_lifetime(30, Some(odd)).0, Duration::days(4));
    }
}

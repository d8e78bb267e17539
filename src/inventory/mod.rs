//! The inventory: every credential of every app registration and service principal, classified against a clock.
//! Pure functions over Graph models; the loader that fills it lives in `load`.
pub mod coverage;
pub mod load;
pub mod sync;
pub mod timeline;

pub use coverage::{Coverage, CoverageStatus, Covered};

use crate::graph::{
    AppId, Application, KeyCredential, KeyId, ObjectId, ObjectType, PasswordCredential,
    ServicePrincipal,
};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::cmp::Ordering;

/// Expiry status, worst first (the derived order sorts expired before ok).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Expired,
    Critical,
    Warning,
    Ok,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Expired,
        Status::Critical,
        Status::Warning,
        Status::Ok,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Expired => "expired",
            Status::Critical => "critical",
            Status::Warning => "warning",
            Status::Ok => "ok",
        }
    }

    /// A symbol that carries the status without colour (NO_COLOR, monochrome terminals, screen readers).
    pub fn symbol(self) -> &'static str {
        match self {
            Status::Expired => "✖",
            Status::Critical => "▲",
            Status::Warning => "●",
            Status::Ok => "✔",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialType {
    Secret,
    Certificate,
}

impl CredentialType {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialType::Secret => "secret",
            CredentialType::Certificate => "certificate",
        }
    }
}

/// Warning and critical windows in days (`--warn-days`, `--critical-days`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub warn_days: i64,
    pub critical_days: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            warn_days: 30,
            critical_days: 7,
        }
    }
}

/// Classify an end date: expired when `end <= now`, critical within `critical_days`, warning within `warn_days`.
/// A credential without an end date never expires.
pub fn classify(end: Option<DateTime<Utc>>, now: DateTime<Utc>, t: Thresholds) -> Status {
    match end {
        None => Status::Ok,
        Some(end) if end <= now => Status::Expired,
        Some(end) if within(end, now, t.critical_days) => Status::Critical,
        Some(end) if within(end, now, t.warn_days) => Status::Warning,
        Some(_) => Status::Ok,
    }
}

/// `end <= now + days`, without overflowing: a window past the last representable date holds every end.
fn within(end: DateTime<Utc>, now: DateTime<Utc>, days: i64) -> bool {
    match Duration::try_days(days).and_then(|d| now.checked_add_signed(d)) {
        Some(limit) => end <= limit,
        None => days > 0,
    }
}

/// The largest `--warn-days`/`--critical-days` (and profile `warn_days`/`critical_days`) accepted: 100 years.
pub const MAX_THRESHOLD_DAYS: i64 = 36_500;

/// Whole days left, rounded down (negative once expired): 2.5 days left is 2, half a day ago is -1, and so is a
/// millisecond ago (a sub-second remainder counts: truncating it toward zero would say 0 for an expired credential).
pub fn days_left(end: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let left = end - now;
    let whole = left.num_days();
    match Duration::try_days(whole) {
        Some(d) if left < d => whole - 1,
        _ => whole,
    }
}

/// The first instant after `now` at which a credential of `entry` changes status (an end date's warning or
/// critical window opens, or it expires) or becomes valid (its start date). Until then, every classification of
/// the entry made at `now` still holds; `None` when nothing will change.
pub fn next_transition(entry: &Entry, now: DateTime<Utc>, t: Thresholds) -> Option<DateTime<Utc>> {
    let before = |end: DateTime<Utc>, days: i64| {
        Duration::try_days(days).and_then(|d| end.checked_sub_signed(d))
    };
    entry
        .credentials
        .iter()
        .flat_map(|c| {
            [
                c.start,
                c.end.and_then(|e| before(e, t.warn_days)),
                c.end.and_then(|e| before(e, t.critical_days)),
                c.end,
            ]
        })
        .flatten()
        .filter(|&at| at > now)
        .min()
}

/// One credential of one object, as `check` reports it and the detail view lists it. (Serialised only into the
/// inventory cache's snapshot, where dates are numbers so a warm start parses no date text.)
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Credential {
    pub credential_type: CredentialType,
    pub key_id: KeyId,
    pub name: Option<String>,
    #[serde(with = "exact_time")]
    pub start: Option<DateTime<Utc>>,
    #[serde(with = "exact_time")]
    pub end: Option<DateTime<Utc>>,
    /// For certificates: the thumbprint (`customKeyIdentifier`) and the usages merged from Sign/Verify entries.
    pub thumbprint: Option<String>,
    pub usages: Vec<String>,
    pub hint: Option<String>,
}

/// Dates as (seconds, nanoseconds): exact to Graph's 100 ns, and valid far beyond the year 2262 that a single i64
/// of nanoseconds would reach (Entra accepts end dates such as 2299-12-31).
mod exact_time {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        d.map(|d| (d.timestamp(), d.timestamp_subsec_nanos()))
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<(i64, u32)>::deserialize(d)? {
            None => Ok(None),
            Some((secs, nanos)) => DateTime::from_timestamp(secs, nanos)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom("date out of range")),
        }
    }
}

/// An app registration or service principal with its credentials (certificate Sign/Verify pairs merged).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Entry {
    pub object_type: ObjectType,
    pub object_id: ObjectId,
    pub app_id: AppId,
    pub display_name: String,
    pub credentials: Vec<Credential>,
}

impl Entry {
    pub fn from_application(app: Application) -> Self {
        Self::build(
            ObjectType::Application,
            app.id,
            app.app_id,
            app.display_name,
            app.password_credentials,
            app.key_credentials,
        )
    }

    pub fn from_service_principal(sp: ServicePrincipal) -> Self {
        Self::build(
            ObjectType::ServicePrincipal,
            sp.id,
            sp.app_id,
            sp.display_name,
            sp.password_credentials,
            sp.key_credentials,
        )
    }

    fn build(
        object_type: ObjectType,
        object_id: ObjectId,
        app_id: AppId,
        display_name: Option<String>,
        secrets: Vec<PasswordCredential>,
        keys: Vec<KeyCredential>,
    ) -> Self {
        let mut credentials: Vec<Credential> = secrets
            .into_iter()
            .map(|p| Credential {
                credential_type: CredentialType::Secret,
                key_id: p.key_id,
                name: p.display_name,
                start: p.start_date_time,
                end: p.end_date_time,
                thumbprint: None,
                usages: Vec::new(),
                hint: p.hint,
            })
            .collect();
        credentials.extend(merge_certificates(keys));
        credentials.sort_by(|a, b| cmp_end(a.end, b.end).then_with(|| a.key_id.cmp(&b.key_id)));
        Self {
            object_type,
            object_id,
            app_id,
            display_name: display_name.unwrap_or_default(),
            credentials,
        }
    }

    /// The earliest end date among its credentials.
    pub fn soonest_expiry(&self) -> Option<DateTime<Utc>> {
        self.credentials.iter().filter_map(|c| c.end).min()
    }

    pub fn secret_count(&self) -> usize {
        self.credentials
            .iter()
            .filter(|c| c.credential_type == CredentialType::Secret)
            .count()
    }

    pub fn certificate_count(&self) -> usize {
        self.credentials.len() - self.secret_count()
    }
}

/// The Sign and Verify entries of one certificate share `customKeyIdentifier`: show one certificate. Entries without
/// a thumbprint stay separate.
fn merge_certificates(keys: Vec<KeyCredential>) -> Vec<Credential> {
    let mut out: Vec<Credential> = Vec::new();
    for k in keys {
        let thumb = k.custom_key_identifier.clone().filter(|t| !t.is_empty());
        if let Some(t) = &thumb
            && let Some(existing) = out
                .iter_mut()
                .find(|c| c.thumbprint.as_deref() == Some(t.as_str()))
        {
            if let Some(u) = k.usage
                && !existing.usages.contains(&u)
            {
                existing.usages.push(u);
            }
            // Keep the Verify entry's keyId: that is the one an operator sees in the portal.
            continue;
        }
        out.push(Credential {
            credential_type: CredentialType::Certificate,
            key_id: k.key_id,
            name: k.display_name,
            start: k.start_date_time,
            end: k.end_date_time,
            thumbprint: thumb,
            usages: k.usage.into_iter().collect(),
            hint: None,
        });
    }
    out
}

/// End dates ascending, a missing one (never expires) last.
fn cmp_end(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// One row of the `check` report: one credential, classified. It borrows its text from the [`Entry`] it came from,
/// so the rows of a whole tenant add no copy of the names and ids.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialRow<'a> {
    pub object_type: ObjectType,
    pub object_id: &'a ObjectId,
    pub app_id: &'a AppId,
    pub display_name: &'a str,
    pub credential_type: CredentialType,
    pub key_id: &'a KeyId,
    pub credential_name: Option<&'a str>,
    #[serde(serialize_with = "rfc3339_opt")]
    pub start_date_time: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rfc3339_opt")]
    pub end_date_time: Option<DateTime<Utc>>,
    pub days_left: Option<i64>,
    pub status: Status,
}

/// RFC 3339 UTC with a `Z` and whole seconds, as the JSON contract says.
pub fn rfc3339(d: DateTime<Utc>) -> String {
    d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn rfc3339_opt<S: serde::Serializer>(d: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&rfc3339(*d)),
        None => s.serialize_none(),
    }
}

/// Every credential as a classified row, sorted by end date ascending, ties by app display name then keyId.
pub fn credential_rows(
    entries: &[Entry],
    now: DateTime<Utc>,
    t: Thresholds,
) -> Vec<CredentialRow<'_>> {
    let mut rows: Vec<CredentialRow<'_>> = unsorted_rows(entries, now, t).collect();
    rows.sort_by(report_order);
    rows
}

/// The rows of [`credential_rows`], unsorted: for counting (the expiry timeline) without a sort.
pub fn unsorted_rows<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    now: DateTime<Utc>,
    t: Thresholds,
) -> impl Iterator<Item = CredentialRow<'a>> {
    entries.into_iter().flat_map(move |e| {
        e.credentials.iter().map(move |c| CredentialRow {
            object_type: e.object_type,
            object_id: &e.object_id,
            app_id: &e.app_id,
            display_name: &e.display_name,
            credential_type: c.credential_type,
            key_id: &c.key_id,
            credential_name: c.name.as_deref(),
            start_date_time: c.start,
            end_date_time: c.end,
            days_left: c.end.map(|end| days_left(end, now)),
            status: classify(c.end, now, t),
        })
    })
}

/// The order of `check`'s rows: end date ascending (no end date last), ties by app display name then keyId.
pub fn report_order(a: &CredentialRow, b: &CredentialRow) -> Ordering {
    cmp_end(a.end_date_time, b.end_date_time)
        .then_with(|| a.display_name.cmp(b.display_name))
        .then_with(|| a.key_id.cmp(b.key_id))
}

/// What the main list shows per app.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Worst status over its credentials (`Ok` for an app without credentials).
    pub status: Status,
    pub soonest: Option<DateTime<Utc>>,
    pub days_left: Option<i64>,
    /// The latest end date among credentials still valid now: automations keep working until then if they use it.
    pub covered_until: Option<DateTime<Utc>>,
    /// An expired or expiring credential sits beside a healthy one of the same type: the old one can be removed.
    pub old_not_cleaned_up: bool,
}

impl Summary {
    pub fn of(entry: &Entry, now: DateTime<Utc>, t: Thresholds) -> Self {
        let soonest = entry.soonest_expiry();
        let status = entry
            .credentials
            .iter()
            .map(|c| classify(c.end, now, t))
            .min()
            .unwrap_or(Status::Ok);
        let covered_until = entry
            .credentials
            .iter()
            .filter(|c| c.end.is_none_or(|e| e > now))
            .filter_map(|c| c.end)
            .max();
        let old_not_cleaned_up = [CredentialType::Secret, CredentialType::Certificate]
            .iter()
            .any(|ty| {
                let of_type = || {
                    entry
                        .credentials
                        .iter()
                        .filter(|c| c.credential_type == *ty)
                };
                of_type().any(|c| classify(c.end, now, t) != Status::Ok)
                    && of_type().any(|c| classify(c.end, now, t) == Status::Ok)
            });
        Self {
            status,
            soonest,
            days_left: soonest.map(|s| days_left(s, now)),
            covered_until,
            old_not_cleaned_up,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn thresholds_past_the_last_date_never_panic() {
        let far = Utc.with_ymd_and_hms(2299, 12, 31, 0, 0, 0).unwrap();
        for days in [100_000_000, i64::MAX] {
            let t = Thresholds {
                warn_days: days,
                critical_days: days,
            };
            assert_eq!(classify(Some(far), now(), t), Status::Critical, "{days}");
        }
        // 100 years from 2026 end before 2299.
        let t = Thresholds {
            warn_days: MAX_THRESHOLD_DAYS,
            critical_days: 0,
        };
        assert_eq!(classify(Some(far), now(), t), Status::Ok);
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
    }

    fn secret(id: &str, end_days: f64) -> PasswordCredential {
        PasswordCredential {
            key_id: KeyId::new(id),
            display_name: Some(format!("s-{id}")),
            hint: None,
            start_date_time: None,
            end_date_time: Some(now() + Duration::seconds((end_days * 86_400.0) as i64)),
            custom_key_identifier: None,
        }
    }

    fn app(name: &str, secrets: Vec<PasswordCredential>, keys: Vec<KeyCredential>) -> Entry {
        Entry::from_application(Application {
            id: ObjectId::new(format!("obj-{name}")),
            app_id: AppId::new(format!("app-{name}")),
            display_name: Some(name.into()),
            created_date_time: None,
            sign_in_audience: None,
            password_credentials: secrets,
            key_credentials: keys,
        })
    }

    #[test]
    fn classification_boundaries() {
        let t = Thresholds::default();
        let n = now();
        assert_eq!(classify(Some(n), n, t), Status::Expired);
        assert_eq!(
            classify(Some(n + Duration::seconds(1)), n, t),
            Status::Critical
        );
        assert_eq!(
            classify(Some(n + Duration::days(7)), n, t),
            Status::Critical
        );
        assert_eq!(
            classify(Some(n + Duration::days(7) + Duration::seconds(1)), n, t),
            Status::Warning
        );
        assert_eq!(
            classify(Some(n + Duration::days(30)), n, t),
            Status::Warning
        );
        assert_eq!(classify(Some(n + Duration::days(31)), n, t), Status::Ok);
        assert_eq!(classify(None, n, t), Status::Ok);
    }

    #[test]
    fn days_left_floors() {
        let n = now();
        assert_eq!(days_left(n + Duration::hours(60), n), 2);
        assert_eq!(days_left(n - Duration::hours(12), n), -1);
        assert_eq!(days_left(n, n), 0);
        assert_eq!(days_left(n - Duration::days(3), n), -3);
        // Sub-second remainders count: a millisecond past an end is the day before it.
        assert_eq!(days_left(n - Duration::milliseconds(1), n), -1);
        assert_eq!(
            days_left(n - Duration::days(365) - Duration::milliseconds(400), n),
            -366
        );
        assert_eq!(days_left(n + Duration::milliseconds(1), n), 0);
        assert_eq!(
            days_left(n + Duration::days(2) - Duration::nanoseconds(1), n),
            1
        );
    }

    #[test]
    fn next_transition_is_the_next_window_start_or_end() {
        let t = Thresholds::default();
        let n = now();
        let e = app("x", vec![secret("a", 40.0), secret("b", -1.0)], vec![]);
        let end = n + Duration::days(40);
        assert_eq!(next_transition(&e, n, t), Some(end - Duration::days(30)));
        let later = end - Duration::days(30);
        assert_eq!(next_transition(&e, later, t), Some(end - Duration::days(7)));
        assert_eq!(next_transition(&e, end, t), None);
        // Classifications made at `n` hold until the transition, and one changes at it.
        let at = next_transition(&e, n, t).unwrap();
        let statuses = |when| {
            e.credentials
                .iter()
                .map(|c| classify(c.end, when, t))
                .collect::<Vec<_>>()
        };
        assert_eq!(statuses(n), statuses(at - Duration::nanoseconds(1)));
        assert_ne!(statuses(n), statuses(at));
    }

    #[test]
    fn rows_sorted_by_end_then_name_then_key() {
        let entries = vec![
            app("b", vec![secret("2", 5.0), secret("1", 5.0)], vec![]),
            app("a", vec![secret("9", 5.0), secret("3", -1.0)], vec![]),
        ];
        let rows = credential_rows(&entries, now(), Thresholds::default());
        let keys: Vec<_> = rows
            .iter()
            .map(|r| (r.display_name, r.key_id.as_str()))
            .collect();
        assert_eq!(keys, vec![("a", "3"), ("a", "9"), ("b", "1"), ("b", "2")]);
        assert_eq!(rows[0].status, Status::Expired);
        assert_eq!(rows[0].days_left, Some(-1));
    }

    #[test]
    fn sign_and_verify_pair_is_one_certificate() {
        let end = Some(now() + Duration::days(100));
        let k = |id: &str, usage: &str, thumb: &str| KeyCredential {
            key_id: KeyId::new(id),
            display_name: Some("CN=payroll".into()),
            key_type: Some("AsymmetricX509Cert".into()),
            usage: Some(usage.into()),
            start_date_time: None,
            end_date_time: end,
            custom_key_identifier: Some(thumb.into()),
        };
        let e = app(
            "c",
            vec![],
            vec![
                k("v", "Verify", "T1"),
                k("s", "Sign", "T1"),
                k("o", "Verify", "T2"),
            ],
        );
        assert_eq!(e.certificate_count(), 2);
        let merged = e
            .credentials
            .iter()
            .find(|c| c.thumbprint.as_deref() == Some("T1"))
            .unwrap();
        assert_eq!(
            merged.usages,
            vec!["Verify".to_string(), "Sign".to_string()]
        );
    }

    #[test]
    fn coverage_and_cleanup_flag() {
        let e = app("x", vec![secret("old", 3.0), secret("new", 300.0)], vec![]);
        let s = Summary::of(&e, now(), Thresholds::default());
        assert_eq!(s.status, Status::Critical);
        assert_eq!(s.days_left, Some(3));
        assert_eq!(
            s.covered_until,
            e.credentials.iter().filter_map(|c| c.end).max()
        );
        assert!(s.old_not_cleaned_up);
        let lone = app("y", vec![secret("only", 3.0)], vec![]);
        assert!(!Summary::of(&lone, now(), Thresholds::default()).old_not_cleaned_up);
        let empty = app("z", vec![], vec![]);
        let s = Summary::of(&empty, now(), Thresholds::default());
        assert_eq!(
            (s.status, s.soonest, s.covered_until),
            (Status::Ok, None, None)
        );
    }

    #[test]
    fn expired_ones_do_not_cover() {
        let e = app("x", vec![secret("a", -10.0), secret("b", -1.0)], vec![]);
        let s = Summary::of(&e, now(), Thresholds::default());
        assert_eq!(s.covered_until, None);
        assert_eq!(s.status, Status::Expired);
    }
}

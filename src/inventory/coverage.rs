//! Triage by coverage: an app's status follows when it stops working, not when its oldest credential ends. An app
//! keeps signing in as long as one of its credentials is valid (started and not ended), so it is covered until the
//! latest end among its valid credentials; expired credentials beside a valid one are leftovers ("stale"), not an
//! outage. `check` keeps classifying each credential on its own (one row per credential): this is the per-app view.
use super::{Entry, Status, Thresholds, classify};
use chrono::{DateTime, Utc};

/// An app's status by coverage, worst first (the derived order sorts broken before ok).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CoverageStatus {
    /// It has credentials but none is valid now: sign-ins with them fail.
    Broken,
    /// Coverage ends within the critical window.
    Critical,
    /// Coverage ends within the warning window.
    Warning,
    /// Covered beyond the warning window, covered by a credential that never ends, or nothing that can expire.
    Ok,
}

impl CoverageStatus {
    pub const ALL: [CoverageStatus; 4] = [
        CoverageStatus::Broken,
        CoverageStatus::Critical,
        CoverageStatus::Warning,
        CoverageStatus::Ok,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CoverageStatus::Broken => "broken",
            CoverageStatus::Critical => "critical",
            CoverageStatus::Warning => "warning",
            CoverageStatus::Ok => "ok",
        }
    }

    /// A symbol that carries the status without colour.
    pub fn symbol(self) -> &'static str {
        self.severity().symbol()
    }

    /// The credential status of the same urgency (broken is as urgent as expired): for styles.
    pub fn severity(self) -> Status {
        match self {
            CoverageStatus::Broken => Status::Expired,
            CoverageStatus::Critical => Status::Critical,
            CoverageStatus::Warning => Status::Warning,
            CoverageStatus::Ok => Status::Ok,
        }
    }
}

impl std::fmt::Display for CoverageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long an app keeps working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Covered {
    /// Until this instant: the latest end among its valid credentials.
    Until(DateTime<Utc>),
    /// A valid credential has no end date.
    Forever,
    /// No secret or certificate at all: nothing can expire (managed identity, federated credentials, a public
    /// client). Not broken: keyturn has nothing to rotate there, and an admin would not want it paged.
    NoCredentials,
    /// Credentials, none valid now. `since`: the latest end already passed (when it stopped working), if any; a
    /// credential that has not started yet does not cover either.
    Broken { since: Option<DateTime<Utc>> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coverage {
    pub covered: Covered,
    pub status: CoverageStatus,
    /// Expired credentials of an app that is still covered: left over, to clean up. Zero for a broken app, whose
    /// expired credentials are the outage itself.
    pub stale: usize,
}

impl Coverage {
    pub fn of(entry: &Entry, now: DateTime<Utc>, t: Thresholds) -> Self {
        let creds = &entry.credentials;
        let valid = creds
            .iter()
            .filter(|c| c.start.is_none_or(|s| s <= now) && c.end.is_none_or(|e| e > now));
        let mut forever = false;
        let mut until: Option<DateTime<Utc>> = None;
        for c in valid {
            match c.end {
                None => forever = true,
                Some(e) => until = until.max(Some(e)),
            }
        }
        let expired = || creds.iter().filter_map(|c| c.end).filter(|&e| e <= now);
        let covered = if creds.is_empty() {
            Covered::NoCredentials
        } else if forever {
            Covered::Forever
        } else if let Some(u) = until {
            Covered::Until(u)
        } else {
            Covered::Broken {
                since: expired().max(),
            }
        };
        let status = match covered {
            Covered::Broken { .. } => CoverageStatus::Broken,
            Covered::Until(u) => match classify(Some(u), now, t) {
                Status::Critical => CoverageStatus::Critical,
                Status::Warning => CoverageStatus::Warning,
                // Not expired: a valid credential ends after now.
                Status::Ok | Status::Expired => CoverageStatus::Ok,
            },
            Covered::Forever | Covered::NoCredentials => CoverageStatus::Ok,
        };
        let stale = match covered {
            Covered::Broken { .. } => 0,
            _ => expired().count(),
        };
        Self {
            covered,
            status,
            stale,
        }
    }

    /// The date the list sorts and counts days by: when coverage ends, or when it ended for a broken app.
    pub fn date(&self) -> Option<DateTime<Utc>> {
        match self.covered {
            Covered::Until(d) => Some(d),
            Covered::Broken { since } => since,
            Covered::Forever | Covered::NoCredentials => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::KeyId;
    use crate::graph::{AppId, Application, ObjectId, PasswordCredential};
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
    }

    fn secret(id: &str, start_days: i64, end_days: Option<i64>) -> PasswordCredential {
        PasswordCredential {
            key_id: KeyId::new(id),
            display_name: None,
            hint: None,
            start_date_time: Some(now() + Duration::days(start_days)),
            end_date_time: end_days.map(|d| now() + Duration::days(d)),
            custom_key_identifier: None,
        }
    }

    fn app(secrets: Vec<PasswordCredential>) -> Entry {
        Entry::from_application(Application {
            id: ObjectId::new("o"),
            app_id: AppId::new("a"),
            display_name: Some("x".into()),
            created_date_time: None,
            sign_in_audience: None,
            password_credentials: secrets,
            key_credentials: vec![],
        })
    }

    fn of(secrets: Vec<PasswordCredential>) -> Coverage {
        Coverage::of(&app(secrets), now(), Thresholds::default())
    }

    #[test]
    fn status_follows_the_latest_valid_end() {
        let c = of(vec![
            secret("old", -400, Some(-3)),
            secret("new", -2, Some(20)),
        ]);
        assert_eq!(c.covered, Covered::Until(now() + Duration::days(20)));
        assert_eq!((c.status, c.stale), (CoverageStatus::Warning, 1));
        let c = of(vec![secret("a", -10, Some(5)), secret("b", -10, Some(100))]);
        assert_eq!((c.status, c.stale), (CoverageStatus::Ok, 0));
        let c = of(vec![secret("a", -10, Some(5))]);
        assert_eq!(c.status, CoverageStatus::Critical);
    }

    #[test]
    fn nothing_valid_is_broken_and_no_credentials_is_not() {
        let c = of(vec![
            secret("a", -400, Some(-30)),
            secret("b", -400, Some(-3)),
        ]);
        assert_eq!(
            c.covered,
            Covered::Broken {
                since: Some(now() - Duration::days(3))
            }
        );
        assert_eq!((c.status, c.stale), (CoverageStatus::Broken, 0));
        // A credential that has not started yet does not cover today.
        let c = of(vec![secret("a", -400, Some(-3)), secret("b", 2, Some(300))]);
        assert_eq!(c.status, CoverageStatus::Broken);
        let c = of(vec![]);
        assert_eq!(
            (c.covered, c.status),
            (Covered::NoCredentials, CoverageStatus::Ok)
        );
        let c = of(vec![secret("a", -400, Some(-3)), secret("b", -400, None)]);
        assert_eq!(
            (c.covered, c.status, c.stale),
            (Covered::Forever, CoverageStatus::Ok, 1)
        );
    }
}

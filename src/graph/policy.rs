//! Tenant and app management policies: the `passwordLifetime` restriction caps how long a new client secret may
//! live. An app with its own assigned `appManagementPolicy` follows it instead of the tenant default (Entra assigns
//! at most one per app); a policy or a restriction that is not enabled does not apply.
use super::client::{GraphClient, Op, urlencode};
use super::error::GraphError;
use super::ids::ObjectId;
use super::signins::lenient_date;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};

pub mod ops {
    use super::Op;
    pub const DEFAULT_POLICY: Op = Op {
        name: "read the tenant's app management policy",
        permission: "Policy.Read.ApplicationConfiguration (or Policy.Read.All)",
        idempotent: true,
    };
    pub const APP_POLICIES: Op = Op {
        name: "read the app's own app management policy",
        permission: "Application.Read.All and Policy.Read.All",
        idempotent: true,
    };
}

/// One entry of `passwordCredentials` in a policy's restrictions (`passwordCredentialConfiguration`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredentialConfiguration {
    pub restriction_type: String,
    /// ISO 8601 duration, e.g. `P90D`.
    pub max_lifetime: Option<String>,
    #[serde(default, deserialize_with = "lenient_date")]
    pub restrict_for_apps_created_after_date_time: Option<DateTime<Utc>>,
    /// `enabled`, `disabled`; absent means enabled (older policies have no state).
    pub state: Option<String>,
}

/// `appManagementConfiguration` (and the tenant policy's `applicationRestrictions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AppManagementConfiguration {
    #[serde(default)]
    pub password_credentials: Vec<PasswordCredentialConfiguration>,
}

/// `GET /policies/defaultAppManagementPolicy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantAppManagementPolicy {
    pub id: Option<String>,
    pub display_name: Option<String>,
    #[serde(default)]
    pub is_enabled: bool,
    #[serde(default)]
    pub application_restrictions: AppManagementConfiguration,
}

/// An `appManagementPolicy` assigned to an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppManagementPolicy {
    pub id: Option<String>,
    pub display_name: Option<String>,
    #[serde(default)]
    pub is_enabled: bool,
    #[serde(default)]
    pub restrictions: AppManagementConfiguration,
}

/// The longest a new client secret of one app may live, and which policy says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifetimeCap {
    pub max_lifetime: Duration,
    /// "tenant policy" or "app policy <name>".
    pub source: String,
}

impl LifetimeCap {
    /// Whole days the cap allows (floor: a cap of 4 days 12 hours allows a 4-day secret).
    pub fn days(&self) -> i64 {
        self.max_lifetime.num_days()
    }
}

/// An ISO 8601 duration (`P90D`, `P4DT12H30M5S`, `P1Y`, `P2W`). Years count 365 days and months 28, so a cap read
/// from them is never longer than the service's.
pub fn parse_iso8601_duration(s: &str) -> Option<Duration> {
    let rest = s.trim().strip_prefix('P')?;
    if rest.is_empty() {
        return None;
    }
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut total = Duration::zero();
    let mut parse_part = |part: &str, units: &[(char, i64)]| -> Option<()> {
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
                continue;
            }
            let secs = units.iter().find(|(u, _)| *u == c)?.1;
            let n: f64 = num.parse().ok()?;
            num.clear();
            total += Duration::milliseconds((n * secs as f64 * 1000.0) as i64);
        }
        num.is_empty().then_some(())
    };
    const DAY: i64 = 86_400;
    parse_part(
        date,
        &[
            ('Y', 365 * DAY),
            ('M', 28 * DAY),
            ('W', 7 * DAY),
            ('D', DAY),
        ],
    )?;
    if let Some(t) = time {
        parse_part(t, &[('H', 3600), ('M', 60), ('S', 1)])?;
    }
    Some(total)
}

/// Apps whose creation date is unknown count as created on 2019-01-01, as Entra treats them.
fn created_or_default(created: Option<DateTime<Utc>>) -> DateTime<Utc> {
    created.unwrap_or_else(|| {
        Utc.with_ymd_and_hms(2019, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_default()
    })
}

fn lifetime_of(
    config: &AppManagementConfiguration,
    app_created: DateTime<Utc>,
) -> Option<Duration> {
    config
        .password_credentials
        .iter()
        .filter(|r| r.restriction_type == "passwordLifetime")
        .filter(|r| r.state.as_deref().is_none_or(|s| s == "enabled"))
        .filter(|r| {
            r.restrict_for_apps_created_after_date_time
                .is_none_or(|after| app_created > after)
        })
        .filter_map(|r| r.max_lifetime.as_deref().and_then(parse_iso8601_duration))
        .min()
}

/// The `passwordLifetime` cap for an app created at `app_created`: its own enabled policy if it has one, else the
/// tenant default when enabled.
pub fn password_lifetime_cap(
    tenant: Option<&TenantAppManagementPolicy>,
    app_policies: &[AppManagementPolicy],
    app_created: Option<DateTime<Utc>>,
) -> Option<LifetimeCap> {
    let created = created_or_default(app_created);
    if let Some(p) = app_policies.iter().find(|p| p.is_enabled) {
        return lifetime_of(&p.restrictions, created).map(|max_lifetime| LifetimeCap {
            max_lifetime,
            source: format!(
                "app policy {}",
                p.display_name
                    .as_deref()
                    .or(p.id.as_deref())
                    .unwrap_or("(unnamed)")
            ),
        });
    }
    let t = tenant.filter(|t| t.is_enabled)?;
    lifetime_of(&t.application_restrictions, created).map(|max_lifetime| LifetimeCap {
        max_lifetime,
        source: "tenant policy".to_string(),
    })
}

/// Whether an addPassword refusal is the lifetime policy's ("Credential lifetime exceeds the max value allowed as
/// per assigned policy ...").
pub fn is_lifetime_policy_refusal(e: &GraphError) -> bool {
    matches!(e, GraphError::BadRequest { message, .. }
        if message.to_ascii_lowercase().contains("credential lifetime exceeds"))
}

/// What the operator reads when addPassword was refused by the lifetime policy.
pub fn explain_lifetime_refusal(e: &GraphError) -> Option<String> {
    let GraphError::BadRequest { message, .. } = e else {
        return None;
    };
    is_lifetime_policy_refusal(e).then(|| {
        format!(
            "the tenant's app management policy refused a secret this long ({}): nothing was changed; \
             choose a shorter lifetime (--lifetime-days, or lifetime_days in the profile) within the policy's \
             passwordLifetime, or ask an admin to exempt this app",
            super::error::excerpt(message, 200)
        )
    })
}

impl GraphClient {
    /// `GET /policies/defaultAppManagementPolicy`.
    pub async fn default_app_management_policy(
        &self,
    ) -> Result<TenantAppManagementPolicy, GraphError> {
        let url = self.url("policies/defaultAppManagementPolicy");
        self.get_json(&url, ops::DEFAULT_POLICY).await
    }

    /// The app management policies assigned to an application (by object id).
    pub async fn app_management_policies(
        &self,
        application: &ObjectId,
    ) -> Result<Vec<AppManagementPolicy>, GraphError> {
        let url = self.url(&format!(
            "applications/{}/appManagementPolicies",
            urlencode(application.as_str())
        ));
        self.collect_all(url, ops::APP_POLICIES).await
    }

    /// The lifetime cap for one application, from what is readable: a policy keyturn may not read counts as none
    /// (the addPassword refusal is then explained instead). `None` inside: no cap applies.
    pub async fn password_lifetime_cap(
        &self,
        application: &ObjectId,
        created: Option<DateTime<Utc>>,
    ) -> Option<LifetimeCap> {
        let tenant = match self.default_app_management_policy().await {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::info!(error = %e, "tenant app management policy not readable");
                None
            }
        };
        let own = match self.app_management_policies(application).await {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(error = %e, "app management policies not readable");
                Vec::new()
            }
        };
        password_lifetime_cap(tenant.as_ref(), &own, created)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = include_str!(
        "../../tests/fixtures/microsoft/graph/app_role_assignments_and_app_management_policy/default-app-management-policy.json"
    );
    const APP: &str = include_str!(
        "../../tests/fixtures/microsoft/graph/app_management_policies_of_an_app/app-management-policies.json"
    );

    #[derive(Deserialize)]
    struct Page {
        value: Vec<AppManagementPolicy>,
    }

    fn date(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_iso8601_duration("P90D"), Some(Duration::days(90)));
        assert_eq!(
            parse_iso8601_duration("P4DT12H30M5S"),
            Some(Duration::seconds(4 * 86_400 + 12 * 3600 + 30 * 60 + 5))
        );
        assert_eq!(parse_iso8601_duration("P2W"), Some(Duration::days(14)));
        assert_eq!(parse_iso8601_duration("P1Y"), Some(Duration::days(365)));
        assert_eq!(parse_iso8601_duration("PT36H"), Some(Duration::hours(36)));
        for bad in ["", "P", "90D", "PT", "P1X", "P5"] {
            assert_eq!(parse_iso8601_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn microsofts_tenant_default_parses_and_caps_nothing() {
        let t: TenantAppManagementPolicy = serde_json::from_str(TENANT).unwrap();
        assert!(!t.is_enabled);
        assert!(t.application_restrictions.password_credentials.is_empty());
        assert_eq!(password_lifetime_cap(Some(&t), &[], None), None);
    }

    #[test]
    fn microsofts_app_policy_parses_and_applies_only_when_enabled() {
        let mut page: Page = serde_json::from_str(APP).unwrap();
        assert_eq!(page.value.len(), 1);
        let p = &page.value[0];
        assert!(!p.is_enabled);
        assert_eq!(p.restrictions.password_credentials.len(), 4);
        let created = Some(date(2020, 1, 1));
        assert_eq!(password_lifetime_cap(None, &page.value, created), None);
        page.value[0].is_enabled = true;
        let cap = password_lifetime_cap(None, &page.value, created).unwrap();
        // passwordLifetime P4DT12H30M5S for apps created after 2017-10-19.
        assert_eq!(cap.days(), 4);
        assert_eq!(cap.source, "app policy Custom app management policy");
        // An app created before the restriction's date is not restricted.
        assert_eq!(
            password_lifetime_cap(None, &page.value, Some(date(2016, 1, 1))),
            None
        );
    }

    #[test]
    fn the_apps_own_policy_wins_over_the_tenant_default() {
        let tenant: TenantAppManagementPolicy = serde_json::from_value(serde_json::json!({
            "id": "00000000-0000-0000-0000-000000000000", "isEnabled": true,
            "applicationRestrictions": {"passwordCredentials": [
                {"restrictionType": "passwordLifetime", "maxLifetime": "P90D",
                 "restrictForAppsCreatedAfterDateTime": "2015-01-01T00:00:00Z"}],
                "keyCredentials": []}
        }))
        .unwrap();
        let cap = password_lifetime_cap(Some(&tenant), &[], None).unwrap();
        assert_eq!((cap.days(), cap.source.as_str()), (90, "tenant policy"));
        let mut app: Page = serde_json::from_str(APP).unwrap();
        app.value[0].is_enabled = true;
        let cap = password_lifetime_cap(Some(&tenant), &app.value, Some(date(2024, 1, 1))).unwrap();
        assert_eq!(cap.days(), 4);
        // A disabled restriction is not evaluated.
        let mut off = tenant.clone();
        off.application_restrictions.password_credentials[0].state = Some("disabled".into());
        assert_eq!(password_lifetime_cap(Some(&off), &[], None), None);
    }

    #[test]
    fn a_lifetime_refusal_is_explained() {
        let e = GraphError::BadRequest {
            operation: "addPassword",
            status: 400,
            code: "Request_BadRequest".into(),
            message: "Credential lifetime exceeds the max value allowed as per assigned policy 00000000-0000-0000-0000-000000000000".into(),
        };
        let text = explain_lifetime_refusal(&e).unwrap();
        assert!(text.contains("shorter lifetime"), "{text}");
        assert!(text.contains("Credential lifetime exceeds"), "{text}");
        let other = GraphError::BadRequest {
            operation: "addPassword",
            status: 400,
            code: "x".into(),
            message: "Invalid value".into(),
        };
        assert_eq!(explain_lifetime_refusal(&other), None);
    }
}

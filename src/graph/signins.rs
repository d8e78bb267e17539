//! Last use of credentials and apps: the beta reports `appCredentialSignInActivities` (per keyId) and
//! `servicePrincipalSignInActivities` (per app). Both need AuditLog.Read.All and an Entra ID P1/P2 tenant; a tenant
//! without them answers 403, which [`LastUse::Unavailable`] turns into one sentence the operator can act on.
use super::client::{GraphClient, Op, urlencode};
use super::error::GraphError;
use super::ids::{AppId, KeyId, ObjectId};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// What the operator is told, once, when last-use data cannot be read.
pub const LAST_USE_UNKNOWN: &str = "last use unknown: needs Entra ID P1 and AuditLog.Read.All";

/// The error code Graph answers a tenant without an Entra ID P1/P2 licence with (403).
pub const NON_PREMIUM_TENANT_CODE: &str = "Authentication_RequestFromNonPremiumTenantOrB2CTenant";

pub mod ops {
    use super::Op;
    pub const CREDENTIAL_SIGN_INS: Op = Op {
        name: "read credential sign-in activity (beta reports)",
        permission: "AuditLog.Read.All (and an Entra ID P1 or P2 licence)",
        idempotent: true,
    };
    pub const APP_SIGN_INS: Op = Op {
        name: "read app sign-in activity (beta reports)",
        permission: "AuditLog.Read.All and Directory.Read.All (and an Entra ID P1 or P2 licence)",
        idempotent: true,
    };
}

/// Graph writes dates in RFC 3339, but Microsoft's own samples of these reports write offsets as `-8:00`. Accept a
/// one-digit hour in the offset rather than lose the whole report over it.
pub(crate) fn lenient_date<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let Some(s) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    parse_lenient_date(&s)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("not a date: {s:?}")))
}

pub(crate) fn parse_lenient_date(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    // `...T00:00:00-8:00` -> `...T00:00:00-08:00`
    let sign_at = s.rfind(['+', '-']).filter(|&i| i > 10)?;
    let (head, offset) = s.split_at(sign_at);
    let (hours, minutes) = offset[1..].split_once(':')?;
    if hours.len() != 1 || !hours.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let fixed = format!("{head}{}0{hours}:{minutes}", &offset[..1]);
    DateTime::<FixedOffset>::parse_from_rfc3339(&fixed)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// `signInActivity`: the last sign-in across all flows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SignInActivity {
    #[serde(default, deserialize_with = "lenient_date")]
    pub last_sign_in_date_time: Option<DateTime<Utc>>,
    pub last_sign_in_request_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_date")]
    pub last_successful_sign_in_date_time: Option<DateTime<Utc>>,
    pub last_successful_sign_in_request_id: Option<String>,
}

/// `applicationKeyType`. Microsoft's resource page says `clientSecret`; its list sample says `secret`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ApplicationKeyType {
    #[serde(alias = "secret")]
    ClientSecret,
    Certificate,
    #[serde(other)]
    Unknown,
}

/// `applicationKeyUsage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ApplicationKeyUsage {
    Sign,
    Verify,
    #[serde(other)]
    Unknown,
}

/// `applicationKeyOrigin`: whether the credential is on the app registration or on its service principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CredentialOrigin {
    Application,
    ServicePrincipal,
    #[serde(other)]
    Unknown,
}

/// One `appCredentialSignInActivity`: the last use of one credential (keyId) of one app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppCredentialSignInActivity {
    pub id: Option<String>,
    pub app_id: Option<AppId>,
    pub app_object_id: Option<ObjectId>,
    pub service_principal_object_id: Option<ObjectId>,
    pub resource_id: Option<String>,
    pub key_id: KeyId,
    pub key_type: Option<ApplicationKeyType>,
    pub key_usage: Option<ApplicationKeyUsage>,
    pub credential_origin: Option<CredentialOrigin>,
    #[serde(default, deserialize_with = "lenient_date")]
    pub created_date_time: Option<DateTime<Utc>>,
    /// Microsoft's sample names it `expirationDate`.
    #[serde(default, alias = "expirationDate", deserialize_with = "lenient_date")]
    pub expiration_date_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub sign_in_activity: Option<SignInActivity>,
}

impl AppCredentialSignInActivity {
    pub fn last_sign_in(&self) -> Option<DateTime<Utc>> {
        self.sign_in_activity
            .as_ref()
            .and_then(|s| s.last_sign_in_date_time)
    }
}

/// One `servicePrincipalSignInActivity`: the last sign-ins of an app, by flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipalSignInActivity {
    pub id: Option<String>,
    pub app_id: AppId,
    pub last_sign_in_activity: Option<SignInActivity>,
    /// The app signed in as itself (client credentials): what a client secret is used for.
    pub application_authentication_client_sign_in_activity: Option<SignInActivity>,
    pub application_authentication_resource_sign_in_activity: Option<SignInActivity>,
    pub delegated_client_sign_in_activity: Option<SignInActivity>,
    pub delegated_resource_sign_in_activity: Option<SignInActivity>,
}

impl ServicePrincipalSignInActivity {
    pub fn last_sign_in(&self) -> Option<DateTime<Utc>> {
        self.last_sign_in_activity
            .as_ref()
            .and_then(|s| s.last_sign_in_date_time)
    }
}

/// Last-use data, or the reason it cannot be had (read once, told once).
#[derive(Debug, Clone, PartialEq)]
pub enum LastUse<T> {
    Known(T),
    /// The tenant has no P1/P2 licence or keyturn lacks AuditLog.Read.All: [`LAST_USE_UNKNOWN`] plus Graph's words.
    Unavailable {
        reason: String,
    },
}

impl<T> LastUse<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            LastUse::Known(t) => Some(t),
            LastUse::Unavailable { .. } => None,
        }
    }
}

/// Whether an error of a report call means "this tenant or identity cannot read last use" (licence, permission,
/// or a cloud without the beta reports) rather than a passing failure worth retrying.
pub fn is_last_use_unavailable(e: &GraphError) -> bool {
    match e {
        GraphError::Forbidden { .. } | GraphError::NotFound { .. } => true,
        // A Graph without the beta reports (a national cloud, a proxy, an emulator) names the missing segment.
        GraphError::BadRequest { code, message, .. } => {
            code == NON_PREMIUM_TENANT_CODE
                || message.contains("Resource not found for the segment")
        }
        _ => false,
    }
}

/// The one sentence for an unavailable report: [`LAST_USE_UNKNOWN`] and what Graph said.
pub fn unavailable_reason(e: &GraphError) -> String {
    let detail = match e {
        GraphError::Forbidden { code, message, .. }
        | GraphError::BadRequest { code, message, .. } => {
            if code.is_empty() {
                message.clone()
            } else {
                format!("{code}: {message}")
            }
        }
        GraphError::NotFound { message, .. } => message.clone(),
        other => other.short().to_string(),
    };
    let detail = super::error::excerpt(&detail, 160);
    if detail.trim().is_empty() {
        LAST_USE_UNKNOWN.to_string()
    } else {
        format!("{LAST_USE_UNKNOWN} (Graph said: {detail})")
    }
}

fn last_use<T>(r: Result<T, GraphError>) -> Result<LastUse<T>, GraphError> {
    match r {
        Ok(t) => Ok(LastUse::Known(t)),
        Err(e) if is_last_use_unavailable(&e) => Ok(LastUse::Unavailable {
            reason: unavailable_reason(&e),
        }),
        Err(e) => Err(e),
    }
}

/// A report answered with a collection (the documented shape) or, as Microsoft's filtered samples show, one object.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    Many {
        value: Vec<T>,
        #[serde(rename = "@odata.nextLink", default)]
        next_link: Option<String>,
    },
    One(T),
}

impl GraphClient {
    /// Absolute URL for a beta path: the configured Graph URL's origin (and path) with `/beta`.
    pub fn beta_url(&self, path_and_query: &str) -> String {
        format!(
            "{}/beta/{}",
            self.base_url().trim_end_matches('/'),
            path_and_query.trim_start_matches('/')
        )
    }

    async fn report<T: serde::de::DeserializeOwned>(
        &self,
        first_url: String,
        op: Op,
    ) -> Result<Vec<T>, GraphError> {
        let mut all = Vec::new();
        let mut next = Some(first_url);
        let mut pages = 0u32;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > self.limits().max_pages {
                return Err(self.too_many_pages(op));
            }
            match self.get_json::<OneOrMany<T>>(&url, op).await? {
                OneOrMany::Many { value, next_link } => {
                    all.extend(value);
                    next = next_link;
                }
                OneOrMany::One(item) => all.push(item),
            }
        }
        Ok(all)
    }

    /// Last use of every credential of an app (both the registration's and its service principal's), by appId.
    pub async fn credential_sign_ins(
        &self,
        app_id: &AppId,
    ) -> Result<LastUse<Vec<AppCredentialSignInActivity>>, GraphError> {
        let filter = format!("appId eq '{}'", app_id.as_str().replace('\'', "''"));
        let url = self.beta_url(&format!(
            "reports/appCredentialSignInActivities?$filter={}",
            urlencode(&filter)
        ));
        last_use(self.report(url, ops::CREDENTIAL_SIGN_INS).await)
    }

    /// Last use of one credential, by keyId (`None`: the report has no entry for it, i.e. never used).
    pub async fn credential_sign_in(
        &self,
        key_id: &KeyId,
    ) -> Result<LastUse<Option<AppCredentialSignInActivity>>, GraphError> {
        let filter = format!("keyId eq '{}'", key_id.as_str().replace('\'', "''"));
        let url = self.beta_url(&format!(
            "reports/appCredentialSignInActivities?$filter={}",
            urlencode(&filter)
        ));
        let found = self
            .report::<AppCredentialSignInActivity>(url, ops::CREDENTIAL_SIGN_INS)
            .await
            .map(|all| {
                all.into_iter()
                    .filter(|a| a.key_id == *key_id)
                    .max_by_key(|a| a.last_sign_in())
            });
        last_use(found)
    }

    /// Last sign-ins of an app, by appId (`None`: the report has no entry for it).
    pub async fn app_sign_ins(
        &self,
        app_id: &AppId,
    ) -> Result<LastUse<Option<ServicePrincipalSignInActivity>>, GraphError> {
        let filter = format!("appId eq '{}'", app_id.as_str().replace('\'', "''"));
        let url = self.beta_url(&format!(
            "reports/servicePrincipalSignInActivities?$filter={}",
            urlencode(&filter)
        ));
        let found = self
            .report::<ServicePrincipalSignInActivity>(url, ops::APP_SIGN_INS)
            .await
            .map(|all| all.into_iter().find(|a| a.app_id == *app_id));
        last_use(found)
    }
}

/// The latest sign-in per keyId of a report (a certificate's Sign and Verify entries, or the same key seen on the
/// registration and on its service principal, are one credential to the operator).
pub fn last_sign_in_by_key(
    report: &[AppCredentialSignInActivity],
) -> std::collections::HashMap<KeyId, DateTime<Utc>> {
    let mut by_key = std::collections::HashMap::new();
    for a in report {
        if let Some(t) = a.last_sign_in() {
            by_key
                .entry(a.key_id.clone())
                .and_modify(|cur: &mut DateTime<Utc>| *cur = (*cur).max(t))
                .or_insert(t);
        }
    }
    by_key
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const CREDENTIALS: &str = include_str!(
        "../../tests/fixtures/microsoft/graph/beta_credential_signin_activity/app-credential-sign-in-activities.json"
    );
    const APPS: &str = include_str!(
        "../../tests/fixtures/microsoft/graph/beta_credential_signin_activity/service-principal-sign-in-activities.json"
    );
    const NON_PREMIUM: &str = include_str!(
        "../../tests/fixtures/microsoft/graph/beta_reports_errors/non-premium-tenant-403.json"
    );

    #[test]
    fn microsofts_credential_sample_parses_with_its_quirks() {
        let OneOrMany::Many { value, next_link } =
            serde_json::from_str::<OneOrMany<AppCredentialSignInActivity>>(CREDENTIALS).unwrap()
        else {
            panic!("the sample is a collection");
        };
        assert_eq!(next_link, None);
        assert_eq!(value.len(), 2);
        let first = &value[0];
        assert_eq!(
            first.key_id.as_str(),
            "83f45296-fb8f-4aaa-a399-ac51084e02b7"
        );
        assert_eq!(
            first.app_id.as_ref().map(AppId::as_str),
            Some("f4d9654f-0305-4072-878c-8bf266dfe146")
        );
        assert_eq!(first.key_type, Some(ApplicationKeyType::Certificate));
        assert_eq!(first.key_usage, Some(ApplicationKeyUsage::Sign));
        assert_eq!(first.credential_origin, Some(CredentialOrigin::Application));
        // "2021-03-18T00:00:00-8:00" is 08:00 UTC.
        assert_eq!(
            first.last_sign_in(),
            Some(Utc.with_ymd_and_hms(2021, 3, 18, 8, 0, 0).unwrap())
        );
        // `expirationDate` (the sample's spelling) lands in expirationDateTime: 2021-04-01T21:36:48-8:00.
        assert_eq!(
            first.expiration_date_time,
            Some(Utc.with_ymd_and_hms(2021, 4, 2, 5, 36, 48).unwrap())
        );
        assert_eq!(
            value[1].credential_origin,
            Some(CredentialOrigin::ServicePrincipal)
        );
        assert_eq!(value[1].key_usage, Some(ApplicationKeyUsage::Verify));
        assert_eq!(
            value[1]
                .sign_in_activity
                .as_ref()
                .and_then(|s| s.last_sign_in_request_id.as_deref()),
            Some("guid2")
        );
    }

    #[test]
    fn the_documented_spelling_and_a_single_object_answer_parse_too() {
        let one = r#"{"keyId":"k1","keyType":"clientSecret","expirationDateTime":"2030-01-02T03:04:05.1234567Z",
            "signInActivity":{"lastSignInDateTime":"2026-11-30T10:00:00Z","lastSignInRequestId":"r"}}"#;
        let OneOrMany::One(a) =
            serde_json::from_str::<OneOrMany<AppCredentialSignInActivity>>(one).unwrap()
        else {
            panic!("a single object");
        };
        assert_eq!(a.key_type, Some(ApplicationKeyType::ClientSecret));
        let secret: AppCredentialSignInActivity =
            serde_json::from_str(r#"{"keyId":"k2","keyType":"secret"}"#).unwrap();
        assert_eq!(secret.key_type, Some(ApplicationKeyType::ClientSecret));
        assert_eq!(secret.last_sign_in(), None);
        let future: AppCredentialSignInActivity =
            serde_json::from_str(r#"{"keyId":"k3","keyType":"unknownFutureValue"}"#).unwrap();
        assert_eq!(future.key_type, Some(ApplicationKeyType::Unknown));
    }

    #[test]
    fn microsofts_app_sample_parses() {
        let OneOrMany::Many { value, .. } =
            serde_json::from_str::<OneOrMany<ServicePrincipalSignInActivity>>(APPS).unwrap()
        else {
            panic!("the sample is a collection");
        };
        assert_eq!(value.len(), 1);
        let a = &value[0];
        assert_eq!(a.app_id.as_str(), "83f45296-fb8f-4aaa-a399-ac51084e02b7");
        assert_eq!(
            a.last_sign_in(),
            Some(Utc.with_ymd_and_hms(2021, 4, 1, 0, 0, 0).unwrap())
        );
        // 2021-03-01T00:00:00-8:00
        assert_eq!(
            a.application_authentication_client_sign_in_activity
                .as_ref()
                .and_then(|s| s.last_sign_in_date_time),
            Some(Utc.with_ymd_and_hms(2021, 3, 1, 8, 0, 0).unwrap())
        );
    }

    /// A token source for tests that talk to a local server.
    #[derive(Debug)]
    struct StaticToken;

    #[async_trait::async_trait]
    impl azure_core::credentials::TokenCredential for StaticToken {
        async fn get_token(
            &self,
            _scopes: &[&str],
            _options: Option<azure_core::credentials::TokenRequestOptions<'_>>,
        ) -> azure_core::Result<azure_core::credentials::AccessToken> {
            Ok(azure_core::credentials::AccessToken::new(
                "t".to_string(),
                azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1),
            ))
        }
    }

    /// Serves the reports under `/graph/beta/...` (a Graph URL with a path, as a proxy may have): the fixture for
    /// `premium`, Microsoft's 403 body otherwise. Records each request's path and query.
    async fn serve(premium: bool) -> (GraphClient, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use axum::http::{StatusCode, Uri};
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |uri: Uri| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(uri.to_string());
                let body = if uri.path().ends_with("appCredentialSignInActivities") {
                    CREDENTIALS
                } else {
                    APPS
                };
                if premium {
                    (StatusCode::OK, body)
                } else {
                    (StatusCode::FORBIDDEN, NON_PREMIUM)
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = GraphClient::new(
            &format!("http://{addr}/graph"),
            reqwest::Client::new(),
            std::sync::Arc::new(StaticToken),
        )
        .unwrap();
        (client, seen)
    }

    #[tokio::test]
    async fn reports_are_read_from_the_beta_path_of_the_configured_url() {
        let (client, seen) = serve(true).await;
        let app = AppId::from("f4d9654f-0305-4072-878c-8bf266dfe146");
        let LastUse::Known(report) = client.credential_sign_ins(&app).await.unwrap() else {
            panic!("known");
        };
        assert_eq!(report.len(), 2);
        let LastUse::Known(Some(one)) = client
            .credential_sign_in(&KeyId::from("8a37cfec-b0a1-4cb1-ac08-c52b03834f4a"))
            .await
            .unwrap()
        else {
            panic!("known");
        };
        assert_eq!(
            one.last_sign_in(),
            Some(Utc.with_ymd_and_hms(2021, 2, 1, 9, 23, 46).unwrap())
        );
        let sp_app = AppId::from("83f45296-fb8f-4aaa-a399-ac51084e02b7");
        let LastUse::Known(Some(sp)) = client.app_sign_ins(&sp_app).await.unwrap() else {
            panic!("known");
        };
        assert_eq!(sp.app_id, sp_app);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![
                "/graph/beta/reports/appCredentialSignInActivities?$filter=appId%20eq%20%27f4d9654f-0305-4072-878c-8bf266dfe146%27",
                "/graph/beta/reports/appCredentialSignInActivities?$filter=keyId%20eq%20%278a37cfec-b0a1-4cb1-ac08-c52b03834f4a%27",
                "/graph/beta/reports/servicePrincipalSignInActivities?$filter=appId%20eq%20%2783f45296-fb8f-4aaa-a399-ac51084e02b7%27",
            ]
        );
    }

    #[tokio::test]
    async fn a_403_tenant_gives_unavailable_not_an_error() {
        let (client, _) = serve(false).await;
        let got = client.credential_sign_ins(&AppId::from("a")).await.unwrap();
        let LastUse::Unavailable { reason } = got else {
            panic!("unavailable");
        };
        assert!(reason.starts_with(LAST_USE_UNKNOWN), "{reason}");
        assert!(reason.contains("premium license"), "{reason}");
        assert!(matches!(
            client.app_sign_ins(&AppId::from("a")).await.unwrap(),
            LastUse::Unavailable { .. }
        ));
    }

    #[test]
    fn lenient_dates() {
        assert_eq!(
            parse_lenient_date("2021-03-18T00:00:00+5:30"),
            Some(Utc.with_ymd_and_hms(2021, 3, 17, 18, 30, 0).unwrap())
        );
        assert_eq!(parse_lenient_date("2021-03-18"), None);
        assert_eq!(parse_lenient_date("soon"), None);
        assert_eq!(parse_lenient_date("2021-03-18T00:00:00-123:00"), None);
    }

    #[test]
    fn latest_sign_in_per_key() {
        let report: Vec<AppCredentialSignInActivity> = serde_json::from_str(
            r#"[{"keyId":"k","keyUsage":"sign","signInActivity":{"lastSignInDateTime":"2026-01-01T00:00:00Z"}},
                {"keyId":"k","keyUsage":"verify","signInActivity":{"lastSignInDateTime":"2026-02-01T00:00:00Z"}},
                {"keyId":"never","signInActivity":{}}]"#,
        )
        .unwrap();
        let m = last_sign_in_by_key(&report);
        assert_eq!(
            m.get(&KeyId::from("k")),
            Some(&Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap())
        );
        assert!(!m.contains_key(&KeyId::from("never")));
    }

    #[test]
    fn a_non_premium_tenant_reads_as_unavailable_with_one_sentence() {
        let body: serde_json::Value = serde_json::from_str(NON_PREMIUM).unwrap();
        let e = GraphError::Forbidden {
            operation: ops::CREDENTIAL_SIGN_INS.name,
            missing_permission: ops::CREDENTIAL_SIGN_INS.permission,
            code: body["error"]["code"].as_str().unwrap().to_string(),
            message: body["error"]["message"].as_str().unwrap().to_string(),
        };
        let LastUse::Unavailable { reason } = last_use::<()>(Err(e)).unwrap() else {
            panic!("a 403 is unavailable, not an error");
        };
        assert!(
            reason.starts_with("last use unknown: needs Entra ID P1 and AuditLog.Read.All"),
            "{reason}"
        );
        assert!(reason.contains(NON_PREMIUM_TENANT_CODE), "{reason}");
        // Passing failures stay errors: a retry may work.
        let net = GraphError::Network {
            operation: "x",
            detail: "reset".into(),
        };
        assert!(last_use::<()>(Err(net)).is_err());
    }
}

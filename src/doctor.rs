//! `keyturn doctor`: is this profile ready? One line per check, pass or fail, and for a failure what to do.
//!
//! Checks, in order (a failed prerequisite skips what depends on it): config, sign-in, Graph read, audit read,
//! whether this identity can rotate (from the token's roles or scopes, and ownership of the mapped apps for
//! Application.ReadWrite.OwnedBy), then each vault's reachability and read access to its mapped secrets.
//!
//! Doctor never writes: Key Vault's set permission cannot be observed without setting a secret, so it is named as
//! a requirement rather than tested.
use crate::auth::{AuthError, TokenClaims};
use crate::config::Mapping;
use crate::graph::client::ops;
use crate::graph::{GraphError, ObjectType, Owner};
use crate::keyvault::{
    KeyVaultError, KeyVaultSecrets, SecretTarget, VaultDenial, VaultOp, VaultOptions,
};
use crate::session::{Overrides, Session, Settings, SignInOptions};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    Pass,
    Fail,
    /// Not run because something it needs failed.
    Skip,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "PASS",
            CheckStatus::Fail => "FAIL",
            CheckStatus::Skip => "SKIP",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
    /// What to do about a failure.
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: CheckStatus::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: CheckStatus::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn skip(name: impl Into<String>, because: &str) -> Check {
        Check {
            name: name.into(),
            status: CheckStatus::Skip,
            detail: format!("not checked: {because} failed"),
            fix: None,
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}  {}: {}",
            self.status.as_str(),
            self.name,
            self.detail
        )?;
        if let Some(fix) = &self.fix {
            write!(f, " -> fix: {fix}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default)]
pub struct DoctorReport {
    pub checks: Vec<Check>,
    /// Things worth knowing that are not failures (no D-Bus, a secret read from a file).
    pub notes: Vec<String>,
}

impl DoctorReport {
    /// Exit code 0 only when every check passed.
    pub fn all_passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.status == CheckStatus::Pass)
    }

    pub fn exit_code(&self) -> i32 {
        if self.all_passed() { 0 } else { 1 }
    }

    /// The report as printed: checks, then notes.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            out.push_str(&c.to_string());
            out.push('\n');
        }
        for n in &self.notes {
            out.push_str("note: ");
            out.push_str(n);
            out.push('\n');
        }
        out
    }

    fn push(&mut self, c: Check) {
        self.checks.push(c);
    }
}

/// How doctor signs in and talks to vaults.
#[derive(Clone, Default)]
pub struct DoctorOptions {
    pub sign_in: SignInOptions,
    /// `--office365-url`, for a profile whose `audit_source` is `office365`.
    pub office365_url: Option<String>,
    /// Key Vault retries and timeouts; `None`: one retry, 20 s per call (doctor should answer quickly).
    pub vault: Option<VaultOptions>,
}

const NAME_CONFIG: &str = "config";
const NAME_SIGN_IN: &str = "sign-in";
const NAME_GRAPH: &str = "Graph read";
const NAME_AUDIT: &str = "audit read";
const NAME_OWNERS: &str = "owners' names";
const NAME_ROTATE: &str = "rotate";

/// Run every check for the profile the overrides select.
pub async fn run(overrides: &Overrides, options: DoctorOptions) -> DoctorReport {
    let mut report = DoctorReport::default();

    // Config.
    let settings = match Settings::resolve(overrides) {
        Ok(s) => s,
        Err(e) => {
            report.push(Check::fail(
                NAME_CONFIG,
                e.to_string(),
                "correct the file at the line named (assets/config.example.toml shows every key)",
            ));
            for name in [
                NAME_SIGN_IN,
                NAME_GRAPH,
                NAME_OWNERS,
                NAME_AUDIT,
                NAME_ROTATE,
            ] {
                report.push(Check::skip(name, NAME_CONFIG));
            }
            return report;
        }
    };
    report.push(Check::pass(NAME_CONFIG, describe_config(&settings)));
    run_with_settings(settings, options, report).await
}

fn describe_config(s: &Settings) -> String {
    let read_only = if s.read_only { ", read-only" } else { "" };
    if s.config_path.exists() {
        format!(
            "{} (profile {}{read_only})",
            s.config_path.display(),
            s.profile_name
        )
    } else {
        format!(
            "built-in defaults; {} does not exist (profile {}{read_only})",
            s.config_path.display(),
            s.profile_name
        )
    }
}

async fn run_with_settings(
    settings: Settings,
    options: DoctorOptions,
    mut report: DoctorReport,
) -> DoctorReport {
    let mappings = settings.mappings.clone();
    let vaults = vaults_of(&settings.vaults, &mappings);
    let skip_rest = |report: &mut DoctorReport, because: &str| {
        for name in [NAME_GRAPH, NAME_OWNERS, NAME_AUDIT, NAME_ROTATE] {
            report.push(Check::skip(name, because));
        }
        for vault in vaults.keys() {
            report.push(Check::skip(format!("vault {vault}"), because));
        }
    };

    // Sign-in: build the credential, then really get a Graph token.
    let mut session = match Session::connect_with(settings, options.sign_in.clone()) {
        Ok(s) => s,
        Err(e) => {
            let (detail, fix) = sign_in_failure(&e.to_string());
            report.push(Check::fail(NAME_SIGN_IN, detail, fix));
            skip_rest(&mut report, NAME_SIGN_IN);
            return report;
        }
    };
    report
        .notes
        .extend(session.sign_in.warnings.iter().cloned());
    let claims = match session.whoami().await {
        Ok(c) => c,
        Err(e) => {
            let text = match &e {
                AuthError::Token(t) => t.clone(),
                other => other.to_string(),
            };
            let (detail, fix) = sign_in_failure(&text);
            report.push(Check::fail(
                NAME_SIGN_IN,
                format!("{} did not work: {detail}", session.sign_in.describe()),
                fix,
            ));
            skip_rest(&mut report, NAME_SIGN_IN);
            return report;
        }
    };
    let tenant = claims
        .tid
        .clone()
        .unwrap_or_else(|| session.tenant_id.clone());
    report.push(Check::pass(
        NAME_SIGN_IN,
        format!(
            "{} in tenant {tenant}, with {}",
            claims.describe(),
            session.sign_in.describe()
        ),
    ));
    let who = claims.describe();

    // Graph read.
    let url = session
        .graph
        .url("applications?$top=1&$select=id,appId,displayName");
    match session
        .graph
        .get_json::<serde_json::Value>(&url, ops::LIST_APPLICATIONS)
        .await
    {
        Ok(_) => report.push(Check::pass(
            NAME_GRAPH,
            format!(
                "can list applications at {} (Application.Read.All)",
                session.settings.graph_url
            ),
        )),
        Err(e) => report.push(graph_failure(
            NAME_GRAPH,
            &e,
            &claims,
            &["Application.Read.All"],
            &who,
        )),
    }

    report.push(owner_names_check(&claims, &who));

    // Audit read, from the source `keyturn audit` will use.
    if session.settings.profile.audit_source == Some(crate::audit::Source::Office365) {
        report.push(office365_check(&session, options.office365_url.as_deref(), &who).await);
    } else {
        report.push(graph_audit_check(&session, &claims, &who).await);
    }

    // Rotate.
    report.push(rotate_check(&session, &claims, &who).await);

    // Vaults.
    let kv = session.vault_secrets(options.vault.clone().unwrap_or_else(doctor_vault_options));
    for (vault, mappings) in &vaults {
        report
            .checks
            .extend(vault_checks(&kv, vault, mappings, &who).await);
    }
    report
}

/// The Management Activity API answers `subscriptions/list` (a read: doctor starts nothing).
async fn office365_check(session: &Session, url: Option<&str>, who: &str) -> Check {
    use crate::audit::office365_source::CONTENT_TYPE;
    let client = match crate::report::audit::office365_client(session, url) {
        Ok(c) => c,
        Err(e) => {
            return Check::fail(
                NAME_AUDIT,
                e.to_string(),
                "check --office365-url / KEYTURN_OFFICE365_URL",
            );
        }
    };
    match client.list_subscriptions().await {
        Ok(subs) => {
            let enabled = subs.iter().any(|s| {
                s.content_type.eq_ignore_ascii_case(CONTENT_TYPE)
                    && s.status.as_deref() == Some("enabled")
            });
            let state = if enabled {
                format!("{CONTENT_TYPE} subscription enabled")
            } else {
                format!(
                    "no {CONTENT_TYPE} subscription yet: keyturn audit starts it, and its first content can take up to \
                     12 hours"
                )
            };
            Check::pass(
                NAME_AUDIT,
                format!(
                    "can read the Office 365 Management Activity API at {} (ActivityFeed.Read); {state}",
                    client.base()
                ),
            )
        }
        Err(
            GraphError::Forbidden { code, message, .. }
            | GraphError::Unauthorized { code, message },
        ) => Check::fail(
            NAME_AUDIT,
            format!(
                "refused: {who} lacks ActivityFeed.Read of the Office 365 Management APIs ({code}: {message})"
            ),
            "grant the application permission ActivityFeed.Read (API: Office 365 Management APIs) and give \
                 admin consent, or set audit_source = \"graph\" in the profile",
        ),
        Err(e) => Check::fail(
            NAME_AUDIT,
            format!("cannot read the Management Activity API: {e}"),
            "check --office365-url / KEYTURN_OFFICE365_URL (manage.office.com; manage.office365.us for GCC High), \
             the network or proxy",
        ),
    }
}

async fn graph_audit_check(session: &Session, claims: &TokenClaims, who: &str) -> Check {
    let url = session.graph.url("auditLogs/directoryAudits?$top=1");
    match session
        .graph
        .get_json::<serde_json::Value>(&url, ops::LIST_AUDITS)
        .await
    {
        Ok(_) => Check::pass(
            NAME_AUDIT,
            "can read directory audit events (AuditLog.Read.All, Directory.Read.All)",
        ),
        Err(e) => graph_failure(
            NAME_AUDIT,
            &e,
            claims,
            &["AuditLog.Read.All", "Directory.Read.All"],
            who,
        ),
    }
}

fn doctor_vault_options() -> VaultOptions {
    VaultOptions {
        max_retries: 1,
        operation_timeout: std::time::Duration::from_secs(20),
        ..VaultOptions::default()
    }
}

/// Every vault the profile names, with the mappings that point into it.
fn vaults_of<'a>(vaults: &[String], mappings: &'a [Mapping]) -> BTreeMap<String, Vec<&'a Mapping>> {
    let norm = |u: &str| u.trim_end_matches('/').to_ascii_lowercase();
    let mut out: BTreeMap<String, Vec<&Mapping>> = BTreeMap::new();
    for v in vaults {
        out.entry(norm(v)).or_default();
    }
    for m in mappings {
        out.entry(norm(&m.vault)).or_default().push(m);
    }
    out
}

/// What went wrong signing in, and the fix for the causes an admin meets most.
fn sign_in_failure(text: &str) -> (String, String) {
    let fix = if text.contains("7000215") {
        "the client secret is wrong: copy the secret's Value (not its Secret ID) from the portal and run `keyturn login` again"
    } else if text.contains("7000222") {
        "the client secret has expired: add a new one in Entra ID > App registrations > Certificates & secrets, then `keyturn login`"
    } else if text.contains("700016") {
        "the client id is not an app in this tenant: check client_id and tenant_id in the profile"
    } else if text.contains("90002") || text.contains("900023") {
        "the tenant was not found: check tenant_id (a GUID or a domain like contoso.onmicrosoft.com)"
    } else if text.contains("700027") || text.contains("certificate") {
        "the certificate was rejected: upload its public part to the app registration (Certificates & secrets)"
    } else if text.contains("declined") || text.contains("expired") {
        "run `keyturn doctor` again and approve the device-code request in time"
    } else if text.contains("keyturn login") || text.contains("no way to sign in") {
        "run `keyturn login --profile <name>`, or set AZURE_CLIENT_SECRET, or choose sign_in in the profile"
    } else if text.contains("certificate verify") || text.contains("UnknownIssuer") {
        "the sign-in endpoint's TLS certificate is not trusted: pass its CA with --ca-cert (proxy or emulator)"
    } else {
        "check tenant_id, client_id and the sign-in method in the profile; `keyturn login` stores a client secret"
    };
    (text.to_string(), fix.to_string())
}

/// Owners' names: Graph lists a user owner as its type and id alone unless the identity may read users.
fn owner_names_check(claims: &TokenClaims, who: &str) -> Check {
    let any = [
        "User.Read.All",
        "User.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ];
    match any.iter().find(|p| claims.has_permission(p)) {
        Some(p) => Check::pass(
            NAME_OWNERS,
            format!("owners are shown with their names ({p})"),
        ),
        None => Check::fail(
            NAME_OWNERS,
            format!(
                "owners that are users are shown by object id only: Graph returns their names only to an identity with {}",
                crate::graph::models::OWNER_NAMES_PERMISSIONS
            ),
            grant_fix(&["User.Read.All"], claims, who),
        ),
    }
}

/// The permissions among `needed` the token does not carry (all of them when the token says nothing).
fn missing<'a>(claims: &TokenClaims, needed: &[&'a str]) -> Vec<&'a str> {
    let m: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|p| !claims.has_permission(p))
        .collect();
    if m.is_empty() { needed.to_vec() } else { m }
}

fn grant_fix(perms: &[&str], claims: &TokenClaims, who: &str) -> String {
    let list = perms.join(" and ");
    if claims.is_delegated() {
        format!(
            "{who} signed in as a user: the client app needs the delegated permission {list} (with admin consent) and \
             the user a directory role that allows it"
        )
    } else {
        format!(
            "grant {who} the Microsoft Graph application permission {list} (Entra ID > App registrations > API \
             permissions > Add a permission), then Grant admin consent"
        )
    }
}

fn graph_failure(
    name: &str,
    e: &GraphError,
    claims: &TokenClaims,
    needed: &[&str],
    who: &str,
) -> Check {
    match e {
        GraphError::Forbidden { code, message, .. } => {
            let lacking = missing(claims, needed);
            Check::fail(
                name,
                format!(
                    "refused: {who} lacks {} ({code}: {message})",
                    lacking.join(" and ")
                ),
                grant_fix(&lacking, claims, who),
            )
        }
        GraphError::Network { detail, .. } => Check::fail(
            name,
            format!("cannot reach Graph: {detail}"),
            "check --graph-url / KEYTURN_GRAPH_URL, the network or proxy, and --ca-cert for a TLS-inspecting proxy",
        ),
        GraphError::Unauthorized { code, message } => Check::fail(
            name,
            format!("Graph rejected the token ({code}: {message})"),
            "the token is for another tenant or resource: check tenant_id and graph_url in the profile",
        ),
        other => Check::fail(
            name,
            other.to_string(),
            "retry in a minute; if it persists, run with KEYTURN_LOG=debug and read the log",
        ),
    }
}

const READ_WRITE_ALL: &str = "Application.ReadWrite.All";
const READ_WRITE_OWNED_BY: &str = "Application.ReadWrite.OwnedBy";

async fn rotate_check(session: &Session, claims: &TokenClaims, who: &str) -> Check {
    let read_only = if session.read_only {
        " (read-only is on: keyturn will not rotate until --read-only, KEYTURN_READ_ONLY and read_only are off)"
    } else {
        ""
    };
    if claims.has_permission(READ_WRITE_ALL) {
        let user = if claims.is_delegated() {
            "; as a user, the directory role must allow it too (e.g. Application Administrator)"
        } else {
            ""
        };
        return Check::pass(
            NAME_ROTATE,
            format!("can rotate any application ({READ_WRITE_ALL}){user}{read_only}"),
        );
    }
    if !claims.has_permission(READ_WRITE_OWNED_BY) {
        return Check::fail(
            NAME_ROTATE,
            format!(
                "{who} cannot add or remove client secrets: its token has neither {READ_WRITE_OWNED_BY} nor {READ_WRITE_ALL}{read_only}"
            ),
            format!(
                "{}; or keep this profile read-only (read_only = true)",
                grant_fix(&[READ_WRITE_OWNED_BY], claims, who)
            ),
        );
    }
    // OwnedBy: only apps this identity owns. Check the apps the profile maps; without mappings, say so.
    let apps: Vec<&str> = {
        let mut a: Vec<&str> = session
            .settings
            .mappings
            .iter()
            .map(|m| m.app.as_str())
            .collect();
        a.sort_unstable();
        a.dedup();
        a
    };
    if apps.is_empty() {
        return Check::pass(
            NAME_ROTATE,
            format!(
                "can rotate only applications it owns ({READ_WRITE_OWNED_BY}); add mappings to the profile to have \
                 doctor check ownership of specific apps{read_only}"
            ),
        );
    }
    let Some(me) = claims.oid.clone() else {
        return Check::fail(
            NAME_ROTATE,
            "cannot tell who owns what: the token has no object id (oid)",
            "sign in as an application (client secret or certificate) to use Application.ReadWrite.OwnedBy",
        );
    };
    let mut not_owned = Vec::new();
    for app in &apps {
        let found = match session.graph.find_application(app).await {
            Ok(a) => a,
            Err(e) => {
                not_owned.push(format!("{app} ({})", e.short()));
                continue;
            }
        };
        let name = found.display_name.as_deref().unwrap_or("(no name)");
        match session
            .graph
            .owners(ObjectType::Application, &found.id)
            .await
        {
            Ok(owners) if owners.iter().any(|o| owner_id(o) == Some(me.as_str())) => {}
            Ok(_) => not_owned.push(format!("{name} ({app})")),
            Err(e) => not_owned.push(format!("{name} ({app}; owners unreadable: {})", e.short())),
        }
    }
    if not_owned.is_empty() {
        Check::pass(
            NAME_ROTATE,
            format!(
                "owns all {} mapped application(s) ({READ_WRITE_OWNED_BY}){read_only}",
                apps.len()
            ),
        )
    } else {
        Check::fail(
            NAME_ROTATE,
            format!(
                "{READ_WRITE_OWNED_BY} only covers owned apps, and {who} does not own: {}",
                not_owned.join(", ")
            ),
            format!(
                "add {who} as an owner of each (Entra ID > App registrations > the app > Owners), or grant {READ_WRITE_ALL}"
            ),
        )
    }
}

fn owner_id(o: &Owner) -> Option<&str> {
    match o {
        Owner::User { id, .. } | Owner::ServicePrincipal { id, .. } => Some(id.as_str()),
        Owner::Other => None,
    }
}

async fn vault_checks(
    kv: &KeyVaultSecrets,
    vault: &str,
    mappings: &[&Mapping],
    who: &str,
) -> Vec<Check> {
    let name = format!("vault {vault}");
    let mut out = Vec::new();
    match kv.list_secrets(vault).await {
        Ok(list) => out.push(Check::pass(
            &name,
            format!("reachable; {} secret(s) listed", list.len()),
        )),
        // Not being allowed to list is fine when the mapping is explicit; a firewall that refuses everything is not.
        Err(KeyVaultError::Forbidden { denial, .. })
            if !mappings.is_empty()
                && !matches!(denial, VaultDenial::Firewall { .. }) =>
        {
            out.push(Check::pass(
            &name,
            format!(
                "reachable; {who} may not list secrets, so only the mapped secrets below are used ({} adds tag-based mapping)",
                VaultOp::List.role()
            ),
            ))
        }
        Err(e) => out.push(vault_failure(&name, &e, who)),
    }
    if out.iter().any(|c| c.status == CheckStatus::Fail) {
        for m in mappings {
            out.push(Check::skip(format!("{name} secret {}", m.secret), &name));
        }
        return out;
    }
    for m in mappings {
        let check_name = format!("{name} secret {} (app {})", m.secret, m.app);
        let target = match SecretTarget::new(vault, &m.secret) {
            Ok(t) => t,
            Err(e) => {
                out.push(Check::fail(
                    check_name,
                    e.to_string(),
                    "fix the mapping in the profile",
                ));
                continue;
            }
        };
        out.push(match kv.latest(&target).await {
            Ok(Some(v)) => Check::pass(
                check_name,
                format!(
                    "readable (version {}); rotation also needs {} to write it, which doctor does not test",
                    v.version,
                    VaultOp::Set.role()
                ),
            ),
            Ok(None) => Check::fail(
                check_name,
                "no such secret in the vault",
                "create it with the app's current secret, or correct vault/secret in the profile's mapping",
            ),
            Err(e) => vault_failure(&check_name, &e, who),
        });
    }
    out
}

fn vault_failure(name: &str, e: &KeyVaultError, who: &str) -> Check {
    match e {
        // The cause in the line, its own fix after it (a role does not open a firewall).
        KeyVaultError::Forbidden {
            vault,
            operation,
            code,
            denial,
            ..
        } => Check::fail(
            name,
            format!(
                "{vault} refused {operation}: {} ({code})",
                denial.cause(*operation)
            ),
            denial.fix(*operation, who, vault),
        ),
        KeyVaultError::Network { .. } | KeyVaultError::Timeout { .. } => Check::fail(
            name,
            e.to_string(),
            "check the vault URL, the network path (private endpoint? firewall?) and --ca-cert for a TLS-inspecting proxy",
        ),
        KeyVaultError::Unauthorized { .. } => Check::fail(
            name,
            e.to_string(),
            "the vault is in another tenant than the sign-in: check tenant_id",
        ),
        _ => Check::fail(
            name,
            e.to_string(),
            "check the vault URL in the profile; retry in a minute if the vault is throttling",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_only_zero_when_all_pass() {
        let mut r = DoctorReport::default();
        assert_eq!(r.exit_code(), 1, "an empty report proves nothing");
        r.push(Check::pass("config", "ok"));
        assert_eq!(r.exit_code(), 0);
        r.push(Check::skip("sign-in", "config"));
        assert_eq!(r.exit_code(), 1);
    }

    #[test]
    fn failure_line_carries_the_fix() {
        let c = Check::fail("audit read", "refused: lacks AuditLog.Read.All", "grant it");
        assert_eq!(
            c.to_string(),
            "FAIL  audit read: refused: lacks AuditLog.Read.All -> fix: grant it"
        );
    }

    #[test]
    fn missing_names_only_what_the_token_lacks() {
        let claims = TokenClaims {
            roles: vec!["Directory.Read.All".into()],
            ..TokenClaims::default()
        };
        assert_eq!(
            missing(&claims, &["AuditLog.Read.All", "Directory.Read.All"]),
            vec!["AuditLog.Read.All"]
        );
    }

    #[test]
    fn vaults_merge_listed_and_mapped() {
        let m = Mapping {
            app: "a".into(),
            vault: "https://V.vault.azure.net/".into(),
            secret: "s".into(),
        };
        let v = vaults_of(
            &["https://v.vault.azure.net".into()],
            std::slice::from_ref(&m),
        );
        assert_eq!(v.len(), 1);
        assert_eq!(v["https://v.vault.azure.net"].len(), 1);
    }
}

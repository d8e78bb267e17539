//! Fault injection: named failures for named operations, plus the runtime knobs tests turn (throttle cadence,
//! replication lag, device-code outcome).
//!
//! A fault is consumed by the first `times` requests that match its operation *after* authentication succeeded:
//! SDKs probe Key Vault without a token first, and a fault meant for "the vault write" must not be spent on that
//! probe. Faults are checked in the order they were added.
use super::http::{Reply, lock};
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An operation the emulator can fail on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Token,
    ListApplications,
    GetApplication,
    ListServicePrincipals,
    GetServicePrincipal,
    ListOwners,
    ListAudits,
    ListSignInActivities,
    ListAppRoleAssignments,
    GetAppManagementPolicy,
    AddPassword,
    RemovePassword,
    Delta,
    VaultSet,
    VaultGet,
    VaultVersions,
    VaultUpdate,
    VaultList,
    /// Delete a secret (soft delete), recover or purge a deleted one.
    VaultDelete,
    /// Read a deleted secret (`GET /deletedsecrets/{name}`).
    VaultGetDeleted,
    /// Every Graph and Key Vault operation. Not the token endpoint: clients cache tokens, so a fault meant for "the
    /// next call" would otherwise land on a token request or not, depending on the cache.
    Any,
}

impl Op {
    const ALL: [Op; 21] = [
        Op::Token,
        Op::ListApplications,
        Op::GetApplication,
        Op::ListServicePrincipals,
        Op::GetServicePrincipal,
        Op::ListOwners,
        Op::ListAudits,
        Op::ListSignInActivities,
        Op::ListAppRoleAssignments,
        Op::GetAppManagementPolicy,
        Op::AddPassword,
        Op::RemovePassword,
        Op::Delta,
        Op::VaultSet,
        Op::VaultGet,
        Op::VaultVersions,
        Op::VaultUpdate,
        Op::VaultList,
        Op::VaultDelete,
        Op::VaultGetDeleted,
        Op::Any,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::Token => "Token",
            Op::ListApplications => "ListApplications",
            Op::GetApplication => "GetApplication",
            Op::ListServicePrincipals => "ListServicePrincipals",
            Op::GetServicePrincipal => "GetServicePrincipal",
            Op::ListOwners => "ListOwners",
            Op::ListAudits => "ListAudits",
            Op::ListSignInActivities => "ListSignInActivities",
            Op::ListAppRoleAssignments => "ListAppRoleAssignments",
            Op::GetAppManagementPolicy => "GetAppManagementPolicy",
            Op::AddPassword => "AddPassword",
            Op::RemovePassword => "RemovePassword",
            Op::Delta => "Delta",
            Op::VaultSet => "VaultSet",
            Op::VaultGet => "VaultGet",
            Op::VaultVersions => "VaultVersions",
            Op::VaultUpdate => "VaultUpdate",
            Op::VaultList => "VaultList",
            Op::VaultDelete => "VaultDelete",
            Op::VaultGetDeleted => "VaultGetDeleted",
            Op::Any => "Any",
        }
    }

    fn matches(self, actual: Op) -> bool {
        self == actual || (self == Op::Any && actual != Op::Token)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Accepts the variant names case-insensitively, with or without `-`/`_` (`AddPassword`, `add-password`).
impl FromStr for Op {
    type Err = FaultParseError;
    fn from_str(s: &str) -> Result<Op, FaultParseError> {
        let norm = normalise(s);
        Op::ALL
            .iter()
            .copied()
            .find(|op| normalise(op.name()) == norm)
            .ok_or_else(|| FaultParseError::UnknownOp(s.to_string()))
    }
}

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// An error status with the error body of the surface that was called (Graph, Key Vault or token endpoint).
    Status(u16),
    /// 429 with this `Retry-After` value (seconds, may be decimal such as "2.128").
    Throttle { retry_after: String },
    /// 200 with a body that is not JSON. The operation is not performed.
    Malformed,
    /// The real answer, with status 200 and the body cut in half (the operation is performed).
    Truncated,
    /// Wait, then answer normally (a client timeout shorter than this fires first).
    Delay(Duration),
    /// Perform the operation, then answer this error status: "the write happened but the answer was lost".
    ApplyThenStatus(u16),
    /// Perform the operation, then wait this long before answering: the client times out, the write stands.
    ApplyThenDelay(Duration),
    /// A VaultGet answers a value different from the one stored ("read-back mismatch").
    CorruptReadBack,
    /// Perform the operation, then drop the connection without any answer (no status line, no headers): "the
    /// write happened but the answer was lost" as a client sees a network failure.
    ApplyThenDrop,
    /// Drop the connection without performing the operation (the request was lost).
    Drop,
    /// 403 for this reason, worded as the surface words it (Key Vault: its RBAC, firewall and access-policy
    /// refusals; elsewhere a plain 403).
    Denied(Denial),
}

/// Why a Key Vault refuses a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// Azure RBAC: no role assignment allows the action (`ForbiddenByRbac`).
    Rbac,
    /// The vault's network rules do not admit the client's address (`ForbiddenByFirewall`).
    Firewall,
    /// An access-policy vault without a policy granting the permission (`AccessDenied`).
    AccessPolicy,
}

impl Denial {
    fn name(self) -> &'static str {
        match self {
            Denial::Rbac => "rbac",
            Denial::Firewall => "firewall",
            Denial::AccessPolicy => "access-policy",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultKind::Status(s) => write!(f, "{s}"),
            FaultKind::Throttle { retry_after } => write!(f, "throttle:{retry_after}"),
            FaultKind::Malformed => f.write_str("malformed"),
            FaultKind::Truncated => f.write_str("truncated"),
            FaultKind::Delay(d) => write!(f, "delay:{}ms", d.as_millis()),
            FaultKind::ApplyThenStatus(s) => write!(f, "apply-then-status:{s}"),
            FaultKind::ApplyThenDelay(d) => write!(f, "apply-then-delay:{}ms", d.as_millis()),
            FaultKind::CorruptReadBack => f.write_str("corrupt-read-back"),
            FaultKind::ApplyThenDrop => f.write_str("apply-then-drop"),
            FaultKind::Drop => f.write_str("drop"),
            FaultKind::Denied(d) => write!(f, "denied:{}", d.name()),
        }
    }
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub op: Op,
    pub kind: FaultKind,
    /// How many matching requests it hits; then it is gone. `u32::MAX` is "for the rest of the run".
    pub times: u32,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.times == u32::MAX {
            write!(f, "{}={}x*", self.op, self.kind)
        } else {
            write!(f, "{}={}x{}", self.op, self.kind, self.times)
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FaultParseError {
    #[error("fault '{0}' has no '=': write it as op=kind[:arg][xN], e.g. AddPassword=500x1")]
    MissingEquals(String),
    #[error(
        "unknown operation '{0}': use one of Token, ListApplications, GetApplication, ListServicePrincipals, \
         GetServicePrincipal, ListOwners, ListAudits, ListSignInActivities, ListAppRoleAssignments, \
         GetAppManagementPolicy, AddPassword, RemovePassword, Delta, VaultSet, VaultGet, \
         VaultVersions, VaultUpdate, VaultList, VaultDelete, VaultGetDeleted, Any"
    )]
    UnknownOp(String),
    #[error(
        "unknown fault kind '{0}': use a status (500), throttle[:SECONDS], malformed, truncated, delay:DURATION, \
         apply-then-status:STATUS, apply-then-delay:DURATION, apply-then-drop, drop, corrupt-read-back or \
         denied:rbac|firewall|access-policy"
    )]
    UnknownKind(String),
    #[error("'{0}' is not an HTTP error status (400-599)")]
    BadStatus(String),
    #[error("'{0}' is not a duration: use e.g. 30s, 500ms, 1.5s or 2m")]
    BadDuration(String),
    #[error("'{0}' is not a repeat count: use xN with N >= 1, or x* for the whole run")]
    BadTimes(String),
    #[error("'{0}' is not a Retry-After value in seconds (e.g. 1 or 2.128)")]
    BadRetryAfter(String),
}

/// `op=kind[:arg][xN]`, the syntax of `keyturn emulator --fault`:
/// `AddPassword=500x1`, `VaultSet=apply-then-delay:30s`, `ListApplications=malformed`, `AddPassword=apply-then-drop`,
/// `Any=throttle:2.128x3`, `VaultGet=corrupt-read-back`, `RemovePassword=apply-then-500`, `Token=503x*`.
impl FromStr for Fault {
    type Err = FaultParseError;
    fn from_str(s: &str) -> Result<Fault, FaultParseError> {
        let (op, rest) = s
            .split_once('=')
            .ok_or_else(|| FaultParseError::MissingEquals(s.to_string()))?;
        let op: Op = op.trim().parse()?;
        let rest = rest.trim();
        let (kind_text, times) = split_times(rest)?;
        let kind = parse_kind(kind_text)?;
        Ok(Fault { op, kind, times })
    }
}

/// Split a trailing `xN` / `x*` repeat count. An `x` that is part of a word (there is none in the kind names
/// except through this suffix) is only taken when digits or `*` follow it up to the end.
fn split_times(s: &str) -> Result<(&str, u32), FaultParseError> {
    if let Some(pos) = s.rfind(['x', 'X']) {
        let tail = &s[pos + 1..];
        if tail == "*" {
            return Ok((&s[..pos], u32::MAX));
        }
        if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
            let n: u32 = tail
                .parse()
                .map_err(|_| FaultParseError::BadTimes(s.to_string()))?;
            if n == 0 {
                return Err(FaultParseError::BadTimes(s.to_string()));
            }
            return Ok((&s[..pos], n));
        }
    }
    Ok((s, 1))
}

fn parse_kind<'a>(s: &'a str) -> Result<FaultKind, FaultParseError> {
    let (name, arg) = match s.split_once(':') {
        Some((n, a)) => (n.trim(), Some(a.trim())),
        None => (s.trim(), None),
    };
    if name.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty() {
        return Ok(FaultKind::Status(parse_status(name)?));
    }
    let norm = normalise(name);
    // `apply-then-500` is accepted as a shorthand for `apply-then-status:500`.
    if let Some(code) = norm.strip_prefix("applythen")
        && !code.is_empty()
        && code.bytes().all(|b| b.is_ascii_digit())
    {
        return Ok(FaultKind::ApplyThenStatus(parse_status(code)?));
    }
    let need =
        |arg: Option<&'a str>| arg.ok_or_else(|| FaultParseError::UnknownKind(s.to_string()));
    match norm.as_str() {
        "status" => Ok(FaultKind::Status(parse_status(need(arg)?)?)),
        "throttle" | "throttled" => {
            let retry_after = arg.unwrap_or("1").to_string();
            match retry_after.parse::<f64>() {
                Ok(v) if v >= 0.0 && v.is_finite() => Ok(FaultKind::Throttle { retry_after }),
                _ => Err(FaultParseError::BadRetryAfter(retry_after)),
            }
        }
        "malformed" => Ok(FaultKind::Malformed),
        "truncated" | "truncate" => Ok(FaultKind::Truncated),
        "delay" => Ok(FaultKind::Delay(parse_duration(need(arg)?)?)),
        "applythenstatus" => Ok(FaultKind::ApplyThenStatus(parse_status(need(arg)?)?)),
        "applythendelay" => Ok(FaultKind::ApplyThenDelay(parse_duration(need(arg)?)?)),
        "corruptreadback" | "corrupt" => Ok(FaultKind::CorruptReadBack),
        "applythendrop" => Ok(FaultKind::ApplyThenDrop),
        "drop" => Ok(FaultKind::Drop),
        "denied" => match normalise(need(arg)?).as_str() {
            "rbac" => Ok(FaultKind::Denied(Denial::Rbac)),
            "firewall" => Ok(FaultKind::Denied(Denial::Firewall)),
            "accesspolicy" => Ok(FaultKind::Denied(Denial::AccessPolicy)),
            _ => Err(FaultParseError::UnknownKind(s.to_string())),
        },
        _ => Err(FaultParseError::UnknownKind(s.to_string())),
    }
}

fn parse_status(s: &str) -> Result<u16, FaultParseError> {
    match s.parse::<u16>() {
        Ok(v) if (400..=599).contains(&v) => Ok(v),
        _ => Err(FaultParseError::BadStatus(s.to_string())),
    }
}

/// `30s`, `500ms`, `2m`, `1.5s`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, FaultParseError> {
    let bad = || FaultParseError::BadDuration(s.to_string());
    let t = s.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    if !v.is_finite() || v < 0.0 {
        return Err(bad());
    }
    Duration::try_from_secs_f64(v * scale).map_err(|_| bad())
}

fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '-' && *c != '_' && !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// What a device-code sign-in does once polled (a knob for testing a client's device-code credential).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceCodeOutcome {
    /// `authorization_pending` for the first two polls, then a token.
    #[default]
    Approve,
    /// `authorization_declined` on the first poll.
    Decline,
    /// `expired_token` on the first poll.
    Expire,
}

#[derive(Debug)]
struct Knobs {
    faults: Vec<Fault>,
    throttle_every: Option<u32>,
    replication_lag: Duration,
    propagation_delay: Duration,
    read_lag: Duration,
    entra_id_p1: bool,
    device_code_outcome: DeviceCodeOutcome,
    device_code_interval: u64,
}

/// Handle to change faults and knobs while the emulator runs. Cheap to clone; shared by every server task.
#[derive(Debug, Clone)]
pub struct FaultHandle {
    knobs: Arc<Mutex<Knobs>>,
    /// Counts authenticated Graph and Key Vault requests for `throttle_every`.
    counter: Arc<AtomicU64>,
    throttles: Arc<AtomicU64>,
}

/// Default replication lag before a just-added password can be removed: small so tests stay fast, non-zero so a
/// client that removes immediately sees the 400 a real tenant gives (a third-party write-up of a real tenant).
pub const DEFAULT_REPLICATION_LAG: Duration = Duration::from_millis(50);

/// Default time a secret added through addPassword is refused by the token endpoint (as an unknown secret,
/// AADSTS7000215). A real tenant takes seconds to minutes and publishes no bound; a few seconds keeps the wait
/// visible in the demo. Tests that are not about the wait set it to zero.
pub const DEFAULT_PROPAGATION_DELAY: Duration = Duration::from_secs(5);

impl FaultHandle {
    pub(crate) fn new(throttle_every: Option<u32>) -> FaultHandle {
        FaultHandle {
            knobs: Arc::new(Mutex::new(Knobs {
                faults: Vec::new(),
                throttle_every: throttle_every.filter(|k| *k > 0),
                replication_lag: DEFAULT_REPLICATION_LAG,
                propagation_delay: DEFAULT_PROPAGATION_DELAY,
                read_lag: Duration::ZERO,
                entra_id_p1: true,
                device_code_outcome: DeviceCodeOutcome::Approve,
                device_code_interval: 1,
            })),
            counter: Arc::new(AtomicU64::new(0)),
            throttles: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn add(&self, fault: Fault) {
        if fault.times > 0 {
            lock(&self.knobs).faults.push(fault);
        }
    }

    /// Remove every pending fault (the knobs keep their values).
    pub fn clear(&self) {
        lock(&self.knobs).faults.clear();
    }

    /// Faults not yet used up.
    pub fn pending(&self) -> Vec<Fault> {
        lock(&self.knobs).faults.clone()
    }

    /// Every K-th authenticated Graph/Vault request gets a 429; `None` or `Some(0)` turns it off.
    pub fn set_throttle_every(&self, every: Option<u32>) {
        lock(&self.knobs).throttle_every = every.filter(|k| *k > 0);
        self.counter.store(0, Ordering::SeqCst);
    }

    /// How long after addPassword a removePassword of that keyId still fails with 400.
    pub fn set_replication_lag(&self, lag: Duration) {
        lock(&self.knobs).replication_lag = lag;
    }

    pub fn replication_lag(&self) -> Duration {
        lock(&self.knobs).replication_lag
    }

    /// How long after addPassword the token endpoint still refuses the new secret (as unknown: AADSTS7000215).
    /// Applies to secrets already added too: the age of a secret is measured from its addPassword.
    pub fn set_propagation_delay(&self, delay: Duration) {
        lock(&self.knobs).propagation_delay = delay;
    }

    pub fn propagation_delay(&self) -> Duration {
        lock(&self.knobs).propagation_delay
    }

    /// How long after addPassword a GET or list of the application (or service principal) does not show the new
    /// passwordCredential yet (read replication lag). Zero (the default) turns it off.
    pub fn set_read_lag(&self, lag: Duration) {
        lock(&self.knobs).read_lag = lag;
    }

    pub fn read_lag(&self) -> Duration {
        lock(&self.knobs).read_lag
    }

    /// False: the tenant has no Entra ID P1/P2 licence, so the beta sign-in activity reports answer 403 (the
    /// real `Authentication_RequestFromNonPremiumTenantOrB2CTenant` error). Default true.
    pub fn set_entra_id_p1(&self, p1: bool) {
        lock(&self.knobs).entra_id_p1 = p1;
    }

    pub fn entra_id_p1(&self) -> bool {
        lock(&self.knobs).entra_id_p1
    }

    /// Outcome of device codes issued from now on.
    pub fn set_device_code_outcome(&self, outcome: DeviceCodeOutcome) {
        lock(&self.knobs).device_code_outcome = outcome;
    }

    pub fn device_code_outcome(&self) -> DeviceCodeOutcome {
        lock(&self.knobs).device_code_outcome
    }

    /// The `interval` (seconds) device-code responses ask clients to wait between polls. Default 1.
    pub fn set_device_code_interval(&self, seconds: u64) {
        lock(&self.knobs).device_code_interval = seconds;
    }

    pub fn device_code_interval(&self) -> u64 {
        lock(&self.knobs).device_code_interval
    }

    /// Take one use of the first fault matching `op`.
    pub(crate) fn take(&self, op: Op) -> Option<FaultKind> {
        let mut knobs = lock(&self.knobs);
        // A corrupted read-back only means something for a vault read: `Any=corrupt-read-back` waits for one.
        let idx = knobs.faults.iter().position(|f| {
            f.op.matches(op) && (f.kind != FaultKind::CorruptReadBack || op == Op::VaultGet)
        })?;
        let fault = &mut knobs.faults[idx];
        let kind = fault.kind.clone();
        if fault.times != u32::MAX {
            fault.times -= 1;
            if fault.times == 0 {
                knobs.faults.remove(idx);
            }
        }
        Some(kind)
    }

    /// Count one authenticated Graph/Vault request; `Some(retry_after)` when this one is to be throttled.
    /// Retry-After cycles through small values, decimal most of the time, so clients must parse decimals while
    /// tests stay fast.
    pub(crate) fn tick(&self) -> Option<String> {
        let every = lock(&self.knobs).throttle_every?;
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        if !n.is_multiple_of(u64::from(every)) {
            return None;
        }
        let t = self.throttles.fetch_add(1, Ordering::SeqCst);
        const CYCLE: [&str; 4] = ["0.1", "0.05", "0.2", "1"];
        Some(CYCLE[(t % CYCLE.len() as u64) as usize].to_string())
    }
}

/// How a surface (Graph, Key Vault, token endpoint) words an injected error.
pub(crate) trait ErrorShape {
    /// The error body and headers this surface sends with `status`.
    fn status(&self, status: u16) -> Reply;
    /// 429 with `Retry-After`.
    fn throttled(&self, retry_after: &str) -> Reply;
    fn content_type(&self) -> &'static str;
    /// 403 for `reason`; a surface without such distinctions sends its plain 403.
    fn denied(&self, reason: Denial) -> Reply {
        let _ = reason;
        self.status(403)
    }
}

/// Run `perform` under whatever fault is pending for `op`. `perform` gets `true` when a VaultGet is to answer a
/// corrupted value.
pub(crate) async fn with_fault(
    faults: &FaultHandle,
    op: Op,
    shape: &(dyn ErrorShape + Sync),
    perform: impl AsyncFnOnce(bool) -> Reply,
) -> Reply {
    let Some(kind) = faults.take(op) else {
        return perform(false).await;
    };
    tracing::debug!(%op, fault = %kind, "emulator: injecting fault");
    match kind {
        FaultKind::Status(status) => shape.status(status),
        FaultKind::Throttle { retry_after } => shape.throttled(&retry_after),
        // Starts like a collection page, then turns into an HTML error page: invalid JSON, like a proxy's answer.
        FaultKind::Malformed => Reply::text(
            200,
            shape.content_type(),
            "{\"value\":[{\"id\":\"3f2b<html><body>502 Bad Gateway</body></html>",
        ),
        FaultKind::Truncated => {
            let mut r = perform(false).await;
            let (bytes, ct) = r
                .body
                .take()
                .unwrap_or_else(|| (Vec::new(), shape.content_type()));
            let half = bytes.len() / 2;
            r.status = 200;
            r.body = Some((bytes[..half].to_vec(), ct));
            r
        }
        FaultKind::Delay(d) => {
            tokio::time::sleep(d).await;
            perform(false).await
        }
        FaultKind::ApplyThenStatus(status) => {
            let _ = perform(false).await;
            shape.status(status)
        }
        FaultKind::ApplyThenDelay(d) => {
            let r = perform(false).await;
            tokio::time::sleep(d).await;
            r
        }
        FaultKind::CorruptReadBack => perform(true).await,
        FaultKind::ApplyThenDrop => {
            let _ = perform(false).await;
            Reply::dropped()
        }
        FaultKind::Drop => Reply::dropped(),
        FaultKind::Denied(reason) => shape.denied(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> Fault {
        s.parse().unwrap()
    }

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(
            f("AddPassword=500x1"),
            Fault {
                op: Op::AddPassword,
                kind: FaultKind::Status(500),
                times: 1
            }
        );
        assert_eq!(
            f("VaultSet=apply-then-delay:30s"),
            Fault {
                op: Op::VaultSet,
                kind: FaultKind::ApplyThenDelay(Duration::from_secs(30)),
                times: 1
            }
        );
        assert_eq!(f("ListApplications=malformed").kind, FaultKind::Malformed);
        assert_eq!(
            f("any=throttle:2.128x3"),
            Fault {
                op: Op::Any,
                kind: FaultKind::Throttle {
                    retry_after: "2.128".into()
                },
                times: 3
            }
        );
        assert_eq!(f("Token=503x*").times, u32::MAX);
        assert_eq!(
            f("remove-password=apply-then-500").kind,
            FaultKind::ApplyThenStatus(500)
        );
        assert_eq!(
            f("VaultGet=corrupt-read-back").kind,
            FaultKind::CorruptReadBack
        );
        assert_eq!(
            f("VaultGet=delay:250ms").kind,
            FaultKind::Delay(Duration::from_millis(250))
        );
        assert_eq!(f("Delta=truncated x2").times, 2);
        assert_eq!(
            f("AddPassword=apply-then-drop").kind,
            FaultKind::ApplyThenDrop
        );
        assert_eq!(f("remove_password=drop x2").kind, FaultKind::Drop);
        assert_eq!(
            f("VaultGet=denied:firewallx*"),
            Fault {
                op: Op::VaultGet,
                kind: FaultKind::Denied(Denial::Firewall),
                times: u32::MAX
            }
        );
        assert_eq!(
            f("VaultSet=denied:access-policy").kind,
            FaultKind::Denied(Denial::AccessPolicy)
        );
        assert!("VaultSet=denied:nope".parse::<Fault>().is_err());
        assert_eq!(
            f("Delta=throttle").kind,
            FaultKind::Throttle {
                retry_after: "1".into()
            }
        );
    }

    #[test]
    fn rejects_with_a_useful_reason() {
        assert!(matches!(
            "AddPassword".parse::<Fault>(),
            Err(FaultParseError::MissingEquals(_))
        ));
        assert!(matches!(
            "Nope=500".parse::<Fault>(),
            Err(FaultParseError::UnknownOp(_))
        ));
        assert!(matches!(
            "Token=200".parse::<Fault>(),
            Err(FaultParseError::BadStatus(_))
        ));
        assert!(matches!(
            "Token=delay:soon".parse::<Fault>(),
            Err(FaultParseError::BadDuration(_))
        ));
        assert!(matches!(
            "Token=500x0".parse::<Fault>(),
            Err(FaultParseError::BadTimes(_))
        ));
        assert!(matches!(
            "Token=explode".parse::<Fault>(),
            Err(FaultParseError::UnknownKind(_))
        ));
    }

    #[test]
    fn display_roundtrips() {
        for s in [
            "AddPassword=500x1",
            "VaultSet=apply-then-delay:30000msx2",
            "Any=throttle:0.5x*",
            "RemovePassword=apply-then-dropx3",
            "VaultSet=drop",
        ] {
            let fault = f(s);
            assert_eq!(f(&fault.to_string()), fault);
        }
    }

    #[test]
    fn faults_are_used_up_and_any_skips_token() {
        let h = FaultHandle::new(None);
        h.add(f("Any=500x2"));
        assert_eq!(h.take(Op::Token), None);
        assert_eq!(h.take(Op::VaultGet), Some(FaultKind::Status(500)));
        assert_eq!(h.take(Op::ListApplications), Some(FaultKind::Status(500)));
        assert_eq!(h.take(Op::ListApplications), None);
        h.add(f("Any=corrupt-read-back"));
        assert_eq!(h.take(Op::ListApplications), None);
        assert_eq!(h.take(Op::VaultGet), Some(FaultKind::CorruptReadBack));
    }

    #[test]
    fn throttle_every_k() {
        let h = FaultHandle::new(Some(3));
        let hits: Vec<bool> = (0..6).map(|_| h.tick().is_some()).collect();
        assert_eq!(hits, [false, false, true, false, false, true]);
    }
}

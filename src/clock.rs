//! Time is injected so that "expires in 3 days" is deterministic in tests and snapshots.
use chrono::{DateTime, Utc};
use std::sync::Arc;

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that always answers the same instant.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

pub type SharedClock = Arc<dyn Clock>;

pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// The system clock, or a fixed instant from `KEYTURN_NOW` (RFC 3339): reports that must be reproducible (and the
/// tests that compare two runs) pin "now" so that days-left cannot tick between runs. An unreadable value is ignored.
pub fn from_env() -> SharedClock {
    match std::env::var("KEYTURN_NOW")
        .ok()
        .and_then(|v| DateTime::parse_from_rfc3339(v.trim()).ok())
    {
        Some(t) => Arc::new(FixedClock(t.with_timezone(&Utc))),
        None => system(),
    }
}

/// `just now`, `4 min ago`, `2 h ago`, `3 d ago`.
pub fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - then).num_seconds().max(0);
    match secs {
        0..=59 => "just now".into(),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

//! Access reviews: `keyturn review` walks the apps in scope one at a time, shows what is known of each (the same
//! facts as `keyturn show`), and records the reviewer's decision (keep, rotate, remove a credential, escalate to
//! the owners) with an optional note, the reviewer and the time. A session can be quit and resumed; `keyturn review
//! export` writes the record with the facts shown at the time and the rotations that followed.
//!
//! A decision is a record, never an action: rotating or removing still goes through the plan and its approval.
pub mod command;
pub mod export;
pub mod store;

use crate::graph::ObjectType;
use crate::impact::{AppImpact, GatherOptions, LastUseState};
use crate::inventory::{Entry, Status, Summary, Thresholds};
use crate::safe_text::terminal;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use store::{DecisionRecord, ReviewSession, ReviewStore, ReviewStoreError};

/// What the reviewer decided for one app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Keep,
    Rotate,
    RemoveCredential,
    Escalate,
}

impl Decision {
    pub const ALL: [Decision; 4] = [
        Decision::Keep,
        Decision::Rotate,
        Decision::RemoveCredential,
        Decision::Escalate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Keep => "keep",
            Decision::Rotate => "rotate",
            Decision::RemoveCredential => "removeCredential",
            Decision::Escalate => "escalate",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// The key typed at the prompt.
    fn from_key(s: &str) -> Option<Self> {
        match s {
            "k" | "keep" => Some(Decision::Keep),
            "r" | "rotate" => Some(Decision::Rotate),
            "x" | "remove" => Some(Decision::RemoveCredential),
            "e" | "escalate" => Some(Decision::Escalate),
            _ => None,
        }
    }
}

/// The facts the reviewer saw, recorded with the decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewFacts {
    pub status: String,
    pub days_left: Option<i64>,
    pub covered_until: Option<DateTime<Utc>>,
    pub credentials: usize,
    /// "Name <upn>" of each owner.
    pub owners: Vec<String>,
    pub last_sign_in: Option<DateTime<Utc>>,
    /// Whether last use could be read (Entra ID P1 and AuditLog.Read.All); `lastSignIn: null` means "never" only
    /// when this is true.
    pub last_use_known: bool,
    /// "Application.ReadWrite.All (Microsoft Graph)" per application permission.
    pub permissions: Vec<String>,
    pub privileged: bool,
}

impl ReviewFacts {
    pub fn of(i: &AppImpact, entry: &Entry, now: DateTime<Utc>, t: Thresholds) -> Self {
        let summary = Summary::of(entry, now, t);
        Self {
            status: summary.status.as_str().to_string(),
            days_left: summary.days_left,
            covered_until: summary.covered_until,
            credentials: i.credentials.len(),
            owners: i
                .owners
                .iter()
                .map(|o| {
                    let detail = o.detail();
                    if detail.is_empty() {
                        o.display_name().to_string()
                    } else {
                        format!("{} <{detail}>", o.display_name())
                    }
                })
                .collect(),
            last_sign_in: i.last_sign_in(),
            last_use_known: matches!(i.last_use, LastUseState::Known),
            permissions: i
                .permissions
                .iter()
                .map(|p| format!("{} ({})", p.value, p.resource))
                .collect(),
            privileged: i.privileged(),
        }
    }
}

/// Which apps a session walks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    /// Only apps at these statuses (worst credential); empty: every status.
    pub statuses: Vec<Status>,
    /// Only apps one of whose owners' name or UPN contains this (case-insensitive).
    pub owner: Option<String>,
    /// Only apps holding a privileged application permission.
    pub privileged: bool,
}

impl Scope {
    /// How the scope is recorded and matched when resuming: "all", or e.g. "status=expired,critical owner=frank".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.statuses.is_empty() {
            let list: Vec<&str> = self.statuses.iter().map(|s| s.as_str()).collect();
            parts.push(format!("status={}", list.join(",")));
        }
        if let Some(o) = &self.owner {
            parts.push(format!("owner={}", o.to_lowercase()));
        }
        if self.privileged {
            parts.push("privileged".to_string());
        }
        if parts.is_empty() {
            "all".into()
        } else {
            parts.join(" ")
        }
    }

    /// The status part of the scope, decided from the inventory alone.
    pub fn admits_status(&self, entry: &Entry, now: DateTime<Utc>, t: Thresholds) -> bool {
        self.statuses.is_empty() || self.statuses.contains(&Summary::of(entry, now, t).status)
    }

    /// The parts that need the app's owners and permissions.
    pub fn admits_facts(&self, f: &ReviewFacts) -> bool {
        (!self.privileged || f.privileged)
            && self.owner.as_ref().is_none_or(|o| {
                let o = o.to_lowercase();
                f.owners.iter().any(|x| x.to_lowercase().contains(&o))
            })
    }

    pub fn needs_facts(&self) -> bool {
        self.privileged || self.owner.is_some()
    }
}

/// The app registrations of the inventory, most urgent first (soonest end, then name), as a session walks them.
pub fn apps_in_order(entries: &[Entry]) -> Vec<&Entry> {
    let mut apps: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.object_type == ObjectType::Application)
        .collect();
    apps.sort_by(|a, b| {
        let end = |e: &Entry| e.soonest_expiry().map_or(i64::MAX, |d| d.timestamp());
        end(a)
            .cmp(&end(b))
            .then_with(|| a.display_name.cmp(&b.display_name))
            .then_with(|| a.object_id.as_str().cmp(b.object_id.as_str()))
    });
    apps
}

/// What the walk needs from outside: the facts of one app (Graph), the clock.
pub trait FactSource {
    /// The app's facts and the text shown for it; `Err` with a reason when it cannot be read now.
    fn facts(
        &self,
        entry: &Entry,
    ) -> impl std::future::Future<Output = Result<(ReviewFacts, String), String>>;
    fn now(&self) -> DateTime<Utc>;
}

/// How a walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkEnd {
    /// Every app in the session has a decision.
    Finished,
    /// The reviewer quit (or input ended) with apps left.
    Paused { decided: usize, total: usize },
}

/// Walk the session's undecided apps: show each, ask, record. `entries` is the current inventory (an app deleted
/// since the session started is recorded as gone and skipped).
pub async fn walk<F: FactSource>(
    store: &ReviewStore,
    session: &ReviewSession,
    entries: &[Entry],
    facts: &F,
    reviewer: &str,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<WalkEnd, ReviewStoreError> {
    let total = session.apps.len();
    let mut decided: Vec<String> = store
        .decisions(session.id)?
        .into_iter()
        .map(|d| d.app_object_id)
        .collect();
    let _ = writeln!(
        out,
        "Review {} of tenant {} ({}), reviewer {}: {} of {} apps decided.",
        session.id,
        terminal(&session.tenant_id),
        terminal(&session.scope),
        terminal(reviewer),
        decided.len(),
        total
    );
    for (i, object_id) in session.apps.iter().enumerate() {
        if decided.iter().any(|d| d == object_id) {
            continue;
        }
        let Some(entry) = entries.iter().find(|e| e.object_id.as_str() == object_id) else {
            let _ = writeln!(
                out,
                "\n[{}/{total}] app {} no longer exists in the tenant; skipped.",
                i + 1,
                terminal(object_id)
            );
            continue;
        };
        let (app_facts, card) = match facts.facts(entry).await {
            Ok(f) => f,
            Err(reason) => {
                let _ = writeln!(
                    out,
                    "\n[{}/{total}] {}: cannot be read now ({}); skipped, it stays undecided.",
                    i + 1,
                    terminal(&entry.display_name),
                    terminal(&reason)
                );
                continue;
            }
        };
        let left = total - decided.len();
        let _ = writeln!(
            out,
            "\n[{}/{total}] {left} left ──────────────────────────────\n{card}",
            i + 1
        );
        let Some(answer) = ask_decision(input, out) else {
            let _ = writeln!(out);
            return Ok(WalkEnd::Paused {
                decided: decided.len(),
                total,
            });
        };
        let Some(decision) = answer else {
            let _ = writeln!(out, "skipped for now: it stays undecided.");
            continue;
        };
        let _ = write!(out, "note (optional, Enter for none) > ");
        let _ = out.flush();
        let note = read_line(input).unwrap_or_default();
        let note = note.trim();
        store.decide(
            session.id,
            &DecisionRecord {
                app_object_id: object_id.clone(),
                app_id: entry.app_id.as_str().to_string(),
                display_name: entry.display_name.clone(),
                decision,
                note: (!note.is_empty()).then(|| note.to_string()),
                decided_at: facts.now(),
                reviewer: reviewer.to_string(),
                facts: app_facts,
            },
        )?;
        decided.push(object_id.clone());
        let _ = writeln!(
            out,
            "recorded: {} ({} of {total} decided)",
            decision.as_str(),
            decided.len()
        );
    }
    let all = session
        .apps
        .iter()
        .all(|a| decided.contains(a) || !entries.iter().any(|e| e.object_id.as_str() == a));
    if all {
        store.finish(session.id, facts.now())?;
        Ok(WalkEnd::Finished)
    } else {
        Ok(WalkEnd::Paused {
            decided: decided.len(),
            total,
        })
    }
}

fn read_line(input: &mut dyn BufRead) -> Option<String> {
    let mut line = String::new();
    match input.read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line),
    }
}

/// `None`: quit (or end of input); `Some(None)`: skip for now; `Some(Some(d))`: a decision.
fn ask_decision(input: &mut dyn BufRead, out: &mut dyn Write) -> Option<Option<Decision>> {
    loop {
        let _ = write!(
            out,
            "decision: [k]eep  [r]otate  remove a credential [x]  [e]scalate to the owners  [s]kip for now  [q]uit (resume later) > "
        );
        let _ = out.flush();
        let line = read_line(input)?;
        let answer = line.trim().to_lowercase();
        match answer.as_str() {
            "q" | "quit" => return None,
            "s" | "skip" => return Some(None),
            a => match Decision::from_key(a) {
                Some(d) => return Some(Some(d)),
                None => {
                    let _ = writeln!(out, "type k, r, x, e, s or q");
                }
            },
        }
    }
}

/// The live fact source: `impact::gather` per app, as `keyturn show` reads it.
pub struct GraphFacts<'a> {
    pub session: &'a crate::session::Session,
    pub journal: Vec<crate::store::JournalEntry>,
}

impl FactSource for GraphFacts<'_> {
    async fn facts(&self, entry: &Entry) -> Result<(ReviewFacts, String), String> {
        let app = crate::impact::resolve_app(&self.session.graph, entry.object_id.as_str())
            .await
            .map_err(|e| e.to_string())?;
        let now = self.now();
        let opts = GatherOptions {
            now,
            thresholds: self.session.thresholds,
            unused_days: self.session.settings.unused_days,
            vaults: crate::report::show::vault_source(self.session),
            journal: &self.journal,
        };
        let impact = crate::impact::gather(&self.session.graph, app, opts)
            .await
            .map_err(|e| e.to_string())?;
        let facts = ReviewFacts::of(&impact, entry, now, self.session.thresholds);
        Ok((facts, crate::report::show::text(&impact, now)))
    }

    fn now(&self) -> DateTime<Utc> {
        self.session.clock.now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(owners: &[&str], privileged: bool) -> ReviewFacts {
        ReviewFacts {
            status: "ok".into(),
            days_left: Some(10),
            covered_until: None,
            credentials: 1,
            owners: owners.iter().map(|s| s.to_string()).collect(),
            last_sign_in: None,
            last_use_known: true,
            permissions: vec![],
            privileged,
        }
    }

    #[test]
    fn scopes_are_described_stably_and_admit_what_they_name() {
        assert_eq!(Scope::default().describe(), "all");
        let s = Scope {
            statuses: vec![Status::Expired, Status::Critical],
            owner: Some("Frank".into()),
            privileged: true,
        };
        assert_eq!(
            s.describe(),
            "status=expired,critical owner=frank privileged"
        );
        assert!(s.needs_facts());
        assert!(s.admits_facts(&facts(&["Frank Müller <frank@x>"], true)));
        assert!(!s.admits_facts(&facts(&["Frank Müller <frank@x>"], false)));
        assert!(!s.admits_facts(&facts(&["Erin <erin@x>"], true)));
        assert!(Scope::default().admits_facts(&facts(&[], false)));
    }

    #[test]
    fn decisions_round_trip_through_their_names() {
        for d in Decision::ALL {
            assert_eq!(Decision::parse(d.as_str()), Some(d));
        }
        assert_eq!(Decision::parse("Keep"), None);
    }
}

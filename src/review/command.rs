//! `keyturn review [--status S,...] [--owner TEXT] [--privileged] [--new]` and `keyturn review export`.
use super::export::{self, ExportFormat};
use super::store::ReviewStore;
use super::{FactSource, GraphFacts, Scope, WalkEnd, apps_in_order, walk};
use crate::inventory::Status;
use crate::inventory::load::{LoadOptions, load_all};
use crate::safe_text::terminal;
use crate::session::Session;
use std::io::{BufRead, Write};

const EXIT_OK: u8 = 0;
const EXIT_FAILED: u8 = 3;

/// The statuses a scope can name (the list's status of an app: its worst credential).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReviewStatus {
    Expired,
    Critical,
    Warning,
    Ok,
}

impl From<ReviewStatus> for Status {
    fn from(s: ReviewStatus) -> Self {
        match s {
            ReviewStatus::Expired => Status::Expired,
            ReviewStatus::Critical => Status::Critical,
            ReviewStatus::Warning => Status::Warning,
            ReviewStatus::Ok => Status::Ok,
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct ReviewArgs {
    #[command(subcommand)]
    pub action: Option<ReviewAction>,
    /// Only apps at these statuses, e.g. --status expired,critical [default: every app]
    #[arg(long, value_enum, value_delimiter = ',')]
    pub status: Vec<ReviewStatus>,
    /// Only apps with an owner whose name or UPN contains TEXT.
    #[arg(long, value_name = "TEXT")]
    pub owner: Option<String>,
    /// Only apps holding a privileged application permission.
    #[arg(long)]
    pub privileged: bool,
    /// Start a new session even when one of the same scope is unfinished (it is otherwise resumed).
    #[arg(long)]
    pub new: bool,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ReviewAction {
    /// Write a session's record: every decision with the facts shown and the rotations that followed.
    Export {
        /// The session [default: the latest].
        #[arg(long)]
        session: Option<i64>,
        #[arg(long, value_enum, default_value_t = ExportFormat::Md)]
        format: ExportFormat,
    },
}

/// The person reviewing: the profile's `operator`, else the OS user and host.
pub fn reviewer(session: &Session) -> String {
    session.person()
}

pub async fn review_command(
    session: &Session,
    args: &ReviewArgs,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let Some(journal_path) = &session.journal_path else {
        let _ = writeln!(
            err,
            "keyturn: no data directory to keep the review record in (set XDG_DATA_HOME)"
        );
        return EXIT_FAILED;
    };
    let store = match ReviewStore::open(&ReviewStore::default_path(journal_path)) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            return EXIT_FAILED;
        }
    };
    let journal = session
        .open_journal()
        .and_then(|j| j.list(100_000))
        .unwrap_or_default();
    match &args.action {
        Some(ReviewAction::Export {
            session: id,
            format,
        }) => export_command(&store, *id, *format, &journal, out, err),
        None => run(session, &store, args, journal, input, out, err).await,
    }
}

fn export_command(
    store: &ReviewStore,
    id: Option<i64>,
    format: ExportFormat,
    journal: &[crate::store::JournalEntry],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let result = id
        .map_or_else(|| store.latest_id(), Ok)
        .and_then(|id| Ok((store.session(id)?, store.decisions(id)?)));
    match result {
        Ok((session, decisions)) => {
            let rows = export::rows(&decisions, journal);
            let text = export::render(&session, &rows, format);
            if out
                .write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                return EXIT_FAILED;
            }
            EXIT_OK
        }
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            EXIT_FAILED
        }
    }
}

async fn run(
    session: &Session,
    store: &ReviewStore,
    args: &ReviewArgs,
    journal: Vec<crate::store::JournalEntry>,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let scope = Scope {
        statuses: args.status.iter().map(|s| Status::from(*s)).collect(),
        owner: args.owner.clone().filter(|o| !o.trim().is_empty()),
        privileged: args.privileged,
    };
    let entries = match load_all(
        &session.graph,
        LoadOptions {
            service_principals: false,
        },
    )
    .await
    {
        Ok(e) => e,
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            return EXIT_FAILED;
        }
    };
    let reviewer = reviewer(session);
    let facts = GraphFacts { session, journal };
    let resumed = if args.new {
        None
    } else {
        match store.unfinished(&session.tenant_id, &scope.describe()) {
            Ok(s) => s,
            Err(e) => {
                let _ = writeln!(err, "keyturn: {e}");
                return EXIT_FAILED;
            }
        }
    };
    let review = match resumed {
        Some(s) => {
            let _ = writeln!(
                err,
                "keyturn: resuming review {} started {} by {} (--new starts another)",
                s.id,
                s.started_at.format("%Y-%m-%d %H:%M UTC"),
                terminal(&s.reviewer)
            );
            s
        }
        None => {
            let now = facts.now();
            let mut apps = Vec::new();
            for e in apps_in_order(&entries) {
                if !scope.admits_status(e, now, session.thresholds) {
                    continue;
                }
                if scope.needs_facts() {
                    match facts.facts(e).await {
                        Ok((f, _)) if scope.admits_facts(&f) => {}
                        Ok(_) => continue,
                        Err(reason) => {
                            let _ = writeln!(
                                err,
                                "keyturn: note: {} is left out of the scope: {}",
                                terminal(&e.display_name),
                                terminal(&reason)
                            );
                            continue;
                        }
                    }
                }
                apps.push(e.object_id.as_str().to_string());
            }
            if apps.is_empty() {
                let _ = writeln!(
                    err,
                    "keyturn: no app is in scope ({}); nothing to review",
                    scope.describe()
                );
                return EXIT_OK;
            }
            match store.start(
                &session.tenant_id,
                &scope.describe(),
                &reviewer,
                &session.identity,
                now,
                &apps,
            ) {
                Ok(s) => s,
                Err(e) => {
                    let _ = writeln!(err, "keyturn: {e}");
                    return EXIT_FAILED;
                }
            }
        }
    };
    match walk(store, &review, &entries, &facts, &reviewer, input, out).await {
        Ok(WalkEnd::Finished) => {
            let _ = writeln!(
                out,
                "\nReview {} is complete. Its record: keyturn review export --session {} --format md|csv|json",
                review.id, review.id
            );
            EXIT_OK
        }
        Ok(WalkEnd::Paused { decided, total }) => {
            let _ = writeln!(
                out,
                "\nReview {} paused: {decided} of {total} apps decided. `keyturn review` with the same scope resumes it.",
                review.id
            );
            EXIT_OK
        }
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            EXIT_FAILED
        }
    }
}

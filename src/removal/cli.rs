//! `keyturn remove --app APP --key-id KEYID [--yes] [--last-credential]`: the non-interactive face of removing one
//! credential, with the same plan, rules and journal as the TUI's `D`. Exit codes as `rotate`: 0 removed, 3 not
//! started or not removed (plan only without `--yes`, a refusal, a failed call; nothing changed), with the reason on
//! stderr. `--yes` stands for typing the app's name; `--last-credential` for the second confirmation.
use super::{LAST_CREDENTIAL_PHRASE, RemovalContext};
use crate::graph::KeyId;
use crate::inventory::rfc3339;
use crate::rotation::cli::{EXIT_NOT_STARTED, EXIT_OK, operator_name};
use crate::safe_text::Safe;
use crate::session::Session;
use crate::store::journal::{Journal, RemovalState};
use std::io::Write;

#[derive(Debug, Clone, clap::Args)]
pub struct RemoveArgs {
    /// The application: its appId, object id, or exact display name.
    #[arg(long, value_name = "APP")]
    pub app: String,
    /// The credential to remove (a client secret or a certificate).
    #[arg(long = "key-id", value_name = "KEYID")]
    pub key_id: String,
    /// Remove it (the CLI's form of typing the app's name). Without it the plan is printed and nothing changes.
    #[arg(long)]
    pub yes: bool,
    /// Confirm a second time that the app's last valid credential may go although the app signed in within
    /// `unused_days` (or its last use is unknown).
    #[arg(long = "last-credential")]
    pub last_credential: bool,
}

/// `keyturn remove`, with the session's journal.
pub async fn remove_command(
    session: &Session,
    args: &RemoveArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> u8 {
    match session.open_journal() {
        Ok(j) => remove_command_with(session, &j, args, out, err).await,
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            EXIT_NOT_STARTED
        }
    }
}

pub async fn remove_command_with(
    session: &Session,
    journal: &Journal,
    args: &RemoveArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> u8 {
    if session.read_only && args.yes {
        let _ = writeln!(err, "keyturn: {}", super::RemovalError::ReadOnly);
        return EXIT_NOT_STARTED;
    }
    let now = session.clock.now();
    if args.yes {
        for line in super::reconcile(&session.graph, journal, &session.tenant_id, now).await {
            let _ = writeln!(err, "keyturn: {}", Safe(&line));
        }
    }
    let plan = match super::plan(
        &session.graph,
        &args.app,
        &KeyId::new(args.key_id.trim()),
        session.settings.unused_days,
        now,
        session.thresholds,
    )
    .await
    {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            return EXIT_NOT_STARTED;
        }
    };
    if !args.yes {
        for line in plan.lines(now) {
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(
            err,
            "keyturn: nothing was changed. Add --yes to remove it{}.",
            if plan.needs_second_confirmation {
                " and --last-credential to confirm the last valid credential may go"
            } else {
                ""
            }
        );
        return EXIT_NOT_STARTED;
    }
    let second = args.last_credential.then_some(LAST_CREDENTIAL_PHRASE);
    if let Err(e) = plan.check_confirmation(&plan.app.display_name.clone(), second) {
        let _ = writeln!(err, "keyturn: {e} (add --last-credential)");
        return EXIT_NOT_STARTED;
    }
    let ctx = RemovalContext {
        tenant_id: Some(session.tenant_id.clone()).filter(|t| !t.is_empty()),
        profile: Some(session.settings.profile_name.clone()),
        operator: operator_name(session),
    };
    let outcome = match super::execute(&session.graph, journal, &plan, &ctx, now).await {
        Ok(o) => o,
        Err(e) => {
            let _ = writeln!(err, "keyturn: {e}");
            return EXIT_NOT_STARTED;
        }
    };
    let removed = outcome.state == RemovalState::Removed;
    let doc = serde_json::json!({
        "removalId": outcome.removal_id,
        "app": {
            "objectId": plan.app.object_id.as_str(),
            "appId": plan.app.app_id.as_str(),
            "displayName": plan.app.display_name,
        },
        "keyId": plan.key_id.as_str(),
        "credentialType": plan.credential_type.as_str(),
        "lastSignInDateTime": plan.last_sign_in.map(rfc3339),
        "status": if removed { "removed" } else { "failed" },
        "removedKeyIds": outcome.removed.iter().map(KeyId::as_str).collect::<Vec<_>>(),
        "reason": outcome.detail,
    });
    let _ = writeln!(
        out,
        "{}",
        crate::safe_text::to_json_pretty(&doc).unwrap_or_default()
    );
    if removed {
        EXIT_OK
    } else {
        let _ = writeln!(
            err,
            "keyturn: the {} was not removed: {}",
            plan.credential_type.as_str(),
            Safe(outcome.detail.as_deref().unwrap_or("Graph refused"))
        );
        EXIT_NOT_STARTED
    }
}

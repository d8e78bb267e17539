//! The Changes view (`A`): drawn from a change feed built here, navigated, and Enter opens the app a change concerns;
//! the same on `keyturn demo` in tmux, where the demo's suspicious change is the finding.
use crate::tui::{draw, guid, loaded, now};
use chrono::Duration;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use keyturn::audit::{
    Activity, AuditReport, AuditRow, CredentialState, Initiator, InitiatorType, Retention, Source,
};
use keyturn::graph::{ObjectId, ObjectType};
use keyturn::tui::keymap::Command;
use keyturn::tui::{Action, App, Effect, Screen, update};

fn row(
    app: u32,
    name: &str,
    activity: Activity,
    hours_ago: i64,
    by: &str,
    findings: &[&str],
) -> AuditRow {
    AuditRow {
        activity_date_time: now() - Duration::hours(hours_ago),
        activity,
        activity_display_name: "Update application - Certificates and secrets management".into(),
        target_object_type: Some(ObjectType::Application),
        target_object_id: Some(guid(0xa000 + app)),
        target_app_id: Some(guid(0xb000 + app)),
        target_display_name: Some(name.into()),
        credential_type: Some("secret"),
        key_id: Some(guid(0xd000 + app)),
        credential_name: Some(format!(
            "{}-secret",
            name.split(' ').next().unwrap().to_lowercase()
        )),
        initiated_by: Initiator {
            kind: InitiatorType::User,
            id: Some(guid(0x9000 + app)),
            name: Some(by.into()),
            app_id: None,
            ip_address: Some("203.0.113.7".into()),
        },
        result: Some("success".into()),
        record_id: format!("r{app}"),
        by_keyturn: false,
        findings: findings.iter().map(|f| f.to_string()).collect(),
        privileged: Some(if findings.is_empty() {
            vec![]
        } else {
            vec!["Sites.FullControl.All".into()]
        }),
        credential_state: CredentialState::Present {
            end: Some(now() + Duration::days(700)),
        },
    }
}

fn report() -> AuditReport {
    AuditReport {
        generated_at: now(),
        source: Source::Graph,
        requested_days: 7,
        covered_days: 7,
        retention: Retention {
            days: 30,
            reason: "Entra ID P1/P2 keeps audit logs 30 days".into(),
        },
        rows: vec![
            row(
                1,
                "Payroll Sync",
                Activity::CredentialAdded,
                3,
                "alice@contoso.com",
                &[],
            ),
            row(
                2,
                "Backup Daemon",
                Activity::CredentialAdded,
                20,
                "mallory@contoso.com",
                &[
                    "added by mallory@contoso.com, who is neither an owner of the app nor keyturn",
                    "added to an app with privileged permissions (Sites.FullControl.All)",
                ],
            ),
            row(
                3,
                "HR Portal",
                Activity::CredentialRemoved,
                50,
                "bob@contoso.com",
                &[],
            ),
        ],
        notes: vec![],
        first_subscription: false,
    }
}

fn press(app: &mut App, c: char) -> Option<Effect> {
    let action = app
        .action_for_key(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
        .unwrap_or_else(|| panic!("{c} is bound"));
    update(app, action)
}

fn open(w: u16, h: u16) -> App {
    let mut app = loaded(w, h);
    let effect = press(&mut app, 'A');
    assert_eq!(effect, Some(Effect::LoadChanges { days: 7 }));
    assert!(matches!(app.screen, Screen::Changes(_)));
    update(&mut app, Action::ChangesLoaded(Ok(report())));
    app
}

#[test]
fn snapshot_changes() {
    for (w, h) in [(80, 24), (120, 40)] {
        let mut app = open(w, h);
        update(&mut app, Action::Command(Command::Down));
        insta::assert_snapshot!(format!("changes_{w}x{h}"), draw(&app, w, h).backend());
    }
}

#[test]
fn enter_opens_the_app_of_the_selected_change_and_esc_goes_back() {
    let mut app = open(100, 30);
    // The finding is the second row.
    update(&mut app, Action::Command(Command::Down));
    let effect = update(&mut app, Action::Command(Command::Open));
    match &app.screen {
        Screen::Detail(d) => assert_eq!(d.object_id, ObjectId::new(guid(0xa002))),
        other => panic!("expected the app's detail, got {other:?}"),
    }
    assert!(
        matches!(effect, Some(Effect::LoadDetail { .. })),
        "{effect:?}"
    );
    // Back in the list: A again, Esc returns to the list.
    update(&mut app, Action::Command(Command::Back));
    press(&mut app, 'A');
    update(&mut app, Action::ChangesLoaded(Ok(report())));
    update(&mut app, Action::Command(Command::Back));
    assert!(matches!(app.screen, Screen::List));
}

#[test]
fn a_feed_that_cannot_be_read_says_why_and_how_to_retry() {
    let mut app = loaded(80, 24);
    press(&mut app, 'A');
    update(
        &mut app,
        Action::ChangesLoaded(Err(keyturn::tui::event::LoadError {
            short: "permission missing",
            message: "lacks AuditLog.Read.All".into(),
        })),
    );
    let text = format!("{:?}", draw(&app, 80, 24).backend());
    assert!(
        text.contains("Could not read the audit log (permission missing)"),
        "{text}"
    );
    assert!(text.contains("lacks AuditLog.Read.All"));
    // Ctrl-r reads again.
    assert_eq!(
        update(&mut app, Action::Command(Command::Reload)),
        Some(Effect::LoadChanges { days: 7 })
    );
}

#[test]
fn demo_in_tmux_shows_the_finding_and_enter_opens_its_app() {
    use crate::e2e_tmux::{Tmux, require_tmux, shell};
    if !require_tmux("demo_in_tmux_shows_the_finding_and_enter_opens_its_app") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let tmux = Tmux::start(home.path());
    shell(&tmux);
    tmux.type_text(&format!("{} demo", env!("CARGO_BIN_EXE_keyturn")));
    tmux.key("Enter");
    tmux.wait_for("the app list to load", |s| {
        s.contains(" loaded ") && s.lines().any(|l| l.starts_with("▶ "))
    });
    tmux.type_text("A");
    let screen = tmux.wait_for("the change feed", |s| {
        s.contains(" Changes ") && s.contains("with findings") && s.contains("debug-temp")
    });
    // Newest first: the demo's suspicious secret is on top, flagged, and its reasons are shown.
    let selected = screen
        .lines()
        .find(|l| l.starts_with("▶ "))
        .expect("a selected change");
    assert!(
        selected.contains("⚑")
            && selected.contains("debug-temp")
            && selected.contains("ci-pipeline-deployer"),
        "{screen}"
    );
    assert!(
        screen.contains("FINDING: added by frank.mueller@contoso-demo.onmicrosoft.com"),
        "{screen}"
    );
    assert!(
        screen.contains("privileged (Application.ReadWrite.All)"),
        "{screen}"
    );
    tmux.key("Enter");
    tmux.wait_for("the app's detail", |s| {
        s.contains("ci-pipeline-deployer · app registration · appId") && s.contains("debug-temp")
    });
    tmux.key("Escape");
    tmux.type_text("q");
}

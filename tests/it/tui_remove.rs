//! `D` in the detail view: removing one credential as an action of its own. State driven through `update`, the
//! confirmations drawn on a TestBackend; the engine's plan is built by `removal::plan_from` from an app as Graph
//! would send it, so the screen shows what the engine decided.
use crate::tui::{
    audit_events, draw, guid, loaded, now, open_with, owners_alice, press, select_payroll,
};
use chrono::Duration;
use crossterm::event::KeyCode;
use keyturn::graph::{Application, KeyId, ObjectId};
use keyturn::impact::{ImpactFacts, LastUseState};
use keyturn::inventory::Thresholds;
use keyturn::removal::{LAST_CREDENTIAL_PHRASE, RemovalOutcome, RemovalPlan, plan_from};
use keyturn::store::RemovalState;
use keyturn::tui::app::{Effect, Popup};
use keyturn::tui::event::RotationUpdate;
use keyturn::tui::{Action, App, update};
use std::collections::HashMap;

/// Payroll Sync as Graph sends it: an expired secret and a valid one that signed in 2 hours ago, so the valid one
/// is its last valid credential and the app is in use.
fn payroll_plan(key: &str) -> RemovalPlan {
    let app: Application = serde_json::from_value(serde_json::json!({
        "id": guid(0xa001),
        "appId": guid(0xb001),
        "displayName": "Payroll Sync",
        "passwordCredentials": [
            {"keyId": guid(0xc001), "displayName": "payroll-2025",
             "startDateTime": (now() - Duration::days(365)).to_rfc3339(),
             "endDateTime": (now() - Duration::days(2)).to_rfc3339()},
            {"keyId": guid(0xc002), "displayName": "payroll-2026",
             "startDateTime": (now() - Duration::days(10)).to_rfc3339(),
             "endDateTime": (now() + Duration::days(170)).to_rfc3339()},
        ],
        "keyCredentials": [],
    }))
    .unwrap();
    let facts = ImpactFacts {
        last_use: LastUseState::Known,
        last_sign_in: HashMap::from([(KeyId::new(guid(0xc002)), now() - Duration::hours(2))]),
        permissions: Vec::new(),
        has_service_principal: Some(true),
        permissions_unknown: None,
        unused_days: 90,
    };
    plan_from(app, &KeyId::new(key), &facts, now(), Thresholds::default()).unwrap()
}

fn detail(w: u16, h: u16) -> App {
    let mut app = loaded(w, h);
    let earlier = select_payroll(&mut app);
    open_with(&mut app, earlier, owners_alice(), audit_events());
    app
}

fn planned(app: &mut App, plan: RemovalPlan) {
    let effect = update(
        app,
        Action::Rotation(RotationUpdate::RemovalPlanned {
            result: Ok(Box::new(plan)),
        }),
    );
    assert!(effect.is_none());
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn erase(app: &mut App, n: usize) {
    for _ in 0..n {
        press(app, KeyCode::Backspace);
    }
}

fn confirm_title(app: &App) -> Option<String> {
    match &app.popup {
        Some(Popup::Confirm(c)) => Some(c.title.clone()),
        _ => None,
    }
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let t = draw(app, w, h);
    let buf = t.backend().buffer();
    let mut s = String::new();
    for y in 0..h {
        for x in 0..w {
            s.push_str(buf[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}

#[test]
fn d_asks_the_engine_for_a_plan_of_the_selected_credential() {
    let mut app = detail(100, 32);
    match press(&mut app, KeyCode::Char('D')) {
        Some(Effect::PlanRemoval {
            object_id, key_id, ..
        }) => {
            assert_eq!(object_id, ObjectId::new(guid(0xa001)));
            let row = app.detail_row().unwrap();
            assert!(
                row.entry.credentials.iter().any(|c| c.key_id == key_id),
                "the credential under the cursor: {key_id}"
            );
        }
        other => panic!("D plans a removal, got {other:?}"),
    }
}

#[test]
fn the_last_valid_credential_needs_the_name_then_the_phrase_and_nothing_goes_without_them() {
    let (w, h) = (100, 32);
    let mut app = detail(w, h);
    planned(&mut app, payroll_plan(&guid(0xc002)));
    insta::assert_snapshot!(
        "remove_credential_confirm_100x32",
        draw(&app, w, h).backend()
    );
    let text = screen(&app, w, h);
    assert!(text.contains("Last use: signed in 2 h ago"), "{text}");
    assert!(text.contains("LAST valid credential"), "{text}");

    // Confirm without the name, then with a near miss: nothing happens, the dialog stays.
    press(&mut app, KeyCode::Tab);
    assert_eq!(press(&mut app, KeyCode::Enter), None);
    assert_eq!(
        confirm_title(&app).as_deref(),
        Some("Remove the app's LAST valid credential")
    );
    type_text(&mut app, "Payroll Syn");
    assert_eq!(press(&mut app, KeyCode::Enter), None);
    assert!(
        confirm_title(&app).is_some(),
        "a near miss is a reason to stop"
    );
    type_text(&mut app, "c");
    // The name is right: the second confirmation, not the removal.
    assert_eq!(press(&mut app, KeyCode::Enter), None);
    assert_eq!(confirm_title(&app).as_deref(), Some("Second confirmation"));
    insta::assert_snapshot!(
        "remove_credential_second_100x32",
        draw(&app, w, h).backend()
    );
    type_text(&mut app, "Payroll Sync");
    press(&mut app, KeyCode::Tab);
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        None,
        "the name is not the phrase"
    );
    erase(&mut app, "Payroll Sync".len());
    type_text(&mut app, LAST_CREDENTIAL_PHRASE);
    match press(&mut app, KeyCode::Enter) {
        Some(Effect::RemoveCredential { plan }) => {
            assert_eq!(plan.key_id, KeyId::new(guid(0xc002)));
            assert!(plan.needs_second_confirmation);
        }
        other => panic!("both confirmations given: the removal, got {other:?}"),
    }

    // The engine's answer: the message, and the app read again.
    let effect = update(
        &mut app,
        Action::Rotation(RotationUpdate::CredentialRemoved {
            object_id: ObjectId::new(guid(0xa001)),
            result: Ok(RemovalOutcome {
                removal_id: 4,
                state: RemovalState::Removed,
                removed: vec![KeyId::new(guid(0xc002))],
                detail: None,
            }),
        }),
    );
    assert_eq!(
        effect,
        Some(Effect::ReloadApp {
            object_id: ObjectId::new(guid(0xa001))
        })
    );
    assert!(screen(&app, w, h).contains("journal entry 4"));
}

#[test]
fn a_credential_beside_a_valid_one_needs_only_the_name_and_esc_cancels() {
    let (w, h) = (100, 32);
    let mut app = detail(w, h);
    let plan = payroll_plan(&guid(0xc001));
    assert!(!plan.needs_second_confirmation, "the expired one");
    planned(&mut app, plan.clone());
    press(&mut app, KeyCode::Esc);
    assert!(app.popup.is_none(), "Esc cancels: nothing removed");

    planned(&mut app, plan);
    type_text(&mut app, "Payroll Sync");
    press(&mut app, KeyCode::Tab);
    match press(&mut app, KeyCode::Enter) {
        Some(Effect::RemoveCredential { plan }) => {
            assert_eq!(plan.key_id, KeyId::new(guid(0xc001)))
        }
        other => panic!("the name is enough here, got {other:?}"),
    }
}

#[test]
fn a_refused_plan_is_said_and_changes_nothing() {
    let (w, h) = (100, 32);
    let mut app = detail(w, h);
    let effect = update(
        &mut app,
        Action::Rotation(RotationUpdate::RemovalPlanned {
            result: Err("Payroll Sync has no credential with keyId zz".into()),
        }),
    );
    assert!(effect.is_none());
    assert!(matches!(
        app.popup,
        Some(Popup::Message { danger: true, .. })
    ));
    assert!(screen(&app, w, h).contains("no credential with keyId zz"));
}

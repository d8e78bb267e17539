//! The rotation screens (plan, confirm, progress, result) and their popups, driven through `update`.
use super::*;

#[test]
fn snapshot_rotation_plan_with_mapped_target() {
    for (w, h) in SIZES {
        let app = plan_open(w, h, payroll_plan(true));
        insta::assert_snapshot!(format!("rotation_plan_{w}x{h}"), draw(&app, w, h).backend());
    }
}

#[test]
fn snapshot_rotation_plan_asking_for_the_target() {
    for (w, h) in SIZES {
        let mut app = plan_open(w, h, payroll_plan(false));
        // Shift-Tab from Cancel walks up: name, keep-until, secret name, vault URL.
        for _ in 0..4 {
            press(&mut app, KeyCode::BackTab);
        }
        assert_eq!(focus(&app), PlanField::VaultUrl);
        type_text(&mut app, "http://kv-payroll.vault.azure.net");
        press(&mut app, KeyCode::Tab);
        type_text(&mut app, "payroll-sync");
        // Enter checks what is typed: an http:// vault is refused inline, nothing is asked of the vault.
        assert!(press(&mut app, KeyCode::Enter).is_none());
        insta::assert_snapshot!(
            format!("rotation_plan_ask_target_{w}x{h}"),
            draw(&app, w, h).backend()
        );
    }
}

#[test]
fn snapshot_rotation_progress() {
    for (w, h) in SIZES {
        let mut app = plan_open(w, h, payroll_plan(true));
        confirm(&mut app);
        run_until_throttled(&mut app);
        let text = screen_text(&app, w, h);
        assert!(text.contains("retrying in 3 s"), "{text}");
        assert!(
            text.contains("rotating Payroll Sync: store failed, retrying in 3 s"),
            "status line: {text}"
        );
        insta::assert_snapshot!(
            format!("rotation_progress_{w}x{h}"),
            draw(&app, w, h).backend()
        );
    }
}

#[test]
fn snapshot_rotation_success() {
    for (w, h) in SIZES {
        let mut app = plan_open(w, h, payroll_plan(true));
        let (request, _) = confirm(&mut app);
        run_until_throttled(&mut app);
        state(
            &mut app,
            RotationState::StoredInVault {
                version: "5d4c3b2a19f04e8d9c7b6a5f4e3d2c1b".into(),
            },
        );
        step(&mut app, Step::ReadBack);
        state(&mut app, RotationState::Verified);
        step(&mut app, Step::RemoveOld);
        state(&mut app, RotationState::OldRemoved);
        state(&mut app, RotationState::Done);
        let effect = update(
            &mut app,
            Action::Rotation(RotationUpdate::Ended {
                request,
                result: Ok(report("Done", true)),
            }),
        );
        assert_eq!(
            effect,
            Some(Effect::ReloadApp {
                object_id: GraphObjectId::new(guid(0xa001))
            }),
            "the app is read again so the new secret shows"
        );
        let text = screen_text(&app, w, h);
        assert!(text.contains(NEW_KEY), "{text}");
        insta::assert_snapshot!(format!("rotation_done_{w}x{h}"), draw(&app, w, h).backend());
    }
}

#[test]
fn snapshot_rotation_failure() {
    for (w, h) in SIZES {
        let mut app = plan_open(w, h, payroll_plan(true));
        let (request, _) = confirm(&mut app);
        progress(
            &mut app,
            RotationProgress::Started {
                rotation_id: 7,
                app_name: "Payroll Sync".into(),
            },
        );
        step(&mut app, Step::AddSecret);
        state(
            &mut app,
            RotationState::SecretAdded {
                new_key_id: KeyId::new(NEW_KEY),
            },
        );
        step(&mut app, Step::StoreInVault);
        progress(
            &mut app,
            RotationProgress::StepFailed {
                rotation_id: 7,
                step: Step::StoreInVault,
                error: "403 Forbidden: the identity lacks Key Vault Secrets Officer on kv-payroll"
                    .into(),
                retry_in: None,
            },
        );
        step(&mut app, Step::RemoveNew);
        progress(
            &mut app,
            RotationProgress::StepFinished {
                rotation_id: 7,
                step: Step::RemoveNew,
                detail: "removed".into(),
            },
        );
        state(
            &mut app,
            RotationState::RolledBack {
                reason: "the vault refused the write".into(),
            },
        );
        update(
            &mut app,
            Action::Rotation(RotationUpdate::Ended {
                request,
                result: Ok(report("RolledBack", false)),
            }),
        );
        insta::assert_snapshot!(
            format!("rotation_failed_{w}x{h}"),
            draw(&app, w, h).backend()
        );
        // Esc (or Enter) goes back to the app; nothing is left open.
        press(&mut app, KeyCode::Esc);
        assert!(app.flow.is_none());
        assert!(matches!(app.screen, Screen::Detail(_)));
    }
}

#[test]
fn rotation_confirm_starts_on_cancel_and_needs_the_exact_name() {
    let mut app = plan_open(80, 24, payroll_plan(true));
    assert_eq!(focus(&app), PlanField::Cancel, "focus starts on Cancel");
    // A stray Enter cancels: nothing is started.
    assert!(press(&mut app, KeyCode::Enter).is_none());
    assert!(app.flow.is_none());

    let mut app = plan_open(80, 24, payroll_plan(true));
    // Letters are text on the plan screen, even q and ?.
    assert!(matches!(
        key(&app, KeyCode::Char('q')),
        Some(Action::DialogInput('q'))
    ));
    press(&mut app, KeyCode::Tab);
    assert_eq!(focus(&app), PlanField::Confirm);
    for typed in [
        "",
        "Payroll Syn",
        "payroll sync",
        "Payroll Sync ",
        " Payroll Sync",
    ] {
        let Some(FlowStage::Plan(form)) = app.flow.as_mut().map(|f| &mut f.stage) else {
            panic!()
        };
        form.name = typed.into();
        assert!(!form.accepted(), "{typed:?} must not approve");
        assert!(
            press(&mut app, KeyCode::Enter).is_none(),
            "Confirm with {typed:?} started something"
        );
        assert!(matches!(
            app.flow.as_ref().map(|f| &f.stage),
            Some(FlowStage::Plan(_))
        ));
    }
    assert!(screen_text(&app, 80, 24).contains("Type the app's name exactly"));
    // Esc never starts anything either.
    assert!(press(&mut app, KeyCode::Esc).is_none());
    assert!(app.flow.is_none());

    // The exact name (typed with focus on a button: letters go to the name field) approves; keep-until applies.
    let mut app = plan_open(80, 24, payroll_plan(true));
    press(&mut app, KeyCode::BackTab);
    press(&mut app, KeyCode::BackTab);
    assert_eq!(focus(&app), PlanField::KeepUntil);
    type_text(&mut app, "2026-12-31");
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    assert_eq!(focus(&app), PlanField::Cancel);
    let (_, approved) = confirm(&mut app);
    assert_eq!(approved.approver, "on-call");
    // Payroll Sync's old secret expired 3 days ago: nothing can be using it, so whatever is typed it is removed
    // once the new one is proven.
    assert_eq!(
        approved.plan.old_disposition,
        OldDisposition::RemoveWhenProven
    );
    assert!(matches!(
        app.flow.as_ref().map(|f| &f.stage),
        Some(FlowStage::Running(_))
    ));
    // While it runs, `q` explains first instead of quitting.
    press(&mut app, KeyCode::Char('q'));
    assert!(!app.should_quit);
    assert!(matches!(app.popup, Some(Popup::Message { .. })));
}

#[test]
fn keep_until_accepts_a_date_days_or_end() {
    use keyturn::tui::app::parse_keep;
    assert_eq!(parse_keep("", now()), Ok(OldDisposition::RemoveWhenProven));
    assert_eq!(parse_keep("0", now()), Ok(OldDisposition::RemoveWhenProven));
    assert_eq!(
        parse_keep("14", now()),
        Ok(OldDisposition::KeepUntil(now() + Duration::days(14)))
    );
    // "end": as far as allowed; the plan caps it at the old secret's own end.
    assert_eq!(
        parse_keep("end", now()),
        Ok(OldDisposition::KeepUntil(now() + Duration::days(730)))
    );
    assert!(parse_keep("2026-11-01", now()).is_err(), "in the past");
    assert!(parse_keep("-1", now()).is_err());
    assert!(parse_keep("next week", now()).is_err());
}

#[test]
fn an_unmapped_secret_is_checked_before_confirm() {
    let mut app = plan_open(80, 24, payroll_plan(false));
    type_text(&mut app, "Payroll Sync");
    press(&mut app, KeyCode::Tab);
    // No vault secret yet: Confirm says what is missing and starts nothing.
    assert!(press(&mut app, KeyCode::Enter).is_none());
    let Some(FlowStage::Plan(form)) = app.flow.as_ref().map(|f| &f.stage) else {
        panic!()
    };
    assert!(matches!(form.target_check, TargetCheck::Failed(_)));
    // Type a valid one: Enter in the field asks the runner to read its current version.
    press(&mut app, KeyCode::Tab);
    assert_eq!(focus(&app), PlanField::VaultUrl);
    type_text(&mut app, VAULT);
    press(&mut app, KeyCode::Tab);
    type_text(&mut app, "payroll-sync");
    let Some(Effect::CheckRotationTarget {
        request, target, ..
    }) = press(&mut app, KeyCode::Enter)
    else {
        panic!("Enter in the vault fields checks the secret")
    };
    assert_eq!(target, SecretTarget::new(VAULT, "payroll-sync").unwrap());
    update(
        &mut app,
        Action::Rotation(RotationUpdate::TargetChecked {
            request,
            result: Ok(Box::new(payroll_plan(true))),
        }),
    );
    assert!(screen_text(&app, 80, 24).contains("now version 0a1b2c3d"));
    // Back to Confirm (the name is still typed): the rotation starts with the typed target.
    while focus(&app) != PlanField::Confirm {
        press(&mut app, KeyCode::Tab);
    }
    let Some(Effect::Rotate { approved, .. }) = press(&mut app, KeyCode::Enter) else {
        panic!("Confirm starts the rotation once the target is checked")
    };
    assert_eq!(approved.target.target.name, "payroll-sync");
}

#[test]
fn journal_news_and_device_code_prompt_are_popups() {
    use keyturn::auth::DeviceCodePrompt;
    use keyturn::tui::event::StartupNews;
    let mut app = loaded(80, 24);
    update(
        &mut app,
        Action::SignIn(Some(DeviceCodePrompt {
            user_code: "ABCD-EFGH".into(),
            verification_uri: "https://microsoft.com/devicelogin".into(),
            message: "To sign in, use a web browser".into(),
            expires_at: now() + Duration::minutes(15),
        })),
    );
    assert!(matches!(app.popup, Some(Popup::SignIn(_))));
    let text = screen_text(&app, 80, 24);
    assert!(
        text.contains("ABCD-EFGH") && text.contains("microsoft.com/devicelogin"),
        "{text}"
    );
    insta::assert_snapshot!("sign_in_80x24", draw(&app, 80, 24).backend());
    // News arriving meanwhile waits for the prompt to close, which the sign-in's end does.
    update(
        &mut app,
        Action::Startup(StartupNews {
            lines: vec!["rotation 3 of Payroll Sync (…): NEEDS ATTENTION: …".into()],
            recovered: 0,
            pending: Vec::new(),
        }),
    );
    assert!(matches!(app.popup, Some(Popup::SignIn(_))));
    update(&mut app, Action::SignIn(None));
    let Some(Popup::Message { title, lines, .. }) = &app.popup else {
        panic!("the journal's news shows once the prompt is gone")
    };
    assert_eq!(title, "1 rotation needs attention");
    assert!(lines[0].contains("rotation 3 of Payroll Sync"));
    press(&mut app, KeyCode::Esc);
    assert!(app.popup.is_none());
}

#[test]
fn pending_removals_are_counted_marked_listed_and_run_after_typing_the_name() {
    use keyturn::tui::event::{PendingRemoval, StartupNews};
    let mut app = loaded(100, 30);
    let pending = |id: i64, n: u32, name: &str, due_days: f64| PendingRemoval {
        rotation_id: id,
        app_object_id: ObjectId::new(guid(0xa000 + n)),
        app_name: name.into(),
        old_key_id: KeyId::new(guid(0xc000 + n)),
        due: at(due_days),
        note: None,
    };
    update(
        &mut app,
        Action::Startup(StartupNews {
            lines: vec!["rotation 7 of Payroll Sync: the old secret is kept until …".into()],
            recovered: 0,
            pending: vec![
                pending(7, 1, "Payroll Sync", -0.5),
                pending(8, 3, "HR Portal", 4.0),
            ],
        }),
    );
    press(&mut app, KeyCode::Esc);
    let text = screen_text(&app, 100, 30);
    assert!(text.contains("2 pending removals, 1 due (P)"), "{text}");
    let marked = text.lines().filter(|l| l.contains('⌛')).count();
    assert_eq!(marked, 3, "the header and the two apps: {text}");
    assert!(
        text.lines()
            .any(|l| l.contains("Payroll Sync") && l.contains('⌛')),
        "{text}"
    );
    // P lists them, with what is due.
    press(&mut app, KeyCode::Char('P'));
    let Some(Popup::Message { lines, .. }) = &app.popup else {
        panic!("P opens the list");
    };
    assert!(
        lines[0].contains("rotation 7") && lines[0].contains("DUE NOW"),
        "{lines:?}"
    );
    assert!(
        lines[1].contains("rotation 8") && lines[1].contains("due "),
        "{lines:?}"
    );
    press(&mut app, KeyCode::Esc);
    // x in Payroll Sync's detail asks for its name; only then does the removal run.
    let moved = select_payroll(&mut app);
    open_with(&mut app, moved, owners_alice(), Vec::new());
    assert!(screen_text(&app, 100, 30).contains("Payroll Sync"));
    assert!(press(&mut app, KeyCode::Char('x')).is_none());
    let Some(Popup::Confirm(c)) = &app.popup else {
        panic!("x on a due removal asks for confirmation");
    };
    assert_eq!(c.accept, "Payroll Sync");
    for ch in "Payroll Sync".chars() {
        update(&mut app, Action::DialogInput(ch));
    }
    press(&mut app, KeyCode::Tab);
    let effect = press(&mut app, KeyCode::Enter);
    assert_eq!(effect, Some(Effect::RemoveOld { rotation_id: 7 }));
}

//! The rotation flow through `update` and the real effect runner, against the emulator.
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_flow_through_update_and_the_runner_against_the_emulator() {
    let emu = crate::support::start(keyturn::emulator::EmulatorConfig::default()).await;
    let info = emu.info().clone();
    let mut session = crate::support::session(&emu);
    session.settings.vaults = info.vault_urls.clone();
    session.settings.profile.operator = Some("on-call".into());

    // An app whose secret the demo vault holds (tags ProviderAddress + CredentialId), as the detail shows it.
    let state = emu.state();
    let (object_id, key_id, name) = state["vaults"][0]["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|s| {
            let tags = &s["versions"].as_array()?.last()?["tags"];
            let (app, key) = (
                tags["ProviderAddress"].as_str()?,
                tags["CredentialId"].as_str()?,
            );
            let a = state["applications"]
                .as_array()?
                .iter()
                .find(|a| a["id"] == app)?;
            a["passwordCredentials"]
                .as_array()?
                .iter()
                .any(|c| c["keyId"] == key)
                .then(|| {
                    (
                        ObjectId::new(app),
                        KeyId::new(key),
                        a["displayName"].as_str().unwrap().to_string(),
                    )
                })
        })
        .expect("the demo tenant maps an app secret into its vault");

    let Harness {
        mut app,
        mut runner,
        mut rx,
        journal,
        _dir,
    } = harness(&session, &info.vault_urls);

    // Load, select the app, open it, select the mapped secret.
    let first = app.start();
    runner.run(first);
    pump(
        &mut app,
        &mut runner,
        &mut rx,
        "the inventory",
        |_| {},
        |a| a.phase == keyturn::tui::app::LoadPhase::Done && a.inventory.get(&object_id).is_some(),
    )
    .await;
    let pos = app.inventory.position_of(&object_id).unwrap();
    for _ in 0..pos {
        key_and_run(&mut app, &mut runner, KeyCode::Down);
    }
    key_and_run(&mut app, &mut runner, KeyCode::Enter);
    let index = app
        .detail_row()
        .unwrap()
        .entry
        .credentials
        .iter()
        .position(|c| c.key_id.as_str().eq_ignore_ascii_case(key_id.as_str()))
        .unwrap();
    for _ in 0..index {
        key_and_run(&mut app, &mut runner, KeyCode::Down);
    }

    // r -> the plan, built by the engine in the runner.
    key_and_run(&mut app, &mut runner, KeyCode::Char('r'));
    assert!(matches!(
        app.flow.as_ref().map(|f| &f.stage),
        Some(FlowStage::Planning)
    ));
    pump(
        &mut app,
        &mut runner,
        &mut rx,
        "the plan",
        |_| {},
        |a| !matches!(a.flow.as_ref().map(|f| &f.stage), Some(FlowStage::Planning)),
    )
    .await;
    let Some(FlowStage::Plan(form)) = app.flow.as_ref().map(|f| &f.stage) else {
        panic!("no plan: {:?}", app.flow)
    };
    assert_eq!(form.focus, PlanField::Cancel);
    assert!(!form.ask_target, "the demo vault's tags map this secret");
    assert_eq!(form.plan.old.key_id.as_str(), key_id.as_str());

    // Type the name, Confirm -> progress events -> the result.
    type_text(&mut app, &name);
    press(&mut app, KeyCode::Tab);
    key_and_run(&mut app, &mut runner, KeyCode::Enter);
    let mut saw_running = Vec::new();
    let mut saw_wait = false;
    pump(
        &mut app,
        &mut runner,
        &mut rx,
        "the rotation's result",
        |a| {
            if let Some(FlowStage::Running(run)) = a.flow.as_ref().map(|f| &f.stage) {
                saw_wait |= run.waiting.is_some();
                for l in &run.steps {
                    if l.state == keyturn::tui::app::StepState::Running
                        && !saw_running.contains(&l.step)
                    {
                        saw_running.push(l.step);
                    }
                }
            }
        },
        |a| {
            matches!(
                a.flow.as_ref().map(|f| &f.stage),
                Some(FlowStage::Result(_))
            )
        },
    )
    .await;
    assert_eq!(
        saw_running,
        [
            Step::AddSecret,
            Step::StoreInVault,
            Step::ReadBack,
            Step::Prove
        ],
        "each step was shown running, in order"
    );
    assert!(
        saw_wait,
        "the emulator's 5 s propagation delay was shown as a wait"
    );
    let Some(FlowStage::Result(result)) = app.flow.as_ref().map(|f| &f.stage) else {
        panic!()
    };
    let report = result.outcome.clone().expect("the rotation ran");
    // The default disposition: the old secret is kept (the profile's keep_old_days) as a pending removal.
    assert_eq!(report.state, "OldRemovalPending", "{report:?}");
    assert!(report.completed);
    let new_key = report.new_key_id.clone().expect("a new keyId");
    assert!(screen_text(&app, 120, 40).contains(new_key.as_str()));
    assert_eq!(
        journal.get(report.rotation_id).unwrap().state_kind,
        keyturn::rotation::StateKind::OldRemovalPending
    );
    assert_eq!(app.pending_removals.len(), 1, "counted in the header");

    // The app is read again: its row and detail show the new secret (and the vault's "stored in" follows).
    let new_lower = KeyId::new(new_key.as_str().to_ascii_lowercase());
    pump(
        &mut app,
        &mut runner,
        &mut rx,
        "the reloaded app",
        |_| {},
        |a| {
            let row = a.inventory.get(&object_id).unwrap();
            row.entry.credentials.iter().any(|c| c.key_id == new_key)
                && row.entry.credentials.iter().any(|c| c.key_id == key_id)
                && a.stored_in.contains_key(&new_lower)
        },
    )
    .await;
    press(&mut app, KeyCode::Esc);
    assert!(app.flow.is_none());
    let text = screen_text(&app, 120, 40);
    assert!(text.contains(new_key.short()), "{text}");
    runner.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmapped_secret_is_typed_in_checked_and_rotated_against_the_emulator() {
    let emu = crate::support::start(keyturn::emulator::EmulatorConfig {
        propagation_delay: std::time::Duration::ZERO,
        ..keyturn::emulator::EmulatorConfig::default()
    })
    .await;
    let info = emu.info().clone();
    let mut session = crate::support::session(&emu);
    session.settings.vaults = info.vault_urls.clone();

    // An app with one client secret that no vault secret is tagged for: the plan has to ask.
    let state = emu.state();
    let tagged: Vec<String> = state["vaults"][0]["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| {
            let v = s["versions"].as_array()?.last()?;
            v["tags"]["ProviderAddress"].as_str().map(str::to_string)
        })
        .collect();
    let app = state["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["passwordCredentials"]
                .as_array()
                .is_some_and(|p| p.len() == 1)
                && !tagged.iter().any(|t| a["id"] == t.as_str())
        })
        .expect("an unmapped app");
    let object_id = ObjectId::new(app["id"].as_str().unwrap());
    let key_id = KeyId::new(app["passwordCredentials"][0]["keyId"].as_str().unwrap());
    let name = app["displayName"].as_str().unwrap().to_string();

    let mut h = harness(&session, &info.vault_urls);
    plan_for(&mut h, &object_id, &key_id).await;
    let Some(FlowStage::Plan(form)) = h.app.flow.as_ref().map(|f| &f.stage) else {
        panic!("no plan: {:?}", h.app.flow)
    };
    assert!(
        form.ask_target,
        "no mapping: the screen asks for the vault secret"
    );

    // Vault URL and a secret that does not exist yet; Enter asks the runner to check it.
    while focus(&h.app) != PlanField::VaultUrl {
        press(&mut h.app, KeyCode::Tab);
    }
    type_text(&mut h.app, &info.vault_urls[0]);
    press(&mut h.app, KeyCode::Tab);
    type_text(&mut h.app, "typed-in-secret");
    key_and_run(&mut h.app, &mut h.runner, KeyCode::Enter);
    pump(
        &mut h.app,
        &mut h.runner,
        &mut h.rx,
        "the target check",
        |_| {},
        |a| {
            matches!(
                a.flow.as_ref().map(|f| &f.stage),
                Some(FlowStage::Plan(f)) if f.target_check != TargetCheck::Checking
            )
        },
    )
    .await;
    let Some(FlowStage::Plan(form)) = h.app.flow.as_ref().map(|f| &f.stage) else {
        panic!()
    };
    assert_eq!(form.target_check, TargetCheck::Checked);
    let target = form.plan.target.as_ref().expect("the checked target");
    assert_eq!(target.source, MappingSource::Operator);
    assert!(target.current.is_none(), "the secret does not exist yet");

    press(&mut h.app, KeyCode::Tab);
    assert_eq!(focus(&h.app), PlanField::KeepUntil);
    // The operator changes the disposition: the keep field starts at the profile's 7 days; emptied, the old
    // secret is removed once the new one is proven.
    let Some(FlowStage::Plan(form)) = h.app.flow.as_ref().map(|f| &f.stage) else {
        panic!()
    };
    assert_eq!(form.keep, "7");
    press(&mut h.app, KeyCode::Backspace);
    assert!(screen_text(&h.app, 120, 40).contains("remove once proven"));
    press(&mut h.app, KeyCode::Tab);
    assert_eq!(focus(&h.app), PlanField::Name);
    type_text(&mut h.app, &name);
    press(&mut h.app, KeyCode::Tab);
    press(&mut h.app, KeyCode::Tab);
    assert_eq!(focus(&h.app), PlanField::Confirm);
    key_and_run(&mut h.app, &mut h.runner, KeyCode::Enter);
    pump(
        &mut h.app,
        &mut h.runner,
        &mut h.rx,
        "the result",
        |_| {},
        |a| {
            matches!(
                a.flow.as_ref().map(|f| &f.stage),
                Some(FlowStage::Result(_))
            )
        },
    )
    .await;
    let Some(FlowStage::Result(result)) = h.app.flow.as_ref().map(|f| &f.stage) else {
        panic!()
    };
    let report = result.outcome.clone().expect("the rotation ran");
    assert_eq!(report.state, "Done", "{report:?}");
    assert!(
        report
            .vault_secret_id
            .as_deref()
            .is_some_and(|id| id.contains("/secrets/typed-in-secret/")),
        "{report:?}"
    );
    h.runner.shutdown();
}

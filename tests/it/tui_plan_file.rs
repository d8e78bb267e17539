//! `^s` on the TUI's plan screen writes the same plan file `keyturn rotate --plan-out` writes, with the old secret's
//! disposition as typed on the screen, ready for `keyturn rotate --plan FILE --yes`.
use super::tui::{focus, harness, plan_for, pump, type_text};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use keyturn::graph::{KeyId, ObjectId};
use keyturn::rotation::OldDisposition;
use keyturn::rotation::plan_file::PlanFile;
use keyturn::tui::app::{FlowStage, PlanField};
use keyturn::tui::update;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_s_on_the_plan_writes_the_plan_file_with_the_disposition_as_typed() {
    let emu = crate::support::start(keyturn::emulator::EmulatorConfig::default()).await;
    let info = emu.info().clone();
    let mut session = crate::support::session(&emu);
    session.settings.vaults = info.vault_urls.clone();
    // An app whose secret the vault's tags map: the plan is complete without typing a target.
    let state = emu.state();
    let (app, key) = state["vaults"][0]["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|s| {
            let v = s["versions"].as_array()?.last()?;
            Some((
                v["tags"]["ProviderAddress"].as_str()?.to_string(),
                v["tags"]["CredentialId"].as_str()?.to_string(),
            ))
        })
        .expect("a tagged vault secret");
    let mut h = harness(&session, &info.vault_urls);
    plan_for(&mut h, &ObjectId::new(&app), &KeyId::new(&key)).await;
    while focus(&h.app) != PlanField::KeepUntil {
        super::tui::press(&mut h.app, KeyCode::Tab);
    }
    // Keep the old secret 2 days instead of the profile's default.
    for _ in 0..8 {
        super::tui::press(&mut h.app, KeyCode::Backspace);
    }
    type_text(&mut h.app, "2");
    let shown = match h.app.flow.as_ref().map(|f| &f.stage) {
        Some(FlowStage::Plan(form)) => form.plan.clone(),
        other => panic!("not on the plan: {other:?}"),
    };

    let ctrl_s = h
        .app
        .action_for_key(&KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL))
        .expect("^s is bound on the plan screen");
    let effect = update(&mut h.app, ctrl_s).expect("^s asks the runner to write the plan");
    h.runner.run(effect);
    pump(
        &mut h.app,
        &mut h.runner,
        &mut h.rx,
        "the plan file",
        |_| {},
        |a| {
            matches!(a.flow.as_ref().map(|f| &f.stage),
                Some(FlowStage::Plan(f)) if f.message.as_deref().is_some_and(|m| m.starts_with("Plan written to ")))
        },
    )
    .await;
    let message = match h.app.flow.as_ref().map(|f| &f.stage) {
        Some(FlowStage::Plan(form)) => form.message.clone().unwrap(),
        _ => unreachable!(),
    };
    let path = message
        .strip_prefix("Plan written to ")
        .and_then(|m| m.split(": another person").next())
        .unwrap();
    assert!(message.contains(&format!("keyturn rotate --plan {path} --yes")));
    // In the data dir beside the journal, and a plan file `--plan` accepts (digest and version checked).
    assert!(
        std::path::Path::new(path).starts_with(h.journal.path().unwrap().parent().unwrap()),
        "{path}"
    );
    let file = PlanFile::read(std::path::Path::new(path)).expect("a valid plan file");
    assert_eq!(file.app.object_id, shown.app.object_id.as_str());
    assert_eq!(file.old_credential.key_id, key.to_lowercase());
    assert_eq!(file.tenant_id, info.tenant_id);
    assert_eq!(
        file.vault.version_seen.as_deref(),
        shown
            .target
            .as_ref()
            .unwrap()
            .current
            .as_ref()
            .map(|v| v.version.as_str())
    );
    // The disposition typed on the screen (2 days from the plan, never past the old secret's end).
    let expected = {
        let wanted = shown.planned_at + chrono::Duration::days(2);
        shown.old.end.map_or(wanted, |end| wanted.min(end))
    };
    match file.disposition() {
        OldDisposition::KeepUntil(t) => {
            assert!(
                (t - expected).num_seconds().abs() <= 120,
                "{t} vs {expected}"
            )
        }
        other => panic!("{other:?}"),
    }
    // Still on the plan: writing it changed nothing and approved nothing.
    assert!(matches!(
        h.app.flow.as_ref().map(|f| &f.stage),
        Some(FlowStage::Plan(_))
    ));
    assert!(h.journal.list(10).unwrap().is_empty());
    emu.shutdown().await;
}

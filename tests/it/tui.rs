//! The TUI without a terminal or a network: state built in memory, driven through `update`, drawn on a TestBackend.
//! Snapshots hold text only; colour is asserted on the buffer where it carries meaning.
use chrono::{DateTime, Duration, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use keyturn::clock::FixedClock;
use keyturn::graph::models::{
    AppIdentity, AuditInitiator, DirectoryAudit, ModifiedProperty, TargetResource, UserIdentity,
};
use keyturn::graph::{
    AppId, Application, GraphError, KeyCredential, KeyId, ObjectId, Owner, PasswordCredential,
    ServicePrincipal,
};
use keyturn::inventory::load::Progress;
use keyturn::inventory::{Entry, Thresholds};
use keyturn::tui::app::{AuditRequest, DetailRequest, DialogFocus, Loadable, Pane, sort_label};
use keyturn::tui::event::{AuditLoaded, InventoryLoaded, InventoryPage, LoadError, OwnersLoaded};
use keyturn::tui::keymap::{self, Command, Context};
use keyturn::tui::{
    Action, App, Config, Confirm, Effect, Event, Popup, Screen, Theme, render, update,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use std::sync::Arc;

mod behaviour;
mod rotation;
mod rotation_emulator;
mod screens;

pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
}

pub(crate) fn at(days: f64) -> Option<DateTime<Utc>> {
    Some(now() + Duration::seconds((days * 86_400.0) as i64))
}

pub(crate) fn guid(n: u32) -> String {
    format!("{n:08x}-1111-4222-8333-{n:012x}")
}

fn secret(n: u32, name: &str, start_days: f64, end: Option<DateTime<Utc>>) -> PasswordCredential {
    PasswordCredential {
        key_id: KeyId::new(guid(0xc000 + n)),
        display_name: Some(name.into()),
        hint: Some("abc".into()),
        start_date_time: at(start_days),
        end_date_time: end,
        custom_key_identifier: None,
    }
}

fn cert(n: u32, name: &str, usage: &str, thumb: &str, end_days: f64) -> KeyCredential {
    KeyCredential {
        key_id: KeyId::new(guid(0xd000 + n)),
        display_name: Some(name.into()),
        key_type: Some("AsymmetricX509Cert".into()),
        usage: Some(usage.into()),
        start_date_time: at(-300.0),
        end_date_time: at(end_days),
        custom_key_identifier: Some(thumb.into()),
    }
}

fn app_entry(
    n: u32,
    name: &str,
    secrets: Vec<PasswordCredential>,
    keys: Vec<KeyCredential>,
) -> Entry {
    Entry::from_application(Application {
        id: ObjectId::new(guid(0xa000 + n)),
        app_id: AppId::new(guid(0xb000 + n)),
        display_name: Some(name.into()),
        created_date_time: None,
        sign_in_audience: None,
        password_credentials: secrets,
        key_credentials: keys,
    })
}

/// A small tenant with one app in every state an operator meets.
fn tenant() -> Vec<Entry> {
    vec![
        app_entry(
            1,
            "Payroll Sync",
            vec![
                secret(1, "payroll-2025", -365.0, at(-3.0)),
                secret(2, "payroll-2026", -2.0, at(178.0)),
            ],
            vec![],
        ),
        app_entry(
            2,
            "Backup Daemon",
            vec![secret(3, "backup", -200.0, at(-10.0))],
            vec![],
        ),
        app_entry(
            3,
            "HR Portal",
            vec![secret(4, "hr-prod", -170.0, at(2.5))],
            vec![],
        ),
        app_entry(
            4,
            "Invoice Bot",
            vec![],
            vec![
                cert(1, "CN=invoice-bot", "Verify", "THUMB1", 20.0),
                cert(2, "CN=invoice-bot", "Sign", "THUMB1", 20.0),
            ],
        ),
        app_entry(
            5,
            "Graph Explorer Tool",
            vec![secret(5, "explorer", -30.0, at(300.0))],
            vec![],
        ),
        app_entry(6, "Legacy SFTP Bridge", vec![], vec![]),
        app_entry(
            7,
            "Data Lake Ingest",
            vec![secret(6, "forever", -900.0, None)],
            vec![],
        ),
        app_entry(
            8,
            "Payments Webhook",
            vec![secret(7, "webhook", -170.0, at(12.0))],
            vec![],
        ),
        Entry::from_service_principal(ServicePrincipal {
            id: ObjectId::new(guid(0xe001)),
            app_id: AppId::new(guid(0xf001)),
            display_name: Some("Contoso SSO".into()),
            service_principal_type: Some("Application".into()),
            app_owner_organization_id: None,
            preferred_token_signing_key_end_date_time: None,
            password_credentials: vec![],
            key_credentials: vec![cert(3, "CN=sso-signing", "Sign", "THUMB2", 15.0)],
        }),
    ]
}

fn config(theme: Theme) -> Config {
    Config {
        tenant_id: "11111111-aaaa-4bbb-8ccc-000000000001".into(),
        identity: "app keyturn-reader".into(),
        thresholds: Thresholds::default(),
        clock: Arc::new(FixedClock(now())),
        read_only: false,
        log_file: Some("/home/ops/.local/state/keyturn/keyturn.log".into()),
        include_service_principals: true,
        theme,
    }
}

fn sized(mut app: App, w: u16, h: u16) -> App {
    update(
        &mut app,
        Action::Resize {
            width: w,
            height: h,
        },
    );
    app
}

pub(crate) fn loaded(w: u16, h: u16) -> App {
    loaded_with_effect(w, h).0
}

/// The effect is the owners request for the first row, sent as soon as the list is complete.
fn loaded_with_effect(w: u16, h: u16) -> (App, Option<Effect>) {
    let mut app = sized(App::new(config(Theme { color: true })), w, h);
    app.start();
    let effect = app.load_entries(tenant());
    (app, effect)
}

pub(crate) fn draw(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| render(app, f)).unwrap();
    terminal
}

fn screen_text(app: &App, w: u16, h: u16) -> String {
    let t = draw(app, w, h);
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn key(app: &App, code: KeyCode) -> Option<Action> {
    app.action_for_key(&KeyEvent::new(code, KeyModifiers::NONE))
}

pub(crate) fn press(app: &mut App, code: KeyCode) -> Option<Effect> {
    let action = key(app, code)?;
    update(app, action)
}

pub(crate) fn cmd(app: &mut App, c: Command) -> Option<Effect> {
    update(app, Action::Command(c))
}

/// Move the list cursor down to Payroll Sync (an expired secret beside a fresh one); the last move's effect asks
/// for its owners.
pub(crate) fn select_payroll(app: &mut App) -> Option<Effect> {
    let pos = app
        .inventory
        .position_of(&ObjectId::new(guid(0xa001)))
        .expect("Payroll Sync is listed");
    cmd(app, Command::Top);
    let mut earlier = None;
    for _ in 0..pos {
        earlier = cmd(app, Command::Down);
    }
    earlier
}

pub(crate) fn owners_alice() -> Vec<Owner> {
    vec![
        Owner::User {
            id: ObjectId::new(guid(0x1001)),
            display_name: Some("Alice Admin".into()),
            user_principal_name: Some("alice@contoso.com".into()),
            mail: None,
        },
        Owner::ServicePrincipal {
            id: ObjectId::new(guid(0x1002)),
            app_id: Some(AppId::new(guid(0x1003))),
            display_name: Some("Deploy Pipeline".into()),
        },
    ]
}

pub(crate) fn audit_events() -> Vec<DirectoryAudit> {
    let key_desc = format!(
        r#"["[KeyIdentifier={},KeyType=Password,KeyUsage=Verify,DisplayName=payroll-2026]"]"#,
        guid(0xc002)
    );
    vec![
        DirectoryAudit {
            id: "ev1".into(),
            category: Some("ApplicationManagement".into()),
            correlation_id: None,
            result: Some("success".into()),
            result_reason: None,
            activity_display_name:
                "Update application \u{2013} Certificates and secrets management ".into(),
            activity_date_time: now() - Duration::days(2),
            logged_by_service: Some("Core Directory".into()),
            operation_type: Some("Update".into()),
            initiated_by: Some(AuditInitiator {
                user: Some(UserIdentity {
                    id: None,
                    display_name: Some("Alice Admin".into()),
                    user_principal_name: Some("alice@contoso.com".into()),
                    ip_address: None,
                }),
                app: None,
            }),
            target_resources: vec![TargetResource {
                id: Some(guid(0xa001)),
                display_name: Some("Payroll Sync".into()),
                resource_type: Some("Application".into()),
                user_principal_name: None,
                modified_properties: vec![ModifiedProperty {
                    display_name: Some("KeyDescription".into()),
                    old_value: Some("[]".into()),
                    new_value: Some(key_desc),
                }],
            }],
            additional_details: vec![],
        },
        DirectoryAudit {
            id: "ev2".into(),
            category: Some("ApplicationManagement".into()),
            correlation_id: None,
            result: Some("failure".into()),
            result_reason: None,
            activity_display_name: "Update application".into(),
            activity_date_time: now() - Duration::days(9),
            logged_by_service: None,
            operation_type: None,
            initiated_by: Some(AuditInitiator {
                user: None,
                app: Some(AppIdentity {
                    app_id: None,
                    display_name: Some("Terraform Cloud".into()),
                    service_principal_id: None,
                    service_principal_name: None,
                }),
            }),
            target_resources: vec![],
            additional_details: vec![],
        },
    ]
}

/// Open the selected app and answer its owners and audit requests. `earlier` is the effect of the move that
/// selected it, which already asked for its owners.
pub(crate) fn open_with(
    app: &mut App,
    earlier: Option<Effect>,
    owners: Vec<Owner>,
    events: Vec<DirectoryAudit>,
) {
    let Some(Effect::LoadDetail {
        owners: o,
        audit: a,
    }) = cmd(app, Command::Open)
    else {
        panic!("opening an app must ask for its owners and audit events");
    };
    let o = o.or(match earlier {
        Some(Effect::LoadDetail { owners, .. }) => owners,
        _ => None,
    });
    let o = o.expect("owners asked for when selected or opened");
    update(app, owners_loaded(&o, Ok(owners)));
    let a: AuditRequest = a.expect("audit request");
    update(
        app,
        Action::AuditLoaded(AuditLoaded {
            request: a.request.id,
            object_id: a.request.object_id.clone(),
            result: Ok(events),
        }),
    );
}

fn owners_loaded(r: &DetailRequest, result: Result<Vec<Owner>, LoadError>) -> Action {
    Action::OwnersLoaded(OwnersLoaded {
        request: r.id,
        object_id: r.object_id.clone(),
        result,
    })
}

fn forbidden() -> LoadError {
    GraphError::Forbidden {
        operation: "list applications",
        missing_permission: "Application.Read.All",
        code: "Authorization_RequestDenied".into(),
        message: "Insufficient privileges to complete the operation.".into(),
    }
    .into()
}

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

// ---- rotation flow -----------------------------------------------------------------------------------------------

use keyturn::graph::{AppId as GraphAppId, ObjectId as GraphObjectId};
use keyturn::keyvault::SecretTarget;
use keyturn::keyvault::client::VersionInfo;
use keyturn::keyvault::mapping::MappingSource;
use keyturn::rotation::{
    AppSummary, OldCredential, OldCredentialOutcome, OldCredentialStatus, OldDisposition,
    PlannedTarget, ProofOutcome, ProofStatus, RotationPlan, RotationProgress, RotationReport,
    RotationState, Step,
};
use keyturn::tui::RotationUpdate;
use keyturn::tui::app::{FlowStage, PlanField, TargetCheck};

const VAULT: &str = "https://kv-payroll.vault.azure.net";

/// The plan the engine would make for Payroll Sync's expired secret, mapped by the vault's tags (or, with
/// `mapped = false`, with no mapping known: the screen asks).
pub(crate) fn payroll_plan(mapped: bool) -> RotationPlan {
    let target = mapped.then(|| PlannedTarget {
        target: SecretTarget::new(VAULT, "payroll-sync").unwrap(),
        source: MappingSource::Tags,
        current: Some(version("0a1b2c3d4e5f46a7b8c9d0e1f2a3b4c5")),
        deleted: None,
    });
    RotationPlan {
        app: AppSummary {
            object_id: GraphObjectId::new(guid(0xa001)),
            app_id: GraphAppId::new(guid(0xb001)),
            display_name: "Payroll Sync".into(),
        },
        old: OldCredential {
            key_id: KeyId::new(guid(0xc001)),
            display_name: Some("payroll-2025".into()),
            hint: Some("abc".into()),
            end: at(-3.0),
            days_left: Some(-3),
        },
        new_display_name: "keyturn 2026-11-27 on-call".into(),
        new_end: now() + Duration::days(180),
        lifetime_days: 180,
        lifetime_cap: None,
        target,
        candidates: Vec::new(),
        old_disposition: OldDisposition::RemoveWhenProven,
        operator: "on-call".into(),
        approver: "on-call".into(),
        known_key_ids: vec![KeyId::new(guid(0xc001)), KeyId::new(guid(0xc002))],
        warnings: vec![
            "the old secret has already expired: whatever still uses it is failing now".into(),
        ],
        planned_at: now(),
    }
}

fn version(v: &str) -> VersionInfo {
    VersionInfo {
        id: format!("{VAULT}/secrets/payroll-sync/{v}"),
        name: "payroll-sync".into(),
        version: v.into(),
        tags: [("CredentialId".to_string(), guid(0xc001))].into(),
        enabled: Some(true),
        not_before: None,
        expires: None,
        created: None,
        updated: None,
        content_type: Some("text/plain".into()),
    }
}

/// Payroll Sync's detail view, `r` pressed on its expired secret, and the plan (from `plan`) arrived.
pub(crate) fn plan_open(w: u16, h: u16, plan: RotationPlan) -> App {
    let mut app = loaded(w, h);
    let earlier = select_payroll(&mut app);
    open_with(&mut app, earlier, owners_alice(), audit_events());
    let Some(Effect::PlanRotation { request, .. }) = press(&mut app, KeyCode::Char('r')) else {
        panic!("r asks for the plan")
    };
    update(
        &mut app,
        Action::Rotation(RotationUpdate::Planned {
            request,
            result: Ok(Box::new(plan)),
        }),
    );
    app
}

pub(crate) fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

pub(crate) fn focus(app: &App) -> PlanField {
    match app.flow.as_ref().map(|f| &f.stage) {
        Some(FlowStage::Plan(form)) => form.focus,
        other => panic!("not on the plan screen: {other:?}"),
    }
}

/// Type the name, Tab to Confirm, Enter: the approved plan, as the runner receives it.
fn confirm(app: &mut App) -> (u64, Box<keyturn::rotation::ApprovedPlan>) {
    type_text(app, "Payroll Sync");
    press(app, KeyCode::Tab);
    assert_eq!(focus(app), PlanField::Confirm);
    match press(app, KeyCode::Enter) {
        Some(Effect::Rotate { request, approved }) => (request, approved),
        other => panic!("Confirm with the name typed starts the rotation, got {other:?}"),
    }
}

fn progress(app: &mut App, p: RotationProgress) {
    assert!(update(app, Action::Rotation(RotationUpdate::Progress(p))).is_none());
}

fn state(app: &mut App, s: RotationState) {
    progress(
        app,
        RotationProgress::StateChanged {
            rotation_id: 7,
            state: s,
        },
    );
}

fn step(app: &mut App, step: Step) {
    progress(
        app,
        RotationProgress::StepStarted {
            rotation_id: 7,
            step,
        },
    );
}

const NEW_KEY: &str = "9f8e7d6c-5b4a-4321-8fed-cba987654321";

/// Started, addPassword done, the vault write throttled and waiting 3 s.
fn run_until_throttled(app: &mut App) {
    progress(
        app,
        RotationProgress::Started {
            rotation_id: 7,
            app_name: "Payroll Sync".into(),
        },
    );
    step(app, Step::AddSecret);
    state(
        app,
        RotationState::SecretAdded {
            new_key_id: KeyId::new(NEW_KEY),
        },
    );
    step(app, Step::StoreInVault);
    progress(
        app,
        RotationProgress::StepFailed {
            rotation_id: 7,
            step: Step::StoreInVault,
            error: "throttled by Key Vault (429)".into(),
            retry_in: Some(std::time::Duration::from_secs(3)),
        },
    );
}

fn report(state: &str, completed: bool) -> RotationReport {
    RotationReport {
        rotation_id: 7,
        state: state.into(),
        completed,
        app_object_id: GraphObjectId::new(guid(0xa001)),
        app_id: GraphAppId::new(guid(0xb001)),
        app_display_name: "Payroll Sync".into(),
        new_key_id: completed.then(|| KeyId::new(NEW_KEY)),
        new_end_date_time: completed.then(|| now() + Duration::days(180)),
        vault_secret_id: completed
            .then(|| format!("{VAULT}/secrets/payroll-sync/5d4c3b2a19f04e8d9c7b6a5f4e3d2c1b")),
        old_key_id: KeyId::new(guid(0xc001)),
        proof: ProofOutcome {
            status: if completed {
                ProofStatus::Proven
            } else {
                ProofStatus::NotProven
            },
            reason: (!completed).then(|| "the rotation ended (RolledBack) before the new secret could be proven".into()),
        },
        old_credential: OldCredentialOutcome {
            status: if completed {
                OldCredentialStatus::Removed
            } else {
                OldCredentialStatus::Kept
            },
            remove_after: None,
        },
        message: (!completed).then(|| {
            "rolled back: the vault refused the write (403 Forbidden: the identity lacks Key Vault Secrets Officer on kv-payroll). The old secret is still active and the vault holds what it held before.".to_string()
        }),
    }
}

// ---- the flow through `update` and the real effect runner, against the emulator ---------------------------------

/// Feed events to `update` (and its effects to the runner) until `done` holds, as the event loop does.
pub(crate) async fn pump(
    app: &mut App,
    runner: &mut keyturn::tui::effects::Runner,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
    what: &str,
    mut seen: impl FnMut(&App),
    done: impl Fn(&App) -> bool,
) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done(app) {
        let event = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .expect("the runner's channel stays open");
        if let Some(action) = app.action_for(event)
            && let Some(effect) = update(app, action)
        {
            runner.run(effect);
        }
        seen(app);
    }
}

pub(crate) fn key_and_run(
    app: &mut App,
    runner: &mut keyturn::tui::effects::Runner,
    code: KeyCode,
) {
    if let Some(effect) = press(app, code) {
        runner.run(effect);
    }
}

/// The TUI's state and its real effect runner over a session on the emulator, with a journal of its own.
pub(crate) struct Harness {
    pub(crate) app: App,
    pub(crate) runner: keyturn::tui::effects::Runner,
    pub(crate) rx: tokio::sync::mpsc::UnboundedReceiver<Event>,
    pub(crate) journal: Arc<keyturn::store::Journal>,
    pub(crate) _dir: tempfile::TempDir,
}

pub(crate) fn harness(session: &keyturn::session::Session, vault_urls: &[String]) -> Harness {
    use keyturn::tui::effects::{RotationService, Runner};
    let dir = tempfile::tempdir().unwrap();
    let journal =
        Arc::new(keyturn::store::Journal::open(&dir.path().join("journal.sqlite3")).unwrap());
    let service = RotationService {
        exec: keyturn::rotation::live_executor(session, journal.clone()),
        defaults: keyturn::rotation::plan_request(session, "", &KeyId::new("")),
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let runner = Runner::new(session.graph.clone(), tx)
        .with_vaults(
            keyturn::keyvault::KeyVaultSecrets::new(
                session.credential.clone(),
                session.http.clone(),
                keyturn::keyvault::VaultOptions::default(),
            ),
            vault_urls.to_vec(),
        )
        .with_rotation(Ok(service));
    let mut cfg = config(Theme::monochrome());
    cfg.clock = session.clock.clone();
    let app = sized(App::new(cfg), 120, 40);
    Harness {
        app,
        runner,
        rx,
        journal,
        _dir: dir,
    }
}

/// Load the inventory, open the app, select the secret, press `r` and wait for the plan screen.
pub(crate) async fn plan_for(h: &mut Harness, object_id: &ObjectId, key_id: &KeyId) {
    let first = h.app.start();
    h.runner.run(first);
    pump(
        &mut h.app,
        &mut h.runner,
        &mut h.rx,
        "the inventory",
        |_| {},
        |a| a.phase == keyturn::tui::app::LoadPhase::Done && a.inventory.get(object_id).is_some(),
    )
    .await;
    let pos = h.app.inventory.position_of(object_id).unwrap();
    for _ in 0..pos {
        key_and_run(&mut h.app, &mut h.runner, KeyCode::Down);
    }
    key_and_run(&mut h.app, &mut h.runner, KeyCode::Enter);
    let index = h
        .app
        .detail_row()
        .unwrap()
        .entry
        .credentials
        .iter()
        .position(|c| c.key_id.as_str().eq_ignore_ascii_case(key_id.as_str()))
        .unwrap();
    for _ in 0..index {
        key_and_run(&mut h.app, &mut h.runner, KeyCode::Down);
    }
    key_and_run(&mut h.app, &mut h.runner, KeyCode::Char('r'));
    pump(
        &mut h.app,
        &mut h.runner,
        &mut h.rx,
        "the plan",
        |_| {},
        |a| !matches!(a.flow.as_ref().map(|f| &f.stage), Some(FlowStage::Planning)),
    )
    .await;
}

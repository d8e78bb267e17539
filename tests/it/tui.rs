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

// ---- snapshots -------------------------------------------------------------------------------------------------

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

#[test]
fn snapshot_list() {
    for (w, h) in SIZES {
        let app = loaded(w, h);
        insta::assert_snapshot!(format!("list_{w}x{h}"), draw(&app, w, h).backend());
    }
}

#[test]
fn snapshot_detail() {
    for (w, h) in SIZES {
        let mut app = loaded(w, h);
        // Payroll Sync: an expired secret beside a fresh one.
        let pos = app
            .inventory
            .position_of(&ObjectId::new(guid(0xa001)))
            .unwrap();
        let mut earlier = None;
        for _ in 0..pos {
            earlier = cmd(&mut app, Command::Down);
        }
        update(
            &mut app,
            Action::StoredIn(vec![(
                KeyId::new(guid(0xc002)),
                "kv-prod/payroll-sync".into(),
            )]),
        );
        open_with(&mut app, earlier, owners_alice(), audit_events());
        insta::assert_snapshot!(format!("detail_{w}x{h}"), draw(&app, w, h).backend());
    }
}

#[test]
fn snapshot_detail_without_owners_and_audit_forbidden() {
    let (w, h) = (80, 24);
    let (mut app, first) = loaded_with_effect(w, h);
    let Some(Effect::LoadDetail {
        owners: Some(owners),
        ..
    }) = first
    else {
        panic!("the first row's owners are asked for once the list is complete");
    };
    let Some(Effect::LoadDetail {
        owners: None,
        audit,
    }) = cmd(&mut app, Command::Open)
    else {
        panic!("expected an audit load only: owners are on their way");
    };
    update(&mut app, owners_loaded(&owners, Ok(vec![])));
    let a = audit.unwrap();
    update(
        &mut app,
        Action::AuditLoaded(AuditLoaded {
            request: a.request.id,
            object_id: a.request.object_id,
            result: Err(GraphError::Forbidden {
                operation: "read audit events",
                missing_permission: "AuditLog.Read.All and Directory.Read.All",
                code: "Authorization_RequestDenied".into(),
                message: "Insufficient privileges.".into(),
            }
            .into()),
        }),
    );
    insta::assert_snapshot!("detail_no_owners_80x24", draw(&app, w, h).backend());
}

#[test]
fn snapshot_help() {
    for (w, h) in SIZES {
        let mut app = loaded(w, h);
        cmd(&mut app, Command::Help);
        insta::assert_snapshot!(format!("help_{w}x{h}"), draw(&app, w, h).backend());
    }
}

#[test]
fn snapshot_filter() {
    for (w, h) in SIZES {
        let mut app = loaded(w, h);
        press(&mut app, KeyCode::Char('/'));
        for c in "pay".chars() {
            press(&mut app, KeyCode::Char(c));
        }
        insta::assert_snapshot!(format!("filter_{w}x{h}"), draw(&app, w, h).backend());
    }
}

#[test]
fn snapshot_empty_tenant() {
    for (w, h) in SIZES {
        let mut app = sized(App::new(config(Theme { color: true })), w, h);
        app.start();
        app.load_entries(vec![]);
        insta::assert_snapshot!(format!("empty_{w}x{h}"), draw(&app, w, h).backend());
    }
}

#[test]
fn snapshot_error() {
    for (w, h) in SIZES {
        let mut app = sized(App::new(config(Theme { color: true })), w, h);
        let Effect::LoadInventory { generation, .. } = app.start() else {
            panic!("start loads the inventory");
        };
        update(
            &mut app,
            Action::InventoryLoaded(InventoryLoaded {
                generation,
                result: Err(forbidden()),
            }),
        );
        insta::assert_snapshot!(format!("error_{w}x{h}"), draw(&app, w, h).backend());
    }
}

#[test]
fn snapshot_loading_first_page() {
    let (w, h) = (80, 24);
    let mut app = sized(App::new(config(Theme { color: true })), w, h);
    let Effect::LoadInventory { generation, .. } = app.start() else {
        panic!("start loads the inventory");
    };
    let mut entries = tenant();
    entries.truncate(4);
    update(
        &mut app,
        Action::InventoryPage(InventoryPage {
            generation,
            entries,
            progress: Progress::Page {
                kind: keyturn::graph::ObjectType::Application,
                page: 3,
                items: 4,
                total_so_far: 2002,
                more: true,
            },
        }),
    );
    update(
        &mut app,
        Action::Notice(keyturn::graph::Notice::Throttled {
            operation: "list applications",
            wait: std::time::Duration::from_secs(2),
            attempt: 2,
        }),
    );
    insta::assert_snapshot!("loading_throttled_80x24", draw(&app, w, h).backend());
}

// ---- colour carries meaning only twice over --------------------------------------------------------------------

#[test]
fn expired_row_is_drawn_in_the_danger_style() {
    let app = loaded(120, 40);
    let t = draw(&app, 120, 40);
    let buf = t.backend().buffer();
    // The list's rows start on line 4 (2 header lines, the title line, the column header); the first is the
    // most urgent, a broken one (nothing valid left).
    let y = 4;
    let line: String = (0..120).map(|x| buf[(x, y)].symbol().to_string()).collect();
    assert!(line.contains("✖ broken"), "first row: {line}");
    let x = line
        .find('✖')
        .map(|b| line[..b].chars().count() as u16)
        .unwrap();
    for dx in 0..8 {
        let cell = &buf[(x + dx, y)];
        assert_eq!(
            cell.fg,
            Color::Red,
            "cell {dx} of the status word: {cell:?}"
        );
        assert!(
            cell.modifier.contains(ratatui::style::Modifier::BOLD),
            "danger is bold as well, for terminals with few colours"
        );
    }
    // A row that is fine carries no red.
    let ok_y = (4..40)
        .find(|&y| {
            (0..120)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .contains("✔ ok")
        })
        .unwrap();
    assert!((0..120).all(|x| buf[(x, ok_y)].fg != Color::Red));
}

#[test]
fn no_color_means_no_colour_at_all() {
    let mut app = sized(App::new(config(Theme::monochrome())), 120, 40);
    app.start();
    app.load_entries(tenant());
    cmd(&mut app, Command::Help);
    let t = draw(&app, 120, 40);
    for cell in t.backend().buffer().content() {
        assert_eq!(cell.fg, Color::Reset, "{cell:?}");
        assert_eq!(cell.bg, Color::Reset, "{cell:?}");
    }
    let text = screen_text(&app, 120, 40);
    assert!(
        text.contains("✖ broken"),
        "status keeps its symbol and word"
    );
}

// ---- behaviour -------------------------------------------------------------------------------------------------

fn visible_names(app: &App) -> Vec<String> {
    (0..app.inventory.visible_len())
        .map(|i| {
            app.inventory
                .visible_row(i)
                .unwrap()
                .entry
                .display_name
                .clone()
        })
        .collect()
}

#[test]
fn sorted_by_coverage_with_broken_first_and_soonest_expiry_one_s_away() {
    let mut app = loaded(80, 24);
    assert_eq!(sort_label(&app), "coverage ends");
    // Coverage ends: Backup Daemon's only secret ended 10 days ago (broken); then the latest valid end ascending:
    // HR Portal +2.5, Payments Webhook +12, Contoso SSO +15, Invoice Bot +20, Payroll Sync +178 (its expired
    // secret is a leftover), Graph Explorer Tool +300; then a secret that never ends; then no credentials.
    assert_eq!(
        visible_names(&app),
        [
            "Backup Daemon",
            "HR Portal",
            "Payments Webhook",
            "Contoso SSO",
            "Invoice Bot",
            "Payroll Sync",
            "Graph Explorer Tool",
            "Data Lake Ingest",
            "Legacy SFTP Bridge"
        ]
    );
    // `s`: the per-credential order, soonest end first (Payroll Sync's leftover ended 3 days ago).
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(sort_label(&app), "soonest expiry");
    assert_eq!(
        visible_names(&app),
        [
            "Backup Daemon",
            "Payroll Sync",
            "HR Portal",
            "Payments Webhook",
            "Contoso SSO",
            "Invoice Bot",
            "Graph Explorer Tool",
            "Data Lake Ingest",
            "Legacy SFTP Bridge"
        ]
    );
}

#[test]
fn sort_and_status_filter_cycle() {
    let mut app = loaded(80, 24);
    cmd(&mut app, Command::CycleSort);
    // Soonest expiry: Payroll Sync's expired leftover comes second.
    assert_eq!(
        app.selected_row().unwrap().entry.display_name,
        "Backup Daemon"
    );
    assert_eq!(
        app.inventory.visible_row(1).unwrap().entry.display_name,
        "Payroll Sync"
    );
    cmd(&mut app, Command::CycleSort);
    assert_eq!(
        app.selected_row().unwrap().entry.display_name,
        "Backup Daemon"
    );
    assert_eq!(
        app.inventory.visible_row(1).unwrap().entry.display_name,
        "Contoso SSO"
    );
    cmd(&mut app, Command::CycleSort);
    assert_eq!(sort_label(&app), "coverage ends", "s cycles back");
    // Statuses by coverage: Payroll Sync is covered (ok, stale), only Backup Daemon is broken.
    cmd(&mut app, Command::CycleStatusFilter);
    assert_eq!(app.inventory.visible_len(), 2, "broken and critical only");
    cmd(&mut app, Command::CycleStatusFilter);
    assert_eq!(app.inventory.visible_len(), 5, "and warning");
    cmd(&mut app, Command::CycleStatusFilter);
    assert_eq!(app.inventory.visible_len(), 1, "broken only");
    cmd(&mut app, Command::CycleStatusFilter);
    assert_eq!(app.inventory.visible_len(), 9);
    cmd(&mut app, Command::ToggleServicePrincipals);
    assert_eq!(app.inventory.visible_len(), 8, "service principals hidden");
}

#[test]
fn keys_map_to_commands_through_the_keymap() {
    let app = loaded(80, 24);
    let cases = [
        (KeyCode::Char('j'), "down"),
        (KeyCode::Down, "down"),
        (KeyCode::Char('k'), "up"),
        (KeyCode::Char('g'), "top"),
        (KeyCode::Char('G'), "bottom"),
        (KeyCode::PageDown, "page_down"),
        (KeyCode::Enter, "open"),
        (KeyCode::Char('/'), "filter"),
        (KeyCode::Char('s'), "cycle_sort"),
        (KeyCode::Char('f'), "cycle_status_filter"),
        (KeyCode::Char('?'), "help"),
        (KeyCode::Char('q'), "quit"),
    ];
    for (code, name) in cases {
        match key(&app, code) {
            Some(Action::Command(c)) => assert_eq!(c.name(), name, "{code:?}"),
            other => panic!("{code:?} gave {other:?}"),
        }
    }
    let ctrl = |c| app.action_for_key(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
    assert!(matches!(
        ctrl('d'),
        Some(Action::Command(Command::HalfPageDown))
    ));
    assert!(matches!(
        ctrl('u'),
        Some(Action::Command(Command::HalfPageUp))
    ));
    assert!(matches!(ctrl('r'), Some(Action::Command(Command::Reload))));
    assert!(matches!(ctrl('c'), Some(Action::Command(Command::Quit))));
}

#[test]
fn typing_a_filter_takes_letters_that_are_keys_elsewhere() {
    let mut app = loaded(80, 24);
    press(&mut app, KeyCode::Char('/'));
    for c in "q?jg".chars() {
        assert!(matches!(
            key(&app, KeyCode::Char(c)),
            Some(Action::FilterInput(_))
        ));
    }
    for c in "PAY".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    assert!(!app.should_quit);
    assert_eq!(
        app.inventory.visible_len(),
        2,
        "Payroll Sync and Payments Webhook"
    );
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Char('y'));
    press(&mut app, KeyCode::Char('r'));
    assert_eq!(app.inventory.visible_len(), 1);
    assert_eq!(
        app.selected_row().unwrap().entry.display_name,
        "Payroll Sync"
    );
    press(&mut app, KeyCode::Enter);
    assert!(!app.filter_editing);
    assert_eq!(app.filter, "PAyr");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.inventory.visible_len(), 9);
    // By appId, too.
    press(&mut app, KeyCode::Char('/'));
    for c in guid(0xb003)[..13].chars() {
        press(&mut app, KeyCode::Char(c));
    }
    assert_eq!(app.inventory.visible_len(), 1);
    assert_eq!(app.selected_row().unwrap().entry.display_name, "HR Portal");
}

#[test]
fn filter_matches_owners_known_so_far() {
    let mut app = loaded(80, 24);
    // Owners are loaded for the row the operator rests on, never for every row.
    let Some(Effect::LoadDetail {
        owners: Some(r),
        audit: None,
    }) = select_payroll(&mut app)
    else {
        panic!("moving asks for the new row's owners");
    };
    assert!(!r.delay.is_zero(), "debounced while scrolling");
    update(&mut app, owners_loaded(&r, Ok(owners_alice())));
    let owned = app.selected_row().unwrap().entry.display_name.clone();
    assert_eq!(owned, "Payroll Sync");
    press(&mut app, KeyCode::Char('/'));
    for c in "alice@".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    assert_eq!(app.inventory.visible_len(), 1);
    assert_eq!(app.selected_row().unwrap().entry.display_name, owned);
    let text = screen_text(&app, 80, 24);
    assert!(text.contains("Payroll Sync"), "{text}");
}

#[test]
fn stale_owner_results_are_dropped_while_scrolling() {
    let mut app = loaded(80, 24);
    let Some(Effect::LoadDetail {
        owners: Some(first),
        ..
    }) = cmd(&mut app, Command::Down)
    else {
        panic!("owners for row 2");
    };
    let Some(Effect::LoadDetail {
        owners: Some(second),
        ..
    }) = cmd(&mut app, Command::Down)
    else {
        panic!("owners for row 3");
    };
    assert_ne!(first.id, second.id);
    assert_ne!(first.object_id, second.object_id);
    // The answer for the row already left arrives late: it must not land.
    update(&mut app, owners_loaded(&first, Ok(owners_alice())));
    assert!(!app.owners.contains_key(&first.object_id));
    assert!(app.owners_pending(&second.object_id));
    update(&mut app, owners_loaded(&second, Ok(vec![])));
    assert!(matches!(
        app.owners.get(&second.object_id),
        Some(Loadable::Loaded(o)) if o.is_empty()
    ));
    // Cached: coming back does not ask again; the owner count shows without another call.
    cmd(&mut app, Command::Up);
    assert!(cmd(&mut app, Command::Down).is_none());
    assert!(screen_text(&app, 80, 24).contains(" 0"));
}

#[test]
fn first_row_stays_the_most_urgent_while_pages_arrive() {
    let mut app = sized(App::new(config(Theme { color: true })), 80, 24);
    let Effect::LoadInventory { generation, .. } = app.start() else {
        panic!()
    };
    let mut all = tenant();
    let later = all.split_off(2); // Payroll Sync, Backup Daemon first
    let page = |entries: Vec<Entry>, n: u32| {
        Action::InventoryPage(InventoryPage {
            generation,
            entries,
            progress: Progress::Page {
                kind: keyturn::graph::ObjectType::Application,
                page: n,
                items: 0,
                total_so_far: 0,
                more: n == 1,
            },
        })
    };
    let mut later_reordered = later;
    let payroll = all.remove(0);
    update(&mut app, page(vec![payroll], 1));
    assert_eq!(
        app.selected_row().unwrap().entry.display_name,
        "Payroll Sync"
    );
    later_reordered.extend(all); // Backup Daemon (more urgent) arrives on page 2
    update(&mut app, page(later_reordered, 2));
    assert_eq!(
        app.selected_row().unwrap().entry.display_name,
        "Backup Daemon"
    );
}

#[test]
fn reload_keeps_the_list_until_the_new_one_is_complete() {
    let mut app = loaded(80, 24);
    let Some(Effect::LoadInventory { generation, .. }) = cmd(&mut app, Command::Reload) else {
        panic!("Ctrl-r reloads");
    };
    update(
        &mut app,
        Action::InventoryPage(InventoryPage {
            generation,
            entries: vec![app_entry(99, "Only New App", vec![], vec![])],
            progress: Progress::Page {
                kind: keyturn::graph::ObjectType::Application,
                page: 1,
                items: 1,
                total_so_far: 1,
                more: true,
            },
        }),
    );
    assert_eq!(
        app.inventory.len(),
        9,
        "old rows stay while the reload runs"
    );
    // A result of an older load is ignored.
    update(
        &mut app,
        Action::InventoryLoaded(InventoryLoaded {
            generation: generation - 1,
            result: Err(forbidden()),
        }),
    );
    assert!(app.popup.is_none());
    update(
        &mut app,
        Action::InventoryLoaded(InventoryLoaded {
            generation,
            result: Ok(1),
        }),
    );
    assert_eq!(app.inventory.len(), 1);
    assert_eq!(
        app.selected_row().unwrap().entry.display_name,
        "Only New App"
    );
}

#[test]
fn failed_reload_keeps_the_old_list_and_says_what_to_do() {
    let mut app = loaded(80, 24);
    let Some(Effect::LoadInventory { generation, .. }) = cmd(&mut app, Command::Reload) else {
        panic!()
    };
    update(
        &mut app,
        Action::InventoryLoaded(InventoryLoaded {
            generation,
            result: Err(forbidden()),
        }),
    );
    assert_eq!(app.inventory.len(), 9);
    let text = screen_text(&app, 80, 24);
    assert!(text.contains("Application.Read.All"), "{text}");
    assert!(text.contains("Ctrl-r"), "{text}");
    press(&mut app, KeyCode::Esc);
    assert!(app.popup.is_none());
    assert!(screen_text(&app, 80, 24).contains("load failed: permission missing"));
}

#[test]
fn detail_panes_and_rotate_key() {
    let mut app = loaded(80, 24);
    let earlier = select_payroll(&mut app);
    open_with(&mut app, earlier, owners_alice(), audit_events());
    let Screen::Detail(d) = &app.screen else {
        panic!("Enter opens the detail view")
    };
    assert_eq!(d.focus, Pane::Credentials);
    let text = screen_text(&app, 80, 24);
    assert!(text.contains("Alice Admin"), "{text}");
    assert!(text.contains("alice@contoso.com"), "{text}");
    assert!(
        text.contains(&format!(
            "added secret 'payroll-2026' (keyId {})",
            &guid(0xc002)[..8]
        )),
        "{text}"
    );
    assert!(
        text.contains("Update application - Certificates and secrets management"),
        "dashes normalised: {text}"
    );
    // `r` asks for the plan of the selected secret; Esc from "building the plan" goes back to the app.
    let Some(Effect::PlanRotation { key_id, .. }) = press(&mut app, KeyCode::Char('r')) else {
        panic!("r on a client secret asks for its rotation plan")
    };
    assert_eq!(key_id, KeyId::new(guid(0xc001)));
    assert!(screen_text(&app, 80, 24).contains("Building the rotation plan"));
    press(&mut app, KeyCode::Esc);
    assert!(app.flow.is_none());
    press(&mut app, KeyCode::Tab);
    let Screen::Detail(d) = &app.screen else {
        panic!()
    };
    assert_eq!(d.focus, Pane::Owners);
    press(&mut app, KeyCode::Esc);
    assert!(matches!(app.screen, Screen::List));
}

/// The detail's credential and the plan `r` asks for, as (index, keyId).
fn detail_cursor(app: &App) -> (usize, Option<KeyId>) {
    let Screen::Detail(d) = &app.screen else {
        panic!("the detail view is open")
    };
    (d.credential, d.credential_key.clone())
}

fn planned_key(app: &mut App) -> KeyId {
    let Some(Effect::PlanRotation { key_id, .. }) = press(app, KeyCode::Char('r')) else {
        panic!("r on a client secret asks for its rotation plan")
    };
    press(app, KeyCode::Esc);
    assert!(app.flow.is_none());
    key_id
}

/// Item 8 of issue 16: background reloads that reorder apps and insert credentials keep the operator on the
/// credential they chose, and `r` plans that keyId, not whatever now sits at the old row index.
#[test]
fn reloads_keep_the_selected_credential_by_key_id_and_r_plans_it() {
    let mut app = loaded(80, 24);
    let Some(Effect::LoadInventory { generation, .. }) = cmd(&mut app, Command::Reload) else {
        panic!("Ctrl-r reloads");
    };
    // Sorted by name, Payroll Sync is the last row; the reload below inserts an app above it.
    cmd(&mut app, Command::CycleSort);
    cmd(&mut app, Command::CycleSort);
    assert_eq!(sort_label(&app), "name");
    let earlier = cmd(&mut app, Command::Bottom); // Payroll Sync, while the reload runs
    assert_eq!(app.cursor.selected, 8);
    open_with(&mut app, earlier, owners_alice(), audit_events());
    press(&mut app, KeyCode::Char('j')); // payroll-2026, the second of two
    let chosen = KeyId::new(guid(0xc002));
    assert_eq!(detail_cursor(&app), (1, Some(chosen.clone())));

    // The reload lands: a new, more urgent app sorts first and Payroll Sync gained a secret that ends before the
    // chosen one, so the chosen one moved from index 1 to index 2.
    let payroll = |extra: Vec<PasswordCredential>| {
        let mut secrets = vec![
            secret(1, "payroll-2025", -365.0, at(-3.0)),
            secret(2, "payroll-2026", -2.0, at(178.0)),
        ];
        secrets.extend(extra);
        app_entry(1, "Payroll Sync", secrets, vec![])
    };
    let mut entries = tenant();
    entries[0] = payroll(vec![secret(8, "payroll-bridge", -1.0, at(5.0))]);
    entries.push(app_entry(
        20,
        "Aardvark Urgent",
        vec![secret(20, "aa", -400.0, at(-50.0))],
        vec![],
    ));
    update(
        &mut app,
        Action::InventoryPage(InventoryPage {
            generation,
            entries,
            progress: Progress::Page {
                kind: keyturn::graph::ObjectType::Application,
                page: 1,
                items: 10,
                total_so_far: 10,
                more: false,
            },
        }),
    );
    update(
        &mut app,
        Action::InventoryLoaded(InventoryLoaded {
            generation,
            result: Ok(10),
        }),
    );
    assert_eq!(detail_cursor(&app), (2, Some(chosen.clone())));
    assert_eq!(planned_key(&mut app), chosen);

    // The app alone is reloaded (as after a rotation) with one more secret ending first: index 3 now.
    let reloaded = payroll(vec![
        secret(8, "payroll-bridge", -1.0, at(5.0)),
        secret(9, "payroll-old", -400.0, at(-20.0)),
    ]);
    let object_id = reloaded.object_id.clone();
    update(
        &mut app,
        Action::AppReloaded(keyturn::tui::event::AppReloaded {
            object_id,
            result: Ok(reloaded),
        }),
    );
    assert_eq!(detail_cursor(&app), (3, Some(chosen.clone())));
    assert_eq!(planned_key(&mut app), chosen);

    // Back in the list the cursor is on Payroll Sync, one row lower: "Aardvark Urgent" sorts above it.
    press(&mut app, KeyCode::Esc);
    assert_eq!(
        app.selected_row().unwrap().entry.display_name,
        "Payroll Sync"
    );
    assert_eq!(app.cursor.selected, 9);
}

#[test]
fn read_only_sessions_never_offer_rotation() {
    let mut cfg = config(Theme { color: true });
    cfg.read_only = true;
    let mut app = sized(App::new(cfg), 80, 24);
    app.start();
    app.load_entries(tenant());
    cmd(&mut app, Command::Open);
    press(&mut app, KeyCode::Char('r'));
    let Some(Popup::Message { title, .. }) = &app.popup else {
        panic!()
    };
    assert_eq!(title, "Read-only session");
}

#[test]
fn confirm_dialog_starts_on_cancel_and_needs_the_typed_name() {
    let mut app = loaded(80, 24);
    app.popup = Some(Popup::Confirm(Confirm::new(
        "Rotate payroll-2025",
        vec!["New secret, then Key Vault, then remove the old one.".into()],
        "Payroll Sync",
        Action::Command(Command::CycleSort),
    )));
    // Letters go into the field, even q.
    assert!(matches!(
        key(&app, KeyCode::Char('q')),
        Some(Action::DialogInput('q'))
    ));
    // A stray Enter cancels.
    press(&mut app, KeyCode::Enter);
    assert!(app.popup.is_none());

    app.popup = Some(Popup::Confirm(Confirm::new(
        "Rotate",
        vec![],
        "Payroll Sync",
        Action::Command(Command::CycleSort),
    )));
    press(&mut app, KeyCode::Tab);
    for c in "Payroll Syn".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    let Some(Popup::Confirm(c)) = &app.popup else {
        panic!("Confirm does nothing until the name is typed")
    };
    assert_eq!(c.focus, DialogFocus::Confirm);
    insta::assert_snapshot!("confirm_80x24", draw(&app, 80, 24).backend());
    press(&mut app, KeyCode::Char('c'));
    press(&mut app, KeyCode::Enter);
    assert!(app.popup.is_none());
    assert_eq!(
        app.inventory.sort_key().label(),
        "soonest expiry",
        "on_confirm ran"
    );
}

#[test]
fn mouse_wheel_scrolls_and_click_selects_then_opens() {
    let mut app = loaded(80, 24);
    let wheel = |kind| {
        Event::Input(crossterm::event::Event::Mouse(MouseEvent {
            kind,
            column: 10,
            row: 8,
            modifiers: KeyModifiers::NONE,
        }))
    };
    let a = app.action_for(wheel(MouseEventKind::ScrollDown)).unwrap();
    update(&mut app, a);
    assert_eq!(app.cursor.selected, 3);
    // Rows start on line 4: line 6 is the third row.
    let click = || Action::Click { column: 20, row: 6 };
    update(&mut app, click());
    assert_eq!(app.cursor.selected, 2);
    assert!(matches!(app.screen, Screen::List));
    update(&mut app, click());
    assert!(matches!(app.screen, Screen::Detail(_)));
}

#[test]
fn fifty_thousand_rows_scroll_with_a_window() {
    let entries: Vec<Entry> = (0..50_000u32)
        .map(|i| {
            app_entry(
                100_000 + i,
                &format!("app {i:05}"),
                vec![secret(i, "s", -10.0, at((i % 900) as f64 - 100.0))],
                vec![],
            )
        })
        .collect();
    let mut app = sized(App::new(config(Theme { color: true })), 80, 24);
    app.start();
    app.load_entries(entries);
    cmd(&mut app, Command::Bottom);
    assert_eq!(app.cursor.selected, 49_999);
    assert_eq!(app.cursor.offset, 50_000 - 18);
    let text = screen_text(&app, 80, 24);
    assert!(text.contains("50,000 of 50,000 apps"), "{text}");
    cmd(&mut app, Command::HalfPageUp);
    assert_eq!(app.cursor.selected, 49_990);
    press(&mut app, KeyCode::Char('/'));
    for c in "app 4999".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    // "app 04999" does not contain "app 4999": app 49990 to app 49999 do.
    assert_eq!(app.inventory.visible_len(), 10);
}

#[test]
fn help_and_footer_come_from_the_keymap() {
    let mut app = loaded(120, 40);
    let footer_line = |app: &App| {
        screen_text(app, 120, 40)
            .lines()
            .last()
            .unwrap()
            .to_string()
    };
    let footer = footer_line(&app);
    for (keys, word) in keymap::hints(&[Context::List, Context::Navigation, Context::Global]) {
        assert!(footer.contains(&format!("{keys} {word}")), "{footer}");
    }
    cmd(&mut app, Command::Help);
    let help: String = keyturn::tui::views::help::lines(&app)
        .iter()
        .map(|l| l.to_string() + "\n")
        .collect();
    for b in keymap::active(&[Context::List, Context::Navigation, Context::Global]) {
        assert!(help.contains(b.desc), "help lacks {:?}", b.desc);
    }
    assert!(help.contains("/home/ops/.local/state/keyturn/keyturn.log"));
    assert!(help.contains("– until then"), "owner count note");
    assert!(footer_line(&app).contains("Esc close"));
}

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

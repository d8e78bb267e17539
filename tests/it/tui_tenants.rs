//! The TUI over several tenants: one list with a tenant column, the switcher (`n`: all, then each tenant), and
//! effects about an app routed to that app's tenant. Which tenant each app belongs to is decided here, and every
//! expectation is read against that assignment.
use crate::tui::{cmd, draw};
use crate::tui_triage::{MovingClock, app_entry, screen, secret, start};
use chrono::Duration;
use keyturn::graph::ObjectType;
use keyturn::inventory::load::Progress;
use keyturn::inventory::{Entry, Thresholds};
use keyturn::tui::event::{InventoryLoaded, InventoryPage};
use keyturn::tui::keymap::Command;
use keyturn::tui::{Action, App, Config, Theme, update};

const W: u16 = 120;
const H: u16 = 16;

/// (tenant, app): contoso holds two apps, fabrikam two.
fn tenants() -> Vec<(u16, Entry)> {
    let now = start();
    let s = |n, days| {
        secret(
            n,
            "s",
            now - Duration::days(100),
            now + Duration::days(days),
        )
    };
    vec![
        (0, app_entry(1, "Payroll Sync", vec![s(1, 3)], vec![])),
        (0, app_entry(2, "Billing API", vec![s(2, 200)], vec![])),
        (1, app_entry(3, "Backup Daemon", vec![s(3, -4)], vec![])),
        (1, app_entry(4, "Build Agent", vec![s(4, 20)], vec![])),
    ]
}

fn several() -> App {
    let mut app = App::new(Config {
        tenant_id: String::new(),
        identity: String::new(),
        thresholds: Thresholds::default(),
        clock: MovingClock::new(start()),
        read_only: true,
        log_file: None,
        include_service_principals: true,
        theme: Theme { color: false },
    });
    app.set_tenants(vec!["contoso".into(), "fabrikam".into()]);
    update(
        &mut app,
        Action::Resize {
            width: W,
            height: H,
        },
    );
    app.start();
    let generation = app.generation;
    // Each tenant's page arrives as the runner forwards it: its tenant first, then the page.
    for tenant in [0u16, 1] {
        let entries: Vec<Entry> = tenants()
            .into_iter()
            .filter(|(t, _)| *t == tenant)
            .map(|(_, e)| e)
            .collect();
        let ids = entries.iter().map(|e| e.object_id.clone()).collect();
        update(&mut app, Action::TenantRows { tenant, ids });
        let n = entries.len();
        update(
            &mut app,
            Action::InventoryPage(InventoryPage {
                generation,
                entries,
                progress: Progress::Page {
                    kind: ObjectType::Application,
                    page: 1,
                    items: n,
                    total_so_far: n,
                    more: false,
                },
            }),
        );
    }
    update(
        &mut app,
        Action::InventoryLoaded(InventoryLoaded {
            generation,
            result: Ok(4),
        }),
    );
    app
}

fn text(app: &App) -> String {
    let t = draw(app, W, H);
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

/// The apps on screen, each with the tenant its line names.
fn listed(app: &App) -> Vec<(String, String)> {
    let lines = screen(app, W, H);
    let mut out = Vec::new();
    for (t, e) in tenants() {
        let label = ["contoso", "fabrikam"][t as usize];
        if let Some(line) = lines.iter().find(|l| l.contains(&e.display_name)) {
            let named: Vec<&str> = ["contoso", "fabrikam"]
                .into_iter()
                .filter(|l| line.contains(l))
                .collect();
            assert_eq!(named, [label], "{line}");
            out.push((e.display_name.clone(), label.to_string()));
        }
    }
    out
}

#[test]
fn one_list_of_both_tenants_with_the_tenant_column_and_the_switcher() {
    let mut app = several();
    assert!(app.is_several());
    insta::assert_snapshot!("tenants_all_120x16", text(&app));
    assert_eq!(listed(&app).len(), 4, "{}", text(&app));
    let header = screen(&app, W, H).join("\n");
    assert!(
        header.contains("tenants all 2: contoso, fabrikam"),
        "{header}"
    );

    // n: contoso only, then fabrikam only, then all again.
    cmd(&mut app, Command::NextTenant);
    let only: Vec<String> = listed(&app).into_iter().map(|(_, t)| t).collect();
    assert_eq!(only, ["contoso", "contoso"]);
    assert!(screen(&app, W, H)[0].contains("contoso (1 of 2)"));
    cmd(&mut app, Command::NextTenant);
    insta::assert_snapshot!("tenants_fabrikam_120x16", text(&app));
    let only: Vec<String> = listed(&app).into_iter().map(|(_, t)| t).collect();
    assert_eq!(only, ["fabrikam", "fabrikam"]);
    cmd(&mut app, Command::NextTenant);
    assert_eq!(listed(&app).len(), 4);
}

#[test]
fn an_effect_about_an_app_goes_to_that_apps_tenant() {
    let mut app = several();
    for (tenant, e) in tenants() {
        let pos = app.inventory.position_of(&e.object_id).expect("listed");
        cmd(&mut app, Command::Top);
        for _ in 0..pos {
            cmd(&mut app, Command::Down);
        }
        let effect = cmd(&mut app, Command::Open).expect("opening asks for owners and audit");
        assert_eq!(
            app.effect_tenant(&effect),
            Some(tenant),
            "{}",
            e.display_name
        );
        cmd(&mut app, Command::Back);
    }
    // Loading the inventory goes to every tenant.
    let reload = cmd(&mut app, Command::Reload).expect("reload");
    assert_eq!(app.effect_tenant(&reload), None);
}

#[test]
fn one_tenant_shows_no_tenant_column_or_switcher() {
    let mut app = several();
    app.set_tenants(vec!["only".into()]);
    assert!(!app.is_several());
    let lines = screen(&app, W, H).join("\n");
    assert!(
        !lines.contains("tenants") && !lines.contains("days tenant") && !lines.contains("contoso"),
        "{lines}"
    );
    assert!(cmd(&mut app, Command::NextTenant).is_none());
}

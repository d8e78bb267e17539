//! The TUI over several tenants: one list with a tenant column, the switcher (`n`: all, then each tenant), and
//! effects about an app routed to that app's tenant. Which tenant each app belongs to is decided here, and every
//! expectation is read against that assignment.
use crate::tui::{cmd, draw};
use crate::tui_triage::{MovingClock, app_entry, screen, secret, start};
use chrono::Duration;
use keyturn::graph::ObjectType;
use keyturn::inventory::load::Progress;
use keyturn::inventory::{Entry, Thresholds};
use keyturn::tui::event::{AppReloaded, InventoryLoaded, InventoryPage};
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
    // The help documents the switcher and the column.
    cmd(&mut app, Command::Help);
    let help = screen(&app, W, 60).join("\n");
    assert!(
        help.contains("next tenant: all, then each profile's tenant in turn"),
        "{help}"
    );
    assert!(
        help.contains("the profile whose tenant the app is in"),
        "{help}"
    );
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
    // The change feed (A) reads the selected app's tenant and says which; with the switcher on a tenant, that one.
    cmd(&mut app, Command::Top);
    let first = app.selected_row().expect("a row").tenant;
    let effect = cmd(&mut app, Command::Changes).expect("A reads the feed");
    assert_eq!(app.effect_tenant(&effect), Some(first));
    let label = ["contoso", "fabrikam"][first as usize];
    assert!(
        screen(&app, W, H)
            .iter()
            .any(|l| l.contains(&format!("Changes · tenant {label}"))),
        "{}",
        screen(&app, W, H).join("\n")
    );
    cmd(&mut app, Command::Back);
    cmd(&mut app, Command::NextTenant);
    cmd(&mut app, Command::NextTenant);
    let effect = cmd(&mut app, Command::Changes).expect("A reads the feed");
    assert_eq!(
        app.effect_tenant(&effect),
        Some(1),
        "the switcher shows fabrikam"
    );
    cmd(&mut app, Command::Back);
    // Loading the inventory goes to every tenant.
    let reload = cmd(&mut app, Command::Reload).expect("reload");
    assert_eq!(app.effect_tenant(&reload), None);
}

#[test]
fn an_app_read_again_after_a_rotation_keeps_its_tenant() {
    let mut app = several();
    // Build Agent is fabrikam's (tenant 1): read again as after a rotation, with a new secret added.
    let (tenant, before) = tenants().remove(3);
    assert_eq!((tenant, before.display_name.as_str()), (1, "Build Agent"));
    let now = start();
    let entry = app_entry(
        4,
        "Build Agent",
        vec![
            secret(4, "s", now - Duration::days(100), now + Duration::days(20)),
            secret(5, "new", now, now + Duration::days(180)),
        ],
        vec![],
    );
    assert_eq!(entry.object_id, before.object_id);
    update(
        &mut app,
        Action::AppReloaded(AppReloaded {
            object_id: entry.object_id.clone(),
            result: Ok(entry.clone()),
        }),
    );
    // Every line still names its own tenant (listed asserts it), Build Agent fabrikam's.
    assert_eq!(listed(&app).len(), 4, "{}", text(&app));
    // The switcher still files it under fabrikam, not under the first tenant.
    cmd(&mut app, Command::NextTenant);
    let contoso: Vec<String> = listed(&app).into_iter().map(|(n, _)| n).collect();
    assert!(!contoso.contains(&"Build Agent".to_string()), "{contoso:?}");
    cmd(&mut app, Command::NextTenant);
    let fabrikam: Vec<String> = listed(&app).into_iter().map(|(n, _)| n).collect();
    assert!(
        fabrikam.contains(&"Build Agent".to_string()),
        "{fabrikam:?}"
    );
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

/// `keyturn emulator --state` with `args`, its ready line read; killed on drop.
struct Emulator(std::process::Child, serde_json::Value);

impl Emulator {
    fn start(home: &std::path::Path, args: &[&str]) -> Emulator {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_keyturn"))
            .args(["emulator", "--state"])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("TMPDIR", home)
            .env("XDG_CONFIG_HOME", home.join("emulator-config"))
            .env("XDG_STATE_HOME", home.join("emulator-state"))
            .env("XDG_DATA_HOME", home.join("emulator-data"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start keyturn emulator");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the ready line");
        let ready = serde_json::from_str(&line).expect("the ready line is JSON");
        Emulator(child, ready)
    }

    fn s(&self, key: &str) -> String {
        self.1[key].as_str().unwrap_or_default().to_string()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The real binary over two emulated tenants (two `keyturn emulator` processes: the demo tenant and a generated
/// one) as two profiles, each secret stored by `keyturn login --from-env --profile NAME`: one list, then `n` shows
/// each tenant's part of it, the two parts adding up to the whole.
#[test]
fn two_tenants_in_tmux() {
    use crate::e2e_tmux::{Tmux, loaded, require_tmux, shell, shown_of_total};
    if !require_tmux("two_tenants_in_tmux") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let a = Emulator::start(home.path(), &[]);
    let b = Emulator::start(home.path(), &["--apps", "25", "--seed", "9"]);
    assert_ne!(a.s("tenantId"), b.s("tenantId"));
    let config = home.path().join("tenants.toml");
    let profile = |name: &str, e: &Emulator| {
        format!(
            "[profiles.{name}]\ntenant_id = {:?}\nclient_id = {:?}\nauthority_host = {:?}\ngraph_url = {:?}\n\
             ca_cert = {:?}\n",
            e.s("tenantId"),
            e.s("clientId"),
            e.s("authorityHost"),
            e.s("graphUrl"),
            e.s("caCert")
        )
    };
    std::fs::write(&config, profile("a", &a) + &profile("b", &b)).unwrap();
    let config_s = config.display().to_string();
    let tmux = Tmux::start_with(
        home.path(),
        &[
            ("KEYTURN_CONFIG", &config_s),
            ("KEYTURN_SECRET_STORE", "file"),
        ],
    );
    for (name, e) in [("a", &a), ("b", &b)] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyturn"))
            .env_clear()
            .envs(
                [
                    "PATH",
                    "HOME",
                    "XDG_CONFIG_HOME",
                    "XDG_DATA_HOME",
                    "XDG_STATE_HOME",
                    "XDG_CACHE_HOME",
                    "KEYTURN_CONFIG",
                    "KEYTURN_SECRET_STORE",
                ]
                .map(|k| (k, tmux.env_value(k))),
            )
            .env("AZURE_CLIENT_SECRET", e.s("clientSecret"))
            .args(["login", "--from-env", "--profile", name])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "login {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    shell(&tmux);
    tmux.type_text(&format!("{} --all-profiles", env!("CARGO_BIN_EXE_keyturn")));
    tmux.key("Enter");
    let all = tmux.wait_for("both tenants loaded", |s| {
        loaded(s) && s.contains("tenants all 2: a, b")
    });
    let (shown, total) = shown_of_total(&all).expect("N of M apps");
    assert_eq!(shown, total, "{all}");
    // The generated tenant's apps are tagged b, the demo tenant's a.
    let rows: Vec<&str> = all.lines().skip(4).filter(|l| l.contains("d ")).collect();
    assert!(
        rows.iter().any(|l| l.contains(" a ")) && rows.iter().any(|l| l.contains(" b ")),
        "{all}"
    );

    tmux.type_text("n");
    let only_a = tmux.wait_for("tenant a only", |s| s.contains("a (1 of 2)"));
    let (in_a, total_a) = shown_of_total(&only_a).unwrap();
    tmux.type_text("n");
    let only_b = tmux.wait_for("tenant b only", |s| s.contains("b (2 of 2)"));
    let (in_b, total_b) = shown_of_total(&only_b).unwrap();
    assert_eq!((total_a, total_b), (total, total));
    assert!(in_a > 0 && in_b > 0, "{only_a}\n{only_b}");
    assert_eq!(in_a + in_b, total, "the two tenants make up the list");
    tmux.type_text("n");
    tmux.wait_for("all tenants again", |s| s.contains("tenants all 2"));
    tmux.type_text("q");
    tmux.wait_for("the shell prompt after quitting", |s| {
        s.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| l.starts_with("e2e$"))
    });
}

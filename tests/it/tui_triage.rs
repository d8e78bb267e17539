//! Triage in the list: days left computed one way (rounded down, as `check`) in the list, the detail view and the
//! report, at one instant per frame, also while days pass with the TUI open. Expectations come from the fixture's
//! dates, computed here.
use crate::tui::{cmd, draw};
use chrono::{DateTime, Duration, DurationRound, TimeZone, Utc};
use keyturn::clock::Clock;
use keyturn::graph::{AppId, Application, KeyCredential, KeyId, ObjectId, PasswordCredential};
use keyturn::inventory::{Entry, Thresholds, credential_rows};
use keyturn::tui::keymap::Command;
use keyturn::tui::{Action, App, Config, Screen, Theme, update};
use std::sync::{Arc, Mutex};

/// A clock the test moves forward while the TUI is "open".
#[derive(Debug)]
pub(crate) struct MovingClock(Mutex<DateTime<Utc>>);

impl MovingClock {
    pub(crate) fn new(at: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self(Mutex::new(at)))
    }

    pub(crate) fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for MovingClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// A start with a fractional second, as a real clock has.
pub(crate) fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap() + Duration::milliseconds(250)
}

pub(crate) fn guid(n: u32) -> String {
    format!("{n:08x}-2222-4333-8444-{n:012x}")
}

pub(crate) fn secret(
    n: u32,
    name: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> PasswordCredential {
    PasswordCredential {
        key_id: KeyId::new(guid(0xc000 + n)),
        display_name: Some(name.into()),
        hint: Some("abc".into()),
        start_date_time: Some(start),
        end_date_time: Some(end),
        custom_key_identifier: None,
    }
}

pub(crate) fn cert(n: u32, name: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> KeyCredential {
    KeyCredential {
        key_id: KeyId::new(guid(0xd000 + n)),
        display_name: Some(name.into()),
        key_type: Some("AsymmetricX509Cert".into()),
        usage: Some("Verify".into()),
        start_date_time: Some(start),
        end_date_time: Some(end),
        custom_key_identifier: Some(format!("THUMB{n}")),
    }
}

pub(crate) fn app_entry(
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

pub(crate) fn app_with(clock: Arc<dyn Clock>, entries: Vec<Entry>, w: u16, h: u16) -> App {
    let mut app = App::new(Config {
        tenant_id: "22222222-aaaa-4bbb-8ccc-000000000002".into(),
        identity: "app keyturn-reader".into(),
        thresholds: Thresholds::default(),
        clock,
        read_only: true,
        log_file: None,
        include_service_principals: true,
        theme: Theme { color: false },
    });
    update(
        &mut app,
        Action::Resize {
            width: w,
            height: h,
        },
    );
    app.start();
    app.load_entries(entries);
    app
}

pub(crate) fn screen(app: &App, w: u16, h: u16) -> Vec<String> {
    let t = draw(app, w, h);
    let buf = t.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
        })
        .collect()
}

/// The line that contains `needle` (exactly one).
pub(crate) fn line_with(lines: &[String], needle: &str) -> String {
    let found: Vec<&String> = lines.iter().filter(|l| l.contains(needle)).collect();
    assert_eq!(
        found.len(),
        1,
        "one line with {needle:?} in\n{}",
        lines.join("\n")
    );
    found[0].clone()
}

/// The `Nd` cell of a line.
pub(crate) fn days_cell(line: &str) -> i64 {
    let cells: Vec<i64> = line
        .split_whitespace()
        .filter_map(|w| w.strip_suffix('d')?.parse().ok())
        .collect();
    assert_eq!(cells.len(), 1, "one days cell in {line:?}");
    cells[0]
}

/// Whole days from `now` to `end`, rounded down, by arithmetic on milliseconds.
fn expected_days(end: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    ((end - now).num_milliseconds() as f64 / 86_400_000.0).floor() as i64
}

/// Move the list cursor onto the app named `name` and open it.
pub(crate) fn open(app: &mut App, name: &str) {
    cmd(app, Command::Top);
    for _ in 0..app.inventory.visible_len() {
        if app.selected_row().unwrap().entry.display_name == name {
            cmd(app, Command::Open);
            assert!(matches!(app.screen, Screen::Detail(_)));
            return;
        }
        cmd(app, Command::Down);
    }
    panic!("{name} is not in the list");
}

#[test]
fn list_detail_and_check_say_the_same_days_left_while_days_pass() {
    let t0 = start();
    // Like the emulator's demo certificate: a whole-second end exactly 365 days before a start with a fraction.
    let runas_end = (t0 - Duration::days(365))
        .duration_trunc(Duration::seconds(1))
        .unwrap();
    let hr_end = t0 + Duration::hours(60); // 2.5 days
    let hook_end = t0 + Duration::hours(7 * 24 + 7); // 7.3 days: warning now, critical in half a day
    let far = t0 - Duration::days(400);
    let entries = vec![
        app_entry(
            1,
            "Azure Automation RunAs (legacy)",
            vec![],
            vec![cert(1, "CN=runas-cert", far, runas_end)],
        ),
        app_entry(
            2,
            "HR Portal",
            vec![secret(2, "hr-secret", far, hr_end)],
            vec![],
        ),
        app_entry(
            3,
            "Payments Webhook",
            vec![secret(3, "hook-secret", far, hook_end)],
            vec![],
        ),
    ];
    let cases = [
        (
            "Azure Automation RunAs (legacy)",
            "CN=runas-cert",
            runas_end,
        ),
        ("HR Portal", "hr-secret", hr_end),
        ("Payments Webhook", "hook-secret", hook_end),
    ];
    let clock = MovingClock::new(t0);
    let (w, h) = (120, 40);
    let mut app = app_with(clock.clone(), entries.clone(), w, h);

    let mut seen = Vec::new();
    // At start; 18 h later (HR Portal 2.5 -> 1.75 days crosses a day boundary, Payments Webhook 7.3 -> 6.5 enters
    // the critical window); another 24 h later.
    for step in [Duration::zero(), Duration::hours(18), Duration::hours(24)] {
        clock.advance(step);
        update(&mut app, Action::Tick);
        let now = clock.now();
        let report = credential_rows(&entries, now, Thresholds::default());
        for (name, credential, end) in cases {
            let expected = expected_days(end, now);
            cmd(&mut app, Command::Back);
            let list = days_cell(&line_with(&screen(&app, w, h), name));
            open(&mut app, name);
            let detail = days_cell(&line_with(&screen(&app, w, h), credential));
            cmd(&mut app, Command::Back);
            let check = report
                .iter()
                .find(|r| r.display_name == name)
                .and_then(|r| r.days_left)
                .unwrap();
            assert_eq!(
                (list, detail, check),
                (expected, expected, expected),
                "{name} at {now}: list, detail, check"
            );
            seen.push(expected);
        }
    }
    // The fixture does what it claims: the demo's -366 (not -365), and each day boundary crossed.
    assert_eq!(seen, [-366, 2, 7, -366, 1, 6, -367, 0, 5]);
    // The status of Payments Webhook followed the clock: warning at start, critical once within 7 days.
    let header = screen(&app, w, h)[1].clone();
    let critical = |s: &str| {
        s.split('▲')
            .nth(1)
            .and_then(|r| r.split_whitespace().next()?.parse::<usize>().ok())
    };
    assert_eq!(critical(&header), Some(2), "{header}");
    let row = line_with(&screen(&app, w, h), "Payments Webhook");
    assert!(row.contains("critical"), "{row}");
}

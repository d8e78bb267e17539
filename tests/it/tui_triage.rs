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

// ---- triage by coverage ----------------------------------------------------------------------------------------

/// (name, [(start, end) in days from start()]) of a small tenant: a covered app with an expired leftover must rank
/// by its valid secret and after a genuinely broken app.
const COVERAGE_TENANT: &[(&str, &[(i64, i64)])] = &[
    ("Leftover Covered", &[(-400, -5), (-10, 20)]),
    ("Fully Broken", &[(-400, -2)]),
    ("Long Covered", &[(-400, -40), (-30, 200)]),
    ("No Secrets", &[]),
    ("Critical One", &[(-100, 3)]),
    ("Not Yet Valid", &[(-400, -1), (1, 365)]),
    // Too long for the name column at 80 columns: the name gives way, the stale marker stays.
    (
        "Very Long Application Registration Name Of The Payroll Export",
        &[(-400, -9), (-10, 60)],
    ),
];

fn coverage_entries() -> Vec<Entry> {
    let d = |n: i64| start() + Duration::days(n);
    COVERAGE_TENANT
        .iter()
        .enumerate()
        .map(|(i, (name, creds))| {
            let secrets = creds
                .iter()
                .enumerate()
                .map(|(j, &(s, e))| secret((i * 10 + j) as u32, &format!("s{i}{j}"), d(s), d(e)))
                .collect();
            app_entry(100 + i as u32, name, secrets, vec![])
        })
        .collect()
}

/// What an admin expects of each app, from the fixture's days alone: (name, status, days of the coverage date,
/// stale leftovers, sort key). Valid = started and not ended; covered until the latest valid end; nothing valid
/// (with credentials) = broken; thresholds 7 and 30 days.
type Expected = (&'static str, &'static str, Option<i64>, usize, (u8, i64));

fn expected_coverage() -> Vec<Expected> {
    COVERAGE_TENANT
        .iter()
        .map(|&(name, creds)| {
            let valid: Vec<i64> = creds
                .iter()
                .filter(|&&(s, e)| s <= 0 && e > 0)
                .map(|&(_, e)| e)
                .collect();
            let expired: Vec<i64> = creds.iter().map(|&(_, e)| e).filter(|&e| e <= 0).collect();
            match valid.iter().max() {
                _ if creds.is_empty() => (name, "ok", None, 0, (3, 0)),
                None => {
                    let since = *expired.iter().max().unwrap();
                    (name, "broken", Some(since), 0, (0, since))
                }
                Some(&until) => {
                    let status = if until <= 7 {
                        "critical"
                    } else if until <= 30 {
                        "warning"
                    } else {
                        "ok"
                    };
                    (name, status, Some(until), expired.len(), (1, until))
                }
            }
        })
        .collect()
}

#[test]
fn list_triages_by_coverage_with_stale_leftovers_marked() {
    let mut expected = expected_coverage();
    expected.sort_by_key(|e| e.4);
    // The fixture is the one the brief asks for: a covered app with a leftover, sorted after a broken one.
    let pos = |n: &str| expected.iter().position(|e| e.0 == n).unwrap();
    assert!(pos("Fully Broken") < pos("Leftover Covered"));
    assert_eq!(expected[pos("Leftover Covered")].1, "warning");

    for (w, h) in [(80, 24), (120, 40)] {
        let mut app = app_with(
            Arc::new(keyturn::clock::FixedClock(start())),
            coverage_entries(),
            w,
            h,
        );
        let names = visible_names(&app);
        let want: Vec<&str> = expected.iter().map(|e| e.0).collect();
        assert_eq!(names, want, "default sort: coverage ends, broken first");
        let lines = screen(&app, w, h);
        for &(name, status, days, stale, _) in &expected {
            let row = line_with(&lines, &name[..name.len().min(12)]);
            let cells: Vec<&str> = row.split_whitespace().collect();
            assert!(cells.contains(&status), "{name}: {status} in {row:?}");
            if let Some(days) = days {
                assert_eq!(days_cell(&row), days, "{row}");
            }
            assert_eq!(
                row.contains("stale"),
                stale > 0,
                "{name}: stale marker in {row:?}"
            );
            // No "expired" at the top: an app's status is never a credential's.
            assert!(!row.contains("expired"), "{row}");
        }
        let count = |s: &str| expected.iter().filter(|e| e.1 == s).count();
        let header = &lines[1];
        for s in ["broken", "critical", "warning", "ok"] {
            assert!(
                header.contains(&format!("{} {s}", count(s))),
                "{s}: {} in {header:?}",
                count(s)
            );
        }
        insta::assert_snapshot!(format!("coverage_list_{w}x{h}"), lines.join("\n"));

        // Filters follow the new statuses.
        cmd(&mut app, Command::CycleStatusFilter);
        assert_eq!(
            app.inventory.visible_len(),
            count("broken") + count("critical"),
            "broken+critical"
        );
        cmd(&mut app, Command::CycleStatusFilter);
        cmd(&mut app, Command::CycleStatusFilter);
        assert_eq!(app.inventory.visible_len(), count("broken"), "broken only");
        cmd(&mut app, Command::CycleStatusFilter);

        // One `s` away: the per-credential order, soonest end first (expired leftovers included).
        cmd(&mut app, Command::CycleSort);
        let soonest = |n: &str| {
            let creds = COVERAGE_TENANT.iter().find(|e| e.0 == n).unwrap().1;
            (
                creds.iter().map(|c| c.1).min().is_none(),
                creds.iter().map(|c| c.1).min(),
            )
        };
        let mut by_soonest = want.clone();
        by_soonest.sort_by_key(|n| soonest(n));
        let names = visible_names(&app);
        assert_eq!(names, by_soonest, "s: soonest credential end");
        cmd(&mut app, Command::CycleSort);
        cmd(&mut app, Command::CycleSort);
    }
}

#[test]
fn detail_says_covered_until_or_broken() {
    let mut app = app_with(
        Arc::new(keyturn::clock::FixedClock(start())),
        coverage_entries(),
        120,
        40,
    );
    open(&mut app, "Leftover Covered");
    let until = start() + Duration::days(20);
    let summary = line_with(&screen(&app, 120, 40), "covered until");
    assert!(
        summary.contains(&format!(
            "● warning · covered until {} (20 days)",
            until.format("%Y-%m-%d")
        )),
        "{summary}"
    );
    assert!(summary.contains("1 credential stale"), "{summary}");
    cmd(&mut app, Command::Back);
    open(&mut app, "Fully Broken");
    let summary = line_with(&screen(&app, 120, 40), "✖ broken:");
    assert!(
        summary.contains("✖ broken: no valid credential"),
        "{summary}"
    );
    assert!(
        !summary.contains("stale"),
        "a broken app's expired secret is the outage, not a leftover"
    );
}

/// The display names of the list's rows, top to bottom.
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

//! `T`: the expiry timeline. Counts per week and status are computed here from the fixture's days (week i holds
//! ends in [7i, 7i+7) days from now; critical within 7 days, warning within 30, else ok) and read back off the
//! screen, at 120x40 and 80x24.
use crate::tui::press;
use crate::tui_triage::{app_entry, app_with, guid, screen, secret, start};
use chrono::{DateTime, Duration, Utc};
use crossterm::event::KeyCode;
use keyturn::clock::FixedClock;
use keyturn::graph::{AppId, KeyId, ObjectId, PasswordCredential, ServicePrincipal};
use keyturn::inventory::Entry;
use keyturn::tui::{App, Screen};
use std::collections::BTreeMap;
use std::sync::Arc;

/// End dates in days from now, per app; `None` never ends. The last app is a service principal.
const ENDS: &[&[Option<f64>]] = &[
    &[Some(0.5), Some(3.0), Some(-1.0)],
    &[Some(6.9), Some(7.0), Some(10.0), None],
    &[Some(29.0), Some(31.0), Some(45.0), Some(-400.0)],
    &[Some(45.5), Some(90.9), Some(91.0)],
    &[Some(200.0), Some(12.0)],
];

fn at(days: f64) -> DateTime<Utc> {
    start() + Duration::seconds((days * 86_400.0) as i64)
}

fn entries() -> Vec<Entry> {
    let never = |mut s: PasswordCredential| {
        s.end_date_time = None;
        s
    };
    let mut out: Vec<Entry> = ENDS
        .iter()
        .enumerate()
        .map(|(i, ends)| {
            let secrets: Vec<PasswordCredential> = ends
                .iter()
                .enumerate()
                .map(|(j, end)| {
                    let s = secret(
                        (200 + i * 10 + j) as u32,
                        &format!("t{i}{j}"),
                        at(-500.0),
                        at(end.unwrap_or(0.0)),
                    );
                    if end.is_none() { never(s) } else { s }
                })
                .collect();
            (i, secrets)
        })
        .filter(|(i, _)| *i + 1 < ENDS.len())
        .map(|(i, secrets)| {
            app_entry(
                300 + i as u32,
                &format!("Timeline App {i}"),
                secrets,
                vec![],
            )
        })
        .collect();
    let last = ENDS.len() - 1;
    out.push(Entry::from_service_principal(ServicePrincipal {
        id: ObjectId::new(guid(0xe300)),
        app_id: AppId::new(guid(0xf300)),
        display_name: Some("Timeline SP".into()),
        service_principal_type: Some("Application".into()),
        app_owner_organization_id: None,
        preferred_token_signing_key_end_date_time: None,
        password_credentials: ENDS[last]
            .iter()
            .enumerate()
            .map(|(j, end)| PasswordCredential {
                key_id: KeyId::new(guid(0xc900 + j as u32)),
                ..secret(0, "sp", at(-500.0), at(end.unwrap()))
            })
            .collect(),
        key_credentials: vec![],
    }));
    out
}

/// (week 1-based, status) -> count, from the days alone.
fn expected() -> BTreeMap<(usize, &'static str), usize> {
    let mut out = BTreeMap::new();
    for end in ENDS.iter().flat_map(|e| e.iter()).flatten() {
        if *end <= 0.0 || *end >= 91.0 {
            continue;
        }
        let week = (*end / 7.0).floor() as usize + 1;
        let status = if *end <= 7.0 {
            "critical"
        } else if *end <= 30.0 {
            "warning"
        } else {
            "ok"
        };
        *out.entry((week, status)).or_insert(0) += 1;
    }
    out
}

/// (week, status) -> count as drawn: a label `NN Mon DD  S status` (the week part blank on a week's later bars),
/// then the bar with its count written at its start.
fn drawn(lines: &[String]) -> BTreeMap<(usize, &'static str), usize> {
    let mut out = BTreeMap::new();
    let mut week = 0;
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(n) = words.first().and_then(|w| w.parse::<usize>().ok())
            && words.get(1).is_some_and(|m| m.len() == 3)
        {
            week = n;
        }
        for status in ["critical", "warning", "ok"] {
            if let Some(p) = words.iter().position(|w| *w == status)
                && let Some(count) = words.get(p + 1).and_then(|w| {
                    let digits: String = w.chars().take_while(char::is_ascii_digit).collect();
                    digits.parse::<usize>().ok()
                })
            {
                assert!(out.insert((week, status), count).is_none(), "{line}");
            }
        }
    }
    out
}

fn open_timeline(w: u16, h: u16) -> App {
    let mut app = app_with(Arc::new(FixedClock(start())), entries(), w, h);
    press(&mut app, KeyCode::Char('T'));
    assert!(
        matches!(app.screen, Screen::Timeline),
        "T opens the timeline"
    );
    app
}

#[test]
fn timeline_counts_credentials_ending_per_week_by_status() {
    let want = expected();
    // The fixture covers the edges: a week with two statuses at the 7-day boundary, one across the 30-day
    // boundary, empty weeks, and ends outside the 91 days.
    assert_eq!(want.get(&(2, "critical")), Some(&1));
    assert_eq!(want.get(&(2, "warning")), Some(&2));
    assert_eq!(want.get(&(5, "warning")), Some(&1));
    assert_eq!(want.get(&(5, "ok")), Some(&1));
    for (w, h) in [(120, 40), (80, 24)] {
        let mut app = open_timeline(w, h);
        let lines = screen(&app, w, h);
        assert_eq!(drawn(&lines), want, "{w}x{h}:\n{}", lines.join("\n"));
        // Every week is on screen, empty ones with a 0.
        for week in 1..=13 {
            assert!(
                lines
                    .iter()
                    .any(|l| l.trim_start().starts_with(&format!("{week} "))),
                "week {week} at {w}x{h}"
            );
        }
        let total: usize = want.values().sum();
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("{total} credentials end in 91 days"))),
            "{}",
            lines.join("\n")
        );
        // Not on the timeline, said in words: 2 expired; 91, 200 days and never are later.
        assert!(
            lines
                .iter()
                .any(|l| l.contains("2 expired, 3 later or never")),
            "{}",
            lines.join("\n")
        );
        insta::assert_snapshot!(format!("timeline_{w}x{h}"), lines.join("\n"));
        press(&mut app, KeyCode::Esc);
        assert!(
            matches!(app.screen, Screen::List),
            "Esc returns to the list"
        );
    }
}

#[test]
fn timeline_follows_the_service_principal_toggle() {
    let mut app = open_timeline(120, 40);
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('t'));
    press(&mut app, KeyCode::Char('T'));
    let mut want = expected();
    // The service principal's 12-day secret (week 2, warning) goes with it; its 200-day one was not shown anyway.
    *want.get_mut(&(2, "warning")).unwrap() -= 1;
    assert_eq!(drawn(&screen(&app, 120, 40)), want);
}

#[test]
fn timeline_bars_carry_the_list_colours() {
    let mut app = open_timeline(120, 40);
    app.cfg.theme = keyturn::tui::Theme { color: true };
    let t = crate::tui::draw(&app, 120, 40);
    let buf = t.backend().buffer();
    let line = |y: u16| -> String { (0..120).map(|x| buf[(x, y)].symbol()).collect() };
    for (label, colour) in [
        (" 1 ", ratatui::style::Color::Red),
        ("13 ", ratatui::style::Color::Green),
    ] {
        let y = (0..40)
            .find(|&y| line(y).starts_with(label))
            .unwrap_or_else(|| panic!("week {label}"));
        let bar = line(y).find('█').unwrap();
        let x = line(y)[..bar].chars().count() as u16;
        assert_eq!(buf[(x, y)].fg, colour, "{}", line(y));
    }
}

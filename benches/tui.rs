//! Keystroke-to-frame time of the TUI on a generated tenant of 50,000 apps (`cargo bench --bench tui`).
//!
//! Each sample is what the event loop does for one key: map the key through the keymap, `update`, and draw a full
//! frame through the crossterm backend (escape sequences written to a sink, so encoding is measured too). No
//! network: the entries are generated in memory and fed through the same page-by-page path as a Graph load.
//! A report, not a timed test: numbers vary with the machine; 16 ms is one frame at 60 Hz.
use chrono::{DateTime, Duration, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use keyturn::clock::FixedClock;
use keyturn::graph::{AppId, Application, KeyId, ObjectId, ObjectType, PasswordCredential};
use keyturn::inventory::load::Progress;
use keyturn::inventory::{Entry, Thresholds};
use keyturn::tui::event::{InventoryLoaded, InventoryPage};
use keyturn::tui::{Action, App, Config, Theme, render, update};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use std::io::Sink;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

const APPS: usize = 50_000;
const PAGE: usize = 999;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
}

/// Deterministic pseudo-random numbers (no dependency, same tenant every run).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

fn guid(r: &mut Lcg) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        r.next() as u32,
        r.next() as u16,
        r.next() % 0xfff,
        r.next() % 0xfff,
        r.next() % 0xffff_ffff_ffff
    )
}

fn tenant() -> Vec<Entry> {
    const WORDS: [&str; 16] = [
        "payroll",
        "sync",
        "backup",
        "daemon",
        "portal",
        "invoice",
        "export",
        "bridge",
        "ingest",
        "webhook",
        "reporter",
        "connector",
        "gateway",
        "runner",
        "monitor",
        "mailer",
    ];
    let mut r = Lcg(42);
    (0..APPS)
        .map(|i| {
            let name = format!(
                "{} {} {} {i}",
                WORDS[(r.next() % 16) as usize],
                WORDS[(r.next() % 16) as usize],
                ["prod", "test", "dev", "dr"][(r.next() % 4) as usize]
            );
            let secrets = (0..(r.next() % 3))
                .map(|_| {
                    let end_days = (r.next() % 1000) as i64 - 200;
                    PasswordCredential {
                        key_id: KeyId::new(guid(&mut r)),
                        display_name: Some("secret".into()),
                        hint: None,
                        start_date_time: Some(now() - Duration::days(300)),
                        end_date_time: Some(now() + Duration::days(end_days)),
                        custom_key_identifier: None,
                    }
                })
                .collect();
            Entry::from_application(Application {
                id: ObjectId::new(guid(&mut r)),
                app_id: AppId::new(guid(&mut r)),
                display_name: Some(name),
                created_date_time: None,
                sign_in_audience: None,
                password_credentials: secrets,
                key_credentials: vec![],
            })
        })
        .collect()
}

type Term = Terminal<CrosstermBackend<Sink>>;

fn terminal(w: u16, h: u16) -> Term {
    Terminal::with_options(
        CrosstermBackend::new(std::io::sink()),
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, w, h)),
        },
    )
    .expect("a terminal over a sink")
}

struct Stats {
    name: String,
    samples: Vec<StdDuration>,
}

impl Stats {
    fn print(&mut self) {
        self.samples.sort();
        let n = self.samples.len();
        let q = |p: f64| self.samples[((n as f64 - 1.0) * p).round() as usize];
        let ms = |d: StdDuration| d.as_secs_f64() * 1000.0;
        println!(
            "{:<44} {:>6} {:>8.3} {:>8.3} {:>8.3} {:>8.3}",
            self.name,
            n,
            ms(q(0.5)),
            ms(q(0.95)),
            ms(q(0.99)),
            ms(self.samples[n - 1])
        );
    }
}

/// One keystroke, start to drawn frame.
fn keystroke(app: &mut App, term: &mut Term, key: KeyEvent) -> StdDuration {
    let start = Instant::now();
    if let Some(action) = app.action_for_key(&key) {
        // Effects (owners requests) would go to the runner; here they are dropped.
        let _ = update(app, action);
    }
    term.draw(|f| render(app, f)).expect("draw");
    start.elapsed()
}

fn run_keys(app: &mut App, term: &mut Term, name: &str, keys: &[KeyEvent]) {
    let samples = keys.iter().map(|k| keystroke(app, term, *k)).collect();
    Stats {
        name: name.to_string(),
        samples,
    }
    .print();
}

fn plain(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn ch(c: char) -> KeyEvent {
    plain(KeyCode::Char(c))
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn main() {
    let started = Instant::now();
    let entries = tenant();
    println!(
        "generated {APPS} apps in {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );

    for (w, h) in [(120u16, 40u16), (80, 24)] {
        println!("\n== {w}x{h}, {APPS} apps");
        let mut app = App::new(Config {
            tenant_id: "bench".into(),
            identity: "bench".into(),
            thresholds: Thresholds::default(),
            clock: Arc::new(FixedClock(now())),
            read_only: false,
            log_file: None,
            include_service_principals: true,
            theme: Theme::from_env(),
        });
        update(
            &mut app,
            Action::Resize {
                width: w,
                height: h,
            },
        );
        let mut term = terminal(w, h);
        let generation = match app.start() {
            keyturn::tui::Effect::LoadInventory { generation, .. } => generation,
            _ => unreachable!("start loads the inventory"),
        };

        // Pages as Graph sends them: each is merged, re-sorted and drawn.
        let mut pages = Vec::new();
        let mut total = 0;
        for (n, chunk) in entries.chunks(PAGE).enumerate() {
            total += chunk.len();
            let start = Instant::now();
            update(
                &mut app,
                Action::InventoryPage(InventoryPage {
                    generation,
                    entries: chunk.to_vec(),
                    progress: Progress::Page {
                        kind: ObjectType::Application,
                        page: n as u32 + 1,
                        items: chunk.len(),
                        total_so_far: total,
                        more: total < APPS,
                    },
                }),
            );
            term.draw(|f| render(&app, f)).expect("draw");
            pages.push(start.elapsed());
        }
        update(
            &mut app,
            Action::InventoryLoaded(InventoryLoaded {
                generation,
                result: Ok(APPS),
            }),
        );
        println!(
            "{:<44} {:>6} {:>8} {:>8} {:>8} {:>8}",
            "scenario (ms per keystroke, key to frame)", "n", "p50", "p95", "p99", "max"
        );
        Stats {
            name: "page of 999 arrives (merge+sort+draw)".into(),
            samples: pages,
        }
        .print();

        run_keys(
            &mut app,
            &mut term,
            "j (scroll down one row)",
            &[ch('j'); 2000],
        );
        run_keys(
            &mut app,
            &mut term,
            "k (scroll up one row)",
            &[ch('k'); 500],
        );
        run_keys(
            &mut app,
            &mut term,
            "Ctrl-d (half page down)",
            &[ctrl('d'); 500],
        );
        run_keys(
            &mut app,
            &mut term,
            "PgDn",
            &[plain(KeyCode::PageDown); 500],
        );
        run_keys(
            &mut app,
            &mut term,
            "G / g (last / first row)",
            &[ch('G'), ch('g')].repeat(50),
        );

        // Filter typing: each keystroke filters all 50,000 rows (or the current matches when it narrows).
        let mut typing = vec![ch('/')];
        for word in ["payroll sync prod", "4e3a", "zzzz", "webhook 4999"] {
            typing.extend(word.chars().map(ch));
            typing.extend(std::iter::repeat_n(
                plain(KeyCode::Backspace),
                word.chars().count(),
            ));
        }
        run_keys(
            &mut app,
            &mut term,
            "filter: type a char / backspace",
            &typing,
        );
        run_keys(
            &mut app,
            &mut term,
            "filter: Esc (clear, all rows back)",
            &[plain(KeyCode::Esc)],
        );

        run_keys(
            &mut app,
            &mut term,
            "s (re-sort 50,000 rows)",
            &[ch('s'); 30],
        );
        run_keys(&mut app, &mut term, "f (status filter)", &[ch('f'); 40]);
        run_keys(
            &mut app,
            &mut term,
            "Enter / Esc (detail and back)",
            &[plain(KeyCode::Enter), plain(KeyCode::Esc)].repeat(100),
        );
    }
}

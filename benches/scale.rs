//! Scale benchmark (`cargo bench --bench scale`): a generated tenant of 50,000 apps served by `keyturn emulator` in
//! its own process with 20 ms of latency per request, and keyturn's loading, cache and TUI measured against it.
//!
//! Printed as one table, all in the same run so that the ratios compare like with like:
//! - cold load: keyturn's loader (`$top=999`, minimal `$select`, parsed into the inventory) against the floor, a bare
//!   loop that fetches the same pages and only finds the nextLink, and against a peer that pages 100 at a time
//!   (Get-MgApplication's default) and parses the same way;
//! - warm start: cache file to the first full frame (cache read, inventory, TUI state, one drawn frame), then the
//!   delta refresh that brings it up to date;
//! - keystroke to frame while filtering and scrolling;
//! - peak RSS of this process after the cold load, the TUI state and a frame (measured before the floor and peer
//!   loops run, so it is keyturn's own footprint).
//!
//! Environment: `KEYTURN_BENCH_APPS` (default 50000), `KEYTURN_BENCH_LATENCY_MS` (default 20).
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use keyturn::graph::client::{APPLICATION_SELECT, ops};
use keyturn::graph::{Application, GraphClient};
use keyturn::inventory::load::{LoadOptions, load_streaming};
use keyturn::inventory::sync::{self, SyncKind};
use keyturn::session::{Overrides, Session, Settings};
use keyturn::store::cache::InventoryCache;
use keyturn::tui::{Action, App, Config, Theme, render, update};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Emulator(std::process::Child);

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_emulator(apps: u64, latency_ms: u64) -> (Emulator, keyturn::emulator::ReadyInfo) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyturn"))
        .args([
            "emulator",
            "--apps",
            &apps.to_string(),
            "--latency-ms",
            &latency_ms.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("keyturn emulator starts");
    let stdout = child.stdout.take().expect("stdout");
    let emu = Emulator(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ready line");
    let info = serde_json::from_str(line.trim()).expect("ready line is JSON");
    (emu, info)
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The floor: the same pages fetched in sequence, bodies read whole, only the nextLink found (no JSON parsing).
async fn floor(http: &reqwest::Client, token: &str, first: String) -> (Duration, u32) {
    let start = Instant::now();
    let mut next = Some(first);
    let mut pages = 0;
    while let Some(url) = next.take() {
        let body = http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("body");
        pages += 1;
        next = find_next_link(&body);
    }
    (start.elapsed(), pages)
}

fn find_next_link(body: &str) -> Option<String> {
    let key = "\"@odata.nextLink\":\"";
    let at = body.find(key)? + key.len();
    let end = body[at..].find('"')?;
    Some(body[at..at + end].replace("\\/", "/"))
}

/// A peer that pages 100 at a time and parses each page into the same models.
async fn peer(graph: &GraphClient) -> (Duration, u32, usize) {
    let start = Instant::now();
    let url = graph.url(&format!(
        "applications?$top=100&$select={APPLICATION_SELECT}"
    ));
    let mut pager = graph.pager::<Application>(url, ops::LIST_APPLICATIONS);
    let mut n = 0;
    while let Some(page) = pager.next_page().await {
        n += page.expect("page").value.len();
    }
    (start.elapsed(), pager.pages_fetched(), n)
}

type Term = Terminal<CrosstermBackend<std::io::Sink>>;

fn terminal(w: u16, h: u16) -> Term {
    Terminal::with_options(
        CrosstermBackend::new(std::io::sink()),
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, w, h)),
        },
    )
    .expect("terminal")
}

fn tui_config(session: &Session) -> Config {
    Config {
        tenant_id: session.tenant_id.clone(),
        identity: session.identity.clone(),
        thresholds: session.thresholds,
        clock: session.clock.clone(),
        read_only: true,
        log_file: None,
        include_service_principals: true,
        theme: Theme::from_env(),
    }
}

fn app_with(session: &Session, entries: Vec<keyturn::inventory::Entry>, term: &mut Term) -> App {
    let mut app = App::new(tui_config(session));
    update(
        &mut app,
        Action::Resize {
            width: 120,
            height: 40,
        },
    );
    let _ = app.load_entries(entries);
    term.draw(|f| render(&app, f)).expect("draw");
    app
}

fn keystrokes(app: &mut App, term: &mut Term, keys: &[KeyEvent]) -> Vec<Duration> {
    keys.iter()
        .map(|key| {
            let start = Instant::now();
            if let Some(action) = app.action_for_key(key) {
                let _ = update(app, action);
            }
            term.draw(|f| render(app, f)).expect("draw");
            start.elapsed()
        })
        .collect()
}

fn quantiles(mut d: Vec<Duration>) -> (f64, f64, f64) {
    d.sort();
    let ms = |x: Duration| x.as_secs_f64() * 1000.0;
    let q = |p: f64| ms(d[((d.len() as f64 - 1.0) * p).round() as usize]);
    (q(0.5), q(0.95), ms(d[d.len() - 1]))
}

fn main() {
    let apps = env_num("KEYTURN_BENCH_APPS", 50_000);
    let latency = env_num("KEYTURN_BENCH_LATENCY_MS", 20);
    let home = std::env::temp_dir().join(format!("keyturn-bench-{}", std::process::id()));
    // The bench never touches the operator's own config or cache: both paths are given explicitly below.
    let (_emu, info) = start_emulator(apps, latency);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let scratch = home.clone();
    rt.block_on(async move {
        let overrides = Overrides {
            tenant_id: Some(info.tenant_id.clone()),
            client_id: Some(info.client_id.clone()),
            client_secret: Some(info.client_secret.clone().into()),
            authority_host: Some(info.authority_host.clone()),
            graph_url: Some(info.graph_url.clone()),
            ca_cert: Some(info.ca_cert.clone()),
            config: Some(home.join("none.toml")),
            ..Default::default()
        };
        let session = Session::connect(Settings::resolve(&overrides).expect("settings")).expect("session");
        // Sign in and warm the connection once, outside every measurement.
        let token = {
            let scope = session.settings.graph_scope.clone();
            session.credential.get_token(&[scope.as_str()], None).await.expect("token").token.secret().to_string()
        };
        let _ = session.http.get(session.graph.url("applications?$top=1")).bearer_auth(&token).send().await;

        println!("keyturn scale benchmark: {apps} apps, {latency} ms latency per request, best of 3 runs of each load\n");
        let apps_only = LoadOptions { service_principals: false };

        // Ours and the floor alternate, best of three each, so that both see the same emulator and machine state.
        // The floor only holds one page body at a time, so the peak RSS read below is keyturn's own.
        let first = session.graph.url(&format!("applications?$top=999&$select={APPLICATION_SELECT}"));
        let mut ours = Duration::MAX;
        let mut our_pages = 0;
        let mut bare = Duration::MAX;
        let mut bare_pages = 0;
        let mut entries = Vec::new();
        for _ in 0..3 {
            let start = Instant::now();
            let mut got = Vec::new();
            let mut pages = 0;
            load_streaming(&session.graph, apps_only, |e, _| {
                pages += 1;
                got.extend(e);
            })
            .await
            .expect("load");
            ours = ours.min(start.elapsed());
            our_pages = pages;
            entries = got;
            let (d, p) = floor(&session.http, &token, first.clone()).await;
            bare = bare.min(d);
            bare_pages = p;
        }
        let mut term = terminal(120, 40);
        let frame_start = Instant::now();
        let mut app = app_with(&session, entries, &mut term);
        let cold_frame = frame_start.elapsed();
        let rss = peak_rss_mb();

        let filter: Vec<KeyEvent> = std::iter::once(KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE))
            .chain("payroll 004".chars().map(|c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)))
            .chain((0..11).map(|_| KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE)))
            .collect();
        let typing = keystrokes(&mut app, &mut term, &filter);
        let _ = keystrokes(&mut app, &mut term, &[KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)]);
        let scroll_keys: Vec<KeyEvent> = (0..300)
            .map(|i| match i % 50 {
                0 => KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL),
                _ => KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE),
            })
            .collect();
        let scrolling = keystrokes(&mut app, &mut term, &scroll_keys);
        drop(app);

        // Warm start: a cache written by a full refresh, then read back into a first frame.
        let cache_path = home.join("bench-cache.sqlite");
        let scope = sync::scope(&session.tenant_id, &info.graph_url);
        let opts = LoadOptions::default();
        {
            let (mut cache, _) = InventoryCache::open(&cache_path).expect("cache");
            sync::refresh(&session.graph, Some(&mut cache), &scope, None, opts, chrono::Utc::now(), |_, _| {})
                .await
                .expect("full refresh");
        }
        let warm_start = Instant::now();
        let (mut cache, _) = InventoryCache::open(&cache_path).expect("cache");
        let t_open = warm_start.elapsed();
        let snapshot = cache.load_snapshot(&scope).expect("load").expect("cached").entries;
        let t_load = warm_start.elapsed();
        let warm_entries = sync::snapshot_entries(snapshot, opts);
        let t_entries = warm_start.elapsed();
        let app = app_with(&session, warm_entries, &mut term);
        let warm = warm_start.elapsed();
        println!(
            "warm start phases: open {:.1} ms, read {:.1} ms, entries {:.1} ms, state + frame {:.1} ms",
            t_open.as_secs_f64() * 1000.0,
            (t_load - t_open).as_secs_f64() * 1000.0,
            (t_entries - t_load).as_secs_f64() * 1000.0,
            (warm - t_entries).as_secs_f64() * 1000.0
        );
        drop(app);
        // The objects the delta merge needs are read behind the first frame, as the TUI does.
        let cached = cache.load(&scope).expect("load").expect("cached");
        let delta_start = Instant::now();
        let refreshed = sync::refresh(&session.graph, Some(&mut cache), &scope, Some(cached), opts, chrono::Utc::now(), |_, _| {})
            .await
            .expect("delta");
        let delta = delta_start.elapsed();
        assert!(matches!(refreshed.how, SyncKind::Delta { .. }), "{:?}", refreshed.how);

        let (slow, slow_pages, slow_n) = peer(&session.graph).await;
        assert_eq!(slow_n as u64, apps);

        let s = |d: Duration| d.as_secs_f64();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!("{:<58} {:>12} {:>10}", "measure", "value", "target");
        println!("{:<58} {:>10.2} s {:>10}", format!("floor: bare page loop, $top=999 ({bare_pages} pages)"), s(bare), "");
        println!("{:<58} {:>10.2} s {:>10}", format!("keyturn cold load, $top=999 ({our_pages} pages)"), s(ours), "");
        println!("{:<58} {:>10.2} s {:>10}", format!("peer: $top=100 client ({slow_pages} pages)"), s(slow), "");
        println!("{:<58} {:>11.2}x {:>10}", "cold load / floor", s(ours) / s(bare), "<= 1.2x");
        println!("{:<58} {:>11.1}x {:>10}", "peer / cold load (speed-up)", s(slow) / s(ours), ">= 8x");
        println!("{:<58} {:>9.1} ms {:>10}", "first frame after cold load (state + draw)", ms(cold_frame), "");
        println!("{:<58} {:>9.1} ms {:>10}", "warm start: cache -> first full frame", ms(warm), "< 150 ms");
        println!("{:<58} {:>9.1} ms {:>10}", "delta refresh after warm start (no changes)", ms(delta), "");
        let (p50, p95, max) = quantiles(typing);
        println!("{:<58} {:>9.2} ms {:>10}", format!("keystroke->frame, filter typing p50 (p95 {p95:.2}, max {max:.2})"), p50, "< 16 ms");
        let (p50, p95, max) = quantiles(scrolling);
        println!("{:<58} {:>9.2} ms {:>10}", format!("keystroke->frame, scrolling p50 (p95 {p95:.2}, max {max:.2})"), p50, "< 16 ms");
        match rss {
            Some(mb) => println!("{:<58} {:>9.0} MB {:>10}", "peak RSS after cold load + TUI state + frame", mb, "< 150 MB"),
            None => println!("{:<58} {:>12} {:>10}", "peak RSS", "n/a", "< 150 MB"),
        }
    });
    let _ = std::fs::remove_dir_all(&scratch);
}

//! Scale benchmark (`cargo bench --bench scale`): the real `keyturn` binary against `keyturn emulator --apps 50000`
//! (50,000 applications and their 50,000 service principals) in its own process, 20 ms of latency per request.
//!
//! Every series runs `KEYTURN_BENCH_RUNS` times (default 3); the table shows the best run and the spread (slowest
//! run), all from the same run of the benchmark so that the ratios compare like with like:
//! - `keyturn check --all --format json` (applications and service principals): wall time from spawn to exit, and
//!   its peak RSS (`getrusage(RUSAGE_CHILDREN)` after the runs are reaped: the highest of them);
//! - the TUI's real-tenant start in a pseudo-terminal, its output parsed as a terminal would show it: cold (no cache)
//!   from process start to the "loaded" status, then its peak RSS (`VmHWM`) once the cache is written; warm (the
//!   cache of the cold run) from process start to the first full frame of the cached list;
//! - the floor: a bare loop over the same pages (`$top=999`, the same `$select`) that reads each body and finds the
//!   nextLink, applications and service principals concurrently, and one that does them one after the other;
//! - a peer modelled on `Get-MgApplication -All` then `Get-MgServicePrincipal -All`: no `$select` (the default
//!   properties), 100 a page, each page parsed whole before the next is asked for.
//!
//! The emulator and keyturn share the machine's cores, as they do on a developer's laptop running the demo.
//! Environment: `KEYTURN_BENCH_APPS` (default 50000), `KEYTURN_BENCH_LATENCY_MS` (20), `KEYTURN_BENCH_RUNS` (3),
//! `KEYTURN_BENCH_BIN` (measure another keyturn binary, such as an older build, with the same emulator and loops).
use keyturn::graph::client::{APPLICATION_SELECT, SERVICE_PRINCIPAL_SELECT};
use keyturn::session::{Overrides, Session, Settings};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary measured: the one cargo built for this bench, or `KEYTURN_BENCH_BIN` (another build to compare).
fn bin() -> PathBuf {
    std::env::var_os("KEYTURN_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_keyturn")))
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A child process killed and reaped when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_emulator(apps: u64, latency_ms: u64) -> (Reaped, keyturn::emulator::ReadyInfo) {
    let mut child = Command::new(bin())
        .args(["emulator", "--apps", &apps.to_string()])
        .args(["--latency-ms", &latency_ms.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("keyturn emulator starts");
    let stdout = child.stdout.take().expect("stdout");
    let emu = Reaped(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ready line");
    let info = serde_json::from_str(line.trim()).expect("ready line is JSON");
    (emu, info)
}

/// The environment of a keyturn process pointed at the emulator, with every file it writes under `home`.
fn product(info: &keyturn::emulator::ReadyInfo, home: &Path) -> Command {
    let mut cmd = Command::new(bin());
    for var in [
        "KEYTURN_PROFILE",
        "KEYTURN_LOG",
        "KEYTURN_NOW",
        "NO_COLOR",
        "AZURE_CLIENT_CERTIFICATE_PATH",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AZURE_TENANT_ID", &info.tenant_id)
        .env("AZURE_CLIENT_ID", &info.client_id)
        .env("AZURE_CLIENT_SECRET", &info.client_secret)
        .env("AZURE_AUTHORITY_HOST", &info.authority_host)
        .env("KEYTURN_GRAPH_URL", &info.graph_url)
        .env("KEYTURN_CA_CERT", &info.ca_cert)
        .env("KEYTURN_CONFIG", home.join("none.toml"))
        .env("KEYTURN_READ_ONLY", "1")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("TERM", "xterm-256color");
    cmd
}

/// Best and slowest of a series.
#[derive(Clone, Copy)]
struct Series {
    best: Duration,
    worst: Duration,
}

impl Series {
    fn of(runs: &[Duration]) -> Series {
        Series {
            best: *runs.iter().min().expect("at least one run"),
            worst: *runs.iter().max().expect("at least one run"),
        }
    }
}

fn peak_rss_of_reaped_children_mb() -> f64 {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    usage.max_rss() as f64 / 1024.0
}

fn vm_hwm_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// One `check --all --format json`, spawn to exit.
fn check_once(info: &keyturn::emulator::ReadyInfo, home: &Path) -> Duration {
    let start = Instant::now();
    let status = product(info, home)
        .args(["check", "--all", "--format", "json"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("check runs");
    let took = start.elapsed();
    // 0, 1 or 2 (what was found); 3 is a failure.
    assert!(matches!(status.code(), Some(0..=2)), "check: {status}");
    took
}

/// The TUI in a pseudo-terminal of 160x45; a thread feeds its output to a terminal model and notes when a line
/// that starts with one of the watched texts first shows.
struct PtyTui {
    child: Reaped,
    master: std::fs::File,
    seen: Arc<Mutex<Vec<Option<Instant>>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

const ROWS: u16 = 45;
const COLS: u16 = 160;

impl PtyTui {
    fn start(mut cmd: Command, watch: &'static [&'static str]) -> (PtyTui, Instant) {
        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        let master =
            openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).expect("openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        rustix::termios::tcsetwinsize(
            &master,
            rustix::termios::Winsize {
                ws_row: ROWS,
                ws_col: COLS,
                ws_xpixel: 0,
                ws_ypixel: 0,
            },
        )
        .expect("window size");
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(PathBuf::from(name.to_string_lossy().into_owned()))
            .expect("open the pty's terminal side");
        let master = std::fs::File::from(master);
        let seen = Arc::new(Mutex::new(vec![None; watch.len()]));
        let start = Instant::now();
        let child = cmd
            .stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")))
            .stderr(Stdio::from(slave))
            .spawn()
            .expect("keyturn starts");
        let mut out = master.try_clone().expect("dup master");
        let marks = seen.clone();
        let reader = std::thread::spawn(move || {
            let mut term = vt100::Parser::new(
                ROWS.try_into().expect("rows"),
                COLS.try_into().expect("cols"),
                0,
            );
            let mut buf = vec![0u8; 64 * 1024];
            // Ends when the child closes the terminal (EIO on Linux).
            while let Ok(n @ 1..) = out.read(&mut buf) {
                term.process(&buf[..n]);
                let mut marks = marks.lock().expect("marks");
                if marks.iter().all(Option::is_some) {
                    continue;
                }
                let now = Instant::now();
                for row in term.screen().rows(0, COLS) {
                    for (mark, text) in marks.iter_mut().zip(watch) {
                        if mark.is_none() && row.starts_with(text) {
                            *mark = Some(now);
                        }
                    }
                }
            }
        });
        let tui = PtyTui {
            child: Reaped(child),
            master,
            seen,
            reader: Some(reader),
        };
        (tui, start)
    }

    /// When the watched text `i` first showed, waiting up to `limit`.
    fn wait_for(&self, i: usize, limit: Duration) -> Instant {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(t) = self.seen.lock().expect("marks")[i] {
                return t;
            }
            assert!(Instant::now() < deadline, "the TUI never showed text {i}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn pid(&self) -> u32 {
        self.child.0.id()
    }

    fn quit(mut self) {
        let _ = self.master.write_all(b"q");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.0.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(self.child);
        drop(self.master);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// Wait until the TUI's log says the inventory cache was written.
fn wait_for_cache_write(home: &Path, limit: Duration) {
    let log = home.join("state/keyturn/keyturn.log");
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if std::fs::read_to_string(&log).is_ok_and(|s| s.contains("inventory cache written")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the TUI did not write its cache within {limit:?}");
}

const LOADED: usize = 0;
const CACHED: usize = 1;
const WATCH: &[&str] = &[" loaded ", " showing the inventory cached"];

/// A cold start (no cache): process start to the "loaded" status, then the peak RSS once the cache is written.
fn tui_cold(info: &keyturn::emulator::ReadyInfo, home: &Path) -> (Duration, f64) {
    let _ = std::fs::remove_dir_all(home.join("data"));
    let _ = std::fs::remove_dir_all(home.join("state"));
    let (tui, start) = PtyTui::start(product(info, home), WATCH);
    let loaded = tui.wait_for(LOADED, Duration::from_secs(300)) - start;
    wait_for_cache_write(home, Duration::from_secs(300));
    let rss = vm_hwm_mb(tui.pid()).expect("VmHWM of the TUI");
    tui.quit();
    (loaded, rss)
}

/// A warm start from the cache the cold start wrote: process start to the first full frame of the cached list.
fn tui_warm(info: &keyturn::emulator::ReadyInfo, home: &Path) -> Duration {
    let (tui, start) = PtyTui::start(product(info, home), WATCH);
    let first = tui.wait_for(CACHED, Duration::from_secs(60)) - start;
    // Let the delta refresh land before quitting, so the next run starts from the same state.
    tui.wait_for(LOADED, Duration::from_secs(120));
    tui.quit();
    first
}

/// The floor of one collection: its pages fetched in order, each body read whole, only the nextLink found.
async fn floor(http: &reqwest::Client, token: &str, first: String) -> u32 {
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
    pages
}

fn find_next_link(body: &str) -> Option<String> {
    let key = "\"@odata.nextLink\":\"";
    let at = body.find(key)? + key.len();
    let end = body[at..].find('"')?;
    Some(body[at..at + end].replace("\\/", "/"))
}

/// The peer: one collection paged 100 at a time with its default properties, each page parsed whole (as an SDK
/// builds its objects) before the next is asked for.
async fn peer(http: &reqwest::Client, token: &str, first: String) -> (u32, usize) {
    let mut next = Some(first);
    let mut pages = 0;
    let mut objects = 0;
    while let Some(url) = next.take() {
        let body = http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .expect("page")
            .bytes()
            .await
            .expect("body");
        let page: serde_json::Value = serde_json::from_slice(&body).expect("page JSON");
        pages += 1;
        objects += page["value"].as_array().map_or(0, Vec::len);
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    (pages, objects)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    format!("{cores} cores ({cpu}), {mem_gib:.0} GiB")
}

fn main() {
    let apps = env_num("KEYTURN_BENCH_APPS", 50_000);
    let latency = env_num("KEYTURN_BENCH_LATENCY_MS", 20);
    let runs = env_num("KEYTURN_BENCH_RUNS", 3).max(1) as usize;
    let home = tempfile::tempdir().expect("temp dir");
    let (emu, info) = start_emulator(apps, latency);

    // 1. check --all, first: the RSS read below is the highest of these children, reaped before any other.
    let _ = check_once(&info, home.path()); // warms the emulator's connection handling and the page cache
    let check_runs: Vec<Duration> = (0..runs).map(|_| check_once(&info, home.path())).collect();
    let check_rss = peak_rss_of_reaped_children_mb();

    // 2. The TUI: cold, then warm from the cold run's cache.
    let mut cold_runs = Vec::new();
    let mut tui_rss = Vec::new();
    let mut warm_runs = Vec::new();
    for _ in 0..runs {
        let (cold, rss) = tui_cold(&info, home.path());
        cold_runs.push(cold);
        tui_rss.push(rss);
        warm_runs.push(tui_warm(&info, home.path()));
    }

    // 3. The floors and the peer, in this process.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (concurrent_runs, sequential_runs, peer_runs, pages, peer_pages, peer_objects) = rt
        .block_on(async {
            let overrides = Overrides {
                tenant_id: Some(info.tenant_id.clone()),
                client_id: Some(info.client_id.clone()),
                client_secret: Some(info.client_secret.clone().into()),
                authority_host: Some(info.authority_host.clone()),
                graph_url: Some(info.graph_url.clone()),
                ca_cert: Some(info.ca_cert.clone()),
                config: Some(home.path().join("none.toml")),
                ..Default::default()
            };
            let session = Session::connect(Settings::resolve(&overrides).expect("settings"))
                .expect("session");
            let scope = session.settings.graph_scope.clone();
            let token = session
                .credential
                .get_token(&[scope.as_str()], None)
                .await
                .expect("token")
                .token
                .secret()
                .to_string();
            // keyturn's HTTP client settings (TLS roots, HTTP/2), warmed once outside every measurement.
            let http = session.http.clone();
            let _ = http
                .get(session.graph.url("applications?$top=1"))
                .bearer_auth(&token)
                .send()
                .await;
            let apps_url = session.graph.url(&format!(
                "applications?$top=999&$select={APPLICATION_SELECT}"
            ));
            let sps_url = session.graph.url(&format!(
                "servicePrincipals?$top=999&$select={SERVICE_PRINCIPAL_SELECT}"
            ));
            let mut concurrent = Vec::new();
            let mut sequential = Vec::new();
            let mut pages = (0, 0);
            for _ in 0..runs {
                let start = Instant::now();
                pages = futures::join!(
                    floor(&http, &token, apps_url.clone()),
                    floor(&http, &token, sps_url.clone())
                );
                concurrent.push(start.elapsed());
                let start = Instant::now();
                floor(&http, &token, apps_url.clone()).await;
                floor(&http, &token, sps_url.clone()).await;
                sequential.push(start.elapsed());
            }
            let mut peers = Vec::new();
            let mut peer_pages = 0;
            let mut peer_objects = 0;
            for _ in 0..runs {
                let start = Instant::now();
                let (a_pages, a_n) =
                    peer(&http, &token, session.graph.url("applications?$top=100")).await;
                let (s_pages, s_n) = peer(
                    &http,
                    &token,
                    session.graph.url("servicePrincipals?$top=100"),
                )
                .await;
                peers.push(start.elapsed());
                peer_pages = a_pages + s_pages;
                peer_objects = a_n + s_n;
            }
            (
                concurrent,
                sequential,
                peers,
                pages,
                peer_pages,
                peer_objects,
            )
        });
    drop(emu);

    let check = Series::of(&check_runs);
    let cold = Series::of(&cold_runs);
    let warm = Series::of(&warm_runs);
    let concurrent = Series::of(&concurrent_runs);
    let sequential = Series::of(&sequential_runs);
    let peer = Series::of(&peer_runs);
    let rss_min = tui_rss.iter().cloned().fold(f64::MAX, f64::min);
    let rss_max = tui_rss.iter().cloned().fold(0.0, f64::max);

    let s = |d: Duration| d.as_secs_f64();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "keyturn scale benchmark, {}: {apps} apps + {apps} service principals, {latency} ms latency per request, \
         best of {runs} runs (slowest in brackets)",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!("machine: {}; emulator on the same cores", machine());
    println!();
    let row = |measure: String, value: String, target: &str| {
        println!("| {measure} | {value} | {target} |");
    };
    println!("| measure | value | target |");
    println!("|---|---|---|");
    let secs = |x: Series| format!("{:.2} s ({:.2})", s(x.best), s(x.worst));
    row(
        format!(
            "floor: both collections concurrently, `$top=999` ({} + {} pages)",
            pages.0, pages.1
        ),
        secs(concurrent),
        "",
    );
    row(
        "floor: both collections one after the other".into(),
        secs(sequential),
        "",
    );
    row(
        "`keyturn check --all --format json`".into(),
        secs(check),
        "",
    );
    row(
        "check / concurrent floor".into(),
        format!("{:.2}x", s(check.best) / s(concurrent.best)),
        "<= 1.1x",
    );
    row(
        "TUI cold start: process start to \"loaded\"".into(),
        secs(cold),
        "",
    );
    row(
        "TUI cold start / concurrent floor".into(),
        format!("{:.2}x", s(cold.best) / s(concurrent.best)),
        "<= 1.1x",
    );
    row(
        "TUI warm start: process start to the first full frame from the cache".into(),
        format!("{:.0} ms ({:.0})", ms(warm.best), ms(warm.worst)),
        "< 150 ms",
    );
    row(
        format!(
            "peer: Get-MgApplication -All + Get-MgServicePrincipal -All model ({peer_pages} pages, {peer_objects} objects)"
        ),
        secs(peer),
        "",
    );
    row(
        "peer / check (speed-up)".into(),
        format!("{:.1}x", s(peer.best) / s(check.best)),
        "",
    );
    row(
        "peak RSS, `check --all --format json` (highest run)".into(),
        format!("{check_rss:.0} MB"),
        "< 150 MB",
    );
    row(
        "peak RSS, TUI after the cold load with the cache written (lowest, highest run)".into(),
        format!("{rss_min:.0} MB ({rss_max:.0})"),
        "< 150 MB",
    );
}

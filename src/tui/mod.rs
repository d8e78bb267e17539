//! The interactive TUI (`keyturn`, `keyturn demo`).
//!
//! Shape (The Elm Architecture, as in the ratatui docs): every input and every background result arrives on one
//! channel as an [`Event`]; [`App::action_for`] turns it into an [`Action`] (keys through the one [`keymap`]);
//! [`update`] is the only code that changes state and may return an [`Effect`]; the effect runner is the only code
//! that calls Graph, and its results come back as events. [`views::render`] draws `&App` and changes nothing.
//!
//! Rotation keeps that shape: `r` in the detail view returns `Effect::PlanRotation`; the plan comes back as
//! [`Event::Rotation`] and opens the plan screen (focus on Cancel, approval by typing the app's display name);
//! Confirm returns `Effect::Rotate` with the approved plan, and the engine's progress and report come back as
//! [`Event::Rotation`] too. The engine runs in the effect runner; the new secret's value never leaves it.
pub mod app;
pub mod effects;
pub mod event;
pub mod format;
pub mod keymap;
pub mod model;
pub mod several;
pub mod theme;
pub mod views;

pub use app::{Action, App, Config, Confirm, Effect, Popup, Screen, update};
pub use event::{Event, RotationUpdate};
pub use theme::Theme;
pub use views::render;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture, EventStream};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Events processed before a frame is drawn: key repeat and mouse wheels arrive in bursts, and drawing once per
/// burst keeps the screen current instead of replaying every intermediate frame.
const MAX_BATCH: usize = 256;

/// Run the TUI on a signed-in session until the operator quits. The terminal is restored on every way out: normal
/// exit, error (the guard's `Drop`), panic (the hook), SIGTERM/SIGHUP (handled as quit).
///
/// Install color-eyre's hooks before calling this (`color_eyre::install()`): the panic hook installed here restores
/// the terminal first and then hands over to whatever hook was there before.
pub async fn run(session: crate::session::Session) -> color_eyre::Result<()> {
    run_session(session, None, Recovery::Resume).await
}

/// [`run`] for `keyturn demo`: the journal's news is shown but nothing is resumed, since an interrupted rotation in
/// the journal belongs to a real tenant and must never be "finished" against the emulated one.
pub async fn run_demo(session: crate::session::Session) -> color_eyre::Result<()> {
    run_session(session, None, Recovery::ReportOnly).await
}

/// What the start does with interrupted rotations in the journal.
enum Recovery {
    /// `rotation::on_start`: finish them (unless read-only), then report.
    Resume,
    /// Report only.
    ReportOnly,
}

/// [`run`] for a session whose device-code sign-in reports to `prompt` (from [`crate::auth::watch_prompt`]): the
/// prompt opens as a popup while the sign-in waits for the operator, and closes when it is done.
pub async fn run_with_sign_in(
    session: crate::session::Session,
    prompt: watch::Receiver<Option<crate::auth::DeviceCodePrompt>>,
) -> color_eyre::Result<()> {
    run_session(session, Some(prompt), Recovery::Resume).await
}

async fn run_session(
    session: crate::session::Session,
    sign_in: Option<watch::Receiver<Option<crate::auth::DeviceCodePrompt>>>,
    recovery: Recovery,
) -> color_eyre::Result<()> {
    // As docs/ARCHITECTURE.md section 4 says, a start that may write finishes interrupted rotations; this runs behind
    // the first frame, and its news arrives as a popup.
    let startup: StartupFuture = match recovery {
        Recovery::Resume => {
            let session = session.clone();
            Box::pin(async move { crate::rotation::on_start(&session).await })
        }
        Recovery::ReportOnly => {
            let journal = session.open_journal();
            Box::pin(async move {
                journal
                    .and_then(|j| crate::rotation::startup_report(&j))
                    .unwrap_or_else(|e| crate::rotation::StartupReport {
                        errors: vec![e.to_string()],
                        ..Default::default()
                    })
            })
        }
    };
    let background = Background {
        rotation: Some(effects::RotationService::for_session(&session)),
        startup: Some(startup),
        sign_in,
        unused_days: session.settings.unused_days,
        audit: effects::AuditSettings {
            journal_path: session.journal_path.clone(),
            max_lifetime_days: session.settings.profile.audit_max_lifetime_days,
        },
    };
    let cfg = Config {
        tenant_id: session.tenant_id.clone(),
        identity: session.identity.clone(),
        thresholds: session.thresholds,
        clock: session.clock.clone(),
        read_only: session.read_only,
        log_file: session.log_file.clone(),
        include_service_principals: session.include_service_principals,
        theme: Theme::from_env(),
    };
    let vaults = session.vault_secrets(crate::keyvault::client::VaultOptions::default());
    let cache = inventory_cache_for(&session);
    run_with(
        cfg,
        session.graph.clone(),
        Some((vaults, session.settings.vaults.clone())),
        cache,
        background,
    )
    .await
}

/// `rotation::on_start`, run beside the TUI.
pub type StartupFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = crate::rotation::StartupReport> + Send>>;

/// Work that runs beside the TUI and is not an effect of a key: rotation, the journal's news at start, the
/// device-code prompt. Everything is optional (tests run without).
#[derive(Default)]
pub struct Background {
    /// How `r` rotates, or why it cannot (no journal).
    pub rotation: Option<Result<effects::RotationService, String>>,
    /// `rotation::on_start`: its lines open a popup when there is news.
    pub startup: Option<StartupFuture>,
    pub sign_in: Option<watch::Receiver<Option<crate::auth::DeviceCodePrompt>>>,
    /// The profile's `unused_days`.
    pub unused_days: i64,
    /// The change feed's journal and maximum lifetime.
    pub audit: effects::AuditSettings,
}

/// [`run`] without a [`crate::session::Session`]: what it needs, spelled out. `vaults` are read for "stored in";
/// `cache` is the inventory cache file and this tenant's scope in it (warm start, delta refresh).
pub async fn run_with(
    cfg: Config,
    graph: crate::graph::GraphClient,
    vaults: Option<(crate::keyvault::KeyVaultSecrets, Vec<String>)>,
    cache: Option<(std::path::PathBuf, String)>,
    mut background: Background,
) -> color_eyre::Result<()> {
    let (tx, rx) = mpsc::unbounded_channel::<Event>();
    let notices = tx.clone();
    let graph = graph.with_notifier(Arc::new(move |n| {
        let _ = notices.send(Event::Notice(n));
    }));
    let mut runner = effects::Runner::new(graph, tx.clone())
        .with_unused_days(background.unused_days)
        .with_audit(background.audit.clone());
    if let Some((secrets, urls)) = vaults {
        runner = runner.with_vaults(secrets, urls);
    }
    if let Some((path, scope)) = cache {
        runner = runner.with_cache(path, scope);
    }
    if let Some(rotation) = background.rotation.take() {
        runner = runner.with_rotation(rotation);
    }
    let app = App::new(cfg);
    run_app(
        app,
        several::Runners::One(Box::new(runner)),
        tx,
        rx,
        background,
    )
    .await
}

/// The TUI over several tenants at once (`--profile a --profile b`, `--all-profiles`): one list with a tenant
/// column and the tenant switcher (`n`); each app's detail, rotation and removal run on its own tenant's session.
/// `sessions` are (profile name, session), in the order the list names them. Interrupted rotations of each tenant
/// are finished at start as with one tenant.
pub async fn run_several(
    sessions: Vec<(String, crate::session::Session)>,
    log_file: Option<std::path::PathBuf>,
) -> color_eyre::Result<()> {
    let Some((_, first)) = sessions.first() else {
        return Err(color_eyre::eyre::eyre!("no profile to show"));
    };
    let cfg = Config {
        tenant_id: String::new(),
        identity: String::new(),
        thresholds: first.thresholds,
        clock: first.clock.clone(),
        // One latch for the whole screen: when any profile is read-only, nothing is written anywhere from here.
        read_only: sessions.iter().any(|(_, s)| s.read_only),
        log_file,
        include_service_principals: first.include_service_principals,
        theme: Theme::from_env(),
    };
    let (labels, sessions): (Vec<String>, Vec<crate::session::Session>) =
        sessions.into_iter().unzip();
    let starts: Vec<_> = sessions.clone();
    let startup: StartupFuture = Box::pin(async move {
        // One after the other: they share the journal file.
        let mut all = crate::rotation::StartupReport::default();
        for s in &starts {
            let r = crate::rotation::on_start(s).await;
            all.recovered.extend(r.recovered);
            all.errors.extend(r.errors);
            all.removals.extend(r.removals);
            for (into, from) in [
                (&mut all.needs_attention, r.needs_attention),
                (&mut all.pending_removals, r.pending_removals),
                (&mut all.in_progress, r.in_progress),
            ] {
                for e in from {
                    if !into.iter().any(|x| x.id == e.id) {
                        into.push(e);
                    }
                }
            }
        }
        all
    });
    let (tx, rx) = mpsc::unbounded_channel::<Event>();
    let runners = several::Several::new(&sessions, labels.clone(), tx.clone());
    let mut app = App::new(cfg);
    app.set_tenants(labels);
    let background = Background {
        startup: Some(startup),
        ..Background::default()
    };
    run_app(app, several::Runners::Several(runners), tx, rx, background).await
}

async fn run_app(
    mut app: App,
    mut runner: several::Runners,
    tx: mpsc::UnboundedSender<Event>,
    mut rx: mpsc::UnboundedReceiver<Event>,
    background: Background,
) -> color_eyre::Result<()> {
    let mut guard = TerminalGuard::enter()?;
    let size = guard.terminal.size()?;
    update(
        &mut app,
        Action::Resize {
            width: size.width,
            height: size.height,
        },
    );

    let input = spawn_input(tx.clone());
    let ticker = spawn_ticker(tx.clone());
    let signals = spawn_signals(tx.clone());
    let startup = background.startup.map(|f| spawn_startup(f, tx.clone()));
    let sign_in = background.sign_in.map(|rx| spawn_sign_in(rx, tx.clone()));
    drop(tx);

    let first = app.start();
    runner.run(&app, first);
    let result = event_loop(&mut app, &mut guard, &mut runner, &mut rx).await;

    runner.shutdown();
    input.abort();
    ticker.abort();
    for task in [signals, startup, sign_in].into_iter().flatten() {
        task.abort();
    }
    drop(guard);
    tracing::info!("tui closed");
    result
}

async fn event_loop(
    app: &mut App,
    guard: &mut TerminalGuard,
    runner: &mut several::Runners,
    rx: &mut mpsc::UnboundedReceiver<Event>,
) -> color_eyre::Result<()> {
    guard.terminal.draw(|f| render(app, f))?;
    while let Some(event) = rx.recv().await {
        let mut next = Some(event);
        let mut handled = 0;
        while let Some(event) = next.take() {
            if let Some(action) = app.action_for(event)
                && let Some(effect) = update(app, action)
            {
                runner.run(app, effect);
            }
            handled += 1;
            if app.should_quit || handled >= MAX_BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        if app.should_quit {
            return Ok(());
        }
        guard.terminal.draw(|f| render(app, f))?;
    }
    Ok(())
}

/// Owns the terminal while the TUI runs; dropping it restores the terminal whatever way the TUI ends.
struct TerminalGuard {
    terminal: ratatui::DefaultTerminal,
}

impl TerminalGuard {
    fn enter() -> color_eyre::Result<Self> {
        // try_init installs ratatui's hook (restore, then the previous hook, i.e. color-eyre's); ours runs before
        // it to give the mouse back, which ratatui's restore does not do.
        let terminal = ratatui::try_init()?;
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
            previous(info);
        }));
        let guard = Self { terminal };
        crossterm::execute!(std::io::stdout(), EnableMouseCapture)?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
        ratatui::restore();
    }
}

fn spawn_input(tx: mpsc::UnboundedSender<Event>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut stream = EventStream::new();
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(ev) => {
                    if tx.send(Event::Input(ev)).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    // The terminal is gone (closed SSH session): nothing can be shown any more, so leave.
                    tracing::warn!(error = %e, "terminal input failed");
                    let _ = tx.send(Event::Terminate);
                    break;
                }
            }
        }
    })
}

/// The journal's news at start, without holding up the first frame.
fn spawn_startup(
    report: StartupFuture,
    tx: mpsc::UnboundedSender<Event>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let report = report.await;
        for line in report.lines() {
            tracing::warn!("journal at start: {line}");
        }
        let _ = tx.send(Event::Startup(event::StartupNews {
            lines: report.lines(),
            recovered: report.recovered.len(),
            pending: report
                .pending_removals
                .iter()
                .map(event::PendingRemoval::from_entry)
                .collect(),
        }));
    })
}

/// Forward the device-code prompt: `Some` opens the popup, `None` closes it.
fn spawn_sign_in(
    mut rx: watch::Receiver<Option<crate::auth::DeviceCodePrompt>>,
    tx: mpsc::UnboundedSender<Event>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let current = rx.borrow_and_update().clone();
        if current.is_some() && tx.send(Event::SignIn(current)).is_err() {
            return;
        }
        while rx.changed().await.is_ok() {
            let next = rx.borrow_and_update().clone();
            if tx.send(Event::SignIn(next)).is_err() {
                break;
            }
        }
    })
}

fn spawn_ticker(tx: mpsc::UnboundedSender<Event>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            if tx.send(Event::Tick).is_err() {
                break;
            }
        }
    })
}

#[cfg(unix)]
fn spawn_signals(tx: mpsc::UnboundedSender<Event>) -> Option<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok()?;
    let mut hup = signal(SignalKind::hangup()).ok()?;
    Some(tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
        let _ = tx.send(Event::Terminate);
    }))
}

#[cfg(not(unix))]
fn spawn_signals(_tx: mpsc::UnboundedSender<Event>) -> Option<tokio::task::JoinHandle<()>> {
    None
}

/// The inventory cache file and this session's scope in it, or `None` to start cold. The cache is keyed by tenant:
/// a sign-in that did not name one (Azure CLI, a managed identity without `tenant_id`) would key every tenant the
/// identity reaches the same, and could show one tenant's cached list under another's name.
pub fn inventory_cache_for(
    session: &crate::session::Session,
) -> Option<(std::path::PathBuf, String)> {
    if session.tenant_id.trim().is_empty() {
        return None;
    }
    let path = session.inventory_cache.clone()?;
    let scope = crate::inventory::sync::scope(&session.tenant_id, &session.settings.graph_url);
    Some((path, scope))
}

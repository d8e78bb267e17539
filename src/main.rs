use clap::Parser;
use keyturn::cli::{CheckArgs, Cli, Command, DemoArgs, EmulatorArgs};
use keyturn::emulator::{Emulator, EmulatorConfig, TenantSource};
use keyturn::inventory::{self, Status, load::LoadOptions};
use keyturn::report::{self, exit};
use keyturn::safe_text::TerminalWriter;
use keyturn::session::{Session, Settings};
use secrecy::SecretString;
use std::io::Write;
use std::process::ExitCode;

/// `eprintln!` through the sanitising boundary: messages quote tenant data (names, error bodies).
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        let _ = writeln!(TerminalWriter::new(std::io::stderr()), $($arg)*);
    }};
}
use std::time::Duration;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print to stdout and exit 0.
        Err(e) if !e.use_stderr() => e.exit(),
        // Not clap's exit 2: to monitoring that reads `check`'s exit code, 2 is "critical". An argument keyturn
        // cannot use means it could not complete: 3 with the message.
        Err(e) => {
            let _ = write!(TerminalWriter::new(std::io::stderr()), "{}", e.render());
            return ExitCode::from(exit::UNKNOWN);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keyturn: cannot start the async runtime: {e}");
            return ExitCode::from(exit::UNKNOWN);
        }
    };
    let several = cli.global.profile_selection().is_several();
    match &cli.command {
        Some(c) if several && !c.takes_several_profiles() => {
            eprintln!(
                "keyturn: `keyturn {}` works on one tenant at a time, but several profiles were given (--profile \
                 repeated or --all-profiles): run it once per profile, e.g. `keyturn --profile NAME {}`. \
                 `check`, `notify` and the interactive view take several profiles.",
                c.name(),
                c.name()
            );
            return ExitCode::from(exit::UNKNOWN);
        }
        _ => {}
    }
    let _log = keyturn::config::state_dir()
        .ok()
        .and_then(|dir| keyturn::logging::init(&dir));
    let log_file = _log.as_ref().map(|(_, p)| p.clone());
    runtime.block_on(async move {
        match cli.command {
            Some(Command::Check(args)) => check(&cli.global, args).await,
            Some(Command::Emulator(args)) => emulator(args).await,
            Some(Command::Demo(args)) => demo(args, log_file).await,
            Some(Command::Rotate(args)) => rotate(&cli.global, args).await,
            Some(Command::Journal(args)) => journal(&cli.global, args).await,
            Some(Command::Show(args)) => show(&cli.global, args).await,
            Some(Command::Audit(args)) => audit(&cli.global, args).await,
            Some(Command::Cleanup(args)) => cleanup(&cli.global, args).await,
            Some(Command::Notify(args)) => notify(&cli.global, args).await,
            Some(Command::Remove(args)) => remove(&cli.global, args).await,
            Some(Command::Review(args)) => review(&cli.global, args).await,
            Some(Command::Login(args)) => login(&cli.global, args).await,
            Some(Command::Logout) => logout(&cli.global),
            Some(Command::Doctor) => doctor(&cli.global).await,
            Some(Command::Completions(args)) => printed(keyturn::cli::write_completions(
                args.shell,
                &mut std::io::stdout().lock(),
            )),
            Some(Command::Man(args)) => man(args),
            None => interactive(&cli.global, log_file).await,
        }
    })
}

type Out = TerminalWriter<std::io::Stdout>;
type ErrOut = TerminalWriter<std::io::Stderr>;

/// The commands that run on a signed-in session: connect (a failure is exit 3 with one line), run the command
/// with stdout and stderr through the sanitising boundary, and exit with its code.
async fn on_session(
    global: &keyturn::cli::GlobalArgs,
    command: impl AsyncFnOnce(&Session, &mut Out, &mut ErrOut) -> u8,
) -> ExitCode {
    let session = match Settings::resolve(&global.overrides()).and_then(Session::connect) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let (mut out, mut err) = (
        TerminalWriter::new(std::io::stdout()),
        TerminalWriter::new(std::io::stderr()),
    );
    ExitCode::from(command(&session, &mut out, &mut err).await)
}

/// `keyturn rotate` (docs/ARCHITECTURE.md section 2): the engine in `rotation::cli`; it prints the journal's news
/// first.
async fn rotate(
    global: &keyturn::cli::GlobalArgs,
    args: keyturn::rotation::cli::RotateArgs,
) -> ExitCode {
    on_session(global, async |s, out, err| {
        keyturn::rotation::cli::rotate_command(s, &args, out, err).await
    })
    .await
}

/// `keyturn show APP`: the app and what depends on its credentials; optional data missing is a note, not a failure.
async fn show(global: &keyturn::cli::GlobalArgs, args: keyturn::cli::ShowArgs) -> ExitCode {
    on_session(global, async |s, out, err| {
        keyturn::report::show::show_command(s, &args.app, args.format, out, err).await
    })
    .await
}

/// `keyturn audit`: the tenant's credential changes with findings; exit 1 when there are findings.
async fn audit(global: &keyturn::cli::GlobalArgs, args: keyturn::cli::AuditArgs) -> ExitCode {
    let office365 = global.office365_url.clone();
    on_session(global, async |s, out, err| {
        keyturn::report::audit::audit_command(s, &args, office365.as_deref(), out, err).await
    })
    .await
}

/// `keyturn review`: an access review session on the terminal (prompts on stdin), or its export.
async fn review(
    global: &keyturn::cli::GlobalArgs,
    args: keyturn::review::command::ReviewArgs,
) -> ExitCode {
    on_session(global, async |s, out, err| {
        let stdin = std::io::stdin();
        keyturn::review::command::review_command(s, &args, &mut stdin.lock(), out, err).await
    })
    .await
}

/// `keyturn cleanup`: due removals of old secrets, removed with `--yes` after their checks.
async fn cleanup(
    global: &keyturn::cli::GlobalArgs,
    args: keyturn::rotation::cli::CleanupArgs,
) -> ExitCode {
    on_session(global, async |s, out, err| {
        keyturn::rotation::cli::cleanup_command(s, &args, out, err).await
    })
    .await
}

/// `keyturn notify`: tell the profile's targets what is new or worse; `--set-secret` stores a target's secret. With
/// several profiles each tenant runs on its own (4 at a time); its output is printed in profile order, and the exit
/// code is the worst of them.
async fn notify(global: &keyturn::cli::GlobalArgs, args: keyturn::notify::NotifyArgs) -> ExitCode {
    let selection = global.profile_selection();
    let overrides = global.overrides();
    if let Some(name) = args.set_secret {
        if selection.is_several() {
            return fail("--set-secret stores the secret of one tenant: give one --profile");
        }
        let settings = match Settings::resolve(&overrides) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let code = keyturn::notify::set_secret_command(
            &settings,
            name,
            args.from_env,
            &mut TerminalWriter::new(std::io::stderr()),
        );
        return ExitCode::from(code);
    }
    let settings = match keyturn::session::resolve_profiles(&overrides, &selection) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let several = settings.len() > 1;
    if several {
        let ignored = keyturn::session::ignored_with_several_profiles(
            &overrides,
            &keyturn::auth::Env::from_process(),
        );
        if !ignored.is_empty() {
            eprintln!(
                "keyturn: note: with several profiles each signs in as its profile says; not used: {}",
                ignored.join(", ")
            );
        }
    }
    let args = &args;
    let outcomes = keyturn::session::for_each_tenant(
        settings,
        keyturn::session::SignInOptions::default(),
        |session| async move {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let code = keyturn::notify::notify_command(&session, args, &mut out, &mut err).await;
            Ok::<_, keyturn::session::SessionError>((code, out, err))
        },
    )
    .await;
    let (mut stdout, mut stderr) = (
        TerminalWriter::new(std::io::stdout()),
        TerminalWriter::new(std::io::stderr()),
    );
    let mut code = 0;
    for o in outcomes {
        match o.result {
            Ok((c, out, err)) => {
                code = code.max(c);
                let _ = stdout.write_all(&out);
                if several {
                    for line in String::from_utf8_lossy(&err).lines() {
                        let _ = writeln!(stderr, "[{}] {line}", o.profile);
                    }
                } else {
                    let _ = stderr.write_all(&err);
                }
            }
            Err(e) => {
                code = exit::UNKNOWN;
                let _ = writeln!(stderr, "keyturn: profile {}: {e}", o.profile);
            }
        }
    }
    let _ = stdout.flush();
    ExitCode::from(code)
}

/// `keyturn remove`: one credential, journaled; the plan only without --yes.
async fn remove(
    global: &keyturn::cli::GlobalArgs,
    args: keyturn::removal::cli::RemoveArgs,
) -> ExitCode {
    on_session(global, async |s, out, err| {
        keyturn::removal::cli::remove_command(s, &args, out, err).await
    })
    .await
}

/// `keyturn journal`: listing needs no sign-in; resume and rollback connect.
async fn journal(
    global: &keyturn::cli::GlobalArgs,
    args: keyturn::rotation::cli::JournalArgs,
) -> ExitCode {
    let overrides = global.overrides();
    let connect = || Settings::resolve(&overrides).and_then(Session::connect);
    let code = keyturn::rotation::cli::journal_command(
        &args,
        &connect,
        &mut TerminalWriter::new(std::io::stdout()),
        &mut TerminalWriter::new(std::io::stderr()),
    )
    .await;
    ExitCode::from(code)
}

/// `keyturn login`: prompt (or --from-env), verify with the tenant, store; warnings and the outcome on stderr.
async fn login(global: &keyturn::cli::GlobalArgs, args: keyturn::cli::LoginArgs) -> ExitCode {
    use keyturn::auth::login::{SecretInput, login};
    let input = if args.from_env {
        SecretInput::Environment
    } else {
        SecretInput::Prompt
    };
    let env = keyturn::auth::Env::from_process();
    match login(&global.overrides(), input, !args.no_verify, &env, None).await {
        Ok(done) => {
            for w in &done.warnings {
                eprintln!("keyturn: warning: {w}");
            }
            let checked = if done.verified {
                "checked with the tenant and "
            } else {
                ""
            };
            eprintln!(
                "keyturn: client secret for app {} in tenant {} {checked}stored in {}",
                done.key.client_id, done.key.tenant_id, done.stored_in
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `keyturn logout`: remove the stored secret wherever it is.
fn logout(global: &keyturn::cli::GlobalArgs) -> ExitCode {
    let env = keyturn::auth::Env::from_process();
    match keyturn::auth::login::logout(&global.overrides(), &env, None) {
        Ok(done) => {
            for w in &done.warnings {
                eprintln!("keyturn: warning: {w}");
            }
            if done.removed_from.is_empty() {
                eprintln!(
                    "keyturn: no stored client secret for app {} in tenant {}; nothing to remove",
                    done.key.client_id, done.key.tenant_id
                );
            }
            for place in &done.removed_from {
                eprintln!("keyturn: removed the client secret from {place}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `keyturn man`: the page on stdout, or the pages into --out-dir (their paths on stderr).
fn man(args: keyturn::cli::ManArgs) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match keyturn::cli::write_man(&mut out, args.out_dir.as_deref()) {
        Ok(files) => {
            for f in files {
                eprintln!("keyturn: wrote {}", f.display());
            }
            printed(out.flush())
        }
        Err(e) => printed(Err(e)),
    }
}

/// The exit of a command that only prints: a reader that stopped reading (`| head`) is not an error.
fn printed(result: std::io::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(format!("cannot write the output: {e}")),
    }
}

/// `keyturn doctor`: the report on stdout, exit 0 only when every check passed.
async fn doctor(global: &keyturn::cli::GlobalArgs) -> ExitCode {
    let report = keyturn::doctor::run(
        &global.overrides(),
        keyturn::doctor::DoctorOptions {
            office365_url: global.office365_url.clone(),
            ..Default::default()
        },
    )
    .await;
    let mut stdout = TerminalWriter::new(std::io::stdout().lock());
    let _ = stdout
        .write_all(report.render().as_bytes())
        .and_then(|_| stdout.flush());
    ExitCode::from(u8::try_from(report.exit_code()).unwrap_or(1))
}

/// Rotations that need a human or still have an old secret to remove, as notes on stderr. `check` only reports:
/// it never resumes a rotation (that would be a write from a monitoring command); `keyturn journal resume` does.
fn journal_news() {
    // No journal yet means no rotation ever ran here: do not create one just to read it.
    let Ok(path) = keyturn::store::Journal::default_path() else {
        return;
    };
    if !path.exists() {
        return;
    }
    let Ok(journal) = keyturn::store::Journal::open(&path) else {
        return;
    };
    if let Ok(news) = keyturn::rotation::startup_report(&journal) {
        for line in news.lines() {
            eprintln!("keyturn: note: {line}");
        }
    }
}

/// One clear line on stderr and exit code 3: what `check` promises monitoring.
fn fail(e: impl std::fmt::Display) -> ExitCode {
    let msg = e.to_string();
    let first = msg.lines().next().unwrap_or("unknown error");
    eprintln!("keyturn: {first}");
    tracing::error!(error = %msg, "command failed");
    ExitCode::from(exit::UNKNOWN)
}

async fn check(global: &keyturn::cli::GlobalArgs, args: CheckArgs) -> ExitCode {
    let selection = global.profile_selection();
    if selection.is_several() {
        return check_several(global, &selection, args).await;
    }
    let mut settings = match Settings::resolve(&global.overrides()) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if let Some(w) = args.warn_days {
        settings.thresholds.warn_days = w;
    }
    if let Some(c) = args.critical_days {
        settings.thresholds.critical_days = c;
    }
    let thresholds = settings.thresholds;
    let include_sps = settings.include_service_principals && !args.no_service_principals;
    let session = match Session::connect(settings) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let entries = match inventory::load::load_all(
        &session.graph,
        LoadOptions {
            service_principals: include_sps,
        },
    )
    .await
    {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    let now = session.clock.now();
    let mut rows = inventory::credential_rows(&entries, now, thresholds);
    let code = report::exit_code(&rows);
    // The Prometheus format always has every credential: a series must not come and go with its status.
    if !args.all && args.format != report::Format::Prometheus {
        rows.retain(|r| r.status != Status::Ok);
    }
    if let Some(path) = &args.output {
        let text = report::render(&rows, args.format, &session.tenant_id, now, thresholds);
        if let Err(e) = report::prometheus::write_atomically(path, text.as_bytes()) {
            eprintln!(
                "keyturn: could not write {}: {e}",
                keyturn::safe_text::terminal(&path.display().to_string())
            );
            return ExitCode::from(exit::UNKNOWN);
        }
        journal_news();
        return ExitCode::from(code);
    }
    // Streamed: each row is formatted and written in turn, the report never held whole in memory.
    let mut stdout =
        std::io::BufWriter::with_capacity(64 * 1024, TerminalWriter::new(std::io::stdout().lock()));
    if report::write(
        &mut stdout,
        &rows,
        args.format,
        &session.tenant_id,
        now,
        thresholds,
    )
    .and_then(|_| stdout.flush())
    .is_err()
    {
        return ExitCode::from(exit::UNKNOWN);
    }
    drop(stdout);
    journal_news();
    ExitCode::from(code)
}

/// Each profile's settings for a command over several tenants, after one note naming the overrides given that do
/// not apply (each profile uses its own settings and stored secret); a profile that cannot be resolved is exit 3.
fn several_settings(
    global: &keyturn::cli::GlobalArgs,
    selection: &keyturn::session::ProfileSelection,
) -> Result<Vec<Settings>, ExitCode> {
    use keyturn::session;
    let overrides = global.overrides();
    let all = session::resolve_profiles(&overrides, selection).map_err(fail)?;
    let ignored =
        session::ignored_with_several_profiles(&overrides, &keyturn::auth::Env::from_process());
    if !ignored.is_empty() {
        eprintln!(
            "keyturn: note: with several profiles each uses its own settings and stored secret; not applied: {}",
            ignored.join(", ")
        );
    }
    Ok(all)
}

/// `keyturn check` over several profiles: the tenants load concurrently (a few at a time); the report has every
/// tenant that loaded; one that did not is named on stderr and makes the exit code 3.
async fn check_several(
    global: &keyturn::cli::GlobalArgs,
    selection: &keyturn::session::ProfileSelection,
    args: CheckArgs,
) -> ExitCode {
    use keyturn::report::several::{self, TenantReport};
    use keyturn::session::{self, SignInOptions};
    let mut all_settings = match several_settings(global, selection) {
        Ok(s) => s,
        Err(code) => return code,
    };
    for s in &mut all_settings {
        if let Some(w) = args.warn_days {
            s.thresholds.warn_days = w;
        }
        if let Some(c) = args.critical_days {
            s.thresholds.critical_days = c;
        }
    }
    let no_sps = args.no_service_principals;
    let tenant_of: std::collections::HashMap<String, String> = all_settings
        .iter()
        .filter_map(|s| Some((s.profile_name.clone(), s.tenant_id.clone()?)))
        .collect();
    let outcomes = session::for_each_tenant(
        all_settings,
        SignInOptions::default(),
        async |s: Session| -> Result<_, color_eyre::Report> {
            let include_sps = s.settings.include_service_principals && !no_sps;
            let entries = inventory::load::load_all(
                &s.graph,
                LoadOptions {
                    service_principals: include_sps,
                },
            )
            .await?;
            Ok((
                s.settings.profile_name.clone(),
                s.tenant_id.clone(),
                s.thresholds,
                s.clock.now(),
                entries,
            ))
        },
    )
    .await;
    let mut failed: Vec<&str> = Vec::new();
    let mut any_failed = false;
    let mut loaded = Vec::new();
    for o in outcomes {
        match o.result {
            Ok(t) => loaded.push(t),
            Err(e) => {
                any_failed = true;
                failed.extend(tenant_of.get(&o.profile).map(String::as_str));
                let msg = e.to_string();
                eprintln!(
                    "keyturn: profile {}: {}",
                    o.profile,
                    msg.lines().next().unwrap_or("unknown error")
                );
                tracing::error!(profile = %o.profile, error = %msg, "check: a tenant did not load");
            }
        }
    }
    let mut tenants: Vec<TenantReport> = loaded
        .iter()
        .map(
            |(profile, tenant_id, thresholds, now, entries)| TenantReport {
                profile,
                tenant_id,
                generated_at: *now,
                thresholds: *thresholds,
                rows: inventory::credential_rows(entries, *now, *thresholds),
            },
        )
        .collect();
    let code = if any_failed {
        exit::UNKNOWN
    } else {
        several::exit_code(&tenants)
    };
    for t in &mut tenants {
        several::filter(&mut t.rows, args.all, args.format);
    }
    if let Some(path) = &args.output {
        let text = several::render(&tenants, &failed, args.format);
        if let Err(e) = report::prometheus::write_atomically(path, text.as_bytes()) {
            eprintln!(
                "keyturn: could not write {}: {e}",
                keyturn::safe_text::terminal(&path.display().to_string())
            );
            return ExitCode::from(exit::UNKNOWN);
        }
    } else {
        let mut stdout = std::io::BufWriter::with_capacity(
            64 * 1024,
            TerminalWriter::new(std::io::stdout().lock()),
        );
        if several::write(&mut stdout, &tenants, &failed, args.format)
            .and_then(|_| stdout.flush())
            .is_err()
        {
            return ExitCode::from(exit::UNKNOWN);
        }
    }
    journal_news();
    ExitCode::from(code)
}

/// The interactive view over several profiles: each profile signs in with its own settings and stored secret (no
/// device code: several prompts cannot share the screen); one that cannot even be set up stops the start, named.
async fn interactive_several(
    global: &keyturn::cli::GlobalArgs,
    selection: &keyturn::session::ProfileSelection,
    log_file: Option<std::path::PathBuf>,
) -> ExitCode {
    use keyturn::session::{self, SignInOptions};
    let all_settings = match several_settings(global, selection) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let options = session::sign_in_for_several(&SignInOptions {
        interactive: Some(false),
        ..Default::default()
    });
    let mut sessions = Vec::new();
    for settings in all_settings {
        let name = settings.profile_name.clone();
        match Session::connect_with(settings, options.clone()) {
            Ok(mut s) => {
                s.log_file = log_file.clone();
                sessions.push((name, s));
            }
            Err(e) => return fail(format!("profile {name}: {e}")),
        }
    }
    install_error_hooks();
    match keyturn::tui::run_several(sessions, log_file).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn emulator_config(t: &keyturn::cli::TenantArgs) -> EmulatorConfig {
    EmulatorConfig {
        tenant: match t.apps {
            Some(apps) => TenantSource::Generated { apps, seed: t.seed },
            None => TenantSource::Demo,
        },
        latency: Duration::from_millis(t.latency_ms),
        throttle_every: t.throttle_every,
        propagation_delay: Duration::from_secs(t.propagation_delay_secs),
        entra_id_p1: !t.no_entra_p1,
        password_lifetime_days: t.password_lifetime_days,
        ..EmulatorConfig::default()
    }
}

async fn emulator(args: EmulatorArgs) -> ExitCode {
    let mut cfg = emulator_config(&args.tenant);
    cfg.port = args.port;
    cfg.state_route = args.state;
    cfg.vaults = args.vaults.max(1);
    cfg.read_lag = Duration::from_millis(args.read_lag_ms);
    match keyturn::emulator::run_cli(cfg, args.faults).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// The TUI against the built-in emulated tenant, through the same code path as a real tenant.
async fn demo(args: DemoArgs, log_file: Option<std::path::PathBuf>) -> ExitCode {
    let cfg = emulator_config(&args.tenant);
    let emu = match Emulator::start(cfg).await {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    // Automations that read their vault secret and sign in, so last use moves while you watch.
    emu.start_automations(Duration::from_secs(15));
    let info = emu.info().clone();
    let overrides = keyturn::session::Overrides {
        tenant_id: Some(info.tenant_id.clone()),
        client_id: Some(info.client_id.clone()),
        client_secret: Some(SecretString::from(info.client_secret.clone())),
        authority_host: Some(info.authority_host.clone()),
        graph_url: Some(info.graph_url.clone()),
        ca_cert: Some(info.ca_cert.clone()),
        // The demo never reads the operator's real config: it is a self-contained tenant.
        config: Some(std::path::PathBuf::from("/nonexistent/keyturn-demo.toml")),
        ..Default::default()
    };
    let result = async {
        let mut settings = Settings::resolve(&overrides)?;
        settings.vaults = info.vault_urls.clone();
        let mut session = Session::connect(settings)?;
        session.log_file = log_file;
        // Each demo is a new emulated tenant: nothing to warm-start from, nothing worth keeping.
        session.inventory_cache = None;
        session.journal_path = keyturn::config::data_dir()
            .ok()
            .map(|d| d.join(keyturn::store::journal::DEMO_JOURNAL_FILE));
        install_error_hooks();
        keyturn::tui::run_demo(session).await
    }
    .await;
    emu.shutdown().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// color-eyre's panic and error reports, installed before the TUI's own hook (which restores the terminal first, then
/// hands over to this one). A second install (a test harness) is harmless: the first one stays.
fn install_error_hooks() {
    if let Err(e) = color_eyre::install() {
        tracing::debug!(error = %e, "color-eyre hooks already installed");
    }
}

async fn interactive(
    global: &keyturn::cli::GlobalArgs,
    log_file: Option<std::path::PathBuf>,
) -> ExitCode {
    let selection = global.profile_selection();
    if selection.is_several() {
        return interactive_several(global, &selection, log_file).await;
    }
    let result = async {
        let settings = Settings::resolve(&global.overrides())?;
        let unconfigured = settings.tenant_id.is_none() && settings.client_id.is_none();
        let config_path = settings.config_path.clone();
        // The TUI owns the terminal: a device code goes into its popup, never onto stderr under it. Someone is at
        // the keyboard, so a device code may be offered even when stderr is not a terminal.
        let (hook, prompt) = keyturn::auth::watch_prompt();
        let mut session = Session::connect_with(
            settings,
            keyturn::session::SignInOptions {
                prompt: Some(hook),
                interactive: Some(true),
                ..Default::default()
            },
        )
        .inspect_err(|_| {
            if unconfigured {
                // A first run with nothing configured: say where to start, then the reason.
                eprintln!(
                    "keyturn: no tenant is configured yet. Try keyturn on the built-in demo tenant with \
                     `keyturn demo`, or set tenant_id and client_id in {} (README: Configuration; then \
                     `keyturn doctor`).",
                    config_path.display()
                );
            }
        })?;
        session.log_file = log_file;
        install_error_hooks();
        keyturn::tui::run_with_sign_in(session, prompt).await?;
        Ok::<_, color_eyre::Report>(ExitCode::SUCCESS)
    }
    .await;
    result.unwrap_or_else(fail)
}

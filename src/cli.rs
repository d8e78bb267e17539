//! Command-line interface. docs/ARCHITECTURE.md section 2 is a contract: flags, environment variables, JSON fields and
//! exit codes are relied on by scripts and monitoring outside the project.
use crate::report::Format;
use crate::session::{Overrides, ProfileSelection};
use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "keyturn",
    version,
    about = "Find Entra ID client secrets and certificates that expire soon, and rotate them into Key Vault with approval",
    long_about = None,
    after_help = after_help(),
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

fn after_help() -> String {
    let log = crate::logging::default_log_path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(no state dir)".into());
    let config = crate::config::default_config_path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "(no config dir)".into());
    format!(
        "Without a command keyturn opens the interactive view of the configured tenant.\n\
         Try it without Azure: keyturn demo\n\n\
         Config file: {config}\nLog file:    {log}\n\
         The client secret comes from AZURE_CLIENT_SECRET, else the OS keyring (keyturn login)."
    )
}

/// Global options; each has its environment variable and the flag wins.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Directory (tenant) id.
    #[arg(
        long = "tenant",
        env = "AZURE_TENANT_ID",
        global = true,
        value_name = "ID"
    )]
    pub tenant: Option<String>,
    /// Application (client) id keyturn signs in as.
    #[arg(
        long = "client-id",
        env = "AZURE_CLIENT_ID",
        global = true,
        value_name = "ID"
    )]
    pub client_id: Option<String>,
    /// Entra sign-in endpoint [default: https://login.microsoftonline.com]
    #[arg(
        long = "authority-host",
        env = "AZURE_AUTHORITY_HOST",
        global = true,
        value_name = "URL"
    )]
    pub authority_host: Option<String>,
    /// Microsoft Graph endpoint [default: https://graph.microsoft.com]
    #[arg(
        long = "graph-url",
        env = "KEYTURN_GRAPH_URL",
        global = true,
        value_name = "URL"
    )]
    pub graph_url: Option<String>,
    /// Extra trusted root certificate (PEM), for the emulator or a TLS-inspecting proxy.
    #[arg(
        long = "ca-cert",
        env = "KEYTURN_CA_CERT",
        global = true,
        value_name = "FILE"
    )]
    pub ca_cert: Option<PathBuf>,
    /// Profile in the config file [default: default]; repeat it for several tenants at once (check, notify and the
    /// interactive view).
    #[arg(
        long = "profile",
        env = "KEYTURN_PROFILE",
        global = true,
        value_name = "NAME",
        action = clap::ArgAction::Append
    )]
    pub profile: Vec<String>,
    /// Every profile in the config file, sorted by name, at once (check, notify, the interactive view); its own
    /// settings and stored secret, never --tenant, --client-id, --authority-host, --graph-url or AZURE_CLIENT_SECRET.
    #[arg(long = "all-profiles", global = true)]
    pub all_profiles: bool,
    /// Config file [default: <config dir>/config.toml]
    #[arg(
        long = "config",
        env = "KEYTURN_CONFIG",
        global = true,
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Never write to the tenant or a vault.
    // The falsey parser makes `KEYTURN_READ_ONLY=1` (the documented form) work: the default bool parser only takes
    // "true"/"false". 0, false, no, off (or unset) leave it off; any other value turns it on.
    #[arg(
        long = "read-only",
        env = "KEYTURN_READ_ONLY",
        global = true,
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub read_only: bool,
    /// Office 365 Management Activity API endpoint, for the audit source office365 [default: https://manage.office.com]
    #[arg(
        long = "office365-url",
        env = "KEYTURN_OFFICE365_URL",
        global = true,
        value_name = "URL"
    )]
    pub office365_url: Option<String>,
}

impl GlobalArgs {
    /// The overrides for `Settings::resolve`; the secret comes from `AZURE_CLIENT_SECRET` only (never a flag, so it
    /// never shows in `ps` or shell history).
    pub fn overrides(&self) -> Overrides {
        Overrides {
            tenant_id: self.tenant.clone(),
            client_id: self.client_id.clone(),
            client_secret: std::env::var("AZURE_CLIENT_SECRET")
                .ok()
                .filter(|s| !s.is_empty())
                .map(SecretString::from),
            authority_host: self.authority_host.clone(),
            graph_url: self.graph_url.clone(),
            ca_cert: self.ca_cert.clone(),
            profile: self.profile.first().cloned(),
            config: self.config.clone(),
            read_only: self.read_only,
        }
    }
}

impl GlobalArgs {
    /// The profiles asked for. `KEYTURN_PROFILE` gives one profile like `--profile`; with `--all-profiles` a profile
    /// that came only from that variable is dropped (a shell that exports it can still ask for every profile),
    /// while `--profile` typed beside `--all-profiles` is refused when resolved.
    pub fn profile_selection(&self) -> ProfileSelection {
        self.profile_selection_with(std::env::var("KEYTURN_PROFILE").ok())
    }

    fn profile_selection_with(&self, env_profile: Option<String>) -> ProfileSelection {
        let mut names: Vec<String> = Vec::new();
        for n in &self.profile {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        if self.all_profiles
            && env_profile.is_some()
            && names.len() == 1
            && names.first() == env_profile.as_ref()
        {
            names.clear();
        }
        ProfileSelection {
            names,
            all: self.all_profiles,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The interactive view on a built-in emulated tenant (no Azure needed).
    Demo(DemoArgs),
    /// Report expiring credentials for cron, CI or on-call; exit 0 ok, 1 warning, 2 critical/expired, 3 error.
    Check(CheckArgs),
    /// Serve the emulated Entra token endpoint, Graph and Key Vault on 127.0.0.1 for other clients and tests.
    Emulator(EmulatorArgs),
    /// Rotate one client secret into Key Vault; prints the plan without --yes. Exit 0 only when it completed.
    Rotate(crate::rotation::cli::RotateArgs),
    /// One app: each credential's status, last sign-in and vault locations, owners, application permissions
    /// (privileged flagged), recent audit events and keyturn's rotations of it. Exit 0, or 3 when it could not
    /// complete.
    Show(ShowArgs),
    /// Credential changes (and owner / permission changes of apps) across the tenant over the last N days, newest
    /// first, with findings. Exit 0 no findings, 1 at least one finding, 3 could not complete.
    Audit(AuditArgs),
    /// Past rotations; resume or roll back an interrupted one.
    Journal(crate::rotation::cli::JournalArgs),
    /// An access review: walk the apps in scope, record a decision for each (keep, rotate, remove a credential,
    /// escalate) with the facts shown; quit and resume any time. `review export` writes the record.
    Review(crate::review::command::ReviewArgs),
    /// Tell Teams, Slack, a JSON webhook and the apps' owners (mail) about credentials at warning or worse that are
    /// new or worse since the last run, or due a reminder (for cron). Exit 0 sent (or nothing to send), 3 could not
    /// complete (sign-in, Graph, or a target failed: named on stderr; a failed target is retried at the next run).
    #[command(after_help = NOTIFY_HELP)]
    Notify(crate::notify::NotifyArgs),
    /// Remove old secrets whose kept period has ended, after checking nothing still needs them (for cron).
    /// Exit 0 nothing due or all removed, 1 something held, 3 could not complete.
    Cleanup(crate::rotation::cli::CleanupArgs),
    /// Remove one credential (a secret or a certificate), e.g. one flagged unused; prints the plan without --yes.
    /// Exit 0 removed, 3 not removed (nothing changed).
    Remove(crate::removal::cli::RemoveArgs),
    /// Store the profile's client secret in the OS keyring (a 0600 file where there is none); it is checked first.
    Login(LoginArgs),
    /// Remove the profile's stored client secret from the OS keyring and the file.
    Logout,
    /// Check config, sign-in, Graph and audit permissions, rotation rights and vaults; one line each, with the fix.
    /// Exit 0 only when all pass.
    Doctor,
    /// Print a shell completion script: `keyturn completions bash > ~/.local/share/bash-completion/completions/keyturn`.
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout, or write one page per command into a directory with --out-dir.
    Man(ManArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write keyturn.1 and keyturn-<command>.1 into DIR instead of printing keyturn.1.
    #[arg(long = "out-dir", value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// The man page's ENVIRONMENT section: each global option's variable (the flag wins), and the client secret's.
fn environment_section(cmd: &clap::Command) -> roff::Roff {
    use roff::{Roff, bold, roman};
    let mut page = Roff::new();
    page.control("SH", ["ENVIRONMENT"]);
    for arg in cmd.get_arguments() {
        let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) else {
            continue;
        };
        page.control("TP", [] as [&str; 0]);
        page.text([bold(env.to_string_lossy().into_owned())]);
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        page.text([roman(format!("As --{long}. {help}"))]);
    }
    page.control("TP", [] as [&str; 0]);
    page.text([bold("AZURE_CLIENT_SECRET")]);
    page.text([roman(
        "The client secret keyturn signs in with (never a flag); else the OS keyring (keyturn login).",
    )]);
    page
}

/// `keyturn completions SHELL`: the script for `shell`, generated from the same definition that parses the
/// arguments, so it never drifts from the flags. Generated into memory first: clap_complete panics when its writer
/// fails (e.g. `keyturn completions bash | head`), a write error here is returned instead.
pub fn write_completions(
    shell: clap_complete::Shell,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "keyturn", &mut script);
    out.write_all(&script)?;
    out.flush()
}

/// `keyturn man`: the roff man page of the top-level command (its subcommands listed), or with `dir` one page per
/// command (keyturn.1, keyturn-check.1, ...) written there; returns the files written.
pub fn write_man(
    out: &mut dyn std::io::Write,
    dir: Option<&std::path::Path>,
) -> std::io::Result<Vec<PathBuf>> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let Some(dir) = dir else {
        clap_mangen::Man::new(cmd.clone()).render(out)?;
        environment_section(&cmd).to_writer(out)?;
        return Ok(Vec::new());
    };
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(cmd, dir)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "1"))
        .collect();
    files.sort();
    Ok(files)
}

impl Command {
    /// The command's name as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Demo(_) => "demo",
            Command::Check(_) => "check",
            Command::Emulator(_) => "emulator",
            Command::Rotate(_) => "rotate",
            Command::Show(_) => "show",
            Command::Audit(_) => "audit",
            Command::Journal(_) => "journal",
            Command::Review(_) => "review",
            Command::Cleanup(_) => "cleanup",
            Command::Notify(_) => "notify",
            Command::Remove(_) => "remove",
            Command::Login(_) => "login",
            Command::Logout => "logout",
            Command::Doctor => "doctor",
            Command::Completions(_) => "completions",
            Command::Man(_) => "man",
        }
    }

    /// Whether the command works on several profiles at once (`--profile` repeated, `--all-profiles`). The others
    /// act on one tenant (a write, a sign-in, one app) and refuse several with exit 3; `completions` and `man` talk
    /// to no tenant and ignore them.
    pub fn takes_several_profiles(&self) -> bool {
        match self {
            Command::Check(_) | Command::Notify(_) | Command::Completions(_) | Command::Man(_) => {
                true
            }
            Command::Demo(_)
            | Command::Emulator(_)
            | Command::Rotate(_)
            | Command::Show(_)
            | Command::Audit(_)
            | Command::Journal(_)
            | Command::Review(_)
            | Command::Cleanup(_)
            | Command::Remove(_)
            | Command::Login(_)
            | Command::Logout
            | Command::Doctor => false,
        }
    }
}

const NOTIFY_HELP: &str = "Targets come from the profile: notify_targets = [\"teams\", \"slack\", \"webhook\", \"mail\"], \
notify_reminder_days (default 7), and for mail smtp_host, smtp_port, smtp_tls, smtp_username, mail_from, mail_fallback.
Secrets never go in the config file; each comes from its environment variable, else the OS keyring
(`keyturn notify --set-secret NAME` stores it, reading one line from standard input):
  KEYTURN_TEAMS_WEBHOOK_URL   Teams Workflows webhook (Adaptive Card)
  KEYTURN_SLACK_WEBHOOK_URL   Slack incoming webhook
  KEYTURN_WEBHOOK_URL         generic JSON webhook
  KEYTURN_SMTP_PASSWORD       password of smtp_username
Webhook URLs must be https (http only to 127.0.0.1/::1/localhost).
A credential is sent again only when its status gets worse (warning < critical < expired) or after the reminder
interval; a target that failed is not recorded and is tried again at the next run.
Exit codes: 0 sent (or nothing to send), 3 could not complete (sign-in, Graph, or a target failed: named on stderr).";

#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// The application: its appId, object id, or exact display name.
    #[arg(value_name = "APP")]
    pub app: String,
    #[arg(long, value_enum, default_value_t = crate::report::show::ShowFormat::Text)]
    pub format: crate::report::show::ShowFormat,
}

#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// How many days back [default: 7]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..=365))]
    pub days: Option<i64>,
    #[arg(long, value_enum, default_value_t = crate::report::audit::AuditFormat::Table)]
    pub format: crate::report::audit::AuditFormat,
    /// Where to read changes [default: the profile's audit_source, else graph]
    #[arg(long, value_enum)]
    pub source: Option<crate::audit::Source>,
}

#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// Take the secret from AZURE_CLIENT_SECRET instead of prompting (for scripts).
    #[arg(long = "from-env")]
    pub from_env: bool,
    /// Store the secret without first checking it with the tenant (e.g. offline).
    #[arg(long = "no-verify")]
    pub no_verify: bool,
}

/// The emulated tenant, for `demo` and `emulator`.
#[derive(Debug, Clone, Args)]
pub struct TenantArgs {
    /// Generate a tenant of N apps instead of the demo tenant.
    #[arg(long, value_name = "N")]
    pub apps: Option<usize>,
    /// Seed for the generated tenant.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Latency added to every emulated request.
    #[arg(long = "latency-ms", default_value_t = 0)]
    pub latency_ms: u64,
    /// Answer every K-th request with 429 + Retry-After (to see throttling handled).
    #[arg(long = "throttle-every", value_name = "K")]
    pub throttle_every: Option<u32>,
    /// Seconds a secret added through addPassword is refused by the token endpoint, as Entra does while a new
    /// secret propagates (0 = accepted at once).
    #[arg(long = "propagation-delay-secs", value_name = "N", default_value_t = 5)]
    pub propagation_delay_secs: u64,
    /// Emulate a tenant without Entra ID P1/P2: the beta sign-in activity reports answer 403.
    #[arg(long = "no-entra-p1")]
    pub no_entra_p1: bool,
    /// Turn on a tenant app management policy that caps new client secrets at DAYS days (addPassword asking for
    /// more is refused, as Entra does).
    #[arg(long = "password-lifetime-days", value_name = "DAYS")]
    pub password_lifetime_days: Option<i64>,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Days before expiry that count as warning.
    #[arg(long = "warn-days", value_name = "DAYS", value_parser = threshold_days)]
    pub warn_days: Option<i64>,
    /// Days before expiry that count as critical.
    #[arg(long = "critical-days", value_name = "DAYS", value_parser = threshold_days)]
    pub critical_days: Option<i64>,
    /// List every credential, not only those at warning or worse.
    #[arg(long)]
    pub all: bool,
    /// `prometheus`: the node_exporter textfile format, always every credential (as with --all).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the report to FILE atomically (a temporary file in the same directory, then renamed), e.g. for
    /// node_exporter's textfile collector, instead of to stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// Leave out service principals' own credentials.
    #[arg(long = "no-service-principals")]
    pub no_service_principals: bool,
}

#[derive(Debug, Clone, Args)]
pub struct EmulatorArgs {
    /// Port for the token endpoint and Graph (0 = any free port); each vault gets its own port.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Serve GET {graphUrl}/_emulator/state with the full tenant and vault state (secret values included).
    #[arg(long)]
    pub state: bool,
    /// Number of vaults.
    #[arg(long, default_value_t = 1)]
    pub vaults: usize,
    /// Inject a fault, e.g. `AddPassword=500x1`, `VaultSet=apply-then-delay:30s`, `ListApplications=malformed`,
    /// `AddPassword=apply-then-drop` (the change is made, the connection drops without an answer).
    #[arg(long = "fault", value_name = "OP=KIND")]
    pub faults: Vec<crate::emulator::Fault>,
    /// Milliseconds after addPassword during which a GET or list of the application does not show the new secret
    /// yet (read replication lag; 0 = off).
    #[arg(long = "read-lag-ms", value_name = "MS", default_value_t = 0)]
    pub read_lag_ms: u64,
}

/// `--warn-days`/`--critical-days`: 0 to 100 years; a larger window reaches past any date there is.
pub(crate) fn threshold_days(s: &str) -> Result<i64, String> {
    let max = crate::inventory::MAX_THRESHOLD_DAYS;
    let v: i64 = s
        .trim()
        .parse()
        .map_err(|_| "not a whole number of days".to_string())?;
    if (0..=max).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} days: must be 0 to {max}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Command {
        let mut all = vec!["keyturn"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all)
            .expect("the arguments parse")
            .command
            .expect("a subcommand")
    }

    #[test]
    fn profile_is_repeatable_and_all_profiles_is_global() {
        let cli = Cli::try_parse_from([
            "keyturn",
            "check",
            "--profile",
            "b",
            "--profile",
            "a",
            "--profile",
            "b",
        ])
        .unwrap();
        let sel = cli.global.profile_selection_with(None);
        assert_eq!(sel.names, ["b", "a"], "given order, duplicates dropped");
        assert!(sel.is_several() && !sel.all);
        assert_eq!(cli.global.overrides().profile.as_deref(), Some("b"));
        let cli = Cli::try_parse_from(["keyturn", "check", "--all-profiles"]).unwrap();
        assert!(cli.global.profile_selection_with(None).all);
        // A profile that only came from KEYTURN_PROFILE gives way to --all-profiles; a typed one stays (and is
        // refused when resolved).
        let cli =
            Cli::try_parse_from(["keyturn", "--all-profiles", "--profile", "env-one"]).unwrap();
        assert!(
            cli.global
                .profile_selection_with(Some("env-one".into()))
                .names
                .is_empty()
        );
        assert_eq!(
            cli.global
                .profile_selection_with(Some("other".into()))
                .names,
            ["env-one"]
        );
        let Some(cmd) = Cli::try_parse_from(["keyturn", "doctor"]).unwrap().command else {
            panic!("doctor")
        };
        assert!(!cmd.takes_several_profiles());
        assert_eq!(cmd.name(), "doctor");
        assert!(parse(&["check"]).takes_several_profiles());
    }

    #[test]
    fn emulator_and_demo_take_the_propagation_and_read_lag_knobs() {
        let Command::Emulator(e) = parse(&["emulator"]) else {
            panic!("emulator")
        };
        assert_eq!(
            (e.tenant.propagation_delay_secs, e.read_lag_ms),
            (5, 0),
            "a realistic propagation delay by default, no read lag"
        );
        let Command::Emulator(e) = parse(&[
            "emulator",
            "--propagation-delay-secs",
            "0",
            "--read-lag-ms",
            "250",
            "--fault",
            "RemovePassword=apply-then-drop",
        ]) else {
            panic!("emulator")
        };
        assert_eq!((e.tenant.propagation_delay_secs, e.read_lag_ms), (0, 250));
        assert_eq!(e.faults[0].to_string(), "RemovePassword=apply-then-dropx1");
        let Command::Demo(d) = parse(&["demo", "--propagation-delay-secs", "12"]) else {
            panic!("demo")
        };
        assert_eq!(d.tenant.propagation_delay_secs, 12);
        assert!(!d.tenant.no_entra_p1);
        assert_eq!(d.tenant.password_lifetime_days, None);
        let Command::Demo(d) = parse(&["demo", "--no-entra-p1", "--password-lifetime-days", "180"])
        else {
            panic!("demo")
        };
        assert!(d.tenant.no_entra_p1);
        assert_eq!(d.tenant.password_lifetime_days, Some(180));
    }
}

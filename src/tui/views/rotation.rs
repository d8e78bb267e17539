//! The rotation flow's screens: plan (what will happen, approved by typing the app's name), progress (each step
//! and its state) and result (what changed, or what went wrong and what to do). They take the body of the screen;
//! header, status line and key hints stay. No secret value ever reaches these functions.
use super::super::app::{
    App, FlowStage, PlanField, PlanForm, ResultView, RotationFlow, RunView, StepState, TargetCheck,
};
use super::super::effects::short_location;
use super::super::format::{date, days};
use crate::inventory::Status;
use crate::rotation::{OldCredentialStatus, OldDisposition, RotationReport, Step};
use crate::safe_text::{Safe, terminal};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

/// Width of the label column on the plan and result screens.
const LABEL: usize = 13;

pub fn render(app: &App, flow: &RotationFlow, frame: &mut Frame, area: Rect) {
    match &flow.stage {
        FlowStage::Planning => {
            let lines = vec![
                Line::from(format!(
                    " Building the rotation plan: reading {} and its vault secret…",
                    flow.app_name
                )),
                Line::from(""),
                Line::styled(
                    " Nothing is changed until you approve the plan. Esc goes back.",
                    app.theme().dim(),
                ),
            ];
            simple(
                app,
                &title(flow, "Rotate a client secret"),
                lines,
                frame,
                area,
            );
        }
        FlowStage::PlanFailed(e) => {
            let t = app.theme();
            let lines = vec![
                Line::styled(" ✖ No plan could be made: nothing was changed.", t.danger()),
                Line::from(""),
                Line::from(format!(" {e}")),
                Line::from(""),
                Line::from(" Fix the cause, then press r on the secret again. Esc goes back."),
            ];
            simple(
                app,
                &title(flow, "Rotate a client secret"),
                lines,
                frame,
                area,
            );
        }
        FlowStage::Plan(form) => plan(app, flow, form, frame, area),
        FlowStage::Running(run) => {
            let t = app.theme();
            let mut lines = run_header(run);
            lines.push(Line::from(""));
            lines.extend(step_lines(app, run, area.width));
            for n in &run.notes {
                lines.push(Line::styled(format!(" · {n}"), t.dim()));
            }
            if let Some(waited) = run.waiting {
                lines.push(Line::styled(
                    format!(" ⧗ {}", crate::rotation::cli::waiting_text(waited)),
                    t.warning(),
                ));
            }
            lines.push(Line::from(""));
            lines.push(Line::styled(
                " The rotation runs to an end state by itself; every step is journaled.",
                t.dim(),
            ));
            let head = match run.rotation_id {
                Some(id) => format!("Rotating · rotation {id}"),
                None => "Rotating".to_string(),
            };
            simple(app, &title(flow, &head), lines, frame, area);
        }
        FlowStage::Result(r) => result(app, flow, r, frame, area),
    }
}

fn title(flow: &RotationFlow, what: &str) -> String {
    format!(" {what} · {} ", Safe(&flow.app_name))
}

fn block<'a>(app: &App, title: &str) -> Block<'a> {
    let t = app.theme();
    Block::new()
        .borders(Borders::TOP)
        .border_style(t.focused_border())
        .title(Span::styled(title.to_string(), t.title()))
}

fn simple(app: &App, title: &str, lines: Vec<Line<'static>>, frame: &mut Frame, area: Rect) {
    frame.render_widget(
        Paragraph::new(lines)
            .block(block(app, title))
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn label(text: &str) -> Span<'static> {
    Span::raw(format!(" {text:<LABEL$}"))
}

fn row(name: &str, value: impl Into<String>) -> Line<'static> {
    Line::from(vec![label(name), Span::raw(value.into())])
}

/// A text field: `> text█` with the cursor only where focus is.
fn field(app: &App, name: &str, text: &str, focused: bool) -> Vec<Span<'static>> {
    let t = app.theme();
    let mut spans = vec![
        Span::styled(
            format!(" {name:<LABEL$}"),
            if focused { t.key() } else { Style::new() },
        ),
        Span::styled("> ", if focused { t.key() } else { t.dim() }),
        Span::raw(text.to_string()),
    ];
    if focused {
        spans.push(Span::styled("█", t.key()));
    }
    spans
}

/// `vault/name` from a vault URL and secret name (`kv-payroll/payroll-sync`).
fn location(target: &crate::keyvault::SecretTarget) -> String {
    short_location(&target.vault_url, &target.name)
}

/// The same facts as the detail view: the old secret's last use (and "unused": remove rather than rotate) and what
/// the app may do. Nothing while they load.
fn impact_lines(
    app: &App,
    p: &crate::rotation::RotationPlan,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Line<'static>> {
    let t = app.theme();
    let Some(f) = app.impact.get(&p.app.object_id) else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    let start = app
        .inventory
        .get(&p.app.object_id)
        .and_then(|r| {
            r.entry
                .credentials
                .iter()
                .find(|c| c.key_id == p.old.key_id)
        })
        .and_then(|c| c.start);
    let last = match f.last_sign_in_of(&p.old.key_id) {
        Some(at) => format!("signed in {}", super::super::format::ago(at, now)),
        None if f.last_use_known() => "never signed in (sign-in report)".to_string(),
        None => crate::graph::LAST_USE_UNKNOWN.to_string(),
    };
    lines.push(row("Last use", last));
    if f.is_unused(&p.old.key_id, start, now) {
        lines.push(Line::styled(
            format!(
                " ⚠ no sign-in for {} days: nothing seems to use this secret; consider removing it instead (Esc, D)",
                f.unused_days
            ),
            t.warning(),
        ));
    }
    let privileged = f.privileged_names();
    if !privileged.is_empty() {
        lines.push(Line::from(vec![
            label("Permissions"),
            Span::styled(format!("⚑ privileged: {privileged}"), t.danger()),
        ]));
    } else if f.permissions_unknown.is_none() && f.has_service_principal == Some(true) {
        lines.push(row(
            "Permissions",
            format!(
                "{} application permissions, none privileged",
                f.permissions.len()
            ),
        ));
    }
    lines
}

fn plan(app: &App, flow: &RotationFlow, form: &PlanForm, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let now = app.now();
    let p = &form.plan;
    let mut lines: Vec<Line<'static>> = vec![
        row(
            "App",
            format!("{} · appId {}", Safe(&p.app.display_name), p.app.app_id),
        ),
        row("", format!("object {}", p.app.object_id)),
    ];
    let old_name = Safe(p.old.display_name.as_deref().unwrap_or("(no name)"));
    let old_end = match (p.old.end, p.old.days_left) {
        (Some(end), d) => format!("ends {} ({})", date(end), days(d)),
        (None, _) => "never ends".to_string(),
    };
    lines.push(row(
        "Old secret",
        format!("{old_name} · keyId {} · {old_end}", p.old.key_id.short()),
    ));
    lines.extend(impact_lines(app, p, now));
    lines.push(row(
        "New secret",
        format!(
            "\"{}\" · ends {} ({} days, {})",
            p.new_display_name,
            date(p.new_end),
            p.lifetime_days,
            if p.lifetime_cap.is_some() {
                "capped by tenant policy"
            } else {
                "profile"
            }
        ),
    ));
    if form.ask_target {
        lines.push(Line::from(field(
            app,
            "Vault URL",
            &form.vault_url,
            form.focus == PlanField::VaultUrl,
        )));
        lines.push(Line::from(field(
            app,
            "Secret name",
            &form.secret_name,
            form.focus == PlanField::SecretName,
        )));
        let status = match (&form.target_check, &p.target) {
            (TargetCheck::Checking, _) => Span::styled("checking the vault secret…", t.dim()),
            (TargetCheck::Failed(e), _) => Span::styled(format!("✖ {e}"), t.danger()),
            // The location is what is typed right above: say what the vault answered.
            (_, Some(target)) => Span::raw(match &target.current {
                Some(v) => format!("✔ now version {}", v.version),
                None => "✔ does not exist yet: it will be created".to_string(),
            }),
            _ => Span::styled(
                "no mapping for this secret: type where it is kept, Enter checks it",
                t.warning(),
            ),
        };
        lines.push(Line::from(vec![label(""), status]));
    } else if let Some(target) = &p.target {
        let version = match &target.current {
            Some(v) => format!("now version {}", v.version),
            None => "does not exist yet: it will be created".to_string(),
        };
        lines.push(row("Vault secret", location(&target.target)));
        lines.push(row("", version));
        lines.push(row("", format!("found in: {}", target.source)));
    }
    let mut keep = field(
        app,
        "Keep old",
        &form.keep,
        form.focus == PlanField::KeepUntil,
    );
    keep.push(Span::raw(" → "));
    keep.push(match form.disposition(now) {
        Ok(OldDisposition::RemoveWhenProven) => Span::styled(
            "remove once proven (or type days, YYYY-MM-DD, end)",
            t.dim(),
        ),
        // The engine never keeps it past its own end: say the date that will happen.
        Ok(OldDisposition::KeepUntil(d)) => Span::raw(match p.old.end {
            Some(end) if end <= d => format!("keep it until its own end, {}", date(end)),
            _ => format!("keep it until {}", date(d)),
        }),
        Err(e) => Span::styled(format!("✖ {e}"), t.danger()),
    });
    lines.push(Line::from(keep));
    lines.push(row(
        "Approver",
        format!("{}, by typing the app's name below", p.approver),
    ));
    for w in &p.warnings {
        lines.push(Line::styled(format!(" ⚠ {w}"), t.warning()));
    }

    let b = block(app, &title(flow, "Rotate a client secret"));
    let inner = b.inner(area);
    frame.render_widget(b, area);
    // The approval right under the plan it approves, not at the bottom of a tall terminal.
    let width = inner.width.max(1) as usize;
    let info_height: usize = lines.iter().map(|l| l.width().div_ceil(width).max(1)).sum();
    let [info, _, prompt, input, message, buttons, _] = Layout::vertical([
        Constraint::Max(info_height as u16),
        Constraint::Max(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), info);

    let name_focused = form.focus == PlanField::Name;
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::raw(" Type "),
            Span::styled(terminal(&p.app.display_name).into_owned(), t.title()),
            Span::raw(" to approve (add, store, verify, prove, then the old secret):"),
        ])),
        prompt,
    );
    let mut typed = vec![
        Span::styled(" > ", if name_focused { t.key() } else { t.dim() }),
        Span::raw(terminal(&form.name).into_owned()),
    ];
    if name_focused || matches!(form.focus, PlanField::Cancel | PlanField::Confirm) {
        typed.push(Span::styled("█", t.key()));
    }
    if form.accepted() {
        typed.push(Span::raw(" ✔"));
    }
    frame.render_widget(Paragraph::new(Line::from(typed)), input);
    if let Some(m) = &form.message {
        frame.render_widget(
            Paragraph::new(Line::styled(format!(" {m}"), t.warning())),
            message,
        );
    }
    let button = |label: &str, focused: bool, enabled: bool| {
        let mut style = Style::new();
        if !enabled {
            style = t.dim();
        }
        if focused {
            style = style.patch(t.selected());
        }
        Span::styled(format!("[ {label} ]"), style)
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            button("Cancel", form.focus == PlanField::Cancel, true),
            Span::raw("   "),
            button(
                "Confirm",
                form.focus == PlanField::Confirm,
                form.can_confirm(now),
            ),
        ]))
        .alignment(Alignment::Center),
        buttons,
    );
}

fn run_header(run: &RunView) -> Vec<Line<'static>> {
    let old = match run.disposition {
        OldDisposition::RemoveWhenProven => "removed once the new one is proven".to_string(),
        OldDisposition::KeepUntil(d) => format!("kept until {}", date(d)),
    };
    vec![row("New value", run.target.clone()), row("Old secret", old)]
}

/// Short names of the steps, as the operator thinks of them.
fn step_name(step: Step) -> &'static str {
    match step {
        Step::Preflight => "check",
        Step::AddSecret => "add",
        Step::StoreInVault => "store",
        Step::ReadBack => "verify",
        Step::Prove => "sign in",
        Step::RemoveOld => "remove old",
        Step::RestorePrevious => "restore",
        Step::RemoveNew => "remove new",
        Step::Inspect => "inspect",
    }
}

/// One line per step (the label shortened to fit `width`), and the error under a failed one.
fn step_lines(app: &App, run: &RunView, width: u16) -> Vec<Line<'static>> {
    let t = app.theme();
    let now = app.now();
    let room = (width as usize).saturating_sub(2 + 11 + 18);
    let mut out = Vec::new();
    for l in &run.steps {
        let (state, style, error) = match &l.state {
            StepState::Pending => ("· pending".to_string(), t.dim(), None),
            StepState::Running => ("▸ running".to_string(), t.key(), None),
            StepState::Done => ("✔ done".to_string(), Style::new(), None),
            StepState::Failed(e) => ("✖ failed".to_string(), t.danger(), Some(e.clone())),
            StepState::Retrying { until, error } => {
                let secs = ((*until - now).num_milliseconds().max(0) + 999) / 1000;
                (
                    format!("↻ retrying in {secs} s"),
                    t.warning(),
                    Some(error.clone()),
                )
            }
            StepState::Skipped(why) if why.is_empty() => ("– skipped".to_string(), t.dim(), None),
            StepState::Skipped(why) => (format!("– {why}"), t.dim(), None),
        };
        out.push(Line::from(vec![
            Span::raw(format!("  {:<11}", step_name(l.step))),
            Span::styled(format!("{state:<18}"), style),
            Span::styled(truncate(l.step.label(), room), t.dim()),
        ]));
        if let Some(e) = error {
            out.push(Line::styled(format!("             {e}"), style));
        }
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// `https://vault/secrets/name/version` -> (`vault/name`, `version`).
fn secret_version(id: &str) -> (String, Option<String>) {
    let Some((vault, rest)) = id.split_once("/secrets/") else {
        return (id.to_string(), None);
    };
    match rest.split_once('/') {
        Some((name, version)) => (short_location(vault, name), Some(version.to_string())),
        None => (short_location(vault, rest), None),
    }
}

fn old_outcome(r: &RotationReport) -> String {
    // What to do about it is in the report's message, right below.
    match (&r.old_credential.status, r.old_credential.remove_after) {
        (OldCredentialStatus::Removed, _) => "removed from the app".into(),
        (OldCredentialStatus::PendingRemoval, Some(d)) => {
            format!("pending removal after {} (keyturn cleanup)", date(d))
        }
        (OldCredentialStatus::PendingRemoval, None) => "pending removal".into(),
        (OldCredentialStatus::Kept, _) => "kept, still working".into(),
    }
}

fn result(app: &App, flow: &RotationFlow, r: &ResultView, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let mut lines: Vec<Line<'static>> = Vec::new();
    let head = match &r.outcome {
        Ok(report) => {
            let (symbol, style, what) = match report.state.as_str() {
                "Done" => (
                    "✔",
                    Style::new(),
                    "the new secret is on the app, in the vault and verified",
                ),
                // Kept by choice: completed as planned.
                _ if report.completed => (
                    "✔",
                    Style::new(),
                    "the new secret is in the vault and verified; the old one is kept",
                ),
                "OldRemovalPending" => (
                    "⚠",
                    t.warning(),
                    "the new secret is in the vault and verified; the old one is still on the app",
                ),
                "RolledBack" => (
                    "✖",
                    t.danger(),
                    "undone; the old secret and the vault are as they were",
                ),
                "Failed" => ("✖", t.danger(), "nothing was changed"),
                "NeedsAttention" => ("⚠", t.danger(), "a human must look; both secrets are kept"),
                _ => ("⚠", t.warning(), "not finished"),
            };
            let state = if report.completed {
                "Done"
            } else {
                &report.state
            };
            lines.push(Line::styled(format!(" {symbol} {state}: {what}"), style));
            lines.push(Line::from(""));
            if let Some(k) = &report.new_key_id {
                lines.push(row("New keyId", k.to_string()));
            }
            if let Some(end) = report.new_end_date_time {
                lines.push(row("New end date", date(end)));
            }
            if let Some(id) = &report.vault_secret_id {
                let (location, version) = secret_version(id);
                lines.push(row("Vault secret", location));
                if let Some(v) = version {
                    lines.push(row("", format!("version {v}")));
                }
            }
            lines.push(row(
                "Old keyId",
                format!("{} · {}", report.old_key_id, old_outcome(report)),
            ));
            if let Some(m) = &report.message {
                lines.push(Line::from(""));
                let style = if report.completed {
                    Style::new()
                } else {
                    t.danger()
                };
                lines.push(Line::styled(format!(" {m}"), style));
            }
            // What to do next before the steps: on a small terminal the steps are what gets cut off.
            lines.push(Line::from(""));
            lines.push(Line::styled(
                format!(
                    " `keyturn journal show {}` has the step-by-step history. Esc: back to the app.",
                    report.rotation_id
                ),
                t.dim(),
            ));
            lines.push(Line::from(""));
            lines.extend(step_lines(app, &r.run, area.width));
            format!("Rotation {} · {state}", report.rotation_id)
        }
        Err(e) => {
            lines.push(Line::styled(
                " ✖ The rotation did not start: nothing was changed.",
                t.danger(),
            ));
            lines.push(Line::from(""));
            lines.push(Line::from(format!(" {e}")));
            lines.push(Line::from(""));
            lines.push(Line::styled(
                " Fix the cause, then press r on the secret again. Esc: back to the app.",
                t.dim(),
            ));
            "Rotation not started".to_string()
        }
    };
    simple(app, &title(flow, &head), lines, frame, area);
}

/// The status line while the flow is open: what the rotation is doing, in words.
pub fn status(app: &App) -> Option<(String, Option<Status>)> {
    let flow = app.flow.as_ref()?;
    let now = app.now();
    let name = &flow.app_name;
    Some(match &flow.stage {
        FlowStage::Planning => (format!("rotation of {name}: building the plan…"), None),
        FlowStage::PlanFailed(_) => (
            format!("rotation of {name}: no plan, nothing changed"),
            Some(Status::Expired),
        ),
        FlowStage::Plan(form) => match &form.target_check {
            TargetCheck::Checking => (
                format!("rotation of {name}: checking the vault secret…"),
                None,
            ),
            _ => (
                format!("rotation of {name}: read the plan; nothing changes until you confirm"),
                None,
            ),
        },
        FlowStage::Running(run) => {
            let retrying = run.steps.iter().find_map(|l| match &l.state {
                StepState::Retrying { until, .. } => Some((l.step, *until)),
                _ => None,
            });
            if let Some((step, until)) = retrying {
                let secs = ((until - now).num_milliseconds().max(0) + 999) / 1000;
                (
                    format!(
                        "rotating {name}: {} failed, retrying in {secs} s",
                        step_name(step)
                    ),
                    Some(Status::Warning),
                )
            } else {
                let running = run
                    .steps
                    .iter()
                    .rev()
                    .find(|l| l.state == StepState::Running)
                    .map(|l| l.step.label())
                    .unwrap_or("working");
                (format!("rotating {name}: {running}…"), None)
            }
        }
        FlowStage::Result(r) => match &r.outcome {
            Ok(report) if report.completed => (
                format!(
                    "rotation {} of {name}: Done{}",
                    report.rotation_id,
                    if report.state == "Done" {
                        ""
                    } else {
                        " (old secret kept)"
                    }
                ),
                None,
            ),
            Ok(report) => (
                format!(
                    "rotation {} of {name}: {} – read the result",
                    report.rotation_id, report.state
                ),
                Some(Status::Expired),
            ),
            Err(_) => (
                format!("rotation of {name}: not started"),
                Some(Status::Expired),
            ),
        },
    })
}

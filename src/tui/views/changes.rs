//! The Changes view: one line per change (newest first, findings marked ⚑), and under it what the selected change
//! was: who (with IP), the result, the impact (privilege, keyturn or not, the credential's state) and each finding's
//! reason. Tenant text goes through `safe_text`.
use super::super::app::{App, ChangesView, Loadable};
use crate::audit::{AuditReport, AuditRow};
use crate::safe_text::terminal;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

fn inert(s: &str) -> String {
    terminal(s).into_owned()
}

/// What a row was done to.
fn target(r: &AuditRow) -> String {
    inert(
        r.target_display_name
            .as_deref()
            .or(r.target_object_id.as_deref())
            .unwrap_or("(unknown object)"),
    )
}

/// " Changes ", and with several tenants whose changes they are.
fn heading(app: &App) -> Line<'static> {
    let mut spans = vec![Span::styled(" Changes ", app.theme().title())];
    if let Some(tenant) = app.changes_for {
        spans.push(Span::raw(format!(
            "· tenant {} ",
            crate::safe_text::terminal(app.tenant_label(tenant))
        )));
    }
    Line::from(spans)
}

pub fn render(app: &App, view: &ChangesView, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let report = match &app.changes {
        Some(Loadable::Loaded(r)) => r,
        Some(Loadable::Failed(e)) => {
            let block = Block::new()
                .borders(Borders::TOP)
                .border_style(t.border())
                .title(heading(app));
            let text = vec![
                Line::styled(
                    format!(" ✖ Could not read the audit log ({}).", e.short),
                    t.danger(),
                ),
                Line::raw(format!(" {}", inert(&e.message))),
                Line::raw(" Ctrl-r tries again; keyturn doctor checks the audit permission."),
            ];
            frame.render_widget(
                Paragraph::new(text).block(block).wrap(Wrap { trim: false }),
                area,
            );
            return;
        }
        _ => {
            let block = Block::new()
                .borders(Borders::TOP)
                .border_style(t.border())
                .title(heading(app));
            frame.render_widget(
                Paragraph::new(format!(
                    " reading the audit log of the last {} days…",
                    crate::audit::DEFAULT_DAYS
                ))
                .block(block),
                area,
            );
            return;
        }
    };
    let detail_height = 7.min(area.height / 2);
    let [list_area, detail_area] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(detail_height)]).areas(area);
    list(app, report, view, frame, list_area);
    if let Some(r) = report.rows.get(view.selected) {
        detail(app, r, view, frame, detail_area);
    }
}

fn list(app: &App, report: &AuditReport, view: &ChangesView, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let mut title = heading(app);
    title.spans.extend(vec![
        Span::raw(format!(
            "· last {} days · source {} · {} change{} · ",
            report.covered_days,
            report.source.as_str(),
            report.rows.len(),
            if report.rows.len() == 1 { "" } else { "s" }
        )),
        Span::styled(
            format!("{} with findings ", report.finding_count()),
            if report.finding_count() > 0 {
                t.danger()
            } else {
                t.dim()
            },
        ),
    ]);
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(t.border())
        .title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if report.rows.is_empty() {
        let mut lines = vec![Line::raw(format!(" {}", report.empty_text()))];
        for n in &report.notes {
            lines.push(Line::styled(format!(" note: {}", inert(n)), t.dim()));
        }
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
        return;
    }
    let height = inner.height.max(1) as usize;
    let offset = view.selected.saturating_sub(height.saturating_sub(1));
    let lines: Vec<Line> = report
        .rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, r)| {
            let mark = if i == view.selected { "▶ " } else { "  " };
            let flag = if r.findings.is_empty() { "  " } else { "⚑ " };
            let text = format!(
                "{mark}{flag}{}  {}  on {}  by {}",
                r.activity_date_time.format("%m-%d %H:%M"),
                inert(&r.what()),
                target(r),
                inert(&r.initiated_by.label())
            );
            let style = if i == view.selected {
                t.selected()
            } else if !r.findings.is_empty() {
                t.danger()
            } else {
                ratatui::style::Style::default()
            };
            Line::styled(text, style)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn detail(app: &App, r: &AuditRow, view: &ChangesView, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(t.border())
        .title(Span::styled(format!(" {} ", target(r)), t.title()));
    let mut who = format!(" by {}", inert(&r.initiated_by.label()));
    if let Some(ip) = &r.initiated_by.ip_address {
        who.push_str(&format!(" from {}", inert(ip)));
    }
    who.push_str(&format!(
        " · {} · {}",
        r.activity_date_time.format("%Y-%m-%d %H:%M UTC"),
        r.result.as_deref().map(inert).unwrap_or_default()
    ));
    let mut impact = vec![match &r.privileged {
        Some(p) if !p.is_empty() => format!("⚑ privileged ({})", inert(&p.join(", "))),
        Some(_) => "no privileged permissions".to_string(),
        None => "privilege unknown".to_string(),
    }];
    impact.push(if r.by_keyturn {
        "made by keyturn".into()
    } else {
        "not by keyturn".into()
    });
    let state = r.credential_state.label();
    if !state.is_empty() {
        impact.push(state);
    }
    let mut lines = vec![
        Line::raw(who),
        Line::raw(format!(" {}", impact.join(" · "))),
    ];
    for f in &r.findings {
        lines.push(Line::styled(format!(" FINDING: {}", inert(f)), t.danger()));
    }
    if let Some(n) = &view.note {
        lines.push(Line::styled(format!(" {n}"), t.warning()));
    } else if r
        .target_object_id
        .as_deref()
        .is_some_and(|id| app.in_inventory(id))
    {
        lines.push(Line::styled(" Enter opens this app", t.dim()));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

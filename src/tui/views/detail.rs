//! One app: its credentials, owners and recent audit events. Owners and audit events load in the background; each
//! pane says whether it is loading, failed (with what to do), or empty.
use super::super::app::{App, Detail, Loadable, Pane};
use super::super::format::{ago, date, date_opt, datetime, days, plural};
use super::super::theme::Theme;
use crate::graph::audit::{credential_changes, is_credential_activity, normalize_activity};
use crate::graph::{KeyId, ObjectId, ObjectType};
use crate::inventory::{Covered, CredentialType, classify, days_left};
use crate::safe_text::{Safe, terminal};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, HighlightSpacing, Paragraph, Row, Table, TableState, Wrap,
};

const WIDE: u16 = 100;
const MAX_CREDENTIAL_ROWS: usize = 8;
const MAX_OWNER_LINES: usize = 4;
/// Audit lines are indented under the timestamp column.
const INDENT: &str = "                   ";

/// Where each pane is drawn, shared with `update` for mouse clicks.
#[derive(Debug, Default, Clone, Copy)]
pub struct Panes {
    pub summary: Rect,
    pub credentials: Rect,
    pub credentials_body: Rect,
    pub credentials_offset: usize,
    pub credentials_len: usize,
    pub owners: Rect,
    pub audit: Rect,
}

/// `body` defaults to the body of the app's last known size.
pub fn panes(app: &App) -> Panes {
    panes_in(app, super::areas(app.size).body)
}

fn panes_in(app: &App, body: Rect) -> Panes {
    let Some(row) = app.detail_row() else {
        return Panes::default();
    };
    let super::super::app::Screen::Detail(d) = &app.screen else {
        return Panes::default();
    };
    let n = row.entry.credentials.len();
    let cred_rows = n.clamp(1, MAX_CREDENTIAL_ROWS);
    let owner_lines = match app.owners.get(&row.entry.object_id) {
        Some(Loadable::Loaded(o)) if o.is_empty() => 2,
        Some(Loadable::Loaded(o)) => o.len().clamp(1, MAX_OWNER_LINES),
        Some(Loadable::Failed(_)) => MAX_OWNER_LINES,
        _ => 1,
    };
    let summary_width: usize = summary_spans(app, row).iter().map(|s| s.width()).sum();
    let summary_lines = summary_width
        .div_ceil(body.width.max(1) as usize)
        .clamp(1, 3);
    let [summary, credentials, owners, audit] = Layout::vertical([
        Constraint::Length(1 + summary_lines as u16),
        Constraint::Length(2 + cred_rows as u16),
        Constraint::Length(1 + owner_lines as u16),
        Constraint::Min(2),
    ])
    .areas(body);
    let skip = credentials.height.min(2);
    let credentials_body = Rect::new(
        credentials.x,
        credentials.y + skip,
        credentials.width,
        credentials.height - skip,
    );
    let visible = credentials_body.height.max(1) as usize;
    let credentials_offset = if d.credential >= visible {
        d.credential + 1 - visible
    } else {
        0
    };
    Panes {
        summary,
        credentials,
        credentials_body,
        credentials_offset,
        credentials_len: n,
        owners,
        audit,
    }
}

fn pane_block<'a>(t: Theme, title: String, focused: bool) -> Block<'a> {
    let marker = if focused { "▸ " } else { "" };
    Block::new()
        .borders(Borders::TOP)
        .border_style(if focused {
            t.focused_border()
        } else {
            t.border()
        })
        .title(Span::styled(
            format!(" {marker}{title} "),
            if focused {
                t.focused_border()
            } else {
                t.title()
            },
        ))
}

pub fn render(app: &App, d: &Detail, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let Some(row) = app.detail_row() else {
        frame.render_widget(
            Paragraph::new("This app is no longer in the inventory (deleted since the last load?). Esc goes back."),
            area,
        );
        return;
    };
    let p = panes_in(app, area);
    let e = &row.entry;
    let now = app.now();

    let kind = match e.object_type {
        ObjectType::Application => "app registration",
        ObjectType::ServicePrincipal => "service principal",
    };
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(t.border())
        .title(Line::from(vec![
            Span::styled(format!(" {} ", Safe(&e.display_name)), t.title()),
            Span::raw(format!("· {kind} · appId {} ", e.app_id)),
        ]));
    let inner = block.inner(p.summary);
    frame.render_widget(block, p.summary);
    frame.render_widget(
        Paragraph::new(Line::from(summary_spans(app, row))).wrap(Wrap { trim: false }),
        inner,
    );

    credentials(app, d, row, &p, frame, now);
    owners(app, d, &e.object_id, p.owners, frame);
    audit(app, d, &e.object_id, p.audit, frame);
}

/// Coverage (the app's status), soonest end, stale leftovers and clean-up hint: one line at 120 columns, two at 80.
fn summary_spans(app: &App, row: &super::super::model::Row) -> Vec<Span<'static>> {
    let t = app.theme();
    let (e, s, c) = (&row.entry, &row.summary, &row.coverage);
    let now = app.now();
    let status = c.status;
    let mut summary = vec![
        Span::raw(" "),
        Span::styled(
            format!("{} {}", status.symbol(), status.as_str()),
            t.status(status.severity()),
        ),
    ];
    match c.covered {
        Covered::Until(until) => {
            let n = days_left(until, now);
            summary.push(Span::raw(format!(
                " · covered until {} ({})",
                date(until),
                plural(n.max(0) as usize, "day", "days")
            )));
        }
        Covered::Forever => summary.push(Span::raw(" · covered: a credential never expires")),
        Covered::NoCredentials => {}
        Covered::Broken { .. } => summary.push(Span::styled(
            ": no valid credential, sign-ins with these credentials fail",
            t.danger(),
        )),
    }
    if let Some(soonest) = s.soonest {
        summary.push(Span::raw(format!(
            " · soonest end {} ({})",
            date(soonest),
            days(Some(days_left(soonest, now)))
        )));
    }
    if c.stale > 0 {
        summary.push(Span::styled(
            format!(
                " · {} stale (expired, can be removed)",
                plural(c.stale, "credential", "credentials")
            ),
            t.dim(),
        ));
    }
    if s.old_not_cleaned_up && c.stale == 0 {
        summary.push(Span::styled(
            " · old credential not cleaned up",
            t.warning(),
        ));
    }
    summary.extend(impact_spans(app, &e.object_id));
    summary
}

/// What the app can do and whether last use is known: from its impact facts, once loaded.
fn impact_spans(app: &App, id: &ObjectId) -> Vec<Span<'static>> {
    let t = app.theme();
    let Some(f) = app.impact.get(id) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let privileged = f.privileged_names();
    if !privileged.is_empty() {
        out.push(Span::styled(
            format!(" · ⚑ privileged: {privileged}"),
            t.danger(),
        ));
    }
    match (f.has_service_principal, &f.permissions_unknown) {
        (Some(false), _) => out.push(Span::styled(
            " · no service principal here: it cannot sign in",
            t.warning(),
        )),
        (_, Some(_)) => out.push(Span::styled(" · permissions unknown", t.dim())),
        _ => {
            if f.permissions.iter().any(|p| !p.privileged) || privileged.is_empty() {
                out.push(Span::raw(format!(
                    " · {} application permission{}",
                    f.permissions.len(),
                    if f.permissions.len() == 1 { "" } else { "s" }
                )));
            }
        }
    }
    if !f.last_use_known() {
        out.push(Span::styled(
            format!(" · {}", crate::graph::LAST_USE_UNKNOWN),
            t.dim(),
        ));
    }
    out
}

/// The "last use" cell of a credential: when it last signed in, "never", "⚠ unused", or why it is not known.
pub fn last_use_cell(
    f: Option<&crate::impact::ImpactFacts>,
    key: &KeyId,
    start: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
    t: super::super::theme::Theme,
) -> Span<'static> {
    match f {
        None => Span::styled("…", t.dim()),
        Some(f) if f.is_unused(key, start, now) => Span::styled("⚠ unused", t.warning()),
        Some(f) => match f.last_sign_in_of(key) {
            Some(at) => Span::raw(ago(at, now)),
            None if f.last_use_known() => Span::raw("never"),
            None => Span::styled("unknown", t.dim()),
        },
    }
}

fn credentials(
    app: &App,
    d: &Detail,
    row: &super::super::model::Row,
    p: &Panes,
    frame: &mut Frame,
    now: chrono::DateTime<chrono::Utc>,
) {
    let t = app.theme();
    let creds = &row.entry.credentials;
    let focused = d.focus == Pane::Credentials;
    let block = pane_block(t, format!("Credentials ({})", creds.len()), focused);
    let inner = block.inner(p.credentials);
    frame.render_widget(block, p.credentials);
    if creds.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled(
                " No secrets or certificates: nothing on this app can expire.",
                t.dim(),
            )),
            inner,
        );
        return;
    }
    let wide = p.credentials.width >= WIDE;
    // Narrow terminals drop the keyId (the plan screen shows it) so names and last use stay readable.
    let mut widths = vec![Constraint::Length(6), Constraint::Fill(2)];
    let mut header = vec![Cell::from("type"), Cell::from("name")];
    if wide {
        widths.push(Constraint::Length(8));
        header.push(Cell::from("keyId"));
    }
    if wide {
        widths.push(Constraint::Length(10));
        header.push(Cell::from("start"));
    }
    widths.extend([
        Constraint::Length(10),
        Constraint::Length(5),
        Constraint::Length(10),
        Constraint::Length(9),
        Constraint::Fill(3),
    ]);
    header.extend([
        Cell::from("end"),
        Cell::from(Line::from("days").alignment(Alignment::Right)),
        Cell::from("status"),
        Cell::from("last use"),
        Cell::from("stored in"),
    ]);
    let facts = app.impact.get(&row.entry.object_id);
    let th = app.cfg.thresholds;
    let height = p.credentials_body.height as usize;
    let rows = creds
        .iter()
        .skip(p.credentials_offset)
        .take(height)
        .map(|c| {
            let status = classify(c.end, now, th);
            let style = t.status(status);
            let kind = match c.credential_type {
                CredentialType::Secret => "secret",
                CredentialType::Certificate => "cert",
            };
            let mut name = terminal(c.name.as_deref().unwrap_or("(no name)")).into_owned();
            if c.credential_type == CredentialType::Certificate && !c.usages.is_empty() {
                name.push_str(&format!(" ({})", c.usages.join("+")));
            }
            let mut cells = vec![Cell::from(kind), Cell::from(name)];
            if wide {
                cells.push(Cell::from(c.key_id.short().to_string()));
                cells.push(Cell::from(c.start.map(date).unwrap_or_default()));
            }
            cells.extend([
                Cell::from(date_opt(c.end)),
                Cell::from(
                    Line::from(days(c.end.map(|e| days_left(e, now)))).alignment(Alignment::Right),
                )
                .style(style),
                Cell::from(format!("{} {}", status.symbol(), status.as_str())).style(style),
                Cell::from(last_use_cell(facts, &c.key_id, c.start, now, t)),
                match app
                    .stored_in
                    .get(&KeyId::new(c.key_id.as_str().to_ascii_lowercase()))
                {
                    Some(loc) => Cell::from(terminal(loc).into_owned()),
                    None => Cell::from("–").style(t.dim()),
                },
            ]);
            Row::new(cells)
        });
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(t.header_row()))
        .row_highlight_style(if focused { t.selected() } else { Style::new() })
        .highlight_symbol("▶ ")
        .highlight_spacing(HighlightSpacing::Always);
    let mut state = TableState::default()
        .with_selected(Some(d.credential.saturating_sub(p.credentials_offset)));
    frame.render_stateful_widget(table, inner, &mut state);
}

fn owners(app: &App, d: &Detail, id: &ObjectId, area: Rect, frame: &mut Frame) {
    let t = app.theme();
    let focused = d.focus == Pane::Owners;
    let (title, lines): (String, Vec<Line>) = match app.owners.get(id) {
        Some(Loadable::Loaded(o)) if o.is_empty() => (
            "Owners (0)".into(),
            vec![
                Line::styled(
                    " ⚠ No owners: nobody is accountable for this app's secrets.",
                    t.danger(),
                ),
                Line::from("   Add one in Entra ID > App registrations > this app > Owners."),
            ],
        ),
        Some(Loadable::Loaded(o)) => (
            format!("Owners ({})", o.len()),
            o.iter()
                .map(|o| {
                    Line::from(vec![
                        Span::raw(format!(
                            " {:<30} ",
                            truncate(&terminal(o.display_name()), 30)
                        )),
                        Span::styled(terminal(&o.detail()).into_owned(), t.dim()),
                    ])
                })
                .collect(),
        ),
        Some(Loadable::Failed(e)) => (
            "Owners".into(),
            vec![
                Line::styled(
                    format!(" ✖ Could not load owners ({}).", e.short),
                    t.danger(),
                ),
                Line::from(format!(" {}", Safe(&e.message))),
            ],
        ),
        _ => (
            "Owners".into(),
            vec![Line::styled(" loading owners…", t.dim())],
        ),
    };
    let block = pane_block(t, title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let scroll = d
        .owners_scroll
        .min(lines.len().saturating_sub(inner.height as usize));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll as u16, 0)),
        inner,
    );
}

/// Lines of the audit pane; `update` clamps scrolling with its length.
pub fn audit_lines(app: &App, id: &ObjectId) -> Vec<Line<'static>> {
    let t = app.theme();
    match app.audits.get(id) {
        Some(Loadable::Loaded(events)) if events.is_empty() => vec![Line::styled(
            format!(
                " No audit events in the last {} days.",
                super::super::app::AUDIT_DAYS
            ),
            t.dim(),
        )],
        Some(Loadable::Loaded(events)) => {
            let mut out = Vec::new();
            for ev in events {
                let activity = normalize_activity(&ev.activity_display_name);
                let style = if is_credential_activity(&activity) {
                    t.key()
                } else {
                    Style::new()
                };
                out.push(Line::from(vec![
                    Span::raw(format!(" {}  ", datetime(ev.activity_date_time))),
                    Span::styled(terminal(&activity).into_owned(), style),
                ]));
                let result = ev.result.clone().unwrap_or_else(|| "unknown".into());
                let result_style = if result.eq_ignore_ascii_case("success") {
                    t.dim()
                } else {
                    t.danger()
                };
                out.push(Line::from(vec![
                    Span::raw(format!("{INDENT}by {} · ", Safe(&ev.initiator()))),
                    Span::styled(terminal(&result).into_owned(), result_style),
                ]));
                for change in credential_changes(ev) {
                    out.push(Line::raw(format!("{INDENT}{}", Safe(&change.to_string()))));
                }
            }
            out
        }
        Some(Loadable::Failed(e)) => vec![
            Line::styled(
                format!(" ✖ Could not load audit events ({}).", e.short),
                t.danger(),
            ),
            Line::from(format!(" {}", Safe(&e.message))),
            Line::from(" Credentials and owners above are unaffected. Ctrl-r tries again."),
        ],
        _ => vec![Line::styled(
            format!(
                " loading audit events of the last {} days…",
                super::super::app::AUDIT_DAYS
            ),
            t.dim(),
        )],
    }
}

pub fn audit_line_count(app: &App, id: &ObjectId) -> usize {
    audit_lines(app, id).len()
}

fn audit(app: &App, d: &Detail, id: &ObjectId, area: Rect, frame: &mut Frame) {
    let t = app.theme();
    let count = match app.audits.get(id) {
        Some(Loadable::Loaded(e)) => format!(" ({})", e.len()),
        _ => String::new(),
    };
    let block = pane_block(
        t,
        format!(
            "Audit events, last {} days{count}",
            super::super::app::AUDIT_DAYS
        ),
        d.focus == Pane::Audit,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines = audit_lines(app, id);
    let wrap = matches!(app.audits.get(id), Some(Loadable::Failed(_)));
    let scroll = d
        .audit_scroll
        .min(lines.len().saturating_sub(inner.height as usize));
    let mut para = Paragraph::new(lines).scroll((scroll as u16, 0));
    if wrap {
        para = para.wrap(Wrap { trim: false });
    }
    frame.render_widget(para, inner);
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

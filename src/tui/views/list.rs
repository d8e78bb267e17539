//! The main list: one row per app, only the rows on screen are built (50,000 rows are never all formatted).
use super::super::app::{App, LoadPhase, Loadable, sort_label};
use super::super::format::{date, days, fit, thousands};
use super::list_body;
use crate::inventory::{CoverageStatus, Covered, days_left};
use crate::safe_text::terminal;
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};

/// Wide enough for a type column and full sort labels.
const WIDE: u16 = 100;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let inv = &app.inventory;
    let mut title = vec![Span::styled(
        format!(
            " {} of {} ",
            thousands(inv.visible_len()),
            super::super::format::plural(inv.len(), "app", "apps")
        ),
        t.title(),
    )];
    title.push(Span::raw(format!("· sort: {} ", sort_label(app))));
    title.push(Span::raw(format!("· {} ", inv.view().status.label())));
    if !app.filter.is_empty() {
        title.push(Span::styled(
            format!("· filter \"{}\" ", app.filter),
            t.key(),
        ));
    }
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(t.border())
        .title(Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);

    if inv.visible_len() == 0 {
        empty(app, frame, inner);
        return;
    }

    let body = list_body(area);
    let wide = area.width >= WIDE;
    let height = body.height as usize;
    // The cursor's offset is kept by `update`; clamp it here too in case this frame is smaller than the last.
    let sel = app.cursor.selected;
    let mut offset = app.cursor.offset;
    if sel >= offset + height {
        offset = sel + 1 - height.max(1);
    }
    offset = offset.min(sel);

    let mut widths = vec![Constraint::Length(10), Constraint::Length(5)];
    let mut header = vec![
        Cell::from("status"),
        Cell::from(Line::from("days").alignment(Alignment::Right)),
    ];
    // Several tenants: whose row it is (the profile name), between the days and the name.
    let several = app.is_several();
    if several {
        widths.push(Constraint::Length(10));
        header.push(Cell::from("tenant"));
    }
    widths.push(Constraint::Fill(1));
    header.push(Cell::from("name"));
    if wide {
        widths.push(Constraint::Length(4));
        header.push(Cell::from("type"));
    }
    widths.extend([
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(10),
        Constraint::Length(6),
    ]);
    header.extend([
        Cell::from("appId"),
        Cell::from("sec/crt"),
        Cell::from("covered"),
        Cell::from("owners"),
    ]);

    // The name column's width, so that a long name gives way to the markers after it rather than hide them.
    let fixed: u16 = widths
        .iter()
        .map(|c| match c {
            Constraint::Length(n) => *n,
            _ => 0,
        })
        .sum();
    let name_width = inner
        .width
        .saturating_sub(2 + fixed + widths.len() as u16 - 1) as usize;

    let now = app.now();
    let rows = inv.visible_rows(offset, height).map(|r| {
        let s = r.coverage.status;
        let style = t.status(s.severity());
        let mut markers = String::new();
        if r.is_service_principal() && !wide {
            markers.push_str(" [SP]");
        }
        // An old secret kept after a rotation, waiting for removal (P lists them).
        if app.has_pending_removal(&r.entry.object_id) {
            markers.push_str(" ⌛");
        }
        // Known once the app was looked at (its permissions load with its owners).
        let privileged = app
            .impact
            .get(&r.entry.object_id)
            .is_some_and(|f| f.privileged());
        let mut spans = Vec::with_capacity(4);
        if privileged {
            spans.push(Span::styled("⚑ privileged ", t.danger()));
        }
        // Expired leftovers of a covered app: to clean up, not an outage (the status says how long it is covered).
        let stale = (r.coverage.stale > 0).then(|| stale_badge(r.coverage.stale));
        let taken: usize = spans.iter().map(Span::width).sum::<usize>()
            + Span::raw(markers.as_str()).width()
            + stale.as_deref().map_or(0, |b| Span::raw(b).width());
        let name = terminal(&r.entry.display_name);
        spans.push(Span::raw(fit(
            &name,
            name_width.saturating_sub(taken).max(1),
        )));
        spans.push(Span::raw(markers));
        if let Some(b) = stale {
            spans.push(Span::styled(b, t.dim()));
        }
        let name = Cell::from(Line::from(spans));
        let mut cells = vec![
            Cell::from(format!("{} {}", s.symbol(), s.as_str())).style(style),
            Cell::from(
                Line::from(days(r.coverage.date().map(|e| days_left(e, now))))
                    .alignment(Alignment::Right),
            )
            .style(style),
        ];
        if several {
            cells.push(Cell::from(
                terminal(app.tenant_label(r.tenant)).into_owned(),
            ));
        }
        cells.push(name);
        if wide {
            cells.push(Cell::from(if r.is_service_principal() {
                "SP"
            } else {
                "app"
            }));
        }
        let (covered, covered_style) = covered(r, app);
        let owners = match app.owners.get(&r.entry.object_id) {
            Some(Loadable::Loaded(o)) if o.is_empty() => Cell::from("0").style(t.warning()),
            Some(Loadable::Loaded(o)) => Cell::from(o.len().to_string()),
            Some(Loadable::Failed(_)) => Cell::from("?"),
            Some(Loadable::Loading) | None => Cell::from("–"),
        };
        cells.extend([
            Cell::from(r.entry.app_id.short().to_string()),
            Cell::from(format!(
                "{}/{}",
                r.entry.secret_count(),
                r.entry.certificate_count()
            )),
            Cell::from(covered).style(covered_style),
            owners,
        ]);
        Row::new(cells)
    });

    let table = Table::new(rows, widths)
        .header(Row::new(header).style(t.header_row()))
        .row_highlight_style(t.selected())
        .highlight_symbol("▶ ")
        .highlight_spacing(ratatui::widgets::HighlightSpacing::Always);
    let mut state = TableState::default().with_selected(Some(sel - offset));
    let table_area = Rect::new(
        inner.x,
        inner.y,
        inner.width,
        inner.height.min(body.height + 1),
    );
    frame.render_stateful_widget(table, table_area, &mut state);
}

/// `  stale` (or `  stale×N`): how many expired credentials a covered app still carries.
pub fn stale_badge(n: usize) -> String {
    if n == 1 {
        "  stale".into()
    } else {
        format!("  stale×{n}")
    }
}

/// "covered until": the last date a valid credential works; `none` when nothing valid is left.
fn covered(r: &super::super::model::Row, app: &App) -> (String, Style) {
    match r.coverage.covered {
        Covered::Until(d) => (date(d), Style::new()),
        Covered::Forever => ("never".into(), Style::new()),
        Covered::NoCredentials => ("–".into(), Style::new()),
        Covered::Broken { .. } => ("none".into(), app.theme().danger()),
    }
}

fn empty(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let lines: Vec<Line> = match &app.phase {
        LoadPhase::Starting | LoadPhase::Loading { .. } if app.inventory.is_empty() => vec![
            Line::from(""),
            Line::from("Loading the app registrations of this tenant…"),
            Line::styled(
                "The most urgent ones appear as soon as the first page arrives.",
                t.dim(),
            ),
        ],
        LoadPhase::Failed(e) if app.inventory.is_empty() => {
            let mut v = vec![
                Line::from(""),
                Line::styled(format!("✖ Nothing loaded: {}.", e.short), t.danger()),
            ];
            // While the popup shows the full message, repeating it here would only peek out around its edges.
            if app.popup.is_none() {
                v.push(Line::from(e.message.clone()));
            }
            v.push(Line::from(""));
            v.push(Line::from("Fix the cause, then press Ctrl-r to try again."));
            v
        }
        _ if app.inventory.is_empty() => vec![
            Line::from(""),
            Line::from("This tenant has no app registrations keyturn can see."),
            Line::from("Nothing here can expire. If you expected some, check that this"),
            Line::from("identity has Application.Read.All (keyturn doctor), then Ctrl-r."),
        ],
        _ => {
            let mut v = vec![Line::from(""), Line::from("No app matches.")];
            if !app.filter.is_empty() {
                v.push(Line::from(format!(
                    "Filter \"{}\" (name, appId, owners known so far): Esc clears it.",
                    app.filter
                )));
            }
            if app.inventory.view().status != super::super::model::StatusFilter::All {
                v.push(Line::from(format!(
                    "Status filter: {}. Press f to change it.",
                    app.inventory.view().status.label()
                )));
            }
            if app.inventory.counts()[CoverageStatus::Broken as usize] == 0
                && app.inventory.view().status == super::super::model::StatusFilter::BrokenOnly
            {
                v.push(Line::styled(
                    "Good news: every app with credentials has a valid one.",
                    t.dim(),
                ));
            }
            v
        }
    };
    frame.render_widget(
        Paragraph::new(Text::from(lines))
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        area,
    );
}

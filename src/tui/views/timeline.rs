//! `T`: the expiry timeline, credentials ending in each of the next 13 weeks, one bar per week and status. Counted
//! from the same rows as `keyturn check` (each credential classified on its own), over the apps the list covers.
//! Each bar's label names its week and status, and its count is written on it, so it reads without colour.
use super::super::app::App;
use super::super::format::{plural, thousands};
use crate::inventory::timeline::{TIMELINE_WEEKS, Timeline, weekly};
use crate::inventory::{Status, unsorted_rows};
use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders, Paragraph, Wrap};

/// The statuses a credential that has not ended yet can have, in the order the bars of a week are drawn.
const SHOWN: [Status; 3] = [Status::Critical, Status::Warning, Status::Ok];

/// The timeline of what the list covers now (its apps, and service principals when shown).
pub fn timeline(app: &App) -> Timeline {
    let rows = unsorted_rows(
        app.inventory.entries_in_view(),
        app.now(),
        app.cfg.thresholds,
    );
    weekly(rows, app.now(), TIMELINE_WEEKS)
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let tl = timeline(app);
    let days = TIMELINE_WEEKS * 7;
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(t.border())
        .title(Line::from(vec![
            Span::styled(" Expiry timeline ", t.title()),
            Span::raw(format!(
                "· credentials ending per week, next {TIMELINE_WEEKS} weeks ({days} days) "
            )),
        ]));
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let mut totals = [0usize; 4];
    for w in &tl.weeks {
        for (sum, n) in totals.iter_mut().zip(w.counts) {
            *sum += n;
        }
    }
    let mut summary = vec![Span::raw(format!(
        " {} in {days} days: ",
        plural(totals.iter().sum(), "credential ends", "credentials end")
    ))];
    for (i, s) in SHOWN.iter().enumerate() {
        if i > 0 {
            summary.push(Span::raw(" · "));
        }
        summary.push(Span::styled(
            format!(
                "{} {} {}",
                s.symbol(),
                thousands(totals[*s as usize]),
                s.as_str()
            ),
            t.status(*s),
        ));
    }
    summary.push(Span::styled(
        format!(
            " · not shown: {} expired, {} later or never",
            thousands(tl.expired),
            thousands(tl.later)
        ),
        t.dim(),
    ));
    let [text, chart] = Layout::vertical([Constraint::Length(2), Constraint::Min(1)]).areas(inner);
    frame.render_widget(
        Paragraph::new(Line::from(summary)).wrap(Wrap { trim: false }),
        text,
    );

    // One group per week; in it one bar per status present (one empty bar for a week where nothing ends). The
    // first bar's label names the week by its first day, the others leave it blank under it.
    let groups: Vec<BarGroup> = tl
        .weeks
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let week = format!("{:>2} {}", i + 1, w.start.format("%b %d"));
            let present: Vec<Status> = SHOWN
                .into_iter()
                .filter(|s| w.counts[*s as usize] > 0)
                .collect();
            let bars: Vec<Bar> = if present.is_empty() {
                vec![
                    Bar::default()
                        .value(0)
                        .text_value("0")
                        .label(Line::from(format!("{week}  –"))),
                ]
            } else {
                present
                    .iter()
                    .enumerate()
                    .map(|(j, s)| {
                        let n = w.counts[*s as usize];
                        let prefix = if j == 0 {
                            week.clone()
                        } else {
                            " ".repeat(week.chars().count())
                        };
                        Bar::default()
                            .value(n as u64)
                            .text_value(thousands(n))
                            .label(Line::from(vec![
                                Span::raw(format!("{prefix}  ")),
                                Span::styled(
                                    format!("{} {}", s.symbol(), s.as_str()),
                                    t.status(*s),
                                ),
                            ]))
                            .style(t.status(*s))
                            .value_style(t.status(*s).add_modifier(Modifier::REVERSED))
                    })
                    .collect()
            };
            BarGroup::default().bars(&bars)
        })
        .collect();
    let mut chart_widget = BarChart::default()
        .direction(Direction::Horizontal)
        .bar_width(1)
        .bar_gap(0)
        .group_gap(0);
    for g in groups {
        chart_widget = chart_widget.data(g);
    }
    frame.render_widget(chart_widget, chart);
}

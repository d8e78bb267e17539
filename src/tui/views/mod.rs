//! Pure rendering: `render(&App, &mut Frame)` draws the state and changes nothing. Layout functions are shared with
//! `update` so that a mouse click maps to the row that was drawn there.
pub mod changes;
pub mod detail;
pub mod help;
pub mod list;
pub mod popup;
pub mod rotation;
pub mod timeline;

use super::app::{App, LoadPhase, Popup, Screen};
use super::format::{ago, plural, thousands};
use super::keymap;
use crate::graph::ObjectType;
use crate::inventory::{CoverageStatus, Status};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub struct Areas {
    pub header: Rect,
    pub body: Rect,
    pub status: Rect,
    pub footer: Rect,
}

/// Two header lines, the body, a status line and the key hints: 20 body lines at 80x24.
pub fn areas(size: Rect) -> Areas {
    let [header, body, status, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(size);
    Areas {
        header,
        body,
        status,
        footer,
    }
}

/// Where the list's rows are drawn inside the body: below its title line and column header.
pub fn list_body(body: Rect) -> Rect {
    let skip = body.height.min(2);
    Rect::new(body.x, body.y + skip, body.width, body.height - skip)
}

pub fn render(app: &App, frame: &mut Frame) {
    let a = areas(frame.area());
    header(app, frame, a.header);
    match (&app.flow, &app.screen) {
        (Some(flow), _) => rotation::render(app, flow, frame, a.body),
        (None, Screen::List) => list::render(app, frame, a.body),
        (None, Screen::Detail(d)) => detail::render(app, d, frame, a.body),
        (None, Screen::Changes(c)) => changes::render(app, c, frame, a.body),
        (None, Screen::Timeline) => timeline::render(app, frame, a.body),
    }
    status_line(app, frame, a.status);
    footer(app, frame, a.footer);
    match &app.popup {
        Some(Popup::Help { scroll }) => help::render(app, *scroll, frame),
        Some(Popup::Message {
            title,
            lines,
            danger,
            scroll,
        }) => popup::message(app, title, lines, *danger, *scroll, frame),
        Some(Popup::Confirm(c)) => popup::confirm(app, c, frame),
        Some(Popup::SignIn(p)) => popup::sign_in(app, p, frame),
        None => {}
    }
    guard_buffer(frame.buffer_mut());
}

/// The last line of the sanitising boundary: views show tenant strings through `safe_text` (visible escapes), and
/// anything a view missed is caught here. ratatui drops C0/C1 controls itself but appends zero-width characters
/// such as U+202E (right-to-left override) to the previous cell, from where they would reach the terminal: they are
/// dropped (a cell's width is that of its visible character; a cell left empty becomes a space).
pub fn guard_buffer(buf: &mut ratatui::buffer::Buffer) {
    for cell in buf.content.iter_mut() {
        let symbol = cell.symbol();
        if symbol.chars().any(crate::safe_text::is_unsafe) {
            let mut safe: String = symbol
                .chars()
                .filter(|c| !crate::safe_text::is_unsafe(*c))
                .collect();
            if safe.is_empty() {
                safe.push(' ');
            }
            cell.set_symbol(&safe);
        }
    }
}

fn header(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    // A tenant id is a 36-character GUID: at 80 columns its first 8 are enough to tell tenants apart.
    let tenant = if area.width < 110 && app.cfg.tenant_id.chars().count() > 9 {
        let short: String = app.cfg.tenant_id.chars().take(8).collect();
        format!("{short}…")
    } else {
        app.cfg.tenant_id.clone()
    };
    let mut first = vec![Span::styled(" keyturn ", t.title())];
    if app.is_several() {
        // The tenant switcher's state (n): all tenants, or the one shown.
        let shown = match app.inventory.view().tenant {
            None => format!("all {}: {}", app.tenants.len(), app.tenants.join(", ")),
            Some(i) => format!(
                "{} ({} of {})",
                app.tenant_label(i),
                i + 1,
                app.tenants.len()
            ),
        };
        first.extend([
            Span::styled(" tenants ", t.dim()),
            Span::raw(crate::safe_text::terminal(&shown).into_owned()),
            Span::styled(" (n switches)", t.dim()),
        ]);
    } else {
        first.extend([
            Span::styled(" tenant ", t.dim()),
            Span::raw(tenant),
            Span::styled("  signed in as ", t.dim()),
            Span::raw(app.cfg.identity.clone()),
        ]);
    }
    if app.cfg.read_only {
        first.push(Span::styled("  [read-only]", t.warning()));
    }
    let counts = app.inventory.counts();
    let mut second = vec![Span::raw(" ")];
    for s in CoverageStatus::ALL {
        second.push(Span::styled(
            format!(
                "{} {} {}",
                s.symbol(),
                thousands(counts[s as usize]),
                s.as_str()
            ),
            if counts[s as usize] > 0 && s != CoverageStatus::Ok {
                t.status(s.severity())
            } else {
                Style::new()
            },
        ));
        second.push(Span::raw("  "));
    }
    second.push(Span::styled("│ ", t.dim()));
    second.push(Span::raw(plural(app.inventory.count_apps(), "app", "apps")));
    if app.inventory.view().service_principals {
        second.push(Span::raw(format!(
            ", {} SP",
            thousands(app.inventory.count_service_principals())
        )));
    }
    let (pending, due) = app.pending_counts();
    if pending > 0 {
        second.push(Span::styled(
            format!(
                "  ⌛ {}{} (P)",
                plural(pending, "pending removal", "pending removals"),
                if due > 0 {
                    format!(", {due} due")
                } else {
                    String::new()
                }
            ),
            if due > 0 { t.warning() } else { t.dim() },
        ));
    }
    frame.render_widget(
        Paragraph::new(vec![Line::from(first), Line::from(second)]),
        area,
    );
}

/// What is happening right now, in words.
pub fn status_text(app: &App) -> (String, Option<Status>) {
    let now = app.now();
    if let Some(w) = &app.waiting {
        let secs = ((w.until - now).num_milliseconds().max(0) + 999) / 1000;
        return (
            format!("{}: retrying in {secs} s (attempt {})", w.what, w.attempt),
            Some(Status::Warning),
        );
    }
    if let Some(r) = rotation::status(app) {
        return r;
    }
    if let Some(p) = &app.sign_in {
        return (
            format!(
                "sign-in: open {} and enter {}",
                p.verification_uri, p.user_code
            ),
            Some(Status::Warning),
        );
    }
    if let Some(at) = app.cached_at
        && matches!(app.phase, LoadPhase::Starting | LoadPhase::Loading { .. })
    {
        return (
            format!(
                "showing the inventory cached {} · refreshing from Graph…",
                ago(at, now)
            ),
            None,
        );
    }
    match &app.phase {
        LoadPhase::Starting => ("signing in and loading app registrations…".into(), None),
        LoadPhase::Loading {
            kind, page, total, ..
        } => {
            let what = match kind {
                ObjectType::Application => "app registrations",
                ObjectType::ServicePrincipal => "service principals",
            };
            (
                format!("loading {what}: page {page}, {} so far…", thousands(*total)),
                None,
            )
        }
        LoadPhase::Failed(e) => (
            format!("load failed: {} – Ctrl-r to retry, ? for help", e.short),
            Some(Status::Expired),
        ),
        LoadPhase::Done => {
            let inv = &app.inventory;
            let mut text = format!("loaded {}", plural(inv.count_apps(), "app", "apps"));
            if inv.view().service_principals {
                text.push_str(&format!(
                    " and {}",
                    plural(
                        inv.count_service_principals(),
                        "service principal",
                        "service principals"
                    )
                ));
            }
            if let Some(at) = app.last_refresh {
                text.push_str(&format!(" · last refresh {}", ago(at, now)));
            }
            (text, None)
        }
    }
}

fn status_line(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    if app.filter_editing {
        let line = Line::from(vec![
            Span::styled(" /", t.key()),
            Span::raw(app.filter.clone()),
            Span::styled("█", t.key()),
            Span::styled(
                format!(
                    "  {} of {} match",
                    thousands(app.inventory.visible_len()),
                    thousands(app.inventory.len())
                ),
                t.dim(),
            ),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    let (text, status) = status_text(app);
    let style = status.map(|s| t.status(s)).unwrap_or_default();
    frame.render_widget(
        Paragraph::new(Line::from(Span::styled(format!(" {text}"), style))),
        area,
    );
}

/// Key hints from the keymap, as many as fit. The general ones (reload, help, quit) are kept whatever the width:
/// `? help` is the way to every other key.
fn footer(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme();
    let hints = keymap::hints(&app.contexts());
    let width = |(keys, word): &(&str, &str)| keys.chars().count() + 1 + word.chars().count() + 2;
    let general: Vec<bool> = hints
        .iter()
        .map(|(keys, _)| {
            keymap::KEYMAP.iter().any(|b| {
                b.section == keymap::Section::General && (b.label == *keys || *keys == "^r")
            })
        })
        .collect();
    let mut budget = (area.width as usize).saturating_sub(1);
    let reserved: usize = hints
        .iter()
        .zip(&general)
        .filter(|(_, g)| **g)
        .map(|(h, _)| width(h))
        .sum();
    budget = budget.saturating_sub(reserved);
    let mut shown = vec![false; hints.len()];
    for (i, h) in hints.iter().enumerate() {
        if general[i] {
            shown[i] = true;
        } else if width(h) <= budget {
            budget -= width(h);
            shown[i] = true;
        } else {
            budget = 0;
        }
    }
    let mut spans = vec![Span::raw(" ")];
    for ((keys, word), _) in hints.iter().zip(&shown).filter(|(_, s)| **s) {
        spans.push(Span::styled(*keys, t.key()));
        spans.push(Span::raw(format!(" {word}  ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A rectangle of at most `width` x `height`, centred in `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

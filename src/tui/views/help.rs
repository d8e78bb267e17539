//! `?`: every key of the view underneath, then navigation and general keys, all read from the keymap; then what
//! the columns and symbols mean and where the log is.
use super::super::app::App;
use super::super::keymap::{self, Context, Section};
use crate::inventory::{CoverageStatus, Status};
use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

pub fn lines(app: &App) -> Vec<Line<'static>> {
    let t = app.theme();
    let view = app.screen_context();
    let view_name = match view {
        Context::Detail => "one app",
        Context::Timeline => "expiry timeline",
        Context::RotationPlan => "rotation plan",
        Context::RotationRunning => "rotation running",
        Context::RotationResult => "rotation result",
        _ => "app list",
    };
    // The log path first: whoever opens the help after an error is looking for it.
    let mut out: Vec<Line<'static>> = vec![
        match &app.cfg.log_file {
            Some(p) => Line::from(format!("Log file: {}", p.display())),
            None => Line::from("Log file: none for this session"),
        },
        Line::from(""),
    ];
    let bindings = if view == Context::List && app.is_several() {
        keymap::active(&[view, Context::Tenants, Context::Navigation, Context::Global])
    } else {
        keymap::active(&[view, Context::Navigation, Context::Global])
    };
    for section in [Section::ThisView, Section::Navigation, Section::General] {
        let title = match section {
            Section::ThisView => format!("{} ({view_name})", section.title()),
            _ => section.title().to_string(),
        };
        out.push(Line::styled(title, t.title()));
        for b in bindings.iter().filter(|b| b.section == section) {
            out.push(Line::from(vec![
                Span::styled(format!("  {:<11}", b.label), t.key()),
                Span::raw(b.desc),
            ]));
        }
        out.push(Line::from(""));
    }
    if view == Context::List {
        out.push(Line::from(vec![
            Span::styled("  mouse      ", t.key()),
            Span::raw("wheel scrolls; click selects, click again opens"),
        ]));
        out.push(Line::from(""));
    }
    let th = app.cfg.thresholds;
    out.push(Line::styled(
        "App status in the list: by coverage (symbol and word; colour only repeats it)",
        t.title(),
    ));
    for (s, meaning) in [
        (
            CoverageStatus::Broken,
            "credentials, none valid now: sign-ins with them fail".to_string(),
        ),
        (
            CoverageStatus::Critical,
            format!("covered, but only for {} days or less", th.critical_days),
        ),
        (
            CoverageStatus::Warning,
            format!("covered for {} days or less", th.warn_days),
        ),
        (
            CoverageStatus::Ok,
            "covered longer, forever, or nothing that can expire".to_string(),
        ),
    ] {
        out.push(Line::from(vec![
            Span::styled(
                format!("  {} {:<9}", s.symbol(), s.as_str()),
                t.status(s.severity()),
            ),
            Span::raw(meaning),
        ]));
    }
    out.push(Line::from(vec![
        Span::styled("    stale    ", t.dim()),
        Span::raw("expired leftovers on a covered app: remove them"),
    ]));
    out.push(Line::from(""));
    out.push(Line::styled(
        "Credential status (one app, keyturn check)",
        t.title(),
    ));
    for (s, meaning) in [
        (
            Status::Expired,
            "the end date has passed: sign-ins with it fail".to_string(),
        ),
        (
            Status::Critical,
            format!("ends within {} days", th.critical_days),
        ),
        (
            Status::Warning,
            format!("ends within {} days", th.warn_days),
        ),
        (Status::Ok, "ends later, or never".to_string()),
    ] {
        out.push(Line::from(vec![
            Span::styled(format!("  {} {:<9}", s.symbol(), s.as_str()), t.status(s)),
            Span::raw(meaning),
        ]));
    }
    out.push(Line::from(""));
    out.push(Line::styled("Columns", t.title()));
    for (col, meaning) in [
        (
            "days",
            "days until coverage ends (broken: since it ended, negative)",
        ),
        ("sec/crt", "client secrets / certificates on the app"),
        (
            "covered",
            "last day a valid credential works; none = broken",
        ),
        (
            "owners",
            "shown once the app has been selected: owners load for the",
        ),
        (
            "",
            "selected app only, never for the whole tenant; – until then.",
        ),
        ("", "The / filter matches the owners known so far."),
    ] {
        out.push(Line::from(vec![
            Span::styled(format!("  {col:<11}"), t.key()),
            Span::raw(meaning),
        ]));
    }
    if app.is_several() {
        out.push(Line::from(vec![
            Span::styled(format!("  {:<11}", "tenant"), t.key()),
            Span::raw("the profile whose tenant the app is in; n shows one tenant"),
        ]));
        out.push(Line::from(vec![
            Span::styled(format!("  {:<11}", ""), t.key()),
            Span::raw("at a time. Detail, rotation and removal act in that tenant."),
        ]));
    }
    out
}

pub fn render(app: &App, scroll: usize, frame: &mut Frame) {
    let t = app.theme();
    let area = super::centered(frame.area(), 80, frame.area().height.saturating_sub(2));
    let lines = lines(app);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(t.focused_border())
        .title(Span::styled(" Help ", t.title()))
        .title_bottom(Line::from(" j/k scroll · Esc close ").right_aligned());
    let inner = block.inner(area);
    let scroll = scroll.min(lines.len().saturating_sub(inner.height as usize));
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .scroll((scroll as u16, 0)),
        area,
    );
}

//! Modal popups: a message (information or an error with what to do next) and the confirmation dialog.
use super::super::app::{App, Confirm, DialogFocus};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

pub fn message(
    app: &App,
    title: &str,
    lines: &[String],
    danger: bool,
    scroll: usize,
    frame: &mut Frame,
) {
    let t = app.theme();
    let width = 72u16;
    // Room for wrapped lines: an estimate is enough, the paragraph scrolls.
    let inner_width = width.saturating_sub(4).max(1) as usize;
    let needed: usize = lines
        .iter()
        .map(|l| l.chars().count().div_ceil(inner_width).max(1))
        .sum();
    let area = super::centered(frame.area(), width, needed as u16 + 2);
    let border = if danger {
        t.danger()
    } else {
        t.focused_border()
    };
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(border)
        .title(Span::styled(format!(" {title} "), border))
        .title_bottom(Line::from(" Esc close ").right_aligned());
    let text: Vec<Line> = lines.iter().map(|l| Line::from(l.clone())).collect();
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(text)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((scroll as u16, 0)),
        area,
    );
}

pub fn confirm(app: &App, c: &Confirm, frame: &mut Frame) {
    let t = app.theme();
    let height = c.lines.len() as u16 + 7;
    let area = super::centered(frame.area(), 72, height);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(t.warning())
        .title(Span::styled(format!(" {} ", c.title), t.title()));
    let inner = block.inner(area);
    frame.render_widget(Clear, area);
    frame.render_widget(block, area);
    let [body, prompt, input, _, buttons] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let text: Vec<Line> = c.lines.iter().map(|l| Line::from(l.clone())).collect();
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), body);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::raw("Type "),
            Span::styled(c.accept.clone(), t.title()),
            Span::raw(" to confirm:"),
        ])),
        prompt,
    );
    let check = if c.accepted() { " ✔" } else { "" };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::raw("> "),
            Span::raw(c.input.clone()),
            Span::styled("█", t.key()),
            Span::raw(check),
        ])),
        input,
    );
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
            button("Cancel", c.focus == DialogFocus::Cancel, true),
            Span::raw("   "),
            button("Confirm", c.focus == DialogFocus::Confirm, c.accepted()),
        ]))
        .alignment(Alignment::Center),
        buttons,
    );
}

/// The device-code prompt: what to open and what to type, in keyturn's words (the service's own message may be in
/// another language). It closes by itself once the sign-in completes.
pub fn sign_in(app: &App, p: &crate::auth::DeviceCodePrompt, frame: &mut Frame) {
    let t = app.theme();
    let lines = vec![
        Line::from("keyturn needs you to sign in (device code)."),
        Line::from(""),
        Line::from(vec![
            Span::raw("1. Open  "),
            Span::styled(p.verification_uri.clone(), t.title()),
        ]),
        Line::from("   in a browser on any device."),
        Line::from(vec![
            Span::raw("2. Enter "),
            Span::styled(p.user_code.clone(), t.title()),
        ]),
        Line::from(format!(
            "   before {} UTC, and approve the sign-in.",
            p.expires_at.format("%H:%M")
        )),
        Line::from(""),
        Line::from("keyturn goes on by itself once you have signed in."),
        Line::from("Esc hides this; the sign-in keeps waiting (status line)."),
    ];
    let area = super::centered(frame.area(), 64, lines.len() as u16 + 2);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(t.focused_border())
        .title(Span::styled(" Sign in ", t.title()))
        .title_bottom(Line::from(" Esc hide ").right_aligned());
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

//! Slack incoming webhook: `{"text", "blocks"}`. `text` is the notification's fallback; the blocks are a header
//! and one mrkdwn section per credential. Slack treats `&`, `<` and `>` as control characters in mrkdwn (links,
//! mentions such as `<!channel>`), so tenant text has exactly those three escaped as HTML entities, as Slack's
//! formatting reference asks; everything else is sent as it is.
use super::message::{Notice, Reason, headline};
use serde_json::{Value, json};

/// Slack allows 50 blocks per message: a header plus this many sections.
pub const PER_MESSAGE: usize = 40;

/// `&`, `<`, `>` as `&amp;`, `&lt;`, `&gt;`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// A header's plain text is at most 150 characters.
fn header_text(s: &str) -> String {
    if s.chars().count() <= 150 {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(149).collect();
        t.push('…');
        t
    }
}

fn section(n: &Notice, reason: Reason) -> Value {
    let name = n.credential_name.as_deref().unwrap_or("(no name)");
    let text = format!(
        "*{}* ({}, appId `{}`)\n{} `{}` (keyId `{}`)\n*{}* _[{}]_\nOwners: {}",
        escape(&n.display_name),
        n.object_words(),
        escape(&n.app_id),
        n.type_words(),
        escape(name),
        escape(&n.key_id),
        n.status_words(),
        reason.words(),
        escape(&n.owners.summary()),
    );
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// The webhook body for `items`.
pub fn payload(items: &[(&Notice, Reason)], tenant: &str) -> Value {
    let title = headline(items, tenant);
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": header_text(&title)},
    })];
    blocks.extend(items.iter().map(|(n, r)| section(n, *r)));
    let names: Vec<String> = items.iter().map(|(n, _)| escape(&n.display_name)).collect();
    json!({
        "text": format!("{}: {}", escape(&title), names.join(", ")),
        "blocks": blocks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_three_control_characters_are_escaped() {
        assert_eq!(
            escape("<!channel> & <https://evil|click> \"q\" *b*"),
            "&lt;!channel&gt; &amp; &lt;https://evil|click&gt; \"q\" *b*"
        );
    }
}

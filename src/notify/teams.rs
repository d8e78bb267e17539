//! Microsoft Teams through a Workflows webhook ("Post to a channel when a webhook request is received"): the body
//! is a message with one Adaptive Card attachment, the shape Microsoft documents for sending Adaptive Cards to a
//! Teams webhook (tests/fixtures/microsoft/teams/ keeps the published example). Values are exact: serde escapes
//! them for JSON, and control or bidi characters travel as `\uXXXX` escapes.
use super::message::{Notice, Reason, headline};
use serde_json::{Value, json};

/// The Adaptive Card version: 1.4 is what Teams renders in Workflows posts.
pub const CARD_VERSION: &str = "1.4";

/// How many credentials one card lists: a Teams message has a size limit (about 28 KB), so a long run is several
/// cards.
pub const PER_MESSAGE: usize = 20;

fn facts(n: &Notice, reason: Reason) -> Value {
    let name = n.credential_name.as_deref().unwrap_or("(no name)");
    json!([
        {"title": "Credential", "value": format!("{name} (keyId {})", n.key_id)},
        {"title": "Type", "value": format!("{} of the {}", n.type_words(), n.object_words())},
        {"title": "Status", "value": n.status_words()},
        {"title": "Owners", "value": n.owners.summary()},
        {"title": "App id", "value": n.app_id},
        {"title": "Why now", "value": reason.words()},
    ])
}

/// The webhook body for `items`.
pub fn payload(items: &[(&Notice, Reason)], tenant: &str) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock",
        "size": "Medium",
        "weight": "Bolder",
        "wrap": true,
        "text": headline(items, tenant),
    })];
    for (n, reason) in items {
        body.push(json!({
            "type": "Container",
            "separator": true,
            "items": [
                {
                    "type": "TextBlock",
                    "weight": "Bolder",
                    "wrap": true,
                    "color": match n.status {
                        crate::inventory::Status::Warning => "Warning",
                        _ => "Attention",
                    },
                    "text": n.display_name,
                },
                {"type": "FactSet", "facts": facts(n, *reason)},
            ],
        }));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": CARD_VERSION,
                "msteams": {"width": "Full"},
                "body": body,
            },
        }],
    })
}

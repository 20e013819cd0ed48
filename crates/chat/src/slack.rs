//! Slack: a Block Kit message with a `text` fallback. Slack's incoming webhooks cannot reply
//! in a thread (the answer carries no message `ts` to reply to), so each message stands alone
//! and names its ticket.

use domain::escalation::ChatMessage;
use serde_json::{json, Value};

use crate::cut;

/// Escapes text for Slack's `mrkdwn`: `&`, `<` and `>` as entities, as Slack documents.
pub fn escape_mrkdwn(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The message body.
pub fn slack_body(m: &ChatMessage) -> Value {
    let e = escape_mrkdwn;
    let field = |label: &str, value: &str| json!({ "type": "mrkdwn", "text": format!("*{label}*\n{}", e(value)) });
    json!({
        "text": cut(&format!("#{} {} {}", m.ticket_number, e(&m.title), e(&m.headline)), 3_000),
        "blocks": [
            { "type": "header", "text": { "type": "plain_text", "text": cut(&format!("#{} {}", m.ticket_number, m.title), 150) } },
            { "type": "section", "text": { "type": "mrkdwn", "text": cut(&e(&m.headline), 3_000) } },
            { "type": "section", "fields": [
                field("Priority", m.priority.as_str()),
                field("Status", &m.status.as_str().replace('_', " ")),
                field("Category", &m.category),
                field("Votes", &m.votes.to_string()),
                field("SLA", &m.sla.as_str().replace('_', " ")),
                field("Escalated by", &m.escalated_by),
            ] },
            { "type": "section", "text": { "type": "mrkdwn", "text": cut(&e(&m.reason), 3_000) } },
            { "type": "actions", "elements": [
                { "type": "button", "text": { "type": "plain_text", "text": format!("Open ticket #{}", m.ticket_number) }, "url": m.url }
            ] }
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_carry_the_ticket_and_escape_mrkdwn() {
        let m = crate::google::tests::message();
        let body = slack_body(&m);
        assert_eq!(body["blocks"][0]["type"], "header");
        assert_eq!(body["blocks"][0]["text"]["text"], "#1042 Exam *portal* <down> for_all");
        let fields = body["blocks"][2]["fields"].as_array().unwrap();
        assert_eq!(fields.len(), 6);
        assert_eq!(fields[2]["text"], "*Category*\nExams &amp; grades");
        assert_eq!(fields[5]["text"], "*Escalated by*\nSam &lt;support&gt;");
        assert_eq!(body["blocks"][4]["elements"][0]["url"], "https://help.uni.edu/tickets/1042");
        assert!(body["text"].as_str().unwrap().contains("&lt;down&gt;"));
    }
}

//! Google Chat: a `cardsV2` card with a plain `text` fallback, in the ticket's thread.

use domain::escalation::ChatMessage;
use serde_json::{json, Value};

use crate::{cut, parse_url, PostError};

/// The most bytes a Google Chat message may have.
pub const MAX_MESSAGE_BYTES: usize = 32_000;

/// The longest reason or note shown (characters); the title is at most 150 already.
const MAX_REASON_CHARS: usize = 2_000;

/// The webhook URL with the threading option and the job's request id added.
pub fn google_url(webhook: &str, request_id: &str) -> Result<reqwest::Url, PostError> {
    let mut url = parse_url(webhook)?;
    url.query_pairs_mut()
        .append_pair("messageReplyOption", "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD")
        .append_pair("requestId", request_id);
    Ok(url)
}

/// Escapes text for Chat's message formatting: `<`, `>` and `&` as entities (so no link or
/// mention can be formed), and a zero-width space after each of `*`, `_`, `~` and `` ` `` (so
/// no bold, italic, strike-through or code span can be formed) without changing what reads.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '*' | '_' | '~' | '`' => {
                out.push(c);
                out.push('\u{200B}');
            }
            c => out.push(c),
        }
    }
    out
}

/// The message body: card, fallback text and thread key.
pub fn google_body(m: &ChatMessage) -> Value {
    let reason = cut(&m.reason, MAX_REASON_CHARS);
    let text = |reason: &str| {
        format!(
            "*#{n} {title}* {headline}\n{reason}\n<{url}|Open ticket #{n}>",
            n = m.ticket_number,
            title = escape_text(&m.title),
            headline = escape_text(&m.headline),
            reason = escape_text(reason),
            url = m.url,
        )
    };
    let html = markup::escape_html;
    let field = |label: &str, value: &str| json!({ "decoratedText": { "topLabel": label, "text": html(value) } });
    let card = json!({
        "cardId": m.thread_key(),
        "card": {
            "header": {
                "title": cut(&format!("#{} {}", m.ticket_number, m.title), 200),
                "subtitle": cut(&m.headline, 200),
            },
            "sections": [
                {
                    "header": "Ticket",
                    "widgets": [
                        field("Priority", m.priority.as_str()),
                        field("Status", &m.status.as_str().replace('_', " ")),
                        field("Category", &m.category),
                        field("Votes", &m.votes.to_string()),
                        field("SLA", &m.sla.as_str().replace('_', " ")),
                    ]
                },
                {
                    "header": "Escalation",
                    "widgets": [
                        field("Escalated by", &m.escalated_by),
                        { "textParagraph": { "text": html(&reason) } },
                        { "buttonList": { "buttons": [
                            { "text": format!("Open ticket #{}", m.ticket_number), "onClick": { "openLink": { "url": m.url } } }
                        ] } }
                    ]
                }
            ]
        }
    });
    let mut body = json!({
        "text": text(&reason),
        "fallbackText": cut(&format!("#{} {} {}", m.ticket_number, m.title, m.headline), 300),
        "cardsV2": [card],
        "thread": { "threadKey": m.thread_key() },
    });
    // A reason near the limits could still push the message over 32,000 bytes: cut it
    // further, in the text and the card alike, until it fits.
    let mut keep = MAX_REASON_CHARS;
    while body.to_string().len() > MAX_MESSAGE_BYTES && keep > 0 {
        keep /= 2;
        let short = cut(&m.reason, keep);
        body["text"] = json!(text(&short));
        body["cardsV2"][0]["card"]["sections"][1]["widgets"][1] = json!({ "textParagraph": { "text": html(&short) } });
    }
    body
}

#[cfg(test)]
pub(crate) mod tests {
    use domain::escalation::SlaState;
    use domain::tickets::{Priority, Status};

    use super::*;

    pub(crate) fn message() -> ChatMessage {
        ChatMessage {
            ticket_number: 1042,
            title: "Exam *portal* <down> for_all".into(),
            url: "https://help.uni.edu/tickets/1042".into(),
            headline: "escalated: urgent priority".into(),
            priority: Priority::Urgent,
            category: "Exams & grades".into(),
            votes: 31,
            status: Status::InProgress,
            sla: SlaState::AtRisk,
            escalated_by: "Sam <support>".into(),
            reason: "needs a decision from the program office".into(),
        }
    }

    #[test]
    fn the_card_matches_the_documented_schema_field_by_field() {
        let body = google_body(&message());
        assert_eq!(body["thread"]["threadKey"], "ticket-1042");
        let card = &body["cardsV2"][0];
        assert_eq!(card["cardId"], "ticket-1042");
        assert_eq!(card["card"]["header"]["title"], "#1042 Exam *portal* <down> for_all");
        assert_eq!(card["card"]["header"]["subtitle"], "escalated: urgent priority");
        let widgets = card["card"]["sections"][0]["widgets"].as_array().unwrap();
        let labelled: Vec<(&str, &str)> = widgets
            .iter()
            .map(|w| (w["decoratedText"]["topLabel"].as_str().unwrap(), w["decoratedText"]["text"].as_str().unwrap()))
            .collect();
        assert_eq!(
            labelled,
            [
                ("Priority", "urgent"),
                ("Status", "in progress"),
                ("Category", "Exams &amp; grades"),
                ("Votes", "31"),
                ("SLA", "at risk")
            ]
        );
        let escalation = card["card"]["sections"][1]["widgets"].as_array().unwrap();
        assert_eq!(escalation[0]["decoratedText"]["text"], "Sam &lt;support&gt;");
        assert_eq!(escalation[1]["textParagraph"]["text"], "needs a decision from the program office");
        let button = &escalation[2]["buttonList"]["buttons"][0];
        assert_eq!(button["onClick"]["openLink"]["url"], "https://help.uni.edu/tickets/1042");
        assert!(body["fallbackText"].as_str().unwrap().starts_with("#1042 "));
    }

    #[test]
    fn the_text_cannot_format_link_or_mention() {
        let text = google_body(&message())["text"].as_str().unwrap().to_owned();
        assert!(text.contains("*\u{200B}portal*\u{200B}"), "{text}");
        assert!(text.contains("&lt;down&gt;"), "{text}");
        assert!(text.contains("for_\u{200B}all"), "{text}");
        assert!(text.ends_with("<https://help.uni.edu/tickets/1042|Open ticket #1042>"), "{text}");
        assert_eq!(escape_text("<users/all>"), "&lt;users/all&gt;");
    }

    #[test]
    fn long_messages_are_cut_to_the_limit() {
        let mut m = message();
        m.reason = "€".repeat(20_000);
        let body = google_body(&m);
        assert!(body.to_string().len() <= MAX_MESSAGE_BYTES, "{} bytes", body.to_string().len());
        assert!(body["text"].as_str().unwrap().contains('…'));
    }

    #[test]
    fn the_url_asks_to_reply_in_the_thread_with_the_request_id() {
        let url = google_url("https://chat.googleapis.com/v1/spaces/S/messages?key=k&token=t", "job-7").unwrap();
        let query: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        assert_eq!(
            query,
            [
                ("key".into(), "k".into()),
                ("token".into(), "t".into()),
                ("messageReplyOption".into(), "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD".into()),
                ("requestId".into(), "job-7".into())
            ]
        );
    }
}

//! The emails' words: a subject, a plain-text part and an HTML part per kind.

use domain::notifications::{DigestItem, NotificationKind, OutgoingEmail};
use markup::Links;

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part (every inserted value escaped).
    pub html: String,
    /// Where the recipient changes which emails they get.
    pub preferences_url: String,
    /// The one-click unsubscribe link (this kind, or the digest), no sign-in needed; `None`
    /// for emails about the account itself, which are not optional.
    pub unsubscribe_url: Option<String>,
}

/// How an event reads after the ticket's name, without details.
fn headline(kind: NotificationKind) -> &'static str {
    match kind {
        NotificationKind::Resolved => "was resolved",
        NotificationKind::Reopened => "was reopened",
        NotificationKind::StatusChanged => "changed status",
        NotificationKind::PriorityChanged => "changed priority",
        NotificationKind::Reply => "has a new reply",
        NotificationKind::InternalNote => "has a new internal note",
        NotificationKind::Assigned => "was assigned to you",
        NotificationKind::Merged => "was merged into another ticket",
        NotificationKind::FaqPublished => "is answered in the FAQ",
        NotificationKind::ThreadReply => "has a new reply in its forum thread",
        NotificationKind::ThreadLike => "has a liked post in its forum thread",
        // Account emails have their own words (`crate::account`).
        NotificationKind::EmailConfirmation => "asks you to confirm your address",
        NotificationKind::AccountApproved => "was approved",
        NotificationKind::AccountRejected => "was not approved",
    }
}

fn ticket_link(links: &Links, ticket: Option<i64>) -> String {
    match ticket {
        Some(n) => links.ticket(n),
        None => links.home(),
    }
}

/// Renders a daily digest: one line per notification, each linking to its ticket.
fn render_digest(email: &OutgoingEmail, items: &[DigestItem], links: &Links) -> Rendered {
    let preferences_url = links.notification_preferences();
    let unsubscribe_url = links.unsubscribe(&email.unsubscribe_token);
    let subject =
        format!("[osts] Your daily digest: {} notification{}", items.len(), if items.len() == 1 { "" } else { "s" });
    let mut text =
        format!("Hello {},\n\nWhat happened on the tickets you watch since the last digest:\n\n", email.to_name);
    let mut list = String::new();
    for item in items {
        let number = item.ticket_id.map(|t| t.get());
        let title = item.ticket_title.clone().unwrap_or_default();
        let about = match number {
            Some(n) => format!("#{n} {title}"),
            None => title,
        };
        let link = ticket_link(links, number);
        let when = item.created_at.format("%Y-%m-%d %H:%M UTC");
        text.push_str(&format!("- {when}: {about} {}\n  {link}\n", headline(item.kind)));
        list.push_str(&format!(
            "<li>{when}: <a href=\"{link}\">{about}</a> {headline}</li>",
            link = escape(&link),
            about = escape(&about),
            headline = escape(headline(item.kind)),
        ));
    }
    text.push_str(&format!(
        "\n--\nYou get this digest because you chose a daily digest for these notifications.\n\
         Stop the digest (one click, no sign-in): {unsubscribe_url}\n\
         Choose which emails you get: {preferences_url}\n"
    ));
    let html = format!(
        "<!doctype html><html><body><p>Hello {name},</p><p>What happened on the tickets you watch since the last \
         digest:</p><ul>{list}</ul><hr><p><small>You get this digest because you chose a daily digest for these \
         notifications. <a href=\"{unsub}\">Stop the digest</a> (one click, no sign-in) or \
         <a href=\"{prefs}\">choose which emails you get</a>.</small></p></body></html>",
        name = escape(&email.to_name),
        unsub = escape(&unsubscribe_url),
        prefs = escape(&preferences_url),
    );
    Rendered { subject, text, html, preferences_url, unsubscribe_url: Some(unsubscribe_url) }
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    markup::escape_html(s)
}

/// Renders `email` with `links`.
pub fn render(email: &OutgoingEmail, links: &Links) -> Rendered {
    if let Some(rendered) = crate::account::render(email, links) {
        return rendered;
    }
    if let Some(items) = &email.digest {
        return render_digest(email, items, links);
    }
    let change: serde_json::Value = serde_json::from_str(&email.payload).unwrap_or(serde_json::Value::Null);
    let field = |name: &str| change.get(name).and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
    let number = email.ticket_id.map(|t| t.get());
    let title = email.ticket_title.clone().unwrap_or_default();
    let about = match number {
        Some(n) => format!("#{n} {title}"),
        None => title.clone(),
    };
    let (headline, detail) = match email.kind {
        NotificationKind::Resolved => ("was resolved".to_owned(), field("answer")),
        NotificationKind::Reopened => ("was reopened".to_owned(), field("reason")),
        NotificationKind::StatusChanged => (format!("is now {}", field("to").replace('_', " ")), String::new()),
        NotificationKind::PriorityChanged => (format!("now has priority {}", field("to")), String::new()),
        NotificationKind::Reply => ("has a new reply".to_owned(), String::new()),
        NotificationKind::InternalNote => ("has a new internal note".to_owned(), String::new()),
        NotificationKind::Assigned => ("was assigned to you".to_owned(), String::new()),
        NotificationKind::Merged => ("was merged into another ticket".to_owned(), String::new()),
        NotificationKind::FaqPublished => ("is answered in the FAQ".to_owned(), String::new()),
        NotificationKind::ThreadReply => {
            (format!("has a new reply in its forum thread by {}", field("username")), String::new())
        }
        NotificationKind::ThreadLike => {
            (format!("has a post in its forum thread liked by {}", field("username")), String::new())
        }
        // Rendered by `account::render` above.
        NotificationKind::EmailConfirmation | NotificationKind::AccountApproved | NotificationKind::AccountRejected => {
            (String::new(), String::new())
        }
    };
    let link = ticket_link(links, number);
    let preferences_url = links.notification_preferences();
    let unsubscribe_url = links.unsubscribe(&email.unsubscribe_token);
    let stop = email.kind.topic();
    let subject = format!("[osts] {about} {headline}");
    let mut text = format!("Hello {},\n\nTicket {about} {headline}.\n", email.to_name);
    if !detail.is_empty() {
        text.push_str(&format!("\n{detail}\n"));
    }
    text.push_str(&format!(
        "\nOpen the ticket: {link}\n\n--\nYou get this email because you watch this ticket.\n\
         Stop emails about {stop} (one click, no sign-in): {unsubscribe_url}\n\
         Choose which emails you get: {preferences_url}\n"
    ));
    let detail_html =
        if detail.is_empty() { String::new() } else { format!("<blockquote>{}</blockquote>", escape(&detail)) };
    let html = format!(
        "<!doctype html><html><body><p>Hello {name},</p><p>Ticket <strong>{about}</strong> {headline}.</p>{detail_html}\
         <p><a href=\"{link}\">Open the ticket</a></p><hr><p><small>You get this email because you watch this ticket. \
         <a href=\"{unsub}\">Stop emails about {stop}</a> (one click, no sign-in) or \
         <a href=\"{prefs}\">choose which emails you get</a>.</small></p></body></html>",
        name = escape(&email.to_name),
        about = escape(&about),
        headline = escape(&headline),
        link = escape(&link),
        prefs = escape(&preferences_url),
        unsub = escape(&unsubscribe_url),
        stop = escape(stop),
    );
    Rendered { subject, text, html, preferences_url, unsubscribe_url: Some(unsubscribe_url) }
}

#[cfg(test)]
mod tests {
    use domain::accounts::{Email, UserId};
    use domain::tickets::TicketId;

    use super::*;

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let email = OutgoingEmail {
            idempotency_key: "email:1".into(),
            recipient: UserId::new(1),
            to: Email::parse("a@uni.edu").unwrap(),
            to_name: "Ada <3".into(),
            kind: NotificationKind::Resolved,
            ticket_id: Some(TicketId::new(42)),
            ticket_title: Some("<script>alert(1)</script>".into()),
            payload: r#"{"kind":"resolved","answer":"Use \"room\" 4 & 5"}"#.into(),
            digest: None,
            unsubscribe_token: "v1.1.resolved.MAC".into(),
        };
        let r = render(&email, &markup::Links::new("https://osts.example"));
        assert!(r.subject.contains("#42 <script>"), "{}", r.subject);
        assert!(r.text.contains("Use \"room\" 4 & 5"));
        assert!(r.text.contains("https://osts.example/tickets/42"));
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains("&lt;script&gt;") && r.html.contains("Ada &lt;3") && r.html.contains("4 &amp; 5"));
        let unsubscribe = "https://osts.example/api/v1/unsubscribe?token=v1.1.resolved.MAC";
        assert_eq!(r.unsubscribe_url.as_deref(), Some(unsubscribe));
        assert!(r.text.contains(&format!("Stop emails about resolved tickets (one click, no sign-in): {unsubscribe}")));
        assert!(r.html.contains(&format!("<a href=\"{unsubscribe}\">Stop emails about resolved tickets</a>")));
    }

    #[test]
    fn a_digest_lists_each_notification_with_its_ticket_link() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-03-09T10:30:00Z").unwrap().with_timezone(&chrono::Utc);
        let item = |kind, n: i64, title: &str| DigestItem {
            kind,
            ticket_id: Some(TicketId::new(n)),
            ticket_title: Some(title.into()),
            created_at: at,
        };
        let email = OutgoingEmail {
            idempotency_key: "digest:1:2026-03-10".into(),
            recipient: UserId::new(1),
            to: Email::parse("a@uni.edu").unwrap(),
            to_name: "Ada".into(),
            kind: NotificationKind::Reply,
            ticket_id: Some(TicketId::new(7)),
            ticket_title: None,
            payload: "{}".into(),
            digest: Some(vec![
                item(NotificationKind::Reply, 7, "Wifi <down>"),
                item(NotificationKind::Resolved, 8, "Exam room"),
            ]),
            unsubscribe_token: "v1.1.digest.MAC".into(),
        };
        let r = render(&email, &markup::Links::new("https://osts.example"));
        assert_eq!(r.subject, "[osts] Your daily digest: 2 notifications");
        assert!(
            r.text.contains("- 2026-03-09 10:30 UTC: #7 Wifi <down> has a new reply\n  https://osts.example/tickets/7"),
            "{}",
            r.text
        );
        assert!(r.text.contains("#8 Exam room was resolved\n  https://osts.example/tickets/8"), "{}", r.text);
        assert!(r.html.contains("<a href=\"https://osts.example/tickets/7\">#7 Wifi &lt;down&gt;</a>"), "{}", r.html);
        let unsubscribe = "https://osts.example/api/v1/unsubscribe?token=v1.1.digest.MAC";
        assert!(r.text.contains(unsubscribe) && r.html.contains(unsubscribe));
    }
}

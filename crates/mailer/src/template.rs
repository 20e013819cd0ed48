//! The emails' words: a subject, a plain-text part and an HTML part per kind.

use domain::notifications::{NotificationKind, OutgoingEmail};

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
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders `email` with links under `public_url`.
pub fn render(email: &OutgoingEmail, public_url: &str) -> Rendered {
    if let Some(rendered) = crate::account::render(email, public_url) {
        return rendered;
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
        // Rendered by `account::render` above.
        NotificationKind::EmailConfirmation | NotificationKind::AccountApproved | NotificationKind::AccountRejected => {
            (String::new(), String::new())
        }
    };
    let link = match number {
        Some(n) => format!("{public_url}/api/v1/tickets/{n}"),
        None => public_url.to_owned(),
    };
    let preferences_url = format!("{public_url}/api/v1/me/notification-preferences");
    let subject = format!("[osts] {about} {headline}");
    let mut text = format!("Hello {},\n\nTicket {about} {headline}.\n", email.to_name);
    if !detail.is_empty() {
        text.push_str(&format!("\n{detail}\n"));
    }
    text.push_str(&format!(
        "\nOpen the ticket: {link}\n\n--\nYou get this email because you watch this ticket.\n\
         Choose which emails you get: {preferences_url}\n"
    ));
    let detail_html =
        if detail.is_empty() { String::new() } else { format!("<blockquote>{}</blockquote>", escape(&detail)) };
    let html = format!(
        "<!doctype html><html><body><p>Hello {name},</p><p>Ticket <strong>{about}</strong> {headline}.</p>{detail_html}\
         <p><a href=\"{link}\">Open the ticket</a></p><hr><p><small>You get this email because you watch this ticket. \
         <a href=\"{prefs}\">Choose which emails you get</a>.</small></p></body></html>",
        name = escape(&email.to_name),
        about = escape(&about),
        headline = escape(&headline),
        link = escape(&link),
        prefs = escape(&preferences_url),
    );
    Rendered { subject, text, html, preferences_url }
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
        };
        let r = render(&email, "https://osts.example");
        assert!(r.subject.contains("#42 <script>"), "{}", r.subject);
        assert!(r.text.contains("Use \"room\" 4 & 5"));
        assert!(r.text.contains("https://osts.example/api/v1/tickets/42"));
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains("&lt;script&gt;") && r.html.contains("Ada &lt;3") && r.html.contains("4 &amp; 5"));
    }
}

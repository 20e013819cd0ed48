//! The words of the emails about an account itself: the confirmation link, approval and
//! rejection. They have no ticket.

use domain::notifications::{NotificationKind, OutgoingEmail};
use markup::Links;

use crate::template::{escape, Rendered};

/// The email for an account kind; `None` for ticket kinds.
pub fn render(email: &OutgoingEmail, links: &Links) -> Option<Rendered> {
    let payload: serde_json::Value = serde_json::from_str(&email.payload).unwrap_or(serde_json::Value::Null);
    let field = |name: &str| payload.get(name).and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
    let preferences_url = links.notification_preferences();
    let sign_in = links.home();
    let (subject, lines, link, why) = match email.kind {
        NotificationKind::EmailConfirmation => (
            "[osts] Confirm your email address".to_owned(),
            vec![
                "Please confirm the email address of your new osts account. The link works once, for 24 hours."
                    .to_owned(),
                "If you did not register, ignore this email: nothing happens without the link.".to_owned(),
            ],
            (links.confirm_email(&field("token")), "Confirm my email address"),
            "You get this email because this address was used to register at osts.",
        ),
        NotificationKind::AccountApproved => (
            "[osts] Your account is approved".to_owned(),
            vec![if payload.get("automatic").and_then(serde_json::Value::as_bool).unwrap_or(false) {
                "Your confirmed address approved your osts account: you can sign in and raise tickets now.".to_owned()
            } else {
                "An admin approved your osts account: you can sign in and raise tickets now.".to_owned()
            }],
            (sign_in, "Sign in"),
            "You get this email because you registered at osts.",
        ),
        NotificationKind::AccountRejected => (
            "[osts] Your account was not approved".to_owned(),
            vec!["An admin did not approve your osts account.".to_owned(), format!("Reason: {}", field("reason"))],
            (sign_in, "osts"),
            "You get this email because you registered at osts.",
        ),
        NotificationKind::Resolved
        | NotificationKind::Reopened
        | NotificationKind::StatusChanged
        | NotificationKind::PriorityChanged
        | NotificationKind::Reply
        | NotificationKind::InternalNote
        | NotificationKind::Assigned
        | NotificationKind::Merged
        | NotificationKind::FaqPublished
        | NotificationKind::ThreadReply
        | NotificationKind::ThreadLike => return None,
    };
    let (url, label) = link;
    let mut text = format!("Hello {},\n\n", email.to_name);
    for line in &lines {
        text.push_str(line);
        text.push_str("\n\n");
    }
    text.push_str(&format!("{label}: {url}\n\n--\n{why}\n"));
    let paragraphs: String = lines.iter().map(|l| format!("<p>{}</p>", escape(l))).collect();
    let html = format!(
        "<!doctype html><html><body><p>Hello {name},</p>{paragraphs}<p><a href=\"{url}\">{label}</a></p>\
         <hr><p><small>{why}</small></p></body></html>",
        name = escape(&email.to_name),
        url = escape(&url),
        label = escape(label),
        why = escape(why),
    );
    Some(Rendered { subject, text, html, preferences_url, unsubscribe_url: None })
}

#[cfg(test)]
mod tests {
    use domain::accounts::{Email, UserId};

    use super::*;

    fn email(kind: NotificationKind, payload: &str) -> OutgoingEmail {
        OutgoingEmail {
            idempotency_key: "email:9".into(),
            recipient: UserId::new(1),
            to: Email::parse("ada@uni.edu").unwrap(),
            to_name: "Ada".into(),
            kind,
            ticket_id: None,
            ticket_title: None,
            payload: payload.into(),
            digest: None,
            unsubscribe_token: "signed".into(),
        }
    }

    #[test]
    fn the_confirmation_email_carries_the_link_in_both_parts() {
        let e = email(NotificationKind::EmailConfirmation, r#"{"kind":"email_confirmation","token":"Ab-_9"}"#);
        let r = crate::render(&e, &markup::Links::new("https://osts.example"));
        let link = "https://osts.example/api/v1/auth/confirm?token=Ab-_9";
        assert_eq!(r.subject, "[osts] Confirm your email address");
        assert_eq!(r.unsubscribe_url, None, "an email about the account itself is not optional");
        assert!(r.text.contains(link), "{}", r.text);
        assert!(r.html.contains(&format!("href=\"{link}\"")), "{}", r.html);
    }

    #[test]
    fn decisions_say_what_was_decided() {
        let approved = crate::render(
            &email(NotificationKind::AccountApproved, r#"{"automatic":true}"#),
            &markup::Links::new("https://o.x"),
        );
        assert!(approved.subject.contains("approved") && approved.text.contains("confirmed address"));
        let rejected = crate::render(
            &email(NotificationKind::AccountRejected, r#"{"reason":"not <enrolled>"}"#),
            &markup::Links::new("https://o.x"),
        );
        assert!(rejected.text.contains("Reason: not <enrolled>"));
        assert!(rejected.html.contains("not &lt;enrolled&gt;"));
    }

    #[test]
    fn ticket_kinds_are_left_to_the_ticket_template() {
        assert!(render(&email(NotificationKind::Resolved, "{}"), &markup::Links::new("https://o.x")).is_none());
    }
}

//! Every URL osts shows a person (in emails, notifications and pages), from one value the
//! server builds from `OSTS_PUBLIC_URL`, so that where they lead changes in one place.

/// The links shown to people, absolute under the public URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    base: String,
}

impl Links {
    /// Links under `public_url` (a trailing `/` is ignored).
    pub fn new(public_url: &str) -> Self {
        Self { base: public_url.trim_end_matches('/').to_owned() }
    }

    /// The public URL itself, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Where people start (and sign in).
    pub fn home(&self) -> String {
        format!("{}/", self.base)
    }

    /// One ticket, by its number.
    pub fn ticket(&self, number: i64) -> String {
        format!("{}/api/v1/tickets/{number}", self.base)
    }

    /// The page that confirms an email address with its one-time token.
    pub fn confirm_email(&self, token: &str) -> String {
        format!("{}/api/v1/auth/confirm?token={token}", self.base)
    }

    /// The one-click unsubscribe page for a signed token (URL-safe as it is).
    pub fn unsubscribe(&self, token: &str) -> String {
        format!("{}/api/v1/unsubscribe?token={token}", self.base)
    }

    /// Where a person chooses which notifications they get by email.
    pub fn notification_preferences(&self) -> String {
        format!("{}/api/v1/me/notification-preferences", self.base)
    }

    /// One published FAQ entry.
    pub fn faq_entry(&self, id: i64) -> String {
        format!("{}/api/v1/faq/{id}", self.base)
    }

    /// The interactive API documentation.
    pub fn api_docs(&self) -> String {
        format!("{}/api/docs", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::Links;

    #[test]
    fn links_are_absolute_under_the_public_url() {
        let links = Links::new("https://help.uni.edu/");
        assert_eq!(links.base(), "https://help.uni.edu");
        assert_eq!(links.home(), "https://help.uni.edu/");
        assert_eq!(links.ticket(1042), "https://help.uni.edu/api/v1/tickets/1042");
        assert!(links.confirm_email("abc").ends_with("confirm?token=abc"));
        assert!(links.unsubscribe("t.k").starts_with("https://help.uni.edu/"));
    }
}

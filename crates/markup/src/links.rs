//! Every URL osts shows a person (in emails, notifications and pages), from one value the
//! server builds from `OSTS_PUBLIC_URL`, so that where they lead changes in one place. They
//! open pages of the web app (the `web` crate); the email confirmation and unsubscribe links
//! open the small pages the API serves for them.

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
        format!("{}/tickets/{number}", self.base)
    }

    /// The page that confirms an email address with its one-time token.
    pub fn confirm_email(&self, token: &str) -> String {
        format!("{}/api/v1/auth/confirm?token={token}", self.base)
    }

    /// The one-click unsubscribe page for a signed token (URL-safe as it is).
    pub fn unsubscribe(&self, token: &str) -> String {
        format!("{}/api/v1/unsubscribe?token={token}", self.base)
    }

    /// Where a person chooses which notifications they get by email (their profile page).
    pub fn notification_preferences(&self) -> String {
        format!("{}/profile", self.base)
    }

    /// One published FAQ entry, on the FAQ page.
    pub fn faq_entry(&self, id: i64) -> String {
        format!("{}/faq#faq-{id}", self.base)
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
        assert_eq!(links.ticket(1042), "https://help.uni.edu/tickets/1042");
        assert_eq!(links.notification_preferences(), "https://help.uni.edu/profile");
        assert_eq!(links.faq_entry(3), "https://help.uni.edu/faq#faq-3");
        assert!(links.confirm_email("abc").ends_with("confirm?token=abc"));
        assert!(links.unsubscribe("t.k").starts_with("https://help.uni.edu/"));
    }
}

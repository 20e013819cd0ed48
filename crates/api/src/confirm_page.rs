//! The small HTML page an email confirmation link opens. Opening it changes nothing (mail
//! scanners fetch links); its button posts the token.

/// The page for a link's `token`, or for the `result` of a posted form.
pub fn render(token: Option<&str>, result: Option<&str>) -> String {
    let body = match (result, token) {
        (Some(result), _) => format!("<p>{}</p>", markup::escape_html(outcome(result))),
        (None, Some(token)) if !token.trim().is_empty() => format!(
            "<p>Confirm the email address of your osts account.</p>\
             <form method=\"post\" action=\"/api/v1/auth/confirm\">\
             <input type=\"hidden\" name=\"token\" value=\"{}\">\
             <button type=\"submit\">Confirm my email address</button></form>",
            markup::escape_html(token.trim())
        ),
        (None, _) => "<p>This page needs the link from your confirmation email.</p>".to_owned(),
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>Confirm your email address · osts</title></head><body><h1>osts</h1>{body}</body></html>"
    )
}

/// What a result code means for the person who clicked.
fn outcome(result: &str) -> &'static str {
    match result {
        "confirmed" => "Your email address is confirmed. You can sign in now (if your account still needs an admin's approval, you will get an email when it is approved).",
        "confirmation_used" => "This link was used already: your address is confirmed. You can sign in.",
        "confirmation_expired" => "This link has expired. Ask for a new one from the sign-in page.",
        "confirmation_invalid" | "confirmation_not_found" => "This link is not valid (a newer one may have replaced it). Use the latest link, or ask for a new one.",
        _ => "Something went wrong. Please try again, or ask for a new link.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_escaped_into_a_form_that_posts_it() {
        let page = render(Some("abc\"><script>"), None);
        assert!(page.contains("method=\"post\" action=\"/api/v1/auth/confirm\""));
        assert!(page.contains("value=\"abc&quot;&gt;&lt;script&gt;\""));
        assert!(!page.contains("<script>"));
    }

    #[test]
    fn results_are_explained_and_unknown_ones_are_not_echoed() {
        assert!(render(None, Some("confirmed")).contains("is confirmed"));
        assert!(render(None, Some("confirmation_expired")).contains("expired"));
        let page = render(Some("t"), Some("<b>xyzzy</b>"));
        assert!(!page.contains("xyzzy") && page.contains("Something went wrong"));
    }
}

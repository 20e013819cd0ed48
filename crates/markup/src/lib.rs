//! What the API, the emails and the web pages show people, made in one place: Markdown
//! rendered to sanitised HTML ([`markdown_to_html`]), text escaped for HTML
//! ([`escape_html`]) and every URL shown to a person ([`Links`]).

mod links;
mod markdown;

pub use links::Links;
pub use markdown::sanitize as sanitize_html;
pub use markdown::to_html as markdown_to_html;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::escape_html;

    #[test]
    fn escapes_what_could_open_a_tag_or_leave_an_attribute() {
        assert_eq!(
            escape_html(r#"<a href="x" title='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(escape_html("plain"), "plain");
    }
}

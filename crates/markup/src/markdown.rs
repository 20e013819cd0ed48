//! Markdown to safe HTML: pulldown-cmark renders, ammonia removes anything that could run
//! or restyle the page (scripts, event handlers, `javascript:` links, raw HTML it does not
//! know), and links get `rel="noopener noreferrer nofollow"`.

use std::sync::OnceLock;

use pulldown_cmark::{html, Options, Parser};

fn cleaner() -> &'static ammonia::Builder<'static> {
    static CLEANER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    CLEANER.get_or_init(|| {
        let mut b = ammonia::Builder::default();
        b.link_rel(Some("noopener noreferrer nofollow")).url_schemes(["http", "https", "mailto"].into());
        b
    })
}

/// Renders user Markdown to sanitised HTML.
pub fn to_html(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut raw, Parser::new_ext(markdown, options));
    cleaner().clean(&raw).to_string()
}

#[cfg(test)]
mod tests {
    use super::to_html;

    #[test]
    fn markdown_renders() {
        assert_eq!(to_html("**quiz 2**"), "<p><strong>quiz 2</strong></p>\n");
        assert!(to_html("| a |\n|---|\n| b |").contains("<table>"));
    }

    #[test]
    fn scripts_and_handlers_never_survive() {
        for hostile in [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "[click](javascript:alert(1))",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<iframe src=\"https://evil.example\"></iframe>",
            "<div style=\"position:fixed\">x</div>",
        ] {
            let html = to_html(hostile).to_lowercase();
            for bad in ["<script", "onerror", "javascript:", "<iframe", "style="] {
                assert!(!html.contains(bad), "{hostile:?} rendered as {html:?}");
            }
        }
    }

    #[test]
    fn links_are_marked_external() {
        let html = to_html("[docs](https://example.org)");
        assert!(html.contains("rel=\"noopener noreferrer nofollow\""), "{html}");
    }
}

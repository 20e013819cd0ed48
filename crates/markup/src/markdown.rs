//! Markdown to safe HTML: pulldown-cmark renders, ammonia removes anything that could run
//! or restyle the page (scripts, event handlers, `javascript:` links, raw HTML it does not
//! know), and links get `rel="noopener noreferrer nofollow"`.
//!
//! Images load only from osts itself (attachments, `/api/v1/attachments/{id}`): a remote
//! image is a tracking pixel for everyone who opens the ticket. A Markdown image elsewhere is
//! rendered as a link to it (its alt text, or its address, as the text), and an `<img>`
//! written in HTML loses its remote `src`.

use std::borrow::Cow;
use std::sync::OnceLock;

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag, TagEnd};

/// The path of an attachment's download, the only place images may load from.
const ATTACHMENTS: &str = "/api/v1/attachments/";

/// Whether an image at `url` may be loaded: a same-origin attachment download.
fn is_local_image(url: &str) -> bool {
    url.strip_prefix(ATTACHMENTS).is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

fn cleaner() -> &'static ammonia::Builder<'static> {
    static CLEANER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    CLEANER.get_or_init(|| {
        let mut b = ammonia::Builder::default();
        b.link_rel(Some("noopener noreferrer nofollow"))
            .url_schemes(["http", "https", "mailto"].into())
            .rm_tag_attributes("img", &["srcset"])
            .attribute_filter(|element, attribute, value| match (element, attribute) {
                ("img", "src") if !is_local_image(value) => None,
                _ => Some(Cow::Borrowed(value)),
            });
        b
    })
}

/// Turns images that are not attachments into links to them, so that rendering loads
/// nothing from elsewhere and the reader still sees (and may follow) what was shown.
fn remote_images_as_links<'a>(events: impl Iterator<Item = Event<'a>>) -> Vec<Event<'a>> {
    let mut out = Vec::new();
    // For each open image: `Some((index of its start, address))` if it became a link.
    let mut open: Vec<Option<(usize, CowStr<'a>)>> = Vec::new();
    for event in events {
        match event {
            Event::Start(Tag::Image { link_type, dest_url, title, id }) if !is_local_image(&dest_url) => {
                open.push(Some((out.len(), dest_url.clone())));
                out.push(Event::Start(Tag::Link { link_type, dest_url, title, id }));
            }
            Event::Start(image @ Tag::Image { .. }) => {
                open.push(None);
                out.push(Event::Start(image));
            }
            Event::End(TagEnd::Image) => match open.pop().flatten() {
                Some((start, dest_url)) => {
                    if out.len() == start + 1 {
                        out.push(Event::Text(dest_url));
                    }
                    out.push(Event::End(TagEnd::Link));
                }
                None => out.push(Event::End(TagEnd::Image)),
            },
            other => out.push(other),
        }
    }
    out
}

/// Sanitises HTML made elsewhere (a forum post as Discourse rendered it) with the same rules
/// as rendered Markdown: no scripts, handlers or styles, links marked external, remote
/// images dropped.
pub fn sanitize(html: &str) -> String {
    cleaner().clean(html).to_string()
}

/// Renders user Markdown to sanitised HTML.
pub fn to_html(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut raw, remote_images_as_links(Parser::new_ext(markdown, options)).into_iter());
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

    #[test]
    fn remote_images_become_links() {
        let cases = [
            (
                "![pixel](https://tracker.example/p.gif)",
                "<p><a href=\"https://tracker.example/p.gif\" rel=\"noopener noreferrer nofollow\">pixel</a></p>\n",
            ),
            (
                "![](https://tracker.example/p.gif)",
                "<p><a href=\"https://tracker.example/p.gif\" rel=\"noopener noreferrer nofollow\">https://tracker.example/p.gif</a></p>\n",
            ),
            (
                "![a](//tracker.example/p.gif \"t\")",
                "<p><a href=\"//tracker.example/p.gif\" title=\"t\" rel=\"noopener noreferrer nofollow\">a</a></p>\n",
            ),
        ];
        for (markdown, expected) in cases {
            assert_eq!(to_html(markdown), expected, "{markdown}");
        }
        for hostile in [
            "<img src=\"https://tracker.example/p.gif\">",
            "<img src=\"//tracker.example/p.gif\">",
            "<img srcset=\"https://tracker.example/p.gif 1x\" src=\"/api/v1/attachments/1\">",
            "<img src=\"/api/v1/attachments/1/../../../tracker\">",
            "![x](/api/v1/attachments/1?u=https://tracker.example)",
            "[![x](https://tracker.example/p.gif)](https://example.org)",
        ] {
            let html = to_html(hostile);
            assert!(!html.contains("<img src=\"https:") && !html.contains("<img src=\"//"), "{hostile:?}: {html}");
            assert!(!html.contains("srcset") && !html.contains("tracker\""), "{hostile:?}: {html}");
            assert!(
                !html.contains("<img")
                    || html.matches("src=").count() == html.matches("src=\"/api/v1/attachments/1\"").count(),
                "{hostile:?}: {html}"
            );
        }
    }

    #[test]
    fn attachments_still_show_as_images() {
        assert_eq!(
            to_html("![scan](/api/v1/attachments/12)"),
            "<p><img src=\"/api/v1/attachments/12\" alt=\"scan\"></p>\n"
        );
        assert_eq!(
            to_html("<img src=\"/api/v1/attachments/7\" alt=\"x\">"),
            "<img src=\"/api/v1/attachments/7\" alt=\"x\">"
        );
    }
}

//! Guideline Markdown to HTML, safely: raw HTML in the source is shown as text, and links or
//! images with any scheme but http, https and mailto (e.g. `javascript:`) lose their target.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};

/// Renders Markdown (CommonMark with tables, strikethrough and task lists) to HTML that is safe
/// to insert into a page.
pub fn render(markdown: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut out, events);
    out
}

fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let lower: String = url
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect::<String>()
        .to_ascii_lowercase();
    let scheme = lower
        .split_once(':')
        .map(|(s, _)| s)
        .filter(|s| !s.contains('/') && !s.contains('?') && !s.contains('#'));
    match scheme {
        None => url,
        Some("http" | "https" | "mailto") => url,
        Some(_) => CowStr::Borrowed("#"),
    }
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn formats_markdown() {
        let html = render("# Title\n\n*Be* **brief**.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("<em>Be</em>"));
        assert!(html.contains("<table>"));
    }

    #[test]
    fn raw_html_is_text() {
        for src in [
            "<script>alert(1)</script>",
            "hello <img src=x onerror=alert(1)> world",
            "<div onclick=\"alert(1)\">x</div>",
        ] {
            let html = render(src);
            assert!(!html.contains("<script"), "{html}");
            assert!(!html.contains("<img"), "{html}");
            assert!(!html.contains("<div"), "{html}");
            assert!(html.contains("&lt;"), "{html}");
        }
    }

    #[test]
    fn dangerous_links_lose_their_target() {
        let html = render(
            "[x](javascript:alert(1)) [y](JaVaScRiPt:alert(1)) ![i](data:text/html,x) [ok](https://example.org/a) [rel](#examples)",
        );
        assert!(!html.to_lowercase().contains("javascript:"), "{html}");
        assert!(!html.contains("data:"), "{html}");
        assert!(html.contains("href=\"https://example.org/a\""));
        assert!(html.contains("href=\"#examples\""));
    }
}

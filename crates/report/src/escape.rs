//! HTML escaping: [`escape_html`] and the same rules as the templates' escaper.

use std::fmt;

/// Escapes text for HTML/SVG element content and quoted attribute values
/// (`&`, `<`, `>`, `"`, `'`).
///
/// The templates escape every `{{ value }}` with these same rules ([`Html`]).
///
/// ```
/// assert_eq!(goodhart_report::escape_html(r#"<a href="x">'&'</a>"#),
///            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
/// ```
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    // Writing into a String cannot fail.
    let _ = write_escaped(&mut out, s);
    out
}

fn write_escaped<W: fmt::Write>(mut dest: W, s: &str) -> fmt::Result {
    let mut last = 0;
    for (i, ch) in s.char_indices() {
        let entity = match ch {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&#39;",
            _ => continue,
        };
        dest.write_str(&s[last..i])?;
        dest.write_str(entity)?;
        last = i + ch.len_utf8();
    }
    dest.write_str(&s[last..])
}

/// The templates' escaper (configured in the crate's `askama.toml` for `.html`
/// templates): askama's own writes numeric entities (`&#60;`), this one the
/// named entities of [`escape_html`], so the page's bytes did not change when
/// it moved to templates.
#[derive(Debug, Clone, Copy, Default)]
pub struct Html;

impl askama::filters::Escaper for Html {
    fn write_escaped_str<W: fmt::Write>(&self, dest: W, string: &str) -> fmt::Result {
        write_escaped(dest, string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_all_special_characters() {
        assert_eq!(escape_html("a&b"), "a&amp;b");
        assert_eq!(escape_html("<x>"), "&lt;x&gt;");
        assert_eq!(escape_html(r#""'"#), "&quot;&#39;");
        assert_eq!(escape_html("plain ü"), "plain ü");
        assert_eq!(escape_html("ü<ü"), "ü&lt;ü");
    }
}

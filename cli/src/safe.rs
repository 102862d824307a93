//! Text from outside keeperdb (a plugin, a vault record, a file, a manifest) made safe at the
//! one place it reaches the terminal. Odd characters are escaped, never dropped, so a user can
//! still see that something is odd: control characters (escape sequences, carriage returns,
//! line feeds that would draw a fake row or erase a prompt line), bidi overrides and
//! invisible characters. Long text is cut, saying how much was left out.

/// Longest table cell or one-line value.
pub const FIELD: usize = 120;
/// Longest free text: a description, a message.
pub const MESSAGE: usize = 1000;

/// `s` escaped for a terminal and cut at `max` characters.
pub fn text(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 2));
    let mut chars = s.chars();
    for (shown, c) in chars.by_ref().enumerate() {
        if shown == max {
            let left = 1 + chars.count();
            out.push_str(&format!("… ({left} more characters)"));
            return out;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || invisible(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// An optional value, escaped; empty when absent.
pub fn opt(s: Option<&str>) -> String {
    s.map(|s| text(s, FIELD)).unwrap_or_default()
}

/// Characters that change how text around them is shown without showing themselves: bidi
/// controls (which can make `txt.exe` read as `exe.txt`), zero-width and other format
/// characters, and the Unicode line and paragraph separators.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
        | '\u{180b}'..='\u{180f}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}'
        | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}' | '\u{ffa0}'
        | '\u{fff9}'..='\u{fffb}'
        | '\u{1d173}'..='\u{1d17a}'
        | '\u{e0000}'..='\u{e007f}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_would_move_the_cursor_or_hide_itself_and_keeps_the_rest() {
        assert_eq!(text("prod db", FIELD), "prod db");
        assert_eq!(text("ü→ 東京", FIELD), "ü→ 東京");
        assert_eq!(text("a\nb\rc\td", FIELD), "a\\nb\\rc\\td");
        assert_eq!(text("\u{1b}[2K\u{1b}[1A", FIELD), "\\u{1b}[2K\\u{1b}[1A");
        assert_eq!(text("x\u{9b}y\u{7f}", FIELD), "x\\u{9b}y\\u{7f}");
        assert_eq!(text("evil\u{202e}txt.exe", FIELD), "evil\\u{202e}txt.exe");
        assert_eq!(
            text("pro\u{200b}d\u{feff}", FIELD),
            "pro\\u{200b}d\\u{feff}"
        );
        // A literal backslash cannot pass for an escape.
        assert_eq!(text("a\\nb", FIELD), "a\\\\nb");
    }

    #[test]
    fn long_text_is_cut_saying_how_much_was_left_out() {
        let name = "x".repeat(1 << 20);
        let shown = text(&name, FIELD);
        assert!(shown.starts_with(&"x".repeat(FIELD)));
        assert!(shown.ends_with(&format!("… ({} more characters)", (1 << 20) - FIELD)));
        assert_eq!(text(&"x".repeat(FIELD), FIELD), "x".repeat(FIELD));
    }
}

//! Quoting text inside a cell: JSON strings (control characters escaped) and the elements of
//! PostgreSQL array text.

use std::fmt::Write as _;

/// Quote a string as JSON.
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// array_out's rule: quote empty strings, `NULL`, and anything with delimiters, quotes,
/// backslashes or white space.
pub(super) fn pg_array_needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.eq_ignore_ascii_case("null")
        || s.chars().any(|c| {
            matches!(
                c,
                '{' | '}' | ',' | '"' | '\\' | ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'
            )
        })
}

/// An array element quoted as array_out quotes it: inside `"`, with `"` and `\` backslashed.
pub(super) fn push_pg_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_elements_are_quoted_like_array_out() {
        assert!(pg_array_needs_quotes(""));
        assert!(pg_array_needs_quotes("NULL"));
        assert!(pg_array_needs_quotes("a b"));
        assert!(pg_array_needs_quotes("a,b"));
        assert!(!pg_array_needs_quotes("plain"));
        assert!(!pg_array_needs_quotes("héllo"));
    }
}

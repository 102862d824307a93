//! Untrusted text from a plugin, made safe for a terminal and a log line.

/// Longest message kept; more would only flood the log or the screen.
const MAX_LOG_CHARS: usize = 1024;

/// Control characters (but newlines) blanked, and the text cut at [`MAX_LOG_CHARS`].
pub(crate) fn sanitize(message: &str) -> String {
    let mut out: String = message
        .chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .take(MAX_LOG_CHARS)
        .collect();
    if message.chars().count() > MAX_LOG_CHARS {
        out.push('…');
    }
    out
}

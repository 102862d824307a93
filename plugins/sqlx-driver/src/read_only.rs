//! Keeping a read-only connection read-only. PostgreSQL and MariaDB sessions start read-only
//! (`default_transaction_read_only`, `SET SESSION TRANSACTION READ ONLY`), but a statement can
//! switch that off (`BEGIN; SET TRANSACTION READ WRITE; ...`, `SET transaction_read_only`,
//! `set_config(...)`). So on a read-only connection the driver refuses every statement that
//! names the switch, and puts the session back to read-only before each statement, which
//! undoes a switch made by means no text check can see (SQL built at run time).

use keeperdb_driver_sdk::{DriverError, ErrorKind};

/// Refuse `sql` if it could make the session writable: the words READ WRITE in the code, or
/// the read-only settings' names anywhere (code, quoted identifiers, string literals).
/// Errs on the side of refusing: `SELECT 'read write'` is refused too, since only the code
/// outside literals is searched for the words, but names are searched everywhere.
pub fn check(sql: &str) -> Result<(), DriverError> {
    let scan = scan(sql);
    let words = scan.code_words;
    let switches_mode = words.windows(2).any(|w| w[0] == "READ" && w[1] == "WRITE");
    let names_setting = scan.texts.iter().chain(&words).any(|t| {
        let t = t.to_ascii_lowercase();
        t.contains("transaction_read_only") || t.contains("tx_read_only")
    });
    if switches_mode || names_setting {
        return Err(DriverError::new(
            ErrorKind::Query,
            "this connection is read-only: statements that change the read-only mode \
             (READ WRITE, transaction_read_only) are refused",
        ));
    }
    Ok(())
}

/// The SQL that puts a session back to read-only, run before each statement.
pub fn restore_sql(engine: &str) -> Option<&'static str> {
    match engine {
        "postgres" | "postgresql" => Some("SET default_transaction_read_only = on"),
        "mysql" | "mariadb" => Some("SET SESSION TRANSACTION READ ONLY"),
        // SQLite opens the file read-only; no statement can lift that.
        _ => None,
    }
}

#[derive(Default)]
struct Scan {
    /// Upper-case words of the code outside literals and comments; an empty one for each
    /// punctuation mark, and for each literal.
    code_words: Vec<String>,
    /// The contents of string literals and quoted identifiers.
    texts: Vec<String>,
}

/// Split SQL into code words and quoted texts, skipping comments: `'...'` (with `''` and
/// backslash escapes), `"..."`, `` `...` ``, `$tag$...$tag$`, `-- ...`, `# ...` and nested
/// `/* ... */`. Any unclosed literal or comment runs to the end.
fn scan(sql: &str) -> Scan {
    let b = sql.as_bytes();
    let mut out = Scan::default();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Scan| {
        if !word.is_empty() {
            out.code_words
                .push(std::mem::take(word).to_ascii_uppercase());
        }
    };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        match c {
            b'\'' | b'"' | b'`' => {
                flush(&mut word, &mut out);
                let mut text = Vec::new();
                i += 1;
                while i < b.len() {
                    if b[i] == b'\\' && c == b'\'' && i + 1 < b.len() {
                        text.push(b[i + 1]);
                        i += 2;
                        continue;
                    }
                    if b[i] == c {
                        if b.get(i + 1) == Some(&c) {
                            text.push(c);
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    text.push(b[i]);
                    i += 1;
                }
                out.texts.push(String::from_utf8_lossy(&text).into_owned());
                out.code_words.push(String::new());
                i += 1;
            }
            b'-' if next == Some(b'-') => {
                flush(&mut word, &mut out);
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'#' => {
                flush(&mut word, &mut out);
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if next == Some(b'*') => {
                flush(&mut word, &mut out);
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'$' if word.is_empty() => {
                // A dollar quote: `$tag$` with an optional identifier tag.
                let tag_end = b[i + 1..]
                    .iter()
                    .position(|x| !(x.is_ascii_alphanumeric() || *x == b'_'))
                    .map(|p| i + 1 + p);
                match tag_end {
                    Some(end) if b[end] == b'$' => {
                        let tag = &b[i..=end];
                        let body_start = end + 1;
                        let body_end = b[body_start..]
                            .windows(tag.len())
                            .position(|w| w == tag)
                            .map_or(b.len(), |p| body_start + p);
                        out.texts
                            .push(String::from_utf8_lossy(&b[body_start..body_end]).into_owned());
                        i = (body_end + tag.len()).min(b.len());
                    }
                    _ => i += 1,
                }
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 => {
                word.push(c as char);
                i += 1;
            }
            c => {
                flush(&mut word, &mut out);
                // Punctuation separates words (`read, write` is two columns); whitespace and
                // comments do not.
                if !c.is_ascii_whitespace() {
                    out.code_words.push(String::new());
                }
                i += 1;
            }
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn every_way_of_naming_the_switch_is_refused() {
        for sql in [
            "begin; set transaction read write; create table t (a int); commit",
            "START TRANSACTION READ\n  WRITE",
            "BEGIN READ/* a comment */WRITE",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
            "set default_transaction_read_only = off",
            "SET \"transaction_read_only\" TO off",
            "select set_config('default_transaction_read_only', 'off', false)",
            "SELECT set_config($$transaction_read_only$$, 'off', false)",
            "SET @@session.tx_read_only = 0",
            "SET SESSION TRANSACTION READ WRITE",
        ] {
            assert!(check(sql).is_err(), "{sql}");
        }
    }

    #[test]
    fn ordinary_statements_pass() {
        for sql in [
            "SELECT 1",
            "select read, write from t",
            "SELECT 'x' -- read write\n",
            "SELECT 'it''s' AS s, $a$ body $a$, `col` FROM t /* write */",
            "SELECT $1::text",
        ] {
            assert!(check(sql).is_ok(), "{sql}");
        }
    }
}

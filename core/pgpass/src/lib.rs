//! libpq's password file (`~/.pgpass`, or `$PGPASSFILE`): its format, its permission rule and its
//! lookup, with no I/O, so the pgpass plugin (built for wasm32) and the host's ad-hoc PostgreSQL
//! connections read it the same way, and it is tested natively.
#![warn(missing_docs)]

/// One field of an entry: `*` (matches anything) or a value, unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// The field was exactly `*`.
    Any,
    /// A literal value (escapes removed).
    Value(String),
}

impl Field {
    /// Whether the field is the `*` wildcard.
    pub fn is_wildcard(&self) -> bool {
        matches!(self, Field::Any)
    }

    /// The literal value, if not a wildcard.
    pub fn value(&self) -> Option<&str> {
        match self {
            Field::Any => None,
            Field::Value(v) => Some(v),
        }
    }

    fn matches(&self, token: &str) -> bool {
        match self {
            Field::Any => true,
            Field::Value(v) => v == token,
        }
    }
}

/// One `hostname:port:database:username:password` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number.
    pub line: usize,
    /// Host name (or socket directory).
    pub host: Field,
    /// Port, as text (libpq compares it as text).
    pub port: Field,
    /// Database.
    pub database: Field,
    /// User name.
    pub user: Field,
    /// Password, unescaped.
    pub password: String,
    raw_key: String,
}

impl Entry {
    /// A stable id: the first four fields as written in the file.
    pub fn key(&self) -> String {
        self.raw_key.clone()
    }

    /// `user@host:port/database`, with unset parts left out.
    pub fn display_name(&self) -> String {
        let mut out = String::new();
        if let Some(user) = self.user.value() {
            out.push_str(user);
            out.push('@');
        }
        out.push_str(self.host.value().unwrap_or("*"));
        if let Some(port) = self.port.value() {
            out.push(':');
            out.push_str(port);
        }
        if let Some(db) = self.database.value() {
            out.push('/');
            out.push_str(db);
        }
        out
    }
}

/// Whether libpq would refuse a password file with these mode bits (any group or other bit).
pub fn insecure_mode(mode: u32) -> bool {
    mode & 0o077 != 0
}

/// Parse a password file: the entries, and the line numbers of lines libpq can never match
/// (fewer than five fields).
pub fn parse(text: &str) -> (Vec<Entry>, Vec<usize>) {
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_line(line) {
            Some((fields, raw_key, password)) => {
                let [host, port, database, user] = fields;
                entries.push(Entry {
                    line: i + 1,
                    host,
                    port,
                    database,
                    user,
                    password,
                    raw_key,
                });
            }
            None => skipped.push(i + 1),
        }
    }
    (entries, skipped)
}

/// Split a line into its first four fields (each followed by an unescaped `:`) and the
/// password, which ends at the next unescaped `:` or the end of the line, as in libpq.
fn parse_line(line: &str) -> Option<([Field; 4], String, String)> {
    let mut fields: Vec<Field> = Vec::with_capacity(4);
    let mut raw_end = 0;
    let mut chars = line.char_indices().peekable();
    while fields.len() < 4 {
        let start = chars.peek().map(|(i, _)| *i).unwrap_or(line.len());
        let mut value = String::new();
        let mut closed = false;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    // A backslash escapes the next character; at the very end it is literal.
                    match chars.next() {
                        Some((_, next)) => value.push(next),
                        None => value.push('\\'),
                    }
                }
                ':' => {
                    let raw = &line[start..i];
                    fields.push(if raw == "*" {
                        Field::Any
                    } else {
                        Field::Value(value.clone())
                    });
                    raw_end = i;
                    closed = true;
                    break;
                }
                other => value.push(other),
            }
        }
        if !closed {
            return None;
        }
    }
    let mut password = String::new();
    while let Some((_, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, next)) => password.push(next),
                None => password.push('\\'),
            },
            ':' => break,
            other => password.push(other),
        }
    }
    let fields: [Field; 4] = fields.try_into().ok()?;
    Some((fields, line[..raw_end].to_string(), password))
}

/// libpq's lookup: the password of the first entry matching all four values.
pub fn lookup<'a>(
    entries: &'a [Entry],
    host: &str,
    port: &str,
    database: &str,
    user: &str,
) -> Option<&'a str> {
    entries
        .iter()
        .find(|e| {
            e.host.matches(host)
                && e.port.matches(port)
                && e.database.matches(database)
                && e.user.matches(user)
        })
        .map(|e| e.password.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_escapes_and_wildcards() {
        let text = "# comment\n\
                    db.internal:5432:orders:app:s3cret\n\
                    *:*:*:admin:a\\:b\\\\c\n\
                    weird\\:host:5433:d\\*b:u:pw:ignored\r\n\
                    too:few:fields\n\
                    \n";
        let (entries, skipped) = parse(text);
        assert_eq!(skipped, vec![5]);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].password, "s3cret");
        assert_eq!(entries[0].display_name(), "app@db.internal:5432/orders");
        assert!(entries[1].host.is_wildcard() && entries[1].port.is_wildcard());
        assert_eq!(entries[1].password, "a:b\\c");
        assert_eq!(entries[2].host, Field::Value("weird:host".into()));
        // An escaped star is a literal star, not a wildcard.
        assert_eq!(entries[2].database, Field::Value("d*b".into()));
        assert_eq!(entries[2].password, "pw");
        assert_eq!(entries[2].key(), "weird\\:host:5433:d\\*b:u");
    }

    #[test]
    fn first_matching_line_wins_like_libpq() {
        let (entries, _) = parse("h:5432:db:u:first\n*:*:*:u:fallback\nh:5432:db:u:second\n");
        assert_eq!(lookup(&entries, "h", "5432", "db", "u"), Some("first"));
        assert_eq!(
            lookup(&entries, "other", "5433", "x", "u"),
            Some("fallback")
        );
        assert_eq!(lookup(&entries, "other", "5433", "x", "v"), None);
    }

    #[test]
    fn mode_check_matches_libpq() {
        assert!(!insecure_mode(0o600));
        assert!(!insecure_mode(0o400));
        assert!(insecure_mode(0o640));
        assert!(insecure_mode(0o604));
        assert!(insecure_mode(0o610));
    }
}

//! Splitting SQL text into statements the way each engine's own client does: a `;` ends a
//! statement unless it is inside quotes, an identifier, a comment or (PostgreSQL) a
//! dollar-quoted body. Every shell feeds typed or piped text through this.

use keeperdb_model::Engine;

/// Collects input lines and hands out complete statements, ended by a `;` outside quotes,
/// identifiers, comments and (PostgreSQL) dollar-quoted bodies.
pub struct StatementBuffer {
    engine: Engine,
    text: String,
}

impl StatementBuffer {
    /// An empty buffer for statements of `engine`.
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            text: String::new(),
        }
    }

    /// Whether nothing but white space has been typed.
    pub fn is_empty(&self) -> bool {
        self.text.trim().is_empty()
    }

    /// Add a line; returns the statements it completed, without their `;`.
    pub fn push_line(&mut self, line: &str) -> Vec<String> {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.text.push_str(line);
        let (done, rest) = split_statements(&self.text, &self.engine);
        self.text = rest;
        done
    }

    /// What is left (a statement without a final `;`), emptying the buffer.
    pub fn take_rest(&mut self) -> String {
        std::mem::take(&mut self.text)
    }
}

/// Split `text` into complete statements and the unfinished remainder.
pub fn split_statements(text: &str, engine: &Engine) -> (Vec<String>, String) {
    let backslash_escapes = engine.is_mysql_family();
    let postgres = *engine == Engine::POSTGRES;
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' | b'`' => {
                let q = b[i];
                i += 1;
                while i < b.len() {
                    if backslash_escapes && b[i] == b'\\' && q != b'`' {
                        i += 2;
                        continue;
                    }
                    if b[i] == q {
                        if i + 1 < b.len() && b[i + 1] == q {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'#' if backslash_escapes => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 1;
                i += 2;
                while i < b.len() && depth > 0 {
                    if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                    } else if postgres && b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
            }
            b'$' if postgres => {
                // $tag$ ... $tag$, where tag is empty or an identifier not starting with a digit.
                let tag_end = b[i + 1..]
                    .iter()
                    .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
                    .map(|p| i + 1 + p);
                match tag_end {
                    Some(e)
                        if b[e] == b'$' && !b.get(i + 1).is_some_and(|c| c.is_ascii_digit()) =>
                    {
                        let tag = &b[i..=e];
                        let body = e + 1;
                        match b[body..].windows(tag.len()).position(|w| w == tag) {
                            Some(p) => i = body + p + tag.len(),
                            None => i = b.len(),
                        }
                    }
                    _ => i += 1,
                }
            }
            b';' => {
                let stmt = text[start..i].trim();
                if !stmt.is_empty() {
                    out.push(stmt.to_string());
                }
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    let rest = text[start.min(text.len())..].to_string();
    let rest = if rest.trim().is_empty() {
        String::new()
    } else {
        rest
    };
    (out, rest)
}

/// Whether a statement only reads, as far as its words tell: SELECT (without INTO), WITH
/// (without a data-changing statement inside), SHOW, DESCRIBE, VALUES, TABLE, EXPLAIN
/// (without ANALYZE, which runs the statement), PRAGMA without `=`, and transaction control.
/// Anything else is taken to write; the guard that asks before writes errs on asking.
pub fn is_read_only_statement(sql: &str) -> bool {
    let words = code_words(sql);
    let has = |w: &str| words.iter().any(|x| x == w);
    match words.first().map(String::as_str) {
        Some("SELECT") => !has("INTO"),
        Some("WITH") => !["INSERT", "UPDATE", "DELETE", "MERGE", "INTO"]
            .iter()
            .any(|w| has(w)),
        Some("EXPLAIN") => !has("ANALYZE") && !has("ANALYSE"),
        Some("PRAGMA") => !sql.contains('='),
        Some(
            "SHOW" | "DESCRIBE" | "DESC" | "VALUES" | "TABLE" | "BEGIN" | "START" | "COMMIT"
            | "ROLLBACK" | "END" | "ABORT" | "SAVEPOINT" | "RELEASE",
        ) => true,
        _ => false,
    }
}

/// The upper-case words of a statement's code: literals, quoted identifiers and comments
/// left out.
fn code_words(sql: &str) -> Vec<String> {
    let b = sql.as_bytes();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c.is_ascii_alphanumeric() || c == b'_' {
            word.push(c.to_ascii_uppercase() as char);
            i += 1;
            continue;
        }
        if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        match c {
            b'\'' | b'"' | b'`' => {
                i += 1;
                while i < b.len() && b[i] != c {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' if next == Some(b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if next == Some(b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semicolons_inside_quotes_comments_and_dollar_bodies_do_not_split() {
        let sql = "select 'a;b', \"c;d\" -- x;y\n; select $f$ ; $f$; select /* ; /* ; */ */ 1;";
        let (done, rest) = split_statements(sql, &Engine::POSTGRES);
        assert_eq!(
            done,
            vec![
                "select 'a;b', \"c;d\" -- x;y",
                "select $f$ ; $f$",
                "select /* ; /* ; */ */ 1"
            ]
        );
        assert_eq!(rest, "");
    }

    #[test]
    fn unfinished_statement_waits_for_more_lines() {
        let mut b = StatementBuffer::new(Engine::POSTGRES);
        assert!(b.push_line("select 1,").is_empty());
        assert!(!b.is_empty());
        assert_eq!(b.push_line("2; select 'open"), vec!["select 1,\n2"]);
        assert_eq!(b.push_line("quote';"), vec!["select 'open\nquote'"]);
        assert!(b.is_empty());
    }

    #[test]
    fn mysql_backslash_escapes_and_hash_comments() {
        let (done, rest) = split_statements(
            r"select 'it\'s;'; # a;b
select 2",
            &Engine::MARIADB,
        );
        assert_eq!(done, vec![r"select 'it\'s;'"]);
        assert_eq!(rest.trim(), "# a;b\nselect 2");
    }

    #[test]
    fn positional_parameters_are_not_dollar_quotes() {
        let (done, _) = split_statements("select $1; select 2;", &Engine::POSTGRES);
        assert_eq!(done, vec!["select $1", "select 2"]);
    }

    #[test]
    fn reads_and_writes_are_told_apart() {
        for sql in [
            "SELECT * FROM t",
            "  -- note\n(select 1)",
            "with x as (select 1) select * from x",
            "EXPLAIN SELECT 1",
            "show tables",
            "BEGIN",
            "select 'drop table t'",
            "PRAGMA table_info(t)",
        ] {
            assert!(super::is_read_only_statement(sql), "{sql}");
        }
        for sql in [
            "drop table t",
            "/* select */ DELETE FROM t",
            "with d as (delete from t returning *) select * from d",
            "SELECT * INTO copy FROM t",
            "EXPLAIN ANALYZE DELETE FROM t",
            "insert into t values (1)",
            "PRAGMA journal_mode = wal",
            "CALL p()",
        ] {
            assert!(!super::is_read_only_statement(sql), "{sql}");
        }
    }
}

/// `name` as a quoted SQL identifier for `engine`: backticks for the MySQL family, double
/// quotes elsewhere, the quote character doubled inside, so any name (from a catalog, a plugin,
/// a user) stays one identifier.
pub fn quote_identifier(engine: &Engine, name: &str) -> String {
    let quote = if engine.is_mysql_family() { '`' } else { '"' };
    let doubled = name.replace(quote, &format!("{quote}{quote}"));
    format!("{quote}{doubled}{quote}")
}

/// `SELECT * FROM schema.table`, both names quoted for `engine`.
pub fn select_all_sql(engine: &Engine, schema: Option<&str>, table: &str) -> String {
    let table = quote_identifier(engine, table);
    match schema {
        Some(schema) => format!("SELECT * FROM {}.{table}", quote_identifier(engine, schema)),
        None => format!("SELECT * FROM {table}"),
    }
}

#[cfg(test)]
mod quoting_tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_with_the_engines_quote_doubled_inside() {
        assert_eq!(quote_identifier(&Engine::POSTGRES, r#"a"b"#), r#""a""b""#);
        assert_eq!(quote_identifier(&Engine::MARIADB, "a`b"), "`a``b`");
        assert_eq!(
            select_all_sql(&Engine::SQLITE, Some("main"), "Track; DROP TABLE x"),
            r#"SELECT * FROM "main"."Track; DROP TABLE x""#
        );
        assert_eq!(
            select_all_sql(&Engine::MYSQL, None, "t"),
            "SELECT * FROM `t`"
        );
    }
}

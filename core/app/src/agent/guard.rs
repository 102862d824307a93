//! What an agent's statement is, read before it runs: whether it would change the session's
//! read-only state (refused outright, whatever the policy), and whether it reads or writes.
//!
//! The driver's read-only session is what actually stops writes; this guard is the second
//! wall. It stops the statements that would take the first wall down (`SET TRANSACTION READ
//! WRITE`, `SET default_transaction_read_only`, `PRAGMA query_only`, ...), so a read-only
//! session stays read-only whatever the agent sends. It errs on the side of refusing: a
//! statement that merely mentions one of the settings is refused too.

/// What a statement does, as far as the agent policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementClass {
    /// It only reads (or controls the transaction, or sets a harmless session setting): it
    /// runs in the read-only session.
    Read,
    /// It may change data or schema: it needs the user's leave and confirmation.
    Write,
}

/// Words that name a session's read-only state in PostgreSQL, MariaDB/MySQL or SQLite.
const READ_ONLY_SETTINGS: [&str; 6] = [
    "default_transaction_read_only",
    "transaction_read_only",
    "tx_read_only",
    "query_only",
    "session characteristics",
    "read_only",
];

/// Statement starts that only read, or only control the transaction or the session.
const READS: [&str; 20] = [
    "select",
    "with",
    "show",
    "explain",
    "values",
    "table",
    "describe",
    "desc",
    "pragma",
    "begin",
    "start",
    "commit",
    "rollback",
    "end",
    "savepoint",
    "release",
    "set",
    "reset",
    "abort",
    "use",
];

/// Why a statement may not run in an agent's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOnlySwitch {
    /// The words that gave it away.
    pub found: &'static str,
}

/// The statement with comments replaced by spaces, lower-cased, runs of whitespace made one
/// space: `SET/**/TRANSACTION   read\nwrite` reads `set transaction read write`.
pub fn normalize(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '-' if chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                out.push(' ');
            }
            '#' => {
                // MariaDB's line comment; elsewhere `#` is rare outside strings, and treating
                // it as a comment can only hide text from classification, never from the
                // read-only session itself.
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                out.push(' ');
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = '\0';
                for c in chars.by_ref() {
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
                out.push(' ');
            }
            c if c.is_whitespace() => out.push(' '),
            c => out.extend(c.to_lowercase()),
        }
    }
    let mut collapsed = String::with_capacity(out.len());
    for word in out.split(' ').filter(|w| !w.is_empty()) {
        if !collapsed.is_empty() {
            collapsed.push(' ');
        }
        collapsed.push_str(word);
    }
    collapsed
}

/// Refuse a statement that would change the session's read-only state. The check looks at
/// the whole statement, literals included, so `SELECT set_config('transaction_read_only',
/// 'off', false)` is refused as surely as `SET transaction_read_only = off`. `RESET ALL` and
/// `DISCARD ALL` are refused too: they put every setting back to its session default.
pub fn check_read_only_switch(sql: &str) -> Result<(), ReadOnlySwitch> {
    // MariaDB also writes `@@session.tx_read_only`, PostgreSQL `"transaction_read_only"`:
    // punctuation is kept, so plain substring search finds the name inside either.
    let text = normalize(sql).replace(['"', '`', '\''], "");
    for setting in READ_ONLY_SETTINGS {
        if text.contains(setting) {
            return Err(ReadOnlySwitch { found: setting });
        }
    }
    for phrase in ["read write", "reset all", "discard all"] {
        if text.contains(phrase) {
            return Err(ReadOnlySwitch { found: phrase });
        }
    }
    Ok(())
}

/// Whether a statement reads or may write. Only the first word is read: anything not known
/// to read counts as a write, so an unknown statement asks for consent rather than slipping
/// through, and a write dressed as a read (`WITH d AS (DELETE ...) SELECT ...`) still meets
/// the read-only session.
pub fn classify(sql: &str) -> StatementClass {
    let text = normalize(sql);
    let first = text
        .trim_start_matches(['(', ' '])
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .next()
        .unwrap_or("");
    if READS.contains(&first) {
        StatementClass::Read
    } else {
        StatementClass::Write
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_that_switch_read_only_off_are_refused() {
        for sql in [
            "SET TRANSACTION READ WRITE",
            "set transaction isolation level serializable, read write",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
            "SET default_transaction_read_only = off",
            "set DEFAULT_TRANSACTION_READ_ONLY to false",
            "SET \"default_transaction_read_only\" = off",
            "SET SESSION TRANSACTION READ WRITE",
            "SET @@session.tx_read_only = 0",
            "SET SESSION transaction_read_only = OFF",
            "SET GLOBAL read_only = 0",
            "BEGIN READ WRITE",
            "START TRANSACTION READ WRITE",
            "begin transaction read/**/write",
            "SET TRANSACTION READ -- hidden\n WRITE",
            "PRAGMA query_only = 0",
            "pragma QUERY_ONLY=false",
            "SELECT set_config('default_transaction_read_only', 'off', false)",
            "RESET ALL",
            "reset default_transaction_read_only",
            "DISCARD ALL",
        ] {
            assert!(check_read_only_switch(sql).is_err(), "not refused: {sql}");
        }
    }

    #[test]
    fn ordinary_statements_pass_the_guard() {
        for sql in [
            "SELECT 1",
            "select * from track where name = 'read'",
            "SET search_path TO public",
            "BEGIN",
            "EXPLAIN SELECT 1",
            "PRAGMA table_info(track)",
        ] {
            assert!(check_read_only_switch(sql).is_ok(), "refused: {sql}");
        }
    }

    #[test]
    fn reads_and_writes_are_told_apart() {
        for sql in [
            "SELECT 1",
            "  -- why\n select 1",
            "(SELECT 1)",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "SHOW server_version",
            "explain select 1",
            "BEGIN",
            "VALUES (1)",
        ] {
            assert_eq!(classify(sql), StatementClass::Read, "{sql}");
        }
        for sql in [
            "INSERT INTO t VALUES (1)",
            "update t set a = 1",
            "DELETE FROM t",
            "/* select */ drop table t",
            "CREATE TABLE t (a int)",
            "COPY t FROM stdin",
            "CALL p()",
            "",
        ] {
            assert_eq!(classify(sql), StatementClass::Write, "{sql}");
        }
    }
}

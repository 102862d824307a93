//! Completion of SQL as it is typed: keywords, and the schemas, tables and columns of the
//! connection's catalog. Shells ask it for the word before the cursor (the CLI's Tab, an
//! editor's suggestions); the catalog is read once, on the first completion, and the columns
//! of a table when a statement first needs them.

use std::collections::BTreeMap;

use keeperdb_model::Engine;

use crate::catalog::Table;
use crate::session::{Session, StreamError};

/// Keywords offered where no catalog name fits better; upper case, shown in the case the
/// user types in.
const KEYWORDS: &[&str] = &[
    "ALTER",
    "AND",
    "AS",
    "ASC",
    "BEGIN",
    "BETWEEN",
    "BY",
    "CASE",
    "COMMIT",
    "COUNT",
    "CREATE",
    "CROSS",
    "DELETE",
    "DESC",
    "DISTINCT",
    "DROP",
    "ELSE",
    "END",
    "EXISTS",
    "EXPLAIN",
    "FALSE",
    "FROM",
    "FULL",
    "GROUP",
    "HAVING",
    "IN",
    "INDEX",
    "INNER",
    "INSERT",
    "INTO",
    "IS",
    "JOIN",
    "LEFT",
    "LIKE",
    "LIMIT",
    "NOT",
    "NULL",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "RETURNING",
    "RIGHT",
    "ROLLBACK",
    "SELECT",
    "SET",
    "TABLE",
    "THEN",
    "TRUE",
    "TRUNCATE",
    "UNION",
    "UPDATE",
    "USING",
    "VALUES",
    "VIEW",
    "WHEN",
    "WHERE",
    "WITH",
];

/// Keywords after which a table name comes.
const BEFORE_TABLE: &[&str] = &["FROM", "JOIN", "INTO", "UPDATE", "TABLE", "DESCRIBE"];

/// What the catalog holds, as far as completion needs it.
#[derive(Debug, Default)]
struct Names {
    schemas: Vec<String>,
    tables: Vec<Table>,
    /// Columns by table (lower-cased qualified and plain name), read when first needed.
    columns: BTreeMap<String, Vec<String>>,
}

/// Completes SQL typed on one session.
#[derive(Debug)]
pub struct Completer {
    engine: Engine,
    names: Option<Names>,
}

/// The candidates for the word before the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Byte offset in the line where the word being completed starts.
    pub start: usize,
    /// What can replace the word, sorted, each ready to insert (quoted where needed).
    pub candidates: Vec<String>,
}

impl Completer {
    /// A completer for statements of `engine`; nothing is read until the first completion.
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            names: None,
        }
    }

    /// Forget what was read (after a statement that may have changed the catalog, or a
    /// reconnect).
    pub fn forget(&mut self) {
        self.names = None;
    }

    /// Complete the word ending at byte `pos` of `statement` (the text typed so far of the
    /// statement being written, which may span several lines).
    pub fn complete(
        &mut self,
        session: &mut Session,
        statement: &str,
        pos: usize,
    ) -> Result<Completion, StreamError> {
        let pos = floor_char_boundary(statement, pos);
        let before = &statement[..pos];
        let start = before
            .char_indices()
            .rev()
            .find(|(_, c)| !is_word_char(*c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let word = &before[start..];
        if self.names.is_none() {
            self.names = Some(read_names(session)?);
        }
        let mut candidates = Vec::new();
        if let Some((typed_qualifier, _)) = word.rsplit_once('.') {
            let qualifier = unquote(typed_qualifier);
            let names = self.names.as_ref().map_or(&[][..], |n| &n.tables[..]);
            for t in names {
                if t.schema
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case(&qualifier))
                {
                    candidates.push(format!("{typed_qualifier}.{}", self.quoted(&t.name)));
                }
            }
            if let Some(table) = self.table_named(statement, &qualifier) {
                for c in self.columns_of(session, &table)? {
                    candidates.push(format!("{typed_qualifier}.{}", self.quoted(&c)));
                }
            }
        } else {
            let previous = previous_word(&before[..start]).to_ascii_uppercase();
            let names = self.names.as_ref().map_or(&[][..], |n| &n.tables[..]);
            let tables: Vec<String> = names.iter().map(|t| self.quoted(&t.name)).collect();
            let schemas: Vec<String> = self
                .names
                .iter()
                .flat_map(|n| &n.schemas)
                .map(|s| format!("{}.", self.quoted(s)))
                .collect();
            candidates.extend(tables);
            candidates.extend(schemas);
            if !BEFORE_TABLE.contains(&previous.as_str()) {
                for table in self.tables_in(statement) {
                    for c in self.columns_of(session, &table)? {
                        candidates.push(self.quoted(&c));
                    }
                }
                let lower = word.chars().next().is_some_and(char::is_lowercase);
                candidates.extend(KEYWORDS.iter().map(|k| {
                    if lower {
                        k.to_ascii_lowercase()
                    } else {
                        k.to_string()
                    }
                }));
            }
        }
        let typed = unquote(word).to_lowercase();
        candidates.retain(|c| unquote(c).to_lowercase().starts_with(&typed));
        candidates.sort();
        candidates.dedup();
        Ok(Completion { start, candidates })
    }

    /// The table a qualifier names in `statement`: a table, or an alias given to one
    /// (`FROM album a`).
    fn table_named(&self, statement: &str, qualifier: &str) -> Option<Table> {
        let names = self.names.as_ref()?;
        let by_name = |n: &str| {
            names
                .tables
                .iter()
                .find(|t| t.name.eq_ignore_ascii_case(n) || t.qualified().eq_ignore_ascii_case(n))
                .cloned()
        };
        if let Some(t) = by_name(qualifier) {
            return Some(t);
        }
        let words = words(statement);
        words.windows(2).chain(words.windows(3)).find_map(|w| {
            let alias = w.last()?;
            let table = &w[0];
            let as_between = w.len() == 3 && w[1].eq_ignore_ascii_case("AS");
            if (w.len() == 2 || as_between) && unquote(alias).eq_ignore_ascii_case(qualifier) {
                by_name(&unquote(table))
            } else {
                None
            }
        })
    }

    /// The known tables a statement mentions.
    fn tables_in(&self, statement: &str) -> Vec<Table> {
        let Some(names) = &self.names else {
            return Vec::new();
        };
        let mentioned = words(statement);
        names
            .tables
            .iter()
            .filter(|t| {
                mentioned.iter().any(|w| {
                    let w = unquote(w);
                    w.eq_ignore_ascii_case(&t.name) || w.eq_ignore_ascii_case(&t.qualified())
                })
            })
            .cloned()
            .collect()
    }

    fn columns_of(
        &mut self,
        session: &mut Session,
        table: &Table,
    ) -> Result<Vec<String>, StreamError> {
        let key = table.qualified().to_lowercase();
        let Some(names) = self.names.as_mut() else {
            return Ok(Vec::new());
        };
        if let Some(columns) = names.columns.get(&key) {
            return Ok(columns.clone());
        }
        let columns: Vec<String> = session
            .columns(table.schema.as_deref(), &table.name)?
            .into_iter()
            .map(|c| c.name)
            .collect();
        names.columns.insert(key, columns.clone());
        Ok(columns)
    }

    /// `name` as it must be typed: quoted when the engine would not read it as written.
    fn quoted(&self, name: &str) -> String {
        let plain = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
        // PostgreSQL folds unquoted names to lower case; MySQL and SQLite keep their case.
        let folds = self.engine == Engine::POSTGRES;
        if plain && (!folds || !name.chars().any(|c| c.is_ascii_uppercase())) {
            return name.to_string();
        }
        if self.engine.is_mysql_family() {
            format!("`{}`", name.replace('`', "``"))
        } else {
            format!("\"{}\"", name.replace('"', "\"\""))
        }
    }
}

fn read_names(session: &mut Session) -> Result<Names, StreamError> {
    let tables = session.tables(None)?;
    let mut schemas: Vec<String> = tables.iter().filter_map(|t| t.schema.clone()).collect();
    schemas.sort();
    schemas.dedup();
    Ok(Names {
        schemas,
        tables,
        columns: BTreeMap::new(),
    })
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '$' | '.' | '"' | '`')
}

/// The word before `text`'s trailing white space.
fn previous_word(text: &str) -> &str {
    let trimmed = text.trim_end();
    let start = trimmed
        .char_indices()
        .rev()
        .find(|(_, c)| !is_word_char(*c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    &trimmed[start..]
}

/// The words of a statement, punctuation dropped.
fn words(statement: &str) -> Vec<String> {
    statement
        .split(|c: char| !is_word_char(c))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn unquote(s: &str) -> String {
    s.chars().filter(|c| !matches!(c, '"' | '`')).collect()
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_only_where_the_engine_would_misread_them() {
        let pg = Completer::new(Engine::POSTGRES);
        assert_eq!(pg.quoted("album"), "album");
        assert_eq!(pg.quoted("Album"), "\"Album\"");
        assert_eq!(pg.quoted("odd name"), "\"odd name\"");
        let my = Completer::new(Engine::MYSQL);
        assert_eq!(my.quoted("Album"), "Album");
        assert_eq!(my.quoted("a`b"), "`a``b`");
    }

    #[test]
    fn the_word_before_the_cursor_and_the_one_before_it_are_found() {
        assert_eq!(previous_word("select * from "), "from");
        assert_eq!(
            words("select a.x from t as a"),
            ["select", "a.x", "from", "t", "as", "a"]
        );
        assert_eq!(floor_char_boundary("é", 1), 0);
    }
}

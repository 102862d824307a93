//! Per-connection query history for shells that keep one (the GUI's history panel): each run
//! statement text with when it ran, newest first, in `data/history/`, one JSON Lines file per
//! connection named by a digest of its id (ids come from plugins and vaults, so they never
//! become a path).
//!
//! A statement that sets a password (`ALTER USER ... PASSWORD '...'`, `IDENTIFIED BY`) is not
//! kept: history is plain text on disk, and a password must never be.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keeperdb_model::connection::ConnectionId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Most entries kept per connection; older ones are dropped when the file is compacted.
pub const MAX_ENTRIES: usize = 500;

/// One statement that ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The statement text, as run.
    pub sql: String,
    /// When it ran, in seconds since the Unix epoch.
    pub at: u64,
}

impl HistoryEntry {
    /// When it ran.
    pub fn time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.at)
    }
}

/// Why history could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("query history at {}: {source}", path.display())]
pub struct HistoryError {
    /// The file.
    pub path: PathBuf,
    /// What failed.
    #[source]
    pub source: std::io::Error,
}

/// The history of every connection, under one directory.
#[derive(Debug, Clone)]
pub struct History {
    dir: PathBuf,
}

impl History {
    /// History kept under `data_dir/history`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("history"),
        }
    }

    fn file(&self, connection: &ConnectionId) -> PathBuf {
        let digest = Sha256::digest(connection.as_str().as_bytes());
        self.dir
            .join(format!("{}.jsonl", hex::encode(&digest[..16])))
    }

    /// Keep `sql` as run now on `connection`, unless it is blank, repeats the latest entry, or
    /// may carry a password. Returns whether it was kept.
    pub fn record(&self, connection: &ConnectionId, sql: &str) -> Result<bool, HistoryError> {
        let sql = sql.trim();
        if sql.is_empty() || may_carry_password(sql) {
            return Ok(false);
        }
        let path = self.file(connection);
        let entries = self.read_file(&path)?;
        if entries.last().is_some_and(|e| e.sql == sql) {
            return Ok(false);
        }
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let entry = HistoryEntry {
            sql: sql.to_string(),
            at,
        };
        let io = |source| HistoryError {
            path: path.clone(),
            source,
        };
        keeperdb_fs::ensure_private_dir(&self.dir).map_err(io)?;
        if entries.len() >= MAX_ENTRIES * 2 {
            // Compact now and then rather than on every write.
            let mut kept: Vec<_> = entries[entries.len() + 1 - MAX_ENTRIES..].to_vec();
            kept.push(entry);
            let mut text = String::new();
            for e in &kept {
                text.push_str(&line(e));
            }
            keeperdb_fs::write_atomic(&path, text.as_bytes()).map_err(io)?;
            return Ok(true);
        }
        let mut file = private_append(&path).map_err(io)?;
        let mut text = line(&entry);
        if !ends_with_newline(&path) {
            // A line cut short by a crash must not swallow this one.
            text.insert(0, '\n');
        }
        file.write_all(text.as_bytes()).map_err(io)?;
        Ok(true)
    }

    /// The newest `limit` entries of `connection`, newest first.
    pub fn entries(
        &self,
        connection: &ConnectionId,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, HistoryError> {
        let mut entries = self.read_file(&self.file(connection))?;
        entries.reverse();
        entries.truncate(limit);
        Ok(entries)
    }

    fn read_file(&self, path: &Path) -> Result<Vec<HistoryEntry>, HistoryError> {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(HistoryError {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        // A line cut short by a crash, or edited by hand, is skipped, not fatal.
        Ok(BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect())
    }
}

fn line(entry: &HistoryEntry) -> String {
    // Serialising two plain fields cannot fail; an empty line would be skipped on read anyway.
    let mut text = serde_json::to_string(entry).unwrap_or_default();
    text.push('\n');
    text
}

fn ends_with_newline(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return true;
    };
    let mut last = [0u8; 1];
    match file.seek(SeekFrom::End(-1)) {
        Ok(_) => file.read_exact(&mut last).is_err() || last[0] == b'\n',
        // Empty file.
        Err(_) => true,
    }
}

fn private_append(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Whether a statement may set or carry a password, so it must not be kept in clear.
pub fn may_carry_password(sql: &str) -> bool {
    let upper = sql.to_ascii_uppercase();
    let words: Vec<&str> = upper
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    words.iter().any(|w| *w == "PASSWORD" || *w == "PASSWD")
        || words.windows(2).any(|w| w == ["IDENTIFIED", "BY"])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ConnectionId {
        ConnectionId::from_string(s)
    }

    #[test]
    fn entries_come_back_newest_first_per_connection() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path());
        history.record(&id("a"), "select 1").unwrap();
        history.record(&id("a"), "select 2").unwrap();
        history.record(&id("b"), "select 3").unwrap();
        let sqls: Vec<_> = history
            .entries(&id("a"), 10)
            .unwrap()
            .into_iter()
            .map(|e| e.sql)
            .collect();
        assert_eq!(sqls, ["select 2", "select 1"]);
        assert_eq!(history.entries(&id("b"), 10).unwrap().len(), 1);
    }

    #[test]
    fn statements_that_set_passwords_are_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path());
        for sql in [
            "ALTER USER app WITH PASSWORD 'hunter2'",
            "create user x identified by 'hunter2'",
            "SET PASSWORD FOR x = 'hunter2'",
        ] {
            assert!(!history.record(&id("a"), sql).unwrap(), "{sql}");
        }
        assert!(history.entries(&id("a"), 10).unwrap().is_empty());
        let mut files = Vec::new();
        if let Ok(read) = std::fs::read_dir(dir.path().join("history")) {
            for entry in read.flatten() {
                files.push(std::fs::read_to_string(entry.path()).unwrap());
            }
        }
        assert!(files.iter().all(|f| !f.contains("hunter2")));
    }

    #[test]
    fn a_repeated_statement_is_kept_once_and_blank_ones_never() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path());
        assert!(history.record(&id("a"), "select 1").unwrap());
        assert!(!history.record(&id("a"), " select 1 ").unwrap());
        assert!(!history.record(&id("a"), "  ").unwrap());
        assert_eq!(history.entries(&id("a"), 10).unwrap().len(), 1);
    }

    #[test]
    fn history_is_compacted_to_the_newest_entries() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path());
        for i in 0..(MAX_ENTRIES * 2 + 1) {
            history.record(&id("a"), &format!("select {i}")).unwrap();
        }
        let entries = history.entries(&id("a"), usize::MAX).unwrap();
        assert!(entries.len() <= MAX_ENTRIES + 1, "{}", entries.len());
        assert_eq!(entries[0].sql, format!("select {}", MAX_ENTRIES * 2));
    }

    #[test]
    fn a_damaged_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path());
        history.record(&id("a"), "select 1").unwrap();
        let path = history.file(&id("a"));
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"sql\": \"cut sh").unwrap();
        drop(f);
        history.record(&id("a"), "select 2").unwrap();
        assert_eq!(history.entries(&id("a"), 10).unwrap().len(), 2);
    }
}

//! The audit log: one JSON line per statement an agent asked for, run or refused, in the data
//! dir (`agent-audit.jsonl`, owner-only). It holds what the agent sent and what came of it;
//! nothing secret ever enters it (keeperdb never puts credentials into a statement).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When it ended, RFC 3339 in UTC.
    pub time: String,
    /// The connection's name.
    pub connection: String,
    /// The tool the agent called (`query`, `explain`).
    pub tool: String,
    /// The statement as the agent sent it.
    pub statement: String,
    /// Rows returned or affected, when it ran.
    pub rows: Option<u64>,
    /// `ok`, `truncated`, `refused`, `error`, `timeout` or `cancelled`.
    pub outcome: String,
    /// Why it was refused or failed.
    pub detail: Option<String>,
}

/// Why the audit log cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[error("the agent audit log {}: {source}", path.display())]
pub struct AuditError {
    /// The file.
    pub path: PathBuf,
    /// What failed.
    #[source]
    pub source: std::io::Error,
}

/// The audit log, open for appending.
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

/// The log's file name in the data dir.
pub const AUDIT_FILE: &str = "agent-audit.jsonl";

impl AuditLog {
    /// Open (creating it and its owner-only dir) the log in `data_dir`. Opened before any
    /// agent statement runs, so an unwritable log stops the server instead of a statement
    /// running unrecorded.
    pub fn open(data_dir: &Path) -> Result<Self, AuditError> {
        let path = data_dir.join(AUDIT_FILE);
        let err = |source| AuditError {
            path: path.clone(),
            source,
        };
        keeperdb_fs::ensure_private_dir(data_dir).map_err(err)?;
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&path).map_err(err)?;
        Ok(Self {
            path,
            file: Mutex::new(file),
        })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one entry as one write of one line, so concurrent servers never interleave.
    pub fn append(&self, entry: &AuditEntry) -> Result<(), AuditError> {
        let mut line = serde_json::to_string(entry).map_err(|e| AuditError {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(line.as_bytes())
            .map_err(|source| AuditError {
                path: self.path.clone(),
                source,
            })
    }

    /// The last `limit` entries in `data_dir`'s log, oldest first; none when there is no log
    /// yet. A line that does not parse (a hand edit, a torn write) is skipped, not fatal.
    pub fn read(data_dir: &Path, limit: usize) -> Result<Vec<AuditEntry>, AuditError> {
        let path = data_dir.join(AUDIT_FILE);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(AuditError { path, source }),
        };
        let mut entries = std::collections::VecDeque::new();
        for line in BufReader::new(file).lines() {
            let line = line.map_err(|source| AuditError {
                path: path.clone(),
                source,
            })?;
            if let Ok(entry) = serde_json::from_str::<AuditEntry>(&line) {
                if entries.len() == limit {
                    entries.pop_front();
                }
                entries.push_back(entry);
            }
        }
        Ok(entries.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u64) -> AuditEntry {
        AuditEntry {
            time: "2026-01-01T00:00:00Z".into(),
            connection: "c".into(),
            tool: "query".into(),
            statement: format!("SELECT {n}"),
            rows: Some(n),
            outcome: "ok".into(),
            detail: None,
        }
    }

    #[test]
    fn entries_append_and_read_back_the_last_ones() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        assert!(AuditLog::read(&data, 10).unwrap().is_empty());
        let log = AuditLog::open(&data).unwrap();
        for n in 0..5 {
            log.append(&entry(n)).unwrap();
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(log.path())
            .unwrap()
            .write_all(b"not json\n")
            .unwrap();
        let last = AuditLog::read(&data, 2).unwrap();
        assert_eq!(last, [entry(3), entry(4)]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(log.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

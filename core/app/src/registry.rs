//! The registry: every connection source merged into one list, each connection keeping its
//! origin, and credentials resolved through the source that produced the connection, at
//! connect time.

use std::collections::HashSet;
use std::sync::Arc;

use keeperdb_model::connection::Connection;
use keeperdb_model::credentials::Credentials;
use keeperdb_model::source::{ConnectionSource, Skipped, SourceError, Stale};

/// A source that failed to list; the others are still listed.
#[derive(Debug)]
pub struct SourceFailure {
    /// The source id.
    pub source: String,
    /// What went wrong.
    pub error: SourceError,
}

/// The merged listing.
#[derive(Debug, Default)]
pub struct Listing {
    /// Every connection, sources in registration order.
    pub connections: Vec<Connection>,
    /// Sources that could not be listed.
    pub failures: Vec<SourceFailure>,
    /// Entries sources left out, with the source id and why.
    pub skipped: Vec<(String, Skipped)>,
    /// Sources that could not be asked now and listed what they saved earlier, with when.
    pub stale: Vec<(String, Stale)>,
}

/// Why a connection could not be found or its credentials resolved.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Nothing matches.
    #[error("no connection named or with id `{0}`")]
    NotFound(String),
    /// Several connections share the name.
    #[error(
        "`{name}` is ambiguous: it names {candidates}; use the id, or SOURCE/NAME (VAULT/NAME for a vault's)"
    )]
    Ambiguous {
        /// The name asked for.
        name: String,
        /// The candidates, as `source/name (id)`.
        candidates: String,
    },
    /// The connection's source is not registered (plugin disabled or removed).
    #[error("connection `{name}` comes from source `{source_id}`, which is not available")]
    UnknownSource {
        /// Connection name.
        name: String,
        /// Its source id.
        source_id: String,
    },
    /// The source failed.
    #[error("source `{source_id}`: {error}")]
    Source {
        /// Source id.
        source_id: String,
        /// The failure.
        #[source]
        error: SourceError,
    },
}

/// All registered connection sources.
#[derive(Default, Clone)]
pub struct Registry {
    sources: Vec<Arc<dyn ConnectionSource>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register a source; sources list in registration order.
    pub fn add_source(&mut self, source: Arc<dyn ConnectionSource>) {
        self.sources.push(source);
    }

    /// Ids of the registered sources.
    pub fn source_ids(&self) -> Vec<String> {
        self.sources.iter().map(|s| s.info().id).collect()
    }

    /// Keep only the sources whose id passes `keep`.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.sources.retain(|s| keep(&s.info().id));
    }

    /// Every connection of every source, the sources asked concurrently (a vault is a network
    /// round trip) and merged in registration order. A failing source is reported in
    /// `failures` and does not hide the others. Connections a source returns are stamped with
    /// its origin, so a plugin cannot pass its connections off as another source's.
    pub fn list(&self) -> Listing {
        let answers: Vec<_> = std::thread::scope(|scope| {
            let asked: Vec<_> = self
                .sources
                .iter()
                .map(|source| {
                    let parent = tracing::Span::current();
                    scope.spawn(move || {
                        let info = source.info();
                        let _span =
                            tracing::info_span!(parent: &parent, "source.list", source = %info.id)
                                .entered();
                        (info, source.list())
                    })
                })
                .collect();
            asked
                .into_iter()
                .zip(&self.sources)
                .map(|(handle, source)| {
                    handle.join().unwrap_or_else(|_| {
                        let info = source.info();
                        let failed = SourceError::Plugin {
                            plugin: info.id.clone(),
                            message: "listing it panicked".into(),
                        };
                        (info, Err(failed))
                    })
                })
                .collect()
        });
        let mut listing = Listing::default();
        let mut seen = HashSet::new();
        for (info, answer) in answers {
            match answer {
                Ok(answer) => {
                    // An id names one connection: a source that repeats one (or one another
                    // source listed) could make `find` and `credentials` pick either, so none
                    // of its connections are listed.
                    let dups = duplicate_ids(&answer.connections, &seen);
                    if !dups.is_empty() {
                        let error = SourceError::Plugin {
                            plugin: info.id.clone(),
                            message: format!(
                                "it returned duplicate connection ids ({}); none of its connections are listed",
                                dups.join(", ")
                            ),
                        };
                        tracing::warn!(source = %info.id, %error, "source refused");
                        listing.failures.push(SourceFailure {
                            source: info.id,
                            error,
                        });
                        continue;
                    }
                    for mut c in answer.connections {
                        seen.insert(c.id.as_str().to_string());
                        c.origin.source = info.id.clone();
                        c.origin.badge = info.badge.clone();
                        c.origin.vault = info.vault.clone();
                        listing.connections.push(c);
                    }
                    listing
                        .skipped
                        .extend(answer.skipped.into_iter().map(|s| (info.id.clone(), s)));
                    if let Some(stale) = answer.stale {
                        listing.stale.push((info.id.clone(), stale));
                    }
                }
                Err(error) => {
                    tracing::warn!(source = %info.id, %error, "source failed to list");
                    listing.failures.push(SourceFailure {
                        source: info.id,
                        error,
                    });
                }
            }
        }
        listing
    }

    /// Find a connection by id, by `SOURCE/NAME`, or by name. Names match ignoring case, and
    /// every connection that matches counts: one that matches only in case is as much a
    /// candidate as an exact one, so a plugin cannot win a name by spelling it the user's way.
    /// `SOURCE/NAME` always means NAME in that source when a source answers to SOURCE (its id,
    /// vault name or badge), so a connection a plugin calls `local/prod` is never taken for
    /// the local `prod`.
    pub fn find(&self, key: &str) -> Result<Connection, RegistryError> {
        self.find_in(&self.list().connections, key)
    }

    /// [`Registry::find`] in a listing of this registry already made (one listing for many
    /// lookups).
    pub fn find_in(&self, all: &[Connection], key: &str) -> Result<Connection, RegistryError> {
        if let Some(c) = all.iter().find(|c| c.id.as_str() == key) {
            return Ok(c.clone());
        }
        if let Some((source, name)) = key.split_once('/') {
            let answers = |id: &str, vault: Option<&str>, badge: &str| {
                id == source || vault == Some(source) || badge.eq_ignore_ascii_case(source)
            };
            let named_source = self.sources.iter().any(|s| {
                let info = s.info();
                answers(&info.id, info.vault.as_deref(), &info.badge)
            });
            if named_source {
                let matches = all
                    .iter()
                    .filter(|c| {
                        answers(&c.origin.source, c.origin.vault.as_deref(), &c.origin.badge)
                            && same_name(&c.spec.name, name)
                    })
                    .collect();
                return one_of(key, matches);
            }
        }
        one_of(
            key,
            all.iter()
                .filter(|c| same_name(&c.spec.name, key))
                .collect(),
        )
    }

    /// Credentials for a connection, fetched now through the source that produced it (so a
    /// vault source can hand out a password rotated a minute ago).
    pub fn credentials(&self, connection: &Connection) -> Result<Credentials, RegistryError> {
        let source = self
            .sources
            .iter()
            .find(|s| s.info().id == connection.origin.source)
            .ok_or_else(|| RegistryError::UnknownSource {
                name: connection.spec.name.clone(),
                source_id: connection.origin.source.clone(),
            })?;
        let _span = tracing::info_span!("source.credentials", source = %connection.origin.source, id = %connection.id).entered();
        source
            .credentials(connection)
            .map_err(|error| RegistryError::Source {
                source_id: connection.origin.source.clone(),
                error,
            })
    }
}

/// Names that a user could not tell apart by typing them: equal ignoring case.
fn same_name(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

/// The single match, or why there is none or more than one.
fn one_of(key: &str, matches: Vec<&Connection>) -> Result<Connection, RegistryError> {
    match matches.as_slice() {
        [] => Err(RegistryError::NotFound(key.to_string())),
        [one] => Ok((*one).clone()),
        many => Err(RegistryError::Ambiguous {
            name: key.to_string(),
            candidates: many
                .iter()
                .map(|c| {
                    let source = c.origin.vault.as_deref().unwrap_or(&c.origin.source);
                    format!("{source}/{} ({})", c.spec.name, c.id)
                })
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Connection ids that occur more than once in `connections`, or already in `seen`.
fn duplicate_ids(connections: &[Connection], seen: &HashSet<String>) -> Vec<String> {
    let mut mine = HashSet::new();
    let mut dups: Vec<String> = connections
        .iter()
        .map(|c| c.id.as_str())
        .filter(|id| seen.contains(*id) || !mine.insert(*id))
        .map(str::to_string)
        .collect();
    dups.sort();
    dups.dedup();
    dups
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use secrecy::{ExposeSecret, SecretString};

    use super::*;
    use keeperdb_model::connection::{ConnectionId, Origin};
    use keeperdb_model::source::{SourceInfo, SourceListing};

    /// An in-memory source whose password can be rotated between calls, standing in for a
    /// vault in these unit tests of the registry's own logic.
    struct RotatingSource {
        id: &'static str,
        badge: &'static str,
        names: Vec<&'static str>,
        password: Mutex<String>,
        fail: bool,
    }

    impl ConnectionSource for RotatingSource {
        fn info(&self) -> SourceInfo {
            SourceInfo {
                id: self.id.into(),
                badge: self.badge.into(),
                vault: None,
            }
        }
        fn list(&self) -> Result<SourceListing, SourceError> {
            if self.fail {
                return Err(SourceError::Unavailable("vault unreachable".into()));
            }
            Ok(self
                .names
                .iter()
                .map(|n| {
                    let mut c = keeperdb_model::url::parse_connection_url("postgres://u@h/db")
                        .unwrap()
                        .connection;
                    c.id = ConnectionId::from_string(format!("{}:{n}", self.id));
                    c.spec.name = n.to_string();
                    // A source claiming to be another must not be believed.
                    c.origin = Origin::local();
                    c
                })
                .collect::<Vec<_>>()
                .into())
        }
        fn credentials(&self, c: &Connection) -> Result<Credentials, SourceError> {
            assert_eq!(c.origin.source, self.id);
            Ok(Credentials::new(
                c.spec.user.clone(),
                Some(SecretString::from(self.password.lock().unwrap().clone())),
            ))
        }
    }

    fn source(
        id: &'static str,
        badge: &'static str,
        names: Vec<&'static str>,
    ) -> Arc<RotatingSource> {
        Arc::new(RotatingSource {
            id,
            badge,
            names,
            password: Mutex::new("v1".into()),
            fail: false,
        })
    }

    #[test]
    fn merges_sources_and_keeps_each_origin() {
        let mut r = Registry::new();
        r.add_source(source("vault", "Vault", vec!["orders", "shared"]));
        r.add_source(source("pgpass", "pgpass", vec!["shared"]));
        let listing = r.list();
        let shown: Vec<_> = listing
            .connections
            .iter()
            .map(|c| format!("{}:{}", c.origin.badge, c.spec.name))
            .collect();
        assert_eq!(shown, ["Vault:orders", "Vault:shared", "pgpass:shared"]);
        assert!(listing.failures.is_empty());
    }

    #[test]
    fn find_by_id_qualified_name_and_reports_ambiguity() {
        let mut r = Registry::new();
        r.add_source(source("vault", "Vault", vec!["orders", "shared"]));
        r.add_source(source("pgpass", "pgpass", vec!["shared"]));
        assert_eq!(r.find("orders").unwrap().origin.source, "vault");
        assert_eq!(r.find("ORDERS").unwrap().spec.name, "orders");
        assert_eq!(r.find("pgpass:shared").unwrap().origin.source, "pgpass");
        assert_eq!(r.find("pgpass/shared").unwrap().origin.source, "pgpass");
        let err = r.find("shared").unwrap_err();
        assert!(matches!(err, RegistryError::Ambiguous { .. }));
        assert!(
            err.to_string().contains("vault/shared") && err.to_string().contains("pgpass/shared")
        );
        assert!(matches!(r.find("nope"), Err(RegistryError::NotFound(_))));
    }

    #[test]
    fn credentials_are_fetched_at_connect_time_from_the_producing_source() {
        let vault = source("vault", "Vault", vec!["orders"]);
        let mut r = Registry::new();
        r.add_source(vault.clone());
        let c = r.find("orders").unwrap();
        assert_eq!(r.credentials(&c).unwrap().expose_password(), Some("v1"));
        *vault.password.lock().unwrap() = "rotated".into();
        let creds = r.credentials(&c).unwrap();
        assert_eq!(creds.password.unwrap().expose_secret(), "rotated");
    }

    #[test]
    fn a_failing_source_does_not_hide_the_others() {
        let mut r = Registry::new();
        r.add_source(Arc::new(RotatingSource {
            id: "vault",
            badge: "Vault",
            names: vec![],
            password: Mutex::new(String::new()),
            fail: true,
        }));
        r.add_source(source("pgpass", "pgpass", vec!["a"]));
        let listing = r.list();
        assert_eq!(listing.connections.len(), 1);
        assert_eq!(listing.failures.len(), 1);
        assert_eq!(listing.failures[0].source, "vault");
        let mut orphan = listing.connections[0].clone();
        orphan.origin.source = "gone".into();
        assert!(matches!(
            r.credentials(&orphan),
            Err(RegistryError::UnknownSource { .. })
        ));
    }

    #[test]
    fn a_qualified_name_means_its_source_and_case_never_picks_a_winner() {
        let mut r = Registry::new();
        r.add_source(source("local", "Local", vec!["prod", "Stage"]));
        // A plugin's names crafted to win over the user's own.
        r.add_source(source("evil", "evil", vec!["local/prod", "stage"]));
        let c = r.find("local/prod").unwrap();
        assert_eq!(
            (c.origin.source.as_str(), c.spec.name.as_str()),
            ("local", "prod")
        );
        // Exact case used to win; now both are candidates and the user chooses.
        let err = r.find("stage").unwrap_err().to_string();
        assert!(
            err.contains("ambiguous") && err.contains("local/Stage") && err.contains("evil/stage"),
            "{err}"
        );
        assert_eq!(r.find("evil/stage").unwrap().origin.source, "evil");
        // SOURCE/NAME with a prefix no source answers to is an ordinary name.
        assert_eq!(
            r.find("nowhere/x").unwrap_err().to_string(),
            "no connection named or with id `nowhere/x`"
        );
    }

    #[test]
    fn a_source_repeating_connection_ids_is_refused_with_the_ids_named() {
        let mut r = Registry::new();
        r.add_source(source("local", "Local", vec!["prod"]));
        r.add_source(source("evil", "evil", vec!["a", "a", "b"]));
        let listing = r.list();
        assert_eq!(listing.connections.len(), 1);
        assert_eq!(listing.connections[0].origin.source, "local");
        let message = listing.failures[0].error.to_string();
        assert!(
            message.contains("duplicate connection ids (evil:a)"),
            "{message}"
        );
    }
}

//! The plan: what to write and what to remove so the backend mirrors the local items, decided
//! from the local items, what the backend holds, and what this machine synced before. Pure: it
//! reads nothing and writes nothing, so every rule below has a unit test.
//!
//! The rules, per local id:
//! - a local item with no record in the backend is written;
//! - a local item with a record of the same digest is in sync (further records with its id,
//!   left by an interrupted run, are removed);
//! - a local item whose records all differ is written anew and then the old records are
//!   removed (never the other way round), unless the local item is unchanged since the last
//!   sync and the record changed: then another machine edited it, and `pull` brings it in;
//! - records whose local id is not local are removed only when this machine synced that id
//!   before (it was removed here); otherwise they belong to another machine and are reported.

use std::collections::{BTreeMap, BTreeSet};

use super::item::{LocalItem, RemoteItem};

/// One step of applying a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// Write local item `index`, then remove the records in `then_remove`.
    Write {
        index: usize,
        then_remove: Vec<String>,
    },
    /// Remove these records of `local_id`.
    Remove {
        local_id: String,
        label: String,
        remote_refs: Vec<String>,
    },
}

/// Why an item is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteReason {
    /// Not in the backend yet.
    New,
    /// Changed here since the last sync.
    Edited,
    /// Changed here and, since the last sync, in the backend too: this machine's version wins,
    /// and the report says so.
    Conflict,
}

/// What a plan found, beside its steps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanSummary {
    /// Items already mirrored.
    pub in_sync: usize,
    /// Items to write, with why: (label, reason).
    pub writes: Vec<(String, WriteReason)>,
    /// Items to remove from the backend (removed here): labels.
    pub removals: Vec<String>,
    /// Extra records of one local id (an interrupted run) to remove.
    pub duplicates: usize,
    /// Records in the backend that are not local and were never synced here: labels.
    /// `pull` brings them in.
    pub only_remote: Vec<String>,
    /// Items changed in the backend by another machine since this one synced them: labels.
    /// `pull` brings the changes in.
    pub changed_remotely: Vec<String>,
    /// Records that could not be read: (label, why). Never removed unless their id is local.
    pub unreadable: Vec<(String, String)>,
}

/// A plan: steps and what they are for.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    pub ops: Vec<Op>,
    pub summary: PlanSummary,
    /// Local ids found in sync, with their digest (recorded as synced).
    pub confirmed: BTreeMap<String, String>,
}

/// Compare `local` with `remote`, given the digests this machine recorded at its last sync
/// (`synced`: local id -> digest; an empty digest means "being written", not yet confirmed).
pub(crate) fn plan(
    local: &[LocalItem],
    remote: &[RemoteItem],
    synced: &BTreeMap<String, String>,
) -> Plan {
    let mut by_id: BTreeMap<&str, Vec<&RemoteItem>> = BTreeMap::new();
    for r in remote {
        by_id.entry(r.local_id.as_str()).or_default().push(r);
    }
    let mut out = Plan::default();
    let local_ids: BTreeSet<&str> = local.iter().map(|l| l.local_id.as_str()).collect();

    for (index, item) in local.iter().enumerate() {
        let records = by_id
            .get(item.local_id.as_str())
            .cloned()
            .unwrap_or_default();
        let refs = |except: Option<&str>| -> Vec<String> {
            records
                .iter()
                .map(|r| r.remote_ref.clone())
                .filter(|r| Some(r.as_str()) != except)
                .collect()
        };
        let label = item.content.label();
        if records.is_empty() {
            out.ops.push(Op::Write {
                index,
                then_remove: Vec::new(),
            });
            out.summary.writes.push((label, WriteReason::New));
            continue;
        }
        if let Some(same) = records
            .iter()
            .find(|r| r.digest.as_deref() == Some(&item.digest))
        {
            out.summary.in_sync += 1;
            out.confirmed
                .insert(item.local_id.clone(), item.digest.clone());
            let extra = refs(Some(&same.remote_ref));
            if !extra.is_empty() {
                out.summary.duplicates += extra.len();
                out.ops.push(Op::Remove {
                    local_id: item.local_id.clone(),
                    label,
                    remote_refs: extra,
                });
            }
            continue;
        }
        let last = synced
            .get(&item.local_id)
            .map(String::as_str)
            .filter(|d| !d.is_empty());
        let reason = match last {
            // Nothing to compare with: this machine's version is the one to mirror.
            None => WriteReason::Edited,
            Some(last) if records.iter().any(|r| r.digest.as_deref() == Some(last)) => {
                WriteReason::Edited
            }
            Some(last) if last == item.digest => {
                out.summary.changed_remotely.push(label);
                continue;
            }
            Some(_) => WriteReason::Conflict,
        };
        out.ops.push(Op::Write {
            index,
            then_remove: refs(None),
        });
        out.summary.writes.push((label, reason));
    }

    for (id, records) in &by_id {
        if local_ids.contains(id) {
            continue;
        }
        let label = records[0].label();
        if synced.contains_key(*id) {
            out.ops.push(Op::Remove {
                local_id: id.to_string(),
                label: label.clone(),
                remote_refs: records.iter().map(|r| r.remote_ref.clone()).collect(),
            });
            out.summary.removals.push(label);
        } else {
            for r in records {
                match &r.content {
                    Ok(_) => out.summary.only_remote.push(r.label()),
                    Err(why) => out.summary.unreadable.push((r.label(), why.clone())),
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use keeperdb_model::connection::{ConnectionId, ConnectionSpec};
    use keeperdb_model::storage::{ItemKind, StoredItem};
    use keeperdb_model::{Connection, Engine, Origin};

    use super::*;
    use crate::store::SavedConnectionView;

    fn local(id: &str, host: &str) -> LocalItem {
        let mut spec = ConnectionSpec::new(Engine::POSTGRES, format!("conn-{id}"));
        spec.host = Some(host.into());
        LocalItem::connection(&SavedConnectionView {
            connection: Connection {
                id: ConnectionId::from_string(id),
                spec,
                origin: Origin::local(),
            },
            password: None,
            password_rev: None,
        })
    }

    fn remote(item: &LocalItem, remote_ref: &str) -> RemoteItem {
        RemoteItem::from_stored(StoredItem {
            local_id: item.local_id.clone(),
            remote_ref: remote_ref.into(),
            kind: ItemKind::Connection,
            payload: item.content.payload(),
            secret: None,
        })
    }

    fn synced(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_new_local_item_is_written_and_a_mirrored_one_is_left_alone() {
        let a = local("a", "h1");
        let b = local("b", "h2");
        let p = plan(&[a.clone(), b.clone()], &[remote(&a, "r1")], &synced(&[]));
        assert_eq!(
            p.ops,
            vec![Op::Write {
                index: 1,
                then_remove: vec![]
            }]
        );
        assert_eq!(p.summary.in_sync, 1);
        assert_eq!(p.confirmed.get("a"), Some(&a.digest));
    }

    #[test]
    fn a_payload_that_round_trips_hashes_the_same_so_a_second_sync_writes_nothing() {
        let items: Vec<LocalItem> = (0..5).map(|i| local(&i.to_string(), "h")).collect();
        let stored: Vec<RemoteItem> = items
            .iter()
            .enumerate()
            .map(|(i, l)| remote(l, &format!("r{i}")))
            .collect();
        let p = plan(&items, &stored, &synced(&[]));
        assert!(p.ops.is_empty(), "{:?}", p.ops);
        assert_eq!(p.summary.in_sync, 5);
    }

    #[test]
    fn an_edit_writes_the_new_record_before_removing_the_old_one() {
        let old = local("a", "h1");
        let new = local("a", "h2");
        let p = plan(
            &[new],
            &[remote(&old, "r1")],
            &synced(&[("a", &old.digest)]),
        );
        assert_eq!(
            p.ops,
            vec![Op::Write {
                index: 0,
                then_remove: vec!["r1".into()]
            }]
        );
        assert_eq!(p.summary.writes[0].1, WriteReason::Edited);
    }

    #[test]
    fn of_two_records_with_one_local_id_the_matching_one_is_kept() {
        let old = local("a", "h1");
        let new = local("a", "h2");
        let p = plan(
            std::slice::from_ref(&new),
            &[remote(&old, "r-old"), remote(&new, "r-new")],
            &synced(&[("a", &old.digest)]),
        );
        assert_eq!(
            p.ops,
            vec![Op::Remove {
                local_id: "a".into(),
                label: "conn-a".into(),
                remote_refs: vec!["r-old".into()]
            }]
        );
        assert_eq!(p.summary.duplicates, 1);
    }

    #[test]
    fn a_record_removed_here_is_removed_from_the_backend_only_if_it_was_synced_from_here() {
        let mine = local("mine", "h");
        let theirs = local("theirs", "h");
        let p = plan(
            &[],
            &[remote(&mine, "r1"), remote(&theirs, "r2")],
            &synced(&[("mine", &mine.digest)]),
        );
        assert_eq!(
            p.ops,
            vec![Op::Remove {
                local_id: "mine".into(),
                label: "conn-mine".into(),
                remote_refs: vec!["r1".into()]
            }]
        );
        assert_eq!(p.summary.only_remote, vec!["conn-theirs".to_string()]);
    }

    #[test]
    fn a_record_changed_elsewhere_is_not_overwritten_when_nothing_changed_here() {
        let base = local("a", "h1");
        let theirs = local("a", "h-other");
        let p = plan(
            std::slice::from_ref(&base),
            &[remote(&theirs, "r2")],
            &synced(&[("a", &base.digest)]),
        );
        assert!(p.ops.is_empty());
        assert_eq!(p.summary.changed_remotely, vec!["conn-a".to_string()]);
    }

    #[test]
    fn a_change_on_both_sides_is_a_conflict_this_machine_wins_and_it_is_reported() {
        let base = local("a", "h1");
        let theirs = local("a", "h-other");
        let mine = local("a", "h-mine");
        let p = plan(
            &[mine],
            &[remote(&theirs, "r2")],
            &synced(&[("a", &base.digest)]),
        );
        assert_eq!(
            p.ops,
            vec![Op::Write {
                index: 0,
                then_remove: vec!["r2".into()]
            }]
        );
        assert_eq!(p.summary.writes[0].1, WriteReason::Conflict);
    }

    #[test]
    fn an_unreadable_record_of_another_machine_is_reported_and_never_removed() {
        let bad = RemoteItem::from_stored(StoredItem {
            local_id: "x".into(),
            remote_ref: "r9".into(),
            kind: ItemKind::Connection,
            payload: "{\"name\": 5}".into(),
            secret: None,
        });
        let p = plan(&[], &[bad], &synced(&[]));
        assert!(p.ops.is_empty());
        assert_eq!(p.summary.unreadable.len(), 1);
        assert!(p.summary.unreadable[0].1.contains("not a connection"));
    }

    #[test]
    fn an_unreadable_record_of_a_local_item_is_replaced() {
        let a = local("a", "h");
        let bad = RemoteItem::from_stored(StoredItem {
            local_id: "a".into(),
            remote_ref: "r9".into(),
            kind: ItemKind::Connection,
            payload: "garbage".into(),
            secret: None,
        });
        let p = plan(&[a], &[bad], &synced(&[]));
        assert_eq!(
            p.ops,
            vec![Op::Write {
                index: 0,
                then_remove: vec!["r9".into()]
            }]
        );
    }
}

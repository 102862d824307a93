//! What 0.2.0 added and later minors keep: `keeper-vault` records with their links, and a
//! source listing that carries the entries it skipped. Compiled into each of those minors,
//! against its bindings.

use super::keeper_vault;
use super::source_world::exports::keeperdb::plugin::source;
use crate::cap::keeper_vault::{RecordLink, VaultRecord};
use crate::types::PluginListing;

impl From<source::Listing> for PluginListing {
    fn from(listing: source::Listing) -> Self {
        PluginListing {
            connections: listing.connections.into_iter().map(Into::into).collect(),
            skipped: listing
                .skipped
                .into_iter()
                .map(|s| (s.entry, s.reason))
                .collect(),
        }
    }
}

impl From<RecordLink> for keeper_vault::RecordLink {
    fn from(l: RecordLink) -> Self {
        keeper_vault::RecordLink {
            record_uid: l.record_uid,
            path: l.path,
            is_admin: l.is_admin,
            is_launch_credential: l.is_launch_credential,
        }
    }
}

impl From<VaultRecord> for keeper_vault::VaultRecord {
    fn from(r: VaultRecord) -> Self {
        keeper_vault::VaultRecord {
            uid: r.uid,
            record_type: r.record_type,
            title: r.title,
            folder_uid: r.folder_uid,
            fields: r.fields.into_iter().map(Into::into).collect(),
            custom: r.custom.into_iter().map(Into::into).collect(),
            notes: r.notes,
            links: r.links.into_iter().map(Into::into).collect(),
        }
    }
}

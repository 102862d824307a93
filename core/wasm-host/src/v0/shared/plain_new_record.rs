//! `keeper-vault` new records as minors before 0.3.0 write them: values only, no secret
//! handles. Compiled into each of those minors, against its bindings.

use super::keeper_vault;
use crate::cap::keeper_vault::{NewField, NewRecord};

impl From<keeper_vault::NewField> for NewField {
    fn from(f: keeper_vault::NewField) -> Self {
        NewField {
            field_type: f.field_type,
            label: f.label,
            value: f.value,
            secret: None,
        }
    }
}

impl From<keeper_vault::NewRecord> for NewRecord {
    fn from(r: keeper_vault::NewRecord) -> Self {
        NewRecord {
            record_type: r.record_type,
            title: r.title,
            fields: r.fields.into_iter().map(Into::into).collect(),
            custom: r.custom.into_iter().map(Into::into).collect(),
            notes: r.notes,
        }
    }
}

//! The binary forms: each engine's hex notation for bytes, and UUIDs.

use super::Flavor;

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn push_hex(out: &mut String, bytes: &[u8], table: &[u8; 16]) {
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(table[(b >> 4) as usize] as char);
        out.push(table[(b & 0xf) as usize] as char);
    }
}

pub(super) fn push_binary(out: &mut String, bytes: &[u8], flavor: Flavor) {
    match flavor {
        Flavor::Postgres | Flavor::Generic => {
            out.push_str("\\x");
            push_hex(out, bytes, HEX_LOWER);
        }
        Flavor::Mysql => {
            out.push_str("0x");
            push_hex(out, bytes, HEX_UPPER);
        }
        Flavor::Sqlite => {
            out.push_str("X'");
            push_hex(out, bytes, HEX_UPPER);
            out.push('\'');
        }
    }
}

pub(super) fn push_uuid(out: &mut String, b: &[u8]) {
    for (i, chunk) in [&b[0..4], &b[4..6], &b[6..8], &b[8..10], &b[10..16]]
        .iter()
        .enumerate()
    {
        if i > 0 {
            out.push('-');
        }
        push_hex(out, chunk, HEX_LOWER);
    }
}

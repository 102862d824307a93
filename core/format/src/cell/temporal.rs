//! The date, time, timestamp, duration and interval forms, computed from Arrow's integer
//! encodings without a calendar library so a cell allocates nothing.

use std::fmt::Write as _;

use arrow_schema::TimeUnit;

use super::Flavor;

pub(super) fn to_nanos(v: i64, unit: TimeUnit) -> i128 {
    let v = v as i128;
    match unit {
        TimeUnit::Second => v * 1_000_000_000,
        TimeUnit::Millisecond => v * 1_000_000,
        TimeUnit::Microsecond => v * 1_000,
        TimeUnit::Nanosecond => v,
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// At least `width` digits, zero-padded (the hot path of every date and time cell).
fn push_padded(out: &mut String, v: u64, width: usize) {
    let mut b = itoa::Buffer::new();
    let s = b.format(v);
    for _ in s.len()..width {
        out.push('0');
    }
    out.push_str(s);
}

/// Returns whether the date is BC (PostgreSQL writes the suffix after the time, if any).
fn push_date_part(out: &mut String, days: i64, flavor: Flavor) -> bool {
    let (y, m, d) = civil_from_days(days);
    let bc = y <= 0 && flavor == Flavor::Postgres;
    let year = if bc { 1 - y } else { y };
    if year < 0 {
        out.push('-');
    }
    push_padded(out, year.unsigned_abs(), 4);
    out.push('-');
    push_padded(out, u64::from(m), 2);
    out.push('-');
    push_padded(out, u64::from(d), 2);
    bc
}

pub(super) fn push_date(out: &mut String, days: i64, flavor: Flavor) {
    if push_date_part(out, days, flavor) {
        out.push_str(" BC");
    }
}

/// `HH:MM:SS[.ffffff]`, trailing zeros of the fraction dropped (as PostgreSQL does).
pub(super) fn push_time_of_day(out: &mut String, nanos: i128) {
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000) as u32;
    let secs = secs.max(0) as u64;
    push_padded(out, secs / 3600, 2);
    out.push(':');
    push_padded(out, (secs / 60) % 60, 2);
    out.push(':');
    push_padded(out, secs % 60, 2);
    push_fraction(out, frac);
}

fn push_fraction(out: &mut String, frac_nanos: u32) {
    if frac_nanos == 0 {
        return;
    }
    // Engines keep microseconds; show nanoseconds only when they are really there.
    let mut digits = [b'0'; 9];
    let mut v = frac_nanos;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let len = 9 - digits.iter().rev().take_while(|d| **d == b'0').count();
    out.push('.');
    for d in &digits[..len] {
        out.push(*d as char);
    }
}

pub(super) fn push_signed_clock(out: &mut String, nanos: i128) {
    if nanos < 0 {
        out.push('-');
    }
    push_time_of_day(out, nanos.abs());
}

/// Offset in seconds for a fixed-offset Arrow time zone (`UTC`, `+00:00`, `-05:30`).
/// Named zones other than UTC are shown in UTC, which is still the same instant.
fn tz_offset_secs(tz: &str) -> i64 {
    let t = tz.trim();
    let Some(sign) = t.chars().next().filter(|c| *c == '+' || *c == '-') else {
        return 0;
    };
    let rest = &t[1..];
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => (&rest[..2], &rest[2..]),
        None => (rest, "0"),
    };
    let secs = h.parse::<i64>().unwrap_or(0) * 3600 + m.parse::<i64>().unwrap_or(0) * 60;
    if sign == '-' { -secs } else { secs }
}

pub(super) fn push_timestamp(out: &mut String, nanos: i128, tz: Option<&str>, flavor: Flavor) {
    let offset = tz.map(tz_offset_secs).unwrap_or(0);
    let local = nanos + offset as i128 * 1_000_000_000;
    let day_nanos = 86_400_000_000_000i128;
    let days = local.div_euclid(day_nanos) as i64;
    let bc = push_date_part(out, days, flavor);
    out.push(' ');
    push_time_of_day(out, local.rem_euclid(day_nanos));
    if tz.is_some() && matches!(flavor, Flavor::Postgres | Flavor::Generic) {
        out.push(if offset < 0 { '-' } else { '+' });
        let a = offset.abs();
        let _ = write!(out, "{:02}", a / 3600);
        if a % 3600 != 0 {
            let _ = write!(out, ":{:02}", (a % 3600) / 60);
        }
    }
    if bc {
        out.push_str(" BC");
    }
}

/// PostgreSQL's default `IntervalStyle = postgres` output.
pub(super) fn push_pg_interval(out: &mut String, months: i64, days: i64, nanos: i128) {
    let mut is_zero = true;
    let mut is_before = false;
    let mut part = |out: &mut String, value: i64, unit: &str| {
        if value == 0 {
            return;
        }
        if !is_zero {
            out.push(' ');
        }
        if is_before && value > 0 {
            out.push('+');
        }
        let _ = write!(out, "{value} {unit}{}", if value != 1 { "s" } else { "" });
        is_before = value < 0;
        is_zero = false;
    };
    part(out, months / 12, "year");
    part(out, months % 12, "mon");
    part(out, days, "day");
    if is_zero || nanos != 0 {
        if !is_zero {
            out.push(' ');
        }
        if nanos < 0 {
            out.push('-');
        } else if is_before {
            out.push('+');
        }
        let a = nanos.abs();
        let micros_total = a / 1000;
        let secs = micros_total / 1_000_000;
        let _ = write!(
            out,
            "{:02}:{:02}:{:02}",
            secs / 3600,
            (secs / 60) % 60,
            secs % 60
        );
        push_fraction(out, (a % 1_000_000_000) as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_timestamps() {
        let mut s = String::new();
        push_date(&mut s, 0, Flavor::Postgres);
        assert_eq!(s, "1970-01-01");
        s.clear();
        push_date(&mut s, 19724, Flavor::Postgres);
        assert_eq!(s, "2024-01-02");
        s.clear();
        // 0001-01-01 BC is year 0 in the proleptic calendar.
        push_date(&mut s, -719_528, Flavor::Postgres);
        assert_eq!(s, "0001-01-01 BC");
        s.clear();
        let nanos = (19724i128 * 86_400 + 3 * 3600 + 4 * 60 + 5) * 1_000_000_000 + 123_456_000;
        push_timestamp(&mut s, nanos, Some("UTC"), Flavor::Postgres);
        assert_eq!(s, "2024-01-02 03:04:05.123456+00");
        s.clear();
        push_timestamp(&mut s, nanos, Some("+05:30"), Flavor::Postgres);
        assert_eq!(s, "2024-01-02 08:34:05.123456+05:30");
        s.clear();
        push_timestamp(&mut s, nanos, None, Flavor::Mysql);
        assert_eq!(s, "2024-01-02 03:04:05.123456");
    }

    #[test]
    fn intervals_match_psql() {
        let cases: &[(i64, i64, i128, &str)] = &[
            (0, 0, 0, "00:00:00"),
            (
                14,
                3,
                4 * 3_600_000_000_000 + 5 * 60_000_000_000 + 6_789_000_000,
                "1 year 2 mons 3 days 04:05:06.789",
            ),
            (-1, 0, 0, "-1 mons"),
            (0, -1, 3_600_000_000_000, "-1 days +01:00:00"),
            (0, 0, -90_000_000_000, "-00:01:30"),
            (12, 0, 0, "1 year"),
            (0, 0, 100 * 3_600_000_000_000, "100:00:00"),
        ];
        for (m, d, n, want) in cases {
            let mut s = String::new();
            push_pg_interval(&mut s, *m, *d, *n);
            assert_eq!(&s, want);
        }
    }
}

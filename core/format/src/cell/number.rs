//! The number forms: integers, floats laid out as PostgreSQL's float4out/float8out do, and
//! exact decimals from their unscaled digits.

use std::fmt::Write as _;

use arrow_schema::DataType;

use super::Flavor;

pub(super) fn is_integer(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
    )
}

pub(super) fn push_int(out: &mut String, v: impl itoa::Integer) {
    let mut b = itoa::Buffer::new();
    out.push_str(b.format(v));
}

#[derive(Clone, Copy)]
pub(super) enum FloatWidth {
    Single,
    Double,
}

pub(super) fn push_float32(out: &mut String, v: f32, flavor: Flavor) {
    if !v.is_finite() {
        push_float(out, v as f64, FloatWidth::Single, flavor);
        return;
    }
    // Shortest digits of the f32 itself, not of its widened f64.
    let mut exp = StackStr::new();
    let _ = write!(exp, "{v:e}");
    push_from_exp(out, exp.as_str(), FloatWidth::Single, flavor);
}

/// A small stack buffer for number formatting, so rendering a float allocates nothing.
struct StackStr {
    buf: [u8; 64],
    len: usize,
}

impl StackStr {
    fn new() -> Self {
        Self {
            buf: [0; 64],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in, so this cannot fail.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for StackStr {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

pub(super) fn push_float(out: &mut String, v: f64, width: FloatWidth, flavor: Flavor) {
    if flavor == Flavor::Sqlite {
        push_sqlite_real(out, v);
        return;
    }
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    let mut exp = StackStr::new();
    let _ = match width {
        FloatWidth::Single => write!(exp, "{:e}", v as f32),
        FloatWidth::Double => write!(exp, "{v:e}"),
    };
    push_from_exp(out, exp.as_str(), width, flavor);
}

/// Lay out shortest round-trip digits the way PostgreSQL's float8out/float4out do: plain
/// notation for decimal exponents in [-4, DIG), otherwise `d.ddde+XX`.
fn push_from_exp(out: &mut String, exp_form: &str, width: FloatWidth, _flavor: Flavor) {
    let (mantissa, exponent) = exp_form.split_once('e').unwrap_or((exp_form, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let mut digits = StackStr::new();
    for part in mantissa.split('.') {
        let _ = digits.write_str(part);
    }
    let digits = digits.as_str();
    if digits == "0" {
        out.push_str(if neg { "-0" } else { "0" });
        return;
    }
    let dig = match width {
        FloatWidth::Single => 6,
        FloatWidth::Double => 15,
    };
    if neg {
        out.push('-');
    }
    if exponent < -4 || exponent >= dig {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exponent < 0 { '-' } else { '+' });
        let _ = write!(out, "{:02}", exponent.abs());
    } else if exponent < 0 {
        out.push_str("0.");
        for _ in 0..(-exponent - 1) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let int_len = exponent as usize + 1;
        if digits.len() <= int_len {
            out.push_str(digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
}

pub(super) fn push_decimal(out: &mut String, unscaled: &str, scale: i8) {
    let (neg, digits) = match unscaled.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, unscaled),
    };
    if neg {
        out.push('-');
    }
    if scale <= 0 {
        out.push_str(digits);
        // `unsigned_abs`: -(-128i8) does not fit an i8. A zero stays `0` at any scale.
        if digits.trim_start_matches('0').is_empty() {
            return;
        }
        for _ in 0..scale.unsigned_abs() {
            out.push('0');
        }
        return;
    }
    let scale = scale as usize;
    if digits.len() <= scale {
        out.push_str("0.");
        for _ in digits.len()..scale {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let split = digits.len() - scale;
        out.push_str(&digits[..split]);
        out.push('.');
        out.push_str(&digits[split..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(v: f64, w: FloatWidth) -> String {
        let mut s = String::new();
        push_float(&mut s, v, w, Flavor::Postgres);
        s
    }

    #[test]
    fn floats_follow_postgres_layout() {
        assert_eq!(float(1.5, FloatWidth::Double), "1.5");
        assert_eq!(float(1e30, FloatWidth::Double), "1e+30");
        assert_eq!(
            float(1.7976931348623157e308, FloatWidth::Double),
            "1.7976931348623157e+308"
        );
        assert_eq!(
            float(123456789012345.0, FloatWidth::Double),
            "123456789012345"
        );
        assert_eq!(float(1e15, FloatWidth::Double), "1e+15");
        assert_eq!(float(0.0001, FloatWidth::Double), "0.0001");
        assert_eq!(float(0.00001, FloatWidth::Double), "1e-05");
        assert_eq!(float(-2.5e-7, FloatWidth::Double), "-2.5e-07");
        assert_eq!(float(0.0, FloatWidth::Double), "0");
        assert_eq!(float(-0.0, FloatWidth::Double), "-0");
        assert_eq!(float(f64::NAN, FloatWidth::Double), "NaN");
        assert_eq!(float(f64::NEG_INFINITY, FloatWidth::Double), "-Infinity");
        let mut s = String::new();
        push_float32(&mut s, 2.71, Flavor::Postgres);
        assert_eq!(s, "2.71");
        s.clear();
        push_float32(&mut s, 1234567.0, Flavor::Postgres);
        assert_eq!(s, "1.234567e+06");
    }

    #[test]
    fn the_most_negative_declared_scale_multiplies_without_overflow() {
        let mut out = String::new();
        push_decimal(&mut out, "-5", i8::MIN);
        assert_eq!(out, format!("-5{}", "0".repeat(128)));
        let mut zero = String::new();
        push_decimal(&mut zero, "0", i8::MIN);
        assert_eq!(zero, "0");
    }

    #[test]
    fn decimals_keep_their_scale() {
        let mut s = String::new();
        push_decimal(&mut s, "-150", 2);
        assert_eq!(s, "-1.50");
        s.clear();
        push_decimal(&mut s, "5", 3);
        assert_eq!(s, "0.005");
        s.clear();
        push_decimal(&mut s, "12", -2);
        assert_eq!(s, "1200");
    }
}

/// A REAL as the sqlite3 shell prints it (SQLite's `%!.15g`): 15 significant digits, plain
/// notation for decimal exponents in [-4, 15), and always a decimal point (`3.0`, `1.0e+308`),
/// so a REAL never looks like an INTEGER. Infinities are `Inf` / `-Inf`.
fn push_sqlite_real(out: &mut String, v: f64) {
    if v.is_nan() {
        // SQLite stores NaN as NULL; a NaN can only come from elsewhere.
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "Inf" } else { "-Inf" });
        return;
    }
    if v == 0.0 {
        out.push_str("0.0");
        return;
    }
    // Round to 15 significant digits first: the exponent is the rounded value's.
    let mut exp_form = StackStr::new();
    let _ = write!(exp_form, "{v:.14e}");
    let (mantissa, exponent) = exp_form
        .as_str()
        .split_once('e')
        .unwrap_or((exp_form.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let mut digits = StackStr::new();
    for part in mantissa.split('.') {
        let _ = digits.write_str(part);
    }
    let digits = digits.as_str().trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    if neg {
        out.push('-');
    }
    if !(-4..15).contains(&exponent) {
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if digits.len() > 1 { &digits[1..] } else { "0" });
        out.push('e');
        out.push(if exponent < 0 { '-' } else { '+' });
        let _ = write!(out, "{:02}", exponent.abs());
    } else if exponent < 0 {
        out.push_str("0.");
        for _ in 0..(-exponent - 1) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let int_len = exponent as usize + 1;
        if digits.len() <= int_len {
            out.push_str(digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
}

#[cfg(test)]
mod sqlite_tests {
    use super::*;

    fn real(v: f64) -> String {
        let mut s = String::new();
        push_float(&mut s, v, FloatWidth::Double, Flavor::Sqlite);
        s
    }

    #[test]
    fn reals_print_as_the_sqlite3_shell_prints_them() {
        // Each pair checked against `sqlite3 :memory: "select ..."` (3.40).
        for (v, shown) in [
            (3.0, "3.0"),
            (0.0, "0.0"),
            (-0.0, "0.0"),
            (1e308, "1.0e+308"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.333333333333333"),
            (123456789012345678.0, "1.23456789012346e+17"),
            (-2.5e-10, "-2.5e-10"),
            (1e15, "1.0e+15"),
            (100.0, "100.0"),
            (2.0 / 3.0 * 1e20, "6.66666666666667e+19"),
            (9007199254740993.0, "9.00719925474099e+15"),
            (0.30000000000000004, "0.3"),
            (-1.5, "-1.5"),
            (0.0001, "0.0001"),
            (0.00001, "1.0e-05"),
            (999999999999999.9, "1.0e+15"),
            (f64::INFINITY, "Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            assert_eq!(real(v), shown, "{v:e}");
        }
    }
}

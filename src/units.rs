//! Units a user writes and reads: durations (`30d`), sizes (`20GiB`) and byte counts
//! printed for people. One small module with no dependencies inside the crate, so that
//! the command line, the config file, the plan and the report all parse and print the
//! same way without importing each other.

use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

/// The longest duration taken: a thousand years is "never" for a cache, and a bound keeps
/// every clock sum (`now + timeout`, `now - age`) far from overflowing.
const MAX_DURATION: Duration = Duration::from_secs(1000 * 365 * 86_400);

/// Parses `0s`, `90m`, `30d`, `1h 30m` (humantime syntax), up to a thousand years.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.trim_start().starts_with('-') {
        return Err(format!(
            "{text:?} is negative: a duration is 0 or more, a number and a unit (examples: 0s, 90m, 30d)"
        ));
    }
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("{text:?}: {e} (examples: 0s, 90m, 30d)"))?;
    if duration > MAX_DURATION {
        return Err(format!(
            "{text:?} is longer than a thousand years, the longest duration taken; to set no limit, leave the option out"
        ));
    }
    Ok(duration)
}

/// Bytes for people, in binary units (`1.5 GiB`), as `du -h` users read them.
pub fn human_bytes(bytes: u64) -> String {
    ByteSize(bytes).display().iec().to_string()
}

/// A size written with a unit: `20GiB`, `500MB`, `1.5 GiB`, `976896B`. A bare number is
/// refused (but `0`): `max-size = 20` meant 20 bytes and made every dead archive removable,
/// when the writer surely meant 20 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

/// Units by their lowercase spelling: decimal (kB, MB, ...) and binary (KiB, MiB, ...),
/// with or without the trailing `b`, as `bytesize` and `du` users write them.
const UNITS: [(&str, u64); 15] = [
    ("b", 1),
    ("k", 1_000),
    ("kb", 1_000),
    ("m", 1_000_000),
    ("mb", 1_000_000),
    ("g", 1_000_000_000),
    ("gb", 1_000_000_000),
    ("t", 1_000_000_000_000),
    ("tb", 1_000_000_000_000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("pib", 1 << 50),
    ("eib", 1 << 60),
];

const SIZE_EXAMPLES: &str = "examples: 20GiB, 500MB, 1.5TiB, 976896B";

/// The error for a bare number: what it would have meant, and what to write instead.
fn no_unit(number: &str) -> String {
    format!(
        "{number:?} has no unit: write {number}GiB or {number}MB, or {number}B if you mean bytes"
    )
}

impl std::str::FromStr for Size {
    type Err = String;

    /// Parsed by hand, in integers: a float would round big sizes silently, and every
    /// way to be wrong gets its own message saying what to write instead.
    fn from_str(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if trimmed.starts_with('-') {
            return Err(format!(
                "{trimmed:?}: a size cannot be negative ({SIZE_EXAMPLES})"
            ));
        }
        let number_end = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(number_end);
        let unit = unit.trim().to_ascii_lowercase();
        let Some(&(_, multiplier)) = UNITS
            .iter()
            .find(|(name, _)| *name == unit || (unit.is_empty() && *name == "b"))
        else {
            return Err(format!(
                "{trimmed:?}: unknown unit {unit:?} (use B, kB, MB, GB, TB, KiB, MiB, GiB, TiB, PiB or EiB; {SIZE_EXAMPLES})"
            ));
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
            return Err(format!("{trimmed:?} is not a size ({SIZE_EXAMPLES})"));
        }
        let too_large = || {
            format!(
                "{trimmed:?} is larger than the largest size this tool can count, {} bytes (16 EiB); for no size limit, leave the size out ({SIZE_EXAMPLES})",
                u64::MAX
            )
        };
        // whole * multiplier + fraction * multiplier / 10^digits, in u128 so that only
        // the final check can overflow.
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse::<u64>().map_err(|_| too_large())?.into()
        };
        let whole_bytes = whole
            .checked_mul(u128::from(multiplier))
            .ok_or_else(too_large)?;
        // Past 20 digits a fraction cannot change a byte count; 10^20 * 2^60 fits in u128.
        let digits = &fraction[..fraction.len().min(20)];
        let fraction_bytes = match digits.parse::<u128>() {
            Ok(numerator) => numerator * u128::from(multiplier) / 10u128.pow(digits.len() as u32),
            Err(_) => 0,
        };
        let bytes = u64::try_from(whole_bytes + fraction_bytes).map_err(|_| too_large())?;
        if unit.is_empty() && bytes != 0 {
            return Err(no_unit(number));
        }
        Ok(Size(bytes))
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SizeVisitor)
    }
}

/// A size in the config: a whole number of bytes, or a string with a unit. Each wrong
/// type gets a message saying what to write, not serde's "did not match any variant".
struct SizeVisitor;

impl serde::de::Visitor<'_> for SizeVisitor {
    type Value = Size;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a size: a string with a unit ({SIZE_EXAMPLES})")
    }

    fn visit_u64<E: serde::de::Error>(self, bytes: u64) -> Result<Size, E> {
        if bytes == 0 {
            return Ok(Size(0));
        }
        Err(E::custom(format!(
            "{bytes} has no unit: write it as a string with one, like \"{bytes}GiB\" or \"{bytes}MB\", or \"{bytes}B\" if you mean bytes"
        )))
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Size, E> {
        match u64::try_from(value) {
            Ok(bytes) => self.visit_u64(bytes),
            Err(_) => Err(E::custom(format!(
                "{value} is negative: a size is at least 0 ({SIZE_EXAMPLES})"
            ))),
        }
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Size, E> {
        Err(E::custom(format!(
            "{value} is not a whole number of bytes: write a fraction as a string with a unit, like \"1.5GiB\""
        )))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Size, E> {
        text.parse().map_err(E::custom)
    }
}

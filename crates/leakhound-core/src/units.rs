//! Parsing and printing of durations and byte sizes as users write them in config and flags.

use std::time::Duration;

/// Parse a duration such as `30s`, `5m`, `1h30m` or `250ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("a duration is empty; write e.g. '30s', '5m' or '1h'".into());
    }
    humantime::parse_duration(trimmed)
        .map_err(|_| format!("'{trimmed}' is not a duration; write e.g. '30s', '5m' or '1h'"))
}

/// Parse a byte size such as `512`, `64KB`, `10MB`, `4GiB` (KB/MB/GB are powers of 1024, as the
/// guide's `alloc_mb` fields are).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let bad = || format!("'{trimmed}' is not a size; write e.g. '512KB', '10MB' or '4GB'");
    let value: f64 = number.parse().map_err(|_| bad())?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    let bytes = value * factor as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes.round() as u64)
}

/// Whole mebibytes, the unit of the guide's health JSON (`alloc_mb` etc.).
pub fn mb(bytes: u64) -> u64 {
    bytes / (1 << 20)
}

/// A short human size: `812KB`, `256MB`, `3.2GB`.
pub fn human_bytes(bytes: u64) -> String {
    const GB: f64 = (1u64 << 30) as f64;
    let b = bytes as f64;
    if b >= GB {
        format!("{:.1}GB", b / GB)
    } else if bytes >= 1 << 20 {
        format!("{}MB", bytes >> 20)
    } else if bytes >= 1 << 10 {
        format!("{}KB", bytes >> 10)
    } else {
        format!("{bytes}B")
    }
}

/// Print a duration the way users write it: `30s`, `5m`, `1h30m`.
pub fn human_duration(d: Duration) -> String {
    humantime::format_duration(Duration::from_millis(d.as_millis() as u64))
        .to_string()
        .replace(' ', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("512").unwrap(), 512);
        assert_eq!(parse_bytes("10MB").unwrap(), 10 << 20);
        assert_eq!(parse_bytes("1.5 GB").unwrap(), 3 << 29);
        assert!(parse_bytes("ten").unwrap_err().contains("'ten'"));
        assert!(parse_bytes("5XB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("soon").unwrap_err().contains("'soon'"));
        assert_eq!(human_duration(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn human() {
        assert_eq!(human_bytes(256 << 20), "256MB");
        assert_eq!(human_bytes(3 << 30), "3.0GB");
        assert_eq!(mb((256 << 20) + 5), 256);
    }
}

//! `/debug/pprof/goroutine?debug=1`: only its first line, `goroutine profile: total N`, the
//! cheapest goroutine count a stock Go service with net/http/pprof offers.

use crate::Metrics;

pub fn parse_total(head: &[u8]) -> Result<Metrics, String> {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(&line[..line.len().min(1024)]);
    let total = line
        .trim()
        .strip_prefix("goroutine profile: total ")
        .and_then(|n| n.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            format!(
                "expected 'goroutine profile: total N' as the first line, got '{}'",
                crate::text::escape_capped(&line, 60)
            )
        })?;
    Ok(Metrics {
        goroutines: Some(total),
        ..Metrics::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_line() {
        let m = parse_total(b"goroutine profile: total 1234\n5 @ 0x1\n").unwrap();
        assert_eq!(m.goroutines, Some(1234));
        assert!(parse_total(b"<html>").unwrap_err().contains("'<html>'"));
    }
}

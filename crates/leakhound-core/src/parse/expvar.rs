//! expvar `/debug/vars`: `memstats` always; the goroutine count when the service publishes a
//! variable for it (named `goroutines` by default).

use crate::Metrics;
use serde_json::Value;

pub fn parse(body: &[u8], goroutines_var: &str) -> Result<Metrics, String> {
    let json: Value = serde_json::from_slice(body)
        .map_err(|e| format!("not JSON ({})", crate::text::target_text(&e.to_string())))?;
    let memstats = json
        .get("memstats")
        .ok_or("no 'memstats' object: is this Go's expvar page (import _ \"expvar\")?")?;
    let field = |name: &str| memstats.get(name).and_then(Value::as_u64);
    let goroutines = match json.get(goroutines_var) {
        None => None,
        // A float count (`1e308`) is read like the other sources read one (saturating), so the
        // agent's one ceiling rejects it as out of range rather than as a broken page.
        Some(v) => Some(v.as_u64().or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)).ok_or_else(|| {
            format!(
                "expvar '{goroutines_var}' is '{}', not a count; set `expvar_goroutines` to the variable that holds runtime.NumGoroutine()",
                crate::text::target_text(&super::health::shown_json(v))
            )
        })?),
    };
    Ok(Metrics {
        goroutines,
        alloc_bytes: field("Alloc"),
        total_alloc_bytes: field("TotalAlloc"),
        sys_bytes: field("Sys"),
        heap_bytes: field("HeapInuse").or(field("HeapAlloc")),
        num_gc: field("NumGC"),
        ..Metrics::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memstats_and_goroutines() {
        let body = br#"{"cmdline":["x"],"goroutines":42,"memstats":{"Alloc":1000,"TotalAlloc":5000,"Sys":9000,"HeapInuse":2000,"NumGC":7}}"#;
        let m = parse(body, "goroutines").unwrap();
        assert_eq!(m.goroutines, Some(42));
        assert_eq!(m.alloc_bytes, Some(1000));
        assert_eq!(m.heap_bytes, Some(2000));
        assert_eq!(m.num_gc, Some(7));
        assert_eq!(parse(body, "other").unwrap().goroutines, None);
    }

    #[test]
    fn an_absurd_float_count_reaches_the_ceiling() {
        let body = br#"{"goroutines":1e308,"memstats":{}}"#;
        let mut m = parse(body, "goroutines").unwrap();
        assert_eq!(m.goroutines, Some(u64::MAX));
        assert!(m.reject_impossible().is_some());
        let e = parse(br#"{"goroutines":"a\nb","memstats":{}}"#, "goroutines").unwrap_err();
        assert!(e.contains(r"a\nb"), "{e}");
    }

    #[test]
    fn not_expvar() {
        assert!(parse(b"{}", "goroutines").unwrap_err().contains("memstats"));
        assert!(parse(b"]", "goroutines").unwrap_err().contains("not JSON"));
    }
}

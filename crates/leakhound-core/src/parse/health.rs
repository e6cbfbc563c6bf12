//! The guide's `/api/monitor/health` JSON (GUIDE §1), or a look-alike mapped with JSON pointers:
//! `{"status":"ok","goroutines":1234,"memory":{"alloc_mb":256,"total_alloc_mb":1024,"sys_mb":512,"num_gc":45}}`

use crate::config::FieldMap;
use crate::text::{target_bytes, target_text};
use crate::Metrics;
use serde_json::Value;

const MB: f64 = (1u64 << 20) as f64;

/// Parse a health body. The goroutine count is required; memory fields are optional.
pub fn parse(body: &[u8], fields: &FieldMap) -> Result<Metrics, String> {
    let json: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "not JSON ({}); it begins with '{}'",
            target_text(&e.to_string()),
            target_bytes(&body[..body.len().min(40)])
        )
    })?;
    let goroutines = number(&json, &fields.goroutines)?.ok_or_else(|| {
        format!(
            "no number at JSON pointer '{}'; for a look-alike endpoint set [targets.fields] goroutines = \"/path/to/count\"",
            fields.goroutines
        )
    })?;
    let mb = |pointer: &str| -> Result<Option<u64>, String> {
        Ok(number(&json, pointer)?.map(|v| (v * MB) as u64))
    };
    Ok(Metrics {
        goroutines: Some(goroutines as u64),
        alloc_bytes: mb(&fields.alloc_mb)?,
        total_alloc_bytes: mb(&fields.total_alloc_mb)?,
        sys_bytes: mb(&fields.sys_mb)?,
        num_gc: number(&json, &fields.num_gc)?.map(|v| v as u64),
        ..Metrics::default()
    })
}

/// The non-negative number at `pointer`; `None` when absent; an error when present but not a number.
fn number(json: &Value, pointer: &str) -> Result<Option<f64>, String> {
    if pointer.is_empty() {
        return Ok(None);
    }
    match json.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v >= 0.0 => Ok(Some(v)),
            _ => Err(format!(
                "'{}' at '{pointer}' is not a count ≥ 0",
                target_text(&n.to_string())
            )),
        },
        // Some exporters quote numbers.
        Some(Value::String(s)) => s
            .parse::<f64>()
            .ok()
            .filter(|v| *v >= 0.0)
            .map(Some)
            .ok_or_else(|| format!("'{}' at '{pointer}' is not a number", target_text(s))),
        Some(other) => Err(format!(
            "'{}' at '{pointer}' is not a number",
            target_text(&shown_json(other))
        )),
    }
}

/// A JSON value as text, without rendering more of it than can be shown (a target may send
/// a 10 MB object where a number belongs).
pub(crate) fn shown_json(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        Value::Array(a) if !a.is_empty() => format!("[… {} items]", a.len()),
        Value::Object(o) if !o.is_empty() => format!("{{… {} keys}}", o.len()),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guides_shape() {
        let body = br#"{"status":"ok","goroutines":1234,"memory":{"alloc_mb":256,"total_alloc_mb":1024,"sys_mb":512,"num_gc":45}}"#;
        let m = parse(body, &FieldMap::default()).unwrap();
        assert_eq!(m.goroutines, Some(1234));
        assert_eq!(m.alloc_bytes, Some(256 << 20));
        assert_eq!(m.total_alloc_bytes, Some(1024 << 20));
        assert_eq!(m.sys_bytes, Some(512 << 20));
        assert_eq!(m.num_gc, Some(45));
    }

    #[test]
    fn look_alike_with_pointers() {
        let body = br#"{"data":{"rt":{"g":"77"}}}"#;
        let fields = FieldMap {
            goroutines: "/data/rt/g".into(),
            ..FieldMap::default()
        };
        let m = parse(body, &fields).unwrap();
        assert_eq!(m.goroutines, Some(77));
        assert_eq!(m.alloc_bytes, None);
    }

    #[test]
    fn errors_say_what_and_how() {
        let e = parse(b"<html>oops</html>", &FieldMap::default()).unwrap_err();
        assert!(e.contains("not JSON") && e.contains("<html>"), "{e}");
        let e = parse(br#"{"status":"ok"}"#, &FieldMap::default()).unwrap_err();
        assert!(
            e.contains("'/goroutines'") && e.contains("[targets.fields]"),
            "{e}"
        );
        let e = parse(br#"{"goroutines":-3}"#, &FieldMap::default()).unwrap_err();
        assert!(e.contains("'-3'"), "{e}");
    }

    /// Issue 13: a 1 MB string where the count belongs was copied whole into the error (and
    /// from there into the store, the log and every alert); a newline in it forged log lines.
    #[test]
    fn target_text_in_errors_is_capped_and_escaped() {
        let big = format!(r#"{{"goroutines":"{}"}}"#, "x".repeat(1 << 20));
        let e = parse(big.as_bytes(), &FieldMap::default()).unwrap_err();
        assert!(e.len() < 600, "{} bytes", e.len());
        let forged = br#"{"goroutines":"1
ERROR FAKE: injected line"}"#;
        let e = parse(forged, &FieldMap::default()).unwrap_err();
        assert!(!e.contains('\n') && e.contains(r"1\nERROR FAKE"), "{e}");
        let e = parse(
            format!("\n{}", "y".repeat(1 << 20)).as_bytes(),
            &FieldMap::default(),
        )
        .unwrap_err();
        assert!(e.len() < 600 && !e.contains('\n'), "{e}");
        let obj = format!(r#"{{"goroutines":{{"a":"{}"}}}}"#, "z".repeat(1 << 20));
        let e = parse(obj.as_bytes(), &FieldMap::default()).unwrap_err();
        assert!(e.len() < 600, "{e}");
    }

    /// Issue 13: `1e308` goroutines saturates to u64::MAX here; the agent rejects it as out of
    /// range (`Metrics::reject_impossible`) instead of firing goroutines_critical.
    #[test]
    fn absurd_counts_saturate_and_are_caught_by_the_ceiling() {
        let mut m = parse(br#"{"goroutines":1e308}"#, &FieldMap::default()).unwrap();
        let reason = m.reject_impossible().unwrap();
        assert!(
            reason.contains("goroutines=") && reason.contains("max 100000000"),
            "{reason}"
        );
        assert_eq!(m.goroutines, None);
    }
}

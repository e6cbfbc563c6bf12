//! The debug=1 parser (`goroutine profile: total N`, `count @ pcs`, `# labels: {…}`,
//! `#\tpc\tfunc+off\tfile:line`). Strict: a line that fits none of these is an error naming
//! the line and what was expected.
//!
//! Go 1.26's `/debug/pprof/goroutineleak?debug=1` has the same body under the header
//! `goroutineleak profile: total N`; it lists only the goroutines the leak-detection GC found
//! blocked on unreachable primitives, so every record of it is marked [`Record::leaked`].

use crate::debug2::{parse_u64, snippet, split_file_line, utf8, Lines};
use crate::model::{Builder, Record, Snapshot, StrId};
use crate::{Format, Limits, ParseError};

pub(crate) const HEADER: &[u8] = b"goroutine profile: total ";
/// The header of Go 1.26's goroutineleak profile (`GOEXPERIMENT=goroutineleakprofile`).
pub(crate) const LEAK_HEADER: &[u8] = b"goroutineleak profile: total ";

/// Whether `line` (leading whitespace already skipped) starts a debug=1 profile.
pub(crate) fn is_header(line: &[u8]) -> bool {
    line.starts_with(HEADER) || line.starts_with(LEAK_HEADER)
}

pub(crate) fn parse(input: &[u8], limits: &Limits) -> Result<Snapshot, ParseError> {
    let mut b = Builder::new(Format::Debug1, limits);
    let mut lines = Lines::new(input);
    // The header (leading blank lines tolerated). Every goroutine of a goroutineleak
    // profile is leaked.
    let leaked = loop {
        let Some((line, _)) = lines.next_line() else {
            return Err(ParseError::NoGoroutines { lines: 0 });
        };
        let header = line.trim_ascii();
        if header.is_empty() {
            continue;
        }
        let (total, leaked) = if let Some(total) = header.strip_prefix(HEADER) {
            (total, false)
        } else if let Some(total) = header.strip_prefix(LEAK_HEADER) {
            (total, true)
        } else {
            return Err(syntax(
                lines.line_no,
                "'goroutine profile: total N' or 'goroutineleak profile: total N'",
                line,
            ));
        };
        match parse_u64(total.trim_ascii()) {
            Some(n) => {
                b.check_announced(n)?;
                b.header_total = Some(n);
            }
            None => return Err(syntax(lines.line_no, "a number after 'total'", line)),
        }
        break leaked;
    };

    struct Rec {
        count: u64,
        labels: u32,
        line: u64,
    }
    let mut cur: Option<Rec> = None;
    let mut truncated = false;
    while let Some((line, complete)) = lines.next_line() {
        let ln = lines.line_no;
        if !complete && !line.is_empty() {
            truncated = true;
        }
        if line.trim_ascii().is_empty() {
            if let Some(r) = cur.take() {
                push(&mut b, r.count, r.labels, leaked, false)?;
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix(b"#\t") {
            if cur.is_none() {
                return Err(syntax(ln, "'COUNT @ PC…' before a frame line", line));
            }
            // Fields are tab-separated and padded with extra tabs by a tabwriter.
            let mut fields = rest.split(|&c| c == b'\t').filter(|f| !f.is_empty());
            let pc = fields.next().unwrap_or(b"?");
            let func = fields.next().unwrap_or(b"");
            let func = match memchr::memmem::rfind(func, b"+0x") {
                Some(i) => &func[..i],
                None => func,
            };
            let (file, lineno) = split_file_line(fields.next().unwrap_or(b""));
            let func = if func.is_empty() { pc } else { func };
            let f = b.frame(utf8(func), utf8(file), lineno);
            b.push_frame(f)?;
            continue;
        }
        if let Some(rest) = line.strip_prefix(b"# labels: ") {
            if cur.is_none() {
                return Err(syntax(ln, "'COUNT @ PC…' before '# labels:'", line));
            }
            let pairs = match parse_labels(&mut b, rest) {
                Ok(p) => p,
                Err(expected) if !complete => {
                    b.warn(ln, format!("truncated labels line: expected {expected}"));
                    Vec::new()
                }
                Err(expected) => return Err(syntax(ln, expected, line)),
            };
            let id = b.label_set(pairs)?;
            if let Some(r) = cur.as_mut() {
                r.labels = id;
            }
            continue;
        }
        if let Some(at) = memchr::memmem::find(line, b" @") {
            if let Some(count) = parse_u64(&line[..at]) {
                if let Some(r) = cur.take() {
                    push(&mut b, r.count, r.labels, leaked, false)?;
                }
                cur = Some(Rec {
                    count,
                    labels: 0,
                    line: ln,
                });
                continue;
            }
        }
        if !complete {
            break;
        }
        return Err(syntax(
            ln,
            "'COUNT @ PC…', '# labels: {…}', '#\\tPC\\tFUNC+OFF\\tFILE:LINE' or a blank line",
            line,
        ));
    }
    if let Some(r) = cur.take() {
        if truncated {
            b.warn(
                lines.line_no,
                format!(
                    "the profile ends in the middle of the record at line {}: it was truncated",
                    r.line
                ),
            );
        }
        push(&mut b, r.count, r.labels, leaked, truncated)?;
    }
    if b.records.is_empty() && b.header_total.unwrap_or(0) > 0 {
        return Err(ParseError::NoGoroutines {
            lines: lines.line_no,
        });
    }
    Ok(b.build())
}

fn push(
    b: &mut Builder<'_>,
    count: u64,
    labels: u32,
    leaked: bool,
    truncated: bool,
) -> Result<(), ParseError> {
    let stack = b.finish_stack();
    b.push_record(Record {
        count,
        id: None,
        state: 0,
        wait_minutes: None,
        locked_to_thread: false,
        leaked,
        stack,
        created_by: None,
        creator_id: None,
        labels,
        elided: false,
        truncated,
    })
}

fn syntax(line: u64, expected: &str, found: &[u8]) -> ParseError {
    ParseError::Syntax {
        line,
        expected: expected.to_string(),
        found: snippet(found),
    }
}

/// `{"channel":"openai", "site":"chan"}` — Go `%q` strings joined by `, `.
fn parse_labels<'a>(b: &mut Builder<'a>, s: &'a [u8]) -> Result<Vec<(StrId, StrId)>, &'static str> {
    let s = s.trim_ascii();
    let Some(inner) = s.strip_prefix(b"{").and_then(|s| s.strip_suffix(b"}")) else {
        return Err("'{\"key\":\"value\", …}' after '# labels: '");
    };
    let mut pairs = Vec::new();
    let mut rest = inner.trim_ascii_start();
    while !rest.is_empty() {
        let (k, r) = quoted(b, rest).ok_or("a quoted label key")?;
        let r = r.strip_prefix(b":").ok_or("':' after a label key")?;
        let (v, r) = quoted(b, r).ok_or("a quoted label value")?;
        pairs.push((k, v));
        rest = r.trim_ascii_start();
        if let Some(r) = rest.strip_prefix(b",") {
            rest = r.trim_ascii_start();
        } else if !rest.is_empty() {
            return Err("',' between labels");
        }
    }
    Ok(pairs)
}

/// A Go-quoted string at the start of `s`; returns the interned value and the rest.
fn quoted<'a>(b: &mut Builder<'a>, s: &'a [u8]) -> Option<(StrId, &'a [u8])> {
    let body = s.strip_prefix(b"\"")?;
    let mut i = 0;
    let mut escaped = false;
    while i < body.len() {
        match body[i] {
            b'\\' => {
                escaped = true;
                i += 2;
            }
            b'"' => break,
            _ => i += 1,
        }
    }
    if i >= body.len() {
        return None;
    }
    let raw = &body[..i];
    let rest = &body[i + 1..];
    let id = if escaped {
        b.intern_owned(unescape(raw))
    } else {
        b.intern(std::str::from_utf8(raw).ok()?)
    };
    Some((id, rest))
}

fn unescape(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c != b'\\' || i + 1 >= raw.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let e = raw[i + 1];
        i += 2;
        match e {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'x' => {
                let hex = raw.get(i..i + 2).and_then(|h| std::str::from_utf8(h).ok());
                if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(v);
                    i += 2;
                }
            }
            b'u' | b'U' => {
                let n = if e == b'u' { 4 } else { 8 };
                let hex = raw.get(i..i + n).and_then(|h| std::str::from_utf8(h).ok());
                if let Some(ch) = hex
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32)
                {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    i += n;
                }
            }
            other => out.push(other),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use crate::{bucketize, detect, parse, Format, GroupBy};

    const LEAK: &str = "goroutineleak profile: total 5
3 @ 0x48ac6e 0x41963c 0x6a3f12 0x492661
# labels: {\"tenant\":\"acme\"}
#\t0x6a3f11\texample.com/app/billing.(*Quota).report+0x51\t/app/billing/billing.go:79

2 @ 0x48ac6e 0x41963c 0x6a3f12 0x492661
#\t0x6a3f11\texample.com/app/billing.(*Quota).report+0x51\t/app/billing/billing.go:79

";

    #[test]
    fn goroutineleak_debug1_is_detected_and_every_record_is_leaked() {
        assert_eq!(detect(LEAK.as_bytes()), Format::Debug1);
        assert_eq!(detect(format!("\n  {LEAK}").as_bytes()), Format::Debug1);
        let s = parse(LEAK.as_bytes()).unwrap();
        assert_eq!(s.format(), Format::Debug1);
        assert!(s.warnings().is_empty(), "{:?}", s.warnings());
        assert_eq!(s.header_total(), Some(5));
        assert_eq!(s.total(), 5);
        assert_eq!(s.records().len(), 2);
        assert!(s.records().iter().all(|r| r.leaked));
        let buckets = bucketize(&s, GroupBy::Function);
        assert_eq!(buckets.len(), 1);
        assert_eq!(buckets[0].count, 5);
        assert_eq!(buckets[0].leaked, 5);

        // The same body under the goroutine profile's header: nothing is marked.
        let plain = LEAK.replacen("goroutineleak profile:", "goroutine profile:", 1);
        let s = parse(plain.as_bytes()).unwrap();
        assert_eq!(s.total(), 5);
        assert!(s.records().iter().all(|r| !r.leaked));
        assert_eq!(bucketize(&s, GroupBy::Function)[0].leaked, 0);
    }

    #[test]
    fn other_profile_headers_are_not_debug1() {
        let heap = LEAK.replacen("goroutineleak profile:", "heap profile:", 1);
        assert_eq!(detect(heap.as_bytes()), Format::Debug2);
        let e = crate::parse_as(heap.as_bytes(), Format::Debug1).unwrap_err();
        assert!(
            matches!(e, crate::ParseError::Syntax { line: 1, .. }),
            "{e:?}"
        );
    }
}

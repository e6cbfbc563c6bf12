//! The debug=1 parser (`goroutine profile: total N`, `count @ pcs`, `# labels: {…}`,
//! `#\tpc\tfunc+off\tfile:line`). Strict: a line that fits none of these is an error naming
//! the line and what was expected.

use crate::debug2::{parse_u64, snippet, split_file_line, utf8, Lines};
use crate::model::{Builder, Record, Snapshot, StrId};
use crate::{Format, ParseError};

pub(crate) const HEADER: &[u8] = b"goroutine profile: total ";

pub(crate) fn parse(input: &[u8]) -> Result<Snapshot, ParseError> {
    let mut b = Builder::new(Format::Debug1);
    let mut lines = Lines::new(input);
    // The header (leading blank lines tolerated).
    loop {
        let Some((line, _)) = lines.next_line() else {
            return Err(ParseError::NoGoroutines { lines: 0 });
        };
        if line.trim_ascii().is_empty() {
            continue;
        }
        let Some(total) = line.trim_ascii().strip_prefix(HEADER) else {
            return Err(syntax(lines.line_no, "'goroutine profile: total N'", line));
        };
        match parse_u64(total.trim_ascii()) {
            Some(n) => b.header_total = Some(n),
            None => return Err(syntax(lines.line_no, "a number after 'total'", line)),
        }
        break;
    }

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
                push(&mut b, r.count, r.labels, false);
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
            b.scratch.push(f);
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
            let id = b.label_set(pairs);
            if let Some(r) = cur.as_mut() {
                r.labels = id;
            }
            continue;
        }
        if let Some(at) = memchr::memmem::find(line, b" @") {
            if let Some(count) = parse_u64(&line[..at]) {
                if let Some(r) = cur.take() {
                    push(&mut b, r.count, r.labels, false);
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
        push(&mut b, r.count, r.labels, truncated);
    }
    if b.records.is_empty() && b.header_total.unwrap_or(0) > 0 {
        return Err(ParseError::NoGoroutines {
            lines: lines.line_no,
        });
    }
    Ok(b.build())
}

fn push(b: &mut Builder<'_>, count: u64, labels: u32, truncated: bool) {
    let stack = b.finish_stack();
    b.records.push(Record {
        count,
        id: None,
        state: 0,
        wait_minutes: None,
        locked_to_thread: false,
        leaked: false,
        stack,
        created_by: None,
        creator_id: None,
        labels,
        elided: false,
        truncated,
    });
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

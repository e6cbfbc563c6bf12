//! The debug=2 / traceback parser: one pass over the input bytes, `memchr` line scanning,
//! every string a slice of the input, interned on first sight.

use crate::model::{Builder, FrameId, Record, Snapshot, StrId};
use crate::{Format, Limits, ParseError};

pub(crate) struct Lines<'a> {
    buf: &'a [u8],
    pos: usize,
    /// 1-based number of the line last returned.
    pub(crate) line_no: u64,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Lines {
            buf,
            pos: 0,
            line_no: 0,
        }
    }

    fn slice_at(&self, pos: usize) -> Option<(&'a [u8], usize, bool)> {
        let rest = self.buf.get(pos..)?;
        if rest.is_empty() {
            return None;
        }
        let (line, next, complete) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], pos + i + 1, true),
            None => (rest, self.buf.len(), false),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Some((line, next, complete))
    }

    /// The next line without its `\n` / `\r\n`, and whether it ended with a newline.
    pub(crate) fn next_line(&mut self) -> Option<(&'a [u8], bool)> {
        let (line, next, complete) = self.slice_at(self.pos)?;
        self.pos = next;
        self.line_no += 1;
        Some((line, complete))
    }

    pub(crate) fn peek(&self) -> Option<&'a [u8]> {
        self.slice_at(self.pos).map(|(l, _, _)| l)
    }
}

pub(crate) fn utf8(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("<invalid utf-8>")
}

/// Strips the trailing argument list `(…)` of a traceback function line, matching parens from
/// the end so that `pkg.(*T).M(0x1, {0x2, 0x3})` gives `pkg.(*T).M`.
pub(crate) fn strip_args(line: &[u8]) -> &[u8] {
    if line.last() != Some(&b')') {
        return line;
    }
    let mut depth = 0usize;
    for (i, &c) in line.iter().enumerate().rev() {
        match c {
            b')' => depth += 1,
            b'(' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return if i == 0 { line } else { &line[..i] };
                }
            }
            _ => {}
        }
    }
    line
}

/// Splits `\t/path/file.go:123 +0x1d` (after the tab) into file and line.
pub(crate) fn split_file_line(s: &[u8]) -> (&[u8], u32) {
    let end = memchr::memmem::find(s, b" +0x")
        .or_else(|| memchr::memmem::find(s, b" fp="))
        .unwrap_or(s.len());
    let s = &s[..end];
    if let Some(c) = memchr::memrchr(b':', s) {
        if let Some(n) = parse_u64(&s[c + 1..]) {
            return (&s[..c], u32::try_from(n).unwrap_or(u32::MAX));
        }
    }
    (s, 0)
}

pub(crate) fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    let mut n = 0u64;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(c - b'0');
    }
    Some(n)
}

pub(crate) struct Header<'a> {
    id: u64,
    state: &'a [u8],
    minutes: Option<u32>,
    locked: bool,
}

/// `goroutine 18 [chan receive, 5 minutes, locked to thread]:` (also Go 1.23+'s
/// `goroutine 1 gp=0x… m=0 mp=0x… [running]:`). `None` when the line is not a header at all,
/// `Some(Err(expected))` when it starts like one but is malformed.
pub(crate) fn parse_header(line: &[u8]) -> Option<Result<Header<'_>, &'static str>> {
    let rest = line.strip_prefix(b"goroutine ")?;
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let id = match parse_u64(&rest[..digits]) {
        Some(id) => id,
        None => return Some(Err("a goroutine id that fits in 64 bits")),
    };
    let rest = &rest[digits..];
    let Some(open) = memchr::memchr(b'[', rest) else {
        return Some(Err("'[status]:' after the goroutine id"));
    };
    let Some(body) = rest[open + 1..].strip_suffix(b"]:") else {
        return Some(Err("the header to end with ']:'"));
    };
    let mut h = Header {
        id,
        state: body,
        minutes: None,
        locked: false,
    };
    let mut parts = body.split(|&c| c == b',');
    if let Some(first) = parts.next() {
        h.state = first;
    }
    for p in parts {
        let p = p.trim_ascii();
        if p == b"locked to thread" {
            h.locked = true;
        } else if let Some(n) = p
            .strip_suffix(b" minutes")
            .or_else(|| p.strip_suffix(b" minute"))
        {
            h.minutes = parse_u64(n).map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        }
    }
    Some(Ok(h))
}

/// A per-line log prefix (`2025-10-27T10:30:00.1Z stderr F `, `web_1  | `) seen before the
/// first header: its fixed part (after the first, variable, token) is cut from every line.
struct Prefix<'a> {
    marker: &'a [u8],
    at: usize,
}

impl<'a> Prefix<'a> {
    fn of(prefix: &'a [u8]) -> Prefix<'a> {
        let marker = match memchr::memchr(b' ', prefix) {
            Some(i) => &prefix[i..],
            None => prefix,
        };
        Prefix {
            marker,
            at: prefix.len() - marker.len(),
        }
    }
}

/// Cuts the log prefix off `line` when its marker sits near where it sat on the header line.
fn strip<'a>(p: Option<&Prefix<'_>>, line: &'a [u8]) -> &'a [u8] {
    let Some(p) = p else { return line };
    let lo = p.at.saturating_sub(12);
    let hi = (p.at + 12 + p.marker.len()).min(line.len());
    if lo >= hi {
        return line;
    }
    match memchr::memmem::find(&line[lo..hi], p.marker) {
        Some(i) => &line[lo + i + p.marker.len()..],
        None => line,
    }
}

struct Current {
    id: u64,
    state: StrId,
    leaked: bool,
    minutes: Option<u32>,
    locked: bool,
    created_by: Option<FrameId>,
    creator_id: Option<u64>,
    elided: bool,
    /// After `[originating from goroutine N]:` the frames belong to an ancestor: skip them.
    ancestors: bool,
    header_line: u64,
}

enum Pending<'a> {
    None,
    Frame(&'a [u8]),
    CreatedBy(&'a [u8]),
}

pub(crate) fn parse(input: &[u8], limits: &Limits) -> Result<Snapshot, ParseError> {
    let mut b = Builder::new(Format::Debug2, limits);
    // A rough pre-size: a goroutine is rarely under ~200 bytes.
    b.records.reserve(input.len() / 400);
    let mut lines = Lines::new(input);
    let mut cur: Option<Current> = None;
    let mut pending = Pending::None;
    let mut last_complete = true;
    let mut prefix: Option<Prefix<'_>> = None;

    while let Some((line, complete)) = lines.next_line() {
        last_complete = complete;
        let ln = lines.line_no;
        if cur.is_none() {
            // Outside a goroutine: look for a header, tolerating surrounding log text.
            let start = if line.starts_with(b"goroutine ") {
                Some(0)
            } else {
                memchr::memmem::find(line, b"goroutine ")
            };
            if let Some(s) = start {
                match parse_header(&line[s..]) {
                    Some(Ok(h)) => {
                        prefix = (s > 0).then(|| Prefix::of(&line[..s]));
                        cur = Some(start_goroutine(&mut b, h, ln));
                    }
                    Some(Err(expected)) if s == 0 && !complete => {
                        b.warn(
                            ln,
                            format!("truncated goroutine header: expected {expected}"),
                        );
                    }
                    Some(Err(expected)) if s == 0 && line.contains(&b'[') => {
                        return Err(ParseError::Syntax {
                            line: ln,
                            expected: expected.to_string(),
                            found: snippet(line),
                        });
                    }
                    _ => {}
                }
            }
            continue;
        }
        let Some(g) = cur.as_mut() else { continue };
        let line = strip(prefix.as_ref(), line);
        if line.is_empty() {
            if let Some(done) = cur.take() {
                finish(&mut b, done, false)?;
            }
            pending = Pending::None;
            continue;
        }
        if line[0] == b'\t' {
            let (file, lineno) = split_file_line(&line[1..]);
            if !complete {
                // Cut in the middle of a file line: keep the frame, mark truncated below.
                last_complete = false;
            }
            match std::mem::replace(&mut pending, Pending::None) {
                Pending::Frame(func) => {
                    if !g.ancestors {
                        let f = b.frame(utf8(func), utf8(file), lineno);
                        b.push_frame(f)?;
                    }
                }
                Pending::CreatedBy(func) => {
                    if !g.ancestors {
                        g.created_by = Some(b.frame(utf8(func), utf8(file), lineno));
                    }
                }
                Pending::None => {
                    b.warn(ln, "a file:line line without a function line before it");
                }
            }
            continue;
        }
        if let Some(h) = parse_header(line) {
            match h {
                Ok(h) => {
                    if let Some(done) = cur.take() {
                        finish(&mut b, done, false)?;
                    }
                    pending = Pending::None;
                    cur = Some(start_goroutine(&mut b, h, ln));
                    continue;
                }
                Err(expected) if complete && line.contains(&b'[') => {
                    return Err(ParseError::Syntax {
                        line: ln,
                        expected: expected.to_string(),
                        found: snippet(line),
                    });
                }
                Err(_) if !complete => {
                    last_complete = false;
                    break;
                }
                Err(_) => {}
            }
        }
        if let Some(rest) = line.strip_prefix(b"created by ") {
            let (func, creator) = match memchr::memmem::rfind(rest, b" in goroutine ") {
                Some(i) => (&rest[..i], parse_u64(&rest[i + 14..])),
                None => (rest, None),
            };
            if !g.ancestors {
                g.creator_id = creator;
            }
            pending = Pending::CreatedBy(func);
            continue;
        }
        if line.starts_with(b"...") && memchr::memmem::find(line, b"elided").is_some() {
            g.elided = true;
            continue;
        }
        if line.starts_with(b"[originating from goroutine") {
            g.ancestors = true;
            continue;
        }
        match lines.peek().map(|l| strip(prefix.as_ref(), l)) {
            Some(next) if next.first() == Some(&b'\t') => {
                pending = Pending::Frame(strip_args(line));
            }
            None if !g.ancestors => {
                // A function line at the very end: the dump was cut before its file line.
                let f = b.frame(utf8(strip_args(line)), "", 0);
                b.push_frame(f)?;
                last_complete = false;
            }
            _ => {
                // Not a frame: the goroutine ended without a blank line and log text follows.
                if let Some(done) = cur.take() {
                    finish(&mut b, done, false)?;
                }
                pending = Pending::None;
            }
        }
    }
    if let Some(done) = cur.take() {
        let truncated = !last_complete || !matches!(pending, Pending::None);
        if let Pending::Frame(func) = pending {
            let f = b.frame(utf8(func), "", 0);
            b.push_frame(f)?;
        }
        if truncated {
            b.warn(
                lines.line_no,
                format!(
                    "truncated dump: it ends inside goroutine {} (from line {}), whose stack is partial",
                    done.id, done.header_line
                ),
            );
        }
        finish(&mut b, done, truncated)?;
    }
    if b.records.is_empty() {
        return Err(ParseError::NoGoroutines {
            lines: lines.line_no,
        });
    }
    Ok(b.build())
}

fn start_goroutine<'a>(b: &mut Builder<'a>, h: Header<'a>, ln: u64) -> Current {
    let (state, leaked) = match h.state.strip_suffix(b" (leaked)") {
        Some(s) => (s, true),
        None => (h.state, false),
    };
    b.scratch.clear();
    Current {
        id: h.id,
        state: b.intern(utf8(state)),
        leaked,
        minutes: h.minutes,
        locked: h.locked,
        created_by: None,
        creator_id: None,
        elided: false,
        ancestors: false,
        header_line: ln,
    }
}

fn finish(b: &mut Builder<'_>, g: Current, truncated: bool) -> Result<(), ParseError> {
    if b.scratch.is_empty() && !truncated {
        b.warn(g.header_line, format!("goroutine {} has no frames", g.id));
    }
    let stack = b.finish_stack();
    b.push_record(Record {
        count: 1,
        id: Some(g.id),
        state: g.state,
        wait_minutes: g.minutes,
        locked_to_thread: g.locked,
        leaked: g.leaked,
        stack,
        created_by: g.created_by,
        creator_id: g.creator_id,
        labels: 0,
        elided: g.elided,
        truncated,
    })
}

pub(crate) fn snippet(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(&line[..line.len().min(120)]).into_owned();
    if line.len() > 120 {
        format!("{s}…")
    } else {
        s
    }
}

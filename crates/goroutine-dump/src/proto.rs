//! The debug=0 parser: gzipped pprof protobuf, read straight off the wire.
//!
//! The message layout is the published `profile.proto` (github.com/google/pprof,
//! `proto/profile.proto`). Instead of decoding into owned messages (72 bytes for each 2-byte
//! empty `Sample` — the 20-million-sample bomb of issue 13 asked for 2.4 GB), the bytes are
//! walked twice: first to index the string table, functions and locations (slices of the
//! input, sorted id tables: no hashing of attacker-chosen ids) and to count the samples against
//! the [`Limits`] before anything is built; then to turn each sample into a record. Memory is
//! the decompressed bytes plus a few words per entry.

use std::io::Read;

use crate::debug2::utf8;
use crate::model::{Builder, FrameId, Record, Snapshot};
use crate::{Format, Limits, ParseError};

fn malformed(what: impl Into<String>) -> ParseError {
    ParseError::Proto(what.into())
}

/// One field's value on the wire.
#[derive(Clone, Copy)]
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// fixed32 / fixed64: nothing in a profile uses them; skipped.
    Fixed,
}

/// Reads the fields of one message.
struct Fields<'a> {
    buf: &'a [u8],
}

fn varint(buf: &mut &[u8]) -> Result<u64, ParseError> {
    let mut v = 0u64;
    for i in 0..10 {
        let Some((&b, rest)) = buf.split_first() else {
            return Err(malformed("the message ends inside a varint"));
        };
        *buf = rest;
        if i == 9 && b > 1 {
            return Err(malformed("a varint longer than 64 bits"));
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(malformed("a varint longer than 64 bits"))
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Fields { buf }
    }

    fn next_field(&mut self) -> Result<Option<(u64, Value<'a>)>, ParseError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = varint(&mut self.buf)?;
        let tag = key >> 3;
        if tag == 0 {
            return Err(malformed("invalid field number 0"));
        }
        let value = match key & 7 {
            0 => Value::Varint(varint(&mut self.buf)?),
            1 | 5 => {
                let n = if key & 7 == 1 { 8 } else { 4 };
                if self.buf.len() < n {
                    return Err(malformed("the message ends inside a fixed-size field"));
                }
                self.buf = &self.buf[n..];
                Value::Fixed
            }
            2 => {
                let len = varint(&mut self.buf)?;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&l| l <= self.buf.len())
                    .ok_or_else(|| {
                        malformed(format!(
                            "field {tag} claims {len} bytes, but {} are left",
                            self.buf.len()
                        ))
                    })?;
                let (v, rest) = self.buf.split_at(len);
                self.buf = rest;
                Value::Bytes(v)
            }
            w => {
                return Err(malformed(format!(
                    "invalid wire type value: {w} (field {tag}); is this a pprof profile?"
                )))
            }
        };
        Ok(Some((tag, value)))
    }
}

/// A message field that must be length-delimited.
fn message<'a>(tag: u64, v: Value<'a>, what: &str) -> Result<&'a [u8], ParseError> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(malformed(format!(
            "field {tag} ({what}) has the wrong wire type"
        ))),
    }
}

/// A scalar field that must be a varint.
fn int(tag: u64, v: Value<'_>, what: &str) -> Result<u64, ParseError> {
    match v {
        Value::Varint(n) => Ok(n),
        _ => Err(malformed(format!(
            "field {tag} ({what}) has the wrong wire type"
        ))),
    }
}

/// Calls `f` for each value of a repeated varint field, packed or not.
fn each_varint(
    v: Value<'_>,
    tag: u64,
    what: &str,
    mut f: impl FnMut(u64) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    match v {
        Value::Varint(n) => f(n),
        Value::Bytes(mut b) => {
            while !b.is_empty() {
                f(varint(&mut b)?)?;
            }
            Ok(())
        }
        Value::Fixed => Err(malformed(format!(
            "field {tag} ({what}) has the wrong wire type"
        ))),
    }
}

/// `(id, index)` pairs sorted by id; the last definition of an id wins.
fn id_table(mut ids: Vec<(u64, u32)>) -> Vec<(u64, u32)> {
    ids.sort_by_key(|&(id, _)| id);
    let mut out: Vec<(u64, u32)> = Vec::with_capacity(ids.len());
    for (id, i) in ids {
        match out.last_mut() {
            Some(last) if last.0 == id => last.1 = last.1.max(i),
            _ => out.push((id, i)),
        }
    }
    out
}

fn lookup(table: &[(u64, u32)], id: u64) -> Option<usize> {
    table
        .binary_search_by_key(&id, |&(k, _)| k)
        .ok()
        .map(|i| table[i].1 as usize)
}

/// Gunzips `input` when it is gzipped, within `max_decompressed_bytes`.
fn gunzip(input: &[u8], limits: &Limits) -> Result<Option<Vec<u8>>, ParseError> {
    if !input.starts_with(&[0x1f, 0x8b]) {
        return Ok(None);
    }
    let limit = limits.max_decompressed_bytes;
    // Read into a buffer that doubles up to limit + 1 bytes and no further (read_to_end would
    // double a 64 MiB buffer to 128 MiB to find the one byte too many).
    let cap = usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX);
    let mut out = vec![
        0u8;
        input
            .len()
            .saturating_mul(4)
            .clamp(1 << 12, 1 << 20)
            .min(cap)
    ];
    let mut len = 0;
    let mut gz = flate2::read::MultiGzDecoder::new(input);
    loop {
        if len == out.len() {
            if len >= cap {
                break;
            }
            out.resize(len.saturating_mul(2).min(cap), 0);
        }
        match gz.read(&mut out[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(malformed(format!("gzip: {e}"))),
        }
    }
    out.truncate(len);
    if len as u64 > limit {
        return Err(ParseError::Limit {
            subject: Format::Proto.subject(),
            items: "bytes once decompressed",
            limit: "max_decompressed_bytes",
            value: limit,
        });
    }
    Ok(Some(out))
}

pub(crate) fn parse(input: &[u8], limits: &Limits) -> Result<Snapshot, ParseError> {
    let raw = gunzip(input, limits)?;
    let bytes = raw.as_deref().unwrap_or(input);
    build(bytes, limits)
}

/// What the first pass finds.
#[derive(Default)]
struct Index<'a> {
    first_sample_type: Option<&'a [u8]>,
    samples: usize,
    strings: Vec<&'a [u8]>,
    /// `(function id, index into functions)`.
    function_ids: Vec<(u64, u32)>,
    /// `(name, filename)` string indexes.
    functions: Vec<(i64, i64)>,
    location_ids: Vec<(u64, u32)>,
    locations: Vec<&'a [u8]>,
}

fn index<'a>(b: &Builder<'_>, bytes: &'a [u8]) -> Result<Index<'a>, ParseError> {
    let limits = b.limits();
    let mut ix = Index::default();
    let mut fields = Fields::new(bytes);
    while let Some((tag, v)) = fields.next_field()? {
        match tag {
            1 => {
                let m = message(tag, v, "sample_type")?;
                ix.first_sample_type.get_or_insert(m);
            }
            2 => {
                message(tag, v, "sample")?;
                ix.samples += 1;
                if ix.samples > limits.max_samples || ix.samples > limits.max_records {
                    let (limit, value) = if limits.max_samples <= limits.max_records {
                        ("max_samples", limits.max_samples)
                    } else {
                        ("max_records", limits.max_records)
                    };
                    return Err(b.over("samples", limit, value as u64));
                }
            }
            4 => {
                let m = message(tag, v, "location")?;
                if ix.locations.len() >= limits.max_locations {
                    return Err(b.over("locations", "max_locations", limits.max_locations as u64));
                }
                let mut id = 0;
                let mut f = Fields::new(m);
                while let Some((t, v)) = f.next_field()? {
                    if t == 1 {
                        id = int(t, v, "location.id")?;
                    }
                }
                ix.location_ids.push((id, ix.locations.len() as u32));
                ix.locations.push(m);
            }
            5 => {
                let m = message(tag, v, "function")?;
                if ix.functions.len() >= limits.max_functions {
                    return Err(b.over("functions", "max_functions", limits.max_functions as u64));
                }
                let (mut id, mut name, mut file) = (0, 0, 0);
                let mut f = Fields::new(m);
                while let Some((t, v)) = f.next_field()? {
                    match t {
                        1 => id = int(t, v, "function.id")?,
                        2 => name = int(t, v, "function.name")? as i64,
                        4 => file = int(t, v, "function.filename")? as i64,
                        _ => {}
                    }
                }
                ix.function_ids.push((id, ix.functions.len() as u32));
                ix.functions.push((name, file));
            }
            6 => {
                let s = message(tag, v, "string_table")?;
                if ix.strings.len() >= limits.max_strings {
                    return Err(b.over("strings", "max_strings", limits.max_strings as u64));
                }
                ix.strings.push(s);
            }
            3 | 11 | 15 => {
                message(tag, v, "message")?;
            }
            7..=10 | 12 | 14 => {
                int(tag, v, "int64")?;
            }
            _ => {} // comment (13) and fields this crate does not know
        }
    }
    ix.function_ids = id_table(std::mem::take(&mut ix.function_ids));
    ix.location_ids = id_table(std::mem::take(&mut ix.location_ids));
    Ok(ix)
}

/// Entry `i` of the string table; `""` when out of range, as Go's pprof reads it.
fn string<'a>(strings: &[&'a [u8]], i: i64) -> &'a str {
    usize::try_from(i)
        .ok()
        .and_then(|i| strings.get(i))
        .map_or("", |s| utf8(s))
}

fn build(bytes: &[u8], limits: &Limits) -> Result<Snapshot, ParseError> {
    let mut b = Builder::new(Format::Proto, limits);
    let ix = index(&b, bytes)?;
    let strings = &ix.strings;
    let s = |i: i64| string(strings, i);
    // Go 1.26's goroutineleak profile (sample type `goroutineleak/count`) holds only the
    // goroutines the leak-detection GC found blocked on unreachable primitives: all leaked.
    let mut leaked = false;
    if let Some(first) = ix.first_sample_type {
        let mut kind = 0i64;
        let mut f = Fields::new(first);
        while let Some((t, v)) = f.next_field()? {
            if t == 1 {
                kind = int(t, v, "sample_type.type")? as i64;
            }
        }
        match s(kind) {
            "" | "goroutine" => {}
            "goroutineleak" => leaked = true,
            t => {
                return Err(malformed(format!(
                    "this is a '{t}' profile, expected a goroutine profile"
                )))
            }
        }
    }

    // Each location's frames, once: `loc_frames[loc_range[i]]`. Leaf (innermost inlined
    // callee) first, as in the stack.
    let mut loc_frames: Vec<FrameId> = Vec::new();
    let mut loc_range: Vec<(u32, u32)> = Vec::with_capacity(ix.locations.len());
    for m in &ix.locations {
        let start = loc_frames.len() as u32;
        let mut f = Fields::new(m);
        while let Some((t, v)) = f.next_field()? {
            if t != 4 {
                continue;
            }
            let line = message(t, v, "location.line")?;
            let (mut function_id, mut lineno) = (0u64, 0i64);
            let mut lf = Fields::new(line);
            while let Some((t, v)) = lf.next_field()? {
                match t {
                    1 => function_id = int(t, v, "line.function_id")?,
                    2 => lineno = int(t, v, "line.line")? as i64,
                    _ => {}
                }
            }
            let (name, file) = match lookup(&ix.function_ids, function_id) {
                Some(i) => {
                    let (n, fl) = ix.functions[i];
                    (s(n), s(fl))
                }
                None => ("?", ""),
            };
            loc_frames.push(b.frame(name, file, u32::try_from(lineno).unwrap_or(0)));
        }
        if loc_frames.len() as u32 == start {
            loc_frames.push(b.frame("?", "", 0));
        }
        loc_range.push((start, loc_frames.len() as u32));
    }

    b.records.reserve_exact(ix.samples);
    let mut top = Fields::new(bytes);
    let mut pairs = Vec::new();
    while let Some((tag, v)) = top.next_field()? {
        if tag != 2 {
            continue;
        }
        let sample = message(tag, v, "sample")?;
        let mut count: Option<i64> = None;
        pairs.clear();
        let mut labels = 0usize;
        let mut f = Fields::new(sample);
        while let Some((t, v)) = f.next_field()? {
            match t {
                1 => each_varint(v, t, "sample.location_id", |lid| {
                    let Some(i) = lookup(&ix.location_ids, lid) else {
                        return Err(malformed(format!(
                            "a sample refers to location id {lid}, which the profile does not define"
                        )));
                    };
                    let (start, end) = loc_range[i];
                    for &fid in &loc_frames[start as usize..end as usize] {
                        b.push_frame(fid)?;
                    }
                    Ok(())
                })?,
                2 => each_varint(v, t, "sample.value", |n| {
                    count.get_or_insert(n as i64);
                    Ok(())
                })?,
                3 => {
                    let m = message(t, v, "sample.label")?;
                    labels += 1;
                    if labels > limits.max_labels {
                        return Err(b.over(
                            "labels on one record",
                            "max_labels",
                            limits.max_labels as u64,
                        ));
                    }
                    let (mut key, mut str, mut num) = (0i64, 0i64, 0i64);
                    let mut lf = Fields::new(m);
                    while let Some((t, v)) = lf.next_field()? {
                        match t {
                            1 => key = int(t, v, "label.key")? as i64,
                            2 => str = int(t, v, "label.str")? as i64,
                            3 => num = int(t, v, "label.num")? as i64,
                            _ => {}
                        }
                    }
                    let k = b.intern(s(key));
                    let v = if str != 0 {
                        b.intern(s(str))
                    } else {
                        b.intern_owned(num.to_string())
                    };
                    pairs.push((k, v));
                }
                _ => {}
            }
        }
        let count = count.unwrap_or(0);
        let Ok(count) = u64::try_from(count) else {
            return Err(malformed(format!(
                "a sample has a negative goroutine count ({count})"
            )));
        };
        let labels = b.label_set(std::mem::take(&mut pairs))?;
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
            truncated: false,
        })?;
    }
    Ok(b.build())
}

/// The messages of `profile.proto` as prost types, to encode test profiles; tags match it
/// exactly.
#[cfg(test)]
#[allow(dead_code)]
pub(crate) mod msg {
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Profile {
        #[prost(message, repeated, tag = "1")]
        pub sample_type: Vec<ValueType>,
        #[prost(message, repeated, tag = "2")]
        pub sample: Vec<Sample>,
        #[prost(message, repeated, tag = "3")]
        pub mapping: Vec<Mapping>,
        #[prost(message, repeated, tag = "4")]
        pub location: Vec<Location>,
        #[prost(message, repeated, tag = "5")]
        pub function: Vec<Function>,
        #[prost(string, repeated, tag = "6")]
        pub string_table: Vec<String>,
        #[prost(int64, tag = "7")]
        pub drop_frames: i64,
        #[prost(int64, tag = "8")]
        pub keep_frames: i64,
        #[prost(int64, tag = "9")]
        pub time_nanos: i64,
        #[prost(int64, tag = "10")]
        pub duration_nanos: i64,
        #[prost(message, optional, tag = "11")]
        pub period_type: Option<ValueType>,
        #[prost(int64, tag = "12")]
        pub period: i64,
        #[prost(int64, repeated, tag = "13")]
        pub comment: Vec<i64>,
        #[prost(int64, tag = "14")]
        pub default_sample_type: i64,
        #[prost(string, tag = "15")]
        pub doc_url: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct ValueType {
        #[prost(int64, tag = "1")]
        pub r#type: i64,
        #[prost(int64, tag = "2")]
        pub unit: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Sample {
        #[prost(uint64, repeated, tag = "1")]
        pub location_id: Vec<u64>,
        #[prost(int64, repeated, tag = "2")]
        pub value: Vec<i64>,
        #[prost(message, repeated, tag = "3")]
        pub label: Vec<Label>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Label {
        #[prost(int64, tag = "1")]
        pub key: i64,
        #[prost(int64, tag = "2")]
        pub str: i64,
        #[prost(int64, tag = "3")]
        pub num: i64,
        #[prost(int64, tag = "4")]
        pub num_unit: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Mapping {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(uint64, tag = "2")]
        pub memory_start: u64,
        #[prost(uint64, tag = "3")]
        pub memory_limit: u64,
        #[prost(uint64, tag = "4")]
        pub file_offset: u64,
        #[prost(int64, tag = "5")]
        pub filename: i64,
        #[prost(int64, tag = "6")]
        pub build_id: i64,
        #[prost(bool, tag = "7")]
        pub has_functions: bool,
        #[prost(bool, tag = "8")]
        pub has_filenames: bool,
        #[prost(bool, tag = "9")]
        pub has_line_numbers: bool,
        #[prost(bool, tag = "10")]
        pub has_inline_frames: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Location {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(uint64, tag = "2")]
        pub mapping_id: u64,
        #[prost(uint64, tag = "3")]
        pub address: u64,
        #[prost(message, repeated, tag = "4")]
        pub line: Vec<Line>,
        #[prost(bool, tag = "5")]
        pub is_folded: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Line {
        #[prost(uint64, tag = "1")]
        pub function_id: u64,
        #[prost(int64, tag = "2")]
        pub line: i64,
        #[prost(int64, tag = "3")]
        pub column: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Function {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(int64, tag = "2")]
        pub name: i64,
        #[prost(int64, tag = "3")]
        pub system_name: i64,
        #[prost(int64, tag = "4")]
        pub filename: i64,
        #[prost(int64, tag = "5")]
        pub start_line: i64,
    }
}

#[cfg(test)]
mod tests {
    use super::msg::*;
    use super::*;
    use std::io::Write;

    /// A two-sample goroutine-style profile of sample type `kind/count`, gzipped as served.
    fn profile(kind: &str) -> Vec<u8> {
        let strings = [
            "",
            kind,
            "count",
            "example.com/app/billing.(*Quota).report",
            "/app/billing/billing.go",
            "tenant",
            "acme",
        ];
        let p = Profile {
            sample_type: vec![ValueType { r#type: 1, unit: 2 }],
            period_type: Some(ValueType { r#type: 1, unit: 2 }),
            period: 1,
            sample: vec![
                Sample {
                    location_id: vec![1],
                    value: vec![3],
                    label: vec![Label {
                        key: 5,
                        str: 6,
                        ..Default::default()
                    }],
                },
                Sample {
                    location_id: vec![1],
                    value: vec![2],
                    label: vec![],
                },
            ],
            location: vec![Location {
                id: 1,
                address: 0x6a3f11,
                line: vec![Line {
                    function_id: 1,
                    line: 79,
                    column: 0,
                }],
                ..Default::default()
            }],
            function: vec![Function {
                id: 1,
                name: 3,
                system_name: 3,
                filename: 4,
                start_line: 70,
            }],
            string_table: strings.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&prost::Message::encode_to_vec(&p)).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn goroutineleak_proto_records_are_leaked() {
        let s = crate::parse(&profile("goroutineleak")).unwrap();
        assert_eq!(s.format(), Format::Proto);
        assert_eq!(s.total(), 5);
        assert_eq!(s.records().len(), 2);
        assert!(s.records().iter().all(|r| r.leaked));
        let buckets = crate::bucketize(&s, crate::GroupBy::Function);
        assert_eq!(buckets.len(), 1);
        assert_eq!(buckets[0].count, 5);
        assert_eq!(buckets[0].leaked, 5);

        // The same samples as a goroutine profile: nothing is marked.
        let s = crate::parse(&profile("goroutine")).unwrap();
        assert_eq!(s.total(), 5);
        assert!(s.records().iter().all(|r| !r.leaked));
        assert_eq!(crate::bucketize(&s, crate::GroupBy::Function)[0].leaked, 0);

        // Any other profile is refused.
        assert_eq!(
            crate::parse(&profile("inuse_space")).unwrap_err(),
            ParseError::Proto(
                "this is a 'inuse_space' profile, expected a goroutine profile".into()
            )
        );
    }

    #[test]
    fn a_gzip_bomb_is_refused_at_the_limit() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&vec![0u8; 3 << 20]).unwrap();
        let bomb = enc.finish().unwrap();
        let limits = Limits {
            max_decompressed_bytes: 2 << 20,
            ..Limits::default()
        };
        let e = crate::parse_with(&bomb, &limits).unwrap_err();
        assert_eq!(
            e.to_string(),
            "pprof profile (debug=0) has more than 2097152 bytes once decompressed \
             (limit Limits::max_decompressed_bytes = 2097152)"
        );
    }
}

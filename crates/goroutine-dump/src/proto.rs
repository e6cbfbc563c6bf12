//! The debug=0 parser: gzipped pprof protobuf. The messages mirror the published
//! `profile.proto` (github.com/google/pprof, `proto/profile.proto`); tags match it exactly.
//! Fields this crate never reads are still declared so that decoding skips nothing surprising.

use std::io::Read;

use rustc_hash::FxHashMap;

use crate::model::{Builder, Record, Snapshot};
use crate::{Format, ParseError};

/// Decompressed profiles larger than this are refused (a goroutine profile of a million
/// distinct stacks is far smaller); it bounds memory on hostile input.
pub const MAX_DECOMPRESSED: u64 = 512 << 20;

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

/// Gunzips (when gzipped) and decodes a pprof profile.
pub(crate) fn decode(input: &[u8]) -> Result<Profile, ParseError> {
    decode_limited(input, MAX_DECOMPRESSED)
}

fn decode_limited(input: &[u8], limit: u64) -> Result<Profile, ParseError> {
    let raw;
    let bytes: &[u8] = if input.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(input)
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| ParseError::Proto(format!("gzip: {e}")))?;
        if out.len() as u64 > limit {
            return Err(ParseError::Proto(format!(
                "the decompressed profile exceeds {} MiB",
                limit >> 20
            )));
        }
        raw = out;
        &raw
    } else {
        input
    };
    <Profile as prost::Message>::decode(bytes).map_err(|e| ParseError::Proto(e.to_string()))
}

pub(crate) fn parse(input: &[u8]) -> Result<Snapshot, ParseError> {
    let p = decode(input)?;
    build(&p)
}

fn build(p: &Profile) -> Result<Snapshot, ParseError> {
    let s = |i: i64| -> &str {
        usize::try_from(i)
            .ok()
            .and_then(|i| p.string_table.get(i))
            .map(String::as_str)
            .unwrap_or("")
    };
    // Go 1.26's goroutineleak profile (sample type `goroutineleak/count`) holds only the
    // goroutines the leak-detection GC found blocked on unreachable primitives: all leaked.
    let mut leaked = false;
    if let Some(first) = p.sample_type.first() {
        let t = s(first.r#type);
        match t {
            "" | "goroutine" => {}
            "goroutineleak" => leaked = true,
            _ => {
                return Err(ParseError::Proto(format!(
                    "this is a '{t}' profile, expected a goroutine profile"
                )))
            }
        }
    }
    let functions: FxHashMap<u64, &Function> = p.function.iter().map(|f| (f.id, f)).collect();
    let locations: FxHashMap<u64, &Location> = p.location.iter().map(|l| (l.id, l)).collect();
    let mut b = Builder::new(Format::Proto);
    for sample in &p.sample {
        let count = sample.value.first().copied().unwrap_or(0);
        let count = u64::try_from(count).unwrap_or(0);
        for lid in &sample.location_id {
            let Some(loc) = locations.get(lid) else {
                return Err(ParseError::Proto(format!(
                    "a sample refers to location id {lid}, which the profile does not define"
                )));
            };
            if loc.line.is_empty() {
                let f = b.frame("?", "", 0);
                b.scratch.push(f);
            }
            // line[0] is the innermost (inlined callee) frame, as in the stack: leaf first.
            for line in &loc.line {
                let (name, file) = match functions.get(&line.function_id) {
                    Some(f) => (s(f.name), s(f.filename)),
                    None => ("?", ""),
                };
                let f = b.frame(name, file, u32::try_from(line.line).unwrap_or(0));
                b.scratch.push(f);
            }
        }
        let mut pairs = Vec::new();
        for l in &sample.label {
            let k = b.intern(s(l.key));
            let v = if l.str != 0 {
                b.intern(s(l.str))
            } else {
                b.intern_owned(l.num.to_string())
            };
            pairs.push((k, v));
        }
        let labels = b.label_set(pairs);
        let stack = b.finish_stack();
        b.records.push(Record {
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
        });
    }
    Ok(b.build())
}

#[cfg(test)]
mod tests {
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
        let e = decode_limited(&bomb, 2 << 20).unwrap_err();
        assert_eq!(
            e,
            ParseError::Proto("the decompressed profile exceeds 2 MiB".into())
        );
    }
}

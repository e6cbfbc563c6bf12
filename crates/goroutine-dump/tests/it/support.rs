//! Helpers shared by the modules: the committed dumps under `tests/data`, and the protobuf and
//! gzip builders the hostile-input tests forge profiles with.

use std::path::PathBuf;

pub fn data(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// gzip of `unit` repeated `times` times, as concatenated gzip members of ≤ 1 MiB each (the
/// decompressed stream is the same as one member's; compressing 40 MB at once is slow in a
/// debug build).
pub fn gzip_repeat(unit: &[u8], times: usize) -> Vec<u8> {
    use std::io::Write;
    let per_member = ((1 << 20) / unit.len()).max(1);
    let member = |n: usize| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&unit.repeat(n)).unwrap();
        e.finish().unwrap()
    };
    let full = member(per_member);
    let mut out = full.repeat(times / per_member);
    if !times.is_multiple_of(per_member) {
        out.extend_from_slice(&member(times % per_member));
    }
    out
}

/// A protobuf field: key and length-delimited payload.
pub fn field(tag: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(&mut out, tag << 3 | 2);
    varint(&mut out, payload.len() as u64);
    out.extend_from_slice(payload);
    out
}

/// A protobuf base-128 varint.
pub fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A protobuf varint field: key and value.
pub fn scalar(tag: u64, v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(&mut out, tag << 3);
    varint(&mut out, v);
    out
}

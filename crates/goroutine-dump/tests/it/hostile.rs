//! Issue 13: hostile input is refused at a [`Limits`] bound with an error naming the limit,
//! instead of allocating gigabytes, burning seconds of CPU or overflowing a count. The inputs
//! are generated here, not committed.

use crate::support::{field, gzip_repeat, scalar, varint};
use goroutine_dump::{bucketize, parse, parse_as, parse_with, Format, GroupBy, Limits, ParseError};

fn limit_of(e: &ParseError) -> &'static str {
    match e {
        ParseError::Limit { limit, .. } => limit,
        other => panic!("expected a limit error, got {other:?}"),
    }
}

#[test]
fn issue13_twenty_million_empty_samples_are_refused() {
    // The reproduction: gzip(b'\x12\x00' * 20_000_000), 20 M empty `Sample`s in ~39 KB. It made
    // the agent allocate 2.4 GB and abort.
    let body = gzip_repeat(b"\x12\x00", 20_000_000);
    assert!(body.len() < 100_000, "{}", body.len());
    let e = parse(&body).unwrap_err();
    assert_eq!(
        e.to_string(),
        "pprof profile (debug=0) has more than 1000000 samples (limit Limits::max_samples = 1000000)"
    );
}

#[test]
fn issue13_a_gzip_bomb_past_the_decompressed_limit_is_refused() {
    // `analyze` on a 520 KB file tried to allocate 4.8 GB: 512 MiB decompressed were allowed.
    let body = gzip_repeat(&[0u8; 4096], (65 << 20) / 4096);
    let e = parse(&body).unwrap_err();
    assert_eq!(limit_of(&e), "max_decompressed_bytes");
    assert_eq!(
        e.to_string(),
        "pprof profile (debug=0) has more than 67108864 bytes once decompressed \
         (limit Limits::max_decompressed_bytes = 67108864)"
    );
}

#[test]
fn issue13_a_string_table_bomb_is_refused() {
    // 4,000,001 empty strings: 8 MB that decoded to 96 MB of `String`s.
    let raw = field(6, b"").repeat(4_000_001);
    let e = parse_as(&raw, Format::Proto).unwrap_err();
    assert_eq!(limit_of(&e), "max_strings");
    assert!(e.to_string().contains("more than 4000000 strings"), "{e}");
}

#[test]
fn issue13_location_and_function_bombs_are_refused() {
    let raw = field(4, b"").repeat(1_000_001);
    assert_eq!(
        limit_of(&parse_as(&raw, Format::Proto).unwrap_err()),
        "max_locations"
    );
    let raw = field(5, b"").repeat(1_000_001);
    assert_eq!(
        limit_of(&parse_as(&raw, Format::Proto).unwrap_err()),
        "max_functions"
    );
}

#[test]
fn issue13_deep_stack_bombs_are_refused_in_every_format() {
    // debug=2: one goroutine of 5000 frames (Go prints at most 100).
    let mut d2 = b"goroutine 1 [running]:\n".to_vec();
    for _ in 0..5000 {
        d2.extend_from_slice(b"main.f(...)\n\t/app/main.go:10 +0x1d\n");
    }
    let e = parse(&d2).unwrap_err();
    assert_eq!(
        e.to_string(),
        "debug=2 dump has more than 4096 frames in one stack (limit Limits::max_frames_per_stack = 4096)"
    );

    // debug=1: one record of 5000 frames.
    let mut d1 = b"goroutine profile: total 1\n1 @ 0x1\n".to_vec();
    for _ in 0..5000 {
        d1.extend_from_slice(b"#\t0x1\tmain.f+0x1\t/app/main.go:10\n");
    }
    assert_eq!(limit_of(&parse(&d1).unwrap_err()), "max_frames_per_stack");

    // debug=0: a sample that lists one location 5000 times.
    let mut base = field(6, b"");
    base.extend(field(6, b"main.f"));
    base.extend(field(5, &[scalar(1, 1), scalar(2, 1)].concat()));
    base.extend(field(4, &[scalar(1, 1), field(4, &scalar(1, 1))].concat()));
    let sample = |frames: usize| {
        let mut ids = Vec::new();
        for _ in 0..frames {
            varint(&mut ids, 1);
        }
        field(2, &[field(1, &ids), scalar(2, 3)].concat())
    };
    let bomb = [base.clone(), sample(5000)].concat();
    assert_eq!(
        limit_of(&parse_as(&bomb, Format::Proto).unwrap_err()),
        "max_frames_per_stack"
    );
    // Under the limit the same profile parses.
    let ok = [base, sample(100)].concat();
    let s = parse_as(&ok, Format::Proto).unwrap();
    assert_eq!(s.total(), 3);
    assert_eq!(s.stack(s.records()[0].stack).len(), 100);
}

#[test]
fn issue13_inlined_frames_cannot_multiply_the_work() {
    // One location with 1000 inlined lines, and 100 samples that each list it 4 times: 120 bytes
    // of samples, 400,000 frames to build. Bounded by max_total_frames.
    let mut raw = field(6, b"");
    raw.extend(field(6, b"main.f"));
    raw.extend(field(5, &[scalar(1, 1), scalar(2, 1)].concat()));
    let line = field(4, &scalar(1, 1));
    raw.extend(field(4, &[scalar(1, 1), line.repeat(1000)].concat()));
    for i in 0..100 {
        let label = field(3, &[scalar(1, 1), scalar(3, i)].concat());
        raw.extend(field(
            2,
            &[field(1, &[1, 1, 1, 1]), scalar(2, 1), label].concat(),
        ));
    }
    let limits = Limits {
        max_total_frames: 100_000,
        ..Limits::default()
    };
    let e = goroutine_dump::parse_as_with(&raw, Format::Proto, &limits).unwrap_err();
    assert_eq!(
        e.to_string(),
        "pprof profile (debug=0) has more than 100000 frames in all stacks together \
         (limit Limits::max_total_frames = 100000)"
    );
    let s = parse_as(&raw, Format::Proto).unwrap();
    assert_eq!(s.total(), 100);
    assert_eq!(s.stack(s.records()[0].stack).len(), 4000);
}

#[test]
fn issue13_label_bombs_are_refused() {
    let labels: Vec<String> = (0..65).map(|i| format!("\"k{i}\":\"v\"")).collect();
    let d1 = format!(
        "goroutine profile: total 1\n1 @ 0x1\n# labels: {{{}}}\n#\t0x1\tmain.f+0x1\t/a.go:1\n",
        labels.join(", ")
    );
    let e = parse(d1.as_bytes()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "debug=1 profile has more than 64 labels on one record (limit Limits::max_labels = 64)"
    );

    let mut raw = field(6, b"");
    raw.extend(field(6, b"k"));
    let label = field(3, &[scalar(1, 1), scalar(3, 7)].concat());
    raw.extend(field(2, &[scalar(2, 1), label.repeat(65)].concat()));
    assert_eq!(
        limit_of(&parse_as(&raw, Format::Proto).unwrap_err()),
        "max_labels"
    );
}

#[test]
fn issue13_records_are_bounded() {
    let limits = Limits {
        max_records: 3,
        ..Limits::default()
    };
    let d2 = "goroutine 1 [select]:\nmain.f()\n\t/a.go:1\n\n".repeat(4);
    assert_eq!(
        limit_of(&parse_with(d2.as_bytes(), &limits).unwrap_err()),
        "max_records"
    );
    assert_eq!(parse(d2.as_bytes()).unwrap().total(), 4);
    let d1 = format!(
        "goroutine profile: total 4\n{}",
        "1 @ 0x1\n#\t0x1\tmain.f+0x1\t/a.go:1\n\n".repeat(4)
    );
    assert_eq!(
        limit_of(&parse_with(d1.as_bytes(), &limits).unwrap_err()),
        "max_records"
    );
    let raw = field(2, &scalar(2, 1)).repeat(4);
    let e = parse_as_with_limits(&raw, &limits);
    assert_eq!(limit_of(&e), "max_records");
    assert!(e.to_string().contains("more than 3 samples"), "{e}");
}

fn parse_as_with_limits(raw: &[u8], limits: &Limits) -> ParseError {
    goroutine_dump::parse_as_with(raw, Format::Proto, limits).unwrap_err()
}

#[test]
fn issue13_three_buckets_of_i64_max_are_refused_not_summed() {
    // Was: `total 9223372036854775805` (the u64 sum wrapped).
    let rec = "9223372036854775807 @ 0x1\n#\t0x1\tmain.f+0x1\t/a.go:1\n\n";
    let d1 = format!("goroutine profile: total 3\n{}", rec.repeat(3));
    let e = parse(d1.as_bytes()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "debug=1 profile has more than 4294967296 goroutines in total (a count that cannot be real) \
         (limit Limits::max_goroutines = 4294967296)"
    );
    // A header announcing an impossible total is refused too.
    let d1 = format!("goroutine profile: total 9223372036854775807\n{rec}");
    assert_eq!(
        limit_of(&parse(d1.as_bytes()).unwrap_err()),
        "max_goroutines"
    );

    // The same in a pprof profile, and a negative count.
    let raw = field(2, &scalar(2, i64::MAX as u64)).repeat(3);
    assert_eq!(
        limit_of(&parse_as(&raw, Format::Proto).unwrap_err()),
        "max_goroutines"
    );
    let raw = field(2, &scalar(2, -5i64 as u64));
    assert_eq!(
        parse_as(&raw, Format::Proto).unwrap_err(),
        ParseError::Proto("a sample has a negative goroutine count (-5)".into())
    );

    // Real big counts still add up.
    let rec = "1000000 @ 0x1\n#\t0x1\tmain.f+0x1\t/a.go:1\n\n";
    let d1 = format!("goroutine profile: total 3000000\n{}", rec.repeat(3));
    let s = parse(d1.as_bytes()).unwrap();
    assert_eq!(s.total(), 3_000_000);
    assert_eq!(bucketize(&s, GroupBy::Function)[0].count, 3_000_000);
}

#[test]
fn protobuf_that_is_not_a_profile_gets_a_clear_error() {
    // What `analyze URL` got from the demo, which answers ?debug=0 with text.
    let e = parse_as(b"goroutine profile: total 1\n", Format::Proto).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("pprof protobuf (debug=0): invalid wire type value: 7"),
        "{e}"
    );
    // Truncated varints and lengths past the end.
    for bad in [
        &b"\x12"[..],
        b"\x12\x05ab",
        b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
    ] {
        assert!(
            matches!(parse_as(bad, Format::Proto), Err(ParseError::Proto(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn issue13_deltas_and_totals_saturate_instead_of_wrapping() {
    // Only a caller that raises max_goroutines can get here: a count past i64::MAX.
    let limits = Limits {
        max_goroutines: u64::MAX,
        ..Limits::default()
    };
    let huge =
        "goroutine profile: total 1\n9999999999999999999 @ 0x1\n#\t0x1\tmain.f+0x1\t/a.go:1\n";
    let after = parse_with(huge.as_bytes(), &limits).unwrap();
    let before =
        parse(b"goroutine profile: total 1\n1 @ 0x1\n#\t0x1\tmain.g+0x1\t/a.go:2\n").unwrap();
    let d = goroutine_dump::diff(
        &bucketize(&before, GroupBy::Function),
        &bucketize(&after, GroupBy::Function),
    );
    let grown = d.entries.iter().find(|e| e.after > 0).unwrap();
    assert_eq!(
        grown.delta,
        i64::MAX,
        "was negative: the u64 → i64 cast wrapped"
    );
    let s = goroutine_dump::suspects(&[before, after], &goroutine_dump::SuspectOptions::default());
    assert!(s.iter().all(|s| s.growth >= 0), "{s:?}");
}

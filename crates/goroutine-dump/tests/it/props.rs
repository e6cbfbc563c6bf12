//! Property tests: hostile input never panics and never grows memory beyond the input size;
//! bad input gets an error naming a line.

use goroutine_dump::{bucketize, parse, parse_as, Format, GroupBy, ParseError};
use proptest::prelude::*;

use crate::support::data;

fn check(input: &[u8]) {
    for r in [
        parse(input),
        parse_as(input, Format::Debug2),
        parse_as(input, Format::Debug1),
        parse_as(input, Format::Proto),
    ] {
        match r {
            Ok(s) => {
                let lines = input.iter().filter(|&&c| c == b'\n').count() + 1;
                if s.format() != Format::Proto {
                    // At most one record per line and a bounded number of warnings.
                    assert!(s.records().len() <= lines);
                    assert!(s.stack_count() <= lines);
                }
                assert!(s.warnings().len() <= 101);
                let _ = bucketize(&s, GroupBy::Line);
                let _ = bucketize(&s, GroupBy::Function);
                let _ = bucketize(&s, GroupBy::CreatedBy);
            }
            Err(ParseError::Syntax { line, expected, .. }) => {
                assert!(line >= 1);
                assert!(!expected.is_empty());
            }
            Err(_) => {}
        }
    }
}

fn mutate(mut base: Vec<u8>, cut: usize, edits: &[(usize, u8)]) -> Vec<u8> {
    for &(at, b) in edits {
        if !base.is_empty() {
            let i = at % base.len();
            base[i] = b;
        }
    }
    base.truncate(cut.min(base.len()));
    base
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_bytes(input in proptest::collection::vec(any::<u8>(), 0..4096)) {
        check(&input);
    }

    #[test]
    fn random_text_with_dump_shapes(lines in proptest::collection::vec(
        prop_oneof![
            Just("goroutine 1 [running]:".to_string()),
            Just("goroutine 2 [chan receive, 3 minutes, locked to thread]:".to_string()),
            Just("goroutine profile: total 3".to_string()),
            Just("3 @ 0x1 0x2".to_string()),
            Just("# labels: {\"a\":\"b\"}".to_string()),
            Just("#\t0x1\tmain.f+0x1\t/a.go:1".to_string()),
            Just("main.f(0x1, {0x2, 0x3})".to_string()),
            Just("\t/a.go:12 +0x1d".to_string()),
            Just("created by main.g in goroutine 1".to_string()),
            Just("...additional frames elided...".to_string()),
            Just(String::new()),
            "[ -~]{0,40}",
        ],
        0..60,
    )) {
        check(lines.join("\n").as_bytes());
    }

    #[test]
    fn mutated_debug2(cut in 0usize..60_000, edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..16)) {
        check(&mutate(data("leaky-go1.19.debug2.txt"), cut, &edits));
    }

    #[test]
    fn mutated_debug1(cut in 0usize..7_000, edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..16)) {
        check(&mutate(data("leaky-go1.19.debug1.txt"), cut, &edits));
    }

    #[test]
    fn mutated_proto(cut in 0usize..3_000, edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8)) {
        check(&mutate(data("leaky-go1.19.debug0.pb.gz"), cut, &edits));
    }
}

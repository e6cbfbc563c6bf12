//! Parsing: every format, every traceback shape.

use goroutine_dump::{bucketize, parse, Blocking, Format, GroupBy, ParseError, Snapshot};

use crate::support::data;

fn by_id(s: &Snapshot, id: u64) -> goroutine_dump::Record {
    *s.records()
        .iter()
        .find(|r| r.id == Some(id))
        .unwrap_or_else(|| panic!("goroutine {id} not parsed"))
}

fn functions(s: &Snapshot, r: &goroutine_dump::Record) -> Vec<String> {
    s.stack(r.stack)
        .iter()
        .map(|&f| s.frame_ref(f).function.to_string())
        .collect()
}

#[test]
fn go121_headers_wait_reasons_creators_and_elisions() {
    let s = parse(&data("go1.21-formats.txt")).unwrap();
    assert_eq!(s.format(), Format::Debug2);
    assert_eq!(s.total(), 11);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());

    // `gp=… m=… mp=…` header and `fp= sp= pc=` suffixes.
    let g1 = by_id(&s, 1);
    assert_eq!(s.str(g1.state), "running");
    let f = s.frame_ref(s.stack(g1.stack)[0]);
    assert_eq!(
        (f.function, f.file, f.line),
        ("main.main", "/src/shop/cmd/shop/main.go", 41)
    );

    // Go 1.20+ wait reason, minutes, creator id, inlined `(...)` frame without +0x.
    let g34 = by_id(&s, 34);
    assert_eq!(s.str(g34.state), "sync.Mutex.Lock");
    assert_eq!(g34.wait_minutes, Some(5));
    assert_eq!(g34.creator_id, Some(12));
    let created = s.frame_ref(g34.created_by.unwrap());
    assert_eq!(
        created.function,
        "example.com/shop/billing.(*Server).handle"
    );
    assert_eq!(created.line, 88);
    assert_eq!(
        functions(&s, &g34),
        [
            "sync.runtime_SemacquireMutex",
            "sync.(*Mutex).lockSlow",
            "sync.(*Mutex).Lock",
            "example.com/shop/billing.(*Ledger).Charge"
        ]
    );
    let inlined = s.frame_ref(s.stack(g34.stack)[2]);
    assert_eq!(
        (inlined.file, inlined.line),
        ("/usr/local/go/src/sync/mutex.go", 90)
    );

    let g40 = by_id(&s, 40);
    assert_eq!(s.str(g40.state), "chan receive");
    assert_eq!(g40.wait_minutes, Some(61));
    assert!(g40.locked_to_thread);
    assert_eq!(g40.creator_id, Some(34));

    assert_eq!(s.str(by_id(&s, 41).state), "chan send (nil chan)");
    assert_eq!(s.str(by_id(&s, 42).state), "select (no cases)");

    // Go 1.26 goroutineleak marking.
    let g43 = by_id(&s, 43);
    assert!(g43.leaked);
    assert_eq!(s.str(g43.state), "chan receive");

    // Ancestor frames (`[originating from goroutine 1]:`) are not part of the stack.
    let g50 = by_id(&s, 50);
    assert_eq!(functions(&s, &g50).len(), 3);

    // `...N frames elided...` in the middle and `...additional frames elided...` at the end.
    let g60 = by_id(&s, 60);
    assert!(g60.elided);
    assert_eq!(functions(&s, &g60).len(), 4);
    let g61 = by_id(&s, 61);
    assert!(g61.elided);
    assert_eq!(s.frame_ref(g61.created_by.unwrap()).line, 20);
}

#[test]
fn go121_buckets_know_the_blocking_kind_and_the_leaking_frame() {
    let s = parse(&data("go1.21-formats.txt")).unwrap();
    let buckets = bucketize(&s, GroupBy::Line);
    let charge = buckets
        .iter()
        .find(|b| b.site().unwrap().function.ends_with("(*Ledger).Charge"))
        .unwrap();
    assert_eq!(charge.count, 2);
    assert_eq!(charge.blocking, Blocking::Mutex);
    let w = charge.wait_minutes.as_ref().unwrap();
    assert_eq!((w.min, w.max, w.waiting), (5, 12, 2));
    assert_eq!(charge.creator_id, Some(12));
    assert_eq!(charge.ids, [34, 35]);

    let kind = |suffix: &str| {
        buckets
            .iter()
            .find(|b| b.site().is_some_and(|f| f.function.ends_with(suffix)))
            .map(|b| b.blocking)
    };
    assert_eq!(kind("(*Cache).Get"), Some(Blocking::RwMutex));
    assert_eq!(kind("queue.publish"), Some(Blocking::ChanSend));
    assert_eq!(kind("queue.forever"), Some(Blocking::Select));
    assert_eq!(kind("(*Runner).flush"), Some(Blocking::WaitGroup));
    assert_eq!(kind("Dial"), None, "an all-stdlib stack has no user frame");
    // The leaked and the non-leaked await share a bucket; the leaked one is counted.
    let await_ = buckets
        .iter()
        .find(|b| b.site().unwrap().function.ends_with("(*Client).await"))
        .unwrap();
    assert_eq!(
        (await_.count, await_.leaked, await_.locked_to_thread),
        (2, 1, 1)
    );
    assert_eq!(await_.blocking, Blocking::ChanReceive);
}

#[test]
fn a_panic_in_the_middle_of_a_container_log_is_found() {
    let s = parse(&data("panic-in-container-log.txt")).unwrap();
    assert_eq!(s.total(), 4);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let buckets = bucketize(&s, GroupBy::Line);
    assert_eq!(buckets[0].count, 2);
    assert_eq!(
        buckets[0].top_frame.as_ref().unwrap().function,
        "github.com/songquanpeng/one-api/relay/adaptor/openai.StreamHandler.func2"
    );
    assert_eq!(buckets[0].wait_minutes.as_ref().unwrap().max, 17);
    // created-by grouping: both goroutines come from the same `go` statement.
    let by_creator = bucketize(&s, GroupBy::CreatedBy);
    assert_eq!(by_creator[0].count, 2);
}

#[test]
fn crlf_parses_like_lf() {
    let lf = data("leaky-go1.19.debug2.txt");
    let crlf = String::from_utf8(lf.clone()).unwrap().replace('\n', "\r\n");
    let a = bucketize(&parse(&lf).unwrap(), GroupBy::Line);
    let b = bucketize(&parse(crlf.as_bytes()).unwrap(), GroupBy::Line);
    let counts = |v: &[goroutine_dump::Bucket]| {
        v.iter()
            .map(|b| (b.key.clone(), b.count))
            .collect::<Vec<_>>()
    };
    assert_eq!(counts(&a), counts(&b));
    let d1 = String::from_utf8(data("leaky-go1.19.debug1.txt"))
        .unwrap()
        .replace('\n', "\r\n");
    assert_eq!(parse(d1.as_bytes()).unwrap().total(), 113);
}

#[test]
fn a_truncated_dump_keeps_the_partial_goroutine_and_says_so() {
    let full = data("leaky-go1.19.debug2.txt");
    let full_snap = parse(&full).unwrap();
    // Cut in the middle of a function line, a file line, and a header.
    for cut in [full.len() - 7, full.len() / 2, full.len() / 3 + 11] {
        let s = parse(&full[..cut]).unwrap();
        let last = s.records().last().unwrap();
        if last.truncated {
            assert!(
                s.warnings().iter().any(|w| w.message.contains("truncated")),
                "cut {cut}: {:?}",
                s.warnings()
            );
        }
        assert!(s.total() <= full_snap.total());
    }
    // Cut exactly after a complete frame line: nothing is lost or flagged except the rest.
    let text = String::from_utf8(full.clone()).unwrap();
    let mid = text[..text.len() / 2].rfind("\n\ngoroutine ").unwrap();
    let s = parse(&full[..mid + 1]).unwrap();
    assert!(!s.records().last().unwrap().truncated);
}

#[test]
fn the_three_fixture_formats_agree() {
    let d2 = parse(&data("leaky-go1.19.debug2.txt")).unwrap();
    let d1 = parse(&data("leaky-go1.19.debug1.txt")).unwrap();
    let d0 = parse(&data("leaky-go1.19.debug0.pb.gz")).unwrap();
    assert_eq!(
        (d2.format(), d1.format(), d0.format()),
        (Format::Debug2, Format::Debug1, Format::Proto)
    );
    assert_eq!(d1.header_total(), Some(113));
    for s in [&d2, &d1, &d0] {
        assert_eq!(s.total(), 113);
    }
    let site_counts = |s: &Snapshot| {
        let mut v: Vec<(String, u64)> = bucketize(s, GroupBy::Line)
            .into_iter()
            .filter_map(|b| {
                let f = b.top_frame?.function;
                (f.starts_with("leaky/internal/leaks.(*") && !f.contains("SilentUpstream"))
                    .then_some((f, b.count))
            })
            .collect();
        v.sort();
        v
    };
    let expected = vec![
        ("leaky/internal/leaks.(*ConnPool).waitIdle".to_string(), 20),
        ("leaky/internal/leaks.(*QuotaLedger).settle".to_string(), 20),
        ("leaky/internal/leaks.(*Relay).waitReply".to_string(), 25),
        (
            "leaky/internal/leaks.(*StreamForwarder).awaitChunk".to_string(),
            20,
        ),
        (
            "leaky/internal/leaks.(*UpstreamClient).readResponse".to_string(),
            20,
        ),
    ];
    assert_eq!(site_counts(&d2), expected);
    assert_eq!(site_counts(&d1), expected);
    assert_eq!(site_counts(&d0), expected);
    // Bucket keys are the same in every format for the leak sites.
    let keys = |s: &Snapshot| {
        let mut k: Vec<String> = bucketize(s, GroupBy::Line)
            .into_iter()
            .filter(|b| {
                b.top_frame
                    .as_ref()
                    .is_some_and(|f| f.function.contains("internal/leaks.(*"))
            })
            .map(|b| b.key)
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys(&d2), keys(&d1));
    assert_eq!(keys(&d2), keys(&d0));
    // Labels from debug=1 and proto.
    for s in [&d1, &d0] {
        let b = bucketize(s, GroupBy::Line)
            .into_iter()
            .find(|b| {
                b.top_frame
                    .as_ref()
                    .is_some_and(|f| f.function.ends_with("waitReply"))
            })
            .unwrap();
        let l: Vec<(&str, &str, u64)> = b
            .labels
            .iter()
            .map(|l| (l.key.as_str(), l.value.as_str(), l.count))
            .collect();
        assert_eq!(
            l,
            [
                ("site", "chan", 25),
                ("channel", "openai", 20),
                ("channel", "azure", 5)
            ],
            "{:?}",
            s.format()
        );
    }
}

#[test]
fn debug1_errors_name_the_line_and_what_was_expected() {
    let bad = b"goroutine profile: total 2\n2 @ 0x1 0x2\n#\t0x1\tmain.f+0x1\t/a.go:3\nthis is not a frame\n";
    let e = parse(bad).unwrap_err();
    assert_eq!(
        e,
        ParseError::Syntax {
            line: 4,
            expected:
                "'COUNT @ PC…', '# labels: {…}', '#\\tPC\\tFUNC+OFF\\tFILE:LINE' or a blank line"
                    .into(),
            found: "this is not a frame".into()
        }
    );
    assert!(e.to_string().starts_with("line 4: expected 'COUNT @ PC…'"));
    let e = parse(b"goroutine profile: total x\n").unwrap_err();
    assert!(
        e.to_string()
            .contains("line 1: expected a number after 'total'"),
        "{e}"
    );
    let e = parse(b"goroutine profile: total 1\n1 @ 0x1\n# labels: {\"a\" \"b\"}\n").unwrap_err();
    assert!(
        e.to_string()
            .contains("line 3: expected ':' after a label key"),
        "{e}"
    );
}

#[test]
fn debug2_errors_and_non_dumps() {
    let e = parse(b"goroutine 7 [chan receive\nmain.f()\n\t/a.go:1 +0x1\n").unwrap_err();
    assert!(
        e.to_string()
            .contains("line 1: expected the header to end with ']:'"),
        "{e}"
    );
    let e = parse(b"hello\nworld\n").unwrap_err();
    assert_eq!(e, ParseError::NoGoroutines { lines: 2 });
    let e = parse(&[0x1f, 0x8b, 1, 2, 3]).unwrap_err();
    assert!(matches!(e, ParseError::Proto(_)), "{e}");
}

#[test]
fn debug1_label_values_are_unescaped() {
    let s = parse(
        b"goroutine profile: total 3\n3 @ 0x1\n# labels: {\"route\":\"/v1/\\\"chat\\\"\", \"\\u00e9\":\"x\"}\n#\t0x1\tmain.f+0x1\t/a.go:3\n",
    )
    .unwrap();
    let b = &bucketize(&s, GroupBy::Line)[0];
    let mut l: Vec<(String, String)> = b
        .labels
        .iter()
        .map(|l| (l.key.clone(), l.value.clone()))
        .collect();
    l.sort();
    assert_eq!(
        l,
        [
            ("route".into(), "/v1/\"chat\"".into()),
            ("é".into(), "x".into())
        ]
    );
}

#[test]
fn a_dump_with_a_log_prefix_on_every_line_parses_like_the_plain_one() {
    let plain = String::from_utf8(data("leaky-go1.19.debug2.txt")).unwrap();
    let want: Vec<(String, u64)> = bucketize(&parse(plain.as_bytes()).unwrap(), GroupBy::Line)
        .into_iter()
        .map(|b| (b.key, b.count))
        .collect();
    // Kubernetes CRI log lines: RFC 3339 timestamps whose nanoseconds lose trailing zeros.
    let cri: String = plain
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let nanos = ["5", "123", "120000001", "98"][i % 4];
            format!("2025-10-27T10:30:{:02}.{nanos}Z stderr F {l}\n", i % 60)
        })
        .collect();
    // docker compose: a constant service prefix.
    let compose: String = plain.lines().map(|l| format!("leaky-1  | {l}\n")).collect();
    for text in [cri, compose] {
        let s = parse(text.as_bytes()).unwrap();
        assert!(
            s.warnings().is_empty(),
            "{:?}",
            &s.warnings()[..3.min(s.warnings().len())]
        );
        let got: Vec<(String, u64)> = bucketize(&s, GroupBy::Line)
            .into_iter()
            .map(|b| (b.key, b.count))
            .collect();
        assert_eq!(got, want);
    }
}

//! Diff and suspect ranking on small synthetic dumps.

use goroutine_dump::{
    bucketize, diff, parse, suspects, Change, Confidence, GroupBy, Snapshot, SuspectOptions,
};

/// A debug=2 dump: `(first id, count, function, line, state)` groups.
fn dump(groups: &[(u64, u64, &str, u32, &str)]) -> Snapshot {
    let mut s = String::new();
    for &(first, n, func, line, state) in groups {
        for id in first..first + n {
            s.push_str(&format!(
                "goroutine {id} [{state}]:\n{func}(0xc000{id:06x})\n\t/src/app/{func}.go:{line} +0x1d\ncreated by example.com/app.Start in goroutine 1\n\t/src/app/start.go:9 +0x2a\n\n"
            ));
        }
    }
    parse(s.as_bytes()).unwrap()
}

/// A debug=1 profile: `(count, function, line, labels)` records.
fn agg(records: &[(u64, &str, u32, &str)]) -> Snapshot {
    let total: u64 = records.iter().map(|r| r.0).sum();
    let mut s = format!("goroutine profile: total {total}\n");
    for &(n, func, line, labels) in records {
        s.push_str(&format!("{n} @ 0x1 0x2\n"));
        if !labels.is_empty() {
            s.push_str(&format!("# labels: {labels}\n"));
        }
        s.push_str(&format!(
            "#\t0x1\t{func}+0x1d\t/src/app/{func}.go:{line}\n\n"
        ));
    }
    parse(s.as_bytes()).unwrap()
}

const LEAK: &str = "example.com/app.(*Relay).wait";
const CHURN: &str = "example.com/app.handle";

#[test]
fn diff_ranks_growth_first_then_shrinkage() {
    let a = dump(&[
        (10, 5, LEAK, 40, "chan receive"),
        (100, 8, CHURN, 12, "IO wait"),
    ]);
    let b = dump(&[
        (10, 50, LEAK, 40, "chan receive"),
        (200, 3, CHURN, 12, "IO wait"),
        (300, 2, "example.com/app.fresh", 7, "select"),
    ]);
    let d = diff(&bucketize(&a, GroupBy::Line), &bucketize(&b, GroupBy::Line));
    let rows: Vec<(Change, i64)> = d.entries.iter().map(|e| (e.change, e.delta)).collect();
    assert_eq!(
        rows,
        [(Change::Grew, 45), (Change::New, 2), (Change::Shrank, -5)]
    );
    assert_eq!((d.before_total, d.after_total), (13, 55));
    assert_eq!(d.entries[0].site().unwrap().function, LEAK);
    let gone = diff(&bucketize(&b, GroupBy::Line), &bucketize(&a, GroupBy::Line));
    assert_eq!(gone.entries.last().unwrap().change, Change::Vanished);
}

#[test]
fn growing_buckets_that_keep_their_goroutines_are_suspects() {
    // The leak keeps ids 10.. and adds more; the churn bucket grows too but with new ids.
    let snaps = [
        dump(&[
            (10, 20, LEAK, 40, "chan receive"),
            (1000, 20, CHURN, 12, "IO wait"),
        ]),
        dump(&[
            (10, 40, LEAK, 40, "chan receive"),
            (2000, 30, CHURN, 12, "IO wait"),
        ]),
        dump(&[
            (10, 60, LEAK, 40, "chan receive"),
            (3000, 45, CHURN, 12, "IO wait"),
        ]),
    ];
    let s = suspects(&snaps, &SuspectOptions::default());
    assert_eq!(s.len(), 1, "{s:#?}");
    assert_eq!(s[0].site().unwrap().function, LEAK);
    assert_eq!(s[0].counts, [20, 40, 60]);
    assert_eq!(s[0].retained, Some(1.0));
    assert_eq!(s[0].confidence, Confidence::High);
    assert_eq!(
        s[0].created_by.as_ref().unwrap().function,
        "example.com/app.Start"
    );
}

#[test]
fn buckets_that_rise_and_fall_with_load_are_not_suspects() {
    let series = [
        agg(&[(20, LEAK, 40, ""), (50, CHURN, 12, "")]),
        agg(&[(40, LEAK, 40, ""), (90, CHURN, 12, "")]),
        agg(&[(60, LEAK, 40, ""), (60, CHURN, 12, "")]),
        agg(&[(80, LEAK, 40, ""), (120, CHURN, 12, "")]),
    ];
    let s = suspects(&series, &SuspectOptions::default());
    assert_eq!(s.len(), 1, "{s:#?}");
    assert_eq!(s[0].site().unwrap().function, LEAK);
    assert_eq!(s[0].confidence, Confidence::Medium);
}

#[test]
fn small_or_relative_noise_is_not_growth() {
    let series = [
        agg(&[(1000, LEAK, 40, "")]),
        agg(&[(1050, LEAK, 40, "")]),
        agg(&[(1100, LEAK, 40, "")]),
    ];
    // +10 % is within the guide's "growth < 20 % is normal".
    assert!(suspects(&series, &SuspectOptions::default()).is_empty());
    let series = [agg(&[(2, LEAK, 40, "")]), agg(&[(9, LEAK, 40, "")])];
    assert!(suspects(&series, &SuspectOptions::default()).is_empty());
}

#[test]
fn dominant_labels_name_the_upstream_channel() {
    let labels = r#"{"channel":"openai", "site":"chan"}"#;
    let series = [
        agg(&[
            (10, LEAK, 40, labels),
            (1, LEAK, 40, r#"{"channel":"azure", "site":"chan"}"#),
        ]),
        agg(&[
            (100, LEAK, 40, labels),
            (1, LEAK, 40, r#"{"channel":"azure", "site":"chan"}"#),
        ]),
    ];
    let s = suspects(&series, &SuspectOptions::default());
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].confidence, Confidence::Low);
    let l: Vec<String> = s[0]
        .dominant_labels
        .iter()
        .map(|l| format!("{}={}", l.key, l.value))
        .collect();
    assert_eq!(l, ["site=chan", "channel=openai"]);
}

#[test]
fn sleeping_buckets_need_ids_or_a_long_series() {
    let sleep = "example.com/app.poll";
    let mk = |n| {
        let mut s = format!("goroutine profile: total {n}\n{n} @ 0x1\n");
        s.push_str(&format!("#\t0x1\ttime.Sleep+0x1\t/go/src/time/sleep.go:1\n#\t0x2\t{sleep}+0x1\t/src/app/poll.go:3\n\n"));
        parse(s.as_bytes()).unwrap()
    };
    let three = [mk(50), mk(80), mk(120)];
    assert!(suspects(&three, &SuspectOptions::default()).is_empty());
    let five = [mk(50), mk(80), mk(120), mk(160), mk(200)];
    assert_eq!(suspects(&five, &SuspectOptions::default()).len(), 1);
}

#[test]
fn grouping_by_function_merges_lines() {
    let s = dump(&[
        (1, 3, LEAK, 40, "chan receive"),
        (10, 2, LEAK, 41, "chan receive"),
    ]);
    assert_eq!(bucketize(&s, GroupBy::Line).len(), 2);
    let f = bucketize(&s, GroupBy::Function);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].count, 5);
    assert_eq!(bucketize(&s, GroupBy::CreatedBy)[0].count, 5);
}

#[test]
fn a_fixed_number_of_suspects_is_filled_with_the_largest_buckets() {
    // What an evidence bundle asks: growth first, then the largest buckets of user code.
    let opts = SuspectOptions {
        fill_largest: Some(3),
        user_code_only: true,
        ..SuspectOptions::default()
    };
    let before = agg(&[
        (100, LEAK, 40, ""),
        (500, CHURN, 12, ""),
        (2, "runtime.gopark", 1, ""),
    ]);
    let after = agg(&[
        (3000, LEAK, 40, r#"{"tenant":"a"}"#),
        (500, CHURN, 12, ""),
        (900, "runtime.gopark", 1, ""),
    ]);
    let s = suspects(&[before, after.clone()], &opts);
    let got: Vec<(&str, goroutine_dump::Basis, i64)> = s
        .iter()
        .map(|s| {
            (
                s.top_frame.as_ref().unwrap().function.as_str(),
                s.basis,
                s.growth,
            )
        })
        .collect();
    // The runtime-only bucket grew too, but has no user-code frame: never listed.
    assert_eq!(
        got,
        [
            (LEAK, goroutine_dump::Basis::Grew, 2900),
            (CHURN, goroutine_dump::Basis::Largest, 0)
        ]
    );
    assert_eq!(
        s[0].to_string(),
        "example.com/app.(*Relay).wait (app.(*Relay).wait.go:40): 3000 goroutines, \
         +2900 since the first snapshot, labels tenant=a"
    );
    // One snapshot: only the largest.
    let one = suspects(
        &[after],
        &SuspectOptions {
            fill_largest: Some(1),
            ..opts
        },
    );
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].basis, goroutine_dump::Basis::Largest);
    assert_eq!(one[0].counts, [3000]);
}

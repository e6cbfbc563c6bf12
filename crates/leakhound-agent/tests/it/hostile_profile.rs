//! Issue 13 item 1: a target whose goroutine profile is huge to parse must not stall the
//! agent's runtime. The capture runs on a single-threaded runtime next to a 1 ms ticker (the
//! stand-in for another target's probe schedule and `/metrics`); while the profile is being
//! parsed, an observer thread checks that the ticker keeps ticking. The target is a fake (a
//! few lines of std TCP serving one profile): no Go service can be made to serve this body.

use leakhound_agent::evidence::{CaptureRequest, Capturer};
use leakhound_core::config::{Config, EvidenceConfig};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A debug=1 profile of `stacks` distinct stacks: costly to group (every stack is a bucket).
pub fn costly_profile(stacks: usize) -> Vec<u8> {
    let mut s = format!("goroutine profile: total {stacks}\n");
    for i in 0..stacks {
        s.push_str(&format!(
            "1 @ 0x{a:x} 0x{b:x} 0x{c:x}\n#\t0x{a:x}\truntime.gopark+0x1\t/go/src/runtime/proc.go:363\n#\t0x{b:x}\tapp/pkg{m}.(*T{i}).wait+0x1\t/app/pkg{m}/x{i}.go:{l}\n#\t0x{c:x}\tapp/pkg{m}.run{i}+0x1\t/app/pkg{m}/y{i}.go:{l}\n\n",
            a = 0x1000 + i * 3,
            b = 0x1001 + i * 3,
            c = 0x1002 + i * 3,
            m = i % 97,
            l = 10 + i % 1000,
        ));
    }
    s.into_bytes()
}

/// Serve `profile` at `/debug/pprof/goroutine`, 404 elsewhere; `served` is set once the
/// profile has been written.
fn fake_target(profile: Vec<u8>, served: Arc<AtomicBool>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head);
            if head.starts_with("GET /debug/pprof/goroutine?") {
                let _ = stream.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        profile.len()
                    )
                    .as_bytes(),
                );
                let _ = stream.write_all(&profile);
                let _ = stream.flush();
                served.store(true, Ordering::SeqCst);
            } else {
                let _ = stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "current_thread")]
async fn a_costly_profile_does_not_stall_the_runtime() {
    let profile = costly_profile(60_000);
    // How long this profile takes to parse here, off any runtime (for the failure message).
    let started = Instant::now();
    drop(goroutine_dump::parse(&profile));
    let parse_time = started.elapsed();

    let served = Arc::new(AtomicBool::new(false));
    let url = fake_target(profile, served.clone());
    let tmp = tempfile::tempdir().unwrap();
    let config = Config::parse(
        &format!("[[targets]]\nname = \"hostile\"\nurl = \"{url}\"\n"),
        &|_| None,
    )
    .unwrap();
    let evidence = EvidenceConfig {
        dir: tmp.path().join("evidence"),
        ..EvidenceConfig::default()
    };
    let mut capturer = Capturer::new(
        &evidence,
        &leakhound_store::Db::open(&tmp.path().join("lh.db")).unwrap(),
    )
    .unwrap();

    // Another target's schedule: a 1 ms ticker on the same (single) runtime thread.
    let ticks = Arc::new(AtomicU64::new(0));
    let ticker = {
        let ticks = ticks.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    // The observer: once the profile is served (its parse begins), the ticker must advance 10
    // ticks within a bounded poll of 2 s. Parsed on the runtime thread, it stood still for
    // the whole parse.
    let done = Arc::new(AtomicBool::new(false));
    let observer = {
        let (ticks, served, done) = (ticks.clone(), served.clone(), done.clone());
        std::thread::spawn(move || -> Result<(), String> {
            let end = Instant::now() + Duration::from_secs(120);
            while !served.load(Ordering::SeqCst) {
                if Instant::now() > end || done.load(Ordering::SeqCst) {
                    return Err("the profile was never served".into());
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            let at = ticks.load(Ordering::SeqCst);
            let end = Instant::now() + Duration::from_secs(2);
            while ticks.load(Ordering::SeqCst) < at + 10 {
                if Instant::now() > end {
                    return Err(format!(
                        "the runtime stalled: {} ticks in 2 s after the profile arrived (its parse takes {parse_time:?})",
                        ticks.load(Ordering::SeqCst) - at
                    ));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(())
        })
    };
    let target = config.targets[0].clone();
    let bundle = capturer
        .capture(
            &target,
            CaptureRequest {
                trigger: "manual".into(),
                incident: "manual".into(),
                latest: None,
                automatic: false,
                now_ms: 1_700_000_000_000,
            },
        )
        .await
        .unwrap();
    done.store(true, Ordering::SeqCst);
    ticker.abort();
    // Joined on a blocking thread: the observer must not be waited for on the runtime thread.
    let verdict = tokio::task::spawn_blocking(move || observer.join().unwrap())
        .await
        .unwrap();
    verdict.unwrap();
    assert!(bundle.has_profile());
}

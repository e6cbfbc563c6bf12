//! `[agent] raw_retention` / `retention` (issue 16): a running agent deletes raw samples and
//! rollups older than its retentions, at start, and keeps what is newer.

use leakhound_agent::agent::Agent;
use leakhound_core::config::Config;
use leakhound_core::Sample;
use leakhound_store::{Reader, Store};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_agent_deletes_what_is_older_than_its_retention() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("lh.db");
    let now = leakhound_agent::agent::now_ms();
    // Five hours of an old run, one sample a minute.
    {
        let mut store = Store::open(&db).unwrap();
        let old: Vec<Sample> = (0..300)
            .map(|i| {
                let mut s =
                    Sample::down("old-run", now - 5 * 3_600_000 + i * 60_000, 1.0, "x".into());
                s.up = true;
                s.error = None;
                s.metrics.goroutines = Some(100);
                s
            })
            .collect();
        store.insert(&old).unwrap();
    }
    let text = format!(
        "[agent]\ndatabase = \"{}\"\nraw_retention = \"2h\"\nretention = \"4h\"\n\n\
         [[targets]]\nname = \"live\"\nurl = \"http://127.0.0.1:9/\"\ninterval = \"200ms\"\ntimeout = \"100ms\"\n",
        db.display()
    );
    let config = Config::parse(&text, &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let agent = Agent::start(config).await.unwrap();
    let reader = Reader::new(&db);
    let count = |since: i64, until: i64| {
        reader
            .with(|s| s.count_between("old-run", since, until))
            .unwrap()
    };
    tokio::time::timeout(Duration::from_secs(20), async {
        while count(0, now - 2 * 3_600_000) > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the samples older than 2 h deleted within 20 s");
    // The last two hours stay (the cut-off moved on by the time the pass ran: give it a minute).
    let kept = count(now - 2 * 3_600_000 + 60_000, i64::MAX);
    assert!(
        (118..=120).contains(&kept),
        "{kept} of the last two hours' samples kept"
    );
    tokio::time::timeout(Duration::from_secs(20), async {
        while agent.latest().is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("a probe of the live target");
    agent.stop().await.unwrap();
    assert!(count(0, i64::MAX) >= 118);
    let live = reader
        .with(|s| s.count_between("live", 0, i64::MAX))
        .unwrap();
    assert!(live >= 1, "the agent stored its own samples meanwhile");
}

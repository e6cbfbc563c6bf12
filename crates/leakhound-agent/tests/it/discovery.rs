//! `[[discovery]]` at run time against real peers: file_sd files in a temp directory that are
//! written, rewritten, broken and deleted; an http_sd endpoint (axum on 127.0.0.1) that checks
//! the bearer token and changes its answer; and a real dockerd with labelled containers.
//!
//! The docker test is `#[ignore]`d: it needs the private daemon `scripts/test` starts with
//! `scripts/docker-peer` (LEAKHOUND_DOCKER_HOST, LEAKHOUND_FIXTURE_IMAGE). By hand:
//!
//! ```sh
//! eval "$(scripts/docker-peer start /tmp/lh-docker-disc)"
//! cargo test -p leakhound-agent --test it -- --include-ignored discovery::
//! scripts/docker-peer stop /tmp/lh-docker-disc
//! ```

use leakhound_agent::discovery::{spawn, Discovered};
use leakhound_core::config::{Config, TargetConfig};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The longest any one change may take to show.
const WAIT: Duration = Duration::from_secs(20);

struct Running {
    rx: mpsc::Receiver<Discovered>,
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
}

fn start(toml: &str, env: &dyn Fn(&str) -> Option<String>) -> Running {
    let config = Config::parse(toml, env).unwrap_or_else(|e| panic!("{e}"));
    let (tx, rx) = mpsc::channel(8);
    let (stop, shutdown) = watch::channel(false);
    let tasks = spawn(&config, tx, shutdown);
    Running { rx, stop, tasks }
}

impl Running {
    /// The next target set for which `want` holds (earlier ones are skipped), within [`WAIT`].
    async fn until(
        &mut self,
        what: &str,
        want: impl Fn(&[TargetConfig]) -> bool,
    ) -> Vec<TargetConfig> {
        let mut seen = Vec::new();
        let found = tokio::time::timeout(WAIT, async {
            while let Some(d) = self.rx.recv().await {
                let names = names(&d.targets);
                if want(&d.targets) {
                    return Some(d.targets);
                }
                seen.push(names);
            }
            None
        })
        .await;
        match found {
            Ok(Some(targets)) => targets,
            _ => panic!("no target set with {what} within {WAIT:?}; saw {seen:?}"),
        }
    }

    /// Nothing is sent for `quiet` (used after a change that must keep the set).
    async fn nothing_for(&mut self, quiet: Duration) {
        if let Ok(Some(d)) = tokio::time::timeout(quiet, self.rx.recv()).await {
            panic!("expected no change, got {:?}", names(&d.targets));
        }
    }

    /// Shutdown ends every task promptly.
    async fn stop(mut self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(done) = self.tasks.join_next().await {
                done.unwrap();
            }
        })
        .await
        .expect("the discovery tasks stop on shutdown");
    }
}

fn names(targets: &[TargetConfig]) -> Vec<String> {
    targets.iter().map(|t| t.name.clone()).collect()
}

fn url(t: &TargetConfig) -> String {
    t.url.as_ref().unwrap().to_string()
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_discovery_follows_writes_rewrites_breakage_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let toml = format!(
        "[[discovery]]\nname = \"files\"\ntype = \"file\"\nfiles = [\"{}/*.json\", \"{}/extra.yml\"]\n\
         refresh_interval = \"50ms\"\nlabels = {{ env = \"test\" }}\n",
        d.display(),
        d.display()
    );
    let mut run = start(&toml, &no_env);
    // The first read is sent even when it finds nothing.
    let first = tokio::time::timeout(WAIT, run.rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.block, "files");
    assert!(first.targets.is_empty());

    std::fs::write(
        d.join("a.json"),
        r#"[{"targets": ["127.0.0.1:9001"], "labels": {"__leakhound_name__": "one-api", "env": "prod"}}]"#,
    )
    .unwrap();
    let got = run.until("one-api", |t| names(t) == ["one-api"]).await;
    assert_eq!(url(&got[0]), "http://127.0.0.1:9001/metrics");
    assert_eq!(got[0].labels["env"], "prod");

    // A second file (YAML, named literally) joins; a file that matches no pattern does not.
    std::fs::write(d.join("ignored.txt"), "[]").unwrap();
    std::fs::write(d.join("extra.yml"), "- targets: ['127.0.0.1:9002']\n").unwrap();
    let got = run
        .until("both files", |t| names(t) == ["127.0.0.1:9002", "one-api"])
        .await;
    assert_eq!(got[0].labels["env"], "test");

    // A rewrite (a different size) replaces the file's targets.
    std::fs::write(
        d.join("a.json"),
        r#"[{"targets": ["127.0.0.1:9003", "127.0.0.1:9004"], "labels": {"__metrics_path__": "/debug/vars"}}]"#,
    )
    .unwrap();
    let got = run
        .until("the rewrite", |t| {
            names(t) == ["127.0.0.1:9002", "127.0.0.1:9003", "127.0.0.1:9004"]
        })
        .await;
    assert_eq!(url(&got[1]), "http://127.0.0.1:9003/debug/vars");

    // A broken file keeps its last targets: nothing is sent.
    std::fs::write(d.join("a.json"), "[{\"targets\": [").unwrap();
    run.nothing_for(Duration::from_millis(500)).await;

    // Fixed by an editor's rename-over: followed.
    std::fs::write(d.join(".a.tmp"), r#"[{"targets": ["127.0.0.1:9005"]}]"#).unwrap();
    std::fs::rename(d.join(".a.tmp"), d.join("a.json")).unwrap();
    run.until("the fix", |t| {
        names(t) == ["127.0.0.1:9002", "127.0.0.1:9005"]
    })
    .await;

    // A deleted file drops its targets.
    std::fs::remove_file(d.join("a.json")).unwrap();
    run.until("the delete", |t| names(t) == ["127.0.0.1:9002"])
        .await;
    std::fs::remove_file(d.join("extra.yml")).unwrap();
    run.until("no targets", <[TargetConfig]>::is_empty).await;
    run.stop().await;
}

/// An http_sd endpoint: answers `body` (and `status`) to requests with the right token and
/// both of Prometheus' headers, 401 otherwise.
async fn sd_server(answer: Arc<Mutex<(u16, String)>>) -> String {
    use axum::http::{HeaderMap, StatusCode};
    let app = axum::Router::new().route(
        "/sd",
        axum::routing::get(move |headers: HeaderMap| {
            let answer = answer.lock().unwrap().clone();
            async move {
                let h = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                if h("authorization").as_deref() != Some("Bearer s3cret")
                    || h("accept").as_deref() != Some("application/json")
                    || h("x-prometheus-refresh-interval-seconds").as_deref() != Some("0.1")
                {
                    return (StatusCode::UNAUTHORIZED, String::from("no"));
                }
                (StatusCode::from_u16(answer.0).unwrap(), answer.1)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/sd")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_discovery_sends_the_token_and_follows_the_answer() {
    let answer = Arc::new(Mutex::new((
        200,
        r#"[{"targets": ["127.0.0.1:9101"], "labels": {"job": "a"}}]"#.to_string(),
    )));
    let sd = sd_server(answer.clone()).await;
    let toml = format!(
        "[[discovery]]\ntype = \"http\"\nurl = \"{sd}\"\nbearer_token = \"${{SD_TOKEN}}\"\nrefresh_interval = \"100ms\"\n\
         scheme = \"https\"\ninterval = \"15s\"\n\n\
         [[discovery]]\nname = \"wrong-token\"\ntype = \"http\"\nurl = \"{sd}\"\nbearer_token = \"nope\"\nrefresh_interval = \"100ms\"\n"
    );
    let mut run = start(&toml, &|k| (k == "SD_TOKEN").then(|| "s3cret".to_string()));
    let got = run
        .until("the first answer", |t| names(t) == ["127.0.0.1:9101"])
        .await;
    assert_eq!(url(&got[0]), "https://127.0.0.1:9101/metrics");
    assert_eq!(got[0].labels["job"], "a");
    assert_eq!(got[0].interval, Duration::from_secs(15));

    // A 500 and then garbage keep the last set.
    answer.lock().unwrap().0 = 500;
    run.nothing_for(Duration::from_millis(400)).await;
    *answer.lock().unwrap() = (200, "<html>oops</html>".into());
    run.nothing_for(Duration::from_millis(400)).await;

    // A new answer is followed.
    answer.lock().unwrap().1 = r#"[{"targets": ["127.0.0.1:9102", "127.0.0.1:9103"]}]"#.to_string();
    run.until("the new answer", |t| {
        names(t) == ["127.0.0.1:9102", "127.0.0.1:9103"]
    })
    .await;
    run.stop().await;
}

// --- docker (a real dockerd started by scripts/docker-peer) ---------------------------------

fn docker_env() -> (String, String) {
    let host = std::env::var("LEAKHOUND_DOCKER_HOST").unwrap_or_default();
    let image = std::env::var("LEAKHOUND_FIXTURE_IMAGE").unwrap_or_default();
    assert!(
        !host.is_empty() && !image.is_empty(),
        "LEAKHOUND_DOCKER_HOST / LEAKHOUND_FIXTURE_IMAGE are not set: run scripts/test, or \
         `eval \"$(scripts/docker-peer start /tmp/lh-docker-disc)\"` first (and \
         `scripts/docker-peer stop /tmp/lh-docker-disc` after)"
    );
    (host, image)
}

fn docker(host: &str, args: &[&str]) -> String {
    let out = Command::new("docker")
        .arg("-H")
        .arg(host)
        .args(args)
        .env_remove("DOCKER_CONTEXT")
        .output()
        .expect("run the docker CLI (apt-get install docker.io)");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A fixture container (`--network=host`), removed on drop.
struct Container {
    host: String,
    name: String,
}

impl Container {
    fn run(host: &str, image: &str, tag: &str, labels: &[&str]) -> Container {
        let name = format!("lh-disc-{tag}-{}", std::process::id());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut args = vec!["run", "-d", "--name", &name, "--network=host"];
        let label_args: Vec<String> = labels
            .iter()
            .map(|l| l.replace("{port}", &port.to_string()))
            .collect();
        for l in &label_args {
            args.extend(["--label", l]);
        }
        args.extend([image, "-addr", &addr]);
        docker(host, &args);
        Container {
            host: host.to_string(),
            name,
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["-H", &self.host, "rm", "-f", &self.name])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dockerd; scripts/test runs it"]
async fn docker_discovery_follows_labelled_containers() {
    let (host, image) = docker_env();
    // Events, not the re-list, must find the changes: the refresh is far beyond the wait.
    let toml = format!(
        "[[discovery]]\ntype = \"docker\"\nhost = \"{host}\"\nrefresh_interval = \"10m\"\n\
         path = \"/api/monitor/health\"\nlabels = {{ env = \"ci\" }}\n"
    );
    let mut run = start(&toml, &no_env);
    let unlabelled = Container::run(&host, &image, "plain", &[]);
    let portless = Container::run(&host, &image, "portless", &["leakhound.enable=true"]);
    let first = tokio::time::timeout(WAIT, run.rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.block, "docker-1");

    let c = Container::run(
        &host,
        &image,
        "on",
        &["leakhound.enable=true", "leakhound.port={port}"],
    );
    let got = run
        .until("the labelled container", |t| names(t) == [c.name.clone()])
        .await;
    let t = &got[0];
    let port = docker(
        &host,
        &[
            "inspect",
            "-f",
            "{{index .Config.Labels \"leakhound.port\"}}",
            &c.name,
        ],
    );
    assert_eq!(
        url(t),
        format!("http://127.0.0.1:{port}/api/monitor/health")
    );
    assert_eq!(t.labels["env"], "ci");
    let container = t.container.as_ref().unwrap();
    assert_eq!(container.name, c.name);
    assert_eq!(container.docker_host.as_deref(), Some(host.as_str()));

    let named = Container::run(
        &host,
        &image,
        "named",
        &[
            "leakhound.enable=true",
            "leakhound.port={port}",
            "leakhound.name=blue api",
            "leakhound.scheme=https",
        ],
    );
    let got = run
        .until("the named container", |t| {
            names(t) == ["blue api".to_string(), c.name.clone()]
        })
        .await;
    assert!(
        url(&got[0]).starts_with("https://127.0.0.1:"),
        "{}",
        url(&got[0])
    );
    assert_eq!(got[0].container.as_ref().unwrap().name, named.name);

    docker(&host, &["stop", "-t", "1", &c.name]);
    run.until("the stop", |t| names(t) == ["blue api"]).await;
    drop(named); // rm -f: die + destroy
    run.until("the removal", <[TargetConfig]>::is_empty).await;
    drop((unlabelled, portless));
    run.stop().await;
}

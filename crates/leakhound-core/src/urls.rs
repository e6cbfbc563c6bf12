//! One way to turn a target's URL into the URLs of its service's other endpoints. A target URL
//! may be the service's base (`http://host:3000`, `http://host/svc/`) or one endpoint of it (the
//! guide's `/api/monitor/health`, `/debug/vars`, `/metrics`, a `/debug/pprof/…` profile), under a
//! path prefix or not; evidence capture, the dump task, `watch` and `analyze` all find the pprof
//! endpoints through [`pprof_url`], so a service behind `/svc` is dumped at `/svc/debug/pprof/…`.

use crate::config::TargetConfig;
use url::Url;

/// Endpoints a target URL may name, removed to find the service's base path.
const ENDPOINTS: [&str; 3] = ["/api/monitor/health", "/debug/vars", "/metrics"];

/// The service's base URL: `url` without its fragment and without the endpoint its path names
/// (everything from `/debug/pprof` on, or a known endpoint at its end); the query is kept (a
/// token in it authenticates the other endpoints too).
pub fn service_base(url: &Url) -> Url {
    let mut u = url.clone();
    u.set_fragment(None);
    let path = u.path().trim_end_matches('/').to_string();
    let base = match path.find("/debug/pprof") {
        Some(i) => &path[..i],
        None => ENDPOINTS
            .iter()
            .find_map(|e| path.strip_suffix(e))
            .unwrap_or(&path),
    };
    let base = if base.is_empty() { "/" } else { base };
    u.set_path(base);
    u
}

/// `path_and_query` (e.g. `/debug/pprof/goroutine?debug=1`) under the service base of `url`.
/// The query of `url` is kept except for keys `path_and_query` sets (its `debug` wins).
pub fn pprof_url(url: &Url, path_and_query: &str) -> Url {
    let mut u = service_base(url);
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let joined = format!(
        "{}/{}",
        u.path().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    u.set_path(&joined);
    if let Some(q) = query {
        let set: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let kept: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| !set.iter().any(|(s, _)| s == k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        u.query_pairs_mut()
            .clear()
            .extend_pairs(kept)
            .extend_pairs(set);
    }
    if u.query() == Some("") {
        u.set_query(None);
    }
    u
}

impl TargetConfig {
    /// The target's pprof endpoint `path_and_query` ([`pprof_url`]); `None` for a target
    /// without a URL (a local process).
    pub fn pprof_url(&self, path_and_query: &str) -> Option<Url> {
        self.url.as_ref().map(|u| pprof_url(u, path_and_query))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(url: &str, path: &str) -> String {
        pprof_url(&Url::parse(url).unwrap(), path).to_string()
    }

    #[test]
    fn a_target_under_a_path_prefix_is_dumped_under_that_prefix() {
        let g = "/debug/pprof/goroutine?debug=1";
        for url in [
            "http://h:3000/svc",
            "http://h:3000/svc/",
            "http://h:3000/svc/api/monitor/health",
            "http://h:3000/svc/debug/vars",
            "http://h:3000/svc/metrics",
            "http://h:3000/svc/debug/pprof/goroutine?debug=2",
            "http://h:3000/svc/debug/pprof/",
        ] {
            assert_eq!(
                at(url, g),
                "http://h:3000/svc/debug/pprof/goroutine?debug=1",
                "{url}"
            );
        }
        assert_eq!(
            at("http://h:3000/svc/metrics", "/debug/pprof/heap"),
            "http://h:3000/svc/debug/pprof/heap"
        );
    }

    #[test]
    fn a_base_url_and_its_endpoints_share_one_pprof_url() {
        for url in [
            "http://h:3000",
            "http://h:3000/",
            "http://h:3000/api/monitor/health",
            "http://h:3000/metrics#x",
        ] {
            assert_eq!(
                at(url, "/debug/pprof/goroutine?debug=2"),
                "http://h:3000/debug/pprof/goroutine?debug=2",
                "{url}"
            );
        }
    }

    #[test]
    fn a_query_token_travels_and_debug_is_replaced() {
        assert_eq!(
            at(
                "http://h/svc/api/monitor/health?token=s3&debug=9",
                "/debug/pprof/goroutine?debug=1"
            ),
            "http://h/svc/debug/pprof/goroutine?token=s3&debug=1"
        );
        assert_eq!(
            service_base(&Url::parse("http://h/a/b/metrics?x=1").unwrap()).to_string(),
            "http://h/a/b?x=1"
        );
    }
}

//! The web dashboard: one HTML page (`/` for the overview, `/targets/{name}` for a target) and
//! its assets, built into the binary from `assets/` — plain HTML, vanilla JavaScript and CSS,
//! with uPlot (vendored from npm, `assets/vendor/README.md`) for the charts. Nothing is fetched
//! from anywhere else at run time.
//!
//! The pages hold no data: the script reads it from the JSON API and `/api/events` with the
//! `[web]` token (typed once, kept in the tab's `sessionStorage`, sent as
//! `Authorization: Bearer …`). So the pages themselves pass only the allowlist, not the token
//! check — a browser cannot send a header with a page load. Every value from the API is
//! rendered with `textContent`, never parsed as HTML, and a Content-Security-Policy allows
//! scripts from this agent only.

use crate::AppState;
use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const INDEX: &str = include_str!("../assets/index.html");

/// `(path under /assets/, content type, body)` of every asset.
const ASSETS: [(&str, &str, &[u8]); 5] = [
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/app.css"),
    ),
    (
        "vendor/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/vendor/uPlot.iife.min.js"),
    ),
    (
        "vendor/uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/vendor/uPlot.min.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../assets/favicon.svg"),
    ),
];

/// Scripts and styles from this agent only; no frames, no plugins, no form posts elsewhere.
/// (uPlot positions its elements with inline styles, hence `style-src 'unsafe-inline'`.)
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/targets/{name}", get(target_page))
        .route("/assets/{*file}", get(asset))
}

fn with_headers(content_type: &'static str, body: &'static [u8]) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Assets change with the binary; a browser revalidates instead of keeping an old script.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}

async fn page() -> Response {
    with_headers("text/html; charset=utf-8", INDEX.as_bytes())
}

/// The same page: the script reads the target's name from the address.
async fn target_page(Path(_name): Path<String>) -> Response {
    page().await
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => with_headers(content_type, body),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({
                "error": format!("no asset named '{file}'; the dashboard is at /")
            })),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_file_is_served() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        let mut on_disk = Vec::new();
        for sub in ["", "vendor/"] {
            for entry in std::fs::read_dir(dir.join(sub)).unwrap_or_else(|e| panic!("{e}")) {
                let entry = entry.unwrap_or_else(|e| panic!("{e}"));
                let name = entry.file_name().to_string_lossy().into_owned();
                let servable = [".js", ".css", ".svg"].iter().any(|x| name.ends_with(x));
                if entry.path().is_file() && servable {
                    on_disk.push(format!("{sub}{name}"));
                }
            }
        }
        on_disk.sort();
        let mut served: Vec<String> = ASSETS.iter().map(|(n, _, _)| n.to_string()).collect();
        served.sort();
        assert_eq!(on_disk, served);
    }
}

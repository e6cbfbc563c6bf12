//! The `[web]` checks every request passes: the client address against `allow` (403), then the
//! bearer token (401). The token is compared in constant time and never echoed.

use crate::{AppError, AppState};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

/// The allowlist check alone (the dashboard's pages, which hold no data).
pub(crate) async fn allowlist(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !allowed(&state, &request) {
        return AppError::Forbidden.into_response();
    }
    next.run(request).await
}

fn allowed(state: &AppState, request: &Request) -> bool {
    let web = &state.0.web;
    if web.allow.is_empty() {
        return true;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    peer.is_some_and(|ip| web.allows(ip))
}

pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let web = &state.0.web;
    if !allowed(&state, &request) {
        return AppError::Forbidden.into_response();
    }
    if let Some(token) = &web.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer);
        if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
            return AppError::Unauthorized.into_response();
        }
    }
    next.run(request).await
}

/// The credentials of an `Authorization: Bearer TOKEN` header. The scheme is matched without
/// regard to case (RFC 7235 §2.1: `bearer`, `BEARER` are the same scheme).
fn bearer(value: &str) -> Option<&str> {
    let value = value.trim_start();
    let (scheme, rest) = value.split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

/// Constant-time comparison (for equal lengths; the length itself is not secret enough to hide).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("BEARER  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("Bearerabc"), None);
    }
}

//! The HTTP error type: each variant is a status code and a JSON body `{"error": "…"}` that
//! tells the client the fix. Internal details are logged, never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("this agent needs a token: send 'Authorization: Bearer TOKEN' with the [web] token")]
    Unauthorized,
    #[error("your address is not in the agent's [web] allow list")]
    Forbidden,
    /// 403 with the reason and the fix.
    #[error("{0}")]
    ForbiddenBecause(String),
    #[error("{0}")]
    Unavailable(String),
    /// The request is fine but what it names cannot be used (a dump whose profile does not
    /// parse): 422, since asking again gives the same answer.
    #[error("{0}")]
    Unprocessable(String),
    /// Too many heavy requests at once: 503 with `Retry-After`.
    #[error("{0}")]
    Busy(String),
    /// The detail goes to the agent's log only.
    #[error("internal error; the agent's log has the details")]
    Internal(String),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden | AppError::ForbiddenBecause(_) => StatusCode::FORBIDDEN,
            AppError::Unavailable(_) | AppError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(detail) = &self {
            tracing::error!("web API: {detail}");
        }
        let status = self.status();
        let mut response = (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response();
        if matches!(self, AppError::Busy(_)) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"leakhound\""),
            );
        }
        response
    }
}

/// Why the HTTP server could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot listen on {addr}: {detail}. Set [web] listen to a free address (e.g. \"127.0.0.1:9467\"), or enabled = false")]
    Bind { addr: String, detail: String },
    #[error("[web] listen = \"{addr}\" is reachable from other machines, but there is no [web] token: set token = \"${{LEAKHOUND_WEB_TOKEN}}\", listen on 127.0.0.1, or pass --insecure-public to serve it without one")]
    PublicWithoutToken { addr: String },
}

/// axum's `Query`, with its rejection (a malformed query string answers `text/plain` there) as
/// the documented JSON error: 400 `{"error": "…"}` naming the parameter and the fix.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Query<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Query<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => Err(AppError::BadRequest(format!(
                "{}; docs/api.md lists each route's parameters",
                e.body_text()
            ))),
        }
    }
}

/// axum's `Path`, with its rejection (e.g. a segment that is not valid percent-encoded UTF-8)
/// as the documented JSON error.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Path<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(e) => Err(AppError::BadRequest(format!(
                "{}; percent-encode each path segment (encodeURIComponent)",
                e.body_text()
            ))),
        }
    }
}

//! `POST /-/reload`: re-read the agent's config file, as `SIGHUP` does. Only with a `[web]
//! token` (a reload changes what the agent watches and whom it pages): without one the route
//! answers 403 and says how to enable it. A config with mistakes is refused (400, the mistakes
//! listed) and the running one kept.

use crate::{AppError, AppState};
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What reloads the agent: re-reads the config file and applies it; `Ok` is the report,
/// `Err` why nothing changed. `leakhound run` hands one to the server.
pub type ReloadHook =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<String, String>> + Send>> + Send + Sync>;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/-/reload", post(reload))
}

async fn reload(State(state): State<AppState>) -> Result<Json<serde_json::Value>, AppError> {
    if state.0.web.token.is_none() {
        return Err(AppError::ForbiddenBecause(
            "reloading over HTTP needs a [web] token; set one, or send the agent SIGHUP".into(),
        ));
    }
    let Some(hook) = state.0.reload.clone() else {
        return Err(AppError::Unavailable(
            "this agent cannot reload: it was started without a config file (--config)".into(),
        ));
    };
    match hook().await {
        Ok(report) => Ok(Json(
            serde_json::json!({ "status": "reloaded", "report": report }),
        )),
        Err(why) => Err(AppError::BadRequest(why)),
    }
}

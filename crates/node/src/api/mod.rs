//! The HTTP API.
//!
//! JSON over HTTP/1.1 (axum). Every error is `{"error": {"code", "message"}}` with a stable
//! code: transaction refusals use the chain's [`ErrorCode`](machina_types::ErrorCode) names,
//! other failures the codes in [`error::codes`]. `/openapi.json` describes every route.
//! `/` serves the explorer, a single page that reads the same API.

pub mod error;
mod handlers;
pub mod limits;
mod market;
pub mod metrics;
pub mod openapi;
pub mod proofs;
mod readings;

use crate::{application::Databases, chain::ChainInfo, engine::Marshal};
use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{get, post},
};
use std::sync::Arc;

/// Largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// Chain knowledge and the mempool.
    pub chain: Arc<ChainInfo>,
    /// Finalized blocks and certificates.
    pub marshal: Marshal,
    /// The finalized state.
    pub db: Databases<commonware_runtime::tokio::Context>,
    /// Renders the node's Prometheus metrics.
    pub metrics: Arc<dyn Fn() -> String + Send + Sync>,
    /// The gateway (readings in and out).
    pub gateway: Arc<crate::gateway::Gateway>,
    /// Every subsystem's state.
    pub health: Arc<crate::health::Health>,
    /// Requests and event streams in flight.
    pub limits: limits::RequestLimits,
    /// Requests by route and status.
    pub requests: metrics::ApiMetrics,
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(handlers::explorer))
        .route("/health", get(handlers::health))
        .route("/metrics", get(handlers::metrics))
        .route("/openapi.json", get(handlers::openapi))
        .route("/v1/status", get(handlers::status))
        .route("/v1/txs", post(handlers::submit))
        .route("/v1/txs/{hash}", get(handlers::tx_status))
        .route("/v1/receipts/{hash}", get(handlers::receipt))
        .route("/v1/accounts/{address}", get(handlers::account))
        .route("/v1/accounts/{address}/assets/{asset}", get(handlers::asset_balance))
        .route("/v1/assets/{asset}", get(handlers::asset))
        .route("/v1/nfts/{id}", get(handlers::nft))
        .route("/v1/blocks/latest", get(handlers::latest_block))
        .route("/v1/blocks/{height}", get(handlers::block))
        .route("/v1/proofs/accounts/{address}", get(handlers::account_proof))
        .route("/v1/proofs/keys/{key}", get(handlers::key_proof))
        .route("/v1/events", get(handlers::events))
        .route("/v1/readings", post(readings::submit))
        .route("/v1/devices/{id}", get(readings::device))
        .route("/v1/devices/{id}/roles/{account}/{role}", get(readings::role))
        .route("/v1/devices/{id}/streams/{stream}", get(readings::stream))
        .route("/v1/devices/{id}/streams/{stream}/readings", get(readings::readings))
        .route(
            "/v1/devices/{id}/streams/{stream}/readings/{seq}/proof",
            get(readings::reading_proof),
        )
        .route("/v1/makers/{address}", get(readings::maker))
        .route("/v1/feeds/{id}", get(readings::feed))
        .route("/v1/proofs/feeds/{id}", get(readings::feed_proof))
        .route("/v1/market", get(market::overview))
        .route("/v1/market/batches/{batch}/solutions", get(market::solutions))
        .route("/v1/markets/{id}", get(market::book))
        .route("/v1/offers/{id}", get(market::offer))
        .route("/v1/intents/{id}", get(market::intent))
        .route("/v1/leases/{id}", get(market::lease))
        .route("/v1/accounts/{address}/leases", get(market::account_leases))
        .route("/v1/accounts/{address}/stake", get(market::stake))
        .fallback(handlers::no_route)
        .layer(axum::middleware::from_fn_with_state(state.requests.clone(), metrics::track))
        .layer(axum::middleware::from_fn_with_state(state.limits.clone(), limits::limit))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

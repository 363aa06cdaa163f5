//! The HTTP API.
//!
//! JSON over HTTP/1.1 (axum). Every error is `{"error": {"code", "message"}}` with a stable
//! code: transaction refusals use the chain's [`ErrorCode`](machina_types::ErrorCode) names,
//! other failures the codes in [`error::codes`]. `/openapi.json` describes every route: the
//! document [`machina_api::openapi`] generates from the route types the handlers answer.
//! `/` serves the explorer, a single page that reads the same API (see [`explorer`]).

mod channels;
pub mod error;
mod explorer;
mod handlers;
pub mod limits;
mod market;
pub mod metrics;
mod ownership;
mod products;
pub mod proofs;
mod readings;
mod rewards;
mod wallets;

use crate::{application::Databases, chain::ChainInfo, engine::Marshal};
use axum::{
    Router,
    extract::DefaultBodyLimit,
    handler::Handler,
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
    /// The explorer's index of finalized blocks.
    pub index: Arc<crate::explorer::Index>,
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    routes()
        .router
        .fallback(handlers::no_route)
        .layer(axum::middleware::from_fn_with_state(state.requests.clone(), metrics::track))
        .layer(axum::middleware::from_fn_with_state(state.limits.clone(), limits::limit))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Every route with its handler; [`Routes::registered`] lists them for the test that holds
/// the OpenAPI document to them.
fn routes() -> Routes {
    Routes::default()
        .get("/", explorer::page)
        .get("/explorer/{file}", explorer::asset)
        .get("/explorer/vendor/{file}", explorer::vendor)
        .get("/v1/explorer", explorer::overview)
        .get("/v1/explorer/{kind}", explorer::list)
        .get("/v1/explorer/{kind}/{id}", explorer::history)
        .get("/v1/search", explorer::search)
        .get("/v1/genesis", explorer::genesis)
        .get("/v1/blocks", explorer::blocks)
        .get("/v1/markets/{id}/clearings", explorer::clearings)
        .get("/v1/feeds/{id}/values", explorer::feed_values)
        .get("/health", handlers::health)
        .get("/metrics", handlers::metrics)
        .get("/openapi.json", handlers::openapi)
        .get("/v1/status", handlers::status)
        .post("/v1/txs", handlers::submit)
        .get("/v1/txs/{hash}", handlers::tx_status)
        .get("/v1/receipts/{hash}", handlers::receipt)
        .get("/v1/accounts/{address}", handlers::account)
        .get("/v1/accounts/{address}/assets/{asset}", handlers::asset_balance)
        .get("/v1/assets/{asset}", handlers::asset)
        .get("/v1/nfts/{id}", handlers::nft)
        .get("/v1/blocks/latest", handlers::latest_block)
        .get("/v1/blocks/{height}", handlers::block)
        .get("/v1/proofs/accounts/{address}", handlers::account_proof)
        .get("/v1/proofs/keys/{key}", handlers::key_proof)
        .get("/v1/events", handlers::events)
        .post("/v1/readings", readings::submit)
        .get("/v1/devices/{id}", readings::device)
        .get("/v1/devices/{id}/roles/{account}/{role}", readings::role)
        .get("/v1/devices/{id}/streams/{stream}", readings::stream)
        .get("/v1/devices/{id}/streams/{stream}/readings", readings::readings)
        .get("/v1/devices/{id}/streams/{stream}/readings/{seq}/proof", readings::reading_proof)
        .get("/v1/makers/{address}", readings::maker)
        .get("/v1/feeds/{id}", readings::feed)
        .get("/v1/proofs/feeds/{id}", readings::feed_proof)
        .get("/v1/market", market::overview)
        .get("/v1/market/batches/{batch}/solutions", market::solutions)
        .get("/v1/markets/{id}", market::book)
        .get("/v1/offers/{id}", market::offer)
        .get("/v1/intents/{id}", market::intent)
        .get("/v1/leases/{id}", market::lease)
        .get("/v1/proofs/leases/{id}", market::lease_proof)
        .get("/v1/accounts/{address}/leases", market::account_leases)
        .get("/v1/accounts/{address}/stake", market::stake)
        .get("/v1/machines/{id}", ownership::machine)
        .get("/v1/machines/{id}/holders/{address}", ownership::holder)
        .get("/v1/devices/{id}/machine", ownership::device_machine)
        .get("/v1/offerings/{id}", ownership::offering)
        .get("/v1/offerings/{id}/purchases/{address}", ownership::purchase)
        .get("/v1/proposals/{id}", ownership::proposal)
        .get("/v1/proposals/{id}/ballots/{address}", ownership::ballot)
        .get("/v1/rights/{nft}", ownership::right)
        .get("/v1/devices/{id}/rights", ownership::device_rights)
        .get("/v1/devices/{id}/streams/{stream}/data-rights", ownership::data_rights)
        .get("/v1/reward-pools/{id}", rewards::pool)
        .get("/v1/reward-pools/{id}/epochs/{epoch}", rewards::epoch_total)
        .get("/v1/reward-pools/{id}/devices/{device}", rewards::enrollment)
        .get("/v1/reward-pools/{id}/epochs/{epoch}/devices/{device}", rewards::work)
        .get("/v1/proofs/reward-pools/{id}", rewards::pool_proof)
        .get("/v1/proofs/reward-pools/{id}/epochs/{epoch}", rewards::epoch_proof)
        .get("/v1/proofs/reward-pools/{id}/epochs/{epoch}/devices/{device}", rewards::work_proof)
        .get("/v1/channels/{id}", channels::channel)
        .get("/v1/proofs/channels/{id}", channels::channel_proof)
        .get("/v1/products/{id}", products::product)
        .get("/v1/subscriptions/{id}", products::subscription)
        .get("/v1/subscriptions/{id}/keys/{stream}/{epoch}", products::grant)
        .post("/v1/subscriptions/{id}/vouchers", products::post_voucher)
        .get("/v1/subscriptions/{id}/voucher", products::voucher)
        .get("/v1/devices/{id}/streams/{stream}/keys", products::stream_keys)
        .get("/v1/proofs/subscriptions/{id}", products::subscription_proof)
        .get("/v1/accounts/{address}/policy", wallets::policy)
        .get("/v1/accounts/{address}/session-keys/{key}", wallets::session)
        .get("/v1/multisigs/{address}", wallets::multisig)
        .get("/v1/multisigs/{address}/proposals/{id}", wallets::proposal)
}

/// A router under construction that remembers what it routes.
#[derive(Default)]
struct Routes {
    router: Router<ApiState>,
    /// `(method, path)` of every route.
    registered: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn get<H: Handler<T, ApiState>, T: 'static>(mut self, path: &'static str, handler: H) -> Self {
        self.router = self.router.route(path, get(handler));
        self.registered.push(("get", path));
        self
    }

    fn post<H: Handler<T, ApiState>, T: 'static>(mut self, path: &'static str, handler: H) -> Self {
        self.router = self.router.route(path, post(handler));
        self.registered.push(("post", path));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_openapi_document_with_its_method_and_nothing_else_is() {
        let document = machina_api::openapi::document();
        let paths = document["paths"].as_object().expect("paths");
        let registered = routes().registered;
        for (method, path) in &registered {
            assert!(
                paths.get(*path).is_some_and(|item| item[method].is_object()),
                "{method} {path}"
            );
        }
        let documented: usize =
            paths.values().map(|item| item.as_object().map_or(0, |o| o.len())).sum();
        assert_eq!(documented, registered.len(), "the document has operations no route serves");
    }
}

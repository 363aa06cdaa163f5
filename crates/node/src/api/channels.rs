//! The channels module: a payment channel or stream, and its proof. Read from the latest
//! finalized state.

use super::{ApiState, error::ApiError, market::record, rewards::prove};
use axum::{
    Json,
    extract::{Path, State},
};
use machina_app::{
    describe,
    modules::channels::{keys, state::Channel},
};
use machina_store::ProofBundle;
use machina_types::channels::ChannelId;

type ApiResult<T> = Result<T, ApiError>;

fn channel_id(text: &str) -> ApiResult<ChannelId> {
    text.parse().map_err(|_| ApiError::invalid(format!("invalid channel id: {text:?}")))
}

/// `GET /v1/channels/{id}`: a channel or stream with its parties, deposit, what it paid and
/// refunded, its mode and status.
pub(super) async fn channel(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Channel>> {
    let id = channel_id(&id)?;
    record(&s, keys::channel(id), "payment channel", &id.to_string()).await
}

/// `GET /v1/proofs/channels/{id}`: the channel's proof (`channels/channel/<id>`).
pub(super) async fn channel_proof(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ProofBundle>> {
    prove(&s, describe::channel(channel_id(&id)?)).await
}

//! The products module: data products, subscriptions, stream key epochs and wrapped keys
//! (read from the latest finalized state), and the gateway's side of by-reading payments:
//! vouchers posted by subscribers and the latest one for the seller.

use super::{ApiState, error::ApiError, market::record, rewards::prove};
use crate::gateway::deliver::VoucherError;
use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
};
use machina_api::PaymentState;
use machina_app::{
    describe,
    modules::products::{
        keys,
        state::{Product, StreamKeys, Subscription},
    },
};
use machina_store::ProofBundle;
use machina_types::{
    DeviceId, ErrorCode,
    channels::SignedVoucher,
    products::{ProductId, SubscriptionId},
    reading::StreamId,
    sealed::{KeyEpoch, WrappedKey},
};

type ApiResult<T> = Result<T, ApiError>;

fn parse<T: std::str::FromStr>(what: &str, text: &str) -> ApiResult<T> {
    text.parse().map_err(|_| ApiError::invalid(format!("invalid {what}: {text:?}")))
}

fn subscription_id(text: &str) -> ApiResult<SubscriptionId> {
    parse("subscription id", text)
}

/// `GET /v1/products/{id}`: a data product.
pub(super) async fn product(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Product>> {
    let id: ProductId = parse("product id", &id)?;
    record(&s, keys::product(id), "data product", &id.to_string()).await
}

/// `GET /v1/subscriptions/{id}`: a subscription (the consent: who may read what, when).
pub(super) async fn subscription(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Subscription>> {
    let id = subscription_id(&id)?;
    record(&s, keys::subscription(id), "subscription", &id.to_string()).await
}

/// `GET /v1/subscriptions/{id}/keys/{stream}/{epoch}`: a stream's epoch key wrapped for the
/// subscription.
pub(super) async fn grant(
    State(s): State<ApiState>,
    Path((id, stream, epoch)): Path<(String, String, String)>,
) -> ApiResult<Json<WrappedKey>> {
    let id = subscription_id(&id)?;
    let stream: StreamId = parse("stream", &stream)?;
    let epoch: KeyEpoch = parse("epoch", &epoch)?;
    let what = format!("key of stream {stream}, epoch {epoch}, for subscription");
    record(&s, keys::grant(id, stream, epoch), &what, &id.to_string()).await
}

/// `GET /v1/devices/{id}/streams/{stream}/keys`: the stream's current key epoch (the device
/// seals with its key) and the listed product that has it.
pub(super) async fn stream_keys(
    State(s): State<ApiState>,
    Path((id, stream)): Path<(String, String)>,
) -> ApiResult<Json<StreamKeys>> {
    let device: DeviceId = parse("device id", &id)?;
    let stream: StreamId = parse("stream", &stream)?;
    let snapshot = super::proofs::Snapshot::take(&s).await?;
    Ok(Json(snapshot.get(&keys::stream(&device, stream)).await?.unwrap_or_default()))
}

/// `GET /v1/proofs/subscriptions/{id}`: the subscription's proof
/// (`products/subscription/<id>`).
pub(super) async fn subscription_proof(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ProofBundle>> {
    prove(&s, describe::subscription(subscription_id(&id)?)).await
}

/// `POST /v1/subscriptions/{id}/vouchers`: a by-reading subscriber pays for the readings it
/// received; kept durably before the answer.
pub(super) async fn post_voucher(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    body: Result<Json<SignedVoucher>, JsonRejection>,
) -> ApiResult<Json<PaymentState>> {
    let id = subscription_id(&id)?;
    let Json(voucher) = body?;
    match s.gateway.delivery.accept(id, voucher).await {
        Ok(state) => Ok(Json(state)),
        Err(VoucherError::Refused(ErrorCode::UnknownSubscription)) => {
            Err(ApiError::not_found(format!("no subscription {id}")))
        }
        Err(VoucherError::Refused(code)) => Err(code.into()),
        Err(VoucherError::Unavailable(message)) => Err(ApiError::unavailable(message)),
    }
}

/// `GET /v1/subscriptions/{id}/voucher`: the latest voucher the gateway holds for a
/// by-reading subscription, and the readings it delivered.
pub(super) async fn voucher(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<PaymentState>> {
    Ok(Json(s.gateway.delivery.payment(subscription_id(&id)?)))
}

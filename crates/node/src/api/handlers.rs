//! Route handlers.

use super::proofs::Snapshot;
use super::{ApiState, error::ApiError};
use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
    http::{StatusCode, header},
    response::{
        IntoResponse,
        sse::{Event, KeepAlive, Sse},
    },
};
use commonware_codec::{Decode, Encode};
use commonware_consensus::{marshal::Identifier, types::Height};
use machina_api::{
    AccountInfo, ApiErrorBody, AssetBalance, BlockEvent, BlockView, GatewayStatus, Health, NftInfo,
    Status, SubmitTx, Submitted, TxState, TxStatus, chain::HealthStatus,
};
use machina_app::{
    describe,
    exec::keys as chain_keys,
    modules::bank::{
        keys as bank_keys,
        state::{Account, AssetInfo, Nft},
    },
    state::{Key, decode_value},
};
use machina_store::ProofBundle;
use machina_types::{
    Address, BlockEvents, ErrorCode, Hash, Outcome, Receipt, SignedTransaction,
    codec::{hex, parse_hex},
};
use serde_json::Value;
use std::convert::Infallible;

type ApiResult<T> = Result<T, ApiError>;

pub(super) fn parse<T: std::str::FromStr>(what: &str, text: &str) -> ApiResult<T> {
    text.parse().map_err(|_| ApiError::invalid(format!("invalid {what}: {text:?}")))
}

pub(super) async fn read_raw(s: &ApiState, key: &Key) -> ApiResult<Option<Vec<u8>>> {
    let guard = s.db.read().await;
    let value = guard
        .get(&key.digest())
        .await
        .map_err(|e| ApiError::unavailable(format!("state read failed: {e}")))?;
    Ok(value.map(|v| v.0))
}

async fn read<T: Decode<Cfg = ()>>(s: &ApiState, key: &Key) -> ApiResult<Option<T>> {
    Ok(read_raw(s, key).await?.map(|bytes| decode_value(key, &bytes)))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `GET /health`: every subsystem's state; 503 while any is down.
pub(super) async fn health(State(s): State<ApiState>) -> (StatusCode, Json<Health>) {
    let (up, subsystems) = s.health.report();
    let (status, health) = match up {
        true => (StatusCode::OK, HealthStatus::Ok),
        false => (StatusCode::SERVICE_UNAVAILABLE, HealthStatus::Degraded),
    };
    let subsystems = subsystems.into_iter().map(|(name, sub)| (name.to_string(), sub)).collect();
    (status, Json(Health { status: health, height: s.chain.height(), subsystems }))
}

pub(super) async fn metrics(State(s): State<ApiState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], (s.metrics)())
}

/// `GET /openapi.json`: the document machina-api generates from the route types, built once.
pub(super) async fn openapi() -> Json<&'static Value> {
    static DOCUMENT: std::sync::LazyLock<Value> =
        std::sync::LazyLock::new(machina_api::openapi::document);
    Json(&DOCUMENT)
}

pub(super) async fn no_route() -> ApiError {
    ApiError::not_found("no such route; see /openapi.json")
}

pub(super) async fn status(State(s): State<ApiState>) -> Json<Status> {
    let genesis = s.chain.genesis();
    let tip = s.chain.tip();
    Json(Status {
        chain_id: genesis.chain_id.clone(),
        genesis_hash: s.chain.genesis_hash(),
        height: tip.as_ref().map_or(0, |t| t.height),
        latest_digest: tip.as_ref().map(|t| t.digest),
        latest_timestamp_ms: tip.as_ref().map(|t| t.header.timestamp_ms),
        validators: genesis.validators.clone(),
        mempool_size: s.chain.mempool().len(),
        params: genesis.params.clone(),
        gateway: GatewayStatus {
            account: s.gateway.account,
            mqtt: s.gateway.mqtt.map(|a| a.to_string()),
            mqtt_tls: s.gateway.mqtt_tls.map(|a| a.to_string()),
        },
    })
}

pub(super) async fn submit(
    State(s): State<ApiState>,
    body: Result<Json<SubmitTx>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Submitted>)> {
    let tx = decode_tx(body).inspect_err(|error| {
        if let Some(code) = ErrorCode::from_name(error.code) {
            s.chain.count_refusal(code);
        }
    })?;
    let mut rng = commonware_utils::sys_rng();
    let hash = crate::ingress::admit(&s.chain, &s.db, vec![tx], now_ms(), true, &mut rng)
        .await
        .remove(0)?;
    Ok((StatusCode::ACCEPTED, Json(Submitted { hash })))
}

/// The transaction in a submission body: hex, size-limited before decoding.
fn decode_tx(body: Result<Json<SubmitTx>, JsonRejection>) -> ApiResult<SignedTransaction> {
    let Json(body) = body?;
    let bytes = parse_hex(&body.tx).map_err(|_| ApiError::from(ErrorCode::Malformed))?;
    Ok(SignedTransaction::decode_checked(&bytes)?)
}

pub(super) async fn tx_status(
    State(s): State<ApiState>,
    Path(hash): Path<String>,
) -> ApiResult<Json<TxStatus>> {
    let hash: Hash = parse("transaction hash", &hash)?;
    let error = |code: ErrorCode, call| ApiErrorBody {
        code: code.name().into(),
        message: code.message().into(),
        call,
    };
    if let Some(receipt) = read::<Receipt>(&s, &chain_keys::receipt(&hash)).await? {
        let (status, error) = match receipt.outcome {
            Outcome::Success => (TxState::Finalized, None),
            Outcome::Failed { code, call } => (TxState::Failed, Some(error(code, Some(call)))),
        };
        return Ok(Json(TxStatus { hash, status, error, receipt: Some(receipt) }));
    }
    let (status, error) = match s.chain.mempool().state(&hash) {
        Some(crate::mempool::TxState::Pending) => (TxState::Pending, None),
        Some(crate::mempool::TxState::Dropped(code)) => (TxState::Dropped, Some(error(code, None))),
        None => (TxState::Unknown, None),
    };
    Ok(Json(TxStatus { hash, status, error, receipt: None }))
}

pub(super) async fn receipt(
    State(s): State<ApiState>,
    Path(hash): Path<String>,
) -> ApiResult<Json<Receipt>> {
    let hash: Hash = parse("transaction hash", &hash)?;
    read(&s, &chain_keys::receipt(&hash))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no receipt for {hash}")))
}

pub(super) async fn account(
    State(s): State<ApiState>,
    Path(address): Path<String>,
) -> ApiResult<Json<AccountInfo>> {
    let address: Address = parse("address", &address)?;
    let account: Account = read(&s, &bank_keys::account(&address)).await?.unwrap_or_default();
    let next_nonce = s.chain.mempool().next_nonce(&address, account.nonce);
    Ok(Json(AccountInfo {
        address,
        balance: account.balance,
        nonce: account.nonce,
        next_nonce,
        height: s.chain.height(),
    }))
}

pub(super) async fn asset_balance(
    State(s): State<ApiState>,
    Path((address, asset)): Path<(String, String)>,
) -> ApiResult<Json<AssetBalance>> {
    let address: Address = parse("address", &address)?;
    let asset: u64 = parse("asset id", &asset)?;
    if read::<AssetInfo>(&s, &bank_keys::asset(asset)).await?.is_none() {
        return Err(ApiError::not_found(format!("no asset {asset}")));
    }
    let balance: u64 = read(&s, &bank_keys::asset_balance(asset, &address)).await?.unwrap_or(0);
    Ok(Json(AssetBalance { address, asset, balance }))
}

pub(super) async fn asset(
    State(s): State<ApiState>,
    Path(asset): Path<String>,
) -> ApiResult<Json<AssetInfo>> {
    let asset: u64 = parse("asset id", &asset)?;
    read(&s, &bank_keys::asset(asset))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no asset {asset}")))
}

pub(super) async fn nft(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<NftInfo>> {
    let id: u64 = parse("token id", &id)?;
    let nft: Nft = read(&s, &bank_keys::nft(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no token {id}")))?;
    Ok(Json(NftInfo { id, owner: nft.owner, minter: nft.minter, metadata_hash: nft.metadata_hash }))
}

async fn block_view(s: &ApiState, height: u64) -> ApiResult<BlockView> {
    let block = s
        .marshal
        .get_block(Identifier::Height(Height::new(height)))
        .await
        .ok_or_else(|| ApiError::not_found(format!("no finalized block at height {height}")))?;
    let finalization =
        s.marshal.get_finalization(Height::new(height)).await.map(|f| hex(&f.encode()));
    let key = machina_app::exec::keys::block_events(height);
    let events = Snapshot::take(s).await?.get::<BlockEvents>(&key).await?.unwrap_or_default();
    Ok(BlockView::new(block.inner(), events.0, finalization))
}

pub(super) async fn latest_block(State(s): State<ApiState>) -> ApiResult<Json<BlockView>> {
    let height =
        s.chain.tip().ok_or_else(|| ApiError::unavailable("no block finalized yet"))?.height;
    Ok(Json(block_view(&s, height).await?))
}

pub(super) async fn block(
    State(s): State<ApiState>,
    Path(height): Path<String>,
) -> ApiResult<Json<BlockView>> {
    let height: u64 = parse("height", &height)?;
    Ok(Json(block_view(&s, height).await?))
}

pub(super) async fn account_proof(
    State(s): State<ApiState>,
    Path(address): Path<String>,
) -> ApiResult<Json<ProofBundle>> {
    let address: Address = parse("address", &address)?;
    let key = bank_keys::account(&address);
    Ok(Json(prove(&s, key, Some(describe::account(&address))).await?))
}

pub(super) async fn key_proof(
    State(s): State<ApiState>,
    Path(key): Path<String>,
) -> ApiResult<Json<ProofBundle>> {
    let key: Key = parse("state key", &key)?;
    Ok(Json(prove(&s, key, None).await?))
}

async fn prove(s: &ApiState, key: Key, description: Option<String>) -> ApiResult<ProofBundle> {
    let snapshot = Snapshot::take(s).await?;
    let entry = snapshot.entry(key, description).await?;
    let sealed = snapshot.seal(s).await?;
    Ok(ProofBundle {
        chain_id: s.chain.genesis().chain_id.clone(),
        height: sealed.height,
        entry,
        header: sealed.header,
        finalization: sealed.finalization,
    })
}

pub(super) async fn events(
    State(s): State<ApiState>,
) -> ApiResult<Sse<impl futures::Stream<Item = Result<Event, Infallible>>>> {
    let Ok(slot) = s.limits.event_streams.clone().try_acquire_owned() else {
        return Err(ApiError::unavailable("too many event streams open; try again later"));
    };
    let receiver = s.chain.subscribe();
    // The slot is held as long as the stream is.
    let stream = futures::stream::unfold((receiver, slot), |(mut receiver, slot)| async move {
        loop {
            match receiver.recv().await {
                Ok(block) => {
                    let event = BlockEvent {
                        header: (&block.header).into(),
                        receipts: block.receipts.to_vec(),
                        events: block.events.to_vec(),
                    };
                    let event =
                        Event::default().event("block").json_data(event).expect("serializable");
                    return Some((Ok(event), (receiver, slot)));
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

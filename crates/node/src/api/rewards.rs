//! The rewards module: pools, their epochs' total work, enrollments, devices' work, and the
//! proofs of the keys a payout follows from. Everything is read from the latest finalized
//! state.

use super::{ApiState, error::ApiError, market::record, proofs::Snapshot};
use axum::{
    Json,
    extract::{Path, State},
};
use machina_api::{PoolView, WorkView};
use machina_app::{
    describe,
    modules::rewards::{
        keys,
        state::{DeviceWork, Enrollment, EpochTotal, Pool},
    },
};
use machina_store::ProofBundle;
use machina_types::{
    DeviceId,
    rewards::{Epoch, PoolId},
};

type ApiResult<T> = Result<T, ApiError>;

fn parse<T: std::str::FromStr>(what: &str, text: &str) -> ApiResult<T> {
    text.parse().map_err(|_| ApiError::invalid(format!("invalid {what}: {text:?}")))
}

fn pool_id(text: &str) -> ApiResult<PoolId> {
    parse("pool id", text)
}

fn epoch(text: &str) -> ApiResult<Epoch> {
    parse("epoch", text)
}

fn device(text: &str) -> ApiResult<DeviceId> {
    parse("device id", text)
}

/// `GET /v1/reward-pools/{id}`: a pool, what its escrow still holds and where it stands for
/// the next block.
pub(super) async fn pool(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<PoolView>> {
    let id = pool_id(&id)?;
    let snapshot = Snapshot::take(&s).await?;
    let pool: Pool = snapshot
        .get(&keys::pool(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no reward pool {id}")))?;
    let devices_max = s.chain.genesis().params.rewards.devices_per_pool_max;
    Ok(Json(PoolView::new(pool, snapshot.height(), devices_max)))
}

/// `GET /v1/reward-pools/{id}/epochs/{epoch}`: the work credited to an epoch.
pub(super) async fn epoch_total(
    State(s): State<ApiState>,
    Path((id, e)): Path<(String, String)>,
) -> ApiResult<Json<EpochTotal>> {
    let (id, e) = (pool_id(&id)?, epoch(&e)?);
    let what = format!("work credited to epoch {e} of reward pool");
    record(&s, keys::epoch(id, e), &what, &id.to_string()).await
}

/// `GET /v1/reward-pools/{id}/devices/{device}`: a device's enrollment.
pub(super) async fn enrollment(
    State(s): State<ApiState>,
    Path((id, d)): Path<(String, String)>,
) -> ApiResult<Json<Enrollment>> {
    let (id, d) = (pool_id(&id)?, device(&d)?);
    let what = format!("enrollment of {d} in reward pool");
    record(&s, keys::enrollment(id, &d), &what, &id.to_string()).await
}

/// `GET /v1/reward-pools/{id}/epochs/{epoch}/devices/{device}`: a device's work in an epoch,
/// whether it was paid, and its reward.
pub(super) async fn work(
    State(s): State<ApiState>,
    Path((id, e, d)): Path<(String, String, String)>,
) -> ApiResult<Json<WorkView>> {
    let (id, e, d) = (pool_id(&id)?, epoch(&e)?, device(&d)?);
    let snapshot = Snapshot::take(&s).await?;
    let work: DeviceWork = snapshot.get(&keys::work(id, e, &d)).await?.ok_or_else(|| {
        ApiError::not_found(format!("no work of {d} credited to epoch {e} of reward pool {id}"))
    })?;
    let broken = |what: &str| ApiError::unavailable(format!("credited work without {what}"));
    let pool: Pool = snapshot.get(&keys::pool(id)).await?.ok_or_else(|| broken("a pool"))?;
    let total: EpochTotal =
        snapshot.get(&keys::epoch(id, e)).await?.ok_or_else(|| broken("an epoch total"))?;
    let reward = match work.work <= total.total_work {
        true => pool.reward(work.work, total.total_work),
        false => return Err(broken("its share of the epoch's total")),
    };
    Ok(Json(WorkView { work, total_work: total.total_work, reward }))
}

/// A proof bundle of the key `description` names, at the latest finalized block.
pub(super) async fn prove(s: &ApiState, description: String) -> ApiResult<Json<ProofBundle>> {
    let snapshot = Snapshot::take(s).await?;
    let entry = snapshot.described(description).await?;
    let sealed = snapshot.seal(s).await?;
    Ok(Json(ProofBundle {
        chain_id: s.chain.genesis().chain_id.clone(),
        height: sealed.height,
        entry,
        header: sealed.header,
        finalization: sealed.finalization,
    }))
}

/// `GET /v1/proofs/reward-pools/{id}`: the pool's proof (`rewards/pool/<id>`).
pub(super) async fn pool_proof(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ProofBundle>> {
    prove(&s, describe::reward_pool(pool_id(&id)?)).await
}

/// `GET /v1/proofs/reward-pools/{id}/epochs/{epoch}`: the epoch total's proof
/// (`rewards/epoch/<pool>/<epoch>`).
pub(super) async fn epoch_proof(
    State(s): State<ApiState>,
    Path((id, e)): Path<(String, String)>,
) -> ApiResult<Json<ProofBundle>> {
    prove(&s, describe::reward_epoch(pool_id(&id)?, epoch(&e)?)).await
}

/// `GET /v1/proofs/reward-pools/{id}/epochs/{epoch}/devices/{device}`: the device's work's
/// proof (`rewards/work/<pool>/<epoch>/<device>`).
pub(super) async fn work_proof(
    State(s): State<ApiState>,
    Path((id, e, d)): Path<(String, String, String)>,
) -> ApiResult<Json<ProofBundle>> {
    prove(&s, describe::reward_work(pool_id(&id)?, epoch(&e)?, &device(&d)?)).await
}

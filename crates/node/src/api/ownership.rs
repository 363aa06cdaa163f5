//! The ownership module: machines and their holders, offerings and purchases, proposals and
//! ballots, the machine of a device. Everything is read from the latest finalized state.

use super::{ApiState, error::ApiError, market::record, proofs::Snapshot};
use axum::{
    Json,
    extract::{Path, State},
};
use machina_api::{DeviceMachine, HolderView, MachineView, ProposalView};
use machina_app::modules::{
    bank::{keys as bank_keys, state::Account},
    ownership::{
        keys,
        state::{Ballot, Machine, Offering, Position, Proposal, Purchase},
    },
};
use machina_types::{
    Address, Amount, DeviceId,
    ownership::{MachineId, revenue::Holding},
};

type ApiResult<T> = Result<T, ApiError>;

fn parse<T: std::str::FromStr>(what: &str, text: &str) -> ApiResult<T> {
    text.parse().map_err(|_| ApiError::invalid(format!("invalid {what}: {text:?}")))
}

async fn machine_at(snapshot: &Snapshot<'_>, id: MachineId) -> ApiResult<Machine> {
    snapshot
        .get(&keys::machine(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no machine {id}")))
}

/// `account`'s native balance.
async fn balance(snapshot: &Snapshot<'_>, account: &Address) -> ApiResult<Amount> {
    let account: Option<Account> = snapshot.get(&bank_keys::account(account)).await?;
    Ok(account.map_or(0, |a| a.balance))
}

/// The shares of `m` that `holder` holds.
async fn shares(snapshot: &Snapshot<'_>, m: &Machine, holder: &Address) -> ApiResult<u64> {
    Ok(snapshot.get(&bank_keys::asset_balance(m.shares, holder)).await?.unwrap_or(0))
}

/// `GET /v1/machines/{id}`: a machine, its treasury's balance and where its shares are.
pub(super) async fn machine(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<MachineView>> {
    let id: MachineId = parse("machine id", &id)?;
    let snapshot = Snapshot::take(&s).await?;
    let machine = machine_at(&snapshot, id).await?;
    let treasury_balance = balance(&snapshot, &machine.treasury).await?;
    let unsold = shares(&snapshot, &machine, &machine.treasury).await?;
    let circulating = machine.supply.saturating_sub(unsold);
    Ok(Json(MachineView { machine, treasury_balance, unsold, circulating }))
}

/// `GET /v1/machines/{id}/holders/{address}`: an account's shares of a machine and what a
/// claim would pay it now.
pub(super) async fn holder(
    State(s): State<ApiState>,
    Path((id, address)): Path<(String, String)>,
) -> ApiResult<Json<HolderView>> {
    let id: MachineId = parse("machine id", &id)?;
    let holder: Address = parse("address", &address)?;
    let snapshot = Snapshot::take(&s).await?;
    let m = machine_at(&snapshot, id).await?;
    let shares = shares(&snapshot, &m, &holder).await?;
    // What the treasury's own shares earn goes to its reserve, never to a claim.
    let claimable = match holder == m.treasury {
        true => 0,
        false => {
            let position: Option<Position> = snapshot.get(&keys::position(id, &holder)).await?;
            let holding = position.map_or_else(|| Holding::starting(&m.index), |p| p.revenue);
            let treasury_balance = balance(&snapshot, &m.treasury).await?;
            m.claimable(treasury_balance, holding, shares)
        }
    };
    Ok(Json(HolderView { machine: id, holder, shares, claimable }))
}

/// `GET /v1/devices/{id}/machine`: the machine a device was tokenized into, if any.
pub(super) async fn device_machine(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<DeviceMachine>> {
    let device: DeviceId = parse("device id", &id)?;
    let snapshot = Snapshot::take(&s).await?;
    let machine: Option<MachineId> = snapshot.get(&keys::machine_of_device(&device)).await?;
    Ok(Json(DeviceMachine { device, machine }))
}

/// `GET /v1/offerings/{id}`.
pub(super) async fn offering(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Offering>> {
    record(&s, keys::offering(parse("offering id", &id)?), "offering", &id).await
}

/// `GET /v1/offerings/{id}/purchases/{address}`: an account's purchase in an offering.
pub(super) async fn purchase(
    State(s): State<ApiState>,
    Path((id, address)): Path<(String, String)>,
) -> ApiResult<Json<Purchase>> {
    let id: u64 = parse("offering id", &id)?;
    let buyer: Address = parse("address", &address)?;
    let snapshot = Snapshot::take(&s).await?;
    let missing = || ApiError::not_found(format!("no purchase by {buyer} in offering {id}"));
    let index: u32 = snapshot.get(&keys::purchase_of(id, &buyer)).await?.ok_or_else(missing)?;
    snapshot.get(&keys::purchase(id, index)).await?.map(Json).ok_or_else(missing)
}

/// `GET /v1/proposals/{id}`: a proposal, how its vote stands for the next block and its
/// execution window.
pub(super) async fn proposal(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ProposalView>> {
    let id: u64 = parse("proposal id", &id)?;
    let snapshot = Snapshot::take(&s).await?;
    let proposal: Proposal = snapshot
        .get(&keys::proposal(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no proposal {id}")))?;
    Ok(Json(ProposalView {
        decision: proposal.decision(snapshot.height().saturating_add(1)),
        executable_from: proposal.executable_from(),
        expires: proposal.expires(),
        proposal,
    }))
}

/// `GET /v1/proposals/{id}/ballots/{address}`: an account's vote on a proposal.
pub(super) async fn ballot(
    State(s): State<ApiState>,
    Path((id, address)): Path<(String, String)>,
) -> ApiResult<Json<Ballot>> {
    let proposal: u64 = parse("proposal id", &id)?;
    let voter: Address = parse("address", &address)?;
    let what = format!("ballot of {voter} on proposal");
    record(&s, keys::ballot(proposal, &voter), &what, &id).await
}

//! The ownership module: machines and their holders, offerings and purchases, proposals and
//! ballots, the machine of a device, usage rights and a stream's data rights. Everything is
//! read from the latest finalized state.

use super::{ApiState, error::ApiError, market::record, proofs::Snapshot};
use axum::{
    Json,
    extract::{Path, State},
};
use machina_api::{
    DataRights, DeviceMachine, DeviceRightsView, HolderView, MachineView, ProposalView, RightView,
};
use machina_app::modules::{
    bank::{
        keys as bank_keys,
        state::{Account, Nft},
    },
    identity::{keys as identity_keys, state::Device},
    ownership::{
        keys,
        state::{
            Ballot, DeviceRights, Machine, Offering, Position, Proposal, Purchase, UsageRight,
        },
    },
};
use machina_types::{
    Address, Amount, DeviceId,
    bank::NftId,
    ownership::{MachineId, revenue::Holding},
    reading::StreamId,
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

/// The latest finalized block's time (ms), which a usage right's window is compared with.
fn now_ms(s: &ApiState) -> u64 {
    s.chain.tip().map_or(0, |t| t.header.timestamp_ms)
}

/// The holder of the token `nft` (`None` if it was burned).
async fn nft_owner(snapshot: &Snapshot<'_>, nft: NftId) -> ApiResult<Option<Address>> {
    let token: Option<Nft> = snapshot.get(&bank_keys::nft(nft)).await?;
    Ok(token.map(|t| t.owner))
}

/// A usage right with its holder and what it reserves at `now`.
async fn right_view(snapshot: &Snapshot<'_>, right: UsageRight, now: u64) -> ApiResult<RightView> {
    let holder = nft_owner(snapshot, right.nft).await?;
    Ok(RightView { reserved: right.reserved(now), holder, right })
}

/// The device `id`, or 404.
async fn device_at(snapshot: &Snapshot<'_>, id: &DeviceId) -> ApiResult<Device> {
    snapshot
        .get(&identity_keys::device(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no device {id}")))
}

/// `GET /v1/rights/{nft}`: a usage right, its holder and the units it reserves now.
pub(super) async fn right(
    State(s): State<ApiState>,
    Path(nft): Path<String>,
) -> ApiResult<Json<RightView>> {
    let nft: NftId = parse("token id", &nft)?;
    let snapshot = Snapshot::take(&s).await?;
    let right: UsageRight = snapshot
        .get(&keys::right(nft))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no usage right {nft}")))?;
    Ok(Json(right_view(&snapshot, right, now_ms(&s)).await?))
}

/// `GET /v1/devices/{id}/rights`: a device's usage rights that have not ended.
pub(super) async fn device_rights(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<DeviceRightsView>> {
    let device: DeviceId = parse("device id", &id)?;
    let snapshot = Snapshot::take(&s).await?;
    device_at(&snapshot, &device).await?;
    let now = now_ms(&s);
    let list: DeviceRights = snapshot.get(&keys::device_rights(&device)).await?.unwrap_or_default();
    let mut rights = Vec::with_capacity(list.rights.len());
    for nft in list.rights {
        // The list keeps rights that ended until the device's next minting prunes them.
        if let Some(right) = snapshot.get::<UsageRight>(&keys::right(nft)).await?
            && right.ends_ms > now
        {
            rights.push(right_view(&snapshot, right, now).await?);
        }
    }
    Ok(Json(DeviceRightsView { device, rights }))
}

/// `GET /v1/devices/{id}/streams/{stream}/data-rights`: who holds a stream's data rights.
pub(super) async fn data_rights(
    State(s): State<ApiState>,
    Path((id, stream)): Path<(String, String)>,
) -> ApiResult<Json<DataRights>> {
    let device: DeviceId = parse("device id", &id)?;
    let stream: StreamId = parse("stream id", &stream)?;
    let snapshot = Snapshot::take(&s).await?;
    let owner = device_at(&snapshot, &device).await?.owner;
    let asset: Option<NftId> = snapshot.get(&keys::data_asset(&device, stream)).await?;
    // A data asset's token cannot be burned: its holder is always there.
    let holder = match asset {
        Some(nft) => nft_owner(&snapshot, nft).await?.unwrap_or(owner),
        None => owner,
    };
    Ok(Json(DataRights { device, stream, asset, holder }))
}

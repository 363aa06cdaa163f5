//! The rewards module: pools that pay devices, epoch by epoch, pro rata to work the chain
//! counts by itself (see [`machina_types::rewards`] for the rules).
//!
//! Invariants (checked by the test chain after every block):
//! - the escrow holds, per asset, what its pools were funded less what they paid and
//!   refunded (`funded - paid - refunded`); a closed pool holds nothing;
//! - a pool never pays more than it was funded, and an epoch never more than `per_epoch`:
//!   each device's work is credited once to one epoch, its reward
//!   (`per_epoch * work / total_work`, rounded down) paid once.

pub use machina_types::rewards::{keys, params, state};
#[cfg(test)]
mod tests;

use super::{bank, data, identity, identity::state::Device, market, ownership};
use crate::{
    module::{Ctx, ExecResult, Module},
    state::Key,
};
use machina_types::{
    Address, Amount, DeviceId, ErrorCode, Event, RewardsCall,
    bank::AssetId,
    data::{Eligibility, state::StreamState},
    identity::roles,
    rewards::{Epoch, PoolId, RewardsEvent, Work, funding},
};
use state::{DeviceWork, Enrollment, EpochTotal, Pool};

/// The account that escrows pools' funds.
pub fn escrow_account() -> Address {
    Address::module("rewards/escrow")
}

/// The rewards module.
pub struct Rewards;

impl Module for Rewards {
    type Call = RewardsCall;

    fn hint(call: &RewardsCall, signer: &Address, keys: &mut Vec<Key>) {
        match call {
            RewardsCall::CreatePool { asset, .. } => {
                keys.push(self::keys::next_pool_id());
                match asset {
                    None => keys.extend([
                        bank::keys::account(signer),
                        bank::keys::account(&escrow_account()),
                    ]),
                    Some(asset) => keys.extend([
                        bank::keys::asset(*asset),
                        bank::keys::asset_balance(*asset, signer),
                        bank::keys::asset_balance(*asset, &escrow_account()),
                        ownership::keys::machine_of_asset(*asset),
                    ]),
                }
            }
            RewardsCall::Enroll { pool, device } | RewardsCall::Report { pool, device } => keys
                .extend([
                    self::keys::pool(*pool),
                    self::keys::enrollment(*pool, device),
                    identity::keys::device(device),
                ]),
            RewardsCall::Claim { pool, epoch, device } => keys.extend([
                self::keys::pool(*pool),
                self::keys::epoch(*pool, *epoch),
                self::keys::work(*pool, *epoch, device),
                identity::keys::device(device),
                ownership::keys::machine_of_device(device),
                bank::keys::account(&escrow_account()),
            ]),
            RewardsCall::Close { pool } => {
                keys.extend([self::keys::pool(*pool), bank::keys::account(&escrow_account())])
            }
        }
    }

    fn execute(ctx: &mut Ctx<'_>, call: &RewardsCall) -> ExecResult {
        match call {
            RewardsCall::CreatePool {
                asset,
                per_epoch,
                epochs,
                epoch_blocks,
                work,
                eligibility,
                min_reputation,
                max_work_per_epoch,
            } => {
                let rule = Rule {
                    asset: *asset,
                    per_epoch: *per_epoch,
                    epochs: *epochs,
                    epoch_blocks: *epoch_blocks,
                    work: *work,
                    eligibility,
                    min_reputation: *min_reputation,
                    max_work_per_epoch: *max_work_per_epoch,
                };
                create(ctx, rule)
            }
            RewardsCall::Enroll { pool, device } => enroll(ctx, *pool, device),
            RewardsCall::Report { pool, device } => report(ctx, *pool, device),
            RewardsCall::Claim { pool, epoch, device } => claim(ctx, *pool, *epoch, device),
            RewardsCall::Close { pool } => close(ctx, *pool),
        }
    }
}

fn emit(ctx: &mut Ctx<'_>, event: RewardsEvent) -> ExecResult {
    ctx.emit(Event::Rewards(event))
}

/// The pool `id`.
pub fn pool(ctx: &Ctx<'_>, id: PoolId) -> ExecResult<Pool> {
    Ok(ctx.get(&keys::pool(id))?.ok_or(ErrorCode::UnknownPool)?)
}

/// The pool `id`, which must not be closed.
fn open_pool(ctx: &Ctx<'_>, id: PoolId) -> ExecResult<Pool> {
    let p = pool(ctx, id)?;
    if p.closed {
        return Err(ErrorCode::PoolClosed.into());
    }
    Ok(p)
}

/// A pool's rule, as its creation names it.
struct Rule<'a> {
    asset: Option<AssetId>,
    per_epoch: Amount,
    epochs: u32,
    epoch_blocks: u64,
    work: Work,
    eligibility: &'a Eligibility,
    min_reputation: u8,
    max_work_per_epoch: u64,
}

fn create(ctx: &mut Ctx<'_>, rule: Rule<'_>) -> ExecResult {
    let params = ctx.env().genesis.params.rewards.clone();
    if rule.epochs > params.epochs_max || rule.epoch_blocks > params.epoch_blocks_max {
        return Err(ErrorCode::PoolOutOfBounds.into());
    }
    if let Some(asset) = rule.asset {
        bank::asset_info(ctx, asset)?;
        // A machine's shares carry revenue and votes that only their module keeps.
        if ownership::machine_of_asset(ctx, asset)?.is_some() {
            return Err(ErrorCode::UnrewardableAsset.into());
        }
    }
    let funded = funding(rule.per_epoch, rule.epochs).ok_or(ErrorCode::Overflow)?;
    let id = ctx.get::<PoolId>(&keys::next_pool_id())?.unwrap_or(1);
    ctx.put(keys::next_pool_id(), &(id.checked_add(1).ok_or(ErrorCode::Overflow)?));
    let start = ctx.env().height.checked_add(1).ok_or(ErrorCode::Overflow)?;
    // Claims close at the end of epoch `epochs + 1` plus the claim window.
    let last = u64::from(rule.epochs) + 2 + u64::from(params.claim_window_epochs);
    let claim_until = last
        .checked_mul(rule.epoch_blocks)
        .and_then(|blocks| start.checked_add(blocks))
        .ok_or(ErrorCode::Overflow)?;
    let funder = ctx.signer();
    bank::pay(ctx, rule.asset, &funder, &escrow_account(), funded)?;
    let p = Pool {
        id,
        funder,
        asset: rule.asset,
        per_epoch: rule.per_epoch,
        epochs: rule.epochs,
        epoch_blocks: rule.epoch_blocks,
        start,
        claim_until,
        work: rule.work,
        eligibility: rule.eligibility.clone(),
        min_reputation: rule.min_reputation,
        max_work_per_epoch: rule.max_work_per_epoch,
        enrolled: 0,
        funded,
        paid: 0,
        refunded: 0,
        closed: false,
    };
    ctx.put(keys::pool(id), &p);
    emit(ctx, RewardsEvent::PoolCreated { pool: id, funder, asset: rule.asset, funded, start })
}

/// The device `id` if it meets `p`'s rule now: active, admitted by the pool's eligibility
/// (role and attribute grants to the funder, accepted by it) and with at least its minimum
/// reputation.
fn qualified(ctx: &Ctx<'_>, p: &Pool, id: &DeviceId) -> ExecResult<Device> {
    let d = identity::active_device(ctx, id)?;
    if !data::admits(ctx, &p.eligibility, &p.funder, roles::REWARD_EARNER, &d)? {
        return Err(ErrorCode::IneligibleDevice.into());
    }
    if market::reputation(&d) < p.min_reputation {
        return Err(ErrorCode::ReputationBelowMinimum.into());
    }
    Ok(d)
}

/// The counter of `p`'s work for device `d`, as the chain keeps it now.
pub fn counter(ctx: &Ctx<'_>, p: &Pool, d: &Device) -> ExecResult<u64> {
    Ok(match p.work {
        Work::AnchoredReadings { stream } => {
            ctx.get::<StreamState>(&data::keys::stream(&d.id, stream))?.map_or(0, |s| s.readings)
        }
        Work::LeasesDelivered {} => d.reputation.good,
    })
}

/// `epoch` as an [`Epoch`]; callers bound it by the pool's `epochs` first.
fn epoch_index(epoch: u64) -> Epoch {
    Epoch::try_from(epoch).expect("epochs within a pool's count fit an Epoch")
}

fn enroll(ctx: &mut Ctx<'_>, id: PoolId, device: &DeviceId) -> ExecResult {
    let mut p = open_pool(ctx, id)?;
    // Enrolled before epoch 0 starts (in the block that created the pool), a device counts
    // as enrolled in epoch 0.
    let epoch = p.epoch_at(ctx.env().height).unwrap_or(0);
    if epoch >= u64::from(p.epochs) {
        return Err(ErrorCode::EnrollmentClosed.into());
    }
    if ctx.get::<Enrollment>(&keys::enrollment(id, device))?.is_some() {
        return Err(ErrorCode::AlreadyEnrolled.into());
    }
    if p.enrolled >= ctx.env().genesis.params.rewards.devices_per_pool_max {
        return Err(ErrorCode::PoolFull.into());
    }
    let d = qualified(ctx, &p, device)?;
    let baseline = counter(ctx, &p, &d)?;
    let enrollment = Enrollment {
        device: *device,
        last_counter: baseline,
        last_report_epoch: epoch_index(epoch),
    };
    ctx.put(keys::enrollment(id, device), &enrollment);
    p.enrolled += 1;
    ctx.put(keys::pool(id), &p);
    emit(ctx, RewardsEvent::Enrolled { pool: id, device: *device, baseline })
}

fn report(ctx: &mut Ctx<'_>, id: PoolId, device: &DeviceId) -> ExecResult {
    let p = open_pool(ctx, id)?;
    // Reports during epoch e (1 to `epochs`) credit epoch e - 1.
    let epoch = match p.epoch_at(ctx.env().height) {
        None | Some(0) => return Err(ErrorCode::ReportTooEarly.into()),
        Some(e) if e > u64::from(p.epochs) => return Err(ErrorCode::ReportingClosed.into()),
        Some(e) => epoch_index(e),
    };
    let mut enrollment: Enrollment =
        ctx.get(&keys::enrollment(id, device))?.ok_or(ErrorCode::NotEnrolled)?;
    if epoch <= enrollment.last_report_epoch {
        return Err(ErrorCode::AlreadyReported.into());
    }
    let d = qualified(ctx, &p, device)?;
    let now = counter(ctx, &p, &d)?;
    let grown = now.saturating_sub(enrollment.last_counter);
    if grown == 0 {
        return Err(ErrorCode::NoNewWork.into());
    }
    // The counter moves on to now whatever the cap lets through: work counts once.
    let work = grown.min(p.max_work_per_epoch);
    enrollment.last_counter = now;
    enrollment.last_report_epoch = epoch;
    ctx.put(keys::enrollment(id, device), &enrollment);
    let credited = epoch - 1;
    let mut total: EpochTotal = ctx.get(&keys::epoch(id, credited))?.unwrap_or_default();
    total.total_work = total.total_work.checked_add(work).ok_or(ErrorCode::Overflow)?;
    total.devices = total.devices.checked_add(1).ok_or(ErrorCode::Overflow)?;
    ctx.put(keys::epoch(id, credited), &total);
    ctx.put(keys::work(id, credited, device), &DeviceWork { work, claimed: false });
    emit(ctx, RewardsEvent::Reported { pool: id, device: *device, epoch: credited, work })
}

fn claim(ctx: &mut Ctx<'_>, id: PoolId, epoch: Epoch, device: &DeviceId) -> ExecResult {
    let mut p = open_pool(ctx, id)?;
    if epoch >= p.epochs {
        return Err(ErrorCode::UnknownEpoch.into());
    }
    let height = ctx.env().height;
    if height < p.claims_open(epoch) {
        return Err(ErrorCode::ClaimTooEarly.into());
    }
    if height >= p.claim_until {
        return Err(ErrorCode::ClaimWindowClosed.into());
    }
    let mut w: DeviceWork =
        ctx.get(&keys::work(id, epoch, device))?.ok_or(ErrorCode::NoCreditedWork)?;
    if w.claimed {
        return Err(ErrorCode::RewardClaimed.into());
    }
    let total: EpochTotal = ctx.stored(&keys::epoch(id, epoch))?;
    let amount = p.reward(w.work, total.total_work);
    let owner = identity::device(ctx, device)?.owner;
    let to = ownership::payee(ctx, device, &owner)?;
    w.claimed = true;
    ctx.put(keys::work(id, epoch, device), &w);
    p.paid = p.paid.checked_add(amount).ok_or(ErrorCode::Overflow)?;
    assert!(p.paid <= p.funded, "a pool pays at most its epochs' amounts");
    ctx.put(keys::pool(id), &p);
    if amount > 0 {
        bank::pay(ctx, p.asset, &escrow_account(), &to, amount)?;
    }
    emit(
        ctx,
        RewardsEvent::Paid {
            pool: id,
            epoch,
            device: *device,
            to,
            amount,
            work: w.work,
            total_work: total.total_work,
        },
    )
}

fn close(ctx: &mut Ctx<'_>, id: PoolId) -> ExecResult {
    let mut p = open_pool(ctx, id)?;
    if ctx.env().height < p.claim_until {
        return Err(ErrorCode::ClaimsOpen.into());
    }
    let refunded = p.held();
    p.refunded = refunded;
    p.closed = true;
    ctx.put(keys::pool(id), &p);
    if refunded > 0 {
        bank::pay(ctx, p.asset, &escrow_account(), &p.funder, refunded)?;
    }
    emit(ctx, RewardsEvent::Closed { pool: id, refunded })
}

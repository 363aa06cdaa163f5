//! Offerings: treasury shares sold at a fixed price, funds escrowed until the close, then
//! both sides delivered or every buyer refunded by a block-level step.

use super::*;
use crate::module::BlockEnv;
use machina_types::{
    data::{keys as data_keys, state::StreamState},
    limits::{OFFERING_BLOCKS_MAX, OFFERING_BUYERS_MAX, OPEN_OFFERINGS_MAX},
    ownership::{
        Milestone, OfferingId, Tranche,
        state::{
            Closing, ClosingQueue, OFFERINGS_PER_MACHINE_MAX, Offering, OfferingStatus, Purchase,
        },
    },
};

/// Purchases the close step settles per block (an offering with more buyers settles over
/// several blocks).
pub const SETTLE_PER_BLOCK: u32 = 256;

/// The offering `id`.
pub fn offering(ctx: &Ctx<'_>, id: OfferingId) -> ExecResult<Offering> {
    Ok(ctx.get(&keys::offering(id))?.ok_or(ErrorCode::UnknownOffering)?)
}

fn queue(ctx: &Ctx<'_>) -> ExecResult<ClosingQueue> {
    Ok(ctx.get(&keys::closing())?.unwrap_or_default())
}

fn store_queue(ctx: &mut Ctx<'_>, mut q: ClosingQueue) {
    q.entries.sort_by_key(|e| (e.deadline, e.offering));
    ctx.put(keys::closing(), &q);
}

pub(super) fn create(ctx: &mut Ctx<'_>, call: &OwnershipCall) -> ExecResult {
    let OwnershipCall::CreateOffering {
        machine: id,
        shares,
        price,
        asset,
        min_shares,
        buyer_min,
        buyer_max,
        deadline,
        beneficiary,
        tranches,
        milestones_by,
    } = call
    else {
        return Err(ErrorCode::Internal.into());
    };
    let signer = ctx.signer();
    let mut m = machine(ctx, *id)?;
    // The sponsor sells the machine's first shares; once anyone else holds some, only the
    // holders (through the treasury) may sell more.
    let initial = shares_of(ctx, &m, &m.treasury)?.checked_add(shares_of(ctx, &m, &m.sponsor)?)
        == Some(m.supply);
    if signer != m.treasury && !(signer == m.sponsor && initial) {
        return Err(ErrorCode::NotMachineController.into());
    }
    let height = ctx.env().height;
    let latest = height.saturating_add(OFFERING_BLOCKS_MAX);
    if *deadline < height || *milestones_by > latest {
        return Err(ErrorCode::BadOfferingDeadline.into());
    }
    if let Some(asset) = asset {
        bank::asset_info(ctx, *asset)?;
        // Shares move only with their revenue and votes, which escrow does not carry.
        if machine_of_asset(ctx, *asset)?.is_some() {
            return Err(ErrorCode::SharesNotAccepted.into());
        }
    }
    let free = shares_of(ctx, &m, &m.treasury)?.saturating_sub(m.offered);
    if free < *shares {
        return Err(ErrorCode::SharesUnavailable.into());
    }
    let mut q = queue(ctx)?;
    if q.entries.len() >= OPEN_OFFERINGS_MAX || m.open_offerings >= OFFERINGS_PER_MACHINE_MAX {
        return Err(ErrorCode::TooManyOfferings.into());
    }
    m.offered += shares;
    m.open_offerings += 1;
    store_machine(ctx, &m);
    let mut counters: Counters = ctx.get(&keys::counters())?.unwrap_or_default();
    let offering = counters.offering.max(1);
    counters.offering = offering.checked_add(1).ok_or(ErrorCode::Overflow)?;
    ctx.put(keys::counters(), &counters);
    let o = Offering {
        id: offering,
        machine: m.id,
        creator: signer,
        shares: *shares,
        price: *price,
        asset: *asset,
        min_shares: *min_shares,
        buyer_min: *buyer_min,
        buyer_max: *buyer_max,
        deadline: *deadline,
        beneficiary: *beneficiary,
        tranches: tranches.clone(),
        milestones_by: *milestones_by,
        sold: 0,
        raised: 0,
        buyers: 0,
        settled: 0,
        released: 0,
        status: OfferingStatus::Open,
    };
    ctx.put(keys::offering(offering), &o);
    q.entries.push(Closing { deadline: *deadline, offering });
    store_queue(ctx, q);
    emit(ctx, OwnershipEvent::OfferingCreated { offering, machine: m.id, shares: *shares })
}

pub(super) fn buy(ctx: &mut Ctx<'_>, id: OfferingId, shares: u64) -> ExecResult {
    let buyer = ctx.signer();
    let height = ctx.env().height;
    let mut o = offering(ctx, id)?;
    if o.status != OfferingStatus::Open || height > o.deadline || o.sold == o.shares {
        return Err(ErrorCode::OfferingClosed.into());
    }
    let index: Option<u32> = ctx.get(&keys::purchase_of(id, &buyer))?;
    let mut p = match index {
        Some(i) => ctx.stored(&keys::purchase(id, i))?,
        None => Purchase { buyer, shares: 0, paid: 0 },
    };
    let total = p.shares.checked_add(shares).ok_or(ErrorCode::Overflow)?;
    if shares < o.buyer_min || total > o.buyer_max || shares > o.shares - o.sold {
        return Err(ErrorCode::PurchaseOutOfBounds.into());
    }
    let index = match index {
        Some(i) => i,
        None if o.buyers >= OFFERING_BUYERS_MAX => return Err(ErrorCode::TooManyBuyers.into()),
        None => {
            o.buyers += 1;
            ctx.put(keys::purchase_of(id, &buyer), &(o.buyers - 1));
            o.buyers - 1
        }
    };
    // shares <= o.shares and o.shares * price fits an Amount (the call's check).
    let cost = shares.checked_mul(o.price).ok_or(ErrorCode::Overflow)?;
    bank::pay(ctx, o.asset, &buyer, &escrow_account(), cost)?;
    p.shares = total;
    p.paid = p.paid.checked_add(cost).ok_or(ErrorCode::Overflow)?;
    ctx.put(keys::purchase(id, index), &p);
    o.sold += shares;
    o.raised = o.raised.checked_add(cost).ok_or(ErrorCode::Overflow)?;
    if o.sold == o.shares {
        // Sold out: close in the next block.
        let mut q = queue(ctx)?;
        if let Some(e) = q.entries.iter_mut().find(|e| e.offering == id) {
            e.deadline = height;
        }
        store_queue(ctx, q);
    }
    ctx.put(keys::offering(id), &o);
    emit(ctx, OwnershipEvent::Bought { offering: id, buyer, shares, paid: cost })
}

pub(super) fn close_hint(_env: &BlockEnv, keys: &mut Vec<Key>) {
    keys.push(self::keys::closing());
}

/// Closes the offerings whose deadline has passed, in deadline order, settling up to
/// [`SETTLE_PER_BLOCK`] purchases per block. An offering that cannot be settled (a broken
/// invariant) is left in the queue and does not stop the others.
pub(super) fn close_step(ctx: &mut Ctx<'_>) -> ExecResult {
    let mut q = queue(ctx)?;
    let height = ctx.env().height;
    let mut budget = SETTLE_PER_BLOCK;
    let due: Vec<OfferingId> =
        q.entries.iter().take_while(|e| e.deadline < height).map(|e| e.offering).collect();
    let mut closed = Vec::new();
    for id in due {
        if budget == 0 {
            break;
        }
        let mut done = false;
        let attempt = ctx.attempt(|ctx| {
            done = settle_offering(ctx, id, &mut budget)?;
            Ok(())
        })?;
        if attempt.is_ok() && done {
            closed.push(id);
        }
    }
    if !closed.is_empty() {
        q.entries.retain(|e| !closed.contains(&e.offering));
        store_queue(ctx, q);
    }
    Ok(())
}

/// Settles purchases of a closed offering within `budget`; whether it is finished.
fn settle_offering(ctx: &mut Ctx<'_>, id: OfferingId, budget: &mut u32) -> ExecResult<bool> {
    let mut o = offering(ctx, id)?;
    if o.status == OfferingStatus::Open {
        let mut m = machine(ctx, o.machine)?;
        let success = o.sold > 0 && o.sold >= o.min_shares;
        // Shares that will not be delivered are free again; sold ones stay reserved until
        // their buyer receives them.
        m.offered -= if success { o.shares - o.sold } else { o.shares };
        m.open_offerings -= 1;
        store_machine(ctx, &m);
        if success {
            o.status = OfferingStatus::Delivering;
            emit(
                ctx,
                OwnershipEvent::OfferingSucceeded { offering: id, sold: o.sold, raised: o.raised },
            )?;
        } else {
            o.status = OfferingStatus::Refunding;
            emit(ctx, OwnershipEvent::OfferingFailed { offering: id, sold: o.sold })?;
        }
    }
    while o.settled < o.buyers && *budget > 0 {
        let p: Purchase = ctx.stored(&keys::purchase(id, o.settled))?;
        let (shares, refunded) = match o.status {
            OfferingStatus::Delivering => {
                let mut m = machine(ctx, o.machine)?;
                m.offered -= p.shares;
                store_machine(ctx, &m);
                transfer_shares(ctx, m.id, &m.treasury, &p.buyer, p.shares)?;
                (p.shares, 0)
            }
            _ => {
                bank::pay(ctx, o.asset, &escrow_account(), &p.buyer, p.paid)?;
                (0, p.paid)
            }
        };
        emit(
            ctx,
            OwnershipEvent::PurchaseSettled { offering: id, buyer: p.buyer, shares, refunded },
        )?;
        o.settled += 1;
        *budget -= 1;
    }
    let finished = o.settled == o.buyers;
    if finished {
        if o.status == OfferingStatus::Delivering {
            o.status = OfferingStatus::Succeeded;
            ctx.put(keys::offering(id), &o);
            for (i, t) in tranches(&o).iter().enumerate() {
                if t.milestone == (Milestone::Close {}) {
                    release(ctx, id, i as u8)?;
                }
            }
            return Ok(true);
        }
        o.status = OfferingStatus::Failed;
    }
    ctx.put(keys::offering(id), &o);
    Ok(finished)
}

/// An offering's tranches (one released at the close if it names none).
pub(crate) fn tranches(o: &Offering) -> Vec<Tranche> {
    match o.tranches.is_empty() {
        true => vec![Tranche { bps: BPS, milestone: Milestone::Close {} }],
        false => o.tranches.clone(),
    }
}

/// Tranche `i`'s part of `raised`: the tranches' parts add up to `raised` exactly.
pub(crate) fn tranche_amount(raised: Amount, tranches: &[Tranche], i: usize) -> Amount {
    let upto = |n: usize| {
        let bps: u128 = tranches[..n].iter().map(|t| u128::from(t.bps)).sum();
        // At most `raised` (the bps add up to 10000).
        (u128::from(raised) * bps / u128::from(BPS)) as Amount
    };
    upto(i + 1) - upto(i)
}

/// Whether the chain sees `milestone` met by `m`'s devices.
fn milestone_met(ctx: &Ctx<'_>, m: &Machine, milestone: &Milestone) -> ExecResult<bool> {
    let mut delivered: u64 = 0;
    for id in &m.devices {
        let d = identity::device(ctx, id)?;
        let met = match milestone {
            Milestone::Close {} => true,
            Milestone::DevicesActive {} => d.status.refusal().is_none(),
            Milestone::FirstAnchor { stream } => ctx
                .get::<StreamState>(&data_keys::stream(id, *stream))?
                .is_some_and(|s| s.anchors > 0),
            Milestone::LeasesDelivered { .. } => {
                delivered = delivered.saturating_add(d.reputation.good);
                true
            }
        };
        if !met {
            return Ok(false);
        }
    }
    Ok(match milestone {
        Milestone::LeasesDelivered { count } => delivered >= *count,
        _ => true,
    })
}

pub(super) fn release(ctx: &mut Ctx<'_>, id: OfferingId, tranche: u8) -> ExecResult {
    let mut o = offering(ctx, id)?;
    let all = tranches(&o);
    let i = usize::from(tranche);
    let bit = 1u8.checked_shl(u32::from(tranche)).unwrap_or(0);
    if o.status != OfferingStatus::Succeeded || i >= all.len() || o.released & bit != 0 {
        return Err(ErrorCode::TrancheUnavailable.into());
    }
    let m = machine(ctx, o.machine)?;
    let to = if milestone_met(ctx, &m, &all[i].milestone)? {
        o.beneficiary
    } else if ctx.env().height > o.milestones_by {
        m.treasury
    } else {
        return Err(ErrorCode::MilestoneUnmet.into());
    };
    let amount = tranche_amount(o.raised, &all, i);
    o.released |= bit;
    ctx.put(keys::offering(id), &o);
    if amount > 0 {
        bank::pay(ctx, o.asset, &escrow_account(), &to, amount)?;
    }
    emit(ctx, OwnershipEvent::TrancheReleased { offering: id, tranche, to, amount })
}

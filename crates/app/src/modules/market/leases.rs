//! Leases: delivery by receipt, device acknowledgement, feed condition or undisputed claim;
//! payment, refund and slashing; the due lists the settlement step walks.

use super::{
    emit, escrow_account, keys,
    stake::{lock_stake, slash, slash_amount},
    state::{DUE_PAGE_LEN, DuePage, Lease, LeaseStatus},
    treasury, update_totals,
};
use crate::{
    module::{Ctx, ExecResult},
    modules::{bank, data, identity, ownership},
};
use commonware_cryptography::Verifier as _;
use machina_types::{
    Amount, ErrorCode,
    market::{
        ACK_NAMESPACE, Delivery, DeliveryProof, LeaseId, MarketEvent, RECEIPT_NAMESPACE,
        ResourceKind, ack_message, receipt_message,
    },
};
use std::collections::BTreeMap;

fn lease(ctx: &Ctx<'_>, id: LeaseId) -> ExecResult<Lease> {
    Ok(ctx.get(&keys::lease(id))?.ok_or(ErrorCode::UnknownLease)?)
}

fn open_lease(ctx: &Ctx<'_>, id: LeaseId) -> ExecResult<Lease> {
    let l = lease(ctx, id)?;
    if !l.status.is_open() {
        return Err(ErrorCode::LeaseSettled.into());
    }
    Ok(l)
}

/// The protocol fee on a delivered lease of value `escrow`: `protocol_fee_bps` of it, at
/// least one unit when the rate is not zero (so splitting trades into small leases does not
/// dodge it), at most the whole value.
fn protocol_fee(ctx: &Ctx<'_>, escrow: Amount) -> Amount {
    let bps = ctx.env().genesis.params.market.protocol_fee_bps;
    if bps == 0 || escrow == 0 {
        return 0;
    }
    // At most `escrow` (bps <= 300 by genesis validation), so the cast cannot truncate.
    let fee = (u128::from(escrow) * u128::from(bps) / 10_000) as Amount;
    fee.max(1)
}

/// Records a delivery met or failed in the device's reputation, unless the lease is a
/// self-trade (the consumer is the seller, the device's owner or the device itself), which
/// would let anyone wash a reputation for the price of fees.
fn record_reputation(ctx: &mut Ctx<'_>, l: &Lease, good: bool) -> ExecResult {
    let device = identity::device(ctx, &l.device)?;
    let consumer = l.consumer;
    if consumer == l.seller || consumer == device.owner || device.keys.contains(&consumer) {
        return Ok(());
    }
    identity::record_reputation(ctx, &l.device, good)
}

/// Marks a lease settled and releases the seller's stake lock.
fn settled(ctx: &mut Ctx<'_>, l: &mut Lease, status: LeaseStatus) -> ExecResult {
    l.status = status;
    l.settled_height = Some(ctx.env().height);
    ctx.put(keys::lease(l.id), &*l);
    let amount = slash_amount(ctx, l.escrow);
    lock_stake(ctx, &l.seller, amount, false)
}

/// Pays a lease's escrow to its seller, less the protocol fee.
fn pay(ctx: &mut Ctx<'_>, mut l: Lease) -> ExecResult {
    let fee = protocol_fee(ctx, l.escrow);
    let paid = l.escrow - fee;
    // A tokenized device's earnings go to its machine's treasury.
    let payee = ownership::payee(ctx, &l.device, &l.seller)?;
    bank::debit(ctx, &escrow_account(), l.escrow)?;
    bank::credit(ctx, &payee, paid)?;
    bank::credit(ctx, &treasury(), fee)?;
    update_totals(ctx, |t| {
        t.paid += u128::from(paid);
        t.fees += u128::from(fee);
    })?;
    settled(ctx, &mut l, LeaseStatus::Delivered)?;
    record_reputation(ctx, &l, true)?;
    emit(ctx, MarketEvent::Delivered { lease: l.id, to: payee, paid, fee })
}

/// Returns a lease's escrow to its consumer; with `slash`, takes `slash_bps` of its value
/// from the seller's provider stake and lowers the device's reputation.
fn refund(ctx: &mut Ctx<'_>, mut l: Lease, slash_seller: bool) -> ExecResult {
    bank::debit(ctx, &escrow_account(), l.escrow)?;
    bank::credit(ctx, &l.consumer, l.escrow)?;
    update_totals(ctx, |t| t.refunded += u128::from(l.escrow))?;
    settled(ctx, &mut l, LeaseStatus::Refunded)?;
    let slashed = if slash_seller {
        record_reputation(ctx, &l, false)?;
        let amount = slash_amount(ctx, l.escrow);
        slash(ctx, &l.seller, amount)?
    } else {
        0
    };
    emit(ctx, MarketEvent::Refunded { lease: l.id, refund: l.escrow, slashed })
}

pub(super) fn confirm(ctx: &mut Ctx<'_>, id: LeaseId) -> ExecResult {
    let l = open_lease(ctx, id)?;
    if l.consumer != ctx.signer() {
        return Err(ErrorCode::Unauthorized.into());
    }
    pay(ctx, l)
}

pub(super) fn deliver(ctx: &mut Ctx<'_>, id: LeaseId, proof: &DeliveryProof) -> ExecResult {
    let l = open_lease(ctx, id)?;
    let chain_id = &ctx.env().genesis.chain_id;
    let verified = match proof {
        DeliveryProof::ConsumerReceipt { signature } => {
            let key = l.consumer.public_key().ok_or(ErrorCode::BadDeliveryProof)?;
            key.verify(RECEIPT_NAMESPACE, &receipt_message(chain_id, id), signature)
        }
        DeliveryProof::DeviceAck { signature } => {
            let ResourceKind::Actuation { command } = &l.kind else {
                return Err(ErrorCode::WrongDelivery.into());
            };
            let device = identity::device(ctx, &l.device)?;
            let key = device.current_key().public_key().ok_or(ErrorCode::BadDeliveryProof)?;
            let message = ack_message(chain_id, id, command);
            key.verify(ACK_NAMESPACE, &message, signature)
        }
    };
    if !verified {
        return Err(ErrorCode::BadDeliveryProof.into());
    }
    pay(ctx, l)
}

/// The current value of a feed condition: `Some(holds)`, or `None` without a fresh value
/// (or without the feed).
fn feed_condition(ctx: &Ctx<'_>, delivery: &Delivery) -> ExecResult<Option<bool>> {
    let Delivery::Feed { feed, comparison, threshold } = delivery else {
        return Ok(None);
    };
    let Some(f) = ctx.get::<data::state::Feed>(&data::keys::feed(*feed))? else {
        return Ok(None);
    };
    Ok(f.value_at(ctx.env().timestamp_ms).map(|v| comparison.holds(v, *threshold)))
}

pub(super) fn claim(ctx: &mut Ctx<'_>, id: LeaseId) -> ExecResult {
    let mut l = open_lease(ctx, id)?;
    if l.seller != ctx.signer() {
        return Err(ErrorCode::Unauthorized.into());
    }
    if l.status != LeaseStatus::Active {
        return Err(ErrorCode::LeaseSettled.into());
    }
    match l.delivery {
        Delivery::Receipt => {}
        Delivery::Feed { .. } => {
            if feed_condition(ctx, &l.delivery)? != Some(true) {
                return Err(ErrorCode::ConditionUnmet.into());
            }
        }
        Delivery::DeviceAck => return Err(ErrorCode::WrongDelivery.into()),
    }
    let now = ctx.env().timestamp_ms;
    l.status = LeaseStatus::Claimed { at_ms: now };
    ctx.put(keys::lease(id), &l);
    let window = ctx.env().genesis.params.market.dispute_window_ms;
    let closes = now.saturating_add(window) / 1000;
    add_due(ctx, &mut BTreeMap::from([(closes, vec![id])]))?;
    emit(ctx, MarketEvent::Claimed { lease: id })
}

/// The consumer contests a claimed delivery within the dispute window. Under feed terms the
/// oracle decides: the lease settles by its feed condition at the deadline (at once when the
/// deadline has passed). Under receipt terms there is no evidence beyond the missing receipt:
/// the consumer is refunded and nobody is slashed.
pub(super) fn dispute(ctx: &mut Ctx<'_>, id: LeaseId) -> ExecResult {
    let mut l = open_lease(ctx, id)?;
    if l.consumer != ctx.signer() {
        return Err(ErrorCode::Unauthorized.into());
    }
    let window = ctx.env().genesis.params.market.dispute_window_ms;
    let now = ctx.env().timestamp_ms;
    match l.status {
        LeaseStatus::Claimed { at_ms } if now < at_ms.saturating_add(window) => {}
        _ => return Err(ErrorCode::DisputeClosed.into()),
    }
    emit(ctx, MarketEvent::Disputed { lease: id })?;
    match l.delivery {
        Delivery::Feed { .. } if now < l.deadline_ms => {
            // Already in the due list of its deadline's second.
            l.status = LeaseStatus::Disputed;
            ctx.put(keys::lease(id), &l);
            Ok(())
        }
        Delivery::Feed { .. } => settle_by_feed(ctx, l),
        _ => refund(ctx, l, false),
    }
}

/// Appends leases to the due lists of their seconds.
pub(super) fn add_due(ctx: &mut Ctx<'_>, due: &mut BTreeMap<u64, Vec<LeaseId>>) -> ExecResult {
    for (second, leases) in due.iter_mut() {
        let mut count: u64 = ctx.get(&keys::due_count(*second))?.unwrap_or(0);
        let mut page_no = count / DUE_PAGE_LEN;
        let mut page: DuePage = ctx.get(&keys::due_page(*second, page_no))?.unwrap_or_default();
        for id in leases.drain(..) {
            if page.leases.len() as u64 == DUE_PAGE_LEN {
                ctx.put(keys::due_page(*second, page_no), &page);
                page_no += 1;
                page = DuePage::default();
            }
            page.leases.push(id);
            count += 1;
        }
        ctx.put(keys::due_page(*second, page_no), &page);
        ctx.put(keys::due_count(*second), &count);
    }
    Ok(())
}

/// Settles lease `id` if its deadline (or its claim's dispute window) has passed.
pub(super) fn settle_if_due(ctx: &mut Ctx<'_>, id: LeaseId) -> ExecResult {
    let Some(l) = ctx.get::<Lease>(&keys::lease(id))? else { return Ok(()) };
    let now = ctx.env().timestamp_ms;
    let window = ctx.env().genesis.params.market.dispute_window_ms;
    match l.status {
        LeaseStatus::Claimed { at_ms } if now >= at_ms.saturating_add(window) => pay(ctx, l),
        LeaseStatus::Active | LeaseStatus::Disputed if now >= l.deadline_ms => {
            settle_by_feed(ctx, l)
        }
        _ => Ok(()),
    }
}

/// Settles an undelivered lease past its deadline: under feed terms by the feed's condition
/// (paid when it holds, refunded and the seller slashed when it fails, refunded without
/// slashing when the feed has no fresh value); otherwise refunded and the seller slashed.
fn settle_by_feed(ctx: &mut Ctx<'_>, l: Lease) -> ExecResult {
    match feed_condition(ctx, &l.delivery)? {
        Some(true) => pay(ctx, l),
        Some(false) => refund(ctx, l, true),
        None if matches!(l.delivery, Delivery::Feed { .. }) => refund(ctx, l, false),
        None => refund(ctx, l, true),
    }
}

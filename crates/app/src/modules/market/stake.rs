//! Provider and solver stake: bonding, unbonding after a delay, withdrawal, slashing, and the
//! lock that holds back the potential slash of a provider's open leases.

use super::{emit, keys, stake_account, state::Stake, treasury, update_totals};
use crate::{
    module::{Ctx, ExecResult},
    modules::bank,
};
use machina_types::{
    Address, Amount, ErrorCode,
    market::{MarketEvent, StakeKind},
};

/// An account's stake of one kind.
pub fn stake_of(ctx: &Ctx<'_>, kind: StakeKind, account: &Address) -> ExecResult<Stake> {
    Ok(ctx.get(&keys::stake(kind, account))?.unwrap_or_default())
}

fn store_stake(ctx: &mut Ctx<'_>, kind: StakeKind, account: &Address, s: &Stake) {
    if *s == Stake::default() {
        ctx.delete(keys::stake(kind, account));
    } else {
        ctx.put(keys::stake(kind, account), s);
    }
}

pub(super) fn stake(ctx: &mut Ctx<'_>, kind: StakeKind, amount: Amount) -> ExecResult {
    let account = ctx.signer();
    bank::debit(ctx, &account, amount)?;
    bank::credit(ctx, &stake_account(), amount)?;
    let mut s = stake_of(ctx, kind, &account)?;
    s.bonded = s.bonded.checked_add(amount).ok_or(ErrorCode::Overflow)?;
    store_stake(ctx, kind, &account, &s);
    update_totals(ctx, |t| t.staked += u128::from(amount))?;
    emit(ctx, MarketEvent::Staked { account, kind, amount })
}

/// Starts unbonding `amount`; only stake not locked by open leases may unbond.
pub(super) fn unbond(ctx: &mut Ctx<'_>, kind: StakeKind, amount: Amount) -> ExecResult {
    let account = ctx.signer();
    let mut s = stake_of(ctx, kind, &account)?;
    if amount > s.bonded {
        return Err(ErrorCode::InsufficientStake.into());
    }
    if amount > s.free() {
        return Err(ErrorCode::StakeLocked.into());
    }
    s.bonded -= amount;
    s.unbonding = s.unbonding.checked_add(amount).ok_or(ErrorCode::Overflow)?;
    let delay = ctx.env().genesis.params.market.unbonding_blocks;
    s.release_height = ctx.env().height.checked_add(delay).ok_or(ErrorCode::Overflow)?;
    store_stake(ctx, kind, &account, &s);
    let release_height = s.release_height;
    emit(ctx, MarketEvent::Unbonding { account, kind, amount, release_height })
}

pub(super) fn withdraw(ctx: &mut Ctx<'_>, kind: StakeKind) -> ExecResult {
    let account = ctx.signer();
    let mut s = stake_of(ctx, kind, &account)?;
    if s.unbonding == 0 || ctx.env().height < s.release_height {
        return Err(ErrorCode::NothingToWithdraw.into());
    }
    let amount = std::mem::take(&mut s.unbonding);
    store_stake(ctx, kind, &account, &s);
    bank::debit(ctx, &stake_account(), amount)?;
    bank::credit(ctx, &account, amount)?;
    update_totals(ctx, |t| t.withdrawn += u128::from(amount))?;
    emit(ctx, MarketEvent::Withdrawn { account, kind, amount })
}

/// The slash a lease of value `escrow` risks: `slash_bps` of it.
pub(super) fn slash_amount(ctx: &Ctx<'_>, escrow: Amount) -> Amount {
    let bps = ctx.env().genesis.params.market.slash_bps;
    // At most `escrow` (bps <= 10_000 by genesis validation), so the cast cannot truncate.
    (u128::from(escrow) * u128::from(bps) / 10_000) as Amount
}

/// Locks (`lock = true`) or releases `amount` of `seller`'s provider stake: the potential
/// slash ([`slash_amount`]) of leases it opened or settled.
pub(super) fn lock_stake(
    ctx: &mut Ctx<'_>,
    seller: &Address,
    amount: Amount,
    lock: bool,
) -> ExecResult {
    let mut s = stake_of(ctx, StakeKind::Provider, seller)?;
    s.locked = if lock {
        s.locked.checked_add(amount).ok_or(ErrorCode::Overflow)?
    } else {
        // Every release matches an earlier lock of the same lease.
        s.locked.checked_sub(amount).ok_or(ErrorCode::Internal)?
    };
    store_stake(ctx, StakeKind::Provider, seller, &s);
    Ok(())
}

/// Takes up to `amount` of `account`'s provider stake (bonded first) to the treasury;
/// returns what was taken.
pub(super) fn slash(ctx: &mut Ctx<'_>, account: &Address, amount: Amount) -> ExecResult<Amount> {
    let mut s = stake_of(ctx, StakeKind::Provider, account)?;
    let from_bonded = amount.min(s.bonded);
    let from_unbonding = (amount - from_bonded).min(s.unbonding);
    s.bonded -= from_bonded;
    s.unbonding -= from_unbonding;
    store_stake(ctx, StakeKind::Provider, account, &s);
    let taken = from_bonded + from_unbonding;
    bank::debit(ctx, &stake_account(), taken)?;
    bank::credit(ctx, &treasury(), taken)?;
    update_totals(ctx, |t| t.slashed += u128::from(taken))?;
    Ok(taken)
}

//! The channels module: payment channels paid by vouchers, and streams paid by block time
//! (see [`machina_types::channels`] for the rules).
//!
//! Invariants (checked by the test chain after every block):
//! - the escrow holds, per asset, `deposit - paid - refunded` summed over the channels, and
//!   a closed channel holds nothing (`deposit = paid + refunded`);
//! - a voucher channel never pays more than its deposit, nor twice for one voucher: what is
//!   paid is the highest cumulative amount settled, and a settlement pays only its increase.

pub use machina_types::channels::{keys, state};
#[cfg(test)]
mod tests;

use super::{bank, ownership};
use crate::{
    module::{Ctx, ExecResult, Module},
    state::Key,
};
use machina_types::{
    Address, Amount, ChannelsCall, ErrorCode, Event,
    bank::AssetId,
    channels::{ChannelId, ChannelsEvent, SignedVoucher},
};
use state::{Channel, Mode, Status};

/// The account that escrows channels' deposits.
pub fn escrow_account() -> Address {
    Address::module("channels/escrow")
}

/// The channels module.
pub struct Channels;

/// The balance keys a payment of `asset` between `accounts` and the escrow touches.
fn balance_keys(asset: Option<AssetId>, accounts: &[&Address], keys: &mut Vec<Key>) {
    let escrow = escrow_account();
    for account in accounts.iter().copied().chain([&escrow]) {
        keys.push(match asset {
            None => bank::keys::account(account),
            Some(asset) => bank::keys::asset_balance(asset, account),
        });
    }
}

impl Module for Channels {
    type Call = ChannelsCall;

    fn hint(call: &ChannelsCall, signer: &Address, keys: &mut Vec<Key>) {
        match call {
            ChannelsCall::Open { asset, .. } | ChannelsCall::OpenStream { asset, .. } => {
                keys.push(self::keys::next_channel_id());
                balance_keys(*asset, &[signer], keys);
                if let Some(asset) = asset {
                    keys.extend([
                        bank::keys::asset(*asset),
                        ownership::keys::machine_of_asset(*asset),
                    ]);
                }
            }
            ChannelsCall::TopUp { channel, .. }
            | ChannelsCall::Settle { channel, .. }
            | ChannelsCall::Close { channel, .. }
            | ChannelsCall::StartClose { channel }
            | ChannelsCall::Finish { channel }
            | ChannelsCall::Withdraw { channel }
            | ChannelsCall::Cancel { channel } => {
                // The parties are in the channel; their balances cost a retry if absent.
                keys.push(self::keys::channel(*channel));
                balance_keys(None, &[signer], keys);
            }
        }
    }

    fn execute(ctx: &mut Ctx<'_>, call: &ChannelsCall) -> ExecResult {
        match call {
            ChannelsCall::Open { payee, asset, deposit, challenge_blocks } => open(
                ctx,
                payee,
                *asset,
                *deposit,
                Mode::Vouchers { challenge_blocks: *challenge_blocks },
            ),
            ChannelsCall::OpenStream { payee, asset, deposit, rate_per_sec } => {
                let start_ms = ctx.env().timestamp_ms;
                open(
                    ctx,
                    payee,
                    *asset,
                    *deposit,
                    Mode::Stream { rate_per_sec: *rate_per_sec, start_ms },
                )
            }
            ChannelsCall::TopUp { channel, amount } => top_up(ctx, *channel, *amount),
            ChannelsCall::Settle { channel, voucher } => {
                let mut c = payees(ctx, *channel)?;
                settle(ctx, &mut c, voucher)?;
                ctx.put(keys::channel(c.id), &c);
                Ok(())
            }
            ChannelsCall::Close { channel, voucher } => {
                let mut c = payees(ctx, *channel)?;
                if let Some(voucher) = voucher {
                    settle(ctx, &mut c, voucher)?;
                }
                close(ctx, c)
            }
            ChannelsCall::StartClose { channel } => start_close(ctx, *channel),
            ChannelsCall::Finish { channel } => finish(ctx, *channel),
            ChannelsCall::Withdraw { channel } => {
                let mut c = payees(ctx, *channel)?;
                withdraw(ctx, &mut c)?;
                ctx.put(keys::channel(c.id), &c);
                Ok(())
            }
            ChannelsCall::Cancel { channel } => cancel(ctx, *channel),
        }
    }
}

fn emit(ctx: &mut Ctx<'_>, event: ChannelsEvent) -> ExecResult {
    ctx.emit(Event::Channels(event))
}

/// The channel `id`, which must not be closed.
pub fn channel(ctx: &Ctx<'_>, id: ChannelId) -> ExecResult<Channel> {
    let c: Channel = ctx.get(&keys::channel(id))?.ok_or(ErrorCode::UnknownChannel)?;
    if c.is_closed() {
        return Err(ErrorCode::ChannelClosed.into());
    }
    Ok(c)
}

/// The open channel `id`, whose payee must be the signer.
fn payees(ctx: &Ctx<'_>, id: ChannelId) -> ExecResult<Channel> {
    let c = channel(ctx, id)?;
    if c.payee != ctx.signer() {
        return Err(ErrorCode::NotPayee.into());
    }
    Ok(c)
}

/// The open channel `id`, whose payer must be the signer.
fn payers(ctx: &Ctx<'_>, id: ChannelId) -> ExecResult<Channel> {
    let c = channel(ctx, id)?;
    if c.payer != ctx.signer() {
        return Err(ErrorCode::NotPayer.into());
    }
    Ok(c)
}

fn open(
    ctx: &mut Ctx<'_>,
    payee: &Address,
    asset: Option<AssetId>,
    deposit: Amount,
    mode: Mode,
) -> ExecResult {
    let payer = ctx.signer();
    if *payee == payer {
        return Err(ErrorCode::SelfChannel.into());
    }
    if let Some(asset) = asset {
        bank::asset_info(ctx, asset)?;
        // A machine's shares carry revenue and votes that only their module keeps.
        if ownership::machine_of_asset(ctx, asset)?.is_some() {
            return Err(ErrorCode::UnchannelableAsset.into());
        }
    }
    let id = ctx.get::<ChannelId>(&keys::next_channel_id())?.unwrap_or(1);
    ctx.put(keys::next_channel_id(), &(id.checked_add(1).ok_or(ErrorCode::Overflow)?));
    bank::pay(ctx, asset, &payer, &escrow_account(), deposit)?;
    let c = Channel {
        id,
        payer,
        payee: *payee,
        asset,
        deposit,
        paid: 0,
        refunded: 0,
        mode,
        status: Status::Open {},
    };
    ctx.put(keys::channel(id), &c);
    emit(ctx, ChannelsEvent::Opened { channel: id, payer, payee: *payee, asset, deposit })
}

fn top_up(ctx: &mut Ctx<'_>, id: ChannelId, amount: Amount) -> ExecResult {
    let mut c = payers(ctx, id)?;
    match c.mode {
        Mode::Vouchers { .. } if c.status != (Status::Open {}) => {
            return Err(ErrorCode::ChannelClosing.into());
        }
        Mode::Stream { .. } if c.accrued(ctx.env().timestamp_ms) >= c.deposit => {
            return Err(ErrorCode::StreamEnded.into());
        }
        _ => {}
    }
    c.deposit = c.deposit.checked_add(amount).ok_or(ErrorCode::Overflow)?;
    bank::pay(ctx, c.asset, &c.payer, &escrow_account(), amount)?;
    ctx.put(keys::channel(id), &c);
    emit(ctx, ChannelsEvent::ToppedUp { channel: id, amount, deposit: c.deposit })
}

/// Pays `c`'s payee what `voucher` adds to what was settled (the caller stores `c`).
fn settle(ctx: &mut Ctx<'_>, c: &mut Channel, voucher: &SignedVoucher) -> ExecResult {
    if !matches!(c.mode, Mode::Vouchers { .. }) {
        return Err(ErrorCode::WrongChannelMode.into());
    }
    if voucher.voucher.channel != c.id {
        return Err(ErrorCode::VoucherForAnotherChannel.into());
    }
    let cumulative = voucher.voucher.cumulative;
    if cumulative <= c.paid {
        return Err(ErrorCode::StaleVoucher.into());
    }
    if cumulative > c.deposit {
        return Err(ErrorCode::VoucherOverDeposit.into());
    }
    if !voucher.verify(&ctx.env().genesis.chain_id, &c.payer) {
        return Err(ErrorCode::BadVoucher.into());
    }
    pay_payee(ctx, c, cumulative)
}

/// Pays `c`'s payee up to `total` in all.
fn pay_payee(ctx: &mut Ctx<'_>, c: &mut Channel, total: Amount) -> ExecResult {
    let amount = total - c.paid;
    bank::pay(ctx, c.asset, &escrow_account(), &c.payee, amount)?;
    c.paid = total;
    emit(ctx, ChannelsEvent::Paid { channel: c.id, to: c.payee, amount, total })
}

/// Returns what `c` holds to its payer and stores it closed.
fn close(ctx: &mut Ctx<'_>, mut c: Channel) -> ExecResult {
    let refunded = c.held();
    bank::pay(ctx, c.asset, &escrow_account(), &c.payer, refunded)?;
    c.refunded = refunded;
    c.status = Status::Closed {};
    ctx.put(keys::channel(c.id), &c);
    emit(ctx, ChannelsEvent::Closed { channel: c.id, paid: c.paid, refunded })
}

fn start_close(ctx: &mut Ctx<'_>, id: ChannelId) -> ExecResult {
    let mut c = payers(ctx, id)?;
    let Mode::Vouchers { challenge_blocks } = c.mode else {
        return Err(ErrorCode::WrongChannelMode.into());
    };
    if c.status != (Status::Open {}) {
        return Err(ErrorCode::ChannelClosing.into());
    }
    let until = ctx.env().height.checked_add(challenge_blocks).ok_or(ErrorCode::Overflow)?;
    c.status = Status::Closing { until };
    ctx.put(keys::channel(id), &c);
    emit(ctx, ChannelsEvent::CloseStarted { channel: id, until })
}

fn finish(ctx: &mut Ctx<'_>, id: ChannelId) -> ExecResult {
    let c = channel(ctx, id)?;
    match c.status {
        Status::Closing { until } if ctx.env().height >= until => close(ctx, c),
        Status::Closing { .. } => Err(ErrorCode::ChallengeOpen.into()),
        _ => Err(ErrorCode::NotClosing.into()),
    }
}

/// Pays a stream's payee what has accrued (the caller stores `c`).
fn withdraw(ctx: &mut Ctx<'_>, c: &mut Channel) -> ExecResult {
    if !matches!(c.mode, Mode::Stream { .. }) {
        return Err(ErrorCode::WrongChannelMode.into());
    }
    let accrued = c.accrued(ctx.env().timestamp_ms);
    if accrued <= c.paid {
        return Err(ErrorCode::NothingAccrued.into());
    }
    pay_payee(ctx, c, accrued)
}

fn cancel(ctx: &mut Ctx<'_>, id: ChannelId) -> ExecResult {
    let mut c = channel(ctx, id)?;
    if ctx.signer() != c.payer && ctx.signer() != c.payee {
        return Err(ErrorCode::NotPayer.into());
    }
    if !matches!(c.mode, Mode::Stream { .. }) {
        return Err(ErrorCode::WrongChannelMode.into());
    }
    if c.accrued(ctx.env().timestamp_ms) > c.paid {
        withdraw(ctx, &mut c)?;
    }
    close(ctx, c)
}

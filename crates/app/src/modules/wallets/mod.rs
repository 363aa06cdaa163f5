//! The wallets module: account policies the chain enforces on every call, session keys, a
//! kill switch, recovery and k-of-n multisig accounts (see [`machina_types::wallets`] for
//! the rules).
//!
//! The executor enforces the signer's policy over every transaction through
//! [`enforce::TxGuard`]; a session key's act and a multisig's execution enforce the
//! policies of the account they act as through [`enforce::run_as`].
//!
//! Invariants (checked by the test chain after every block): a multisig's `open` counts its
//! proposal records (at most the chain's `proposals_open_max`), each proposal's approvals are
//! distinct members, and its `approved_at_ms` is set exactly when they reach the threshold.

pub use machina_types::wallets::{keys, params, state};

pub mod enforce;
mod multisig;
#[cfg(test)]
mod tests;

use super::{bank, identity};
use crate::{
    module::{Ctx, ExecResult, Module},
    state::Key,
};
use enforce::{Enforcer, run_as};
use machina_types::{
    Address, Amount, Call, ErrorCode, Event, WalletsCall,
    bank::AssetId,
    wallets::{Policy, WalletsEvent},
};
use state::Guarded;

/// The wallets module.
pub struct Wallets;

impl Module for Wallets {
    type Call = WalletsCall;

    fn hint(call: &WalletsCall, signer: &Address, keys: &mut Vec<Key>) {
        match call {
            WalletsCall::SetPolicy { account, .. }
            | WalletsCall::RemovePolicy { account }
            | WalletsCall::Freeze { account }
            | WalletsCall::Unfreeze { account }
            | WalletsCall::RevokeSessionKey { account, .. }
            | WalletsCall::AddSessionKey { account, .. } => {
                keys.extend([self::keys::policy(account), identity::keys::device_of_key(account)])
            }
            WalletsCall::Recover { account, asset, to, .. } => {
                keys.extend([self::keys::policy(account), identity::keys::device_of_key(account)]);
                match asset {
                    None => keys.extend([bank::keys::account(account), bank::keys::account(to)]),
                    Some(id) => keys.extend([
                        bank::keys::asset_balance(*id, account),
                        bank::keys::asset_balance(*id, to),
                    ]),
                }
            }
            WalletsCall::Act { account, calls } => {
                keys.extend([self::keys::session(account, signer), self::keys::policy(account)]);
                calls.iter().for_each(|c| crate::modules::hint(c, account, keys));
            }
            WalletsCall::CreateMultisig { .. } => {}
            WalletsCall::Propose { multisig, .. } => keys.push(self::keys::multisig(multisig)),
            WalletsCall::Approve { multisig, proposal }
            | WalletsCall::Cancel { multisig, proposal } => keys.extend([
                self::keys::multisig(multisig),
                self::keys::proposal(multisig, *proposal),
            ]),
            WalletsCall::Execute { multisig, proposal } => keys.extend([
                self::keys::multisig(multisig),
                self::keys::proposal(multisig, *proposal),
                self::keys::policy(multisig),
            ]),
        }
    }

    fn execute(ctx: &mut Ctx<'_>, call: &WalletsCall) -> ExecResult {
        match call {
            WalletsCall::SetPolicy { account, policy } => set_policy(ctx, account, policy),
            WalletsCall::RemovePolicy { account } => remove_policy(ctx, account),
            WalletsCall::Freeze { account } => set_frozen(ctx, account, true),
            WalletsCall::Unfreeze { account } => set_frozen(ctx, account, false),
            WalletsCall::Recover { account, asset, amount, to } => {
                recover(ctx, account, *asset, *amount, to)
            }
            WalletsCall::AddSessionKey { account, key, policy } => {
                add_session(ctx, account, key, policy)
            }
            WalletsCall::RevokeSessionKey { account, key } => revoke_session(ctx, account, key),
            WalletsCall::Act { account, calls } => act(ctx, account, calls),
            WalletsCall::CreateMultisig { members, threshold, timelock_ms } => {
                multisig::create(ctx, members, *threshold, *timelock_ms)
            }
            WalletsCall::Propose { multisig, calls } => multisig::propose(ctx, multisig, calls),
            WalletsCall::Approve { multisig, proposal } => {
                multisig::approve(ctx, multisig, *proposal)
            }
            WalletsCall::Execute { multisig, proposal } => {
                multisig::execute(ctx, multisig, *proposal)
            }
            WalletsCall::Cancel { multisig, proposal } => {
                multisig::cancel(ctx, multisig, *proposal)
            }
        }
    }
}

fn emit(ctx: &mut Ctx<'_>, event: WalletsEvent) -> ExecResult {
    ctx.emit(Event::Wallets(event))
}

/// The policy stored on `account`, if any.
pub fn policy(ctx: &Ctx<'_>, account: &Address) -> ExecResult<Option<Guarded>> {
    Ok(ctx.get(&keys::policy(account))?)
}

/// Whether the signer may manage `account`'s policy: its guardian; the account itself while
/// it has no policy (or, with `own`, always: an account adds and revokes its own session
/// keys); the owner of the device `account` signs for, always.
fn manages(ctx: &Ctx<'_>, account: &Address, stored: Option<&Guarded>, own: bool) -> ExecResult {
    let signer = ctx.signer();
    let guardian = stored.map(|g| g.policy.guardian);
    if guardian == Some(signer) || (signer == *account && (own || stored.is_none())) {
        return Ok(());
    }
    match identity::device_of_account(ctx, account)? {
        Some(device) if device.owner == signer => Ok(()),
        _ => Err(ErrorCode::NotGuardian.into()),
    }
}

fn set_policy(ctx: &mut Ctx<'_>, account: &Address, policy: &Policy) -> ExecResult {
    let stored = self::policy(ctx, account)?;
    manages(ctx, account, stored.as_ref(), false)?;
    // What was spent in the current windows still counts against the new limits.
    let mut guarded = Guarded::new(policy.clone());
    if let Some(old) = stored {
        guarded.usage = old.usage.into_iter().filter(|u| policy.limit(u.asset).is_some()).collect();
        guarded.last_tx_ms = old.last_tx_ms;
    }
    ctx.put(keys::policy(account), &guarded);
    let (guardian, by) = (policy.guardian, ctx.signer());
    emit(ctx, WalletsEvent::PolicySet { account: *account, guardian, by })
}

fn remove_policy(ctx: &mut Ctx<'_>, account: &Address) -> ExecResult {
    let stored = self::policy(ctx, account)?.ok_or(ErrorCode::NoPolicy)?;
    manages(ctx, account, Some(&stored), false)?;
    ctx.delete(keys::policy(account));
    emit(ctx, WalletsEvent::PolicyRemoved { account: *account })
}

fn set_frozen(ctx: &mut Ctx<'_>, account: &Address, frozen: bool) -> ExecResult {
    let mut stored = self::policy(ctx, account)?.ok_or(ErrorCode::NoPolicy)?;
    manages(ctx, account, Some(&stored), false)?;
    stored.policy.frozen = frozen;
    ctx.put(keys::policy(account), &stored);
    emit(ctx, WalletsEvent::FreezeSet { account: *account, frozen })
}

fn recover(
    ctx: &mut Ctx<'_>,
    account: &Address,
    asset: Option<AssetId>,
    amount: Amount,
    to: &Address,
) -> ExecResult {
    let stored = self::policy(ctx, account)?.ok_or(ErrorCode::NoPolicy)?;
    manages(ctx, account, Some(&stored), false)?;
    if !stored.policy.frozen {
        return Err(ErrorCode::NotFrozen.into());
    }
    bank::pay(ctx, asset, account, to, amount)?;
    emit(ctx, WalletsEvent::Recovered { account: *account, asset, amount, to: *to })
}

fn add_session(ctx: &mut Ctx<'_>, account: &Address, key: &Address, policy: &Policy) -> ExecResult {
    let stored = self::policy(ctx, account)?;
    manages(ctx, account, stored.as_ref(), true)?;
    let policy = Policy { guardian: ctx.signer(), ..policy.clone() };
    let expires_at_ms = policy.expires_at_ms.ok_or(ErrorCode::InvalidCall)?;
    ctx.put(keys::session(account, key), &Guarded::new(policy));
    emit(ctx, WalletsEvent::SessionKeyAdded { account: *account, key: *key, expires_at_ms })
}

fn revoke_session(ctx: &mut Ctx<'_>, account: &Address, key: &Address) -> ExecResult {
    let stored = self::policy(ctx, account)?;
    manages(ctx, account, stored.as_ref(), true)?;
    if ctx.get::<Guarded>(&keys::session(account, key))?.is_none() {
        return Err(ErrorCode::UnknownSessionKey.into());
    }
    ctx.delete(keys::session(account, key));
    emit(ctx, WalletsEvent::SessionKeyRevoked { account: *account, key: *key })
}

/// A session key (the signer) makes `calls` as `account`, within the session's policy and
/// the account's.
fn act(ctx: &mut Ctx<'_>, account: &Address, calls: &[Call]) -> ExecResult {
    if ctx.nested() {
        return Err(ErrorCode::NestedExecution.into());
    }
    let key = ctx.signer();
    let now_ms = ctx.env().timestamp_ms;
    let session =
        Enforcer::load(&*ctx, keys::session(account, &key), *account, ErrorCode::SessionExpired)?
            .ok_or(ErrorCode::UnknownSessionKey)?;
    let mut enforcers = vec![session];
    enforcers.extend(Enforcer::of_account(&*ctx, *account)?);
    // The account's state first: a frozen account freezes its every session key.
    for e in enforcers.iter().rev() {
        e.admit(now_ms)?;
    }
    run_as(ctx, *account, calls, enforcers)?;
    emit(ctx, WalletsEvent::Acted { account: *account, key })
}

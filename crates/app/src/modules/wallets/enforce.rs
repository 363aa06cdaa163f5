//! Enforcement of a policy over one run of calls as an account: the checks before the run
//! (frozen, expired, cooldown), before each call (allow lists) and after each call
//! (spending against the limits), and the record of what the run spent.
//!
//! The executor enforces the signer's policy over a transaction through [`TxGuard`]; a
//! session key's act and a multisig's execution enforce theirs through [`run_as`].

use super::{bank, keys};
use crate::{
    module::{Ctx, ExecResult},
    state::{Key, Missing, StateRead},
};
use machina_types::{
    Address, Amount, BankCall, Call, ChannelsCall, ErrorCode, MarketCall,
    bank::AssetId,
    call::MODULES,
    market::market_id,
    wallets::state::{Guarded, Usage, window_start},
};

/// A policy in force over one run of calls as `account`.
pub struct Enforcer {
    key: Key,
    account: Address,
    guarded: Guarded,
    /// The code an expired policy fails with (`session_expired` for a session key).
    expired: ErrorCode,
    /// The account's balance of each limited asset when the run began.
    start: Vec<(Option<AssetId>, Amount)>,
    /// What the run spent of each limited asset, as of the last check.
    spent: Vec<(Option<AssetId>, Amount)>,
}

impl Enforcer {
    /// The policy stored at `key` on `account`'s behalf, if there is one.
    pub fn load(
        ctx: &dyn StateRead,
        key: Key,
        account: Address,
        expired: ErrorCode,
    ) -> Result<Option<Self>, Missing> {
        let Some(bytes) = ctx.read(&key)? else { return Ok(None) };
        let guarded: Guarded = crate::state::decode_value(&key, &bytes);
        Ok(Some(Self { key, account, guarded, expired, start: Vec::new(), spent: Vec::new() }))
    }

    /// The account's own policy, if it has one.
    pub fn of_account(ctx: &dyn StateRead, account: Address) -> Result<Option<Self>, Missing> {
        Self::load(ctx, keys::policy(&account), account, ErrorCode::PolicyExpired)
    }

    /// Whether the account may act at block time `now_ms`: not frozen, not expired, its
    /// cooldown passed.
    pub fn admit(&self, now_ms: u64) -> Result<(), ErrorCode> {
        let p = &self.guarded.policy;
        if p.frozen {
            return Err(ErrorCode::AccountFrozen);
        }
        if p.expires_at_ms.is_some_and(|t| now_ms >= t) {
            return Err(self.expired);
        }
        let next = self.guarded.last_tx_ms.map(|t| t.saturating_add(p.cooldown_ms));
        if p.cooldown_ms > 0 && next.is_some_and(|next| now_ms < next) {
            return Err(ErrorCode::CooldownActive);
        }
        Ok(())
    }

    /// Whether the policy's allow lists let the account make `call`.
    pub fn allows(&self, call: &Call) -> Result<(), ErrorCode> {
        let p = &self.guarded.policy;
        if !p.modules.is_empty() && !p.modules.contains(&module_tag(call)) {
            return Err(ErrorCode::CallNotAllowed);
        }
        if !p.counterparties.is_empty()
            && counterparty(call).is_some_and(|to| !p.counterparties.contains(&to))
        {
            return Err(ErrorCode::CounterpartyNotAllowed);
        }
        if !p.markets.is_empty() && !markets(call).iter().all(|m| p.markets.contains(m)) {
            return Err(ErrorCode::MarketNotAllowed);
        }
        Ok(())
    }

    /// Records the account's balances of the limited assets as the run begins.
    pub fn begin(&mut self, ctx: &Ctx<'_>) -> Result<(), Missing> {
        self.start = self.balances(ctx)?;
        self.spent.clear();
        Ok(())
    }

    /// Checks what the run has spent so far (the decrease of each limited balance since it
    /// began) against the per-transaction caps and what is left of each window.
    pub fn check(&mut self, ctx: &Ctx<'_>) -> ExecResult {
        let now_ms = ctx.env().timestamp_ms;
        let balances = self.balances(ctx)?;
        self.spent.clear();
        for ((asset, before), (_, after)) in self.start.iter().zip(&balances) {
            let spent = before.saturating_sub(*after);
            let limit = self.guarded.policy.limit(*asset).expect("balances follow the limits");
            if limit.per_tx.is_some_and(|cap| spent > cap) {
                return Err(ErrorCode::OverTransactionCap.into());
            }
            let total = self.guarded.spent(*asset, now_ms).checked_add(spent);
            if total.is_none_or(|total| total > limit.per_period) {
                return Err(ErrorCode::OverSpendingLimit.into());
            }
            self.spent.push((*asset, spent));
        }
        Ok(())
    }

    /// Stores what the run spent and its time (for the cooldown), if the policy is still
    /// the one enforced (a run may have replaced or removed it).
    pub fn commit(self, ctx: &mut Ctx<'_>) -> Result<(), Missing> {
        let now_ms = ctx.env().timestamp_ms;
        let Some(mut stored) = ctx.get::<Guarded>(&self.key)? else { return Ok(()) };
        if stored.policy != self.guarded.policy {
            return Ok(());
        }
        for (asset, spent) in &self.spent {
            let limit = stored.policy.limit(*asset).expect("spending follows the limits");
            let start = window_start(now_ms, limit.period_ms);
            // Checked against the window's limit already.
            let total = stored.spent(*asset, now_ms) + spent;
            stored.usage.retain(|u| u.asset != *asset);
            stored.usage.push(Usage { asset: *asset, window_start_ms: start, spent: total });
        }
        stored.last_tx_ms = Some(now_ms);
        ctx.put(self.key, &stored);
        Ok(())
    }

    /// The policy enforced.
    pub fn guarded(&self) -> &Guarded {
        &self.guarded
    }

    fn balances(&self, ctx: &Ctx<'_>) -> Result<Vec<(Option<AssetId>, Amount)>, Missing> {
        let limits = &self.guarded.policy.limits;
        limits.iter().map(|l| Ok((l.asset, balance(ctx, l.asset, &self.account)?))).collect()
    }
}

/// `account`'s balance of `asset` (the native token if `None`).
pub fn balance(
    ctx: &Ctx<'_>,
    asset: Option<AssetId>,
    account: &Address,
) -> Result<Amount, Missing> {
    match asset {
        None => Ok(bank::account(ctx, account)?.balance),
        Some(id) => bank::asset_balance(ctx, id, account),
    }
}

/// The tag of the module `call` is for.
fn module_tag(call: &Call) -> u8 {
    let module = call.module();
    MODULES.iter().find(|(name, ..)| *name == module).expect("every call has a module").1
}

/// Whom `call` pays, if it is a transfer or opens a channel or stream.
fn counterparty(call: &Call) -> Option<Address> {
    match call {
        Call::Bank(
            BankCall::Transfer { to, .. }
            | BankCall::TransferAsset { to, .. }
            | BankCall::TransferNft { to, .. },
        ) => Some(*to),
        Call::Channels(
            ChannelsCall::Open { payee, .. } | ChannelsCall::OpenStream { payee, .. },
        ) => Some(*payee),
        _ => None,
    }
}

/// The markets `call` trades in, if it is an offer or an intent.
fn markets(call: &Call) -> Vec<machina_types::market::MarketId> {
    match call {
        Call::Market(MarketCall::Offer { kind, region, .. }) => vec![market_id(kind, region)],
        Call::Market(MarketCall::Intent { region, components, .. }) => {
            components.iter().map(|c| market_id(&c.kind, region)).collect()
        }
        _ => Vec::new(),
    }
}

/// Runs `calls` as `account`, each checked against every enforcer's allow lists and
/// followed by a check of its spending; all or none take effect. Stores what the enforcers
/// counted if they succeed; fails with the first refusal or failing call's code.
pub fn run_as(
    ctx: &mut Ctx<'_>,
    account: Address,
    calls: &[Call],
    mut enforcers: Vec<Enforcer>,
) -> ExecResult {
    for e in &mut enforcers {
        e.begin(ctx)?;
    }
    ctx.attempt_as(account, |ctx| {
        for call in calls {
            for e in &enforcers {
                e.allows(call)?;
            }
            crate::modules::execute(ctx, call)?;
            for e in &mut enforcers {
                e.check(ctx)?;
            }
        }
        Ok(())
    })??;
    for e in enforcers {
        e.commit(ctx)?;
    }
    Ok(())
}

/// The executor's hook: the signer's policy over one transaction.
pub struct TxGuard(Option<Enforcer>);

/// Why a transaction's guard cannot be set up.
pub enum GuardError {
    /// Not includable (frozen, expired, in its cooldown); nothing changes.
    Reject(ErrorCode),
    /// A key was not loaded.
    Missing(Missing),
}

impl TxGuard {
    /// The keys [`TxGuard::load`] reads.
    pub fn hint(signer: &Address, out: &mut Vec<Key>) {
        out.push(keys::policy(signer));
    }

    /// The signer's policy, refusing the transaction at inclusion if the signer is frozen,
    /// its policy expired or its cooldown has not passed at block time `now_ms`.
    pub fn load(view: &dyn StateRead, signer: Address, now_ms: u64) -> Result<Self, GuardError> {
        let enforcer = Enforcer::of_account(view, signer).map_err(GuardError::Missing)?;
        if let Some(e) = &enforcer {
            e.admit(now_ms).map_err(GuardError::Reject)?;
        }
        Ok(Self(enforcer))
    }

    /// Records the transaction's time for the cooldown, with its fee (kept whatever its
    /// calls do). Only a policy with a cooldown needs it.
    pub fn note_included(&self, ctx: &mut Ctx<'_>) {
        if let Some(e) = &self.0
            && e.guarded.policy.cooldown_ms > 0
        {
            let mut stored = e.guarded.clone();
            stored.last_tx_ms = Some(ctx.env().timestamp_ms);
            ctx.put(e.key, &stored);
        }
    }

    /// Records the signer's balances before the calls.
    pub fn begin(&mut self, ctx: &Ctx<'_>) -> Result<(), Missing> {
        self.0.as_mut().map_or(Ok(()), |e| e.begin(ctx))
    }

    /// Whether the policy lets the signer make `call`.
    pub fn allows(&self, call: &Call) -> Result<(), ErrorCode> {
        self.0.as_ref().map_or(Ok(()), |e| e.allows(call))
    }

    /// Checks the spending of the calls so far.
    pub fn check(&mut self, ctx: &Ctx<'_>) -> ExecResult {
        self.0.as_mut().map_or(Ok(()), |e| e.check(ctx))
    }

    /// Stores what the transaction's calls spent, once they all succeeded.
    pub fn commit(self, ctx: &mut Ctx<'_>) -> Result<(), Missing> {
        match self.0 {
            Some(e) if !e.spent.iter().all(|(_, s)| *s == 0) => e.commit(ctx),
            _ => Ok(()),
        }
    }
}

/// Mempool admission's check of a sender's stored policy (`None`: no policy) at time
/// `now_ms`: a frozen account, or one whose policy has expired, is refused.
pub fn admits(policy: Option<&Guarded>, now_ms: u64) -> Result<(), ErrorCode> {
    match policy {
        Some(g) if g.policy.frozen => Err(ErrorCode::AccountFrozen),
        Some(g) if g.policy.expires_at_ms.is_some_and(|t| now_ms >= t) => {
            Err(ErrorCode::PolicyExpired)
        }
        _ => Ok(()),
    }
}

//! Agent wallets: account policies the chain enforces on every call, session keys, a kill
//! switch, recovery and k-of-n multisig accounts.
//!
//! # Policies
//!
//! A [`Policy`] on an account (`wallets/policy/<address>`) names a `guardian` and bounds
//! what the account may do:
//!
//! - `frozen`: a transaction signed by the account is rejected at inclusion (no fee, no
//!   nonce) and refused by mempool admission with `account_frozen`; its session keys may
//!   not act either. Freezing takes effect from the next transaction.
//! - `expires_at_ms`: from that block time on, the account may make no calls
//!   (`policy_expired`, rejected like a frozen account's).
//! - `cooldown_ms`: a transaction less than this after the account's previous included one
//!   (block time) is rejected at inclusion with `cooldown_active` (and leaves the mempool:
//!   send it again once the cooldown has passed).
//! - `limits` (at most [`POLICY_LIMITS_MAX`], one per asset): the spending of an asset (the
//!   native token, or a bank asset) is the decrease of the account's balance of it from the
//!   start of the transaction's calls to the end of each call, so every module's spending
//!   counts (transfers, escrowed bids, deposits, pools); the fee is not spending. Spending is
//!   net within a transaction: what its calls credit to the account (a withdrawal, a refund)
//!   offsets what they debit, never beyond zero; a later transaction's credit gives nothing
//!   back. A replaced policy keeps what its limits' current windows spent. A
//!   transaction spending more than `per_tx` fails with `over_transaction_cap`; one taking
//!   the spending of the current window over `per_period` fails with
//!   `over_spending_limit`. Windows are fixed: `[k * period_ms, (k + 1) * period_ms)` of
//!   block time. A failed transaction's calls leave no writes and its fee is paid.
//! - allow lists (an empty list allows everything): `modules` (module tags, at most
//!   [`POLICY_MODULES_MAX`]) refuses a call to another module with `call_not_allowed`;
//!   `counterparties` (at most [`POLICY_COUNTERPARTIES_MAX`]) refuses a bank transfer of
//!   native tokens, assets or NFTs to anyone else with `counterparty_not_allowed`;
//!   `markets` (at most [`POLICY_MARKETS_MAX`]) refuses a market offer or intent in another
//!   market with `market_not_allowed`. Calls that name no payee or market pass those two
//!   lists; a module list closes the other routes value can take.
//!
//! Who sets a policy: an account without one may set its own (naming any guardian, itself
//! included); afterwards only its guardian changes, freezes, unfreezes or removes it, or
//! recovers from it. The owner of a device may always do all of this for the device's
//! account (current or rotated-away key), with or without a policy in place and without the
//! device's consent: devices spend within the limits their owners set. An account that is
//! its own guardian can lift its own policy; a binding policy names someone else.
//!
//! # Session keys
//!
//! The guardian, the device owner or the account itself adds a key for an account with a
//! policy of its own and a required expiry (`wallets/session/<account>/<key>`); revoking
//! deletes it at once. The key signs transactions (paying their fees from its own balance)
//! with [`WalletsCall::Act`]: up to [`ACT_CALLS_MAX`] calls made as the account, checked
//! against the session's policy and the account's (frozen, expiry, cooldown, allow lists,
//! limits; spending is tracked per session key and per account). Calls to this module
//! cannot be made through a session key (a session could otherwise widen itself), and an
//! `Act` carrying a call that carries calls is refused while decoding.
//!
//! # Multisig accounts
//!
//! [`WalletsCall::CreateMultisig`] makes an account no key controls, at an address derived
//! from the creating call. A member proposes up to [`PROPOSAL_CALLS_MAX`] calls (its
//! approval counts), other members approve once each; once approvals reach the threshold
//! and `timelock_ms` of block time has passed since they did, any member executes: the calls
//! run as the multisig, checked against its policy if it has one. An execution whose calls
//! fail fails as a whole and the proposal stays open (executable again, or cancellable by
//! its proposer). A finished (executed or cancelled) proposal's record is deleted at once:
//! its history is in receipts; a multisig has at most the chain's
//! `wallets.proposals_open_max` open proposals. `Act` and `Execute` refuse to run inside
//! another call's calls (`nested_execution`), so executions never chain.

pub mod event;
#[cfg(feature = "std")]
pub mod keys;
pub mod params;
#[cfg(feature = "std")]
pub mod state;

pub use event::WalletsEvent;

use crate::{
    Amount, Call, ErrorCode, Hash, address::Address, bank::AssetId, limits::PROPOSAL_CALLS_MAX,
    market::MarketId,
};
use alloc::vec::Vec;
use commonware_codec::{Buf, Error};
use serde::{Deserialize, Serialize};

/// Most spending limits a policy holds (one per asset).
pub const POLICY_LIMITS_MAX: usize = 8;
/// Most counterparties a policy's allow list holds.
pub const POLICY_COUNTERPARTIES_MAX: usize = 32;
/// Most module tags a policy's allow list holds.
pub const POLICY_MODULES_MAX: usize = 16;
/// Most markets a policy's allow list holds.
pub const POLICY_MARKETS_MAX: usize = 16;
/// Longest spending window (ms): 366 days.
pub const PERIOD_MS_MAX: u64 = 366 * 24 * 3600 * 1000;
/// Longest cooldown between transactions (ms): 30 days.
pub const COOLDOWN_MS_MAX: u64 = 30 * 24 * 3600 * 1000;
/// Most calls one [`WalletsCall::Act`] makes.
pub const ACT_CALLS_MAX: usize = 4;
/// Fewest members of a multisig.
pub const MULTISIG_MEMBERS_MIN: usize = 2;
/// Most members of a multisig.
pub const MULTISIG_MEMBERS_MAX: usize = 16;
/// Longest multisig timelock (ms): 30 days.
pub const TIMELOCK_MS_MAX: u64 = 30 * 24 * 3600 * 1000;

/// The encoding tag of [`WalletsCall::Act`].
pub const ACT_TAG: u8 = 7;
/// The encoding tag of [`WalletsCall::Propose`].
pub const PROPOSE_TAG: u8 = 9;

/// Identifies a multisig's proposal (per multisig, from 1).
pub type ProposalId = u64;

/// A spending limit on one asset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Limit {
    /// The asset: a bank asset, or the native token if absent.
    pub asset: Option<AssetId>,
    /// Most spent in one window.
    pub per_period: Amount,
    /// The window's length (ms of block time, 1 to [`PERIOD_MS_MAX`]).
    pub period_ms: u64,
    /// Most spent by one transaction (at most `per_period`), if set.
    pub per_tx: Option<Amount>,
}

crate::struct_codec!(Limit { asset: plain, per_period: plain, period_ms: plain, per_tx: plain });

impl Limit {
    fn is_valid(&self) -> bool {
        (1..=PERIOD_MS_MAX).contains(&self.period_ms)
            && self.per_tx.is_none_or(|cap| cap <= self.per_period)
    }
}

/// What an account (or a session key) may do; see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Policy {
    /// Who may change, freeze, unfreeze, remove or recover from it (for a session key: who
    /// added it, set by the chain).
    pub guardian: Address,
    /// Whether the account (and every session key of it) is frozen.
    #[serde(default)]
    pub frozen: bool,
    /// Block time (ms) from which the account may make no calls; required for a session key.
    #[serde(default)]
    pub expires_at_ms: Option<u64>,
    /// Spending limits, one per asset.
    #[serde(default)]
    pub limits: Vec<Limit>,
    /// Allowed payees of bank transfers and of channels and streams opened (empty: anyone).
    #[serde(default)]
    pub counterparties: Vec<Address>,
    /// Allowed modules, by tag (empty: every module).
    #[serde(default)]
    pub modules: Vec<u8>,
    /// Allowed markets for market offers and intents (empty: every market).
    #[serde(default)]
    pub markets: Vec<MarketId>,
    /// Least block time (ms) between two of the account's transactions.
    #[serde(default)]
    pub cooldown_ms: u64,
}

crate::struct_codec!(Policy {
    guardian: plain,
    frozen: plain,
    expires_at_ms: plain,
    limits: vec(POLICY_LIMITS_MAX),
    counterparties: vec(POLICY_COUNTERPARTIES_MAX),
    modules: vec(POLICY_MODULES_MAX),
    markets: vec(POLICY_MARKETS_MAX),
    cooldown_ms: plain,
});

impl Policy {
    /// A policy with no limits, guarded by `guardian`.
    pub fn guarded_by(guardian: Address) -> Self {
        Self {
            guardian,
            frozen: false,
            expires_at_ms: None,
            limits: Vec::new(),
            counterparties: Vec::new(),
            modules: Vec::new(),
            markets: Vec::new(),
            cooldown_ms: 0,
        }
    }

    /// Stateless validity: lists within their bounds, one limit per asset, each limit's
    /// window in range and its per-transaction cap within its per-window amount, the
    /// cooldown in range.
    pub fn is_valid(&self) -> bool {
        self.limits.len() <= POLICY_LIMITS_MAX
            && self.counterparties.len() <= POLICY_COUNTERPARTIES_MAX
            && self.modules.len() <= POLICY_MODULES_MAX
            && self.markets.len() <= POLICY_MARKETS_MAX
            && self.limits.iter().all(Limit::is_valid)
            && distinct(&self.limits.iter().map(|l| l.asset).collect::<Vec<_>>())
            && self.cooldown_ms <= COOLDOWN_MS_MAX
    }

    /// The limit on `asset`, if any.
    pub fn limit(&self, asset: Option<AssetId>) -> Option<&Limit> {
        self.limits.iter().find(|l| l.asset == asset)
    }
}

/// A call to the wallets module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum WalletsCall {
    /// Set (or replace) an account's policy. Signer: the account if it has none, its
    /// guardian, or the owner of the device the account signs for.
    SetPolicy {
        /// The account.
        account: Address,
        /// The policy.
        policy: Policy,
    },
    /// Remove an account's policy. Signer: its guardian or the device owner.
    RemovePolicy {
        /// The account.
        account: Address,
    },
    /// Freeze an account and its session keys, from the next transaction on. Signer: its
    /// guardian or the device owner.
    Freeze {
        /// The account.
        account: Address,
    },
    /// Unfreeze an account. Signer: its guardian or the device owner.
    Unfreeze {
        /// The account.
        account: Address,
    },
    /// Move a frozen account's balance of an asset to `to`. Signer: its guardian or the
    /// device owner.
    Recover {
        /// The frozen account.
        account: Address,
        /// The asset (the native token if absent).
        asset: Option<AssetId>,
        /// How much.
        amount: Amount,
        /// Who receives it.
        to: Address,
    },
    /// Add (or replace) a session key for an account, with its own policy (whose
    /// `expires_at_ms` is required). Signer: the account, its guardian or the device owner.
    AddSessionKey {
        /// The account.
        account: Address,
        /// The session key's account (the address of its public key).
        key: Address,
        /// What the key may do.
        policy: Policy,
    },
    /// Revoke a session key at once. Signer: the account, its guardian or the device owner.
    RevokeSessionKey {
        /// The account.
        account: Address,
        /// The session key.
        key: Address,
    },
    /// Make calls as `account`. Signer: a session key of the account.
    Act {
        /// The account.
        account: Address,
        /// The calls, in order; all or none take effect. No wallets calls.
        #[cfg_attr(feature = "schema", schema(no_recursion))]
        calls: Vec<Call>,
    },
    /// Create a k-of-n multisig account at an address derived from this call.
    CreateMultisig {
        /// Its members (distinct).
        members: Vec<Address>,
        /// Approvals an execution needs.
        threshold: u8,
        /// Block time (ms) between reaching the threshold and executing.
        timelock_ms: u64,
    },
    /// Propose calls for a multisig to make (signer: a member; counts as its approval).
    Propose {
        /// The multisig.
        multisig: Address,
        /// The calls, made in order as the multisig; all or none take effect.
        #[cfg_attr(feature = "schema", schema(no_recursion))]
        calls: Vec<Call>,
    },
    /// Approve an open proposal (signer: a member that has not approved it).
    Approve {
        /// The multisig.
        multisig: Address,
        /// The proposal.
        proposal: ProposalId,
    },
    /// Make an approved proposal's calls after its timelock (signer: a member).
    Execute {
        /// The multisig.
        multisig: Address,
        /// The proposal.
        proposal: ProposalId,
    },
    /// Withdraw an open proposal (signer: its proposer).
    Cancel {
        /// The multisig.
        multisig: Address,
        /// The proposal.
        proposal: ProposalId,
    },
}

crate::enum_codec!(WalletsCall {
    0 => SetPolicy { account: plain, policy: plain },
    1 => RemovePolicy { account: plain },
    2 => Freeze { account: plain },
    3 => Unfreeze { account: plain },
    4 => Recover { account: plain, asset: plain, amount: plain, to: plain },
    5 => AddSessionKey { account: plain, key: plain, policy: plain },
    6 => RevokeSessionKey { account: plain, key: plain },
    7 => Act { account: plain, calls: with(read_act_calls) },
    8 => CreateMultisig {
        members: vec(MULTISIG_MEMBERS_MAX),
        threshold: plain,
        timelock_ms: plain,
    },
    9 => Propose { multisig: plain, calls: with(read_proposal_calls) },
    10 => Approve { multisig: plain, proposal: plain },
    11 => Execute { multisig: plain, proposal: plain },
    12 => Cancel { multisig: plain, proposal: plain },
});

fn read_act_calls(buf: &mut impl Buf) -> Result<Vec<Call>, Error> {
    crate::call::read_carried_calls(buf, ACT_CALLS_MAX, "Act")
}

/// Reads a multisig proposal's calls (see [`crate::call::read_carried_calls`]).
pub fn read_proposal_calls(buf: &mut impl Buf) -> Result<Vec<Call>, Error> {
    crate::call::read_carried_calls(buf, PROPOSAL_CALLS_MAX, "Propose")
}

/// The address of the multisig created by the call named `origin` (no key controls it).
pub fn multisig_address(origin: &Hash) -> Address {
    Address(Hash::of(&[b"machina/multisig/", &origin.0]).0)
}

fn distinct<T: PartialEq>(items: &[T]) -> bool {
    items.iter().enumerate().all(|(i, x)| !items[..i].contains(x))
}

fn carried_calls_valid(calls: &[Call], max: usize) -> bool {
    (1..=max).contains(&calls.len())
        && calls.iter().all(|c| !c.carries_calls() && c.check().is_ok())
}

impl crate::call::ModuleCall for WalletsCall {
    const MODULE: &'static str = "wallets";
    const TAG: u8 = 8;
    const ERRORS: core::ops::RangeInclusive<u16> = 650..=699;

    /// Stateless validity: policies within their bounds (a session key's with an expiry, and
    /// the key another account than the one it acts for),
    /// a positive recovery, 1 to [`ACT_CALLS_MAX`] valid calls in an act and none of this
    /// module's, 1 to [`PROPOSAL_CALLS_MAX`] valid calls in a proposal, multisigs of
    /// [`MULTISIG_MEMBERS_MIN`] to [`MULTISIG_MEMBERS_MAX`] distinct members with a threshold
    /// of 1 to their number and a timelock within [`TIMELOCK_MS_MAX`].
    fn check(&self) -> Result<(), ErrorCode> {
        let ok = match self {
            Self::SetPolicy { policy, .. } => policy.is_valid(),
            Self::AddSessionKey { account, key, policy } => {
                policy.is_valid() && policy.expires_at_ms.is_some() && key != account
            }
            Self::Recover { amount, .. } => *amount > 0,
            Self::Act { calls, .. } => {
                carried_calls_valid(calls, ACT_CALLS_MAX)
                    && calls.iter().all(|c| !matches!(c, Call::Wallets(_)))
            }
            Self::Propose { calls, .. } => carried_calls_valid(calls, PROPOSAL_CALLS_MAX),
            Self::CreateMultisig { members, threshold, timelock_ms } => {
                (MULTISIG_MEMBERS_MIN..=MULTISIG_MEMBERS_MAX).contains(&members.len())
                    && distinct(members)
                    && *threshold >= 1
                    && usize::from(*threshold) <= members.len()
                    && *timelock_ms <= TIMELOCK_MS_MAX
            }
            Self::RemovePolicy { .. }
            | Self::Freeze { .. }
            | Self::Unfreeze { .. }
            | Self::RevokeSessionKey { .. }
            | Self::Approve { .. }
            | Self::Execute { .. }
            | Self::Cancel { .. } => true,
        };
        if ok { Ok(()) } else { Err(ErrorCode::InvalidCall) }
    }
}

#[cfg(test)]
mod tests;

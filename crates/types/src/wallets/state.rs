//! The wallets module's stored values.

use super::{MULTISIG_MEMBERS_MAX, POLICY_LIMITS_MAX, Policy, ProposalId};
use crate::{Address, Amount, Call, bank::AssetId};
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// What an asset's limit has counted in its current window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Usage {
    /// The asset (the native token if absent).
    pub asset: Option<AssetId>,
    /// The start of the window counted (block time, ms).
    pub window_start_ms: u64,
    /// Spent in that window.
    pub spent: Amount,
}

crate::struct_codec!(Usage { asset: plain, window_start_ms: plain, spent: plain });

/// A policy in force (an account's, or a session key's) with what it has counted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Guarded {
    /// The policy.
    pub policy: Policy,
    /// Spending in the current window of each limited asset that spent in it.
    pub usage: Vec<Usage>,
    /// Block time (ms) of the last transaction counted, for the cooldown.
    pub last_tx_ms: Option<u64>,
}

crate::struct_codec!(Guarded { policy: plain, usage: vec(POLICY_LIMITS_MAX), last_tx_ms: plain });

impl Guarded {
    /// A policy with nothing counted yet.
    pub fn new(policy: Policy) -> Self {
        Self { policy, usage: Vec::new(), last_tx_ms: None }
    }

    /// What `asset` has spent in the window containing `now_ms` (none if its usage is of
    /// an earlier window, or if it has no limit).
    pub fn spent(&self, asset: Option<AssetId>, now_ms: u64) -> Amount {
        let Some(limit) = self.policy.limit(asset) else { return 0 };
        let start = window_start(now_ms, limit.period_ms);
        self.usage
            .iter()
            .find(|u| u.asset == asset && u.window_start_ms == start)
            .map_or(0, |u| u.spent)
    }
}

/// The start of the fixed window of `period_ms` containing `now_ms`.
pub fn window_start(now_ms: u64, period_ms: u64) -> u64 {
    now_ms - now_ms % period_ms
}

/// A k-of-n multisig account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Multisig {
    /// Its address.
    pub address: Address,
    /// Its members.
    pub members: Vec<Address>,
    /// Approvals an execution needs.
    pub threshold: u8,
    /// Block time (ms) between reaching the threshold and executing.
    pub timelock_ms: u64,
    /// The id the next proposal gets (ids below it without a record are finished).
    pub next_proposal: ProposalId,
    /// Proposals open.
    pub open: u32,
}

crate::struct_codec!(Multisig {
    address: plain,
    members: vec(MULTISIG_MEMBERS_MAX),
    threshold: plain,
    timelock_ms: plain,
    next_proposal: plain,
    open: plain,
});

/// An open proposal of a multisig (deleted once executed or cancelled).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct MultisigProposal {
    /// Its id.
    pub id: ProposalId,
    /// The multisig.
    pub multisig: Address,
    /// Who proposed it.
    pub proposer: Address,
    /// The calls to make as the multisig.
    #[cfg_attr(feature = "schema", schema(no_recursion))]
    pub calls: Vec<Call>,
    /// Members that approved it, in order.
    pub approvals: Vec<Address>,
    /// Block time (ms) at which approvals reached the threshold.
    pub approved_at_ms: Option<u64>,
}

crate::struct_codec!(MultisigProposal {
    id: plain,
    multisig: plain,
    proposer: plain,
    calls: with(super::read_proposal_calls),
    approvals: vec(MULTISIG_MEMBERS_MAX),
    approved_at_ms: plain,
});

//! The wallets module's events.

use super::ProposalId;
use crate::{Address, Amount, bank::AssetId};
use serde::{Deserialize, Serialize};

/// Something the wallets module did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum WalletsEvent {
    /// An account's policy was set or replaced.
    PolicySet {
        /// The account.
        account: Address,
        /// Its guardian.
        guardian: Address,
        /// Who set it.
        by: Address,
    },
    /// An account's policy was removed.
    PolicyRemoved {
        /// The account.
        account: Address,
    },
    /// An account was frozen or unfrozen.
    FreezeSet {
        /// The account.
        account: Address,
        /// Whether it is frozen now.
        frozen: bool,
    },
    /// A frozen account's balance was moved by its guardian.
    Recovered {
        /// The frozen account.
        account: Address,
        /// The asset (the native token if absent).
        asset: Option<AssetId>,
        /// How much.
        amount: Amount,
        /// Who received it.
        to: Address,
    },
    /// A session key was added (or replaced).
    SessionKeyAdded {
        /// The account.
        account: Address,
        /// The key.
        key: Address,
        /// When it expires (block time, ms).
        expires_at_ms: u64,
    },
    /// A session key was revoked.
    SessionKeyRevoked {
        /// The account.
        account: Address,
        /// The key.
        key: Address,
    },
    /// A session key made calls as its account.
    Acted {
        /// The account.
        account: Address,
        /// The key.
        key: Address,
    },
    /// A multisig was created.
    MultisigCreated {
        /// Its address.
        multisig: Address,
        /// Approvals an execution needs.
        threshold: u8,
        /// Its members.
        members: u8,
    },
    /// A member proposed calls.
    Proposed {
        /// The multisig.
        multisig: Address,
        /// The proposal.
        proposal: ProposalId,
        /// The proposer.
        proposer: Address,
    },
    /// A member approved a proposal.
    Approved {
        /// The multisig.
        multisig: Address,
        /// The proposal.
        proposal: ProposalId,
        /// The member.
        member: Address,
        /// Approvals so far.
        approvals: u8,
    },
    /// A proposal's calls were made.
    Executed {
        /// The multisig.
        multisig: Address,
        /// The proposal.
        proposal: ProposalId,
    },
    /// A proposal was withdrawn by its proposer.
    Cancelled {
        /// The multisig.
        multisig: Address,
        /// The proposal.
        proposal: ProposalId,
    },
}

crate::enum_codec!(WalletsEvent {
    0 => PolicySet { account: plain, guardian: plain, by: plain },
    1 => PolicyRemoved { account: plain },
    2 => FreezeSet { account: plain, frozen: plain },
    3 => Recovered { account: plain, asset: plain, amount: plain, to: plain },
    4 => SessionKeyAdded { account: plain, key: plain, expires_at_ms: plain },
    5 => SessionKeyRevoked { account: plain, key: plain },
    6 => Acted { account: plain, key: plain },
    7 => MultisigCreated { multisig: plain, threshold: plain, members: plain },
    8 => Proposed { multisig: plain, proposal: plain, proposer: plain },
    9 => Approved { multisig: plain, proposal: plain, member: plain, approvals: plain },
    10 => Executed { multisig: plain, proposal: plain },
    11 => Cancelled { multisig: plain, proposal: plain },
});

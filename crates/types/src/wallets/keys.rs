//! Every storage key of the wallets module, and their names in proofs.

use super::ProposalId;
use crate::{
    Address,
    describe::{KnownKey, decode_json},
    state::{Key, key},
};

/// An account's policy, with its spending so far.
pub fn policy(account: &Address) -> Key {
    key(&[b"wallets/policy/", &account.0])
}

/// A session key of an account, with its policy and spending so far.
pub fn session(account: &Address, session_key: &Address) -> Key {
    key(&[b"wallets/session/", &account.0, &session_key.0])
}

/// A multisig account.
pub fn multisig(address: &Address) -> Key {
    key(&[b"wallets/multisig/", &address.0])
}

/// An open proposal of a multisig.
pub fn proposal(multisig: &Address, id: ProposalId) -> Key {
    key(&[b"wallets/proposal/", &multisig.0, &id.to_be_bytes()])
}

/// The name of a policy's key in proofs: `wallets/policy/<account>`.
pub fn describe_policy(account: &Address) -> String {
    format!("wallets/policy/{account}")
}

/// The name of a session key's key in proofs: `wallets/session/<account>/<key>`.
pub fn describe_session(account: &Address, session_key: &Address) -> String {
    format!("wallets/session/{account}/{session_key}")
}

/// The name of a multisig's key in proofs: `wallets/multisig/<address>`.
pub fn describe_multisig(address: &Address) -> String {
    format!("wallets/multisig/{address}")
}

/// The name of a proposal's key in proofs: `wallets/proposal/<multisig>/<id>`.
pub fn describe_proposal(multisig: &Address, id: ProposalId) -> String {
    format!("wallets/proposal/{multisig}/{id}")
}

/// The key a description of one of this module's keys names, with its value's decoder.
pub fn described(parts: &[&str]) -> Option<KnownKey> {
    use super::state::{Guarded, Multisig, MultisigProposal};
    Some(match parts {
        ["wallets", "policy", a] => {
            KnownKey { key: policy(&a.parse().ok()?), decode: decode_json::<Guarded> }
        }
        ["wallets", "session", a, k] => KnownKey {
            key: session(&a.parse().ok()?, &k.parse().ok()?),
            decode: decode_json::<Guarded>,
        },
        ["wallets", "multisig", a] => {
            KnownKey { key: multisig(&a.parse().ok()?), decode: decode_json::<Multisig> }
        }
        ["wallets", "proposal", a, id] => KnownKey {
            key: proposal(&a.parse().ok()?, id.parse().ok()?),
            decode: decode_json::<MultisigProposal>,
        },
        _ => return None,
    })
}

//! Routes of the wallets module: an account's policy, a session key, a multisig and its open
//! proposals. Each answers the stored [`machina_types::wallets::state`] record.

use super::{Op, Routes, hex32, path, u64_any};
use machina_types::wallets::state::{Guarded, Multisig, MultisigProposal};
use utoipa::openapi::HttpMethod::Get;

/// Registers the wallets module's routes.
pub(super) fn register(r: &mut Routes) {
    let address = |what: &str| path("address", what, hex32());
    let guarded = r.schema::<Guarded>();
    let op = Op::new(
        "An account's wallet policy: guardian, frozen, expiry, spending limits, allow lists \
         (counterparties, modules, markets; empty allows all), cooldown; with what each limit \
         counted in its current window and the time of the last counted transaction.",
    )
    .param(address("Account address."))
    .ok(200, "The policy.", guarded.clone())
    .error(r, 400, "An invalid parameter (`invalid_parameter`).")
    .error(r, 404, "The account has no policy (`not_found`).")
    .fails(r, &[503]);
    r.add(Get, "/v1/accounts/{address}/policy", op);
    let op = Op::new(
        "A session key of an account: its own policy (its guardian is who added it; its expiry \
         is required) with what it counted.",
    )
    .param(address("Account address."))
    .param(path("key", "The session key's address.", hex32()))
    .ok(200, "The session key's policy.", guarded)
    .error(r, 400, "An invalid parameter (`invalid_parameter`).")
    .error(r, 404, "No such session key for the account, or revoked (`not_found`).")
    .fails(r, &[503]);
    r.add(Get, "/v1/accounts/{address}/session-keys/{key}", op);
    let multisig = r.schema::<Multisig>();
    let op = Op::new(
        "A multisig account: members, threshold, timelock, the id its next proposal gets and \
         how many proposals are open.",
    )
    .param(address("The multisig's address."))
    .ok(200, "The multisig.", multisig)
    .error(r, 400, "An invalid parameter (`invalid_parameter`).")
    .error(r, 404, "No such multisig (`not_found`).")
    .fails(r, &[503]);
    r.add(Get, "/v1/multisigs/{address}", op);
    let proposal = r.schema::<MultisigProposal>();
    let op = Op::new(
        "An open proposal of a multisig: proposer, calls, approvals and when they reached the \
         threshold. Executed and cancelled proposals are deleted (their events remain).",
    )
    .param(address("The multisig's address."))
    .param(path("id", "Proposal id (from 1).", u64_any()))
    .ok(200, "The proposal.", proposal)
    .error(r, 400, "An invalid parameter (`invalid_parameter`).")
    .error(r, 404, "No such open proposal (`not_found`).")
    .fails(r, &[503]);
    r.add(Get, "/v1/multisigs/{address}/proposals/{id}", op);
}

//! k-of-n multisig accounts: creation, proposals, approvals, timelocked execution as the
//! multisig, cancellation.

use super::{emit, enforce, keys};
use crate::module::{Ctx, ExecResult};
use machina_types::{
    Address, Call, ErrorCode,
    wallets::{
        ProposalId, WalletsEvent, multisig_address,
        state::{Multisig, MultisigProposal},
    },
};

fn multisig(ctx: &Ctx<'_>, address: &Address) -> ExecResult<Multisig> {
    Ok(ctx.get(&keys::multisig(address))?.ok_or(ErrorCode::UnknownMultisig)?)
}

/// The multisig at `address`, if the signer is one of its members.
fn as_member(ctx: &Ctx<'_>, address: &Address) -> ExecResult<Multisig> {
    let m = multisig(ctx, address)?;
    if !m.members.contains(&ctx.signer()) {
        return Err(ErrorCode::NotMember.into());
    }
    Ok(m)
}

/// An open proposal: `multisig_proposal_finished` for an id already given out whose record
/// is gone (executed or cancelled), `unknown_multisig_proposal` for one never given out.
fn proposal(ctx: &Ctx<'_>, m: &Multisig, id: ProposalId) -> ExecResult<MultisigProposal> {
    match ctx.get(&keys::proposal(&m.address, id))? {
        Some(p) => Ok(p),
        None if id >= 1 && id < m.next_proposal => Err(ErrorCode::MultisigProposalFinished.into()),
        None => Err(ErrorCode::UnknownMultisigProposal.into()),
    }
}

/// Removes a finished proposal's record and counts it closed.
fn finish(ctx: &mut Ctx<'_>, mut m: Multisig, id: ProposalId) {
    ctx.delete(keys::proposal(&m.address, id));
    m.open = m.open.checked_sub(1).expect("a finished proposal was open");
    ctx.put(keys::multisig(&m.address), &m);
}

pub(super) fn create(
    ctx: &mut Ctx<'_>,
    members: &[Address],
    threshold: u8,
    timelock_ms: u64,
) -> ExecResult {
    let address = multisig_address(&ctx.origin());
    assert!(
        ctx.get::<Multisig>(&keys::multisig(&address))?.is_none(),
        "a call's origin is unique, so is the multisig derived from it"
    );
    let m = Multisig {
        address,
        members: members.to_vec(),
        threshold,
        timelock_ms,
        next_proposal: 1,
        open: 0,
    };
    ctx.put(keys::multisig(&address), &m);
    let members = members.len() as u8;
    emit(ctx, WalletsEvent::MultisigCreated { multisig: address, threshold, members })
}

pub(super) fn propose(ctx: &mut Ctx<'_>, address: &Address, calls: &[Call]) -> ExecResult {
    let mut m = as_member(ctx, address)?;
    if m.open >= ctx.env().genesis.params.wallets.proposals_open_max {
        return Err(ErrorCode::TooManyProposals.into());
    }
    let id = m.next_proposal;
    m.next_proposal = id.checked_add(1).ok_or(ErrorCode::Overflow)?;
    m.open += 1;
    let proposer = ctx.signer();
    let reached = usize::from(m.threshold) <= 1;
    let p = MultisigProposal {
        id,
        multisig: *address,
        proposer,
        calls: calls.to_vec(),
        approvals: vec![proposer],
        approved_at_ms: reached.then_some(ctx.env().timestamp_ms),
    };
    ctx.put(keys::proposal(address, id), &p);
    ctx.put(keys::multisig(address), &m);
    emit(ctx, WalletsEvent::Proposed { multisig: *address, proposal: id, proposer })
}

pub(super) fn approve(ctx: &mut Ctx<'_>, address: &Address, id: ProposalId) -> ExecResult {
    let m = as_member(ctx, address)?;
    let mut p = proposal(ctx, &m, id)?;
    let member = ctx.signer();
    if p.approvals.contains(&member) {
        return Err(ErrorCode::AlreadyApproved.into());
    }
    p.approvals.push(member);
    if p.approved_at_ms.is_none() && p.approvals.len() >= usize::from(m.threshold) {
        p.approved_at_ms = Some(ctx.env().timestamp_ms);
    }
    let approvals = p.approvals.len() as u8;
    ctx.put(keys::proposal(address, id), &p);
    emit(ctx, WalletsEvent::Approved { multisig: *address, proposal: id, member, approvals })
}

/// Makes an approved proposal's calls as the multisig, within the multisig's own policy if
/// it has one. If they fail, the whole call fails and the proposal stays open.
pub(super) fn execute(ctx: &mut Ctx<'_>, address: &Address, id: ProposalId) -> ExecResult {
    if ctx.nested() {
        return Err(ErrorCode::NestedExecution.into());
    }
    let m = as_member(ctx, address)?;
    let p = proposal(ctx, &m, id)?;
    let Some(approved_at_ms) = p.approved_at_ms else {
        return Err(ErrorCode::ThresholdNotMet.into());
    };
    let now_ms = ctx.env().timestamp_ms;
    if now_ms < approved_at_ms.saturating_add(m.timelock_ms) {
        return Err(ErrorCode::MultisigTimelockActive.into());
    }
    finish(ctx, m, id);
    let policy = enforce::Enforcer::of_account(&*ctx, *address)?;
    if let Some(e) = &policy {
        e.admit(now_ms)?;
    }
    enforce::run_as(ctx, *address, &p.calls, policy.into_iter().collect())?;
    emit(ctx, WalletsEvent::Executed { multisig: *address, proposal: id })
}

pub(super) fn cancel(ctx: &mut Ctx<'_>, address: &Address, id: ProposalId) -> ExecResult {
    let m = multisig(ctx, address)?;
    let p = proposal(ctx, &m, id)?;
    if p.proposer != ctx.signer() {
        return Err(ErrorCode::NotProposer.into());
    }
    finish(ctx, m, id);
    emit(ctx, WalletsEvent::Cancelled { multisig: *address, proposal: id })
}

//! Holder governance: proposals of calls for the treasury to make, votes weighted by the
//! shares held when the proposal was made, a timelock, execution by anyone, expiry.
//!
//! The machinery is the treasury's: a proposal is a list of ordinary calls the treasury
//! signs if approved, so every action holders can take (spend from the reserve, set
//! offers, appoint an operator with a role grant, transfer or decommission a device,
//! change the split or the rules) is a call of its module, checked by that module. Chain
//! governance reuses it with the chain's account in the treasury's place.

use super::*;
use machina_types::{
    Call, Hash,
    ownership::{
        ProposalId,
        state::{Ballot, Decision, Proposal, ProposalStatus},
    },
};

/// The proposal `id`.
pub fn proposal(ctx: &Ctx<'_>, id: ProposalId) -> ExecResult<Proposal> {
    Ok(ctx.get(&keys::proposal(id))?.ok_or(ErrorCode::UnknownProposal)?)
}

pub(super) fn propose(
    ctx: &mut Ctx<'_>,
    id: MachineId,
    calls: &[Call],
    description: &Hash,
) -> ExecResult {
    let proposer = ctx.signer();
    let m = machine(ctx, id)?;
    let height = ctx.env().height;
    // Votes weigh balances at the end of the previous block: shares moved in this block,
    // before or after the proposal, do not count.
    let snapshot = height.saturating_sub(1);
    let held = shares_at(ctx, &m, &proposer, snapshot)?;
    let g = m.governance;
    let needed = (u128::from(m.supply) * u128::from(g.threshold_bps)).div_ceil(u128::from(BPS));
    if held == 0 || u128::from(held) < needed {
        return Err(ErrorCode::BelowThreshold.into());
    }
    if g.deposit > 0 {
        bank::transfer(ctx, &proposer, &escrow_account(), g.deposit)?;
    }
    let circulating = m.supply - shares_at(ctx, &m, &m.treasury, snapshot)?;
    let mut counters: Counters = ctx.get(&keys::counters())?.unwrap_or_default();
    let proposal = counters.proposal.max(1);
    counters.proposal = proposal.checked_add(1).ok_or(ErrorCode::Overflow)?;
    ctx.put(keys::counters(), &counters);
    let p = Proposal {
        id: proposal,
        machine: id,
        proposer,
        calls: calls.to_vec(),
        description: *description,
        governance: g,
        snapshot,
        circulating,
        end: height.saturating_add(g.voting_blocks - 1),
        yes: 0,
        no: 0,
        deposit: g.deposit,
        status: ProposalStatus::Open,
    };
    ctx.put(keys::proposal(proposal), &p);
    emit(ctx, OwnershipEvent::Proposed { proposal, machine: id, proposer })
}

pub(super) fn vote(ctx: &mut Ctx<'_>, id: ProposalId, approve: bool) -> ExecResult {
    let voter = ctx.signer();
    let mut p = proposal(ctx, id)?;
    if p.status != ProposalStatus::Open || ctx.env().height > p.end {
        return Err(ErrorCode::VotingClosed.into());
    }
    if ctx.get::<Ballot>(&keys::ballot(id, &voter))?.is_some() {
        return Err(ErrorCode::AlreadyVoted.into());
    }
    let m = machine(ctx, p.machine)?;
    let weight = shares_at(ctx, &m, &voter, p.snapshot)?;
    if weight == 0 || voter == m.treasury {
        return Err(ErrorCode::NoVotingShares.into());
    }
    let tally = if approve { &mut p.yes } else { &mut p.no };
    *tally = tally.checked_add(weight).ok_or(ErrorCode::Overflow)?;
    ctx.put(keys::ballot(id, &voter), &Ballot { approve, weight });
    ctx.put(keys::proposal(id), &p);
    emit(ctx, OwnershipEvent::Voted { proposal: id, voter, approve, weight })
}

pub(super) fn execute(ctx: &mut Ctx<'_>, id: ProposalId) -> ExecResult {
    let mut p = proposal(ctx, id)?;
    let height = ctx.env().height;
    if p.status != ProposalStatus::Open {
        return Err(ErrorCode::ProposalFinished.into());
    }
    match p.decision(height) {
        Decision::Voting => return Err(ErrorCode::VotingOpen.into()),
        Decision::NoQuorum | Decision::Rejected => return Err(ErrorCode::NotApproved.into()),
        Decision::Approved if height < p.executable_from() => {
            return Err(ErrorCode::TimelockActive.into());
        }
        Decision::Approved if height > p.expires() => {
            return Err(ErrorCode::ProposalExpired.into());
        }
        Decision::Approved => {}
    }
    let mut m = machine(ctx, p.machine)?;
    sync(ctx, &mut m)?;
    store_machine(ctx, &m);
    let treasury = m.treasury;
    let calls = std::mem::take(&mut p.calls);
    ctx.attempt_as(treasury, |ctx| {
        calls.iter().try_for_each(|call| crate::modules::execute(ctx, call))
    })??;
    p.calls = calls;
    // What the calls spent came out of the reserve: never out of what holders are owed,
    // nor shares reserved by offerings.
    let mut m = machine(ctx, p.machine)?;
    let balance = bank::account(ctx, &treasury)?.balance;
    m.reserve = balance.checked_sub(m.pending).ok_or(ErrorCode::TreasuryOverspent)?;
    if shares_of(ctx, &m, &treasury)? < m.offered {
        return Err(ErrorCode::TreasuryOverspent.into());
    }
    store_machine(ctx, &m);
    p.status = ProposalStatus::Executed;
    ctx.put(keys::proposal(id), &p);
    if p.deposit > 0 {
        bank::transfer(ctx, &escrow_account(), &p.proposer, p.deposit)?;
    }
    emit(ctx, OwnershipEvent::Executed { proposal: id })
}

pub(super) fn close(ctx: &mut Ctx<'_>, id: ProposalId) -> ExecResult {
    let mut p = proposal(ctx, id)?;
    let height = ctx.env().height;
    if p.status != ProposalStatus::Open {
        return Err(ErrorCode::ProposalFinished.into());
    }
    let decision = p.decision(height);
    match decision {
        Decision::Voting => return Err(ErrorCode::VotingOpen.into()),
        Decision::Approved if height <= p.expires() => {
            return Err(ErrorCode::ProposalExecutable.into());
        }
        _ => {}
    }
    p.status = ProposalStatus::Closed;
    ctx.put(keys::proposal(id), &p);
    // A proposal that drew too few votes to decide anything forfeits its deposit to the
    // treasury (its holders): the price of spam.
    let returned = decision != Decision::NoQuorum;
    if p.deposit > 0 {
        let to = if returned { p.proposer } else { treasury(p.machine) };
        bank::transfer(ctx, &escrow_account(), &to, p.deposit)?;
    }
    emit(ctx, OwnershipEvent::ProposalClosed { proposal: id, deposit_returned: returned })
}

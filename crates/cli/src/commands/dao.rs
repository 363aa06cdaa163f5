//! `machina dao`: holder proposals for a machine's treasury, votes, execution.

use super::ownership::{events, execute, percent};
use super::{
    device::{DeviceCtx, Signing},
    rights::RightTerms,
};
use anyhow::{Context as _, Result, bail};
use clap::{ArgGroup, Subcommand};
use machina_sdk::api::ProposalView;
use machina_types::{
    Address, Call, Hash, MarketCall, OwnershipCall,
    ownership::{
        OwnershipEvent,
        state::{Ballot, Decision, ProposalStatus},
    },
};
use serde_json::json;

/// `machina dao`.
#[derive(Subcommand, Debug)]
pub enum DaoCommand {
    /// Propose calls for a machine's treasury to make (needs the machine's share threshold;
    /// locks its deposit).
    Propose {
        /// The machine.
        #[arg(long)]
        machine: u64,
        /// A call as JSON, e.g. `{"module":"bank","call":{"op":"transfer","to":"<address>",
        /// "amount":5}}` (repeat; made in order, all or none).
        #[arg(long = "call", required = true)]
        calls: Vec<String>,
        /// The proposal's description (the chain keeps its hash).
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Propose a new floor price and capacity for an offer of a machine's device.
    ProposeFloor {
        /// The machine.
        #[arg(long)]
        machine: u64,
        /// The offer.
        #[arg(long)]
        offer: u64,
        /// The new lowest price per unit.
        #[arg(long)]
        floor_price: u64,
        /// The units it may still sell.
        #[arg(long)]
        capacity: u64,
    },
    /// Propose minting a usage right on a machine's device (its treasury owns it, so holders
    /// decide). The window counts from now: it must not have ended when the proposal is
    /// executed, after its vote and timelock.
    ProposeRight {
        /// The machine.
        #[arg(long)]
        machine: u64,
        /// The right's terms (`--to` defaults to the machine's treasury).
        #[command(flatten)]
        terms: RightTerms,
    },
    /// Vote on an open proposal with the shares you held when it was made.
    #[command(group(ArgGroup::new("side").required(true)))]
    Vote {
        /// The proposal.
        proposal: u64,
        /// Vote for.
        #[arg(long, group = "side")]
        yes: bool,
        /// Vote against.
        #[arg(long, group = "side")]
        no: bool,
    },
    /// Make an approved proposal's calls, after its timelock and before it expires. Anyone
    /// may.
    Execute {
        /// The proposal.
        proposal: u64,
    },
    /// Close a proposal that was rejected, missed its quorum or expired, settling its
    /// deposit. Anyone may.
    Close {
        /// The proposal.
        proposal: u64,
    },
    /// A proposal: its calls, votes, how the vote stands and when it may be executed (and an
    /// account's vote with --voter).
    Show {
        /// The proposal.
        proposal: u64,
        /// Also show this account's vote (address or key name).
        #[arg(long)]
        voter: Option<String>,
    },
}

/// Runs `machina dao ...`.
pub fn dao(ctx: &DeviceCtx, signing: &Signing, cmd: DaoCommand) -> Result<()> {
    match cmd {
        DaoCommand::Propose { machine, calls, description } => {
            let calls = calls
                .iter()
                .map(|c| serde_json::from_str(c).with_context(|| format!("--call {c}")))
                .collect::<Result<Vec<Call>>>()?;
            propose(ctx, signing, machine, calls, &description)?;
        }
        DaoCommand::ProposeFloor { machine, offer, floor_price, capacity } => {
            let call = MarketCall::AmendOffer { offer, floor_price, capacity };
            let description =
                format!("offer {offer}: floor price {floor_price}, capacity {capacity}");
            propose(ctx, signing, machine, vec![call.into()], &description)?;
        }
        DaoCommand::ProposeRight { machine, terms } => {
            let treasury = ctx.client.machine(machine)?.machine.treasury;
            let call = terms.call(ctx, treasury)?;
            let OwnershipCall::MintRight { device, kind, starts_ms, ends_ms, units, to, .. } =
                &call
            else {
                unreachable!("RightTerms builds a MintRight")
            };
            let description = format!(
                "usage right: {units} x {kind} of device {device} from {starts_ms} to {ends_ms} \
                 (ms) to {to}"
            );
            propose(ctx, signing, machine, vec![call.into()], &description)?;
        }
        DaoCommand::Vote { proposal, yes, .. } => {
            let status = execute(ctx, signing, OwnershipCall::Vote { proposal, approve: yes })?;
            let weight = events(&status).into_iter().find_map(|e| match e {
                OwnershipEvent::Voted { weight, .. } => Some(weight),
                _ => None,
            });
            let weight = weight.unwrap_or(0);
            let side = if yes { "for" } else { "against" };
            let body = json!({ "tx": status.hash, "proposal": proposal, "approve": yes, "weight": weight });
            ctx.print(&body, || format!("voted {side} proposal {proposal} with {weight} shares"));
        }
        DaoCommand::Execute { proposal } => {
            let status = execute(ctx, signing, OwnershipCall::Execute { proposal })?;
            ctx.print(&json!({ "tx": status.hash, "proposal": proposal }), || {
                format!("proposal {proposal} executed")
            });
        }
        DaoCommand::Close { proposal } => {
            let status = execute(ctx, signing, OwnershipCall::Close { proposal })?;
            let returned = events(&status).into_iter().find_map(|e| match e {
                OwnershipEvent::ProposalClosed { deposit_returned, .. } => Some(deposit_returned),
                _ => None,
            });
            let returned = returned.unwrap_or(false);
            let body =
                json!({ "tx": status.hash, "proposal": proposal, "deposit_returned": returned });
            ctx.print(&body, || match returned {
                true => {
                    format!("proposal {proposal} closed; its deposit went back to the proposer")
                }
                false => format!(
                    "proposal {proposal} closed without quorum; its deposit went to the treasury"
                ),
            });
        }
        DaoCommand::Show { proposal, voter: None } => {
            let view = ctx.client.proposal(proposal)?;
            ctx.print(&view, || describe_proposal(&view));
        }
        DaoCommand::Show { proposal, voter: Some(voter) } => {
            let voter = ctx.address(&voter)?;
            let view = ctx.client.proposal(proposal)?;
            let ballot = ctx.client.ballot(proposal, &voter)?;
            ctx.print(&json!({ "proposal": view, "ballot": ballot }), || {
                format!(
                    "{}\n{}",
                    describe_proposal(&view),
                    describe_ballot(&voter, ballot.as_ref())
                )
            });
        }
    }
    Ok(())
}

fn propose(
    ctx: &DeviceCtx,
    signing: &Signing,
    machine: u64,
    calls: Vec<Call>,
    description: &str,
) -> Result<()> {
    let count = calls.len();
    let call =
        OwnershipCall::Propose { machine, calls, description: Hash::of(&[description.as_bytes()]) };
    let status = execute(ctx, signing, call)?;
    let Some(proposal) = events(&status).into_iter().find_map(|e| match e {
        OwnershipEvent::Proposed { proposal, .. } => Some(proposal),
        _ => None,
    }) else {
        bail!("the proposal's receipt has no proposal");
    };
    let view = ctx.client.proposal(proposal)?;
    let body = json!({
        "tx": status.hash,
        "proposal": proposal,
        "end": view.proposal.end,
        "executable_from": view.executable_from,
        "expires": view.expires,
    });
    ctx.print(&body, || {
        format!(
            "proposal {proposal} on machine {machine} ({count} calls): voting until height {}, \
             executable from {} to {} if approved",
            view.proposal.end, view.executable_from, view.expires
        )
    });
    Ok(())
}

fn decision_name(d: Decision) -> &'static str {
    match d {
        Decision::Voting => "voting",
        Decision::NoQuorum => "no quorum",
        Decision::Rejected => "rejected",
        Decision::Approved => "approved",
    }
}

fn describe_proposal(v: &ProposalView) -> String {
    let p = &v.proposal;
    let g = &p.governance;
    let status = match p.status {
        ProposalStatus::Open => "open",
        ProposalStatus::Executed => "executed",
        ProposalStatus::Closed => "closed",
    };
    let mut lines = vec![
        format!(
            "proposal {} on machine {} by {}: {} ({status})",
            p.id,
            p.machine,
            p.proposer,
            decision_name(v.decision)
        ),
        format!(
            "  votes: {} for, {} against, of {} shares outside the treasury (quorum {}, \
             approval {})",
            p.yes,
            p.no,
            p.circulating,
            percent(g.quorum_bps),
            percent(g.approval_bps)
        ),
        format!(
            "  voting until height {}; executable from {} to {} if approved; deposit {}",
            p.end, v.executable_from, v.expires, p.deposit
        ),
        format!("  description hash {}", p.description),
    ];
    for (i, call) in p.calls.iter().enumerate() {
        let call = serde_json::to_string(call).unwrap_or_else(|e| format!("unprintable: {e}"));
        lines.push(format!("  call {i}: {call}"));
    }
    lines.join("\n")
}

fn describe_ballot(voter: &Address, b: Option<&Ballot>) -> String {
    match b {
        Some(b) => {
            let side = if b.approve { "for" } else { "against" };
            format!("{voter} voted {side} with {} shares", b.weight)
        }
        None => format!("{voter} did not vote"),
    }
}

//! `machina machine` and `machina offering`: machines (tokenized devices) and their
//! revenue, and offerings of their shares (holder proposals are in `dao.rs`).

use super::{
    asset_name,
    device::{DeviceCtx, Signing, device_id},
};
use anyhow::{Result, anyhow, bail};
use clap::Subcommand;
use machina_sdk::{
    api::{HolderView, MachineView},
    client::TxStatus,
};
use machina_types::{
    Address, Call, Event, OwnershipCall,
    ownership::{
        Milestone, OwnershipEvent, Tranche,
        state::{Offering, OfferingStatus, Purchase},
    },
};
use serde_json::json;

/// `machina machine`.
#[derive(Subcommand, Debug)]
pub enum MachineCommand {
    /// Split devices you own into a machine with a fixed supply of shares (a bank asset):
    /// `--retained` stay yours, the rest go to its treasury, which becomes the devices' owner.
    Tokenize {
        /// A device (repeat for a fleet of up to 16).
        #[arg(long = "device", required = true)]
        devices: Vec<String>,
        /// The share asset's ticker, 1-12 of A-Z0-9.
        #[arg(long)]
        symbol: String,
        /// The machine's name.
        #[arg(long)]
        name: String,
        /// Shares in existence, for ever.
        #[arg(long)]
        supply: u64,
        /// Shares you keep.
        #[arg(long, default_value_t = 0)]
        retained: u64,
        /// Part of the revenue kept in the treasury's reserve (basis points).
        #[arg(long, default_value_t = 1_000)]
        reserve_bps: u16,
    },
    /// A machine: devices, shares, treasury, reserve, what holders are owed, governance.
    Show {
        /// The machine.
        id: u64,
    },
    /// An account's shares of a machine and what a claim would pay it now.
    Holder {
        /// The machine.
        id: u64,
        /// Account (address or key name) [default: --from].
        #[arg(long)]
        account: Option<String>,
    },
    /// Take the revenue your shares of a machine have earned.
    Claim {
        /// The machine.
        id: u64,
    },
}

/// `machina offering`.
#[derive(Subcommand, Debug)]
pub enum OfferingCommand {
    /// Offer treasury shares of a machine at a fixed price (its sponsor, before any sale, or
    /// its treasury): buyers' funds are escrowed until the close, then delivered or refunded.
    Create {
        /// The machine.
        #[arg(long)]
        machine: u64,
        /// Shares offered.
        #[arg(long)]
        shares: u64,
        /// Price per share.
        #[arg(long)]
        price: u64,
        /// The asset accepted [default: the native token].
        #[arg(long)]
        asset: Option<u64>,
        /// Shares that must sell for the offering to succeed (else every buyer is refunded).
        #[arg(long)]
        min_shares: u64,
        /// Fewest shares per purchase.
        #[arg(long, default_value_t = 1)]
        buyer_min: u64,
        /// Most shares one buyer may hold from this offering [default: --shares].
        #[arg(long)]
        buyer_max: Option<u64>,
        /// Blocks from now during which shares may be bought.
        #[arg(long)]
        deadline_in: u64,
        /// Who receives the funds (address or key name) [default: --from].
        #[arg(long)]
        beneficiary: Option<String>,
        /// A part of the funds and what releases it, `<bps>:<milestone>` with milestone
        /// `close`, `active`, `anchor:<stream>` or `leases:<n>` (repeat; parts add up to
        /// 10000) [default: everything at the close].
        #[arg(long = "tranche")]
        tranches: Vec<String>,
        /// Blocks after the deadline for milestones to be met; unmet tranches then go to the
        /// treasury.
        #[arg(long, default_value_t = 10_000)]
        milestones_within: u64,
    },
    /// Buy shares in an open offering; their price is escrowed until the close.
    Buy {
        /// The offering.
        id: u64,
        /// Shares.
        #[arg(long)]
        shares: u64,
    },
    /// An offering: terms, shares sold, funds raised, tranches, status (and a buyer's
    /// purchase with --buyer).
    Show {
        /// The offering.
        id: u64,
        /// Also show this account's purchase (address or key name).
        #[arg(long)]
        buyer: Option<String>,
    },
    /// Release a tranche of a successful offering's funds: to the beneficiary once its
    /// milestone is met, to the treasury after the milestones' deadline. Anyone may.
    Release {
        /// The offering.
        id: u64,
        /// The tranche's index (from 0).
        #[arg(long)]
        tranche: u8,
    },
}

/// The ownership events of a transaction's receipt.
pub(super) fn events(status: &TxStatus) -> Vec<OwnershipEvent> {
    let Some(receipt) = &status.receipt else { return Vec::new() };
    receipt
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Ownership(o) => Some(o.clone()),
            _ => None,
        })
        .collect()
}

/// Signs and submits one ownership call from the signing key and waits until it is final.
pub(super) fn execute(ctx: &DeviceCtx, signing: &Signing, call: OwnershipCall) -> Result<TxStatus> {
    ctx.execute(&signing.from, vec![Call::Ownership(call)])
}

/// The signer's address.
pub(super) fn signer(ctx: &DeviceCtx, signing: &Signing) -> Result<Address> {
    Ok(ctx.keyring.get(&signing.from)?.address())
}

/// Runs `machina machine ...`.
pub fn machine(ctx: &DeviceCtx, signing: &Signing, cmd: MachineCommand) -> Result<()> {
    match cmd {
        MachineCommand::Tokenize { devices, symbol, name, supply, retained, reserve_bps } => {
            let devices = devices.iter().map(|d| device_id(d)).collect::<Result<Vec<_>>>()?;
            let call = OwnershipCall::Tokenize {
                devices,
                symbol,
                name,
                supply,
                retained,
                reserve_bps,
                governance: None,
            };
            let status = execute(ctx, signing, call)?;
            let Some((machine, treasury, shares)) =
                events(&status).into_iter().find_map(|e| match e {
                    OwnershipEvent::Tokenized { machine, treasury, shares, .. } => {
                        Some((machine, treasury, shares))
                    }
                    _ => None,
                })
            else {
                bail!("the tokenization's receipt has no machine");
            };
            let body = json!({
                "tx": status.hash,
                "machine": machine,
                "treasury": treasury,
                "shares": shares,
                "supply": supply,
            });
            ctx.print(&body, || {
                format!(
                    "machine {machine}: {supply} shares (asset {shares}), {retained} yours; its \
                     treasury {treasury} now owns the devices"
                )
            });
        }
        MachineCommand::Show { id } => {
            let view = ctx.client.machine(id)?;
            ctx.print(&view, || describe_machine(&view));
        }
        MachineCommand::Holder { id, account } => {
            let account = match account {
                Some(a) => ctx.address(&a)?,
                None => signer(ctx, signing)?,
            };
            let view = ctx.client.holder(id, &account)?;
            ctx.print(&view, || describe_holder(&view));
        }
        MachineCommand::Claim { id } => {
            let status = execute(ctx, signing, OwnershipCall::Claim { machine: id })?;
            let amount = events(&status).into_iter().find_map(|e| match e {
                OwnershipEvent::Claimed { amount, .. } => Some(amount),
                _ => None,
            });
            let amount = amount.unwrap_or(0);
            ctx.print(&json!({ "tx": status.hash, "machine": id, "amount": amount }), || {
                format!("claimed {amount} from machine {id}")
            });
        }
    }
    Ok(())
}

/// A tranche as `--tranche` takes it: `<bps>:<milestone>`.
fn parse_tranche(text: &str) -> Result<Tranche> {
    let usage = || {
        anyhow!(
            "--tranche {text:?}: expected <bps>:<milestone>, milestone close, active, \
             anchor:<stream> or leases:<n>"
        )
    };
    let (bps, milestone) = text.split_once(':').ok_or_else(usage)?;
    let bps = bps.parse().map_err(|_| usage())?;
    let milestone = match milestone.split_once(':') {
        None if milestone == "close" => Milestone::Close {},
        None if milestone == "active" => Milestone::DevicesActive {},
        Some(("anchor", stream)) => {
            Milestone::FirstAnchor { stream: stream.parse().map_err(|_| usage())? }
        }
        Some(("leases", count)) => {
            Milestone::LeasesDelivered { count: count.parse().map_err(|_| usage())? }
        }
        _ => return Err(usage()),
    };
    Ok(Tranche { bps, milestone })
}

/// Runs `machina offering ...`.
pub fn offering(ctx: &DeviceCtx, signing: &Signing, cmd: OfferingCommand) -> Result<()> {
    match cmd {
        OfferingCommand::Create {
            machine,
            shares,
            price,
            asset,
            min_shares,
            buyer_min,
            buyer_max,
            deadline_in,
            beneficiary,
            tranches,
            milestones_within,
        } => {
            let beneficiary = match beneficiary {
                Some(b) => ctx.address(&b)?,
                None => signer(ctx, signing)?,
            };
            let tranches = tranches.iter().map(|t| parse_tranche(t)).collect::<Result<_>>()?;
            let deadline = ctx.client.status()?.height.saturating_add(deadline_in);
            let call = OwnershipCall::CreateOffering {
                machine,
                shares,
                price,
                asset,
                min_shares,
                buyer_min,
                buyer_max: buyer_max.unwrap_or(shares),
                deadline,
                beneficiary,
                tranches,
                milestones_by: deadline.saturating_add(milestones_within),
            };
            let status = execute(ctx, signing, call)?;
            let Some(offering) = events(&status).into_iter().find_map(|e| match e {
                OwnershipEvent::OfferingCreated { offering, .. } => Some(offering),
                _ => None,
            }) else {
                bail!("the offering's receipt has no offering");
            };
            let body = json!({ "tx": status.hash, "offering": offering, "deadline": deadline });
            ctx.print(&body, || {
                format!(
                    "offering {offering}: {shares} shares of machine {machine} at {price} each \
                     ({}) until height {deadline}; at least {min_shares} must sell",
                    asset_name(asset)
                )
            });
        }
        OfferingCommand::Buy { id, shares } => {
            let call = OwnershipCall::Buy { offering: id, shares };
            let status = execute(ctx, signing, call)?;
            let paid = events(&status).into_iter().find_map(|e| match e {
                OwnershipEvent::Bought { paid, .. } => Some(paid),
                _ => None,
            });
            let paid = paid.unwrap_or(0);
            let body = json!({ "tx": status.hash, "offering": id, "shares": shares, "paid": paid });
            ctx.print(&body, || {
                format!("bought {shares} shares in offering {id}; {paid} escrowed until it closes")
            });
        }
        OfferingCommand::Show { id, buyer: None } => {
            let offering = ctx.client.offering(id)?;
            ctx.print(&offering, || describe_offering(&offering));
        }
        OfferingCommand::Show { id, buyer: Some(buyer) } => {
            let buyer = ctx.address(&buyer)?;
            let offering = ctx.client.offering(id)?;
            let purchase = ctx.client.purchase(id, &buyer)?;
            ctx.print(&json!({ "offering": offering, "purchase": purchase }), || {
                format!(
                    "{}\n{}",
                    describe_offering(&offering),
                    describe_purchase(&buyer, purchase.as_ref())
                )
            });
        }
        OfferingCommand::Release { id, tranche } => {
            let status =
                execute(ctx, signing, OwnershipCall::ReleaseTranche { offering: id, tranche })?;
            let released = events(&status).into_iter().find_map(|e| match e {
                OwnershipEvent::TrancheReleased { to, amount, .. } => Some((to, amount)),
                _ => None,
            });
            let Some((to, amount)) = released else {
                bail!("the release's receipt has no tranche");
            };
            let body = json!({ "tx": status.hash, "offering": id, "tranche": tranche, "to": to, "amount": amount });
            ctx.print(&body, || format!("tranche {tranche} of offering {id}: {amount} to {to}"));
        }
    }
    Ok(())
}

/// Basis points as a percentage.
pub(super) fn percent(bps: u16) -> String {
    format!("{}.{:02}%", bps / 100, bps % 100)
}

fn describe_machine(v: &MachineView) -> String {
    let m = &v.machine;
    let g = &m.governance;
    let devices: Vec<String> = m.devices.iter().map(ToString::to_string).collect();
    [
        format!(
            "machine {} {:?}: {} shares (asset {}), {} outside the treasury, {} in it ({} offered)",
            m.id, m.name, m.supply, m.shares, v.circulating, v.unsold, m.offered
        ),
        format!("  sponsor {}, since height {}", m.sponsor, m.created_height),
        format!(
            "  treasury {}: balance {} (reserve {}, owed to holders {})",
            m.treasury, v.treasury_balance, m.reserve, m.pending
        ),
        format!("  revenue: {} to the reserve, the rest to holders", percent(m.reserve_bps)),
        format!(
            "  governance: proposers hold {}, deposit {}, quorum {}, approval {}, voting {} \
             blocks, timelock {}, execution window {}",
            percent(g.threshold_bps),
            g.deposit,
            percent(g.quorum_bps),
            percent(g.approval_bps),
            g.voting_blocks,
            g.timelock_blocks,
            g.execution_blocks
        ),
        format!("  devices: {}", devices.join(", ")),
    ]
    .join("\n")
}

fn describe_holder(v: &HolderView) -> String {
    format!(
        "{} holds {} shares of machine {}; a claim would pay {}",
        v.holder, v.shares, v.machine, v.claimable
    )
}

fn describe_milestone(m: &Milestone) -> String {
    match m {
        Milestone::Close {} => "at the close".into(),
        Milestone::DevicesActive {} => "once every device is active".into(),
        Milestone::FirstAnchor { stream } => {
            format!("once every device has anchored stream {stream}")
        }
        Milestone::LeasesDelivered { count } => {
            format!("once the devices delivered {count} leases")
        }
    }
}

fn describe_offering(o: &Offering) -> String {
    let status = match o.status {
        OfferingStatus::Open => "open",
        OfferingStatus::Delivering => "closed, delivering shares",
        OfferingStatus::Refunding => "closed below its minimum, refunding",
        OfferingStatus::Succeeded => "succeeded",
        OfferingStatus::Failed => "failed, refunded",
    };
    let mut lines = vec![
        format!(
            "offering {} of machine {}: {} of {} shares sold at {} ({}); {}",
            o.id,
            o.machine,
            o.sold,
            o.shares,
            o.price,
            asset_name(o.asset),
            status
        ),
        format!(
            "  at least {} must sell by height {}; {}-{} per buyer",
            o.min_shares, o.deadline, o.buyer_min, o.buyer_max
        ),
        format!(
            "  raised {} from {} buyers ({} settled); funds to {}",
            o.raised, o.buyers, o.settled, o.beneficiary
        ),
    ];
    if o.tranches.is_empty() {
        lines.push("  everything released at the close".into());
    }
    for (i, t) in o.tranches.iter().enumerate() {
        let released = if o.released & (1u8 << i) != 0 { " (released)" } else { "" };
        lines.push(format!(
            "  tranche {i}: {} {} (by height {}){released}",
            percent(t.bps),
            describe_milestone(&t.milestone),
            o.milestones_by
        ));
    }
    lines.join("\n")
}

fn describe_purchase(buyer: &Address, p: Option<&Purchase>) -> String {
    match p {
        Some(p) => format!("{buyer} bought {} shares for {}", p.shares, p.paid),
        None => format!("{buyer} bought nothing in this offering"),
    }
}

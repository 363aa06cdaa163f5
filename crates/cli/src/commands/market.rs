//! `machina market` and `machina solver`: stake, offers, intents, books, leases, delivery,
//! and the reference solver.

use super::device::{DeviceCtx, Signing};
use anyhow::{Context as _, Result, anyhow, bail};
use clap::Subcommand;
use machina_app::modules::market::state::{Intent, Lease, LeaseStatus, OrderStatus};
use machina_sdk::api::{MarketBook, MarketOverview};
use machina_types::{
    Address, Call, MarketCall,
    market::{Comparison, Component, Delivery, MarketEvent, ResourceKind, StakeKind, market_id},
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// `machina market`.
#[derive(Subcommand, Debug)]
pub enum MarketCommand {
    /// Bond stake: provider stake lets you offer (and is slashed when a lease of yours times
    /// out); solver stake (--solver) lets you submit solutions.
    Stake {
        /// Amount.
        #[arg(long)]
        amount: u64,
        /// Solver stake instead of provider stake.
        #[arg(long)]
        solver: bool,
    },
    /// Start unbonding stake (withdrawable after the unbonding delay).
    Unbond {
        /// Amount.
        #[arg(long)]
        amount: u64,
        /// Solver stake instead of provider stake.
        #[arg(long)]
        solver: bool,
    },
    /// Withdraw unbonded stake whose delay has passed.
    Withdraw {
        /// Solver stake instead of provider stake.
        #[arg(long)]
        solver: bool,
    },
    /// Offer a resource of a device you own (or hold the `seller` role on).
    Offer {
        /// The providing device.
        #[arg(long)]
        device: String,
        /// data, compute, storage, bandwidth, energy, actuation:<command>, custom:<name>.
        #[arg(long)]
        kind: String,
        /// Region: a geohash prefix (empty: anywhere).
        #[arg(long, default_value = "")]
        region: String,
        /// Units for sale.
        #[arg(long)]
        capacity: u64,
        /// Lowest price per unit.
        #[arg(long)]
        floor_price: u64,
        /// How delivery is proven: `receipt` (the consumer confirms), or
        /// `feed:<id>:<=:<value>` / `feed:<id>:>=:<value>` (a feed's value at the deadline).
        /// Actuations are always proven by the device's signed acknowledgement.
        #[arg(long, default_value = "receipt")]
        delivery: String,
        /// Seconds until the offer lapses.
        #[arg(long, default_value_t = 86_400)]
        expires_in: u64,
    },
    /// Close an offer of yours.
    Close {
        /// The offer.
        #[arg(long)]
        offer: u64,
    },
    /// Ask for a resource, or a bundle; escrows units x max price until filled or cancelled.
    Intent {
        /// The resource, or a bundle per unit as `kind*quantity,kind*quantity` (e.g.
        /// `energy*2,data`); bundles are filled by solvers only.
        #[arg(long)]
        kind: String,
        /// Region: a geohash prefix (empty: anywhere).
        #[arg(long, default_value = "")]
        region: String,
        /// Units wanted.
        #[arg(long, default_value_t = 1)]
        units: u64,
        /// Most paid per unit.
        #[arg(long)]
        max_price: u64,
        /// Seconds until the delivery deadline.
        #[arg(long, default_value_t = 300)]
        deadline_in: u64,
        /// Lowest provider reputation accepted (percent; a new device has 50).
        #[arg(long, default_value_t = 0)]
        min_reputation: u8,
        /// Take all the units or none.
        #[arg(long)]
        all_or_nothing: bool,
        /// Wait for the batch to clear and show the leases made.
        #[arg(long)]
        wait: bool,
    },
    /// Cancel an intent of yours; its remaining escrow comes back.
    Cancel {
        /// The intent.
        #[arg(long)]
        intent: u64,
    },
    /// The markets with open orders, or one market's book (with --kind).
    Book {
        /// The market's resource kind.
        #[arg(long)]
        kind: Option<String>,
        /// The market's region.
        #[arg(long, default_value = "")]
        region: String,
    },
    /// Your leases (or an account's), newest first.
    Leases {
        /// Account (address or key name) [default: --from].
        #[arg(long)]
        account: Option<String>,
        /// Most listed.
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
    /// One lease.
    Lease {
        /// The lease.
        id: u64,
    },
    /// Confirm a lease was delivered (its consumer): pays the provider.
    Receipt {
        /// The lease.
        #[arg(long)]
        lease: u64,
    },
    /// Claim you delivered a lease (its seller): pays at the end of the dispute window
    /// unless the consumer disputes (under feed terms only while the condition holds).
    Claim {
        /// The lease.
        #[arg(long)]
        lease: u64,
    },
    /// Dispute a claimed delivery within the dispute window (its consumer): under feed terms
    /// the feed decides at the deadline; under receipt terms you are refunded.
    Dispute {
        /// The lease.
        #[arg(long)]
        lease: u64,
    },
    /// Compute a solution for the open batch with the reference solver and submit it if it
    /// adds surplus (needs solver stake).
    Solve,
}

fn stake_kind(solver: bool) -> StakeKind {
    if solver { StakeKind::Solver } else { StakeKind::Provider }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub(super) fn parse_kind(text: &str) -> Result<ResourceKind> {
    text.parse().map_err(|_| {
        anyhow!("unknown kind {text:?} (data, compute, storage, bandwidth, energy, actuation:<command>, custom:<name>)")
    })
}

fn parse_components(text: &str) -> Result<Vec<Component>> {
    text.split(',')
        .map(|part| {
            let (kind, quantity) = part.split_once('*').unwrap_or((part, "1"));
            let quantity = quantity.parse().with_context(|| format!("quantity in {part:?}"))?;
            Ok(Component { kind: parse_kind(kind.trim())?, quantity })
        })
        .collect()
}

fn parse_delivery(text: &str, kind: &ResourceKind) -> Result<Delivery> {
    if matches!(kind, ResourceKind::Actuation { .. }) {
        return Ok(Delivery::DeviceAck);
    }
    if text == "receipt" {
        return Ok(Delivery::Receipt);
    }
    let usage =
        || anyhow!("--delivery must be receipt, feed:<id>:<=:<value> or feed:<id>:>=:<value>");
    let rest = text.strip_prefix("feed:").ok_or_else(usage)?;
    let parts: Vec<&str> = rest.split(':').collect();
    let [feed, op, threshold] = parts[..] else { return Err(usage()) };
    let comparison = match op {
        "<=" => Comparison::AtMost,
        ">=" => Comparison::AtLeast,
        _ => return Err(usage()),
    };
    Ok(Delivery::Feed {
        feed: feed.parse().map_err(|_| usage())?,
        comparison,
        threshold: threshold.parse().map_err(|_| usage())?,
    })
}

fn market_event(status: &machina_sdk::client::TxStatus) -> Option<MarketEvent> {
    status.receipt.as_ref()?.events.iter().find_map(|e| match e {
        machina_types::Event::Market(m) => Some(m.clone()),
        _ => None,
    })
}

/// Runs `machina market ...`.
pub fn market(ctx: &DeviceCtx, signing: &Signing, cmd: MarketCommand) -> Result<()> {
    let execute = |call: MarketCall| ctx.execute(&signing.from, vec![Call::Market(call)]);
    match cmd {
        MarketCommand::Stake { amount, solver } => {
            let kind = stake_kind(solver);
            let status = execute(MarketCall::Stake { kind, amount })?;
            let name = if solver { "solver" } else { "provider" };
            ctx.print(&json!({ "tx": status.hash, "kind": kind, "amount": amount }), || {
                format!("bonded {amount} as {name} stake (transaction {})", status.hash)
            });
        }
        MarketCommand::Unbond { amount, solver } => {
            let status = execute(MarketCall::Unbond { kind: stake_kind(solver), amount })?;
            let event = market_event(&status);
            let release = match &event {
                Some(MarketEvent::Unbonding { release_height, .. }) => *release_height,
                _ => 0,
            };
            ctx.print(&json!({ "tx": status.hash, "release_height": release }), || {
                format!("unbonding {amount}; withdrawable from height {release}")
            });
        }
        MarketCommand::Withdraw { solver } => {
            let status = execute(MarketCall::Withdraw { kind: stake_kind(solver) })?;
            let amount = match market_event(&status) {
                Some(MarketEvent::Withdrawn { amount, .. }) => amount,
                _ => 0,
            };
            ctx.print(&json!({ "tx": status.hash, "amount": amount }), || {
                format!("withdrew {amount}")
            });
        }
        MarketCommand::Offer {
            device,
            kind,
            region,
            capacity,
            floor_price,
            delivery,
            expires_in,
        } => {
            let kind = parse_kind(&kind)?;
            let delivery = parse_delivery(&delivery, &kind)?;
            let call = MarketCall::Offer {
                device: device.parse().map_err(|_| anyhow!("not a device id: {device}"))?,
                kind: kind.clone(),
                region: region.clone(),
                capacity,
                floor_price,
                delivery,
                expiry_ms: now_ms() + expires_in * 1000,
            };
            let status = execute(call)?;
            let Some(MarketEvent::OfferPosted { offer, market, .. }) = market_event(&status) else {
                bail!("the offer's receipt has no offer");
            };
            ctx.print(&json!({ "offer": offer, "market": market }), || {
                format!("offer {offer}: {capacity} x {kind} in {:?} from {floor_price} per unit (market {market})", region)
            });
        }
        MarketCommand::Close { offer } => {
            let status = execute(MarketCall::CloseOffer { offer })?;
            ctx.print(&json!({ "tx": status.hash }), || format!("offer {offer} closed"));
        }
        MarketCommand::Intent {
            kind,
            region,
            units,
            max_price,
            deadline_in,
            min_reputation,
            all_or_nothing,
            wait,
        } => {
            let components = parse_components(&kind)?;
            let call = MarketCall::Intent {
                region: region.clone(),
                components,
                units,
                max_price,
                deadline_ms: now_ms() + deadline_in * 1000,
                min_reputation,
                partial: !all_or_nothing,
            };
            let status = execute(call)?;
            let Some(MarketEvent::IntentPosted { intent, escrow, .. }) = market_event(&status)
            else {
                bail!("the intent's receipt has no intent");
            };
            if !wait {
                ctx.print(&json!({ "intent": intent, "escrow": escrow }), || {
                    format!("intent {intent}: {units} x {kind} at most {max_price} per unit; {escrow} escrowed until the next batch clears")
                });
                return Ok(());
            }
            let (record, leases) = wait_for_fill(ctx, intent, deadline_in)?;
            let body = json!({ "intent": record, "leases": leases });
            ctx.print(&body, || describe_fill(&record, &leases));
        }
        MarketCommand::Cancel { intent } => {
            let status = execute(MarketCall::Cancel { intent })?;
            let refund = match market_event(&status) {
                Some(MarketEvent::IntentCancelled { refund, .. }) => refund,
                _ => 0,
            };
            ctx.print(&json!({ "intent": intent, "refund": refund }), || {
                format!("intent {intent} cancelled; {refund} returned")
            });
        }
        MarketCommand::Book { kind: None, .. } => {
            let overview = ctx.client.market()?;
            ctx.print(&overview, || describe_overview(&overview));
        }
        MarketCommand::Book { kind: Some(kind), region } => {
            let id = market_id(&parse_kind(&kind)?, &region);
            let book = ctx.client.market_book(&id)?;
            ctx.print(&book, || describe_book(&book));
        }
        MarketCommand::Leases { account, limit } => {
            let account = match account {
                Some(a) => ctx.address(&a)?,
                None => ctx.keyring.get(&signing.from)?.address(),
            };
            let leases = ctx.client.leases(&account, limit)?;
            ctx.print(&leases, || {
                if leases.leases.is_empty() {
                    return "no leases".into();
                }
                leases.leases.iter().map(describe_lease).collect::<Vec<_>>().join("\n")
            });
        }
        MarketCommand::Lease { id } => {
            let lease = ctx.client.lease(id)?;
            ctx.print(&serde_json::to_value(&lease)?, || describe_lease(&lease));
        }
        MarketCommand::Receipt { lease } => settle(ctx, signing, MarketCall::Confirm { lease })?,
        MarketCommand::Claim { lease } => settle(ctx, signing, MarketCall::Claim { lease })?,
        MarketCommand::Dispute { lease } => settle(ctx, signing, MarketCall::Dispute { lease })?,
        MarketCommand::Solve => {
            let key = ctx.keyring.get(&signing.from)?;
            match solve_once(ctx, &key.key)? {
                Some(report) => ctx.print(&report, || describe_solution(&report)),
                None => ctx.print(&json!({ "submitted": false }), || {
                    "nothing to improve in the open batch".into()
                }),
            }
        }
    }
    Ok(())
}

fn settle(ctx: &DeviceCtx, signing: &Signing, call: MarketCall) -> Result<()> {
    let status = ctx.execute(&signing.from, vec![Call::Market(call)])?;
    let event = market_event(&status);
    let body = json!({ "tx": status.hash, "event": event });
    ctx.print(&body, || match event {
        Some(MarketEvent::Delivered { lease, to, paid, fee }) => {
            format!("lease {lease} delivered: {paid} paid to {to}, {fee} protocol fee")
        }
        Some(MarketEvent::Claimed { lease }) => {
            format!("lease {lease}: delivery claimed; it pays when the dispute window closes")
        }
        Some(MarketEvent::Refunded { lease, refund, slashed }) => {
            format!("lease {lease} refunded: {refund} back to the consumer, {slashed} slashed")
        }
        _ => format!("done (transaction {})", status.hash),
    });
    Ok(())
}

/// Polls intent `id` until it is filled, closed, or its deadline passes; returns it and the
/// leases made for it.
fn wait_for_fill(ctx: &DeviceCtx, id: u64, deadline_in: u64) -> Result<(Intent, Vec<Lease>)> {
    let started = Instant::now();
    let limit = Duration::from_secs(deadline_in.min(120));
    loop {
        let intent = ctx.client.intent(id)?;
        let done = intent.status != OrderStatus::Open || (intent.filled > 0 && intent.partial);
        if done || started.elapsed() > limit {
            let list = ctx.client.leases(&intent.consumer, 100)?;
            let mine = list.leases.into_iter().filter(|l| l.intent == id).collect();
            return Ok((intent, mine));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn describe_fill(intent: &Intent, leases: &[Lease]) -> String {
    let status = match intent.status {
        OrderStatus::Open => "open",
        OrderStatus::Filled => "filled",
        OrderStatus::Cancelled => "cancelled",
        OrderStatus::Expired => "expired",
    };
    let mut lines = vec![format!(
        "intent {}: {} of {} units filled ({status})",
        intent.id,
        intent.filled,
        intent.filled + intent.units,
    )];
    lines.extend(leases.iter().map(describe_lease));
    lines.join("\n")
}

fn describe_lease(l: &Lease) -> String {
    let status = match l.status {
        LeaseStatus::Active => "active".to_string(),
        LeaseStatus::Claimed { at_ms } => format!("claimed at {at_ms}"),
        LeaseStatus::Disputed => "disputed: the feed decides at the deadline".into(),
        LeaseStatus::Delivered => "delivered".into(),
        LeaseStatus::Refunded => "refunded".into(),
    };
    format!(
        "lease {}: {} x {} at {} from device {} (seller {}) to {}; {} escrowed; deadline {}; {}",
        l.id,
        l.units,
        l.kind,
        l.price,
        l.device,
        l.seller,
        l.consumer,
        l.escrow,
        l.deadline_ms,
        status
    )
}

/// An optional number as the JSON shows it.
fn shown(v: Option<u64>) -> String {
    v.map_or_else(|| "null".into(), |v| v.to_string())
}

fn describe_overview(v: &MarketOverview) -> String {
    let mut lines = vec![format!(
        "batch {} (clears at height {}, every {} blocks); {} offers, {} intents, {} leases so far",
        v.batch,
        v.next_clearing_height,
        v.params.auction_interval_blocks,
        v.offers,
        v.intents,
        v.leases
    )];
    if v.markets.is_empty() {
        lines.push("no market has open orders".into());
    }
    for m in &v.markets {
        lines.push(format!(
            "  {:<20} region {:<8} last price {:<8} volume {:<8} market {}",
            m.kind,
            format!("{:?}", m.region),
            shown(m.last_price),
            m.volume,
            m.id
        ));
    }
    lines.join("\n")
}

fn describe_book(v: &MarketBook) -> String {
    let m = &v.market;
    let mut lines = vec![format!(
        "market {} in {:?}: last price {}, volume {}",
        m.kind,
        m.region,
        shown(m.last_price),
        m.volume
    )];
    lines.push("intents (highest limit first):".into());
    for i in &v.intents {
        lines.push(format!(
            "  #{:<5} {} units at most {} by {}{}",
            i.id,
            i.units,
            i.max_price,
            i.consumer,
            if i.partial { "" } else { " (all or nothing)" }
        ));
    }
    lines.push("offers (lowest floor first):".into());
    for o in &v.offers {
        lines.push(format!(
            "  #{:<5} {} units{} from {} by device {} (reputation {}){}",
            o.offer.id,
            o.offer.capacity,
            if o.reserved > 0 {
                format!(" ({} reserved by usage rights)", o.reserved)
            } else {
                String::new()
            },
            o.offer.floor_price,
            o.offer.device,
            shown(o.reputation.map(u64::from)),
            if o.saleable { "" } else { " (not selling)" }
        ));
    }
    lines.join("\n")
}

fn describe_solution(v: &Value) -> String {
    format!(
        "submitted a solution for batch {}: surplus {} where the built-in clearing makes {} ({} markets, {} intents; transaction {})",
        v["batch"],
        v["surplus"],
        v["replaced"],
        v["markets"],
        v["intents"],
        v["tx"].as_str().unwrap_or("")
    )
}

/// Computes and submits one solution for the open batch, if the reference solver finds one
/// that adds surplus; returns what was submitted.
pub fn solve_once(
    ctx: &DeviceCtx,
    key: &commonware_cryptography::ed25519::PrivateKey,
) -> Result<Option<Value>> {
    let Some(proposal) = crate::solver::propose(&ctx.client)? else { return Ok(None) };
    let markets = crate::solver::markets_of(&proposal.call).len();
    let intents = crate::solver::intents_of(&proposal.call).len();
    let (_, hash) = ctx.client.send(key, vec![Call::Market(proposal.call)])?;
    let status = ctx.client.wait(&hash, Duration::from_secs(30))?;
    if status.status != "finalized" {
        let reason = status.error.map_or_else(|| status.status.to_string(), |e| e.code);
        bail!("the solution was refused: {reason}");
    }
    Ok(Some(json!({
        "batch": proposal.batch,
        "surplus": proposal.surplus.to_string(),
        "replaced": proposal.replaced.to_string(),
        "markets": markets,
        "intents": intents,
        "tx": hash,
    })))
}

/// Runs `machina solver`: proposes a solution for every batch, until Ctrl-C.
pub fn run_solver(ctx: &DeviceCtx, signing: &Signing, interval_ms: u64) -> Result<()> {
    let key = ctx.keyring.get(&signing.from)?;
    let account: Address = key.address();
    eprintln!("solver {account}: watching the books every {interval_ms} ms (Ctrl-C to stop)");
    let mut last_batch = None;
    loop {
        let batch = Some(ctx.client.market()?.batch);
        if batch.is_some() && batch != last_batch {
            match solve_once(ctx, &key.key) {
                Ok(Some(report)) => {
                    last_batch = batch;
                    ctx.print(&report, || describe_solution(&report));
                }
                Ok(None) => {}
                Err(error) => eprintln!("batch {batch:?}: {error:#}"),
            }
        }
        std::thread::sleep(Duration::from_millis(interval_ms));
    }
}

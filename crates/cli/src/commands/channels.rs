//! `machina channel`: payment channels paid by vouchers signed off chain, and streams paid
//! by block time.

use super::{
    asset_name,
    device::{DeviceCtx, Signing},
    rewards::write_proof,
};
use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use machina_sdk::client::TxStatus;
use machina_types::{
    Call, ChannelsCall, Event,
    channels::{
        ChannelsEvent, SignedVoucher, Voucher,
        state::{Channel, Mode, Status},
        streamed,
    },
};
use serde_json::json;
use std::path::PathBuf;

/// `machina channel`.
#[derive(Subcommand, Debug)]
pub enum ChannelCommand {
    /// Open a voucher channel to a payee, escrowing a deposit from you (the payer). You then
    /// pay it off chain with `machina channel voucher`.
    Open {
        /// Who is paid (address or key name).
        #[arg(long)]
        payee: String,
        /// Escrowed now; the most the vouchers can pay until a top-up.
        #[arg(long)]
        deposit: u64,
        /// Blocks a close you start waits for the payee's latest voucher.
        #[arg(long, default_value_t = 600)]
        challenge_blocks: u64,
        /// Pay in this asset [default: the native token].
        #[arg(long)]
        asset: Option<u64>,
    },
    /// Open a stream to a payee: the deposit flows to it at a rate per second of block time.
    OpenStream {
        /// Who is paid (address or key name).
        #[arg(long)]
        payee: String,
        /// Escrowed now; the stream ends when it has all flowed.
        #[arg(long)]
        deposit: u64,
        /// Paid per second.
        #[arg(long)]
        rate_per_sec: u64,
        /// Pay in this asset [default: the native token].
        #[arg(long)]
        asset: Option<u64>,
    },
    /// Add to a channel's deposit (payer).
    TopUp {
        /// The channel.
        channel: u64,
        /// Added.
        #[arg(long)]
        amount: u64,
    },
    /// Sign a voucher off chain (payer): the payee may take `--cumulative` from the channel
    /// in all. Prints it as JSON (or writes it to --out) for the payee; nothing is submitted.
    Voucher {
        /// The channel.
        channel: u64,
        /// What the payee may take in all so far.
        #[arg(long)]
        cumulative: u64,
        /// Write the voucher here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Take what a voucher adds to what was settled; the channel stays open (payee).
    Settle {
        /// The channel.
        channel: u64,
        /// The voucher file (JSON, as `machina channel voucher` writes it).
        #[arg(long)]
        voucher: PathBuf,
    },
    /// Close a voucher channel, settling the latest voucher if given; the rest returns to
    /// the payer (payee).
    Close {
        /// The channel.
        channel: u64,
        /// The latest voucher file.
        #[arg(long)]
        voucher: Option<PathBuf>,
    },
    /// Start closing a voucher channel (payer): after its challenge period anyone may finish
    /// the close; until then the payee may still settle.
    StartClose {
        /// The channel.
        channel: u64,
    },
    /// Finish a close whose challenge period has passed, refunding the payer (anyone).
    Finish {
        /// The channel.
        channel: u64,
    },
    /// Take what a stream has accrued (payee).
    Withdraw {
        /// The stream.
        channel: u64,
    },
    /// End a stream: the payee gets what accrued, the payer the rest (payer or payee).
    Cancel {
        /// The stream.
        channel: u64,
    },
    /// A channel: parties, deposit, paid, refunded, mode and status.
    Show {
        /// The channel.
        channel: u64,
    },
    /// Write the channel's proof for `machina verify-proof`.
    Proof {
        /// The channel.
        channel: u64,
        /// Write the proof here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Reads a voucher file written by `machina channel voucher`.
pub(crate) fn read_voucher(path: &PathBuf) -> Result<SignedVoucher> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a voucher", path.display()))
}

/// Runs `machina channel ...`.
pub fn channel(ctx: &DeviceCtx, signing: &Signing, cmd: ChannelCommand) -> Result<()> {
    let call = match cmd {
        ChannelCommand::Open { payee, deposit, challenge_blocks, asset } => {
            let payee = ctx.address(&payee)?;
            ChannelsCall::Open { payee, asset, deposit, challenge_blocks }
        }
        ChannelCommand::OpenStream { payee, deposit, rate_per_sec, asset } => {
            let payee = ctx.address(&payee)?;
            ChannelsCall::OpenStream { payee, asset, deposit, rate_per_sec }
        }
        ChannelCommand::TopUp { channel, amount } => ChannelsCall::TopUp { channel, amount },
        ChannelCommand::Voucher { channel, cumulative, out } => {
            let key = ctx.keyring.get(&signing.from)?;
            let chain_id = ctx.client.status()?.chain_id;
            let voucher = SignedVoucher::sign(&key.key, &chain_id, Voucher { channel, cumulative });
            let text = serde_json::to_string_pretty(&voucher)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, format!("{text}\n"))
                        .with_context(|| format!("writing {}", path.display()))?;
                    let body = json!({ "file": path, "voucher": voucher });
                    ctx.print(&body, || {
                        format!(
                            "voucher for {cumulative} in all on channel {channel} written to {}",
                            path.display()
                        )
                    });
                }
                None => println!("{text}"),
            }
            return Ok(());
        }
        ChannelCommand::Settle { channel, voucher } => {
            ChannelsCall::Settle { channel, voucher: read_voucher(&voucher)? }
        }
        ChannelCommand::Close { channel, voucher } => ChannelsCall::Close {
            channel,
            voucher: voucher.as_ref().map(read_voucher).transpose()?,
        },
        ChannelCommand::StartClose { channel } => ChannelsCall::StartClose { channel },
        ChannelCommand::Finish { channel } => ChannelsCall::Finish { channel },
        ChannelCommand::Withdraw { channel } => ChannelsCall::Withdraw { channel },
        ChannelCommand::Cancel { channel } => ChannelsCall::Cancel { channel },
        ChannelCommand::Show { channel } => {
            let c = ctx.client.channel(channel)?;
            let now = ctx.client.status()?.latest_timestamp_ms.unwrap_or(0);
            ctx.print(&c, || describe(&c, now));
            return Ok(());
        }
        ChannelCommand::Proof { channel, out } => {
            return write_proof(ctx, &ctx.client.channel_proof(channel)?, out);
        }
    };
    let status = ctx.execute(&signing.from, vec![Call::Channels(call)])?;
    report(ctx, &status)
}

/// Prints what a channel transaction did.
fn report(ctx: &DeviceCtx, status: &TxStatus) -> Result<()> {
    let Some(receipt) = &status.receipt else {
        bail!("transaction {} has no receipt", status.hash)
    };
    let lines: Vec<String> = receipt
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Channels(e) => Some(describe_event(e)),
            _ => None,
        })
        .collect();
    let body = json!({ "tx": status.hash, "events": receipt.events });
    ctx.print(&body, || lines.join("\n"));
    Ok(())
}

fn describe_event(e: &ChannelsEvent) -> String {
    match e {
        ChannelsEvent::Opened { channel, payee, asset, deposit, .. } => {
            format!(
                "channel {channel} opened to {payee}: {deposit} escrowed ({})",
                asset_name(*asset)
            )
        }
        ChannelsEvent::ToppedUp { channel, amount, deposit } => {
            format!("channel {channel} topped up by {amount}; deposit {deposit}")
        }
        ChannelsEvent::Paid { channel, to, amount, total } => {
            format!("channel {channel} paid {amount} to {to} ({total} in all)")
        }
        ChannelsEvent::CloseStarted { channel, until } => {
            format!("channel {channel} closing: anyone may finish the close from height {until}")
        }
        ChannelsEvent::Closed { channel, paid, refunded } => {
            format!("channel {channel} closed: {paid} paid to the payee, {refunded} refunded")
        }
    }
}

fn describe(c: &Channel, now_ms: u64) -> String {
    let mode = match c.mode {
        Mode::Vouchers { challenge_blocks } => {
            format!("vouchers, challenge period {challenge_blocks} blocks")
        }
        Mode::Stream { rate_per_sec, start_ms } => format!(
            "stream of {rate_per_sec}/s since {start_ms} ms, {} accrued by the latest block",
            streamed(c.deposit, rate_per_sec, start_ms, now_ms)
        ),
    };
    let status = match c.status {
        Status::Open {} => "open".to_string(),
        Status::Closing { until } => format!("closing (may be finished from height {until})"),
        Status::Closed {} => "closed".to_string(),
    };
    format!(
        "channel {}: {} -> {}, {}\n  deposit {}, paid {}, refunded {}, held {}\n  {mode}; {status}",
        c.id,
        c.payer,
        c.payee,
        asset_name(c.asset),
        c.deposit,
        c.paid,
        c.refunded,
        c.held()
    )
}

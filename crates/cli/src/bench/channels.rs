//! `bench channels`: payment channels, off chain and on chain.
//!
//! - **Off chain**: a payer signs `--vouchers` cumulative vouchers for one channel, one after
//!   the other, and the payee verifies each as it arrives (`SignedVoucher::verify`, then keeps
//!   it if it raises what the channel owes), both on one core and timed apart: vouchers signed
//!   and verified per second. For comparison, the same vouchers verified with the payer's key
//!   decoded once, as a payee that kept it could.
//! - **On chain**: for each `--counts` count, on an in-memory state (the executor of
//!   `bench ownership`), `--channels` payers each open a channel to their own payee, then each
//!   payee closes its channel with the latest voucher. Figures: microseconds per open and per
//!   close (the blocks' execution, with the voucher's signature check; transaction signatures
//!   are checked before execution, as in every state-machine benchmark), and the state bytes
//!   those blocks wrote per channel.
//!
//! The chain sees one voucher per close, whatever the count: the others are the payer's and
//! the payee's work off chain. So that each row says what a payee really does, the first
//! channel of a row exchanges that many vouchers: its payer signs each, its payee verifies
//! each as it arrives and closes with the last (the payee column is that channel's time).
//! The other payers sign only the latest voucher of their sequence, the one their payee
//! closes with; to the chain it is the same voucher of the same size.

use super::{CHAIN_ID, InMemoryChain, Machine, Report, micros, unsigned};
use anyhow::{Context, Result, bail};
use clap::Args;
use commonware_cryptography::{Signer, Verifier, ed25519::PrivateKey};
use machina_app::{Genesis, Params, genesis::GenesisAccount, state::StateRead};
use machina_types::{
    Address, Amount, ChannelsCall, SignedTransaction,
    channels::{
        ChannelId, SignedVoucher, VOUCHER_NAMESPACE, Voucher, keys, state::Channel, voucher_message,
    },
};
use serde::Serialize;
use std::time::{Duration, Instant};

/// What one voucher pays (units): each voucher raises the cumulative amount by this much.
const PRICE: Amount = 10;
/// Vouchers signed, then verified, at a time off chain.
const CHUNK: u64 = 1024;

/// Options of `bench channels`.
#[derive(Args, Debug, Clone)]
pub struct ChannelsArgs {
    /// Vouchers signed and verified off chain for one channel (the off-chain rates).
    #[arg(long, default_value_t = 100_000)]
    pub vouchers: u64,
    /// Vouchers each channel exchanged off chain before its close, one row per count,
    /// comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,1000,1000000")]
    pub counts: Vec<u64>,
    /// Channels opened and closed on chain at each count.
    #[arg(long, default_value_t = 1_000)]
    pub channels: usize,
}

/// Off-chain figures: one payer signing, one payee verifying, each on one core.
#[derive(Debug, Serialize)]
pub struct OffChain {
    /// Vouchers signed and verified.
    pub vouchers: u64,
    /// Vouchers the payer signs per second.
    pub signed_per_s: f64,
    /// Vouchers the payee verifies per second (`SignedVoucher::verify`).
    pub verified_per_s: f64,
    /// Microseconds per verification.
    pub us_per_verify: f64,
    /// Vouchers verified per second with the payer's public key decoded once.
    pub verified_per_s_key_decoded_once: f64,
}

/// One row of the on-chain figures.
#[derive(Debug, Serialize)]
pub struct Row {
    /// Vouchers each channel exchanged off chain before its close.
    pub vouchers: u64,
    /// Channels opened and closed.
    pub channels: usize,
    /// Microseconds per open, on chain.
    pub us_per_open: f64,
    /// Microseconds per close with the latest voucher, on chain.
    pub us_per_close: f64,
    /// State bytes (keys and values) the opening blocks wrote, per channel.
    pub bytes_written_per_open: f64,
    /// State bytes the closing blocks wrote, per channel.
    pub bytes_written_per_close: f64,
    /// Bytes of a closed channel's record (key and value), what the channel keeps in state.
    pub channel_record_bytes: usize,
    /// Microseconds the payee of the first channel spent verifying its vouchers off chain.
    pub payee_us_verifying: f64,
    /// Microseconds its payer spent signing them.
    pub payer_us_signing: f64,
}

impl Row {
    /// The row as a line of the text report's table.
    fn text(&self) -> String {
        format!(
            "{:>16} {:>9} {:>9.1} {:>9.1} {:>15.0} {:>16.0} {:>9} {:>17.0} ({:.0})\n",
            self.vouchers,
            self.channels,
            self.us_per_open,
            self.us_per_close,
            self.bytes_written_per_open,
            self.bytes_written_per_close,
            self.channel_record_bytes,
            self.payee_us_verifying,
            self.payer_us_signing,
        )
    }
}

/// Results of `bench channels`.
#[derive(Debug, Serialize)]
pub struct ChannelsReport {
    /// Off chain.
    pub off_chain: OffChain,
    /// On chain, one row per count.
    pub rows: Vec<Row>,
    /// The machine, calibrated in this run.
    pub machine: Machine,
}

impl Report for ChannelsReport {
    fn text(&self) -> String {
        let o = &self.off_chain;
        let mut out = format!(
            "off chain, one core each: {} vouchers of one channel\n\
             payer signs         {:.0} vouchers/s\n\
             payee verifies      {:.0} vouchers/s ({:.1} us/voucher); {:.0} vouchers/s with \
             the payer's key decoded once\n\n\
             on chain (in-memory state machine), per channel:\n\
             vouchers/channel  channels   us/open  us/close  B written/open  B written/close  \
             record B  payee us verifying all (payer us signing)\n",
            o.vouchers,
            o.signed_per_s,
            o.verified_per_s,
            o.us_per_verify,
            o.verified_per_s_key_decoded_once,
        );
        self.rows.iter().for_each(|row| out.push_str(&row.text()));
        out.push_str(&self.machine.text());
        out
    }
}

/// Runs `bench channels`.
pub fn run(args: &ChannelsArgs) -> Result<ChannelsReport> {
    if args.vouchers == 0 || args.channels == 0 {
        bail!("--vouchers and --channels must be positive");
    }
    if args.counts.is_empty() || args.counts.iter().any(|c| !(1..=100_000_000).contains(c)) {
        bail!("--counts must list counts in 1..=100000000");
    }
    let machine = Machine::calibrate();
    eprintln!("off chain: {} vouchers...", args.vouchers);
    let off_chain = off_chain(args.vouchers)?;
    let rows = args.counts.iter().map(|c| row(args.channels, *c)).collect::<Result<_>>()?;
    Ok(ChannelsReport { off_chain, rows, machine })
}

/// A channel's vouchers exchanged off chain: the payee's latest, and the time each side took.
struct Exchange {
    latest: SignedVoucher,
    signing: Duration,
    verifying: Duration,
}

/// `payer` pays `count` vouchers of [`PRICE`] over `channel` (holding `deposit`): signs each,
/// and its payee verifies each as it arrives and keeps it if it raises what it may take.
fn exchange(
    payer: &PrivateKey,
    channel: ChannelId,
    count: u64,
    deposit: Amount,
) -> Result<Exchange> {
    let payer_address = address(payer);
    let (mut signing, mut verifying) = (Duration::ZERO, Duration::ZERO);
    let mut latest: Option<SignedVoucher> = None;
    for first in (1..=count).step_by(CHUNK as usize) {
        let started = Instant::now();
        let chunk: Vec<SignedVoucher> = (first..=(first + CHUNK - 1).min(count))
            .map(|i| {
                SignedVoucher::sign(payer, CHAIN_ID, Voucher { channel, cumulative: i * PRICE })
            })
            .collect();
        signing += started.elapsed();
        let started = Instant::now();
        for voucher in chunk {
            let paid = latest.as_ref().map_or(0, |l| l.voucher.cumulative);
            let Voucher { channel: named, cumulative } = voucher.voucher;
            if named != channel
                || cumulative <= paid
                || cumulative > deposit
                || !voucher.verify(CHAIN_ID, &payer_address)
            {
                bail!("the payee refused voucher {cumulative} of channel {channel}");
            }
            latest = Some(voucher);
        }
        verifying += started.elapsed();
    }
    Ok(Exchange { latest: latest.context("no voucher")?, signing, verifying })
}

fn off_chain(vouchers: u64) -> Result<OffChain> {
    let payer = PrivateKey::from_seed(5);
    let exchanged = exchange(&payer, 1, vouchers, vouchers * PRICE)?;
    // The same work with the payer's key decoded once (a payee could keep it per channel).
    let key = payer.public_key();
    let signed: Vec<SignedVoucher> = (1..=vouchers.min(10_000))
        .map(|i| SignedVoucher::sign(&payer, CHAIN_ID, Voucher { channel: 1, cumulative: i }))
        .collect();
    let started = Instant::now();
    for v in &signed {
        let message = voucher_message(CHAIN_ID, &v.voucher);
        if !key.verify(VOUCHER_NAMESPACE, &message, &v.signature) {
            bail!("a voucher did not verify");
        }
    }
    let decoded_once = signed.len() as f64 / started.elapsed().as_secs_f64();
    let verified_per_s = vouchers as f64 / exchanged.verifying.as_secs_f64();
    Ok(OffChain {
        vouchers,
        signed_per_s: vouchers as f64 / exchanged.signing.as_secs_f64(),
        verified_per_s,
        us_per_verify: 1e6 / verified_per_s,
        verified_per_s_key_decoded_once: decoded_once,
    })
}

fn address(key: &PrivateKey) -> Address {
    Address::of(&key.public_key())
}

/// `channels` channels, each paid by `count` vouchers off chain, opened and closed on chain.
fn row(channels: usize, count: u64) -> Result<Row> {
    eprintln!("{channels} channels of {count} vouchers: opening...");
    let validator = PrivateKey::from_seed(1);
    let payers: Vec<PrivateKey> =
        (0..channels as u64).map(|i| PrivateKey::from_seed(1_000_000 + i)).collect();
    let payees: Vec<PrivateKey> =
        (0..channels as u64).map(|i| PrivateKey::from_seed(100_000_000 + i)).collect();
    let genesis = Genesis {
        chain_id: CHAIN_ID.into(),
        genesis_time_ms: 0,
        validators: vec![address(&validator)],
        accounts: payers
            .iter()
            .chain(&payees)
            .map(|k| GenesisAccount { address: address(k), balance: 1 << 50 })
            .collect(),
        params: Params::default(),
    };
    let mut chain = InMemoryChain::start(genesis)?;
    let placeholder = validator.sign(b"placeholder", b"placeholder");
    let tx = |signer: &PrivateKey, call: ChannelsCall| {
        unsigned(CHAIN_ID, address(signer), 0, vec![call.into()], &placeholder)
    };
    // The payer escrows one voucher more than it pays: each close pays and refunds.
    let (deposit, paid) = ((count + 1) * PRICE, count * PRICE);
    let opens: Vec<SignedTransaction> = payers
        .iter()
        .zip(&payees)
        .map(|(payer, payee)| {
            let payee = address(payee);
            tx(payer, ChannelsCall::Open { payee, asset: None, deposit, challenge_blocks: 100 })
        })
        .collect();
    let (opening, open_bytes) = measured(&mut chain, &opens)?;

    // Channels are numbered in opening order from 1. Off chain: the first channel's full
    // sequence; the other payers sign only their latest voucher.
    eprintln!("{channels} channels of {count} vouchers: the first channel's vouchers...");
    let exchanged = exchange(&payers[0], 1, count, deposit)?;
    let latest = std::iter::once(exchanged.latest).chain(payers.iter().enumerate().skip(1).map(
        |(i, payer)| {
            let voucher = Voucher { channel: i as ChannelId + 1, cumulative: paid };
            SignedVoucher::sign(payer, CHAIN_ID, voucher)
        },
    ));
    let closes: Vec<SignedTransaction> = payees
        .iter()
        .zip(latest)
        .map(|(payee, voucher)| {
            let channel = voucher.voucher.channel;
            tx(payee, ChannelsCall::Close { channel, voucher: Some(voucher) })
        })
        .collect();
    eprintln!("{channels} channels of {count} vouchers: closing...");
    let (closing, close_bytes) = measured(&mut chain, &closes)?;
    let record_bytes = check_closed(&chain, &payers, paid)?;
    Ok(Row {
        vouchers: count,
        channels,
        us_per_open: micros(opening, channels),
        us_per_close: micros(closing, channels),
        bytes_written_per_open: open_bytes as f64 / channels as f64,
        bytes_written_per_close: close_bytes as f64 / channels as f64,
        channel_record_bytes: record_bytes,
        payee_us_verifying: micros(exchanged.verifying, 1),
        payer_us_signing: micros(exchanged.signing, 1),
    })
}

/// Runs `txs`; returns the time they took and the state bytes they wrote.
fn measured(chain: &mut InMemoryChain, txs: &[SignedTransaction]) -> Result<(Duration, usize)> {
    let before = chain.written_bytes;
    let took = chain.timed(txs)?;
    Ok((took, chain.written_bytes - before))
}

/// Checks that channel `i + 1` of each payer `i` closed having paid `paid` and refunded the
/// rest; returns the size of a closed channel's record.
fn check_closed(chain: &InMemoryChain, payers: &[PrivateKey], paid: Amount) -> Result<usize> {
    let mut record_bytes = 0;
    for (i, payer) in payers.iter().enumerate() {
        let key = keys::channel(i as ChannelId + 1);
        let c: Channel = chain.state.get(&key).context("a channel is missing")?;
        if c.payer != address(payer) || !c.is_closed() || c.paid != paid || c.refunded != PRICE {
            bail!("channel {} did not close as expected: {c:?}", c.id);
        }
        let value = chain.state.read(&key).ok().flatten().map_or(0, |v| v.len());
        record_bytes = key.0.len() + value;
    }
    Ok(record_bytes)
}

//! `bench ownership`: a machine's revenue inside the state machine, per operation, for
//! machines with more and more holders.
//!
//! For each `--holders` count, on an in-memory state: a maker onboards a device, its owner
//! tokenizes it into 10 shares per holder and gives each holder its 10 shares (one share
//! transfer each). Then, timed phase by phase (the blocks' execution, signatures aside as
//! everywhere in the state machine's benchmarks):
//! - **payments**: `--payments` transactions from one holder, each paying the treasury (100
//!   units per holder, so that every holding earns whole units) and claiming, so that each
//!   payment is split between reserve and holders (one index update) and one holding settled;
//! - **claims**: `--claims` other holders (all of them if fewer) each claim what every
//!   payment earned them;
//! - **transfers**: `--transfers` share transfers between holders (both sides settled and
//!   checkpointed for votes).
//!
//! - **native transfers**: as many plain native-token transfers between the same accounts,
//!   a control: what a minimal transaction costs on a state of that size.
//!
//! The per-operation figures should not grow with the number of holders faster than the
//! control does (a larger state costs every transaction a little more).

use super::{InMemoryChain, Machine, Report, micros, unsigned};
use anyhow::{Result, bail};
use clap::Args;
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use machina_app::{Genesis, Params, genesis::GenesisAccount};
use machina_sdk::device::DeviceIdentity;
use machina_types::{
    Address, BankCall, Call, IdentityCall, OwnershipCall, SignedTransaction, ownership::treasury,
};
use serde::Serialize;

/// Options of `bench ownership`.
#[derive(Args, Debug, Clone)]
pub struct OwnershipArgs {
    /// Holder counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,100000")]
    pub holders: Vec<usize>,
    /// Payments to the machine at each holder count.
    #[arg(long, default_value_t = 1_000_000)]
    pub payments: usize,
    /// Claims at each holder count (at most one per holder).
    #[arg(long, default_value_t = 100_000)]
    pub claims: usize,
    /// Share transfers at each holder count.
    #[arg(long, default_value_t = 100_000)]
    pub transfers: usize,
}

/// One holder count's figures.
#[derive(Debug, Serialize)]
pub struct Scale {
    /// Holders of the machine's shares.
    pub holders: usize,
    /// Payments made.
    pub payments: usize,
    /// Microseconds per payment (paid, split, one holding settled and claimed).
    pub us_per_payment: f64,
    /// Claims made.
    pub claims: usize,
    /// Microseconds per claim.
    pub us_per_claim: f64,
    /// Share transfers made.
    pub transfers: usize,
    /// Microseconds per share transfer.
    pub us_per_transfer: f64,
    /// Microseconds per native transfer between the same accounts (the control).
    pub us_per_native_transfer: f64,
    /// Revenue claimed by all holders (units), and what the claims phase paid.
    pub claimed: u128,
}

/// Results of `bench ownership`.
#[derive(Debug, Serialize)]
pub struct OwnershipReport {
    /// One entry per holder count.
    pub scales: Vec<Scale>,
    /// The machine, calibrated in this run.
    pub machine: Machine,
}

impl Report for OwnershipReport {
    fn text(&self) -> String {
        let mut out = String::from(
            "holders      payments   us/payment   claims   us/claim   transfers   us/transfer   us/native transfer\n",
        );
        for s in &self.scales {
            out.push_str(&format!(
                "{:>7} {:>13} {:>12.1} {:>8} {:>10.1} {:>11} {:>13.1} {:>20.1}\n",
                s.holders,
                s.payments,
                s.us_per_payment,
                s.claims,
                s.us_per_claim,
                s.transfers,
                s.us_per_transfer,
                s.us_per_native_transfer
            ));
        }
        out.push_str(&self.machine.text());
        out
    }
}

/// Runs `bench ownership`.
pub fn run(args: &OwnershipArgs) -> Result<OwnershipReport> {
    if args.holders.is_empty() || args.holders.iter().any(|h| !(2..=1_000_000).contains(h)) {
        bail!("--holders must list counts in 2..=1000000");
    }
    let machine = Machine::calibrate();
    let scales = args.holders.iter().map(|h| scale(args, *h)).collect::<Result<_>>()?;
    Ok(OwnershipReport { scales, machine })
}

fn scale(args: &OwnershipArgs, holders: usize) -> Result<Scale> {
    eprintln!("{holders} holders: setting up...");
    let maker = PrivateKey::from_seed(1);
    let maker_key = PrivateKey::from_seed(2);
    let sponsor = PrivateKey::from_seed(3);
    let keys: Vec<PrivateKey> =
        (0..holders as u64).map(|i| PrivateKey::from_seed(1_000_000 + i)).collect();
    let addresses: Vec<Address> = keys.iter().map(|k| Address::of(&k.public_key())).collect();
    // Holder 0 pays the machine (and claims) every time: the others' revenue accumulates.
    let funded = |(i, address): (usize, Address)| GenesisAccount {
        address,
        balance: if i == 2 { 1 << 56 } else { 1 << 40 },
    };
    let genesis = Genesis {
        chain_id: "machina-bench".into(),
        genesis_time_ms: 0,
        validators: vec![Address::of(&maker.public_key())],
        accounts: [&maker, &sponsor]
            .iter()
            .map(|k| Address::of(&k.public_key()))
            .chain(addresses.iter().copied())
            .enumerate()
            .map(funded)
            .collect(),
        params: Params::default(),
    };
    let chain_id = genesis.chain_id.clone();
    let mut chain = InMemoryChain::start(genesis)?;
    let placeholder = maker.sign(b"placeholder", b"placeholder");
    let tx = |signer: Address, nonce: u64, calls: Vec<Call>| {
        unsigned(&chain_id, signer, nonce, calls, &placeholder)
    };
    let sponsor_address = Address::of(&sponsor.public_key());

    // A maker, its device, the machine.
    let register = IdentityCall::RegisterMaker {
        name: "bench".into(),
        maker_key: Address::of(&maker_key.public_key()),
        bond: 1 << 30,
    };
    chain.block(&[tx(Address::of(&maker.public_key()), 0, vec![register.into()])])?;
    let device = DeviceIdentity::certify(
        PrivateKey::from_seed(4),
        Address::of(&maker.public_key()),
        &maker_key,
        "turbine",
        "t1",
    );
    let mut calls = device.onboard_calls(&chain_id, &sponsor_address, None);
    calls.push(
        OwnershipCall::Tokenize {
            devices: vec![device.id()],
            symbol: "WT".into(),
            name: "Wind turbine".into(),
            supply: holders as u64 * 10,
            retained: holders as u64 * 10,
            reserve_bps: 1_000,
            governance: None,
        }
        .into(),
    );
    chain.block(&[tx(sponsor_address, 0, calls)])?;
    let (machine, shares) = (1, 1);
    let gifts: Vec<SignedTransaction> = addresses
        .iter()
        .enumerate()
        .map(|(i, to)| {
            let give = BankCall::TransferAsset { asset: shares, to: *to, amount: 10 };
            tx(sponsor_address, 1 + i as u64, vec![give.into()])
        })
        .collect();
    chain.timed(&gifts)?;
    let mut nonces = vec![0u64; holders];
    let mut next = |i: usize| {
        nonces[i] += 1;
        nonces[i] - 1
    };

    // Payments, each split and one holding settled.
    eprintln!("{holders} holders: {} payments...", args.payments);
    let pay_to = treasury(machine);
    let payments: Vec<SignedTransaction> = (0..args.payments)
        .map(|i| {
            let payer = 0;
            let calls = vec![
                BankCall::Transfer { to: pay_to, amount: holders as u64 * 100 + (i % 7) as u64 }
                    .into(),
                OwnershipCall::Claim { machine }.into(),
            ];
            tx(addresses[payer], next(payer), calls)
        })
        .collect();
    let paying = chain.timed(&payments)?;

    // Claims by distinct holders.
    let claims = args.claims.min(holders - 1);
    eprintln!("{holders} holders: {claims} claims...");
    let claim_txs: Vec<SignedTransaction> = (0..claims)
        .map(|i| tx(addresses[i + 1], next(i + 1), vec![OwnershipCall::Claim { machine }.into()]))
        .collect();
    let claiming = chain.timed(&claim_txs)?;

    // Share transfers between holders.
    eprintln!("{holders} holders: {} share transfers...", args.transfers);
    let transfer_txs: Vec<SignedTransaction> = (0..args.transfers)
        .map(|i| {
            let from = i % holders;
            let to = addresses[(from + 1 + i / holders) % holders];
            let give = BankCall::TransferAsset { asset: shares, to, amount: 1 };
            tx(addresses[from], next(from), vec![give.into()])
        })
        .collect();
    let transferring = chain.timed(&transfer_txs)?;

    // The control: native transfers between the same accounts.
    let native_txs: Vec<SignedTransaction> = (0..args.transfers)
        .map(|i| {
            let from = i % holders;
            let to = addresses[(from + 1 + i / holders) % holders];
            tx(addresses[from], next(from), vec![BankCall::Transfer { to, amount: 1 }.into()])
        })
        .collect();
    let native = chain.timed(&native_txs)?;

    let m: machina_app::modules::ownership::state::Machine =
        chain.state.get(&machina_app::modules::ownership::keys::machine(machine)).unwrap();
    Ok(Scale {
        holders,
        payments: args.payments,
        us_per_payment: micros(paying, args.payments),
        claims,
        us_per_claim: micros(claiming, claims),
        transfers: args.transfers,
        us_per_transfer: micros(transferring, args.transfers),
        us_per_native_transfer: micros(native, args.transfers),
        claimed: m.index.credited - u128::from(m.pending),
    })
}

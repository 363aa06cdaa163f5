//! `machina`: run a Machina node or dev chain, manage keys, send transactions, query state
//! and verify proofs. Every command prints human-readable output by default and JSON with
//! `--json`. Commands that talk to a node do so through the `machina-sdk` client.

mod bench;
mod browser;
mod commands;
mod setup;
mod solver;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Machina: a ledger and marketplace for machines.
#[derive(Parser, Debug)]
#[command(name = "machina", version, about, long_about = None)]
pub struct Cli {
    /// Node home directory (config, genesis, keys, data).
    #[arg(long, global = true, env = "MACHINA_HOME", default_value_os_t = machina_sdk::keys::default_home())]
    pub home: PathBuf,
    /// Node API URL [default: the home's API address, else http://127.0.0.1:7700].
    #[arg(long, global = true, env = "MACHINA_NODE")]
    pub node: Option<String>,
    /// Print JSON instead of human-readable output.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by chain-creating commands.
#[derive(Args, Debug, Clone)]
pub struct ChainArgs {
    /// Chain id.
    #[arg(long)]
    pub chain_id: Option<String>,
    /// Funded dev accounts to create (`dev0`, `dev1`, ...).
    #[arg(long, default_value_t = 4)]
    pub dev_accounts: usize,
    /// Target block interval in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub block_interval_ms: u64,
}

/// Options of a new single-validator home.
#[derive(Args, Debug, Clone)]
pub struct InitArgs {
    /// Chain options.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// API listen address (used when the home is created).
    #[arg(long, default_value = "127.0.0.1:7700")]
    pub api: std::net::SocketAddr,
    /// p2p listen address (used when the home is created).
    #[arg(long, default_value = "127.0.0.1:7701")]
    pub p2p: std::net::SocketAddr,
    /// MQTT broker listen address (used when the home is created).
    #[arg(long, default_value = "127.0.0.1:7702")]
    pub mqtt: std::net::SocketAddr,
}

/// Options of `machina dev`.
#[derive(Args, Debug, Clone)]
pub struct DevArgs {
    /// Options of the home, when it is created.
    #[command(flatten)]
    pub init: InitArgs,
    /// Also populate and animate a small town (Berlin) through the API and the MQTT broker:
    /// makers, 30 devices publishing signed readings every second, markets for data, energy
    /// and unlocks with consumers bidding every batch, a solver, leases delivered and
    /// refunded, oracle feeds, a tokenized machine with an offering and a vote, a data
    /// product, a payment channel and a reward pool. Uses the funded dev accounts dev0..dev3
    /// and adds `demo-*` keys to the keyring; writes what it created to <home>/demo.json.
    #[arg(long)]
    pub demo: bool,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a single-validator chain in --home.
    Init(InitArgs),
    /// Run a single-validator dev chain (initializing --home on first use) until Ctrl-C.
    Dev(DevArgs),
    /// Write the homes of an N-validator local testnet sharing one genesis.
    Testnet {
        /// Number of validators.
        #[arg(long, default_value_t = 4)]
        validators: usize,
        /// Directory to write node0, node1, ... into.
        #[arg(long)]
        dir: PathBuf,
        /// First port: node i uses base+10i (API), base+10i+1 (p2p), base+10i+2 (MQTT).
        #[arg(long, default_value_t = 7800)]
        base_port: u16,
        /// Chain options.
        #[command(flatten)]
        chain: ChainArgs,
    },
    /// Run the validator in --home until Ctrl-C.
    Node,
    /// Manage account keys (in <home>/keys).
    #[command(subcommand)]
    Keys(commands::KeysCommand),
    /// Sign and submit transactions (waits for finalization unless --no-wait).
    Tx(commands::TxArgs),
    /// Read chain state.
    #[command(subcommand)]
    Query(commands::QueryCommand),
    /// Check a proof file (from `machina query proof`) offline against the genesis validators.
    VerifyProof {
        /// The proof file.
        file: PathBuf,
        /// Genesis file [default: <home>/genesis.json].
        #[arg(long)]
        genesis: Option<PathBuf>,
    },
    /// Register as a device maker.
    Maker {
        /// Signing options.
        #[command(flatten)]
        signing: commands::device::Signing,
        /// What to do.
        #[command(subcommand)]
        command: commands::maker::MakerCommand,
    },
    /// Onboard and manage devices; sign and publish readings; simulate a fleet.
    Device {
        /// Signing options.
        #[command(flatten)]
        signing: commands::device::Signing,
        /// What to do.
        #[command(subcommand)]
        command: commands::device::DeviceCommand,
    },
    /// Oracle feeds over device readings.
    Feed {
        /// Signing options.
        #[command(flatten)]
        signing: commands::device::Signing,
        /// What to do.
        #[command(subcommand)]
        command: commands::feed::FeedCommand,
    },
    /// Trade resources: stake, offers, intents, books, leases and their delivery.
    Market {
        /// Signing options.
        #[command(flatten)]
        signing: commands::device::Signing,
        /// What to do.
        #[command(subcommand)]
        command: commands::market::MarketCommand,
    },
    /// Tokenize devices into a machine whose shares earn its revenue; show machines and
    /// holdings; claim revenue.
    Machine {
        /// Signing options.
        #[command(flatten)]
        signing: commands::device::Signing,
        /// What to do.
        #[command(subcommand)]
        command: commands::ownership::MachineCommand,
    },
    /// Sell a machine's shares: create offerings, buy, release tranches of the funds.
    Offering {
        /// Signing options.
        #[command(flatten)]
        signing: commands::device::Signing,
        /// What to do.
        #[command(subcommand)]
        command: commands::ownership::OfferingCommand,
    },
    /// Govern a machine as its holders: propose calls for its treasury, vote, execute, close.
    Dao {
        /// Signing options.
        #[command(flatten)]
        signing: commands::device::Signing,
        /// What to do.
        #[command(subcommand)]
        command: commands::dao::DaoCommand,
    },
    /// Usage rights: NFTs to use units of a device's resource in a window; mint, list, buy,
    /// use, show.
    Right {
        /// Signing options.
        #[command(flatten)]
        signing: commands::device::Signing,
        /// What to do.
        #[command(subcommand)]
        command: commands::rights::RightCommand,
    },
    /// Data assets: NFTs carrying a stream's data rights (its data revenue, its access
    /// policy); mint, show who holds them.
    DataAsset {
        /// Signing options.
        #[command(flatten)]
        signing: commands::device::Signing,
        /// What to do.
        #[command(subcommand)]
        command: commands::rights::DataAssetCommand,
    },
    /// Reward pools paying devices per epoch for the work the chain counts: create, enroll,
    /// report, claim, close, show, and proofs of a payout.
    Rewards {
        /// Signing options.
        #[command(flatten)]
        signing: commands::device::Signing,
        /// What to do.
        #[command(subcommand)]
        command: commands::rewards::RewardsCommand,
    },
    /// Data products you sell: a stream secret for sealed readings, listings, subscribers'
    /// keys, revocations, and collecting by-reading payments.
    Product {
        /// Signing options.
        #[command(flatten)]
        signing: commands::device::Signing,
        /// What to do.
        #[command(subcommand)]
        command: commands::products::ProductCommand,
    },
    /// Data you buy: subscribe to a product, read its readings decrypted (history and live,
    /// paying per reading), cancel.
    Data {
        /// Signing options.
        #[command(flatten)]
        signing: commands::device::Signing,
        /// What to do.
        #[command(subcommand)]
        command: commands::products::DataCommand,
    },
    /// Payment channels: open one with a deposit, pay it off chain with signed vouchers,
    /// settle or close with the latest; or stream a deposit by the second.
    Channel {
        /// Signing options.
        #[command(flatten)]
        signing: commands::device::Signing,
        /// What to do.
        #[command(subcommand)]
        command: commands::channels::ChannelCommand,
    },
    /// Agent wallets: policies the chain enforces on an account (spending limits per window,
    /// allow lists, cooldown, expiry), freeze and recovery by its guardian, session keys.
    Wallet {
        /// Signing options.
        #[command(flatten)]
        signing: commands::device::Signing,
        /// What to do.
        #[command(subcommand)]
        command: commands::wallets::WalletCommand,
    },
    /// k-of-n multisig accounts: create, propose calls, approve, execute after the
    /// timelock, cancel, show.
    Multisig {
        /// Signing options.
        #[command(flatten)]
        signing: commands::device::Signing,
        /// What to do.
        #[command(subcommand)]
        command: commands::wallets::MultisigCommand,
    },
    /// Run the reference solver: every batch, propose an allocation that adds surplus over the
    /// built-in clearing (needs solver stake: `machina market stake --solver`).
    Solver {
        /// Signing options.
        #[command(flatten)]
        signing: commands::device::Signing,
        /// How often to look at the books (ms).
        #[arg(long, default_value_t = 250)]
        interval_ms: u64,
    },
    /// Check a reading proof file (from `machina query readings --proof-out`) offline, from
    /// the maker's certificate to a block finalized by the genesis validators.
    VerifyReading {
        /// The proof file.
        file: PathBuf,
        /// Genesis file [default: <home>/genesis.json].
        #[arg(long)]
        genesis: Option<PathBuf>,
    },
    /// Chain status of the node.
    Status,
    /// Measure performance.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() {
    let cli = Cli::parse();
    let json = cli.json;
    if let Err(error) = commands::dispatch(cli) {
        if json {
            let body = serde_json::json!({ "error": format!("{error:#}") });
            println!("{body}");
        } else {
            eprintln!("error: {error:#}");
        }
        std::process::exit(1);
    }
}

/// The result type of commands.
pub type CmdResult = Result<()>;

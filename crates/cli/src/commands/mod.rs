//! Command implementations, one file per command (or family of commands); this file holds
//! what they share and the dispatch.

pub mod channels;
pub mod dao;
mod demo;
pub mod device;
pub mod feed;
mod keys;
pub mod maker;
pub mod market;
mod node;
pub mod ownership;
pub mod products;
mod query;
pub mod rewards;
pub mod rights;
mod simulate;
mod tx;
mod verify;
pub mod wallets;

pub(crate) use node::init_logs;
pub use {keys::KeysCommand, query::QueryCommand, tx::TxArgs};
use {
    keys::keys,
    node::{dev, init, run_node, status, testnet},
    query::query,
    tx::tx,
    verify::{verify_proof, verify_reading},
};

use crate::{ChainArgs, Cli, CmdResult, Command, DevArgs, InitArgs, setup};
use anyhow::{Context as _, Result, anyhow, bail};
use clap::{Args, Subcommand};
use machina_node::home::Home;
use machina_sdk::{Client, Keyring, client::TxStatus, verify::verify_bundle};
use machina_store::ProofBundle;
use machina_types::{Address, BankCall, Call, Hash, codec::parse_hex_array};
use serde_json::{Value, json};
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

/// How long `machina tx` waits for finalization.
const WAIT: Duration = Duration::from_secs(30);

/// Ends the process with this code, without printing anything more.
#[derive(Debug)]
pub struct Exit(pub i32);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for Exit {}

struct Ctx {
    home: Home,
    node: Option<String>,
    json: bool,
}

impl Ctx {
    fn keyring(&self) -> Keyring {
        Keyring::new(self.home.keys_dir())
    }

    fn client(&self) -> Client {
        if let Some(url) = &self.node {
            return Client::new(url);
        }
        let url = match self.home.config() {
            Ok(config) => {
                let mut addr = config.api_listen;
                if addr.ip().is_unspecified() {
                    addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                format!("http://{addr}")
            }
            Err(_) => "http://127.0.0.1:7700".to_string(),
        };
        Client::new(&url)
    }

    fn address(&self, who: &str) -> Result<Address> {
        if let Ok(address) = who.parse::<Address>() {
            return Ok(address);
        }
        self.keyring().get(who).map(|k| k.address()).map_err(|_| {
            anyhow!("{who:?} is neither an address (64 hex characters) nor a key name")
        })
    }

    fn devices(&self) -> device::DeviceCtx {
        device::DeviceCtx {
            home: self.home.root().to_path_buf(),
            client: self.client(),
            keyring: self.keyring(),
            json: self.json,
        }
    }

    fn print(&self, value: &impl serde::Serialize, human: impl FnOnce() -> String) {
        output(self.json, value, human);
    }
}

/// Prints `value` as JSON with `json`, else the human text. A closed pipe (`| head`) ends the
/// program quietly.
pub fn output(json: bool, value: &impl serde::Serialize, human: impl FnOnce() -> String) {
    use std::io::Write as _;
    let text = match json {
        true => serde_json::to_string(value).unwrap_or_else(|e| format!("unprintable: {e}")),
        false => human(),
    };
    if let Err(error) = writeln!(std::io::stdout(), "{text}")
        && error.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// How an amount's asset reads: `asset <id>`, or the native token.
pub(crate) fn asset_name(asset: Option<u64>) -> String {
    asset.map_or_else(|| "native token".into(), |a| format!("asset {a}"))
}

/// The address `who` names: 64 hex characters, or a key name in `keyring`.
pub fn resolve_address(keyring: &Keyring, who: &str) -> Result<Address> {
    if let Ok(address) = who.parse::<Address>() {
        return Ok(address);
    }
    keyring
        .get(who)
        .map(|k| k.address())
        .map_err(|_| anyhow!("{who:?} is neither an address (64 hex characters) nor a key name"))
}

/// Runs a parsed command line.
pub fn dispatch(cli: Cli) -> CmdResult {
    let ctx = Ctx { home: Home::new(&cli.home), node: cli.node, json: cli.json };
    let result = match cli.command {
        Command::Init(args) => init(&ctx, &args),
        Command::Dev(args) => dev(&ctx, &args),
        Command::Testnet { validators, dir, base_port, chain } => {
            testnet(&ctx, validators, &dir, base_port, &chain)
        }
        Command::Node => run_node(&ctx),
        Command::Keys(cmd) => keys(&ctx, cmd),
        Command::Tx(args) => tx(&ctx, args),
        Command::Query(cmd) => query(&ctx, cmd),
        Command::VerifyProof { file, genesis } => verify_proof(&ctx, &file, genesis),
        Command::Status => status(&ctx),
        Command::Maker { signing, command } => maker::maker(&ctx.devices(), &signing, command),
        Command::Device { signing, command } => device::device(&ctx.devices(), &signing, command),
        Command::Feed { signing, command } => feed::feed(&ctx.devices(), &signing, command),
        Command::Market { signing, command } => market::market(&ctx.devices(), &signing, command),
        Command::Machine { signing, command } => {
            ownership::machine(&ctx.devices(), &signing, command)
        }
        Command::Offering { signing, command } => {
            ownership::offering(&ctx.devices(), &signing, command)
        }
        Command::Dao { signing, command } => dao::dao(&ctx.devices(), &signing, command),
        Command::Right { signing, command } => rights::right(&ctx.devices(), &signing, command),
        Command::DataAsset { signing, command } => {
            rights::data_asset(&ctx.devices(), &signing, command)
        }
        Command::Rewards { signing, command } => {
            rewards::rewards(&ctx.devices(), &signing, command)
        }
        Command::Product { signing, command } => {
            products::product(&ctx.devices(), &signing, command)
        }
        Command::Data { signing, command } => products::data(&ctx.devices(), &signing, command),
        Command::Channel { signing, command } => {
            channels::channel(&ctx.devices(), &signing, command)
        }
        Command::Wallet { signing, command } => wallets::wallet(&ctx.devices(), &signing, command),
        Command::Multisig { signing, command } => {
            wallets::multisig(&ctx.devices(), &signing, command)
        }
        Command::Solver { signing, interval_ms } => {
            market::run_solver(&ctx.devices(), &signing, interval_ms)
        }
        Command::VerifyReading { file, genesis } => verify_reading(&ctx, &file, genesis),
        Command::Bench(cmd) => crate::bench::run(cmd, ctx.json),
    };
    match result {
        Err(e) if e.downcast_ref::<Exit>().is_some() => {
            std::process::exit(e.downcast_ref::<Exit>().map_or(1, |x| x.0))
        }
        other => other,
    }
}

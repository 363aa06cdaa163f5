//! Command implementations.

use crate::{ChainArgs, Cli, CmdResult, Command, InitArgs, setup};
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

/// Key management.
#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create a new random key.
    New {
        /// Its name.
        name: String,
    },
    /// List keys.
    List,
    /// Show a key's address.
    Show {
        /// Its name.
        name: String,
    },
}

/// `machina tx`.
#[derive(Args, Debug)]
pub struct TxArgs {
    /// Name of the signing key in the keyring.
    #[arg(long, global = true, default_value = "dev0")]
    pub from: String,
    /// Return once the node accepted the transaction, without waiting for finalization.
    #[arg(long, global = true)]
    pub no_wait: bool,
    #[command(subcommand)]
    pub op: TxOp,
}

/// Transaction kinds.
#[derive(Subcommand, Debug)]
pub enum TxOp {
    /// Send native tokens.
    Transfer {
        /// Recipient address, or a key name.
        #[arg(long)]
        to: String,
        /// Amount in the smallest unit.
        #[arg(long)]
        amount: u64,
    },
    /// Fungible assets.
    #[command(subcommand)]
    Asset(AssetOp),
    /// Non-fungible tokens.
    #[command(subcommand)]
    Nft(NftOp),
}

/// Asset operations.
#[derive(Subcommand, Debug)]
pub enum AssetOp {
    /// Create an asset (you become its issuer).
    Create {
        /// Ticker (1-12 of A-Z, 0-9).
        #[arg(long)]
        symbol: String,
        /// Name.
        #[arg(long)]
        name: String,
        /// Display decimals.
        #[arg(long, default_value_t = 0)]
        decimals: u8,
        /// Supply cap (smallest unit).
        #[arg(long)]
        max_supply: Option<u64>,
        /// Metadata (hex).
        #[arg(long, default_value = "")]
        metadata: String,
    },
    /// Mint units (issuer only).
    Mint {
        /// Asset id.
        #[arg(long)]
        asset: u64,
        /// Recipient address, or a key name.
        #[arg(long)]
        to: String,
        /// Amount.
        #[arg(long)]
        amount: u64,
    },
    /// Send units.
    Transfer {
        /// Asset id.
        #[arg(long)]
        asset: u64,
        /// Recipient address, or a key name.
        #[arg(long)]
        to: String,
        /// Amount.
        #[arg(long)]
        amount: u64,
    },
    /// Destroy units you hold.
    Burn {
        /// Asset id.
        #[arg(long)]
        asset: u64,
        /// Amount.
        #[arg(long)]
        amount: u64,
    },
}

/// NFT operations.
#[derive(Subcommand, Debug)]
pub enum NftOp {
    /// Mint a token committing to a metadata document's hash.
    Mint {
        /// First owner address, or a key name.
        #[arg(long)]
        to: String,
        /// SHA-256 of the metadata document (hex).
        #[arg(long)]
        metadata_hash: String,
    },
    /// Give a token you own.
    Transfer {
        /// Token id.
        #[arg(long)]
        id: u64,
        /// New owner address, or a key name.
        #[arg(long)]
        to: String,
    },
    /// Destroy a token you own.
    Burn {
        /// Token id.
        #[arg(long)]
        id: u64,
    },
}

/// Queries.
#[derive(Subcommand, Debug)]
pub enum QueryCommand {
    /// Native balance (or an asset balance with --asset) of an address or key name.
    Balance {
        /// Address or key name.
        who: String,
        /// Asset id.
        #[arg(long)]
        asset: Option<u64>,
    },
    /// Account balance and nonces.
    Account {
        /// Address or key name.
        who: String,
    },
    /// A transaction's status and receipt.
    Tx {
        /// Transaction hash.
        hash: String,
    },
    /// A finalized block (the latest without a height).
    Block {
        /// Height.
        height: Option<u64>,
    },
    /// An asset.
    Asset {
        /// Asset id.
        id: u64,
    },
    /// A non-fungible token.
    Nft {
        /// Token id.
        id: u64,
    },
    /// A device record.
    Device {
        /// Device id.
        id: String,
    },
    /// A maker record.
    Maker {
        /// Maker account (address or key name).
        who: String,
    },
    /// A feed and its current value.
    Feed {
        /// Feed id.
        id: u64,
    },
    /// A device stream: readings the gateway stores and readings the chain has anchored.
    Stream {
        /// Device id.
        #[arg(long)]
        device: String,
        /// Stream id.
        #[arg(long, default_value_t = 1)]
        stream: u32,
    },
    /// Readings of a device stream (by sequence or time range), and proofs of them.
    Readings {
        /// Device id.
        #[arg(long)]
        device: String,
        /// Stream id.
        #[arg(long, default_value_t = 1)]
        stream: u32,
        /// First sequence number.
        #[arg(long)]
        from_seq: Option<u64>,
        /// Last sequence number.
        #[arg(long)]
        to_seq: Option<u64>,
        /// Earliest timestamp (ms).
        #[arg(long)]
        since_ms: Option<u64>,
        /// Latest timestamp (ms).
        #[arg(long)]
        until_ms: Option<u64>,
        /// Most readings listed.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Write the proof of reading `--seq` to this file (for `machina verify-reading`).
        #[arg(long, requires = "seq")]
        proof_out: Option<PathBuf>,
        /// The reading whose proof to write.
        #[arg(long)]
        seq: Option<u64>,
    },
    /// A proof of an account (or any state key) at the latest finalized block, as a file
    /// that `machina verify-proof` checks offline.
    Proof {
        /// Prove this account (address or key name).
        #[arg(long, conflicts_with = "key", required_unless_present = "key")]
        account: Option<String>,
        /// Prove this raw state key (hex).
        #[arg(long)]
        key: Option<String>,
        /// Write the proof here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

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

    fn devices(&self) -> crate::device::DeviceCtx {
        crate::device::DeviceCtx {
            home: self.home.root().to_path_buf(),
            client: self.client(),
            keyring: self.keyring(),
            json: self.json,
        }
    }

    fn print(&self, value: &Value, human: impl FnOnce() -> String) {
        output(self.json, value, human);
    }
}

/// Prints `value` as JSON with `json`, else the human text. A closed pipe (`| head`) ends the
/// program quietly.
pub fn output(json: bool, value: &Value, human: impl FnOnce() -> String) {
    use std::io::Write as _;
    let text = if json { value.to_string() } else { human() };
    if let Err(error) = writeln!(std::io::stdout(), "{text}")
        && error.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
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
        Command::Maker { signing, command } => {
            crate::device::maker(&ctx.devices(), &signing, command)
        }
        Command::Device { signing, command } => {
            crate::device::device(&ctx.devices(), &signing, command)
        }
        Command::Feed { signing, command } => {
            crate::device::feed(&ctx.devices(), &signing, command)
        }
        Command::Market { signing, command } => {
            crate::market::market(&ctx.devices(), &signing, command)
        }
        Command::Solver { signing, interval_ms } => {
            crate::market::run_solver(&ctx.devices(), &signing, interval_ms)
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

fn chain_options(chain: &ChainArgs, default_id: &str) -> setup::ChainOptions {
    setup::ChainOptions {
        chain_id: chain.chain_id.clone().unwrap_or_else(|| default_id.to_string()),
        dev_accounts: chain.dev_accounts,
        block_interval_ms: chain.block_interval_ms,
    }
}

fn new_home(ctx: &Ctx, args: &InitArgs) -> Result<Vec<setup::DevAccount>> {
    setup::init(
        &ctx.home,
        &chain_options(&args.chain, "machina-dev"),
        args.api,
        args.p2p,
        args.mqtt,
    )
}

fn accounts_table(accounts: &[setup::DevAccount]) -> String {
    accounts
        .iter()
        .map(|a| format!("  {:<6} {}  {}", a.name, a.address, a.balance))
        .collect::<Vec<_>>()
        .join("\n")
}

fn init(ctx: &Ctx, args: &InitArgs) -> CmdResult {
    let accounts = new_home(ctx, args)?;
    let body =
        json!({ "home": ctx.home.root(), "api": args.api.to_string(), "accounts": accounts });
    ctx.print(&body, || {
        format!(
            "initialized {}\nfunded dev accounts (name, address, balance):\n{}",
            ctx.home.root().display(),
            accounts_table(&accounts)
        )
    });
    Ok(())
}

pub(crate) fn init_logs(filter: &str) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}

fn start(ctx: &Ctx) -> CmdResult {
    let config = ctx.home.config()?;
    init_logs(&config.log);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    machina_node::run::run(&ctx.home, shutdown, |_| {})?;
    Ok(())
}

fn dev(ctx: &Ctx, args: &InitArgs) -> CmdResult {
    let accounts = if ctx.home.exists() {
        setup::existing_dev_accounts(&ctx.home)?
    } else {
        new_home(ctx, args)?
    };
    let config = ctx.home.config()?;
    let genesis = ctx.home.genesis()?;
    let mqtt = match (&config.gateway.mqtt_broker, config.gateway.mqtt_listen) {
        (Some(external), _) => format!("{external} (external broker)"),
        (None, Some(listen)) => listen.to_string(),
        (None, None) => "off (readings over HTTP only)".into(),
    };
    let body = json!({
        "chain_id": genesis.chain_id,
        "home": ctx.home.root(),
        "api": format!("http://{}", config.api_listen),
        "p2p": config.p2p_listen.to_string(),
        "mqtt": mqtt,
        "anchor_interval_ms": config.gateway.anchor_interval_ms,
        "block_interval_ms": genesis.params.block_interval_ms,
        "accounts": accounts,
    });
    ctx.print(&body, || {
        format!(
            "Machina dev chain {:?}\n  home  {}\n  API   http://{} (explorer at /)\n  p2p   {}\n  MQTT  {}\n\
             funded dev accounts (name, address, balance):\n{}\n\
             blocks every {} ms, readings anchored every {} ms; Ctrl-C to stop (state persists in the home)",
            genesis.chain_id,
            ctx.home.root().display(),
            config.api_listen,
            config.p2p_listen,
            mqtt,
            accounts_table(&accounts),
            genesis.params.block_interval_ms,
            config.gateway.anchor_interval_ms,
        )
    });
    start(ctx)
}

fn run_node(ctx: &Ctx) -> CmdResult {
    if !ctx.home.exists() {
        bail!(
            "{} has no node (run `machina init` or `machina testnet` first)",
            ctx.home.root().display()
        );
    }
    start(ctx)
}

fn testnet(
    ctx: &Ctx,
    validators: usize,
    dir: &std::path::Path,
    base_port: u16,
    chain: &ChainArgs,
) -> CmdResult {
    let (nodes, accounts) =
        setup::testnet(dir, validators, base_port, &chain_options(chain, "machina-testnet"))?;
    let body = json!({ "nodes": nodes, "accounts": accounts });
    ctx.print(&body, || {
        let lines: Vec<String> = nodes
            .iter()
            .map(|n| {
                format!("  machina node --home {}    # API http://{}, p2p {}", n.home, n.api, n.p2p)
            })
            .collect();
        format!(
            "wrote {validators} validator homes sharing one genesis; start each with:\n{}\n\
             funded dev accounts (in every node's keyring):\n{}",
            lines.join("\n"),
            accounts_table(&accounts)
        )
    });
    Ok(())
}

fn keys(ctx: &Ctx, cmd: KeysCommand) -> CmdResult {
    let ring = ctx.keyring();
    match cmd {
        KeysCommand::New { name } => {
            let key = ring.generate(&name)?;
            let body = json!({ "name": key.name, "address": key.address() });
            ctx.print(&body, || format!("{}  {}", key.name, key.address()));
        }
        KeysCommand::List => {
            let keys = ring.list()?;
            let body: Vec<Value> =
                keys.iter().map(|k| json!({ "name": k.name, "address": k.address() })).collect();
            ctx.print(&json!(body), || {
                if keys.is_empty() {
                    format!("no keys in {}", ring.dir().display())
                } else {
                    keys.iter()
                        .map(|k| format!("{:<12} {}", k.name, k.address()))
                        .collect::<Vec<_>>()
                        .join("\n")
                }
            });
        }
        KeysCommand::Show { name } => {
            let key = ring.get(&name)?;
            let body = json!({ "name": key.name, "address": key.address() });
            ctx.print(&body, || format!("name     {}\naddress  {}", key.name, key.address()));
        }
    }
    Ok(())
}

fn tx_calls(ctx: &Ctx, op: TxOp) -> Result<Vec<Call>> {
    let call = match op {
        TxOp::Transfer { to, amount } => BankCall::Transfer { to: ctx.address(&to)?, amount },
        TxOp::Asset(AssetOp::Create { symbol, name, decimals, max_supply, metadata }) => {
            BankCall::CreateAsset {
                symbol,
                name,
                decimals,
                max_supply,
                metadata: machina_types::codec::parse_hex(&metadata)
                    .context("--metadata must be hex")?,
            }
        }
        TxOp::Asset(AssetOp::Mint { asset, to, amount }) => {
            BankCall::MintAsset { asset, to: ctx.address(&to)?, amount }
        }
        TxOp::Asset(AssetOp::Transfer { asset, to, amount }) => {
            BankCall::TransferAsset { asset, to: ctx.address(&to)?, amount }
        }
        TxOp::Asset(AssetOp::Burn { asset, amount }) => BankCall::BurnAsset { asset, amount },
        TxOp::Nft(NftOp::Mint { to, metadata_hash }) => BankCall::MintNft {
            to: ctx.address(&to)?,
            metadata_hash: Hash(
                parse_hex_array(&metadata_hash)
                    .context("--metadata-hash must be 32 bytes of hex")?,
            ),
        },
        TxOp::Nft(NftOp::Transfer { id, to }) => {
            BankCall::TransferNft { id, to: ctx.address(&to)? }
        }
        TxOp::Nft(NftOp::Burn { id }) => BankCall::BurnNft { id },
    };
    machina_types::ModuleCall::check(&call)
        .map_err(|code| anyhow!("{}: {}", code.name(), code.message()))?;
    Ok(vec![Call::Bank(call)])
}

fn tx(ctx: &Ctx, args: TxArgs) -> CmdResult {
    let key = ctx.keyring().get(&args.from)?;
    let calls = tx_calls(ctx, args.op)?;
    let client = ctx.client();
    let started = Instant::now();
    let (_, hash) = client.send(&key.key, calls)?;
    if args.no_wait {
        ctx.print(&json!({ "hash": hash, "status": "pending" }), || format!("submitted {hash}"));
        return Ok(());
    }
    let status = client.wait(&hash, WAIT)?;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let mut body = serde_json::to_value(&status)?;
    body["elapsed_ms"] = json!(elapsed_ms);
    ctx.print(&body, || describe_tx(&status, Some(elapsed_ms)));
    if status.status == "finalized" { Ok(()) } else { Err(Exit(1).into()) }
}

fn describe_tx(status: &TxStatus, elapsed_ms: Option<u64>) -> String {
    let mut out = format!("tx      {}\nstatus  {}", status.hash, status.status);
    if let Some(receipt) = &status.receipt {
        out += &format!(
            "\nheight  {} (index {})\nfee     {}",
            receipt.height, receipt.index, receipt.fee
        );
        for event in &receipt.events {
            out += &format!("\nevent   {}", serde_json::to_string(event).unwrap_or_default());
        }
    }
    if let Some(error) = &status.error {
        let call = error.call.map(|c| format!(" (call {c})")).unwrap_or_default();
        out += &format!("\nerror   {}{call}: {}", error.code, error.message);
    }
    if let Some(ms) = elapsed_ms {
        out += &format!("\ntime    {ms} ms from submission to finality");
    }
    out
}

fn query(ctx: &Ctx, cmd: QueryCommand) -> CmdResult {
    let client = ctx.client();
    match cmd {
        QueryCommand::Balance { who, asset: None } => {
            let account = client.account(&ctx.address(&who)?)?;
            let body = json!({ "address": account.address, "balance": account.balance, "height": account.height });
            ctx.print(&body, || account.balance.to_string());
        }
        QueryCommand::Balance { who, asset: Some(asset) } => {
            let address = ctx.address(&who)?;
            let balance = client.asset_balance(&address, asset)?;
            ctx.print(&json!({ "address": address, "asset": asset, "balance": balance }), || {
                balance.to_string()
            });
        }
        QueryCommand::Account { who } => {
            let account = client.account(&ctx.address(&who)?)?;
            ctx.print(&serde_json::to_value(&account)?, || {
                format!(
                    "address     {}\nbalance     {}\nnonce       {}\nnext nonce  {}\nheight      {}",
                    account.address, account.balance, account.nonce, account.next_nonce, account.height
                )
            });
        }
        QueryCommand::Tx { hash } => {
            let hash: Hash = hash.parse().map_err(|_| anyhow!("not a transaction hash: {hash}"))?;
            let status = client.tx(&hash)?;
            ctx.print(&serde_json::to_value(&status)?, || describe_tx(&status, None));
        }
        QueryCommand::Block { height } => {
            let block = client.block(height)?;
            ctx.print(&block, || serde_json::to_string_pretty(&block).unwrap_or_default());
        }
        QueryCommand::Asset { id } => {
            let asset = client.asset(id)?;
            let body = serde_json::to_value(&asset)?;
            ctx.print(&body, || serde_json::to_string_pretty(&body).unwrap_or_default());
        }
        QueryCommand::Nft { id } => {
            let nft = client.nft(id)?;
            ctx.print(&nft, || serde_json::to_string_pretty(&nft).unwrap_or_default());
        }
        QueryCommand::Device { id } => {
            let device =
                client.device(&id.parse().map_err(|_| anyhow!("not a device id: {id}"))?)?;
            ctx.print(&device, || serde_json::to_string_pretty(&device).unwrap_or_default());
        }
        QueryCommand::Maker { who } => {
            let maker = client.maker(&ctx.address(&who)?)?;
            ctx.print(&maker, || serde_json::to_string_pretty(&maker).unwrap_or_default());
        }
        QueryCommand::Feed { id } => {
            let feed = client.feed(id)?;
            ctx.print(&feed, || describe_feed(&feed));
        }
        QueryCommand::Stream { device, stream } => {
            let device: machina_types::DeviceId =
                device.parse().map_err(|_| anyhow!("not a device id: {device}"))?;
            let state = client.stream(&device, stream)?;
            ctx.print(&state, || {
                let seq = |v: &Value| v.as_u64().map_or("-".into(), |s| s.to_string());
                format!(
                    "stored    {} readings (seq {} to {})\nanchored  {} readings in {} anchors (through seq {}) at height {}",
                    state["stored"], seq(&state["first_stored_seq"]), seq(&state["last_stored_seq"]),
                    state["anchored"], state["anchors"], seq(&state["last_anchored_seq"]), state["height"]
                )
            });
        }
        QueryCommand::Readings {
            device,
            stream,
            from_seq,
            to_seq,
            since_ms,
            until_ms,
            limit,
            proof_out,
            seq,
        } => {
            let device: machina_types::DeviceId =
                device.parse().map_err(|_| anyhow!("not a device id: {device}"))?;
            if let (Some(path), Some(seq)) = (proof_out, seq) {
                return write_reading_proof(ctx, &client, device, stream, seq, &path);
            }
            let mut query = format!("limit={limit}&proofs=false");
            for (name, value) in [
                ("from_seq", from_seq),
                ("to_seq", to_seq),
                ("since_ms", since_ms),
                ("until_ms", until_ms),
            ] {
                if let Some(v) = value {
                    query += &format!("&{name}={v}");
                }
            }
            let readings = client.readings(&device, stream, &query)?;
            ctx.print(&readings, || describe_readings(&readings));
        }
        QueryCommand::Proof { account, key, out } => {
            let bundle = match (account, key) {
                (Some(who), _) => client.account_proof(&ctx.address(&who)?)?,
                (None, Some(key)) => client
                    .key_proof(&key.parse().map_err(|_| anyhow!("not a state key: {key}"))?)?,
                (None, None) => bail!("pass --account or --key"),
            };
            let text = serde_json::to_string_pretty(&bundle)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, format!("{text}\n"))
                        .with_context(|| format!("writing {}", path.display()))?;
                    let body =
                        json!({ "file": path, "height": bundle.height, "key": bundle.entry.key });
                    ctx.print(&body, || {
                        format!(
                            "wrote proof of {} at height {} to {}",
                            describe_key(&bundle),
                            bundle.height,
                            path.display()
                        )
                    });
                }
                None => output(false, &Value::Null, || text),
            }
        }
    }
    Ok(())
}

fn describe_feed(feed: &Value) -> String {
    let decimals = feed["decimals"].as_u64().unwrap_or(0) as i32;
    let unit = feed["unit"].as_str().unwrap_or("");
    let shown = |v: &Value| match v.as_i64() {
        Some(v) => format!("{} {unit}", v as f64 / 10f64.powi(decimals)),
        None => "none".into(),
    };
    let fresh = match feed["current"].is_null() {
        true => format!(
            "no current value (fewer than {} fresh sources within {} ms)",
            feed["min_sources"], feed["max_staleness_ms"]
        ),
        false => format!("current value {}", shown(&feed["current"])),
    };
    format!(
        "feed {} {:?}: {fresh}\n  median of {} sources at height {}: {}\n  stream {}, eligibility {}, \
         at least {} sources, at most {} ms old\n  creator {}",
        feed["id"],
        feed["name"].as_str().unwrap_or(""),
        feed["value"]["sources"],
        feed["value"]["height"],
        shown(&feed["value"]["value"]),
        feed["stream"],
        feed["eligibility"],
        feed["min_sources"],
        feed["max_staleness_ms"],
        feed["creator"].as_str().unwrap_or(""),
    )
}

fn describe_readings(readings: &Value) -> String {
    let list = readings["readings"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return "no readings".into();
    }
    let mut lines =
        vec![format!("{:>8}  {:>14}  {:>10}  anchored", "seq", "timestamp_ms", "value")];
    for r in &list {
        let value = &r["reading"]["value"];
        let shown = match (value["value"].as_i64(), value["decimals"].as_u64()) {
            (Some(v), Some(d)) => format!(
                "{} {}",
                v as f64 / 10f64.powi(d as i32),
                value["unit"].as_str().unwrap_or("")
            ),
            _ => "bytes".into(),
        };
        let (seq, ts) = (r["seq"].to_string(), r["timestamp_ms"].to_string());
        lines.push(format!("{seq:>8}  {ts:>14}  {shown:>10}  {}", r["anchored"]));
    }
    lines.join("\n")
}

fn write_reading_proof(
    ctx: &Ctx,
    client: &Client,
    device: machina_types::DeviceId,
    stream: u32,
    seq: u64,
    path: &std::path::Path,
) -> CmdResult {
    let bundle = client.reading_proof(&device, stream, seq)?;
    std::fs::write(path, format!("{}\n", serde_json::to_string_pretty(&bundle)?))
        .with_context(|| format!("writing {}", path.display()))?;
    let body = json!({ "file": path, "height": bundle.height, "seq": seq });
    ctx.print(&body, || {
        format!("wrote proof of reading {seq} at height {} to {}", bundle.height, path.display())
    });
    Ok(())
}

fn verify_reading(ctx: &Ctx, file: &std::path::Path, genesis: Option<PathBuf>) -> CmdResult {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let bundle: machina_store::ReadingBundle = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a reading proof", file.display()))?;
    let genesis =
        machina_node::home::read_genesis(&genesis.unwrap_or_else(|| ctx.home.genesis_path()))?;
    match machina_sdk::verify::verify_reading(&bundle, &genesis) {
        Ok(v) => {
            let r = &v.reading.reading;
            let body = json!({
                "valid": true, "height": v.height, "block": v.block, "device": r.device, "stream": r.stream,
                "seq": r.seq, "value": r.value, "anchor": v.anchor, "maker": v.maker.0, "maker_name": v.maker.1,
            });
            ctx.print(&body, || {
                format!(
                    "valid: reading {} of device {} stream {} = {}\n  signed by the device key in anchor {} (height {}),\n  \
                     device certified by maker {:?} ({}),\n  in the state of block {} at height {}, finalized by a quorum of the {} genesis validators",
                    r.seq, r.device, r.stream, serde_json::to_string(&r.value).unwrap_or_default(), v.anchor,
                    v.anchored_at, v.maker.1, v.maker.0, v.block, v.height, genesis.validators.len()
                )
            });
            Ok(())
        }
        Err(error) => invalid(ctx, &error),
    }
}

/// Reports a proof that does not verify; exits with status 1.
fn invalid(ctx: &Ctx, error: &impl std::fmt::Display) -> CmdResult {
    ctx.print(&json!({ "valid": false, "reason": error.to_string() }), || {
        format!("INVALID: {error}")
    });
    Err(Exit(1).into())
}

fn describe_key(bundle: &ProofBundle) -> String {
    bundle.entry.description.clone().unwrap_or_else(|| format!("key {}", bundle.entry.key))
}

fn verify_proof(ctx: &Ctx, file: &std::path::Path, genesis: Option<PathBuf>) -> CmdResult {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let bundle: ProofBundle = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a proof file", file.display()))?;
    let genesis_path = genesis.unwrap_or_else(|| ctx.home.genesis_path());
    let genesis = machina_node::home::read_genesis(&genesis_path)?;
    match verify_bundle(&bundle, &genesis) {
        Ok(verified) => {
            let body = json!({
                "valid": true,
                "chain_id": verified.chain_id,
                "height": verified.height,
                "block": verified.block,
                "state_root": verified.state_root,
                "key": verified.key,
                "present": verified.value.is_some(),
                "decoded": bundle.entry.decoded,
            });
            ctx.print(&body, || {
                let what = match &bundle.entry.decoded {
                    Some(decoded) => format!("{} = {decoded}", describe_key(&bundle)),
                    None if verified.value.is_none() => format!("{} is absent", describe_key(&bundle)),
                    None => format!("{} holds {} bytes", describe_key(&bundle), verified.value.as_ref().map_or(0, Vec::len)),
                };
                format!(
                    "valid: {what}\n  at height {} (block {}), finalized by a quorum of the {} genesis validators",
                    verified.height,
                    verified.block,
                    genesis.validators.len()
                )
            });
            Ok(())
        }
        Err(error) => invalid(ctx, &error),
    }
}

fn status(ctx: &Ctx) -> CmdResult {
    let client = ctx.client();
    let status = client.status()?;
    ctx.print(&serde_json::to_value(&status)?, || {
        format!(
            "chain       {}\nnode        {}\nheight      {}\nvalidators  {}\nmempool     {}\n\
             gateway     {} (mqtt {}{})",
            status.chain_id,
            client.url(),
            status.height,
            status.validators.len(),
            status.mempool_size,
            status.gateway.account,
            status.gateway.mqtt.as_deref().unwrap_or("off"),
            status.gateway.mqtt_tls.as_deref().map(|t| format!(", tls {t}")).unwrap_or_default()
        )
    });
    Ok(())
}

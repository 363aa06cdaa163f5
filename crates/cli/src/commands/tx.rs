//! `machina tx`: bank transactions (transfers, assets, NFTs), signed and sent, then followed to finality.

use super::*;

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

pub(super) fn tx(ctx: &Ctx, args: TxArgs) -> CmdResult {
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

pub(super) fn describe_tx(status: &TxStatus, elapsed_ms: Option<u64>) -> String {
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

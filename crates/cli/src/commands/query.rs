//! `machina query`: reading the chain through the API.

use super::{tx::describe_tx, verify::describe_key, *};
use machina_sdk::api::{FeedView, Readings, ReadingsQuery};

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

pub(super) fn query(ctx: &Ctx, cmd: QueryCommand) -> CmdResult {
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
            ctx.print(&balance, || balance.balance.to_string());
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
                let seq = |v: Option<u64>| v.map_or("-".into(), |s| s.to_string());
                format!(
                    "stored    {} readings (seq {} to {})\nanchored  {} readings in {} anchors (through seq {}) at height {}",
                    state.stored, seq(state.first_stored_seq), seq(state.last_stored_seq),
                    state.anchored, state.anchors, seq(state.last_anchored_seq), state.height
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
            let query = ReadingsQuery {
                from_seq,
                to_seq,
                since_ms,
                until_ms,
                limit: Some(limit as u64),
                proofs: Some(false),
            };
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

fn describe_feed(view: &FeedView) -> String {
    let feed = &view.feed;
    let unit = &feed.unit;
    let shown = |v: Option<i64>| match v {
        Some(v) => format!("{} {unit}", v as f64 / 10f64.powi(i32::from(feed.decimals))),
        None => "none".into(),
    };
    let fresh = match view.current {
        None => format!(
            "no current value (fewer than {} fresh sources within {} ms)",
            feed.min_sources, feed.max_staleness_ms
        ),
        Some(current) => format!("current value {}", shown(Some(current))),
    };
    let field = |v: Option<String>| v.unwrap_or_else(|| "null".into());
    format!(
        "feed {} {:?}: {fresh}\n  median of {} sources at height {}: {}\n  stream {}, eligibility {}, \
         at least {} sources, at most {} ms old\n  creator {}",
        feed.id,
        feed.name,
        field(feed.value.map(|v| v.sources.to_string())),
        field(feed.value.map(|v| v.height.to_string())),
        shown(feed.value.map(|v| v.value)),
        feed.stream,
        serde_json::to_string(&feed.eligibility).unwrap_or_default(),
        feed.min_sources,
        feed.max_staleness_ms,
        feed.creator,
    )
}

fn describe_readings(readings: &Readings) -> String {
    if readings.readings.is_empty() {
        return "no readings".into();
    }
    let mut lines =
        vec![format!("{:>8}  {:>14}  {:>10}  anchored", "seq", "timestamp_ms", "value")];
    for r in &readings.readings {
        let shown = r.reading.reading.value.to_string();
        let (seq, ts) = (r.seq, r.timestamp_ms);
        lines.push(format!("{seq:>8}  {ts:>14}  {shown:>10}  {}", r.anchored));
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

//! `machina right` and `machina data-asset`: usage rights (NFTs carrying the right to use
//! units of a device's resource in a window) and data assets (NFTs carrying a stream's data
//! rights).

use super::{
    device::{DeviceCtx, Signing, device_id},
    market::parse_kind,
    ownership::{events, execute, signer},
};
use anyhow::{Result, bail};
use clap::{ArgGroup, Args, Subcommand};
use machina_sdk::api::{DataRights, RightView};
use machina_types::{Address, OwnershipCall, ownership::OwnershipEvent};
use serde_json::json;

/// The terms of a usage right, as `machina right mint` and `machina dao propose-right` take
/// them.
#[derive(Args, Debug)]
pub struct RightTerms {
    /// The device.
    #[arg(long)]
    pub device: String,
    /// The resource: data, compute, storage, bandwidth, energy, actuation:<command>,
    /// custom:<name>.
    #[arg(long)]
    pub kind: String,
    /// Seconds from now until the window opens.
    #[arg(long)]
    pub starts_in: u64,
    /// Seconds the window lasts.
    #[arg(long)]
    pub lasts: u64,
    /// Units the holder may use in the window.
    #[arg(long)]
    pub units: u64,
    /// First holder (address or key name) [default: you; for a proposal, the machine's
    /// treasury].
    #[arg(long)]
    pub to: Option<String>,
    /// List it for sale at this price (native token).
    #[arg(long)]
    pub price: Option<u64>,
}

impl RightTerms {
    /// The `MintRight` call, the window counted from this machine's clock, the right going to
    /// `--to` or else to `default_to`.
    pub fn call(&self, ctx: &DeviceCtx, default_to: Address) -> Result<OwnershipCall> {
        let to = match &self.to {
            Some(to) => ctx.address(to)?,
            None => default_to,
        };
        let starts_ms = now_ms().saturating_add(self.starts_in.saturating_mul(1_000));
        Ok(OwnershipCall::MintRight {
            device: device_id(&self.device)?,
            kind: parse_kind(&self.kind)?,
            starts_ms,
            ends_ms: starts_ms.saturating_add(self.lasts.saturating_mul(1_000)),
            units: self.units,
            to,
            price: self.price,
        })
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `machina right`.
#[derive(Subcommand, Debug)]
pub enum RightCommand {
    /// Mint a usage right on a device you own: an NFT whose holder may use `--units` of its
    /// `--kind` in the window, which the market then does not sell. Not revocable. (For a
    /// machine's device: `machina dao propose-right`.)
    Mint {
        /// The right's terms (`--to` defaults to you).
        #[command(flatten)]
        terms: RightTerms,
    },
    /// List a usage right you hold for sale (--price), or withdraw it (--unlist).
    #[command(group(ArgGroup::new("listing").required(true)))]
    List {
        /// The right's token id.
        nft: u64,
        /// The price (native token).
        #[arg(long, group = "listing")]
        price: Option<u64>,
        /// Withdraw it from sale.
        #[arg(long, group = "listing")]
        unlist: bool,
    },
    /// Buy a listed usage right: its price goes to its holder, the right to you.
    Buy {
        /// The right's token id.
        nft: u64,
        /// The most you pay (the listed price must not exceed it).
        #[arg(long)]
        max_price: u64,
    },
    /// Use units of a usage right you hold, inside its window.
    Use {
        /// The right's token id.
        nft: u64,
        /// Units used.
        #[arg(long)]
        units: u64,
    },
    /// A usage right: device, kind, window, units used, price, holder, units it reserves.
    Show {
        /// The right's token id.
        nft: u64,
    },
}

/// `machina data-asset`.
#[derive(Subcommand, Debug)]
pub enum DataAssetCommand {
    /// Mint a stream's data asset (a device you own): an NFT whose holder receives the
    /// stream's data revenue and sets its access policy. One per stream.
    Mint {
        /// The device.
        #[arg(long)]
        device: String,
        /// The stream.
        #[arg(long)]
        stream: u32,
        /// First holder (address or key name) [default: you].
        #[arg(long)]
        to: Option<String>,
    },
    /// Who holds a stream's data rights: its data asset's holder, else the device's owner.
    Show {
        /// The device.
        #[arg(long)]
        device: String,
        /// The stream.
        #[arg(long)]
        stream: u32,
    },
}

/// Runs `machina right ...`.
pub fn right(ctx: &DeviceCtx, signing: &Signing, cmd: RightCommand) -> Result<()> {
    match cmd {
        RightCommand::Mint { terms } => {
            let call = terms.call(ctx, signer(ctx, signing)?)?;
            let OwnershipCall::MintRight { starts_ms, ends_ms, to, .. } = call else {
                unreachable!("RightTerms builds a MintRight")
            };
            let status = execute(ctx, signing, call)?;
            let Some(nft) = events(&status).into_iter().find_map(|e| match e {
                OwnershipEvent::RightMinted { right, .. } => Some(right),
                _ => None,
            }) else {
                bail!("the minting's receipt has no right");
            };
            let body = json!({
                "tx": status.hash,
                "nft": nft,
                "to": to,
                "starts_ms": starts_ms,
                "ends_ms": ends_ms,
            });
            ctx.print(&body, || {
                let listed = terms.price.map_or(String::new(), |p| format!(", listed at {p}"));
                format!(
                    "usage right {nft}: {} x {} of device {} from {starts_ms} to {ends_ms} (ms), \
                     held by {to}{listed}",
                    terms.units, terms.kind, terms.device
                )
            });
        }
        RightCommand::List { nft, price, .. } => {
            let status = execute(ctx, signing, OwnershipCall::ListRight { right: nft, price })?;
            ctx.print(&json!({ "tx": status.hash, "nft": nft, "price": price }), || match price {
                Some(p) => format!("usage right {nft} listed at {p}"),
                None => format!("usage right {nft} withdrawn from sale"),
            });
        }
        RightCommand::Buy { nft, max_price } => {
            let call = OwnershipCall::BuyRight { right: nft, max_price };
            let status = execute(ctx, signing, call)?;
            let Some((from, price)) = events(&status).into_iter().find_map(|e| match e {
                OwnershipEvent::RightSold { from, price, .. } => Some((from, price)),
                _ => None,
            }) else {
                bail!("the purchase's receipt has no sale");
            };
            let body = json!({ "tx": status.hash, "nft": nft, "from": from, "price": price });
            ctx.print(&body, || format!("bought usage right {nft} from {from} for {price}"));
        }
        RightCommand::Use { nft, units } => {
            let status = execute(ctx, signing, OwnershipCall::UseRight { right: nft, units })?;
            let view = ctx.client.right(nft)?;
            let left = view.right.units - view.right.used;
            let body = json!({ "tx": status.hash, "nft": nft, "units": units, "left": left });
            ctx.print(&body, || format!("used {units} units of usage right {nft}; {left} left"));
        }
        RightCommand::Show { nft } => {
            let view = ctx.client.right(nft)?;
            ctx.print(&view, || describe_right(&view));
        }
    }
    Ok(())
}

/// Runs `machina data-asset ...`.
pub fn data_asset(ctx: &DeviceCtx, signing: &Signing, cmd: DataAssetCommand) -> Result<()> {
    match cmd {
        DataAssetCommand::Mint { device, stream, to } => {
            let to = match to {
                Some(to) => ctx.address(&to)?,
                None => signer(ctx, signing)?,
            };
            let device = device_id(&device)?;
            let call = OwnershipCall::MintDataAsset { device, stream, to };
            let status = execute(ctx, signing, call)?;
            let Some(asset) = events(&status).into_iter().find_map(|e| match e {
                OwnershipEvent::DataAssetMinted { asset, .. } => Some(asset),
                _ => None,
            }) else {
                bail!("the minting's receipt has no data asset");
            };
            let body = json!({ "tx": status.hash, "asset": asset, "device": device, "stream": stream, "to": to });
            ctx.print(&body, || {
                format!(
                    "data asset {asset}: the data rights of stream {stream} of device {device}, \
                     held by {to}"
                )
            });
        }
        DataAssetCommand::Show { device, stream } => {
            let rights = ctx.client.data_rights(&device_id(&device)?, stream)?;
            ctx.print(&rights, || describe_data_rights(&rights));
        }
    }
    Ok(())
}

/// A usage right in a few lines.
pub fn describe_right(v: &RightView) -> String {
    let r = &v.right;
    let holder = v.holder.map_or_else(|| "nobody (its token was burned)".into(), |h| h.to_string());
    let listed = r.price.map_or_else(|| "not for sale".into(), |p| format!("listed at {p}"));
    [
        format!("usage right {}: {} x {} of device {}", r.nft, r.units, r.kind, r.device),
        format!("  window {} to {} (ms, block time)", r.starts_ms, r.ends_ms),
        format!("  used {}, reserved from the market now {}; {listed}", r.used, v.reserved),
        format!("  held by {holder}"),
    ]
    .join("\n")
}

fn describe_data_rights(d: &DataRights) -> String {
    match d.asset {
        Some(asset) => format!(
            "stream {} of device {}: data asset {asset}, held by {}",
            d.stream, d.device, d.holder
        ),
        None => format!(
            "stream {} of device {}: no data asset; the device's owner {} holds its data rights",
            d.stream, d.device, d.holder
        ),
    }
}

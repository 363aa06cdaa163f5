//! `machina feed`: oracle feeds over devices' readings.

use anyhow::{Result, anyhow, bail};
use clap::Subcommand;
use machina_types::data::DataEvent;
use machina_types::{DataCall, data::Eligibility};
use serde_json::json;

use super::device::*;

/// `machina feed`.
#[derive(Subcommand, Debug)]
pub enum FeedCommand {
    /// Create an oracle feed (median of eligible devices' fresh readings).
    Create {
        /// Name.
        #[arg(long)]
        name: String,
        /// Stream id devices report on.
        #[arg(long, default_value_t = 1)]
        stream: u32,
        /// Unit readings must carry.
        #[arg(long, default_value = "C")]
        unit: String,
        /// Decimals of the feed's value.
        #[arg(long, default_value_t = 2)]
        decimals: u8,
        /// Fewest fresh sources for a value.
        #[arg(long, default_value_t = 1)]
        min_sources: u8,
        /// How old a reading may be and still count (ms).
        #[arg(long, default_value_t = 60_000)]
        max_staleness_ms: u64,
        /// Eligible: these devices (comma-separated ids).
        #[arg(long, value_delimiter = ',', group = "eligible")]
        devices: Vec<String>,
        /// Eligible: every device of this maker (address or key name).
        #[arg(long, group = "eligible")]
        maker: Option<String>,
        /// Eligible: every device that granted you this role and that you accepted
        /// (`machina device accept-role`).
        #[arg(long, group = "eligible")]
        role: Option<String>,
        /// Eligible: every device with this attribute (`key=value`) that granted you the
        /// `feed-source` role and that you accepted.
        #[arg(long, group = "eligible")]
        attribute: Option<String>,
    },
    /// Close a feed you created: its deposit comes back; it takes no more reports.
    Close {
        /// The feed.
        #[arg(long)]
        feed: u64,
    },
}

/// Runs `machina feed ...`.
pub fn feed(ctx: &DeviceCtx, signing: &Signing, cmd: FeedCommand) -> Result<()> {
    let FeedCommand::Create {
        name,
        stream,
        unit,
        decimals,
        min_sources,
        max_staleness_ms,
        devices,
        maker,
        role,
        attribute,
    } = cmd
    else {
        let FeedCommand::Close { feed } = cmd else { unreachable!("the other command") };
        ctx.execute(&signing.from, vec![DataCall::CloseFeed { feed }.into()])?;
        ctx.print(&json!({ "closed": feed }), || {
            format!("closed feed {feed}; its deposit is back")
        });
        return Ok(());
    };
    let Some(eligibility) = eligibility(ctx, &devices, maker, role, attribute)? else {
        bail!("say which devices may report: --devices, --maker, --role or --attribute");
    };
    let call = DataCall::CreateFeed {
        name,
        stream,
        eligibility,
        min_sources,
        max_staleness_ms,
        unit,
        decimals,
    };
    let status = ctx.execute(&signing.from, vec![call.into()])?;
    let feed = status
        .receipt
        .as_ref()
        .and_then(|r| {
            r.events.iter().find_map(|e| match e {
                machina_types::Event::Data(DataEvent::FeedCreated { feed, .. }) => Some(*feed),
                _ => None,
            })
        })
        .ok_or_else(|| anyhow!("no feed created"))?;
    ctx.print(&json!({ "feed": feed }), || format!("created feed {feed}"));
    Ok(())
}

/// The eligibility rule the options name (the first given of devices, maker, role and
/// attribute), if any.
pub(super) fn eligibility(
    ctx: &DeviceCtx,
    devices: &[String],
    maker: Option<String>,
    role: Option<String>,
    attribute: Option<String>,
) -> Result<Option<Eligibility>> {
    Ok(Some(if !devices.is_empty() {
        Eligibility::Devices {
            devices: devices.iter().map(|d| device_id(d)).collect::<Result<_>>()?,
        }
    } else if let Some(maker) = maker {
        Eligibility::Maker { maker: ctx.address(&maker)? }
    } else if let Some(role) = role {
        Eligibility::Role { role }
    } else if let Some(attribute) = attribute {
        let (key, value) =
            attribute.split_once('=').ok_or_else(|| anyhow!("--attribute must be key=value"))?;
        Eligibility::Attribute { key: key.into(), value: value.into() }
    } else {
        return Ok(None);
    }))
}

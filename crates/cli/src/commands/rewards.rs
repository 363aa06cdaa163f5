//! `machina rewards`: pools that pay devices, epoch by epoch, pro rata to work the chain
//! counts (readings anchored on a stream, or leases delivered), and the proofs of a payout.

use super::{
    asset_name,
    device::{DeviceCtx, Signing, device_id},
    feed::eligibility,
    output,
    verify::describe_key,
};
use anyhow::{Context as _, Result, bail};
use clap::{ArgGroup, Subcommand};
use machina_sdk::{api::PoolView, client::TxStatus};
use machina_store::ProofBundle;
use machina_types::{
    Call, Event, RewardsCall,
    limits::REWARD_WORK_MAX,
    rewards::{RewardsEvent, Work},
};
use serde_json::{Value, json};
use std::path::PathBuf;

/// `machina rewards`.
#[derive(Subcommand, Debug)]
pub enum RewardsCommand {
    /// Open a pool you fund: `--per-epoch * --epochs` is escrowed and paid, epoch by epoch,
    /// to the enrolled devices pro rata to their work; what is left returns at its close.
    #[command(group(ArgGroup::new("work").required(true)))]
    #[command(group(ArgGroup::new("eligible").required(true)))]
    Create {
        /// Paid per epoch, split between the devices that worked in it.
        #[arg(long)]
        per_epoch: u64,
        /// Epochs paid for.
        #[arg(long)]
        epochs: u32,
        /// Blocks per epoch.
        #[arg(long)]
        epoch_blocks: u64,
        /// Work: readings of this stream anchored on chain.
        #[arg(long, group = "work")]
        anchored_stream: Option<u32>,
        /// Work: leases the device delivered to others.
        #[arg(long, group = "work")]
        leases_delivered: bool,
        /// Eligible: every device of this maker (address or key name).
        #[arg(long, group = "eligible")]
        maker: Option<String>,
        /// Eligible: this device (repeat for several).
        #[arg(long = "device", group = "eligible")]
        devices: Vec<String>,
        /// Eligible: every device that granted you this role and that you accepted.
        #[arg(long, group = "eligible")]
        role: Option<String>,
        /// Eligible: every device with this attribute (`key=value`) that granted you the
        /// `reward-earner` role and that you accepted.
        #[arg(long, group = "eligible")]
        attribute: Option<String>,
        /// Lowest market reputation (percent) a device needs to enroll and report.
        #[arg(long, default_value_t = 0)]
        min_reputation: u8,
        /// Most work credited to one device for one epoch [default: 2^40].
        #[arg(long)]
        max_work: Option<u64>,
        /// Pay in this asset [default: the native token].
        #[arg(long)]
        asset: Option<u64>,
    },
    /// Enroll a device that meets a pool's rule (anyone may); its work counts from now.
    Enroll {
        /// The pool.
        pool: u64,
        /// The device.
        #[arg(long)]
        device: String,
    },
    /// Credit a device's work since its last report to the epoch that just ended (anyone
    /// may; once per epoch).
    Report {
        /// The pool.
        pool: u64,
        /// The device.
        #[arg(long)]
        device: String,
    },
    /// Pay a device its reward for an epoch whose reporting has closed, to its owner (or its
    /// machine's treasury). Anyone may.
    Claim {
        /// The pool.
        pool: u64,
        /// The epoch.
        #[arg(long)]
        epoch: u32,
        /// The device.
        #[arg(long)]
        device: String,
    },
    /// Return what is left in a pool to its funder, after its claim deadline. Anyone may.
    Close {
        /// The pool.
        pool: u64,
    },
    /// A pool and where it stands (with --epoch its total work, with --device the device's
    /// enrollment, with both the device's work and reward for the epoch).
    Show {
        /// The pool.
        pool: u64,
        /// An epoch.
        #[arg(long)]
        epoch: Option<u32>,
        /// A device.
        #[arg(long)]
        device: Option<String>,
    },
    /// Write the proof of a device's work in an epoch (with --epoch and --device), of an
    /// epoch's total work (--epoch) or of the pool, for `machina verify-proof`.
    Proof {
        /// The pool.
        pool: u64,
        /// The epoch.
        #[arg(long)]
        epoch: Option<u32>,
        /// The device (needs --epoch).
        #[arg(long, requires = "epoch")]
        device: Option<String>,
        /// Write the proof here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// The rewards events of a transaction's receipt.
fn events(status: &TxStatus) -> Vec<RewardsEvent> {
    let Some(receipt) = &status.receipt else { return Vec::new() };
    receipt
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Rewards(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

/// Signs and submits one rewards call from the signing key and waits until it is final.
fn execute(ctx: &DeviceCtx, signing: &Signing, call: RewardsCall) -> Result<TxStatus> {
    ctx.execute(&signing.from, vec![Call::Rewards(call)])
}

/// Runs `machina rewards ...`.
pub fn rewards(ctx: &DeviceCtx, signing: &Signing, cmd: RewardsCommand) -> Result<()> {
    match cmd {
        RewardsCommand::Create {
            per_epoch,
            epochs,
            epoch_blocks,
            anchored_stream,
            leases_delivered: _,
            maker,
            devices,
            role,
            attribute,
            min_reputation,
            max_work,
            asset,
        } => {
            let work = match anchored_stream {
                Some(stream) => Work::AnchoredReadings { stream },
                None => Work::LeasesDelivered {},
            };
            let Some(eligibility) = eligibility(ctx, &devices, maker, role, attribute)? else {
                bail!("say which devices may enroll: --maker, --device, --role or --attribute");
            };
            let call = RewardsCall::CreatePool {
                asset,
                per_epoch,
                epochs,
                epoch_blocks,
                work,
                eligibility,
                min_reputation,
                max_work_per_epoch: max_work.unwrap_or(REWARD_WORK_MAX),
            };
            let status = execute(ctx, signing, call)?;
            let Some((pool, funded, start)) = events(&status).into_iter().find_map(|e| match e {
                RewardsEvent::PoolCreated { pool, funded, start, .. } => {
                    Some((pool, funded, start))
                }
                _ => None,
            }) else {
                bail!("the creation's receipt has no pool");
            };
            let body = json!({ "tx": status.hash, "pool": pool, "funded": funded, "start": start });
            ctx.print(&body, || {
                format!(
                    "reward pool {pool}: {funded} escrowed ({}), {per_epoch} per epoch for \
                     {epochs} epochs of {epoch_blocks} blocks from height {start}",
                    asset_name(asset)
                )
            });
        }
        RewardsCommand::Enroll { pool, device } => {
            let device = device_id(&device)?;
            let status = execute(ctx, signing, RewardsCall::Enroll { pool, device })?;
            let baseline = events(&status).into_iter().find_map(|e| match e {
                RewardsEvent::Enrolled { baseline, .. } => Some(baseline),
                _ => None,
            });
            let baseline = baseline.unwrap_or(0);
            let body =
                json!({ "tx": status.hash, "pool": pool, "device": device, "baseline": baseline });
            ctx.print(&body, || {
                format!(
                    "device {device} enrolled in reward pool {pool}; its work counts from \
                     {baseline}"
                )
            });
        }
        RewardsCommand::Report { pool, device } => {
            let device = device_id(&device)?;
            let status = execute(ctx, signing, RewardsCall::Report { pool, device })?;
            let Some((epoch, work)) = events(&status).into_iter().find_map(|e| match e {
                RewardsEvent::Reported { epoch, work, .. } => Some((epoch, work)),
                _ => None,
            }) else {
                bail!("the report's receipt has no credited work");
            };
            let body = json!({ "tx": status.hash, "pool": pool, "device": device, "epoch": epoch, "work": work });
            ctx.print(&body, || {
                format!("{work} work of device {device} credited to epoch {epoch} of pool {pool}")
            });
        }
        RewardsCommand::Claim { pool, epoch, device } => {
            let device = device_id(&device)?;
            let status = execute(ctx, signing, RewardsCall::Claim { pool, epoch, device })?;
            let paid = events(&status).into_iter().find_map(|e| match e {
                RewardsEvent::Paid { to, amount, work, total_work, .. } => {
                    Some((to, amount, work, total_work))
                }
                _ => None,
            });
            let Some((to, amount, work, total_work)) = paid else {
                bail!("the claim's receipt has no payment");
            };
            let body = json!({
                "tx": status.hash,
                "pool": pool,
                "epoch": epoch,
                "device": device,
                "to": to,
                "amount": amount,
                "work": work,
                "total_work": total_work,
            });
            ctx.print(&body, || {
                format!(
                    "paid {amount} to {to} for device {device}'s {work} of {total_work} work in \
                     epoch {epoch} of pool {pool}"
                )
            });
        }
        RewardsCommand::Close { pool } => {
            let status = execute(ctx, signing, RewardsCall::Close { pool })?;
            let refunded = events(&status).into_iter().find_map(|e| match e {
                RewardsEvent::Closed { refunded, .. } => Some(refunded),
                _ => None,
            });
            let refunded = refunded.unwrap_or(0);
            let body = json!({ "tx": status.hash, "pool": pool, "refunded": refunded });
            ctx.print(&body, || {
                format!("reward pool {pool} closed; {refunded} returned to its funder")
            });
        }
        RewardsCommand::Show { pool, epoch, device } => show(ctx, pool, epoch, device)?,
        RewardsCommand::Proof { pool, epoch, device, out } => {
            let bundle = match (epoch, device) {
                (Some(epoch), Some(device)) => {
                    ctx.client.reward_work_proof(pool, epoch, &device_id(&device)?)?
                }
                (Some(epoch), None) => ctx.client.reward_epoch_proof(pool, epoch)?,
                (None, _) => ctx.client.reward_pool_proof(pool)?,
            };
            write_proof(ctx, &bundle, out)?;
        }
    }
    Ok(())
}

/// `machina rewards show`.
fn show(ctx: &DeviceCtx, pool: u64, epoch: Option<u32>, device: Option<String>) -> Result<()> {
    let view = ctx.client.reward_pool(pool)?;
    let device = device.map(|d| device_id(&d)).transpose()?;
    match (epoch, device) {
        (None, None) => ctx.print(&view, || describe_pool(&view)),
        (Some(epoch), None) => {
            let total = ctx.client.reward_epoch(pool, epoch)?;
            ctx.print(&json!({ "pool": view, "epoch": epoch, "total": total }), || {
                let total = match total {
                    Some(t) => format!("{} work credited, devices: {}", t.total_work, t.devices),
                    None => "no work credited".into(),
                };
                format!("{}\nepoch {epoch}: {total}", describe_pool(&view))
            });
        }
        (None, Some(device)) => {
            let enrollment = ctx.client.reward_enrollment(pool, &device)?;
            ctx.print(&json!({ "pool": view, "device": device, "enrollment": enrollment }), || {
                let enrollment = match enrollment {
                    Some(e) => format!(
                        "enrolled; counter {} at its last report (or enrollment), in epoch {}",
                        e.last_counter, e.last_report_epoch
                    ),
                    None => "not enrolled".into(),
                };
                format!("{}\ndevice {device}: {enrollment}", describe_pool(&view))
            });
        }
        (Some(epoch), Some(device)) => {
            let work = ctx.client.reward_work(pool, epoch, &device)?;
            let body = json!({ "pool": view, "epoch": epoch, "device": device, "work": work });
            ctx.print(&body, || {
                let work = match work {
                    Some(w) => format!(
                        "{} of {} work, reward {} ({})",
                        w.work.work,
                        w.total_work,
                        w.reward,
                        if w.work.claimed { "paid" } else { "not paid yet" }
                    ),
                    None => "no work credited".into(),
                };
                format!("{}\ndevice {device} in epoch {epoch}: {work}", describe_pool(&view))
            });
        }
    }
    Ok(())
}

/// Writes `bundle` to `out`, or prints it.
pub(super) fn write_proof(
    ctx: &DeviceCtx,
    bundle: &ProofBundle,
    out: Option<PathBuf>,
) -> Result<()> {
    let text = serde_json::to_string_pretty(bundle)?;
    let Some(path) = out else {
        output(false, &Value::Null, || text);
        return Ok(());
    };
    std::fs::write(&path, format!("{text}\n"))
        .with_context(|| format!("writing {}", path.display()))?;
    let body = json!({
        "file": path,
        "height": bundle.height,
        "key": bundle.entry.key,
        "description": bundle.entry.description,
        "present": bundle.entry.value.is_some(),
    });
    ctx.print(&body, || {
        let absent = if bundle.entry.value.is_none() { " (its absence)" } else { "" };
        format!(
            "wrote proof of {}{absent} at height {} to {}; check it with `machina verify-proof {}`",
            describe_key(bundle),
            bundle.height,
            path.display(),
            path.display()
        )
    });
    Ok(())
}

fn describe_work(work: &Work) -> String {
    match work {
        Work::AnchoredReadings { stream } => format!("readings anchored on stream {stream}"),
        Work::LeasesDelivered {} => "leases delivered to others".into(),
    }
}

fn describe_pool(v: &PoolView) -> String {
    let p = &v.pool;
    let eligibility =
        serde_json::to_string(&p.eligibility).unwrap_or_else(|e| format!("unprintable: {e}"));
    let epoch = v.epoch.map_or_else(|| "before epoch 0".into(), |e| format!("epoch {e}"));
    let mut now = vec![epoch];
    if v.enrollment_open {
        now.push("enrollment open".into());
    }
    if let Some(e) = v.reporting_epoch {
        now.push(format!("reports credit epoch {e}"));
    }
    if let Some(e) = v.claimable_through {
        now.push(format!("claims open for epochs 0 to {e}"));
    }
    if v.closable {
        now.push("may be closed".into());
    }
    if p.closed {
        now.push("closed".into());
    }
    [
        format!(
            "reward pool {} by {}: {} ({}) per epoch for {} epochs of {} blocks from height {}",
            p.id,
            p.funder,
            p.per_epoch,
            asset_name(p.asset),
            p.epochs,
            p.epoch_blocks,
            p.start
        ),
        format!(
            "  pays for {}, at most {} per device and epoch; eligible: {eligibility}, \
             reputation at least {}",
            describe_work(&p.work),
            p.max_work_per_epoch,
            p.min_reputation
        ),
        format!(
            "  devices enrolled: {}; funded {}, paid {}, refunded {}; the escrow holds {}",
            p.enrolled, p.funded, p.paid, p.refunded, v.escrow_left
        ),
        format!("  claims until height {}", p.claim_until),
        format!("  next block (after height {}): {}", v.height, now.join(", ")),
    ]
    .join("\n")
}

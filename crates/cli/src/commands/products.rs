//! `machina product` (sellers: stream secrets, listings, subscribers' keys, revocations,
//! by-reading payments) and `machina data` (buyers: subscribe, read and pay, cancel).

use super::{
    asset_name,
    device::{DeviceCtx, Signing, broker_address, device_id, runtime},
};
use anyhow::{Context as _, Result, anyhow, bail};
use clap::{ArgGroup, Subcommand};
use commonware_codec::DecodeExt;
use machina_sdk::{
    api::ReadingsQuery,
    client::TxStatus,
    privacy::{self, Subscriber},
};
use machina_types::{
    Call, ChannelsCall, Event, Hash, ProductsCall, SignedReading,
    channels::{SignedVoucher, Voucher},
    codec::{hex, parse_hex},
    products::{
        Access, Payment, PeriodPrice, ProductId, ProductsEvent, SubscriptionId, Terms,
        state::{Product, Subscription},
    },
    sealed::Key,
};
use serde_json::json;
use std::path::{Path, PathBuf};

/// `machina product`.
#[derive(Subcommand, Debug)]
pub enum ProductCommand {
    /// Create a stream secret (32 random bytes, hex) in a new file: provision it to the
    /// device, which seals its readings with it (`machina device publish --seal-secret`).
    Secret {
        /// The file to create (never overwritten).
        out: PathBuf,
    },
    /// List streams of a device whose data rights you hold.
    #[command(group(ArgGroup::new("price").required(true).multiple(true)))]
    List {
        /// The device.
        #[arg(long)]
        device: String,
        /// A stream (repeat for several, up to 8).
        #[arg(long = "stream", required = true)]
        streams: Vec<u32>,
        /// Price per reading, paid through a payment channel.
        #[arg(long, group = "price")]
        per_reading: Option<u64>,
        /// Price per period, paid up front (with --period-secs).
        #[arg(long, group = "price", requires = "period_secs")]
        per_period: Option<u64>,
        /// The period, in seconds.
        #[arg(long)]
        period_secs: Option<u64>,
        /// The licence's terms (its SHA-256 is recorded).
        #[arg(long, default_value = "all rights reserved")]
        licence: String,
        /// Only these accounts may subscribe (repeat).
        #[arg(long = "allow")]
        allow: Vec<String>,
        /// Only active devices with at least this market reputation (percent) may subscribe.
        #[arg(long, conflicts_with = "allow")]
        min_reputation: Option<u8>,
        /// Subscribers get no readings from before they subscribed.
        #[arg(long)]
        no_history: bool,
        /// The readings are not sealed (anyone can read them; subscriptions pay for delivery).
        #[arg(long)]
        plain: bool,
        /// Prices in this asset [default: the native token].
        #[arg(long)]
        asset: Option<u64>,
    },
    /// A product and its subscriptions.
    Show {
        /// The product.
        product: u64,
    },
    /// Publish the current key epoch of every stream, wrapped for every active subscriber
    /// (run after subscriptions and revocations).
    Keys {
        /// The product.
        product: u64,
        /// The stream secret file.
        #[arg(long)]
        secret: PathBuf,
    },
    /// End a subscriber's subscription, refunding the whole periods not begun; the streams
    /// move to a new key epoch.
    Revoke {
        /// The subscription.
        subscription: u64,
    },
    /// Move the product's streams to a new key epoch (after subscriptions lapsed).
    Rotate {
        /// The product.
        product: u64,
    },
    /// Stop selling the product.
    Delist {
        /// The product.
        product: u64,
    },
    /// Take what a by-reading subscriber paid: settle (or, with --close, close) its channel
    /// with the latest voucher the gateway holds.
    Collect {
        /// The subscription.
        subscription: u64,
        /// Close the channel (the rest returns to the subscriber).
        #[arg(long)]
        close: bool,
    },
}

/// `machina data`.
#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Subscribe to a product, by periods (paid now) or by reading (through a channel of
    /// yours to the seller).
    #[command(group(ArgGroup::new("payment").required(true)))]
    Subscribe {
        /// The product.
        product: u64,
        /// Periods to pay for now.
        #[arg(long, group = "payment")]
        periods: Option<u32>,
        /// Pay per reading through this channel.
        #[arg(long, group = "payment")]
        channel: Option<u64>,
    },
    /// Read a subscription's readings, decrypted: the history, then (with --follow) live
    /// over MQTT, paying each by-reading delivery with a voucher.
    Read {
        /// The subscription.
        subscription: u64,
        /// Keep reading live readings.
        #[arg(long)]
        follow: bool,
        /// Stop after this many live readings.
        #[arg(long, requires = "follow")]
        count: Option<u64>,
        /// MQTT broker `host:port` [default: the node's embedded broker].
        #[arg(long)]
        mqtt: Option<String>,
    },
    /// End your subscription (no refund).
    Cancel {
        /// The subscription.
        subscription: u64,
    },
    /// A subscription: product, how it pays, from when until when, status.
    Show {
        /// The subscription.
        subscription: u64,
    },
}

/// Reads a stream secret file.
pub(crate) fn read_secret(path: &Path) -> Result<Key> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let bytes = parse_hex(text.trim()).map_err(|_| anyhow!("{} is not hex", path.display()))?;
    bytes.try_into().map_err(|_| anyhow!("{} does not hold 32 bytes", path.display()))
}

fn execute(ctx: &DeviceCtx, signing: &Signing, call: ProductsCall) -> Result<TxStatus> {
    ctx.execute(&signing.from, vec![Call::Products(call)])
}

fn product_events(status: &TxStatus) -> Vec<ProductsEvent> {
    let Some(receipt) = &status.receipt else { return Vec::new() };
    receipt
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Products(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn describe_events(ctx: &DeviceCtx, status: &TxStatus) {
    let lines: Vec<String> = product_events(status)
        .iter()
        .map(|e| match e {
            ProductsEvent::Listed { product, device, .. } => {
                format!("product {product} listed (device {device})")
            }
            ProductsEvent::Delisted { product } => format!("product {product} delisted"),
            ProductsEvent::Subscribed { subscription, product, paid, until_ms, .. } => {
                let until = match *until_ms {
                    u64::MAX => "until cancelled".to_string(),
                    ms => format!("until {ms} ms"),
                };
                format!("subscription {subscription} to product {product}: paid {paid}, {until}")
            }
            ProductsEvent::Ended { subscription, revoked, refunded } => format!(
                "subscription {subscription} {}; {refunded} refunded",
                if *revoked { "revoked" } else { "cancelled" }
            ),
            ProductsEvent::Rotated { stream, epoch, .. } => {
                format!("stream {stream} moved to key epoch {epoch}")
            }
            ProductsEvent::KeysPublished { product, count } => {
                format!("{count} wrapped keys published for product {product}")
            }
        })
        .collect();
    let body = json!({ "tx": status.hash, "events": status.receipt.as_ref().map(|r| &r.events) });
    ctx.print(&body, || lines.join("\n"));
}

/// Runs `machina product ...`.
pub fn product(ctx: &DeviceCtx, signing: &Signing, cmd: ProductCommand) -> Result<()> {
    let call = match cmd {
        ProductCommand::Secret { out } => {
            let secret: Key = privacy::random();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&out)
                .with_context(|| format!("creating {}", out.display()))?;
            std::io::Write::write_all(&mut file, format!("{}\n", hex(&secret)).as_bytes())?;
            ctx.print(&json!({ "file": out }), || {
                format!("stream secret written to {} (keep it private)", out.display())
            });
            return Ok(());
        }
        ProductCommand::List {
            device,
            streams,
            per_reading,
            per_period,
            period_secs,
            licence,
            allow,
            min_reputation,
            no_history,
            plain,
            asset,
        } => {
            let access = match (allow.is_empty(), min_reputation) {
                (false, _) => Access::AllowList {
                    buyers: allow.iter().map(|a| ctx.address(a)).collect::<Result<_>>()?,
                },
                (true, Some(min_reputation)) => Access::Devices { min_reputation },
                (true, None) => Access::Anyone {},
            };
            let period_ms = period_secs.map(|s| s.saturating_mul(1000));
            let terms = Terms {
                asset,
                per_reading,
                per_period: per_period
                    .zip(period_ms)
                    .map(|(price, period_ms)| PeriodPrice { price, period_ms }),
                licence: Hash::of(&[licence.as_bytes()]),
                access,
                history: !no_history,
                sealed: !plain,
            };
            ProductsCall::List { device: device_id(&device)?, streams, terms }
        }
        ProductCommand::Show { product } => {
            let p = ctx.client.product(product)?;
            ctx.print(&p, || describe_product(&p));
            return Ok(());
        }
        ProductCommand::Keys { product, secret } => {
            return publish_keys(ctx, signing, product, &secret);
        }
        ProductCommand::Revoke { subscription } => ProductsCall::Revoke { subscription },
        ProductCommand::Rotate { product } => ProductsCall::Rotate { product },
        ProductCommand::Delist { product } => ProductsCall::Delist { product },
        ProductCommand::Collect { subscription, close } => {
            let held = ctx.client.subscription_payment(subscription)?;
            let Some(voucher) = held.voucher else {
                bail!("the gateway holds no voucher for subscription {subscription}");
            };
            let channel = voucher.voucher.channel;
            let call = match close {
                true => ChannelsCall::Close { channel, voucher: Some(voucher) },
                false => ChannelsCall::Settle { channel, voucher },
            };
            let status = ctx.execute(&signing.from, vec![Call::Channels(call)])?;
            let paid: u64 = status
                .receipt
                .iter()
                .flat_map(|r| &r.events)
                .filter_map(|e| match e {
                    Event::Channels(machina_types::channels::ChannelsEvent::Paid {
                        amount,
                        ..
                    }) => Some(*amount),
                    _ => None,
                })
                .sum();
            let body = json!({ "tx": status.hash, "paid": paid, "delivered": held.delivered });
            ctx.print(&body, || {
                format!(
                    "collected {paid} from channel {channel} for {} readings delivered{}",
                    held.delivered,
                    if close { "; channel closed" } else { "" }
                )
            });
            return Ok(());
        }
    };
    describe_events(ctx, &execute(ctx, signing, call)?);
    Ok(())
}

/// Publishes the current epoch's keys of `product`'s streams for its active subscribers, in
/// calls of at most 32 keys.
fn publish_keys(
    ctx: &DeviceCtx,
    signing: &Signing,
    product: ProductId,
    secret: &Path,
) -> Result<()> {
    let secret = read_secret(secret)?;
    let p = ctx.client.product(product)?;
    let mut grants = Vec::new();
    for entry in &p.subscribers {
        let sub = ctx.client.subscription(entry.subscription)?;
        for stream in &p.streams {
            let epoch = ctx.client.stream_keys(&p.device, *stream)?.epoch;
            grants.extend(privacy::grants(&secret, &p.device, &[*stream], epoch, &sub));
        }
    }
    if grants.is_empty() {
        bail!("product {product} has no active subscribers");
    }
    for chunk in grants.chunks(machina_types::limits::KEY_GRANTS_PER_CALL_MAX) {
        let call = ProductsCall::PublishKeys { product, keys: chunk.to_vec() };
        describe_events(ctx, &execute(ctx, signing, call)?);
    }
    Ok(())
}

fn describe_product(p: &Product) -> String {
    let t = &p.terms;
    let mut prices = Vec::new();
    if let Some(price) = t.per_reading {
        prices.push(format!("{price} per reading (channel)"));
    }
    if let Some(per) = t.per_period {
        prices.push(format!("{} per {} s", per.price, per.period_ms / 1000));
    }
    let access = match &t.access {
        Access::Anyone {} => "anyone who pays".to_string(),
        Access::AllowList { buyers } => format!("{} allowed accounts", buyers.len()),
        Access::Devices { min_reputation } => {
            format!("devices with reputation >= {min_reputation}%")
        }
    };
    let subs: Vec<String> = p.subscribers.iter().map(|s| s.subscription.to_string()).collect();
    format!(
        "product {}: device {} streams {:?} by {}\n  {} ({}); access: {access}; history: {}; sealed: {}; {}\n  active subscriptions: {}",
        p.id,
        p.device,
        p.streams,
        p.seller,
        prices.join(", "),
        asset_name(t.asset),
        t.history,
        t.sealed,
        if p.listed { "listed" } else { "delisted" },
        if subs.is_empty() { "none".into() } else { subs.join(", ") }
    )
}

/// Runs `machina data ...`.
pub fn data(ctx: &DeviceCtx, signing: &Signing, cmd: DataCommand) -> Result<()> {
    match cmd {
        DataCommand::Subscribe { product, periods, channel } => {
            let key = ctx.keyring.get(&signing.from)?;
            let encryption_key =
                machina_types::sealed::encryption_key(&privacy::encryption_secret(&key.key));
            let payment = match (periods, channel) {
                (Some(periods), _) => Payment::Periods { periods },
                (None, Some(channel)) => Payment::Channel { channel },
                (None, None) => bail!("pass --periods or --channel"),
            };
            let call = ProductsCall::Subscribe { product, payment, encryption_key };
            describe_events(ctx, &execute(ctx, signing, call)?);
        }
        DataCommand::Cancel { subscription } => {
            describe_events(ctx, &execute(ctx, signing, ProductsCall::Cancel { subscription })?);
        }
        DataCommand::Show { subscription } => {
            let s = ctx.client.subscription(subscription)?;
            ctx.print(&s, || describe_subscription(&s));
        }
        DataCommand::Read { subscription, follow, count, mqtt } => {
            read(ctx, signing, subscription, follow.then_some(count), mqtt)?
        }
    }
    Ok(())
}

fn describe_subscription(s: &Subscription) -> String {
    let payment = match s.payment {
        Payment::Periods { periods } => format!("{periods} periods paid up front"),
        Payment::Channel { channel } => format!("per reading through channel {channel}"),
    };
    let until = match s.until_ms {
        u64::MAX => "until it ends".to_string(),
        ms => format!("until {ms} ms"),
    };
    format!(
        "subscription {} to product {} by {}: {payment}; from {} ms {until}; {:?}",
        s.id, s.product, s.subscriber, s.since_ms, s.status
    )
}

/// Prints one reading, decrypted if the subscription's keys open it.
fn show_reading(ctx: &DeviceCtx, subscriber: &mut Subscriber, reading: &SignedReading) {
    let r = &reading.reading;
    let value = match subscriber.open(&ctx.client, r) {
        Ok(value) => value.to_string(),
        Err(privacy::OpenError::NotSealed) => r.value.to_string(),
        Err(e) => format!("({e})"),
    };
    let body =
        json!({ "stream": r.stream, "seq": r.seq, "timestamp_ms": r.timestamp_ms, "value": value });
    ctx.print(&body, || {
        format!("stream {} seq {:>6}  {:>14} ms  {value}", r.stream, r.seq, r.timestamp_ms)
    });
}

/// `machina data read`: the history, then live readings if `live` (with their count limit).
fn read(
    ctx: &DeviceCtx,
    signing: &Signing,
    id: SubscriptionId,
    live: Option<Option<u64>>,
    mqtt: Option<String>,
) -> Result<()> {
    let key = ctx.keyring.get(&signing.from)?;
    let sub = ctx.client.subscription(id)?;
    let product = ctx.client.product(sub.product)?;
    let mut subscriber = Subscriber::new(privacy::encryption_secret(&key.key), id, product.device);
    for stream in &product.streams {
        let history = ctx.client.readings(&product.device, *stream, &ReadingsQuery::default())?;
        for entry in &history.readings {
            show_reading(ctx, &mut subscriber, &entry.reading);
        }
    }
    let Some(limit) = live else { return Ok(()) };
    let price = match sub.payment {
        Payment::Channel { .. } => product.terms.per_reading,
        Payment::Periods { .. } => None,
    };
    let broker = broker_address(ctx, mqtt)?;
    let chain_id = ctx.client.status()?.chain_id;
    runtime()?.block_on(async {
        use rumqttc::{AsyncClient, Event as MqttEvent, MqttOptions, Packet, QoS};
        let client_id = format!("data-{id}-{}", super::device::now_ms());
        let (user, password) = privacy::account_mqtt_login(&key.key, &chain_id, &client_id);
        let mut options = MqttOptions::new(client_id, broker.0.clone(), broker.1);
        options.set_credentials(user, password);
        options.set_keep_alive(std::time::Duration::from_secs(30));
        let (client, mut events) = AsyncClient::new(options, 64);
        let topic = format!("machina/v1/subscriptions/{id}/readings");
        client.subscribe(topic, QoS::AtMostOnce).await?;
        let mut received = 0u64;
        while limit.is_none_or(|n| received < n) {
            match events.poll().await {
                Ok(MqttEvent::Incoming(Packet::SubAck(ack))) => {
                    if ack
                        .return_codes
                        .iter()
                        .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                    {
                        bail!("the broker refused the subscription's topic");
                    }
                }
                Ok(MqttEvent::Incoming(Packet::Publish(p))) => {
                    let reading = SignedReading::decode(p.payload)
                        .map_err(|e| anyhow!("a delivered reading does not decode: {e}"))?;
                    show_reading(ctx, &mut subscriber, &reading);
                    received += 1;
                    if let (Some(price), Payment::Channel { channel }) = (price, sub.payment) {
                        pay(ctx, &key.key, &chain_id, id, channel, price)?;
                    }
                }
                Ok(_) => {}
                Err(e) => bail!("MQTT: {e}"),
            }
        }
        Ok(())
    })
}

/// Pays a by-reading subscription for every reading the gateway delivered.
fn pay(
    ctx: &DeviceCtx,
    key: &machina_types::PrivateKey,
    chain_id: &str,
    id: SubscriptionId,
    channel: u64,
    price: u64,
) -> Result<()> {
    let delivered = ctx.client.subscription_payment(id)?.delivered;
    let cumulative = delivered.checked_mul(price).ok_or_else(|| anyhow!("payment overflows"))?;
    let voucher = SignedVoucher::sign(key, chain_id, Voucher { channel, cumulative });
    match ctx.client.pay_subscription(id, &voucher) {
        Ok(_) => Ok(()),
        // Already paid (another reader of the subscription paid first).
        Err(machina_sdk::Error::Api { code, .. }) if code == "stale_voucher" => Ok(()),
        Err(e) => Err(e.into()),
    }
}

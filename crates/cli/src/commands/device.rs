//! `machina device`: onboarding and managing devices, signing and publishing readings over
//! MQTT, the actuator loop; and what the maker and feed commands share with it (signing
//! options, the context).

use super::simulate::{Simulation, simulate};
use anyhow::{Context as _, Result, anyhow, bail};
use clap::{Args, Subcommand};
use commonware_codec::Encode;
use commonware_cryptography::ed25519::PrivateKey;
use machina_sdk::{
    Client, Keyring,
    device::{
        DeviceIdentity, check_lease, errors_topic, mqtt_login, parse_numeric, telemetry_topic,
        verify_command,
    },
    keys::NamedKey,
};
use machina_types::{Address, Call, DeviceId, IdentityCall, SignedReading};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::json;
use std::time::{Duration, Instant};

/// How long device commands wait for finality.
pub(super) const WAIT: Duration = Duration::from_secs(30);

/// Options shared by commands that sign transactions.
#[derive(Args, Debug, Clone)]
pub struct Signing {
    /// Name of the signing key in the keyring.
    #[arg(long, global = true, default_value = "dev0")]
    pub from: String,
}

/// `machina device`.
#[derive(Subcommand, Debug)]
pub enum DeviceCommand {
    /// Create a device key, certify it with your maker key, and onboard the device to you.
    Onboard {
        /// Serial number (stored on chain only as a hash).
        #[arg(long)]
        serial: String,
        /// Model name.
        #[arg(long, default_value = "generic-sensor")]
        model: String,
        /// Keyring name of the maker key.
        #[arg(long, default_value = "maker")]
        maker_key: String,
        /// The maker's account (address or key name) [default: the signer].
        #[arg(long)]
        maker: Option<String>,
        /// Keyring name for the device key [default: device-<serial>].
        #[arg(long)]
        key: Option<String>,
        /// Do not grant the node's gateway the role that lets it anchor the device's data.
        #[arg(long)]
        no_gateway: bool,
    },
    /// Change a device's status or owner, or its roles and attributes (owner only).
    #[command(flatten)]
    Manage(ManageCommand),
    /// Sign a reading with a device key and write its encoding (for `mosquitto_pub -f`).
    SignReading(ReadingArgs),
    /// Print a device's MQTT password for the node's broker (for `mosquitto_pub -u <device>
    /// -P <password> -i <client id>`): a token the device key signs, valid for five minutes,
    /// once.
    MqttPassword {
        /// Keyring name of the device key.
        #[arg(long)]
        key: String,
        /// Device id.
        #[arg(long)]
        device: String,
        /// The MQTT client id the token is for.
        #[arg(long)]
        client_id: String,
    },
    /// Sign a reading and publish it over MQTT (QoS 1), reporting the gateway's verdict.
    Publish {
        /// The reading.
        #[command(flatten)]
        reading: ReadingArgs,
        /// MQTT broker `host:port` [default: the node's embedded broker].
        #[arg(long)]
        mqtt: Option<String>,
    },
    /// Onboard N simulated devices and publish their readings over MQTT until stopped.
    Simulate {
        /// Devices.
        #[arg(long, default_value_t = 10)]
        count: usize,
        /// Readings per second, per device.
        #[arg(long, default_value_t = 1.0)]
        rate: f64,
        /// Stream id the devices publish on.
        #[arg(long, default_value_t = 1)]
        stream: u32,
        /// Stop after this many seconds [default: run until Ctrl-C].
        #[arg(long)]
        duration: Option<u64>,
        /// Keyring name of the maker key.
        #[arg(long, default_value = "maker")]
        maker_key: String,
        /// MQTT broker `host:port` [default: the node's embedded broker].
        #[arg(long)]
        mqtt: Option<String>,
    },
    /// Act as an actuator device: perform the commands leased from it (printed) and publish
    /// its signed acknowledgements, which pay the lease.
    Actuator {
        /// Keyring name of the device key.
        #[arg(long)]
        key: String,
        /// Device id.
        #[arg(long)]
        device: String,
        /// Stop after this many commands [default: run until Ctrl-C].
        #[arg(long)]
        count: Option<u64>,
        /// MQTT broker `host:port` [default: the node's embedded broker].
        #[arg(long)]
        mqtt: Option<String>,
    },
}

/// Owner actions on a device.
#[derive(Subcommand, Debug)]
pub enum ManageCommand {
    /// Give the device to a new owner.
    Transfer {
        /// Device id.
        #[arg(long)]
        device: String,
        /// New owner (address or key name).
        #[arg(long)]
        to: String,
    },
    /// Suspend the device (its readings are refused until resumed).
    Suspend {
        /// Device id.
        #[arg(long)]
        device: String,
    },
    /// Resume a suspended device.
    Resume {
        /// Device id.
        #[arg(long)]
        device: String,
    },
    /// Retire the device for good.
    Decommission {
        /// Device id.
        #[arg(long)]
        device: String,
    },
    /// Grant an account a role on the device.
    GrantRole {
        /// Device id.
        #[arg(long)]
        device: String,
        /// Account (address or key name).
        #[arg(long)]
        account: String,
        /// Role (operator, reader, seller, gateway, or your own).
        #[arg(long)]
        role: String,
        /// Last height the grant holds.
        #[arg(long)]
        expiry_height: Option<u64>,
    },
    /// Accept a role a device's owner granted you (a feed's creator accepts the devices
    /// that may report to its role or attribute feed).
    AcceptRole {
        /// Device id.
        #[arg(long)]
        device: String,
        /// Role.
        #[arg(long)]
        role: String,
    },
    /// Revoke a role.
    RevokeRole {
        /// Device id.
        #[arg(long)]
        device: String,
        /// Account (address or key name).
        #[arg(long)]
        account: String,
        /// Role.
        #[arg(long)]
        role: String,
    },
    /// Set (or, without --value, remove) a device attribute.
    SetAttribute {
        /// Device id.
        #[arg(long)]
        device: String,
        /// Attribute key.
        #[arg(long)]
        key: String,
        /// Attribute value.
        #[arg(long)]
        value: Option<String>,
    },
}

/// A reading to sign.
#[derive(Args, Debug)]
pub struct ReadingArgs {
    /// Keyring name of the device key.
    #[arg(long)]
    pub key: String,
    /// Device id.
    #[arg(long)]
    pub device: String,
    /// Stream id.
    #[arg(long, default_value_t = 1)]
    pub stream: u32,
    /// Sequence number (strictly increasing per stream).
    #[arg(long)]
    pub seq: u64,
    /// The value, as a decimal number (e.g. 21.5).
    #[arg(long, allow_hyphen_values = true)]
    pub value: String,
    /// Unit.
    #[arg(long, default_value = "C")]
    pub unit: String,
    /// Timestamp, ms since the Unix epoch [default: now].
    #[arg(long)]
    pub timestamp_ms: Option<u64>,
    /// Write the encoded reading here (sign-reading only).
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Seal the value with this stream secret (a file from `machina product secret`), under
    /// the stream's current key epoch: only the stream's subscribers can read it.
    #[arg(long)]
    pub seal_secret: Option<std::path::PathBuf>,
}

/// What device commands need from the CLI.
pub struct DeviceCtx {
    /// The home directory.
    pub home: std::path::PathBuf,
    /// The node client.
    pub client: Client,
    /// The keyring.
    pub keyring: Keyring,
    /// JSON output.
    pub json: bool,
}

impl DeviceCtx {
    pub(crate) fn address(&self, who: &str) -> Result<Address> {
        crate::commands::resolve_address(&self.keyring, who)
    }

    pub(crate) fn print(&self, value: &impl serde::Serialize, human: impl FnOnce() -> String) {
        crate::commands::output(self.json, value, human);
    }

    pub(super) fn key_or_create(&self, name: &str) -> Result<NamedKey> {
        match self.keyring.get(name) {
            Ok(k) => Ok(k),
            Err(_) => Ok(self.keyring.generate(name)?),
        }
    }

    pub(crate) fn execute(
        &self,
        from: &str,
        calls: Vec<Call>,
    ) -> Result<machina_sdk::client::TxStatus> {
        let key = self.keyring.get(from)?;
        Ok(self.client.execute(&key.key, calls, WAIT)?)
    }
}

pub(super) fn device_id(text: &str) -> Result<DeviceId> {
    text.parse().map_err(|_| anyhow!("not a device id (64 hex characters): {text}"))
}

/// Runs `machina device ...`.
pub fn device(ctx: &DeviceCtx, signing: &Signing, cmd: DeviceCommand) -> Result<()> {
    match cmd {
        DeviceCommand::Onboard { serial, model, maker_key, maker, key, no_gateway } => {
            let key_name = key.unwrap_or_else(|| format!("device-{serial}"));
            let device_key = ctx.key_or_create(&key_name)?;
            let maker_key = ctx
                .keyring
                .get(&maker_key)
                .context("the maker key (register with `machina maker register`)")?;
            let owner = ctx.keyring.get(&signing.from)?.address();
            let maker = match maker {
                Some(m) => ctx.address(&m)?,
                None => owner,
            };
            let identity =
                DeviceIdentity::certify(device_key.key, maker, &maker_key.key, &model, &serial);
            let status = ctx.client.status()?;
            let gateway = (!no_gateway).then_some(status.gateway.account);
            ctx.execute(&signing.from, identity.onboard_calls(&status.chain_id, &owner, gateway))?;
            let id = identity.id();
            ctx.print(&json!({ "device": id, "key": key_name, "owner": owner }), || {
                format!(
                    "onboarded device {id}\n  key    {key_name} (in the keyring)\n  owner  {owner}"
                )
            });
        }
        DeviceCommand::Manage(manage) => {
            let call = manage_call(ctx, manage)?;
            let status = ctx.execute(&signing.from, vec![call.into()])?;
            ctx.print(&serde_json::to_value(&status)?, || {
                format!("done: transaction {} finalized", status.hash)
            });
        }
        DeviceCommand::SignReading(args) => {
            let reading = sign_reading(ctx, &args)?;
            let encoded = reading.encode();
            if let Some(out) = &args.out {
                std::fs::write(out, &encoded)
                    .with_context(|| format!("writing {}", out.display()))?;
            }
            let topic = telemetry_topic(&reading.reading.device, reading.reading.stream);
            let body = json!({ "topic": topic, "reading": machina_types::codec::hex(&encoded) });
            ctx.print(&body, || {
                format!("topic    {topic}\nreading  {}", machina_types::codec::hex(&encoded))
            });
        }
        DeviceCommand::MqttPassword { key, device, client_id } => {
            let key = ctx.keyring.get(&key)?.key;
            let chain_id = ctx.client.status()?.chain_id;
            let (_, password) = mqtt_login(&key, &chain_id, &device_id(&device)?, &client_id);
            ctx.print(&json!({ "username": device, "password": password }), || password.clone());
        }
        DeviceCommand::Publish { reading, mqtt } => {
            let signed = sign_reading(ctx, &reading)?;
            let broker = broker_address(ctx, mqtt)?;
            let login = Login {
                chain_id: ctx.client.status()?.chain_id,
                key: ctx.keyring.get(&reading.key)?.key,
            };
            let verdict = runtime()?.block_on(publish_once(&broker, &login, &signed))?;
            let body = json!({ "seq": signed.reading.seq, "refused": verdict });
            ctx.print(&body, || match &verdict {
                None => format!("reading {} stored by the gateway", signed.reading.seq),
                Some(error) => format!("reading {} refused: {error}", signed.reading.seq),
            });
            if verdict.is_some() {
                return Err(crate::commands::Exit(1).into());
            }
        }
        DeviceCommand::Simulate { count, rate, stream, duration, maker_key, mqtt } => {
            simulate(ctx, signing, Simulation { count, rate, stream, duration, maker_key, mqtt })?;
        }
        DeviceCommand::Actuator { key, device, count, mqtt } => {
            let key = ctx.keyring.get(&key)?.key;
            let device = device_id(&device)?;
            let broker = broker_address(ctx, mqtt)?;
            runtime()?.block_on(actuate(ctx, &broker, device, &key, count))?;
        }
    }
    Ok(())
}

fn manage_call(ctx: &DeviceCtx, cmd: ManageCommand) -> Result<IdentityCall> {
    Ok(match cmd {
        ManageCommand::Transfer { device, to } => {
            IdentityCall::TransferDevice { device: device_id(&device)?, to: ctx.address(&to)? }
        }
        ManageCommand::Suspend { device } => IdentityCall::Suspend { device: device_id(&device)? },
        ManageCommand::Resume { device } => IdentityCall::Resume { device: device_id(&device)? },
        ManageCommand::Decommission { device } => {
            IdentityCall::Decommission { device: device_id(&device)? }
        }
        ManageCommand::GrantRole { device, account, role, expiry_height } => {
            IdentityCall::GrantRole {
                device: device_id(&device)?,
                account: ctx.address(&account)?,
                role,
                expiry_height,
            }
        }
        ManageCommand::RevokeRole { device, account, role } => IdentityCall::RevokeRole {
            device: device_id(&device)?,
            account: ctx.address(&account)?,
            role,
        },
        ManageCommand::SetAttribute { device, key, value } => {
            IdentityCall::SetAttribute { device: device_id(&device)?, key, value }
        }
        ManageCommand::AcceptRole { device, role } => {
            IdentityCall::AcceptRole { device: device_id(&device)?, role }
        }
    })
}

pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn sign_reading(ctx: &DeviceCtx, args: &ReadingArgs) -> Result<SignedReading> {
    let key = ctx.keyring.get(&args.key)?;
    let value = parse_numeric(&args.value, &args.unit)
        .ok_or_else(|| anyhow!("--value must be a decimal number"))?;
    let reading = machina_types::Reading {
        device: device_id(&args.device)?,
        stream: args.stream,
        seq: args.seq,
        timestamp_ms: args.timestamp_ms.unwrap_or_else(now_ms),
        value,
    };
    let Some(path) = &args.seal_secret else { return Ok(reading.sign(&key.key)) };
    let secret = super::products::read_secret(path)?;
    let epoch = ctx.client.stream_keys(&reading.device, reading.stream)?.epoch;
    let epoch_key =
        machina_types::sealed::epoch_key(&secret, &reading.device, reading.stream, epoch);
    let nonce = machina_sdk::privacy::random();
    let sealed = machina_types::sealed::seal(reading, &epoch_key, epoch, nonce)
        .ok_or_else(|| anyhow!("the value cannot be sealed"))?;
    Ok(sealed.sign(&key.key))
}

pub(super) fn broker_address(ctx: &DeviceCtx, mqtt: Option<String>) -> Result<(String, u16)> {
    let address = match mqtt {
        Some(a) => a,
        None => ctx
            .client
            .status()?
            .gateway
            .mqtt
            .ok_or_else(|| anyhow!("the node runs no MQTT broker; pass --mqtt"))?,
    };
    let (host, port) =
        address.rsplit_once(':').ok_or_else(|| anyhow!("--mqtt must be host:port"))?;
    Ok((host.to_string(), port.parse().context("--mqtt port")?))
}

/// What a device logs in to the broker with.
pub(super) struct Login {
    pub(super) chain_id: String,
    pub(super) key: PrivateKey,
}

/// A client of `broker` for `device`, logged in with a fresh token of its key.
pub(super) fn device_client(
    broker: &(String, u16),
    login: &Login,
    device: &DeviceId,
    client_id: String,
    capacity: usize,
) -> (AsyncClient, rumqttc::EventLoop) {
    let (user, password) = mqtt_login(&login.key, &login.chain_id, device, &client_id);
    let mut options = MqttOptions::new(client_id, broker.0.clone(), broker.1);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_credentials(user, password);
    AsyncClient::new(options, capacity)
}

/// Renews the login token before the event loop reconnects (a token is accepted once).
pub(super) fn renew_login(events: &mut rumqttc::EventLoop, login: &Login, device: &DeviceId) {
    let client_id = events.mqtt_options.client_id();
    let (user, password) = mqtt_login(&login.key, &login.chain_id, device, &client_id);
    events.mqtt_options.set_credentials(user, password);
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Publishes one reading with QoS 1 and waits for the acknowledgement; returns the
/// gateway's refusal, if it reported one on the device's errors topic. An acknowledgement
/// means the gateway stored the reading; a connection closed before it means it did not.
async fn publish_once(
    broker: &(String, u16),
    login: &Login,
    reading: &SignedReading,
) -> Result<Option<String>> {
    let device = reading.reading.device;
    let id = format!("pub-{}-{}", &device.to_string()[..16], now_ms());
    let (client, mut events) = device_client(broker, login, &device, id, 16);
    client.subscribe(errors_topic(&device), QoS::AtMostOnce).await?;
    let mut published = false;
    let mut acked_at: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if acked_at.is_some_and(|t| t.elapsed() > Duration::from_millis(500)) {
            return Ok(None);
        }
        let event = tokio::time::timeout(Duration::from_millis(100), events.poll()).await;
        match event {
            Ok(Ok(Event::Incoming(Packet::SubAck(_)))) if !published => {
                published = true;
                let topic = telemetry_topic(&device, reading.reading.stream);
                client.publish(topic, QoS::AtLeastOnce, false, reading.encode().to_vec()).await?;
            }
            Ok(Ok(Event::Incoming(Packet::ConnAck(ack))))
                if ack.code != rumqttc::ConnectReturnCode::Success =>
            {
                bail!("the broker refused the device's login: {:?}", ack.code)
            }
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => acked_at = Some(Instant::now()),
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                let report: serde_json::Value =
                    serde_json::from_slice(&p.payload).unwrap_or_default();
                if report["seq"] == json!(reading.reading.seq) {
                    return Ok(Some(format!(
                        "{}: {}",
                        report["code"].as_str().unwrap_or("?"),
                        report["message"].as_str().unwrap_or("")
                    )));
                }
            }
            Ok(Err(e)) if published && acked_at.is_none() => bail!(
                "the gateway closed the connection without acknowledging reading {}: it was not \
                 stored (the gateway is unavailable); publish it again ({e})",
                reading.reading.seq
            ),
            Ok(Err(e)) => bail!("MQTT: {e}"),
            _ => {}
        }
    }
    bail!("no acknowledgement from the broker within 10 s: the reading may not be stored")
}

/// Serves leased commands for `device`: for each command the node's gateway signed for an
/// active lease of this device, reports it, signs the acknowledgement and publishes it;
/// ignores (and reports) anything else; stops after `count` commands if given.
async fn actuate(
    ctx: &DeviceCtx,
    broker: &(String, u16),
    device: DeviceId,
    key: &PrivateKey,
    count: Option<u64>,
) -> Result<()> {
    use commonware_cryptography::Signer;
    use machina_types::market::{ACK_NAMESPACE, ActuationAck, ack_message};
    let status = ctx.client.status()?;
    let gateway = status.gateway.account;
    let role = ctx.client.role(&device, &gateway, machina_types::identity::roles::GATEWAY)?;
    if !role.holds {
        bail!(
            "device {device} has not granted the node's gateway {gateway} the gateway role: \
               it would not act on its commands (machina device grant-role --role gateway)"
        );
    }
    let login = Login { chain_id: status.chain_id.clone(), key: key.clone() };
    let id = format!("actuator-{}", &device.to_string()[..16]);
    let (client, mut events) = device_client(broker, &login, &device, id, 64);
    let commands = format!("machina/v1/{device}/commands");
    client.subscribe(&commands, QoS::AtLeastOnce).await?;
    ctx.print(&json!({ "device": device, "listening": commands, "gateway": gateway }), || {
        format!("actuator {device}: waiting for commands signed by gateway {gateway} on {commands}")
    });
    // Leases already acted on (bounded: the oldest are forgotten; a lease's command is
    // repeated only until it is settled, which takes far fewer than this many commands).
    let mut done = std::collections::BTreeSet::new();
    loop {
        let publish = match events.poll().await {
            Ok(Event::Incoming(Packet::Publish(p))) => p,
            Ok(_) => continue,
            Err(e) => {
                eprintln!("MQTT: {e}; reconnecting");
                tokio::time::sleep(Duration::from_secs(1)).await;
                renew_login(&mut events, &login, &device);
                continue;
            }
        };
        let command =
            match verify_command(&publish.payload, &status.chain_id, &device, &gateway, now_ms()) {
                Ok(command) => command,
                Err(refusal) => {
                    eprintln!("ignored a message on {commands}: {refusal}");
                    continue;
                }
            };
        let lease = command.lease;
        if done.contains(&lease) {
            continue; // a repeat of a command already performed
        }
        let checked = match ctx.client.lease(lease) {
            Ok(record) => check_lease(&command, &record).map_err(|e| e.to_string()),
            Err(e) => Err(format!("lease {lease}: {e}")),
        };
        if let Err(reason) = checked {
            eprintln!("ignored command {} (lease {lease}): {reason}", command.command);
            continue;
        }
        done.insert(lease);
        while done.len() > 65_536 {
            done.pop_first();
        }
        let signature =
            key.sign(ACK_NAMESPACE, &ack_message(&status.chain_id, lease, &command.command));
        let ack = ActuationAck { lease, signature };
        client
            .publish(
                format!("machina/v1/{device}/acks"),
                QoS::AtLeastOnce,
                false,
                ack.encode().to_vec(),
            )
            .await?;
        let name = &command.command;
        ctx.print(&json!({ "lease": lease, "command": name, "acknowledged": true }), || {
            format!("{name} (lease {lease}): performed, acknowledgement signed and published")
        });
        if count.is_some_and(|c| done.len() as u64 >= c) {
            // Let the acknowledgement leave before stopping.
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                if let Ok(Ok(Event::Incoming(Packet::PubAck(_)))) =
                    tokio::time::timeout(Duration::from_millis(200), events.poll()).await
                {
                    break;
                }
            }
            return Ok(());
        }
    }
}

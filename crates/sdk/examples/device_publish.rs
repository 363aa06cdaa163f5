//! A device that signs readings and publishes them to the gateway over MQTT, then waits
//! until the chain has anchored them.
//!
//! With `machina dev` running:
//!
//! ```sh
//! cargo run -p machina-sdk --example device_publish
//! ```
//!
//! `dev0` registers as a maker (once, with the key `example-maker` in the keyring),
//! certifies a new device, onboards it to itself and lets the gateway anchor its readings.
//! The device logs in to the broker with its id and a token signed by its key, publishes
//! five readings with QoS 1 (the broker acknowledges each only once the gateway has stored
//! it), and the example waits for their anchor to be final.

use commonware_codec::Encode;
use commonware_cryptography::ed25519::PrivateKey;
use commonware_math::algebra::Random;
use machina_sdk::{
    Client, Keyring,
    device::{DeviceIdentity, mqtt_login, now_ms, telemetry_topic},
    keys::default_home,
};
use machina_types::{IdentityCall, Value};
use rumqttc::{Client as Mqtt, Event, MqttOptions, Packet, QoS};
use std::time::{Duration, Instant};

const STREAM: u32 = 1;
const READINGS: u64 = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env();
    let keyring = Keyring::new(default_home().join("keys"));
    let owner = keyring.get("dev0")?;
    let maker_key = keyring.get("example-maker").or_else(|_| keyring.generate("example-maker"))?;
    let status = client.status()?;

    // The owner becomes a maker once; its maker key certifies devices.
    if client.maker(&owner.address()).is_err() {
        let register = IdentityCall::RegisterMaker {
            name: "example maker".into(),
            maker_key: maker_key.address(),
            bond: status.params.identity.min_maker_bond,
        };
        let (_, hash) = client.send(&owner.key, vec![register.into()])?;
        client.wait(&hash, Duration::from_secs(30))?;
    }
    let device = DeviceIdentity::certify(
        PrivateKey::random(commonware_utils::sys_rng()),
        owner.address(),
        &maker_key.key,
        "example-thermometer",
        &format!("example-{}", now_ms()),
    );
    client.onboard_devices(
        &owner.key,
        std::slice::from_ref(&device),
        Some(status.gateway.account),
        Duration::from_secs(30),
    )?;
    println!("onboarded device {}", device.id());

    // Log in to the gateway's broker as the device.
    let broker = status.gateway.mqtt.ok_or("the node runs no MQTT broker")?;
    let (host, port) = broker.rsplit_once(':').ok_or("broker address is host:port")?;
    let client_id = format!("example-{}", now_ms());
    let (user, password) = mqtt_login(&device.key, &status.chain_id, &device.id(), &client_id);
    let mut options = MqttOptions::new(client_id, host, port.parse()?);
    options.set_credentials(user, password);
    let (mqtt, mut connection) = Mqtt::new(options, 16);

    for seq in 1..=READINGS {
        let value = Value::Numeric { value: 2_150 + seq as i64, decimals: 2, unit: "C".into() };
        let reading = device.reading(STREAM, seq, now_ms(), value);
        let topic = telemetry_topic(&device.id(), STREAM);
        mqtt.publish(topic, QoS::AtLeastOnce, false, reading.encode().to_vec())?;
    }
    let mut acknowledged = 0;
    for event in connection.iter() {
        match event? {
            Event::Incoming(Packet::ConnAck(ack)) => println!("logged in: {:?}", ack.code),
            Event::Incoming(Packet::PubAck(_)) => {
                acknowledged += 1;
                if acknowledged == READINGS {
                    break;
                }
            }
            _ => {}
        }
    }
    println!("{acknowledged} readings acknowledged: the gateway stored them");

    // The gateway anchors them at its next interval; wait for the anchor to be final.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stream = client.stream(&device.id(), STREAM)?;
        if stream.anchored == READINGS {
            println!("all {READINGS} anchored on chain at height {}", stream.height);
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("not anchored within 30 s: {stream:?}").into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

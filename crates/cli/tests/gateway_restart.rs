//! The gateway of a real `machina node` process killed with SIGKILL after acknowledging
//! readings and before anchoring them: after a restart, every acknowledged reading is
//! anchored exactly once, and its proof verifies offline with `machina verify-reading`.

use commonware_codec::Encode;
use machina_sdk::{
    Client, Keyring,
    device::{mqtt_login, numeric, telemetry_topic},
};
use machina_types::{DeviceId, Reading};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use std::{
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

mod common;

use common::{MACHINA, machina, wait_for};

const WAIT: Duration = Duration::from_secs(60);
const STREAM: u32 = 1;

use machina_node::ports::unused_local_addr as free_addr;

/// The node process; killed when the test ends, however it ends.
struct Node(Option<Child>);

impl Node {
    fn start(home: &Path, client: &Client) -> Self {
        let log =
            std::fs::File::options().create(true).append(true).open(home.join("node.log")).unwrap();
        let child = Command::new(MACHINA)
            .args(["node", "--home"])
            .arg(home)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let node = Self(Some(child));
        wait_for("the node to serve its API", WAIT, || client.status().is_ok_and(|s| s.height > 0));
        node
    }

    fn sigkill(mut self) {
        let mut child = self.0.take().expect("running");
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn set_anchor_interval(home: &Path, ms: u64) {
    let path = home.join("config.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    let mut replaced = false;
    let lines: Vec<String> = config
        .lines()
        .map(|line| match line.starts_with("anchor_interval_ms") {
            true => {
                replaced = true;
                format!("anchor_interval_ms = {ms}")
            }
            false => line.to_string(),
        })
        .collect();
    assert!(replaced, "config.toml has no anchor_interval_ms:\n{config}");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

/// Publishes readings `seqs` of `device` with QoS 1, logged in as the device, and returns
/// once the broker acknowledged every one.
fn publish_acknowledged(
    broker: SocketAddr,
    chain_id: &str,
    key: &commonware_cryptography::ed25519::PrivateKey,
    device: DeviceId,
    seqs: std::ops::RangeInclusive<u64>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut options = MqttOptions::new("restart-test", broker.ip().to_string(), broker.port());
        let (user, password) = mqtt_login(key, chain_id, &device, "restart-test");
        options.set_credentials(user, password);
        let (client, mut events) = AsyncClient::new(options, 1024);
        let expected = seqs.clone().count();
        for seq in seqs {
            let timestamp_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
            let value = numeric(seq as i64, 0, "Wh");
            let reading =
                Reading { device, stream: STREAM, seq, timestamp_ms: timestamp_ms as u64, value };
            let payload = reading.sign(key).encode().to_vec();
            client
                .publish(telemetry_topic(&device, STREAM), QoS::AtLeastOnce, false, payload)
                .await
                .unwrap();
        }
        let mut acked = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while acked < expected {
            let event = tokio::time::timeout_at(deadline, events.poll()).await;
            match event.expect("acknowledgements within 30 s").unwrap() {
                Event::Incoming(Packet::PubAck(_)) => acked += 1,
                Event::Incoming(Packet::Publish(p)) => panic!("unexpected message on {}", p.topic),
                _ => {}
            }
        }
    });
}

/// (stored, anchored, last anchored sequence number) of the device's stream.
fn stream(home: &Path, device: DeviceId) -> (u64, u64, Option<u64>) {
    let state = machina(home, &["query", "stream", "--device", &device.to_string()]);
    (
        state["stored"].as_u64().unwrap(),
        state["anchored"].as_u64().unwrap(),
        state["last_anchored_seq"].as_u64(),
    )
}

fn verify(home: &Path, device: DeviceId, seq: u64) {
    let file = home.join(format!("reading-{seq}.json"));
    let device = device.to_string();
    let seq_text = seq.to_string();
    let args = ["query", "readings", "--device", &device, "--seq", &seq_text, "--proof-out"];
    let mut args: Vec<&str> = args.to_vec();
    args.push(file.to_str().unwrap());
    machina(home, &args);
    let verdict = machina(home, &["verify-reading", file.to_str().unwrap()]);
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["seq"], seq);
}

#[test]
fn every_acknowledged_reading_is_anchored_exactly_once_after_a_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let (api, mqtt) = (free_addr(), free_addr());
    let home_str = home.to_str().unwrap();
    let (api_text, mqtt_text, p2p_text) =
        (api.to_string(), mqtt.to_string(), free_addr().to_string());
    Command::new(MACHINA)
        .args(["--home", home_str, "init", "--api", &api_text, "--p2p", &p2p_text])
        .args(["--mqtt", &mqtt_text, "--block-interval-ms", "100"])
        .output()
        .map(|o| assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr)))
        .unwrap();
    let client = Client::new(&format!("http://{api}"));

    // Anchoring effectively off: the kill lands between acknowledgement and anchoring.
    set_anchor_interval(&home, 3_600_000);
    let node = Node::start(&home, &client);
    machina(&home, &["maker", "register", "--name", "acme"]);
    let onboarded = machina(&home, &["device", "onboard", "--serial", "meter-1"]);
    let device: DeviceId = onboarded["device"].as_str().unwrap().parse().unwrap();
    let key = Keyring::new(home.join("keys")).get("device-meter-1").unwrap().key;
    let chain_id = client.status().unwrap().chain_id;

    publish_acknowledged(mqtt, &chain_id, &key, device, 1..=200);
    assert_eq!(stream(&home, device), (200, 0, None), "acknowledged, none anchored yet");
    node.sigkill();

    // Restart with anchoring every 200 ms: everything acknowledged gets anchored.
    set_anchor_interval(&home, 200);
    let node = Node::start(&home, &client);
    wait_for("the acknowledged readings to be anchored", WAIT, || stream(&home, device).1 == 200);
    assert_eq!(stream(&home, device), (200, 200, Some(200)));

    // Kill again right after acknowledging more, while anchors may be in flight.
    publish_acknowledged(mqtt, &chain_id, &key, device, 201..=300);
    node.sigkill();
    let _node = Node::start(&home, &client);
    wait_for("the second batch to be anchored", WAIT, || stream(&home, device).1 == 300);
    // Anchored ranges are contiguous and never overlap (the chain refuses otherwise), so 300
    // readings anchored through sequence 300 means each exactly once.
    assert_eq!(stream(&home, device), (300, 300, Some(300)));
    for seq in [1, 137, 200, 201, 300] {
        verify(&home, device, seq);
    }
}

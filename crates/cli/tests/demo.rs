//! `machina dev --demo` as a newcomer runs it: the real binary on a fresh home. Within a
//! generous deadline, at least 20 of the devices `demo.json` lists have readings stored by
//! the gateway, a market of the demo has cleared a batch at a price, and a lease of the demo
//! was delivered. How long each took from the process's start is printed (run with
//! `--nocapture`), not asserted: the test machine's speed is not the demo's contract.

mod common;

use common::MACHINA;
use machina_node::ports::unused_local_addr as free_addr;
use machina_sdk::{Client, api::ReadingsQuery};
use machina_types::market::state::LeaseStatus;
use serde_json::Value;
use std::{
    path::Path,
    process::{Child, Command},
    time::{Duration, Instant},
};

/// How long the demo may take to reach every condition (far more than it needs).
const DEADLINE: Duration = Duration::from_secs(120);
/// Devices that must have published.
const DEVICES_MIN: usize = 20;

/// The demo's process; killed when the test ends, however it ends.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `demo.json`, once it exists and parses.
fn record(home: &Path) -> Value {
    std::fs::read(home.join("demo.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
}

fn list<'a>(record: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    record[field].as_array().into_iter().flatten()
}

/// How many of the listed devices have at least one stored reading on their main stream.
fn devices_with_readings(client: &Client, record: &Value) -> usize {
    let query = ReadingsQuery { limit: Some(1), proofs: Some(false), ..ReadingsQuery::default() };
    list(record, "devices")
        .filter(|device| {
            let id = device["id"].as_str().and_then(|id| id.parse().ok());
            let stream = device["stream"].as_u64().and_then(|s| u32::try_from(s).ok());
            let (Some(id), Some(stream)) = (id, stream) else { return false };
            client.readings(&id, stream, &query).is_ok_and(|r| !r.readings.is_empty())
        })
        .count()
}

/// A listed market that has cleared a batch, with its price.
fn cleared_market(client: &Client, record: &Value) -> Option<(String, u64)> {
    list(record, "markets").find_map(|id| {
        let book = client.market_book(&id.as_str()?.parse().ok()?).ok()?;
        book.market.last_batch?;
        Some((book.market.kind, book.market.last_price?))
    })
}

/// A listed lease the chain has as delivered.
fn delivered_lease(client: &Client, record: &Value) -> Option<u64> {
    list(record, "leases_delivered")
        .filter_map(Value::as_u64)
        .find(|id| client.lease(*id).is_ok_and(|lease| lease.status == LeaseStatus::Delivered))
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[test]
fn the_demo_town_publishes_clears_batches_and_delivers_leases_on_a_fresh_home() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let (api, p2p, mqtt) = (free_addr(), free_addr(), free_addr());
    let log_path = tmp.path().join("demo.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let started = Instant::now();
    let child = Command::new(MACHINA)
        .arg("--home")
        .arg(&home)
        .args(["dev", "--demo", "--api", &api.to_string(), "--p2p", &p2p.to_string()])
        .args(["--mqtt", &mqtt.to_string()])
        .env("RUST_LOG", "warn,machina=info")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut demo = Demo(child);
    let client = Client::new(&format!("http://{api}"));

    let (mut published, mut cleared, mut delivered) = (None, None, None);
    let mut seen = (0, None, None);
    while published.is_none() || cleared.is_none() || delivered.is_none() {
        let exited = demo.0.try_wait().unwrap();
        assert!(
            exited.is_none(),
            "machina dev --demo exited ({exited:?}):\n{}",
            log_tail(&log_path)
        );
        assert!(
            started.elapsed() < DEADLINE,
            "after {DEADLINE:?}: {} devices with readings, cleared market {:?}, delivered lease \
             {:?}\n{}",
            seen.0,
            seen.1,
            seen.2,
            log_tail(&log_path)
        );
        let record = record(&home);
        let at = started.elapsed().as_secs_f64();
        if published.is_none() {
            seen.0 = devices_with_readings(&client, &record);
            published = (seen.0 >= DEVICES_MIN).then_some(at);
        }
        if cleared.is_none() {
            seen.1 = cleared_market(&client, &record);
            cleared = seen.1.is_some().then_some(at);
        }
        if delivered.is_none() {
            seen.2 = delivered_lease(&client, &record);
            delivered = seen.2.is_some().then_some(at);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let (kind, price) = seen.1.unwrap();
    println!("seconds from the start of `machina dev --demo`:");
    println!("  {:>6.1}  {} devices with readings", published.unwrap(), seen.0);
    println!("  {:>6.1}  a batch cleared in the {kind} market at {price}", cleared.unwrap());
    println!("  {:>6.1}  lease {} delivered", delivered.unwrap(), seen.2.unwrap());
}

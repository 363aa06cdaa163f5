//! `bench explorer`: the explorer's main pages rendered in headless Chromium while the node
//! serves a load: accounts sending transfers as fast as the node admits them, and API
//! readers fetching the explorer's routes in a loop. The figure per page is the time from
//! navigation to the page rendered with its data (a fresh document each time, so scripts,
//! styles and API answers all count), over `--rounds` loads.
//!
//! Run it against a node with something to show, e.g. `machina dev --demo`.

use super::{Report, percentile};
use crate::browser::Browser;
use anyhow::{Context, Result, bail};
use clap::Args;
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use commonware_math::algebra::Random;
use machina_sdk::{Client, Keyring, tx::TxParams};
use machina_types::{Address, BankCall, Call};
use serde::Serialize;
use serde_json::Value;
use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// Options of `bench explorer`.
#[derive(Args, Debug)]
pub struct ExplorerArgs {
    /// Node API URL (a node with something to show, e.g. `machina dev --demo`).
    #[arg(long, default_value = "http://127.0.0.1:7700")]
    node: String,
    /// Home whose `dev0` key funds the load's senders [default: ~/.machina].
    #[arg(long, env = "MACHINA_HOME")]
    home: Option<PathBuf>,
    /// Loads of each page.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Accounts sending transfers during the measurement (0: no load).
    #[arg(long, default_value_t = 16)]
    senders: usize,
    /// Clients fetching the explorer's API routes in a loop during the measurement.
    #[arg(long, default_value_t = 8)]
    readers: usize,
    /// Saves a screenshot of each page (its last load) to this directory.
    #[arg(long)]
    screenshots: Option<PathBuf>,
}

/// A page's load times.
#[derive(Serialize)]
struct PageTimes {
    page: String,
    route: String,
    p50_ms: f64,
    p95_ms: f64,
    max_ms: f64,
}

/// What `bench explorer` measured.
#[derive(Serialize)]
struct ExplorerReport {
    rounds: usize,
    senders: usize,
    readers: usize,
    /// Transfers the node admitted per second during the measurement.
    transfers_admitted_per_s: f64,
    /// API reads answered per second during the measurement.
    api_reads_per_s: f64,
    /// Blocks finalized during the measurement.
    blocks: u64,
    seconds: f64,
    pages: Vec<PageTimes>,
}

impl Report for ExplorerReport {
    fn text(&self) -> String {
        let mut out = format!(
            "explorer pages, navigation to rendered, {} loads each, under load: {:.0} transfers/s \
             admitted ({} senders), {:.0} API reads/s ({} readers), {} blocks in {:.1} s\n",
            self.rounds,
            self.transfers_admitted_per_s,
            self.senders,
            self.api_reads_per_s,
            self.readers,
            self.blocks,
            self.seconds
        );
        out += &format!("{:<10} {:>8} {:>8} {:>8}  route\n", "page", "p50 ms", "p95 ms", "max ms");
        for p in &self.pages {
            out += &format!(
                "{:<10} {:>8.0} {:>8.0} {:>8.0}  {}\n",
                p.page, p.p50_ms, p.p95_ms, p.max_ms, p.route
            );
        }
        out
    }
}

/// The load: senders and readers until `stop`.
struct Load {
    stop: Arc<AtomicBool>,
    admitted: Arc<AtomicU64>,
    reads: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(args: &ExplorerArgs, client: &Client) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let (admitted, reads) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let mut threads = Vec::new();
        if args.senders > 0 {
            let home = args.home.clone().unwrap_or_else(machina_sdk::keys::default_home);
            let funder = Keyring::new(home.join("keys")).get("dev0").context("the dev0 key")?;
            let senders: Vec<PrivateKey> = (0..args.senders)
                .map(|_| PrivateKey::random(commonware_utils::sys_rng()))
                .collect();
            let calls = senders
                .iter()
                .map(|k| {
                    let to = Address::of(&k.public_key());
                    Call::from(BankCall::Transfer { to, amount: 1_000_000_000 })
                })
                .collect();
            client.execute(&funder.key, calls, Duration::from_secs(60))?;
            for key in senders {
                let (client, stop, admitted) = (client.clone(), stop.clone(), admitted.clone());
                threads.push(std::thread::spawn(move || send(&client, &key, &stop, &admitted)));
            }
        }
        let routes = ["/v1/explorer", "/v1/blocks?limit=20", "/v1/explorer/device", "/v1/market"];
        for i in 0..args.readers {
            let (client, stop, reads) = (client.clone(), stop.clone(), reads.clone());
            threads.push(std::thread::spawn(move || {
                let mut n = i;
                while !stop.load(Ordering::Relaxed) {
                    if client.get::<Value>(routes[n % routes.len()]).is_ok() {
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
            }));
        }
        Ok(Self { stop, admitted, reads, threads })
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// Sends transfers of 1 from `key` as fast as the node admits them.
fn send(client: &Client, key: &PrivateKey, stop: &AtomicBool, admitted: &AtomicU64) {
    let Ok(status) = client.status() else { return };
    let to = Address::of(&key.public_key());
    let mut params = TxParams {
        chain_id: status.chain_id,
        nonce: 0,
        expiry_height: status.height + 500,
        fees: status.params.fees,
    };
    while !stop.load(Ordering::Relaxed) {
        let tx =
            machina_sdk::tx::build(key, &params, vec![BankCall::Transfer { to, amount: 1 }.into()]);
        match client.submit(&tx) {
            Ok(_) => {
                params.nonce += 1;
                admitted.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                // Full (this sender's 64 pending, or the mempool): wait for blocks, and
                // pick the nonce and expiry up again.
                std::thread::sleep(Duration::from_millis(50));
                if let (Ok(account), Ok(status)) = (client.account(&to), client.status()) {
                    params.nonce = account.next_nonce;
                    params.expiry_height = status.height + 500;
                }
            }
        }
    }
}

/// The pages measured: name and route, with ids of what the node shows.
fn pages(client: &Client) -> Result<Vec<(String, String)>> {
    let first = |kind: &str| -> Result<Vec<Value>> {
        let list: Value = client.get(&format!("/v1/explorer/{kind}?limit=200"))?;
        Ok(list["entities"].as_array().cloned().unwrap_or_default())
    };
    let mut pages = vec![("home".to_string(), "#/".to_string())];
    let devices = first("device")?;
    if let Some(d) = devices.iter().find(|d| d["geohash"].is_string()).or(devices.first()) {
        pages.push(("device".into(), format!("#/device/{}", d["id"].as_str().unwrap_or_default())));
    }
    let market = first("market")?.into_iter().find(|m| {
        let id = m["id"].as_str().unwrap_or_default();
        client
            .get::<Value>(&format!("/v1/markets/{id}/clearings"))
            .is_ok_and(|h| h["clearings"].as_array().is_some_and(|c| !c.is_empty()))
    });
    if let Some(m) = market {
        pages.push(("market".into(), format!("#/market/{}", m["id"].as_str().unwrap_or_default())));
    }
    if let Some(l) = first("lease")?.first() {
        pages.push(("lease".into(), format!("#/lease/{}", l["id"].as_str().unwrap_or_default())));
    }
    let overview: Value = client.get("/v1/explorer")?;
    if let Some(height) = overview["recent_txs"][0]["height"].as_u64() {
        pages.push(("block".into(), format!("#/block/{height}")));
    }
    pages.push(("devices".into(), "#/list/device".into()));
    Ok(pages)
}

/// Runs the benchmark.
pub fn run(args: &ExplorerArgs) -> Result<impl Report> {
    let client = Client::new(&args.node);
    let start_height = client.status().context("the node's API")?.height;
    let pages = pages(&client)?;
    let mut browser = Browser::start(1280, 900).context("starting chromium")?;
    let load = Load::start(args, &client)?;
    let started = Instant::now();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); pages.len()];
    for _ in 0..args.rounds {
        for (i, (name, route)) in pages.iter().enumerate() {
            browser.open(&format!("{}/{route}", args.node));
            let state = browser.wait(name, "document.body?.dataset.ready", Duration::from_secs(60));
            let errors = browser.take_errors();
            if state != "true" || !errors.is_empty() {
                load.stop();
                bail!("the {name} page ({route}) did not render cleanly: {errors:?}");
            }
            let ms = browser.eval("Number(document.body.dataset.renderedMs)");
            times[i].push(ms.as_f64().unwrap_or(f64::NAN));
        }
    }
    if let Some(dir) = &args.screenshots {
        for (name, route) in &pages {
            browser.open(&format!("{}/{route}", args.node));
            browser.wait(name, "document.body?.dataset.ready", Duration::from_secs(60));
            browser.screenshot(&dir.join(format!("{name}.png")));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let (admitted, reads) =
        (load.admitted.load(Ordering::Relaxed), load.reads.load(Ordering::Relaxed));
    load.stop();
    let blocks = client.status()?.height.saturating_sub(start_height);
    let pages = pages
        .into_iter()
        .zip(times)
        .map(|((page, route), mut t)| {
            t.sort_by(f64::total_cmp);
            PageTimes {
                page,
                route,
                p50_ms: percentile(&t, 50.0),
                p95_ms: percentile(&t, 95.0),
                max_ms: t.last().copied().unwrap_or(0.0),
            }
        })
        .collect();
    Ok(ExplorerReport {
        rounds: args.rounds,
        senders: args.senders,
        readers: args.readers,
        transfers_admitted_per_s: admitted as f64 / seconds,
        api_reads_per_s: reads as f64 / seconds,
        blocks,
        seconds,
        pages,
    })
}

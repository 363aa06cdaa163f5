//! The explorer in a real browser: `machina dev --demo` (a real node with its small town)
//! and headless Chromium driven through the DevTools protocol. Each main page loads without
//! a console error and shows what the demo created (devices on the map, a device's chart of
//! its readings, a market's last clearing price, a delivered lease's timeline, a block's
//! transactions); search finds them; a reading's and a lease's proofs verify in the page
//! while tampered copies fail. Screenshots go to `docs/screenshots/`; each page's load time
//! (navigation to rendered) is printed.

mod common;

use common::{MACHINA, browser::Browser, wait_for};
use machina_sdk::Client;
use serde_json::Value;
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// How long the demo may take to reach each state on a slow, loaded machine.
const DEMO_WAIT: Duration = Duration::from_secs(240);
/// How long a page may take to render.
const PAGE_WAIT: Duration = Duration::from_secs(60);

/// `machina dev --demo` in a fresh home; killed when the test ends, however it ends.
struct Demo {
    child: Child,
    home: tempfile::TempDir,
    url: String,
}

impl Demo {
    fn start() -> Self {
        let home = tempfile::tempdir().unwrap();
        let port = machina_node::ports::unused_port_block(3);
        let addr = |offset: u16| format!("127.0.0.1:{}", port + offset);
        let log = std::fs::File::create(home.path().join("demo.log")).unwrap();
        let child = Command::new(MACHINA)
            .arg("--home")
            .arg(home.path().join("chain"))
            .args(["dev", "--demo", "--api", &addr(0), "--p2p", &addr(1), "--mqtt", &addr(2)])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Self { child, home, url: format!("http://{}", addr(0)) }
    }

    /// What the demo wrote it created so far.
    fn created(&self) -> Value {
        let path = self.home.path().join("chain").join("demo.json");
        std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log =
                std::fs::read_to_string(self.home.path().join("demo.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("demo log (last lines, newest first):\n{}", tail.join("\n"));
        }
    }
}

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
}

/// A page of the explorer open in the browser.
struct Explorer {
    browser: Browser,
    url: String,
    /// (page, milliseconds from navigation to rendered).
    timings: Vec<(String, f64)>,
}

impl Explorer {
    /// The JSON the node answers at `path`, fetched by the page (`null` for an error).
    fn fetch(&mut self, path: &str) -> Value {
        self.browser.eval(&format!("fetch({path:?}).then(r => r.ok ? r.json() : null)"))
    }

    /// Loads `route` as a fresh page, waits until it rendered, checks that nothing went
    /// wrong in the page, and records its load time.
    fn open(&mut self, name: &str, route: &str) {
        self.browser.open(&format!("{}/{route}", self.url));
        let state = self
            .browser
            .wait(name, "document.body?.dataset.ready", PAGE_WAIT)
            .as_str()
            .map(String::from);
        let text = self.browser.eval("document.getElementById('view').innerText.slice(0, 400)");
        assert_eq!(state.as_deref(), Some("true"), "{name} ({route}) failed to render: {text}");
        let ms = self.browser.eval("Number(document.body.dataset.renderedMs)").as_f64().unwrap();
        if ms > 1000.0 {
            let resources = self.browser.eval(
                "JSON.stringify(performance.getEntriesByType('resource').map(e => \
                 [e.name, Math.round(e.startTime), Math.round(e.duration)]))",
            );
            eprintln!("{name} took {ms:.0} ms; requests [url, start ms, duration ms]: {resources}");
        }
        self.timings.push((name.to_string(), ms));
        self.no_errors(name);
    }

    fn no_errors(&mut self, name: &str) {
        let errors = self.browser.take_errors();
        assert!(errors.is_empty(), "{name}: the page reported errors: {errors:#?}");
    }

    fn eval(&mut self, expression: &str) -> Value {
        self.browser.eval(expression)
    }

    fn wait(&mut self, what: &str, expression: &str) -> Value {
        self.browser.wait(what, expression, PAGE_WAIT)
    }

    fn screenshot(&mut self, name: &str) {
        self.browser.screenshot(&screenshots().join(format!("{name}.png")));
    }

    /// Clicks the proof buttons of the proof box `selector`: the proof verifies in the page,
    /// a tampered copy does not.
    fn check_proof(&mut self, what: &str, selector: &str) {
        let click =
            |button: &str| format!("document.querySelector('{selector} .{button}').click()");
        let verdict =
            format!("document.querySelector('{selector} [data-verified]')?.dataset.verified");
        self.eval(&click("verify"));
        let verified = self.wait(&format!("{what}: verification"), &verdict);
        let shown = self.eval(&format!("document.querySelector('{selector} .result').innerText"));
        assert_eq!(verified, "true", "{what}: the proof does not verify in the page: {shown}");
        self.eval(&format!("document.querySelector('{selector} .result').innerHTML = ''"));
        self.eval(&click("tamper"));
        let rejected = self.wait(&format!("{what}: tampered verification"), &verdict);
        let shown = self.eval(&format!("document.querySelector('{selector} .result').innerText"));
        assert_eq!(rejected, "false", "{what}: a tampered proof verified: {shown}");
        self.no_errors(what);
    }
}

/// Waits until `done` returns something, printing how long after the demo's start it took.
fn reach<T>(what: &str, started: Instant, mut done: impl FnMut() -> Option<T>) -> T {
    let mut found = None;
    wait_for(what, DEMO_WAIT, || {
        found = done();
        found.is_some()
    });
    eprintln!("demo: {what} after {:.1} s", started.elapsed().as_secs_f64());
    found.unwrap()
}

#[test]
fn the_explorer_shows_the_demo_town_and_verifies_its_proofs_in_the_browser() {
    let started = Instant::now();
    let demo = Demo::start();
    let client = Client::new(&demo.url);
    reach("the API answers", started, || client.status().ok());
    let mut explorer = Explorer {
        browser: Browser::start(1280, 900).expect("start chromium"),
        url: demo.url.clone(),
        timings: Vec::new(),
    };
    explorer.browser.open(&format!("{}/#/kinds", demo.url));
    explorer.wait("the explorer", "document.body?.dataset.ready");

    // The demo's town comes alive: 20 devices with stored readings, a market with a price
    // history, a delivered lease.
    let devices: Vec<Value> = reach("20 devices publishing", started, || {
        let listed = demo.created()["devices"].as_array().cloned().unwrap_or_default();
        let publishing: Vec<Value> = listed
            .into_iter()
            .filter(|d| {
                let path =
                    format!("/v1/devices/{}/streams/{}", d["id"].as_str().unwrap(), d["stream"]);
                explorer.fetch(&path)["stored"].as_u64().unwrap_or(0) > 0
            })
            .collect();
        (publishing.len() >= 20).then_some(publishing)
    });
    // (Twelve clearings, so that the screenshots show a history.)
    let market: String = reach("a market with a clearing price history", started, || {
        let markets = explorer.fetch("/v1/explorer/market?limit=200");
        markets["entities"].as_array()?.iter().find_map(|m| {
            let id = m["id"].as_str()?.to_string();
            let clearings = explorer.fetch(&format!("/v1/markets/{id}/clearings"));
            (clearings["clearings"].as_array()?.len() >= 12).then_some(id)
        })
    });
    let lease: u64 = reach("a delivered lease", started, || {
        let delivered = demo.created()["leases_delivered"].as_array().cloned().unwrap_or_default();
        delivered.iter().filter_map(Value::as_u64).find(|id| {
            explorer.fetch(&format!("/v1/leases/{id}"))["status"]["status"] == "delivered"
        })
    });

    // Home: the devices on the map, the latest blocks and transactions.
    explorer.open("home", "#/");
    let mapped = explorer.eval("Number(document.querySelector('svg.map')?.dataset.devices ?? 0)");
    assert!(mapped.as_u64().unwrap() >= 20, "the map shows {mapped} devices");
    explorer.screenshot("home");

    // A device publishing numbers: its chart has its readings; a reading's proof verifies.
    let device = devices
        .iter()
        .find(|d| d["kind"].as_str().is_some_and(|k| k.contains("weather")))
        .unwrap_or(&devices[0]);
    let (id, stream) = (device["id"].as_str().unwrap(), device["stream"].as_u64().unwrap());
    explorer.open("device", &format!("#/device/{id}"));
    let chart = format!("Number(document.querySelector('#stream-{stream}')?.dataset.points ?? 0)");
    explorer.wait("the device's readings chart", &chart);
    assert!(explorer.eval(&format!("!!document.querySelector('#stream-{stream} canvas')")) == true);
    explorer.wait(
        "an anchored reading with its proof",
        &format!("document.querySelector('#readings-{stream} .proof')"),
    );
    explorer.check_proof("a reading", &format!("#readings-{stream} .proof"));
    explorer.screenshot("device");

    // The market: its last clearing price as the API has it, its price and volume chart.
    explorer.open("market", &format!("#/market/{market}"));
    let shown = explorer.eval("document.querySelector('#last-price').dataset.price");
    let prices: Vec<String> =
        explorer.fetch(&format!("/v1/markets/{market}/clearings"))["clearings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["price"].to_string())
            .collect();
    assert!(prices.contains(&shown.as_str().unwrap().to_string()), "{shown} not in {prices:?}");
    let points = explorer.wait(
        "the price chart",
        "Number(document.querySelector('#market-chart')?.dataset.points ?? 0)",
    );
    assert!(points.as_u64().unwrap() >= 2);
    explorer.screenshot("market");

    // The delivered lease: its timeline ends delivered; its record's proof verifies.
    explorer.open("lease", &format!("#/lease/{lease}"));
    assert_eq!(explorer.eval("document.querySelector('#lease-status').textContent"), "delivered");
    assert!(explorer.eval("!!document.querySelector('.timeline li.delivered')") == true);
    explorer.check_proof("a lease", "#record-proof .proof");
    explorer.screenshot("lease");

    // A block with transactions.
    let overview = explorer.fetch("/v1/explorer");
    let tx = overview["recent_txs"][0].clone();
    let height = tx["height"].as_u64().unwrap();
    explorer.open("block", &format!("#/block/{height}"));
    let hash = tx["hash"].as_str().unwrap();
    let listed = explorer
        .eval(&format!("document.querySelector('#block-txs').innerHTML.includes('{hash}')"));
    assert!(listed == true, "block {height} does not list {hash}");
    explorer.screenshot("block");
    explorer.open("transaction", &format!("#/tx/{hash}"));

    // Search: a device by name lands on its page; a transaction by hash; a lease by id.
    let name = device["name"].as_str().unwrap();
    explorer.open("search by name", &format!("#/search/{}", name.replace(' ', "%20")));
    let landed = explorer.eval("location.hash");
    let hits = explorer.eval("document.getElementById('view').innerHTML");
    assert!(
        landed.as_str().unwrap().contains(id) || hits.as_str().unwrap().contains(id),
        "searching {name:?} does not find {id}"
    );
    explorer.open("search by hash", &format!("#/search/{hash}"));
    assert_eq!(explorer.eval("location.hash"), format!("#/tx/{hash}"));
    explorer.open("search by id", &format!("#/search/{lease}"));
    let found = explorer.eval(&format!(
        "location.hash === '#/lease/{lease}' || !!document.querySelector('#search-results a[href=\"#/lease/{lease}\"]')"
    ));
    assert!(found == true, "searching {lease} does not find the lease");

    // Every other kind of page the demo gives an entity of.
    let created = demo.created();
    explorer.open("devices", "#/list/device");
    explorer.open("markets", "#/list/market");
    explorer.open("maker", &format!("#/maker/{}", created["makers"][0].as_str().unwrap()));
    explorer.open("account", &format!("#/account/{}", tx["signer"].as_str().unwrap()));
    for kind in ["feed", "machine", "offering", "proposal", "product", "subscription", "channel"] {
        let id = match &created[kind] {
            Value::Null => created[format!("{kind}s")][0].clone(),
            id => id.clone(),
        };
        if let Some(id) = id.as_u64().map(|n| n.to_string()).or(id.as_str().map(String::from)) {
            explorer.open(kind, &format!("#/{kind}/{id}"));
        }
    }

    let timings: Vec<String> =
        explorer.timings.iter().map(|(page, ms)| format!("{page} {ms:.0} ms")).collect();
    eprintln!("page load, navigation to rendered: {}", timings.join(", "));
}

//! A 4-validator `machina testnet` of real processes on loopback: transfers through the CLI,
//! one validator killed with SIGKILL, the chain keeps finalizing, the validator restarts and
//! catches up to the same blocks and state roots.

use serde_json::Value;
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

mod common;

use common::{MACHINA, machina, testnet_base_port, try_machina, wait_for};

/// Kills every node when the test ends, however it ends.
struct Nodes {
    dir: PathBuf,
    children: Vec<Option<Child>>,
}

impl Nodes {
    fn home(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node{i}"))
    }

    fn start(&mut self, i: usize) {
        let log = std::fs::File::create(self.dir.join(format!("node{i}.log"))).unwrap();
        let child = Command::new(MACHINA)
            .args(["node", "--home"])
            .arg(self.home(i))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children[i] = Some(child);
    }

    fn kill(&mut self, i: usize) {
        let mut child = self.children[i].take().expect("running");
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in self.children.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn height(home: &Path) -> u64 {
    try_machina(home, &["status"]).and_then(|s| s["height"].as_u64()).unwrap_or(0)
}

fn block(home: &Path, height: u64) -> Value {
    machina(home, &["query", "block", &height.to_string()])
}

#[test]
fn a_four_node_testnet_survives_sigkill_and_the_node_catches_up() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let base = testnet_base_port(4).to_string();
    machina(
        &dir,
        &["testnet", "--validators", "4", "--dir", dir.to_str().unwrap(), "--base-port", &base],
    );
    let mut nodes = Nodes { dir: dir.clone(), children: (0..4).map(|_| None).collect() };
    for i in 0..4 {
        nodes.start(i);
    }
    let home0 = nodes.home(0);
    wait_for("the testnet to finalize", Duration::from_secs(60), || height(&home0) >= 3);

    for amount in [11, 22] {
        let tx =
            machina(&home0, &["tx", "transfer", "--to", "dev1", "--amount", &amount.to_string()]);
        assert_eq!(tx["status"], "finalized", "{tx}");
    }

    nodes.kill(3);
    let home1 = nodes.home(1);
    let at_kill = height(&home0);
    let tx =
        machina(&home1, &["tx", "transfer", "--from", "dev2", "--to", "dev3", "--amount", "33"]);
    assert_eq!(tx["status"], "finalized", "a transfer still finalizes with one node down: {tx}");
    wait_for("progress without node 3", Duration::from_secs(60), || height(&home0) >= at_kill + 10);

    nodes.start(3);
    let home3 = nodes.home(3);
    let target = height(&home0) + 5;
    wait_for("node 3 to catch up", Duration::from_secs(120), || height(&home3) >= target);

    for h in [1, at_kill, target] {
        let reference = block(&home0, h);
        for i in 1..4 {
            let other = block(&nodes.home(i), h);
            assert_eq!(
                other["header"]["digest"], reference["header"]["digest"],
                "node {i} block {h}"
            );
            assert_eq!(
                other["header"]["state_root"], reference["header"]["state_root"],
                "node {i} root {h}"
            );
        }
    }
    let balance = |home: &Path, who: &str| {
        machina(home, &["query", "balance", who])["balance"].as_u64().unwrap()
    };
    wait_for("node 3 to serve the same balance", Duration::from_secs(30), || {
        balance(&home3, "dev3") == balance(&home0, "dev3")
    });
    assert_eq!(balance(&home3, "dev1"), 1_000_000_000_000 + 33);
}

//! Running the `machina` binary from tests.

#![allow(dead_code)] // each test binary uses its own part

use serde_json::Value;
use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

pub const MACHINA: &str = env!("CARGO_BIN_EXE_machina");

/// A base port for `machina testnet --base-port` with `nodes` validators: node `i` uses
/// `base + 10 i + {0, 1, 2}`, all free when checked.
pub fn testnet_base_port(nodes: u16) -> u16 {
    machina_node::ports::unused_port_block(10 * (nodes - 1) + 3)
}

/// Runs `machina --home HOME --json ARGS`; panics unless it succeeds; returns its last line
/// of JSON output.
pub fn machina(home: &Path, args: &[&str]) -> Value {
    let output =
        Command::new(MACHINA).arg("--home").arg(home).arg("--json").args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "machina {args:?} failed: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or("null")).unwrap()
}

/// Like [`machina`], but `None` when the command fails.
pub fn try_machina(home: &Path, args: &[&str]) -> Option<Value> {
    let output =
        Command::new(MACHINA).arg("--home").arg(home).arg("--json").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    serde_json::from_str(String::from_utf8_lossy(&output.stdout).lines().last()?).ok()
}

/// Polls `done` every 100 ms; panics after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
#[path = "../../src/browser.rs"]
pub mod browser;

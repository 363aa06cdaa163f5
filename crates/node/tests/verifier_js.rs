//! The explorer's in-browser verifier (`src/api/explorer/verify.js`) and the Rust verifier
//! agree: every proof file in `tests/fixtures/proofs` (taken from a dev chain) verifies with
//! the SDK's verifier, and the JavaScript verifier's own tests (`verify.test.mjs`: the same
//! files accepted, dozens of tampered copies rejected for the right reason) pass under
//! Node.js (`scripts/test` installs it when missing). The browser tests
//! (`crates/cli/tests/explorer.rs`) check the same module in Chromium on a live chain.

use machina_sdk::verify::{verify_bundle, verify_reading};
use machina_store::{ProofBundle, ReadingBundle};
use machina_types::Genesis;
use std::path::Path;

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proofs")
}

#[test]
fn every_proof_fixture_verifies_with_the_rust_verifier() {
    let dir = fixtures();
    let genesis: Genesis =
        serde_json::from_slice(&std::fs::read(dir.join("genesis.json")).unwrap()).unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".json") || name == "genesis.json" {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        if value.get("reading").is_some() {
            let bundle: ReadingBundle = serde_json::from_value(value).unwrap();
            verify_reading(&bundle, &genesis).unwrap_or_else(|e| panic!("{name}: {e}"));
        } else {
            let bundle: ProofBundle = serde_json::from_value(value).unwrap();
            verify_bundle(&bundle, &genesis).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} proof files");
}

#[test]
fn the_javascript_verifier_accepts_the_same_proofs_and_rejects_tampered_copies() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api/explorer/verify.test.mjs");
    let output = std::process::Command::new("node")
        .arg(&script)
        .arg(fixtures())
        .output()
        .expect("Node.js runs the verifier's tests (scripts/test installs it when missing)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "verify.test.mjs failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.ends_with(" 0 failed"), "{summary}");
    eprintln!("verify.test.mjs: {summary}");
}

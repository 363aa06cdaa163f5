//! Fetch a proof of an account's balance and check it offline, trusting only the genesis.
//!
//! With `machina dev` running:
//!
//! ```sh
//! cargo run -p machina-sdk --example verify_proof
//! ```
//!
//! The proof bundle holds the value, a Merkle proof to a block's state root, the block
//! header and its finalization certificate. Checking it needs no node: only the genesis
//! (its validators), here read from the home directory.

use machina_sdk::{Client, Keyring, keys::default_home, verify::verify_bundle};
use machina_types::Genesis;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env();
    let home = default_home();
    let genesis: Genesis = serde_json::from_slice(&std::fs::read(home.join("genesis.json"))?)?;
    let account = Keyring::new(home.join("keys")).get("dev1")?.address();

    let bundle = client.account_proof(&account)?;
    let verified = verify_bundle(&bundle, &genesis)?;
    let what = bundle.entry.description.as_deref().unwrap_or("the key");
    println!(
        "verified {what} at height {}: {}",
        verified.height,
        bundle.entry.decoded.as_ref().map_or("absent".into(), |d| d.to_string())
    );

    // Any edit breaks it: here, one byte of the value the proof is about.
    let mut tampered = bundle.clone();
    if let Some(byte) = tampered.entry.value.as_mut().and_then(|v| v.last_mut()) {
        *byte ^= 1;
    }
    match verify_bundle(&tampered, &genesis) {
        Ok(_) => return Err("a tampered proof verified".into()),
        Err(error) => println!("tampered copy refused: {error}"),
    }
    Ok(())
}

//! Send a transfer and wait until it is final.
//!
//! With `machina dev` running (it creates the funded keys `dev0`..`dev3`):
//!
//! ```sh
//! cargo run -p machina-sdk --example transfer
//! ```
//!
//! `MACHINA_HOME` names another home, `MACHINA_NODE` another node.

use machina_sdk::{Client, Keyring, keys::default_home};
use machina_types::{BankCall, Call};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env();
    let keyring = Keyring::new(default_home().join("keys"));
    let (from, to) = (keyring.get("dev0")?, keyring.get("dev1")?);

    let before = client.account(&to.address())?.balance;
    let transfer = BankCall::Transfer { to: to.address(), amount: 1_000 };
    // `send` fetches the nonce and parameters, pays the exact fee, signs and submits.
    let (_, hash) = client.send(&from.key, vec![Call::Bank(transfer)])?;
    println!("submitted {hash}");

    let status = client.wait(&hash, Duration::from_secs(30))?;
    let receipt = client.receipt(&hash)?;
    let after = client.account(&to.address())?.balance;
    println!("{} in block {} (fee {})", status.status, receipt.height, receipt.fee);
    println!("dev1's balance: {before} -> {after}");
    Ok(())
}

//! Buy a resource in the market and confirm its delivery.
//!
//! With `machina dev` running:
//!
//! ```sh
//! cargo run -p machina-sdk --example market_buy
//! ```
//!
//! `dev2` sells data from a device it owns (certified by `dev0` as maker): it bonds provider
//! stake and offers 5 units at a floor of 100. `dev3` posts an intent for one unit at up to
//! 150, with the cost escrowed. At the end of the batch the market clears at one price and
//! the fill becomes a lease; `dev3` confirms delivery, which pays `dev2` from escrow.

use commonware_cryptography::ed25519::PrivateKey;
use commonware_math::algebra::Random;
use machina_sdk::{
    Client, Keyring,
    client::TxStatus,
    device::{DeviceIdentity, now_ms},
    keys::default_home,
};
use machina_types::market::state::{Lease, LeaseStatus, OrderStatus};
use machina_types::{
    Call, Event, IdentityCall, MarketCall,
    market::{Component, Delivery, MarketEvent, ResourceKind, StakeKind},
};
use std::time::{Duration, Instant};

const REGION: &str = "u33d";
const WAIT: Duration = Duration::from_secs(30);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env();
    let keyring = Keyring::new(default_home().join("keys"));
    let (maker, seller, buyer) = (keyring.get("dev0")?, keyring.get("dev2")?, keyring.get("dev3")?);
    let maker_key = keyring.get("example-maker").or_else(|_| keyring.generate("example-maker"))?;
    let status = client.status()?;
    let send = |key: &PrivateKey, call: Call| -> Result<TxStatus, Box<dyn std::error::Error>> {
        let (_, hash) = client.send(key, vec![call])?;
        let status = client.wait(&hash, WAIT)?;
        match &status.error {
            Some(error) => Err(format!("transaction failed: {error:?}").into()),
            None => Ok(status),
        }
    };

    // A device the seller owns, certified by a maker.
    if client.maker(&maker.address()).is_err() {
        let register = IdentityCall::RegisterMaker {
            name: "example maker".into(),
            maker_key: maker_key.address(),
            bond: status.params.identity.min_maker_bond,
        };
        send(&maker.key, register.into())?;
    }
    let device = DeviceIdentity::certify(
        PrivateKey::random(commonware_utils::sys_rng()),
        maker.address(),
        &maker_key.key,
        "example-weather-station",
        &format!("example-{}", now_ms()),
    );
    client.onboard_devices(&seller.key, std::slice::from_ref(&device), None, WAIT)?;

    // The seller bonds provider stake and offers the device's data.
    let stake = status.params.market.min_provider_stake;
    send(&seller.key, MarketCall::Stake { kind: StakeKind::Provider, amount: stake }.into())?;
    let offer = MarketCall::Offer {
        device: device.id(),
        kind: ResourceKind::Data,
        region: REGION.into(),
        capacity: 5,
        floor_price: 100,
        delivery: Delivery::Receipt,
        expiry_ms: now_ms() + 600_000,
    };
    send(&seller.key, offer.into())?;
    println!("dev2 offers 5 units of data from device {} at 100 or more", device.id());

    // The buyer posts an intent; its maximum cost is escrowed until the batch clears.
    let intent = MarketCall::Intent {
        region: REGION.into(),
        components: vec![Component { kind: ResourceKind::Data, quantity: 1 }],
        units: 1,
        max_price: 150,
        deadline_ms: now_ms() + 60_000,
        min_reputation: 0,
        partial: true,
    };
    let posted = send(&buyer.key, intent.into())?;
    let events = posted.receipt.map(|r| r.events).unwrap_or_default();
    let intent = events
        .iter()
        .find_map(|e| match e {
            Event::Market(MarketEvent::IntentPosted { intent, .. }) => Some(*intent),
            _ => None,
        })
        .ok_or("the intent's receipt names no intent")?;
    println!("dev3 posted intent {intent}: 1 unit at up to 150");

    // The batch clears at its end; the fill becomes a lease.
    let lease = wait_for_lease(&client, intent, &buyer.address())?;
    println!(
        "lease {}: {} unit(s) at {} per unit, paid into escrow",
        lease.id, lease.units, lease.price
    );

    // The buyer confirms delivery: the seller is paid from escrow, less the protocol fee.
    let before = client.account(&seller.address())?.balance;
    send(&buyer.key, MarketCall::Confirm { lease: lease.id }.into())?;
    let settled = client.lease(lease.id)?;
    let after = client.account(&seller.address())?.balance;
    assert_eq!(settled.status, LeaseStatus::Delivered);
    println!("lease {} delivered; dev2 received {}", lease.id, after - before);
    Ok(())
}

/// The lease that filled `intent`, once its batch has cleared.
fn wait_for_lease(
    client: &Client,
    intent: u64,
    buyer: &machina_types::Address,
) -> Result<Lease, Box<dyn std::error::Error>> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let record = client.intent(intent)?;
        if record.filled > 0 || record.status != OrderStatus::Open {
            let list = client.leases(buyer, 100)?;
            return list.leases.into_iter().find(|l| l.intent == intent).ok_or_else(|| {
                format!("intent {intent} is {:?} without a lease", record.status).into()
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("intent {intent} was not filled within {WAIT:?}").into())
}

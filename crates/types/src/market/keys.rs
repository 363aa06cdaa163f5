//! Every storage key of the market module.

use crate::state::{Key, key};
use crate::{
    Address,
    describe::{KnownKey, decode_json},
    market::{BatchId, IntentId, LeaseId, MarketId, OfferId, StakeKind},
};

/// An account's stake of one kind.
pub fn stake(kind: StakeKind, account: &Address) -> Key {
    key(&[b"market/stake/", &[kind as u8], &account.0])
}

/// A market.
pub fn market(id: &MarketId) -> Key {
    key(&[b"market/market/", &id.0])
}

/// The markets with orders in their books.
pub fn active_markets() -> Key {
    key(&[b"market/active"])
}

/// The intent at a position of a market's book.
pub fn intent_slot(market: &MarketId, slot: u64) -> Key {
    key(&[b"market/intent-slot/", &market.0, &slot.to_be_bytes()])
}

/// The offer at a position of a market's book.
pub fn offer_slot(market: &MarketId, slot: u64) -> Key {
    key(&[b"market/offer-slot/", &market.0, &slot.to_be_bytes()])
}

/// The ids the next offer, intent and lease get.
pub fn counters() -> Key {
    key(&[b"market/counters"])
}

/// An offer.
pub fn offer(id: OfferId) -> Key {
    key(&[b"market/offer/", &id.to_be_bytes()])
}

/// An intent.
pub fn intent(id: IntentId) -> Key {
    key(&[b"market/intent/", &id.to_be_bytes()])
}

/// A lease.
pub fn lease(id: LeaseId) -> Key {
    key(&[b"market/lease/", &id.to_be_bytes()])
}

/// The description of a lease's key.
pub fn describe_lease(id: LeaseId) -> String {
    format!("market/lease/{id}")
}

/// The key a description of one of this module's keys names, with its value's decoder.
pub fn described(parts: &[&str]) -> Option<KnownKey> {
    match parts {
        ["market", "lease", id] => Some(KnownKey {
            key: lease(id.parse().ok()?),
            decode: decode_json::<super::state::Lease>,
        }),
        _ => None,
    }
}

/// How many leases an account is party to.
pub fn lease_count(account: &Address) -> Key {
    key(&[b"market/lease-count/", &account.0])
}

/// An account's `index`-th lease.
pub fn account_lease(account: &Address, index: u64) -> Key {
    key(&[b"market/account-lease/", &account.0, &index.to_be_bytes()])
}

/// The solutions a batch keeps (solver and surplus of each).
pub fn solution_index(batch: BatchId) -> Key {
    key(&[b"market/solution-index/", &batch.to_be_bytes()])
}

/// How many orders (intents and offers) an account has open.
pub fn open_orders(account: &Address) -> Key {
    key(&[b"market/open-orders/", &account.0])
}

/// A batch's `index`-th solution.
pub fn solution(batch: BatchId, index: u32) -> Key {
    key(&[b"market/solution/", &batch.to_be_bytes(), &index.to_be_bytes()])
}

/// How many leases fall due in a second (block time).
pub fn due_count(second: u64) -> Key {
    key(&[b"market/due-count/", &second.to_be_bytes()])
}

/// A page of the leases due in a second.
pub fn due_page(second: u64, page: u64) -> Key {
    key(&[b"market/due-page/", &second.to_be_bytes(), &page.to_be_bytes()])
}

/// Where settling due leases has got to.
pub fn due_cursor() -> Key {
    key(&[b"market/due-cursor"])
}

/// Running totals of value through the market.
pub fn totals() -> Key {
    key(&[b"market/totals"])
}

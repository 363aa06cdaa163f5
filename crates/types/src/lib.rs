//! Machina's data formats.
//!
//! Everything that crosses a boundary (a client submitting a transaction, a validator
//! gossiping a block, a device signing a reading) is defined here with one canonical binary
//! encoding ([`commonware_codec`]), bounded lengths on every decoded collection, and ed25519
//! signatures under domain-separating namespaces.
//!
//! The crate has no I/O and no async. Without its default `std` feature it builds for
//! `no_std` + `alloc`, so device firmware can sign transactions with the same code the chain
//! uses to check them. Blocks embed consensus metadata and need `std`.
//!
//! With the `schema` feature every type the API serves also derives `utoipa::ToSchema`, and
//! [`schema`] holds the hand-written schemas (hashes, addresses, error codes, hex and decimal
//! strings), for the OpenAPI document `machina-api` generates.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod address;
pub mod bank;
#[cfg(feature = "std")]
pub mod block;
pub mod call;
pub mod channels;
pub mod codec;
pub mod data;
#[cfg(feature = "std")]
pub mod describe;
pub mod device;
pub mod error;
#[cfg(feature = "std")]
pub mod genesis;
pub mod hash;
pub mod identity;
pub mod limits;
pub mod market;
pub mod merkle;
pub mod ownership;
pub mod products;
pub mod reading;
pub mod receipt;
pub mod rewards;
#[cfg(feature = "schema")]
pub mod schema;
pub mod sealed;
#[cfg(feature = "std")]
pub mod state;
pub mod tx;
pub mod wallets;

pub use address::Address;
pub use bank::BankCall;
pub use call::{Call, ModuleCall};
pub use channels::ChannelsCall;
pub use data::DataCall;
pub use device::{DeviceCertificate, DeviceId};
pub use error::ErrorCode;
#[cfg(feature = "std")]
pub use genesis::{Genesis, Params};
pub use hash::Hash;
pub use identity::IdentityCall;
pub use market::MarketCall;
pub use ownership::OwnershipCall;
pub use products::ProductsCall;
pub use reading::{Reading, SignedReading, Value};
pub use receipt::{BlockEvents, Event, Outcome, Receipt};
pub use rewards::RewardsCall;
pub use tx::{SignedTransaction, Transaction};
pub use wallets::WalletsCall;

/// The ed25519 private key type accounts and devices sign with.
pub use commonware_cryptography::ed25519::PrivateKey;
/// The ed25519 public key type that identifies accounts.
pub use commonware_cryptography::ed25519::PublicKey;
/// The ed25519 signature type.
pub use commonware_cryptography::ed25519::Signature;

/// Paths the exported macros use.
#[doc(hidden)]
pub mod __private {
    pub use bytes;
    pub use commonware_codec as codec;
}

/// An amount of a token in its smallest unit.
pub type Amount = u64;

/// Block height (the genesis block has height 0).
pub type Height = u64;

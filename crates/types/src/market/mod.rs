//! Calls of the market module: stake, offers, intents, solutions, and the delivery of leases.
//!
//! A provider offers a resource of one of its devices (kind, region, capacity, floor price per
//! unit, delivery terms); a consumer posts an intent (one resource, or a bundle of several,
//! units, maximum price per unit, delivery deadline) with the maximum cost escrowed. Every
//! auction interval each market (kind, region) clears at one uniform price, unless a
//! solver's solution for the batch adds more surplus. Each fill becomes a lease, paid to the
//! provider on proven delivery or refunded to the consumer (and the provider slashed) when
//! the deadline passes undelivered.

use crate::{
    Amount,
    address::Address,
    codec::{read_str, str_size, write_str},
    data::FeedId,
    device::DeviceId,
    error::ErrorCode,
    hash::Hash,
    limits::{CHAIN_ID_LEN_MAX, COMPONENT_QUANTITY_MAX, PRICE_MAX, UNITS_MAX},
};
use alloc::{string::String, vec::Vec};
use commonware_codec::{Buf, EncodeSize, Error, FixedSize, Read, ReadExt, Write};
use commonware_cryptography::ed25519::Signature;
use serde::{Deserialize, Serialize};

/// Identifies an offer (assigned in order, from 1).
pub type OfferId = u64;
/// Identifies an intent (assigned in order, from 1).
pub type IntentId = u64;
/// Identifies a lease (assigned in order, from 1).
pub type LeaseId = u64;
/// Identifies an auction batch: blocks `b * K .. (b + 1) * K` for auction interval `K`.
pub type BatchId = u64;
/// Identifies a market: the hash of its resource kind and region.
pub type MarketId = Hash;

/// Bytes in an actuation command or a custom resource kind's name.
pub const KIND_NAME_LEN_MAX: usize = 32;
/// Characters in a region (a geohash prefix; empty for anywhere).
pub const REGION_LEN_MAX: usize = 12;
/// Resources in one bundle intent.
pub const COMPONENTS_MAX: usize = 4;
/// Markets one solution may price.
pub const SOLUTION_MARKETS_MAX: usize = 16;
/// Fills in one solution.
pub const SOLUTION_FILLS_MAX: usize = 96;
/// The geohash alphabet regions are written in.
pub const GEOHASH_ALPHABET: &str = "0123456789bcdefghjkmnpqrstuvwxyz";

/// Namespace of a device's signed acknowledgement that it performed a leased command.
pub const ACK_NAMESPACE: &[u8] = b"machina/actuation-ack/v1";
/// Namespace of a consumer's signed receipt for a delivered lease.
pub const RECEIPT_NAMESPACE: &[u8] = b"machina/lease-receipt/v1";

mod call;
mod command;
mod event;
#[cfg(feature = "std")]
pub mod keys;
#[cfg(feature = "std")]
pub mod params;
mod resource;
#[cfg(feature = "std")]
pub mod state;

pub use call::MarketCall;
pub use command::{
    ActuationAck, COMMAND_NAMESPACE, Command, SignedCommand, ack_message, receipt_message,
};
pub use event::MarketEvent;
pub use resource::{
    Comparison, Component, Delivery, DeliveryProof, Fill, MarketPrice, ResourceKind, StakeKind,
    market_id, region_is_valid,
};

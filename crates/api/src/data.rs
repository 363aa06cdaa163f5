//! Device data: submitting readings, reading them back with proofs, devices, roles, makers
//! and feeds. Devices (`GET /v1/devices/{id}`) answer a
//! [`machina_types::identity::state::Device`], makers a
//! [`machina_types::identity::state::Maker`], proofs a [`machina_store::ReadingBundle`] or
//! [`machina_store::ProofBundle`].

use machina_store::ReadingBundle;
use machina_types::{
    Address, DeviceId, SignedReading, data::state::Feed, identity::state::RoleGrant,
    reading::StreamId,
};
use serde::{Deserialize, Serialize};

/// Body of `POST /v1/readings`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubmitReading {
    /// Hex of the signed reading's canonical encoding.
    #[cfg_attr(feature = "openapi", schema(schema_with = machina_types::schema::hex_bytes))]
    pub reading: String,
}

/// Answer of `POST /v1/readings` (202): the reading is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcceptedReading {
    /// The device.
    pub device: DeviceId,
    /// Its stream.
    pub stream: StreamId,
    /// The reading's sequence number.
    pub seq: u64,
    /// Whether an identical reading was already stored.
    pub duplicate: bool,
}

/// `GET /v1/devices/{id}/roles/{account}/{role}`: whether `account` holds `role` on the
/// device now (owners hold every role), with the grant if there is one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoleView {
    /// The device.
    pub device: DeviceId,
    /// The account asked about.
    pub account: Address,
    /// The role asked about.
    pub role: String,
    /// Whether the account holds the role now.
    pub holds: bool,
    /// Whether the account owns the device (owners hold every role).
    pub owner: bool,
    /// The grant, while it holds.
    pub grant: Option<RoleGrant>,
}

/// `GET /v1/feeds/{id}`: a feed and its current value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedView {
    /// The feed's definition and latest reports.
    #[serde(flatten)]
    pub feed: Feed,
    /// The median of fresh reports at the latest finalized block; null when too few
    /// sources are fresh.
    pub current: Option<i64>,
}

/// `GET /v1/devices/{id}/streams/{stream}`: what the gateway stores of a stream and what
/// the finalized chain has anchored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamView {
    /// The device.
    pub device: DeviceId,
    /// The stream.
    pub stream: StreamId,
    /// Readings the gateway stores.
    pub stored: u64,
    /// First stored sequence number.
    pub first_stored_seq: Option<u64>,
    /// Last stored sequence number.
    pub last_stored_seq: Option<u64>,
    /// Anchors on chain.
    pub anchors: u64,
    /// Readings anchored on chain.
    pub anchored: u64,
    /// Last anchored sequence number.
    pub last_anchored_seq: Option<u64>,
    /// Height the chain's side is from.
    pub height: u64,
}

/// Query of `GET /v1/devices/{id}/streams/{stream}/readings`. Both ranges are inclusive;
/// a range whose start is after its end is refused (400).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadingsQuery {
    /// First sequence number (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_seq: Option<u64>,
    /// Last sequence number (default the largest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_seq: Option<u64>,
    /// Earliest device timestamp, ms (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<u64>,
    /// Latest device timestamp, ms (default the largest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<u64>,
    /// Most readings (default 100; more than [`READINGS_PER_QUERY_MAX`] count as that many).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Include proof bundles (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proofs: Option<bool>,
}

/// Most readings one query returns.
pub const READINGS_PER_QUERY_MAX: u64 = 1000;
/// Readings a query returns when it names no limit.
pub const READINGS_PER_QUERY_DEFAULT: u64 = 100;

impl ReadingsQuery {
    /// The query string (`from_seq=1&proofs=false`, empty for the defaults).
    pub fn to_query_string(&self) -> String {
        let numbers = [
            ("from_seq", self.from_seq),
            ("to_seq", self.to_seq),
            ("since_ms", self.since_ms),
            ("until_ms", self.until_ms),
            ("limit", self.limit),
        ];
        let mut pairs: Vec<String> = numbers
            .iter()
            .filter_map(|(name, value)| value.map(|v| format!("{name}={v}")))
            .collect();
        if let Some(proofs) = self.proofs {
            pairs.push(format!("proofs={proofs}"));
        }
        pairs.join("&")
    }
}

/// `GET /v1/devices/{id}/streams/{stream}/readings`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Readings {
    /// The device.
    pub device: DeviceId,
    /// The stream.
    pub stream: StreamId,
    /// The readings, by sequence number.
    pub readings: Vec<ReadingEntry>,
}

/// One stored reading.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadingEntry {
    /// Sequence number.
    pub seq: u64,
    /// Device timestamp, ms.
    pub timestamp_ms: u64,
    /// The signed reading.
    pub reading: SignedReading,
    /// Its canonical encoding (hex).
    pub encoded: String,
    /// Whether a finalized anchor covers it.
    pub anchored: bool,
    /// Its proof bundle, once anchored (null otherwise or when proofs were not asked for).
    pub proof: Option<ReadingBundle>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_readings_query_renders_only_the_fields_it_sets() {
        assert_eq!(ReadingsQuery::default().to_query_string(), "");
        let query = ReadingsQuery {
            from_seq: Some(2),
            to_seq: Some(4),
            proofs: Some(false),
            ..ReadingsQuery::default()
        };
        assert_eq!(query.to_query_string(), "from_seq=2&to_seq=4&proofs=false");
    }
}

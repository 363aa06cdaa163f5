//! Calls of the data module: anchoring batches of readings, and oracle feeds.

#[cfg(feature = "std")]
pub mod keys;
#[cfg(feature = "std")]
pub mod params;
#[cfg(feature = "std")]
pub mod state;

use crate::{
    address::Address,
    codec::{read_str, read_vec, str_size, write_str},
    device::DeviceId,
    error::ErrorCode,
    hash::Hash,
    limits::*,
    reading::{DECIMALS_MAX, SignedReading, StreamId},
};
use alloc::{string::String, vec::Vec};
use commonware_codec::{Buf, EncodeSize, Error, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};

/// Identifies an oracle feed (assigned in creation order, from 1).
pub type FeedId = u64;

/// Which devices may feed an oracle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Eligibility {
    /// Exactly these devices.
    Devices {
        /// The devices.
        devices: Vec<DeviceId>,
    },
    /// Every device of this maker.
    Maker {
        /// The maker's account.
        maker: Address,
    },
    /// Every device that granted the feed's creator this role.
    Role {
        /// Role name.
        role: String,
    },
    /// Every device whose attribute `key` equals `value`.
    Attribute {
        /// Attribute key.
        key: String,
        /// Required value.
        value: String,
    },
}

/// A call to the data module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DataCall {
    /// Commit to a batch of one stream's readings: the Merkle root over the signed readings
    /// with sequence numbers in `first_seq..=last_seq`, in order. `first_seq` must follow
    /// the stream's previous anchor. Signer: the device owner or a holder of its `gateway`
    /// role.
    Anchor {
        /// The device.
        device: DeviceId,
        /// The stream.
        stream: StreamId,
        /// First sequence number covered (the previous anchor's last + 1).
        first_seq: u64,
        /// Last sequence number covered (a reading with it is in the batch).
        last_seq: u64,
        /// Readings in the batch.
        count: u32,
        /// Merkle root over the readings' leaves.
        root: Hash,
        /// The device key that signed them (one of the device's known keys).
        device_key: Address,
    },
    /// Create an oracle feed; the signer is its creator.
    CreateFeed {
        /// Name.
        name: String,
        /// The stream id devices report the feed's values on.
        stream: StreamId,
        /// Which devices count.
        eligibility: Eligibility,
        /// Fewest fresh sources for a value.
        min_sources: u8,
        /// How old (by block time) a source's reading may be and still count.
        max_staleness_ms: u64,
        /// Unit readings must carry.
        unit: String,
        /// Decimals of the feed's value (readings are rescaled to it).
        decimals: u8,
    },
    /// Report device-signed readings to a feed (anyone may relay them).
    ReportFeed {
        /// The feed.
        feed: FeedId,
        /// The readings.
        readings: Vec<SignedReading>,
    },
    /// Close a feed (its creator): its deposit is returned; it takes no more reports and has
    /// no value from then on.
    CloseFeed {
        /// The feed.
        feed: FeedId,
    },
}

impl Eligibility {
    /// Stateless validity: a non-empty list of at most [`FEED_SOURCES_MAX`] devices, or a
    /// role or attribute name within its bounds.
    pub fn is_valid(&self) -> bool {
        match self {
            Self::Devices { devices } => !devices.is_empty() && devices.len() <= FEED_SOURCES_MAX,
            Self::Maker { .. } => true,
            Self::Role { role } => !role.is_empty() && role.len() <= ROLE_LEN_MAX,
            Self::Attribute { key, value } => {
                !key.is_empty()
                    && key.len() <= ATTRIBUTE_KEY_LEN_MAX
                    && value.len() <= ATTRIBUTE_VALUE_LEN_MAX
            }
        }
    }
}

impl crate::call::ModuleCall for DataCall {
    const MODULE: &'static str = "data";
    const TAG: u8 = 3;
    const ERRORS: core::ops::RangeInclusive<u16> = 350..=399;

    /// Stateless validity of the arguments.
    fn check(&self) -> Result<(), ErrorCode> {
        let ok = match self {
            Self::Anchor { first_seq, last_seq, count, .. } => {
                first_seq <= last_seq
                    && *last_seq <= SEQ_MAX
                    && *count > 0
                    && u64::from(*count) - 1 <= last_seq - first_seq
            }
            Self::CreateFeed {
                name,
                eligibility,
                min_sources,
                max_staleness_ms,
                unit,
                decimals,
                ..
            } => {
                !name.is_empty()
                    && name.len() <= FEED_NAME_LEN_MAX
                    && eligibility.is_valid()
                    && *min_sources >= 1
                    && usize::from(*min_sources) <= FEED_SOURCES_MAX
                    && (1..=STALENESS_MAX_MS).contains(max_staleness_ms)
                    && unit.len() <= UNIT_LEN_MAX
                    && *decimals <= DECIMALS_MAX
            }
            Self::ReportFeed { readings, .. } => {
                !readings.is_empty() && readings.iter().all(|r| r.reading.is_valid())
            }
            Self::CloseFeed { .. } => true,
        };
        if ok { Ok(()) } else { Err(ErrorCode::InvalidCall) }
    }
}

impl Write for Eligibility {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        match self {
            Self::Devices { devices } => {
                0u8.write(buf);
                devices.write(buf);
            }
            Self::Maker { maker } => {
                1u8.write(buf);
                maker.write(buf);
            }
            Self::Role { role } => {
                2u8.write(buf);
                write_str(role, buf);
            }
            Self::Attribute { key, value } => {
                3u8.write(buf);
                write_str(key, buf);
                write_str(value, buf);
            }
        }
    }
}

impl EncodeSize for Eligibility {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Devices { devices } => devices.encode_size(),
            Self::Maker { .. } => 32,
            Self::Role { role } => str_size(role),
            Self::Attribute { key, value } => str_size(key) + str_size(value),
        }
    }
}

impl Read for Eligibility {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(match u8::read(buf)? {
            0 => Self::Devices { devices: read_vec(buf, FEED_SOURCES_MAX, &())? },
            1 => Self::Maker { maker: Address::read(buf)? },
            2 => Self::Role { role: read_str(buf, ROLE_LEN_MAX)? },
            3 => Self::Attribute {
                key: read_str(buf, ATTRIBUTE_KEY_LEN_MAX)?,
                value: read_str(buf, ATTRIBUTE_VALUE_LEN_MAX)?,
            },
            tag => return Err(Error::InvalidEnum(tag)),
        })
    }
}

impl Write for DataCall {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        match self {
            Self::Anchor { device, stream, first_seq, last_seq, count, root, device_key } => {
                0u8.write(buf);
                device.write(buf);
                stream.write(buf);
                first_seq.write(buf);
                last_seq.write(buf);
                count.write(buf);
                root.write(buf);
                device_key.write(buf);
            }
            Self::CreateFeed {
                name,
                stream,
                eligibility,
                min_sources,
                max_staleness_ms,
                unit,
                decimals,
            } => {
                1u8.write(buf);
                write_str(name, buf);
                stream.write(buf);
                eligibility.write(buf);
                min_sources.write(buf);
                max_staleness_ms.write(buf);
                write_str(unit, buf);
                decimals.write(buf);
            }
            Self::ReportFeed { feed, readings } => {
                2u8.write(buf);
                feed.write(buf);
                readings.write(buf);
            }
            Self::CloseFeed { feed } => {
                3u8.write(buf);
                feed.write(buf);
            }
        }
    }
}

impl EncodeSize for DataCall {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Anchor { .. } => 32 + 4 + 8 + 8 + 4 + 32 + 32,
            Self::CreateFeed { name, eligibility, unit, .. } => {
                str_size(name) + 4 + eligibility.encode_size() + 1 + 8 + str_size(unit) + 1
            }
            Self::ReportFeed { readings, .. } => 8 + readings.encode_size(),
            Self::CloseFeed { .. } => 8,
        }
    }
}

impl Read for DataCall {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(match u8::read(buf)? {
            0 => Self::Anchor {
                device: Hash::read(buf)?,
                stream: u32::read(buf)?,
                first_seq: u64::read(buf)?,
                last_seq: u64::read(buf)?,
                count: u32::read(buf)?,
                root: Hash::read(buf)?,
                device_key: Address::read(buf)?,
            },
            1 => Self::CreateFeed {
                name: read_str(buf, FEED_NAME_LEN_MAX)?,
                stream: u32::read(buf)?,
                eligibility: Eligibility::read(buf)?,
                min_sources: u8::read(buf)?,
                max_staleness_ms: u64::read(buf)?,
                unit: read_str(buf, UNIT_LEN_MAX)?,
                decimals: u8::read(buf)?,
            },
            2 => Self::ReportFeed {
                feed: u64::read(buf)?,
                readings: read_vec(buf, FEED_READINGS_PER_CALL_MAX, &())?,
            },
            3 => Self::CloseFeed { feed: u64::read(buf)? },
            tag => return Err(Error::InvalidEnum(tag)),
        })
    }
}

/// What the data module's calls did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum DataEvent {
    /// A batch of readings was anchored.
    Anchored {
        /// The device.
        device: DeviceId,
        /// The stream.
        stream: StreamId,
        /// The anchor's index in the stream (from 0).
        index: u64,
        /// First sequence number covered.
        first_seq: u64,
        /// Last sequence number covered.
        last_seq: u64,
        /// Readings in the batch.
        count: u32,
    },
    /// A feed was created.
    FeedCreated {
        /// Its id.
        feed: FeedId,
        /// Its creator.
        creator: Address,
    },
    /// A feed's value was recomputed.
    FeedUpdated {
        /// The feed.
        feed: FeedId,
        /// The new value (`None`: too few fresh sources).
        value: Option<i64>,
        /// Fresh sources counted.
        sources: u8,
    },
    /// A feed was closed and its deposit returned.
    FeedClosed {
        /// The feed.
        feed: FeedId,
    },
}

impl Write for DataEvent {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        match self {
            Self::Anchored { device, stream, index, first_seq, last_seq, count } => {
                0u8.write(buf);
                device.write(buf);
                stream.write(buf);
                index.write(buf);
                first_seq.write(buf);
                last_seq.write(buf);
                count.write(buf);
            }
            Self::FeedCreated { feed, creator } => {
                1u8.write(buf);
                feed.write(buf);
                creator.write(buf);
            }
            Self::FeedUpdated { feed, value, sources } => {
                2u8.write(buf);
                feed.write(buf);
                value.write(buf);
                sources.write(buf);
            }
            Self::FeedClosed { feed } => {
                3u8.write(buf);
                feed.write(buf);
            }
        }
    }
}

impl EncodeSize for DataEvent {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Anchored { .. } => 32 + 4 + 8 + 8 + 8 + 4,
            Self::FeedCreated { .. } => 8 + 32,
            Self::FeedUpdated { value, .. } => 8 + value.encode_size() + 1,
            Self::FeedClosed { .. } => 8,
        }
    }
}

impl Read for DataEvent {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(match u8::read(buf)? {
            0 => Self::Anchored {
                device: Hash::read(buf)?,
                stream: u32::read(buf)?,
                index: u64::read(buf)?,
                first_seq: u64::read(buf)?,
                last_seq: u64::read(buf)?,
                count: u32::read(buf)?,
            },
            1 => Self::FeedCreated { feed: u64::read(buf)?, creator: Address::read(buf)? },
            2 => Self::FeedUpdated {
                feed: u64::read(buf)?,
                value: Option::<i64>::read(buf)?,
                sources: u8::read(buf)?,
            },
            3 => Self::FeedClosed { feed: u64::read(buf)? },
            tag => return Err(Error::InvalidEnum(tag)),
        })
    }
}

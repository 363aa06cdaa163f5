//! The data module's stored values.

use crate::{
    Address, Amount, DeviceId, Hash,
    codec::{read_str, read_vec, str_size, write_str},
    data::{Eligibility, FeedId},
    limits::{FEED_NAME_LEN_MAX, FEED_SOURCES_MAX, UNIT_LEN_MAX},
    reading::StreamId,
};
use commonware_codec::{Buf, EncodeSize, Error, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};

/// A stream's anchoring state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct StreamState {
    /// Anchors so far (the next anchor's index).
    pub anchors: u64,
    /// Last sequence number covered by an anchor.
    pub last_seq: Option<u64>,
    /// Readings anchored so far.
    pub readings: u64,
}

/// An anchored batch of readings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct AnchorRecord {
    /// The device.
    pub device: DeviceId,
    /// The stream.
    pub stream: StreamId,
    /// Index among the stream's anchors.
    pub index: u64,
    /// First sequence number covered.
    pub first_seq: u64,
    /// Last sequence number covered.
    pub last_seq: u64,
    /// Readings in the batch.
    pub count: u32,
    /// Merkle root over the readings' leaves, in sequence order.
    pub root: Hash,
    /// The device key that signed the readings.
    pub device_key: Address,
    /// Height it was anchored at.
    pub height: u64,
    /// Block time it was anchored at (ms).
    pub timestamp_ms: u64,
    /// Who anchored it.
    pub submitter: Address,
}

/// One device's latest value in a feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Source {
    /// The device.
    pub device: DeviceId,
    /// Its value, in the feed's decimals.
    pub value: i64,
    /// When it was measured (ms).
    pub timestamp_ms: u64,
    /// Its sequence number.
    pub seq: u64,
}

/// A computed feed value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct FeedValue {
    /// The median of the fresh sources, in the feed's decimals.
    pub value: i64,
    /// Fresh sources it was computed from.
    pub sources: u8,
    /// Height it was computed at.
    pub height: u64,
    /// The oldest fresh source's timestamp: the value holds until this plus the feed's
    /// maximum staleness.
    pub oldest_ms: u64,
}

impl Eligibility {
    /// Whether the rule admits `device`. For role and attribute rules, `accepted` says
    /// whether the device granted the rule's owner (a feed's creator, a reward pool's funder)
    /// the role (for attributes, the owner's attribute role) and the owner accepted it
    /// (callers look it up).
    pub fn admits(&self, device: &crate::identity::state::Device, accepted: bool) -> bool {
        match self {
            Eligibility::Devices { devices } => devices.contains(&device.id),
            Eligibility::Maker { maker } => device.maker() == *maker,
            Eligibility::Role { .. } => accepted,
            Eligibility::Attribute { key, value } => {
                accepted && device.attribute(key) == Some(value.as_str())
            }
        }
    }
}

/// An oracle feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Feed {
    /// Its id.
    pub id: FeedId,
    /// Name.
    pub name: String,
    /// Creator.
    pub creator: Address,
    /// Stream id sources report on.
    pub stream: StreamId,
    /// Who may report.
    pub eligibility: Eligibility,
    /// Fewest fresh sources for a value.
    pub min_sources: u8,
    /// How old a source may be and still count (ms of block time).
    pub max_staleness_ms: u64,
    /// Required unit.
    pub unit: String,
    /// Decimals of the value.
    pub decimals: u8,
    /// Latest value of each source, sorted by device.
    pub sources: Vec<Source>,
    /// The value, when enough fresh sources reported.
    pub value: Option<FeedValue>,
    /// The creator's deposit, returned when the feed is closed.
    pub deposit: Amount,
}

impl Feed {
    /// Whether `device` may report to this feed. For role and attribute eligibility,
    /// `accepted` says whether the device granted the feed's creator the role (for attributes
    /// [`FEED_SOURCE`](crate::identity::roles::FEED_SOURCE)) and the creator accepted
    /// it (callers look it up).
    pub fn eligible(&self, device: &crate::identity::state::Device, accepted: bool) -> bool {
        self.eligibility.admits(device, accepted)
    }

    /// The value usable at block time `now_ms`: computed, and not yet stale.
    pub fn value_at(&self, now_ms: u64) -> Option<i64> {
        let v = self.value?;
        (now_ms <= v.oldest_ms.saturating_add(self.max_staleness_ms)).then_some(v.value)
    }
}

impl Write for StreamState {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.anchors.write(buf);
        self.last_seq.write(buf);
        self.readings.write(buf);
    }
}

impl EncodeSize for StreamState {
    fn encode_size(&self) -> usize {
        8 + self.last_seq.encode_size() + 8
    }
}

impl Read for StreamState {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            anchors: u64::read(buf)?,
            last_seq: Option::<u64>::read(buf)?,
            readings: u64::read(buf)?,
        })
    }
}

impl Write for AnchorRecord {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.device.write(buf);
        self.stream.write(buf);
        self.index.write(buf);
        self.first_seq.write(buf);
        self.last_seq.write(buf);
        self.count.write(buf);
        self.root.write(buf);
        self.device_key.write(buf);
        self.height.write(buf);
        self.timestamp_ms.write(buf);
        self.submitter.write(buf);
    }
}

impl EncodeSize for AnchorRecord {
    fn encode_size(&self) -> usize {
        32 + 4 + 8 + 8 + 8 + 4 + 32 + 32 + 8 + 8 + 32
    }
}

impl Read for AnchorRecord {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            device: Hash::read(buf)?,
            stream: u32::read(buf)?,
            index: u64::read(buf)?,
            first_seq: u64::read(buf)?,
            last_seq: u64::read(buf)?,
            count: u32::read(buf)?,
            root: Hash::read(buf)?,
            device_key: Address::read(buf)?,
            height: u64::read(buf)?,
            timestamp_ms: u64::read(buf)?,
            submitter: Address::read(buf)?,
        })
    }
}

impl Write for Source {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.device.write(buf);
        self.value.write(buf);
        self.timestamp_ms.write(buf);
        self.seq.write(buf);
    }
}

impl EncodeSize for Source {
    fn encode_size(&self) -> usize {
        32 + 8 + 8 + 8
    }
}

impl Read for Source {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            device: Hash::read(buf)?,
            value: i64::read(buf)?,
            timestamp_ms: u64::read(buf)?,
            seq: u64::read(buf)?,
        })
    }
}

impl Write for FeedValue {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.value.write(buf);
        self.sources.write(buf);
        self.height.write(buf);
        self.oldest_ms.write(buf);
    }
}

impl EncodeSize for FeedValue {
    fn encode_size(&self) -> usize {
        8 + 1 + 8 + 8
    }
}

impl Read for FeedValue {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            value: i64::read(buf)?,
            sources: u8::read(buf)?,
            height: u64::read(buf)?,
            oldest_ms: u64::read(buf)?,
        })
    }
}

impl Write for Feed {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.id.write(buf);
        write_str(&self.name, buf);
        self.creator.write(buf);
        self.stream.write(buf);
        self.eligibility.write(buf);
        self.min_sources.write(buf);
        self.max_staleness_ms.write(buf);
        write_str(&self.unit, buf);
        self.decimals.write(buf);
        self.sources.write(buf);
        self.value.write(buf);
        self.deposit.write(buf);
    }
}

impl EncodeSize for Feed {
    fn encode_size(&self) -> usize {
        8 + str_size(&self.name)
            + 32
            + 4
            + self.eligibility.encode_size()
            + 1
            + 8
            + str_size(&self.unit)
            + 1
            + self.sources.encode_size()
            + self.value.encode_size()
            + 8
    }
}

impl Read for Feed {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            id: u64::read(buf)?,
            name: read_str(buf, FEED_NAME_LEN_MAX)?,
            creator: Address::read(buf)?,
            stream: u32::read(buf)?,
            eligibility: Eligibility::read(buf)?,
            min_sources: u8::read(buf)?,
            max_staleness_ms: u64::read(buf)?,
            unit: read_str(buf, UNIT_LEN_MAX)?,
            decimals: u8::read(buf)?,
            sources: read_vec(buf, FEED_SOURCES_MAX, &())?,
            value: Option::<FeedValue>::read(buf)?,
            deposit: u64::read(buf)?,
        })
    }
}

//! Protocol limits. Every decoded length in Machina is bounded by one of these, so a peer or
//! client can never make a node allocate more than a known amount for one message.

/// Bytes in a chain id (e.g. `machina-dev`).
pub const CHAIN_ID_LEN_MAX: usize = 32;
/// Calls in one transaction.
pub const CALLS_PER_TX_MAX: usize = 16;
/// Bytes in one encoded signed transaction.
pub const TX_SIZE_MAX: usize = 4 * 1024;
/// Transactions in one block.
pub const TXS_PER_BLOCK_MAX: usize = 16 * 1024;
/// Events recorded in one receipt.
pub const EVENTS_PER_TX_MAX: usize = 32;
/// Events of one block's block-level steps (batch clearing, settlements).
pub const BLOCK_EVENTS_MAX: usize = 1 << 20;
/// Bytes in an asset symbol.
pub const ASSET_SYMBOL_LEN_MAX: usize = 12;
/// Bytes in an asset name.
pub const ASSET_NAME_LEN_MAX: usize = 64;
/// Bytes of free-form asset metadata (a URI or a content hash, typically).
pub const ASSET_METADATA_LEN_MAX: usize = 256;
/// Decimal places an asset may declare.
pub const ASSET_DECIMALS_MAX: u8 = 18;
/// Bytes in a maker's or device model's name.
pub const NAME_LEN_MAX: usize = 64;
/// Bytes in a role name.
pub const ROLE_LEN_MAX: usize = 32;
/// Bytes in a device attribute key.
pub const ATTRIBUTE_KEY_LEN_MAX: usize = 32;
/// Bytes in a device attribute value.
pub const ATTRIBUTE_VALUE_LEN_MAX: usize = 128;
/// Attributes a device may carry.
pub const ATTRIBUTES_PER_DEVICE_MAX: usize = 16;
/// Past device keys a device record remembers (so readings signed before a rotation still
/// verify).
pub const DEVICE_KEYS_REMEMBERED: usize = 8;
/// Bytes in a firmware version label.
pub const FIRMWARE_VERSION_LEN_MAX: usize = 32;
/// Bytes in a measurement unit (e.g. `C`, `kWh`, `m3/h`).
pub const UNIT_LEN_MAX: usize = 16;
/// Bytes of an opaque reading payload.
pub const READING_BYTES_MAX: usize = 256;
/// Signed readings in one feed report.
pub const FEED_READINGS_PER_CALL_MAX: usize = 16;
/// Devices listed in a feed's explicit eligibility list, and sources a feed tracks.
pub const FEED_SOURCES_MAX: usize = 64;
/// Bytes in a feed name.
pub const FEED_NAME_LEN_MAX: usize = 32;
/// Largest sequence number of a reading (and of an anchored range), so that `seq + 1` and
/// range lengths never overflow.
pub const SEQ_MAX: u64 = 1 << 62;
/// Most units an offer, intent or fill may name (so products with prices fit in `u128` sums
/// over every order of a batch).
pub const UNITS_MAX: u64 = 1 << 40;
/// Highest price per unit an order or solution may name.
pub const PRICE_MAX: u64 = 1 << 56;
/// Most units of one resource in one unit of a bundle.
pub const COMPONENT_QUANTITY_MAX: u64 = 1 << 20;
/// Longest staleness bound a feed may declare (ms): 30 days.
pub const STALENESS_MAX_MS: u64 = 30 * 24 * 3600 * 1000;
/// Validator approvals one call may carry (and validators a genesis may name).
pub const VALIDATORS_MAX: usize = 128;

// Sums the state machine computes over values bounded above stay inside their types.
const _: () = assert!((UNITS_MAX as u128) * (PRICE_MAX as u128) <= 1 << 96);
const _: () = assert!(SEQ_MAX < u64::MAX / 2);

/// Devices one machine (a fleet tokenized together) may hold.
pub const MACHINE_DEVICES_MAX: usize = 16;
/// Tranches an offering's funds may be released in.
pub const OFFERING_TRANCHES_MAX: usize = 4;
/// Buyers one offering may have (each is settled by a block-level step at its close).
pub const OFFERING_BUYERS_MAX: u32 = 10_000;
/// Offerings open at once across the chain (the close queue every block reads).
pub const OPEN_OFFERINGS_MAX: usize = 1024;
/// Longest an offering may stay open, and the latest its milestones may be met (blocks).
pub const OFFERING_BLOCKS_MAX: u64 = 10_000_000;
/// Calls one proposal may execute.
pub const PROPOSAL_CALLS_MAX: usize = 4;
/// Longest voting period, timelock and execution window of a proposal (blocks). Vote
/// checkpoints older than the voting period are pruned.
pub const GOVERNANCE_BLOCKS_MAX: u64 = 1_000_000;

/// Most epochs a reward pool may pay for (the chain's `rewards.epochs_max` may be lower), and
/// the longest claim window (in epochs) a chain may give.
pub const REWARD_EPOCHS_MAX: u32 = 10_000;
/// Most blocks in a reward pool's epoch (the chain's `rewards.epoch_blocks_max` may be lower).
pub const REWARD_EPOCH_BLOCKS_MAX: u64 = 1_000_000;
/// Most devices one reward pool may enroll (the chain's `rewards.devices_per_pool_max` may be
/// lower).
pub const REWARD_DEVICES_MAX: u32 = 10_000;
/// Most work a reward pool may credit to one device for one epoch.
pub const REWARD_WORK_MAX: u64 = 1 << 40;

// An epoch's total work (every enrolled device at the cap) fits a u64, and a pool's last
// height (its epochs, the epoch reporting the last, the next and the longest claim window)
// stays far from u64::MAX.
const _: () = assert!((REWARD_WORK_MAX as u128) * (REWARD_DEVICES_MAX as u128) <= 1 << 60);
const _: () =
    assert!((2 * REWARD_EPOCHS_MAX as u128 + 2) * (REWARD_EPOCH_BLOCKS_MAX as u128) <= 1 << 40);

/// Longest challenge period of a payment channel (blocks): how long a payer's close waits
/// for the payee's latest voucher.
pub const CHANNEL_CHALLENGE_BLOCKS_MAX: u64 = 1_000_000;

/// Most streams one data product lists.
pub const PRODUCT_STREAMS_MAX: usize = 8;
/// Most accounts a data product's allow list names.
pub const PRODUCT_ALLOW_LIST_MAX: usize = 32;
/// Longest period a data product prices (366 days, in ms).
pub const PRODUCT_PERIOD_MS_MAX: u64 = 366 * 24 * 3_600 * 1_000;
/// Most periods one subscription pays for.
pub const PRODUCT_PERIODS_MAX: u32 = 10_000;
/// Most active subscriptions one data product has (the gateway delivers to each).
pub const PRODUCT_SUBSCRIBERS_MAX: usize = 64;
/// Most wrapped keys one call publishes.
pub const KEY_GRANTS_PER_CALL_MAX: usize = 32;

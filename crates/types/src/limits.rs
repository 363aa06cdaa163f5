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
/// Bytes in an asset symbol.
pub const ASSET_SYMBOL_LEN_MAX: usize = 12;
/// Bytes in an asset name.
pub const ASSET_NAME_LEN_MAX: usize = 64;
/// Bytes of free-form asset metadata (a URI or a content hash, typically).
pub const ASSET_METADATA_LEN_MAX: usize = 256;
/// Decimal places an asset may declare.
pub const ASSET_DECIMALS_MAX: u8 = 18;

//! The node's HTTP API as types: the request body, query and response of every route.
//!
//! The node's handlers build these values and the SDK's [`Client`] decodes them, so both ends
//! agree on every field by construction. One module per area, mirroring the node's handlers:
//!
//! - [`chain`]: status, health, transactions, accounts, assets, tokens, blocks, proofs and
//!   the event stream;
//! - [`data`]: readings, devices, roles, streams, makers and feeds;
//! - [`market`]: the market overview, books, leases, stakes and solutions;
//! - [`ownership`]: machines and their holders, offerings, proposals, the machine of a
//!   device, usage rights and a stream's data rights;
//! - [`rewards`]: reward pools, their epochs' total work, enrollments and devices' work;
//! - [`explorer`]: the explorer's index (entities and their activity, market clearings,
//!   feed values), block pages and search;
//! - [`error`]: the error envelope every failure is served in, and the API's own codes;
//! - `openapi` (feature `openapi`): the OpenAPI 3.1 document generated from these types, with
//!   each area's routes registered in `openapi/<area>.rs`.
//!
//! JSON shapes are part of the contract: an `Option` field is `null` when empty unless the
//! type says it is left out, and [`TxStatus`] writes `error` only beside a receipt or for a
//! dropped transaction.
//!
//! Values of the chain's state (accounts, devices, offers, ...) are the types of
//! [`machina_types`]; proof bundles are those of [`machina_store`].
//!
//! [`Client`]: https://docs.rs/machina-sdk

pub mod chain;
pub mod data;
pub mod error;
pub mod explorer;
pub mod market;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod ownership;
pub mod products;
pub mod rewards;

pub use chain::{
    AccountInfo, AssetBalance, BlockEvent, BlockView, GatewayStatus, HeaderView, Health, NftInfo,
    Status, SubmitTx, Submitted, SubsystemHealth, TxState, TxStatus, TxView,
};
pub use data::{
    AcceptedReading, FeedView, ReadingEntry, Readings, ReadingsQuery, RoleView, StreamView,
    SubmitReading,
};
pub use error::{ApiErrorBody, ErrorEnvelope};
pub use market::{
    AccountLeases, AccountStake, BookOffer, LeasesQuery, MarketBook, MarketOverview, MarketSummary,
    Solutions,
};
pub use ownership::{
    DataRights, DeviceMachine, DeviceRightsView, HolderView, MachineView, ProposalView, RightView,
};
pub use products::PaymentState;
pub use rewards::{PoolView, WorkView};

//! The Machina SDK: everything a client or a device needs to use a Machina chain.
//!
//! - [`keys`]: a keyring of ed25519 account keys in a directory;
//! - [`tx`]: building and signing transactions with the exact fee;
//! - [`client`]: a blocking client of the node's HTTP API, answering the typed values of
//!   [`api`] (the `machina-api` crate);
//! - [`verify`]: offline verification of a state proof against the genesis validator set.
//!
//! The `machina` CLI does all its work through this crate.

pub mod client;
pub mod device;
pub mod keys;
pub mod privacy;
pub mod tx;
pub mod verify;

pub use client::Client;
pub use keys::Keyring;
/// The request and response types of every route of the node's API.
pub use machina_api as api;

/// Why an SDK operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The node could not be reached or answered unreadably.
    #[error("cannot reach the node at {url}: {message}")]
    Transport {
        /// The request URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The node refused the request.
    #[error("{code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: String,
        /// Human explanation.
        message: String,
    },
    /// A keyring operation failed.
    #[error("keyring: {0}")]
    Key(String),
    /// Waiting for something took too long.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A proof does not verify.
    #[error("proof rejected: {0}")]
    Verify(#[from] verify::VerifyError),
}

/// Result of an SDK operation.
pub type Result<T> = std::result::Result<T, Error>;

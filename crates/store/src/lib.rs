//! Machina's storage: the authenticated state database, the block and certificate archives,
//! and state proofs.
//!
//! State lives in a QMDB `current::ordered` database: every block's writes are applied as one
//! batch and the database's canonical root goes into the block header. The root commits to
//! every key's current value, so the store can prove a key's value (inclusion) or its absence
//! (exclusion, through the ordered neighbours) against a header. Consensus finalizes headers,
//! so a finalization certificate plus one of these proofs proves a value to anyone who knows
//! the validator set.
//!
//! Finalized blocks and their certificates are kept in immutable archives (full history).
//! Crash safety comes from the engine: state and archives are journaled, and on restart the
//! node replays finalized blocks above the last durable state.

pub mod bundle;
pub mod proof;
mod value;

use commonware_cryptography::{Sha256, sha256};
use commonware_parallel::Sequential;
use commonware_runtime::buffer::paged::CacheRef;
use commonware_storage::{
    archive::immutable,
    journal::contiguous::variable::Config as LogConfig,
    merkle::{full::Config as MerkleConfig, mmr},
    qmdb::current::{VariableConfig, ordered::variable},
    translator::EightCap,
};
use commonware_utils::{NZU16, NZU64, NZUsize};
use std::num::{NonZeroU16, NonZeroUsize};

pub use bundle::{ProofBundle, ReadingBundle, StateEntry};
pub use proof::{ProofError, StateProof};
pub use value::Value;

/// Largest value the state stores, in bytes.
pub const VALUE_LEN_MAX: usize = 64 * 1024;

/// Bitmap chunk size of the state database (part of the root: never change it).
pub const CHUNK: usize = 32;

/// The state database: 32-byte hashed keys to bounded byte values.
pub type StateDb<E> =
    variable::Db<mmr::Family, E, sha256::Digest, Value, Sha256, EightCap, CHUNK, Sequential>;

/// The state database's configuration type.
pub type StateDbConfig = VariableConfig<EightCap, ((), ()), Sequential>;

/// Page size of the storage page cache.
pub const PAGE_SIZE: NonZeroU16 = NZU16!(4096);
/// Write and replay buffer size for journals.
pub const IO_BUFFER: NonZeroUsize = NZUsize!(1 << 20);

/// A page cache shared by the node's stores.
pub fn page_cache(pages: NonZeroUsize) -> CacheRef {
    CacheRef::new(PAGE_SIZE, pages)
}

/// The state database configuration under partition prefix `prefix`.
pub fn state_db_config(prefix: &str, page_cache: CacheRef) -> StateDbConfig {
    let items = NZU64!(65_536);
    VariableConfig {
        merkle_config: MerkleConfig {
            journal_partition: format!("{prefix}-state-mmr"),
            metadata_partition: format!("{prefix}-state-mmr-meta"),
            items_per_blob: items,
            write_buffer: IO_BUFFER,
            replay_buffer: IO_BUFFER,
            strategy: Sequential,
            page_cache: page_cache.clone(),
        },
        journal_config: LogConfig {
            partition: format!("{prefix}-state-log"),
            items_per_section: items,
            compression: None,
            codec_config: ((), ()),
            page_cache,
            write_buffer: IO_BUFFER,
            replay_buffer: IO_BUFFER,
        },
        grafted_metadata_partition: format!("{prefix}-state-grafted"),
        translator: EightCap,
        init_cache: Some(NZUsize!(1 << 16)),
        init_buffer: NZUsize!(1 << 21),
        init_concurrency: (),
    }
}

/// Configuration of an immutable archive (finalized blocks or certificates) named `name`.
pub fn archive_config<C>(
    prefix: &str,
    name: &str,
    page_cache: CacheRef,
    codec: C,
) -> immutable::Config<C> {
    immutable::Config {
        metadata_partition: format!("{prefix}-{name}-meta"),
        freezer_table_partition: format!("{prefix}-{name}-table"),
        freezer_table_initial_size: 65_536,
        freezer_table_resize_frequency: 4,
        freezer_table_resize_chunk_size: 16_384,
        freezer_key_partition: format!("{prefix}-{name}-key"),
        freezer_key_page_cache: page_cache,
        freezer_value_partition: format!("{prefix}-{name}-value"),
        freezer_value_target_size: 1 << 30,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        items_per_section: NZU64!(262_144),
        freezer_key_write_buffer: IO_BUFFER,
        freezer_value_write_buffer: IO_BUFFER,
        ordinal_write_buffer: IO_BUFFER,
        replay_buffer: IO_BUFFER,
        codec_config: codec,
    }
}

//! The state the machine reads and writes: 32-byte keys, each the SHA-256 of a module's
//! structured key (so keys spread evenly over the authenticated store's index), mapped to
//! canonically encoded values.

use commonware_codec::{Decode, Encode};
use std::collections::BTreeMap;

pub use machina_types::state::{Key, decode_value, key};

/// A key the reader does not hold yet. Execution stops without writing anything; the caller
/// fetches the key and runs the transaction again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("state key {0} not loaded")]
pub struct Missing(pub Key);

/// Read access to state as of the start of a block.
pub trait StateRead {
    /// The value at `key`; `Ok(None)` if absent; `Err(Missing)` if this reader does not know.
    fn read(&self, key: &Key) -> Result<Option<Vec<u8>>, Missing>;
}

/// A reader that answers every key it cannot read as absent and remembers which those were.
///
/// Block-level steps (a market's batch clearing) read keys that depend on other keys, level
/// after level. Run over this reader, a step discovers every key missing at the level it
/// reached at once; the caller loads them all in one batch, discards the step's writes and
/// runs it again, until nothing is missing: a handful of batched reads instead of one read
/// per key.
pub struct Collecting<'a> {
    base: &'a dyn StateRead,
    missed: std::sync::Mutex<Vec<Key>>,
}

impl<'a> Collecting<'a> {
    /// A collecting reader over `base`.
    pub fn new(base: &'a dyn StateRead) -> Self {
        Self { base, missed: std::sync::Mutex::default() }
    }

    /// The keys read but not known, each once.
    pub fn missed(self) -> Vec<Key> {
        let mut missed =
            self.missed.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        missed.sort_unstable();
        missed.dedup();
        missed
    }
}

impl StateRead for Collecting<'_> {
    fn read(&self, key: &Key) -> Result<Option<Vec<u8>>, Missing> {
        match self.base.read(key) {
            Err(Missing(key)) => {
                self.missed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(key);
                Ok(None)
            }
            known => known,
        }
    }
}

/// Pending writes: `None` deletes.
pub type Writes = BTreeMap<Key, Option<Vec<u8>>>;

/// A complete in-memory state, for tests, simulations and the reference model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemState {
    /// Every key with its value.
    pub entries: BTreeMap<Key, Vec<u8>>,
}

impl MemState {
    /// Applies a block's writes.
    pub fn apply(&mut self, writes: &Writes) {
        for (k, v) in writes {
            match v {
                Some(v) => self.entries.insert(*k, v.clone()),
                None => self.entries.remove(k),
            };
        }
    }

    /// Reads and decodes a value (for tests and audits).
    pub fn get<T: Decode<Cfg = ()>>(&self, key: &Key) -> Option<T> {
        self.entries.get(key).map(|v| decode_value(key, v))
    }
}

impl StateRead for MemState {
    fn read(&self, key: &Key) -> Result<Option<Vec<u8>>, Missing> {
        Ok(self.entries.get(key).cloned())
    }
}

/// A partial view: the keys fetched so far from a real store. Absent keys that were fetched
/// are recorded as `None`; keys never fetched are [`Missing`].
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    entries: BTreeMap<Key, Option<Vec<u8>>>,
}

impl Loaded {
    /// Records a fetched key's value (or absence).
    pub fn insert(&mut self, key: Key, value: Option<Vec<u8>>) {
        self.entries.insert(key, value);
    }

    /// Whether `key` was fetched.
    pub fn contains(&self, key: &Key) -> bool {
        self.entries.contains_key(key)
    }

    /// Number of fetched keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was fetched.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl StateRead for Loaded {
    fn read(&self, key: &Key) -> Result<Option<Vec<u8>>, Missing> {
        self.entries.get(key).cloned().ok_or(Missing(*key))
    }
}

/// Encodes a value for storage.
pub fn encode_value<T: Encode>(value: &T) -> Vec<u8> {
    value.encode().to_vec()
}

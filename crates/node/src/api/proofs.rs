//! Building proofs: state entries read and proven under one read lock of the finalized
//! state, plus the header and finalization certificate of the block that state belongs to.

use super::{ApiState, error::ApiError};
use commonware_codec::{Decode, Encode};
use commonware_consensus::{marshal::Identifier, types::Height};
use commonware_glue::stateful::db::ReadGuard;
use machina_app::{describe, state::Key};
use machina_store::{StateDb, StateEntry, StateProof};
use machina_types::{Hash, codec::hex};

type Db = StateDb<commonware_runtime::tokio::Context>;

/// A consistent view of the finalized state at one block.
pub struct Snapshot<'a> {
    guard: ReadGuard<'a, Db>,
    height: u64,
}

/// The block a snapshot's state belongs to.
pub struct Sealed {
    /// Its height.
    pub height: u64,
    /// Its header's encoding (hex).
    pub header: String,
    /// Its finalization certificate's encoding (hex).
    pub finalization: String,
}

impl<'a> Snapshot<'a> {
    /// Locks the finalized state and finds the block it belongs to.
    pub async fn take(s: &'a ApiState) -> Result<Self, ApiError> {
        let guard = s.db.read().await;
        let root = Hash::from(guard.root());
        let (height, _) = s
            .chain
            .block_of_root(&root)
            .ok_or_else(|| ApiError::unavailable("no block is finalized yet"))?;
        Ok(Self { guard, height })
    }

    /// The height of the block the state belongs to.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// Reads a raw value.
    pub async fn raw(&self, key: &Key) -> Result<Option<Vec<u8>>, ApiError> {
        let value = self
            .guard
            .get(&key.digest())
            .await
            .map_err(|e| ApiError::unavailable(e.to_string()))?;
        Ok(value.map(|v| v.0))
    }

    /// Reads and decodes a value.
    pub async fn get<T: Decode<Cfg = ()>>(&self, key: &Key) -> Result<Option<T>, ApiError> {
        Ok(self.raw(key).await?.map(|bytes| machina_app::state::decode_value(key, &bytes)))
    }

    /// Proves the value (or absence) of the key `description` names.
    pub async fn described(&self, description: String) -> Result<StateEntry, ApiError> {
        let known = describe::known(&description).expect("descriptions built by describe");
        self.entry(known.key, Some(description)).await
    }

    /// Proves the value (or absence) of `key`.
    pub async fn entry(
        &self,
        key: Key,
        description: Option<String>,
    ) -> Result<StateEntry, ApiError> {
        let value = self.raw(&key).await?;
        let failed = |e: commonware_storage::qmdb::Error<_>| {
            ApiError::unavailable(format!("proof failed: {e}"))
        };
        let proof = match &value {
            Some(_) => StateProof::inclusion(
                &self.guard.key_value_proof(key.digest()).await.map_err(failed)?,
            ),
            None => StateProof::exclusion(
                &self.guard.exclusion_proof(&key.digest()).await.map_err(failed)?,
            ),
        };
        let decoded = description
            .as_deref()
            .and_then(describe::known)
            .and_then(|known| value.as_deref().and_then(known.decode));
        Ok(StateEntry { key, description, value, decoded, proof })
    }

    /// Releases the state and fetches the block's header and certificate.
    pub async fn seal(self, s: &ApiState) -> Result<Sealed, ApiError> {
        let height = self.height;
        drop(self.guard);
        let block = s
            .marshal
            .get_block(Identifier::Height(Height::new(height)))
            .await
            .ok_or_else(|| ApiError::unavailable(format!("block {height} is not available")))?;
        let finalization =
            s.marshal.get_finalization(Height::new(height)).await.ok_or_else(|| {
                ApiError::unavailable(format!("no certificate for height {height}"))
            })?;
        Ok(Sealed {
            height,
            header: hex(&block.inner().header.encode()),
            finalization: hex(&finalization.encode()),
        })
    }
}

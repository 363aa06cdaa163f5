//! The bank's stored values.

use crate::{
    Address, Amount, Hash,
    bank::AssetId,
    codec::{read_bytes, read_str, str_size, write_str},
    limits::{ASSET_METADATA_LEN_MAX, ASSET_NAME_LEN_MAX, ASSET_SYMBOL_LEN_MAX},
};
use commonware_codec::{Buf, EncodeSize, Error, FixedSize, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};

/// An account's nonce and native balance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Account {
    /// The nonce the account's next transaction must carry.
    pub nonce: u64,
    /// Native balance in the smallest unit.
    pub balance: Amount,
}

impl Account {
    /// Whether the account holds nothing worth storing.
    pub fn is_empty(&self) -> bool {
        self.nonce == 0 && self.balance == 0
    }
}

/// A user-issued fungible asset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct AssetInfo {
    /// Its id.
    pub id: AssetId,
    /// Who may mint.
    pub issuer: Address,
    /// Ticker.
    pub symbol: String,
    /// Name.
    pub name: String,
    /// Display decimals.
    pub decimals: u8,
    /// Cap on supply, if any.
    pub max_supply: Option<Amount>,
    /// Units in existence (minted minus burned).
    pub supply: Amount,
    /// Free-form metadata.
    #[serde(with = "crate::codec::hex_bytes")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::hex_bytes))]
    pub metadata: Vec<u8>,
}

/// A non-fungible token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Nft {
    /// Current owner.
    pub owner: Address,
    /// Who minted it.
    pub minter: Address,
    /// Hash of its metadata document.
    pub metadata_hash: Hash,
}

impl Write for Account {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.nonce.write(buf);
        self.balance.write(buf);
    }
}

impl FixedSize for Account {
    const SIZE: usize = 16;
}

impl Read for Account {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self { nonce: u64::read(buf)?, balance: u64::read(buf)? })
    }
}

impl Write for AssetInfo {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.id.write(buf);
        self.issuer.write(buf);
        write_str(&self.symbol, buf);
        write_str(&self.name, buf);
        self.decimals.write(buf);
        self.max_supply.write(buf);
        self.supply.write(buf);
        self.metadata.write(buf);
    }
}

impl EncodeSize for AssetInfo {
    fn encode_size(&self) -> usize {
        8 + 32
            + str_size(&self.symbol)
            + str_size(&self.name)
            + 1
            + self.max_supply.encode_size()
            + 8
            + self.metadata.encode_size()
    }
}

impl Read for AssetInfo {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            id: u64::read(buf)?,
            issuer: Address::read(buf)?,
            symbol: read_str(buf, ASSET_SYMBOL_LEN_MAX)?,
            name: read_str(buf, ASSET_NAME_LEN_MAX)?,
            decimals: u8::read(buf)?,
            max_supply: Option::<u64>::read(buf)?,
            supply: u64::read(buf)?,
            metadata: read_bytes(buf, ASSET_METADATA_LEN_MAX)?,
        })
    }
}

impl Write for Nft {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.owner.write(buf);
        self.minter.write(buf);
        self.metadata_hash.write(buf);
    }
}

impl FixedSize for Nft {
    const SIZE: usize = 96;
}

impl Read for Nft {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            owner: Address::read(buf)?,
            minter: Address::read(buf)?,
            metadata_hash: Hash::read(buf)?,
        })
    }
}

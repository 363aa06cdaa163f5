//! Calls of the bank module: the native token, user-issued fungible assets and
//! non-fungible tokens.

#[cfg(feature = "std")]
pub mod keys;
#[cfg(feature = "std")]
pub mod state;

use crate::{
    Amount,
    address::Address,
    codec::{read_bytes, read_str, str_size, write_str},
    error::ErrorCode,
    hash::Hash,
    limits::*,
};
use alloc::{string::String, vec::Vec};
use commonware_codec::{Buf, EncodeSize, Error, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};

/// Identifies a user-issued fungible asset (assigned in creation order, from 1).
pub type AssetId = u64;
/// Identifies a non-fungible token (assigned in mint order, from 1).
pub type NftId = u64;

/// A call to the bank module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum BankCall {
    /// Move native tokens from the signer to `to`.
    Transfer {
        /// Recipient.
        to: Address,
        /// Amount in the smallest unit.
        amount: Amount,
    },
    /// Create a fungible asset with the signer as issuer.
    CreateAsset {
        /// Ticker, 1-12 of `A-Z0-9`.
        symbol: String,
        /// Human name, 1-64 bytes.
        name: String,
        /// Decimal places for display (at most 18).
        decimals: u8,
        /// Maximum supply in the smallest unit, if capped.
        max_supply: Option<Amount>,
        /// Free-form metadata (a URI or content hash), at most 256 bytes.
        #[serde(with = "crate::codec::hex_bytes", default)]
        #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::hex_bytes))]
        metadata: Vec<u8>,
    },
    /// Mint units of an asset to `to` (issuer only).
    MintAsset {
        /// The asset.
        asset: AssetId,
        /// Recipient.
        to: Address,
        /// Amount in the smallest unit.
        amount: Amount,
    },
    /// Move units of an asset from the signer to `to`.
    TransferAsset {
        /// The asset.
        asset: AssetId,
        /// Recipient.
        to: Address,
        /// Amount in the smallest unit.
        amount: Amount,
    },
    /// Destroy units of an asset the signer holds.
    BurnAsset {
        /// The asset.
        asset: AssetId,
        /// Amount in the smallest unit.
        amount: Amount,
    },
    /// Mint a non-fungible token to `to`, committing to its metadata by hash.
    MintNft {
        /// First owner.
        to: Address,
        /// Hash of the token's metadata document.
        metadata_hash: Hash,
    },
    /// Give a token the signer owns to `to`.
    TransferNft {
        /// The token.
        id: NftId,
        /// New owner.
        to: Address,
    },
    /// Destroy a token the signer owns.
    BurnNft {
        /// The token.
        id: NftId,
    },
}

impl crate::call::ModuleCall for BankCall {
    const MODULE: &'static str = "bank";
    const TAG: u8 = 1;
    const ERRORS: core::ops::RangeInclusive<u16> = 300..=309;

    /// Stateless validity: amounts non-zero, names and metadata within bounds.
    fn check(&self) -> Result<(), ErrorCode> {
        let ok = match self {
            Self::Transfer { amount, .. }
            | Self::MintAsset { amount, .. }
            | Self::TransferAsset { amount, .. }
            | Self::BurnAsset { amount, .. } => *amount > 0,
            Self::CreateAsset { symbol, name, decimals, max_supply, metadata } => {
                valid_symbol(symbol)
                    && !name.is_empty()
                    && name.len() <= ASSET_NAME_LEN_MAX
                    && *decimals <= ASSET_DECIMALS_MAX
                    && max_supply.is_none_or(|m| m > 0)
                    && metadata.len() <= ASSET_METADATA_LEN_MAX
            }
            Self::MintNft { .. } | Self::TransferNft { .. } | Self::BurnNft { .. } => true,
        };
        if ok { Ok(()) } else { Err(ErrorCode::InvalidCall) }
    }

    fn native_spend(&self) -> u128 {
        match self {
            Self::Transfer { amount, .. } => u128::from(*amount),
            _ => 0,
        }
    }
}

/// Whether `symbol` is a valid asset ticker: 1-12 of `A-Z0-9`.
pub fn valid_symbol(symbol: &str) -> bool {
    !symbol.is_empty()
        && symbol.len() <= ASSET_SYMBOL_LEN_MAX
        && symbol.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

impl Write for BankCall {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        match self {
            Self::Transfer { to, amount } => {
                0u8.write(buf);
                to.write(buf);
                amount.write(buf);
            }
            Self::CreateAsset { symbol, name, decimals, max_supply, metadata } => {
                1u8.write(buf);
                write_str(symbol, buf);
                write_str(name, buf);
                decimals.write(buf);
                max_supply.write(buf);
                metadata.write(buf);
            }
            Self::MintAsset { asset, to, amount } => {
                2u8.write(buf);
                asset.write(buf);
                to.write(buf);
                amount.write(buf);
            }
            Self::TransferAsset { asset, to, amount } => {
                3u8.write(buf);
                asset.write(buf);
                to.write(buf);
                amount.write(buf);
            }
            Self::BurnAsset { asset, amount } => {
                4u8.write(buf);
                asset.write(buf);
                amount.write(buf);
            }
            Self::MintNft { to, metadata_hash } => {
                5u8.write(buf);
                to.write(buf);
                metadata_hash.write(buf);
            }
            Self::TransferNft { id, to } => {
                6u8.write(buf);
                id.write(buf);
                to.write(buf);
            }
            Self::BurnNft { id } => {
                7u8.write(buf);
                id.write(buf);
            }
        }
    }
}

impl EncodeSize for BankCall {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Transfer { .. } => 32 + 8,
            Self::CreateAsset { symbol, name, max_supply, metadata, .. } => {
                str_size(symbol)
                    + str_size(name)
                    + 1
                    + max_supply.encode_size()
                    + metadata.encode_size()
            }
            Self::MintAsset { .. } | Self::TransferAsset { .. } => 8 + 32 + 8,
            Self::BurnAsset { .. } => 8 + 8,
            Self::MintNft { .. } => 32 + 32,
            Self::TransferNft { .. } => 8 + 32,
            Self::BurnNft { .. } => 8,
        }
    }
}

impl Read for BankCall {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(match u8::read(buf)? {
            0 => Self::Transfer { to: Address::read(buf)?, amount: u64::read(buf)? },
            1 => Self::CreateAsset {
                symbol: read_str(buf, ASSET_SYMBOL_LEN_MAX)?,
                name: read_str(buf, ASSET_NAME_LEN_MAX)?,
                decimals: u8::read(buf)?,
                max_supply: Option::<u64>::read(buf)?,
                metadata: read_bytes(buf, ASSET_METADATA_LEN_MAX)?,
            },
            2 => Self::MintAsset {
                asset: u64::read(buf)?,
                to: Address::read(buf)?,
                amount: u64::read(buf)?,
            },
            3 => Self::TransferAsset {
                asset: u64::read(buf)?,
                to: Address::read(buf)?,
                amount: u64::read(buf)?,
            },
            4 => Self::BurnAsset { asset: u64::read(buf)?, amount: u64::read(buf)? },
            5 => Self::MintNft { to: Address::read(buf)?, metadata_hash: Hash::read(buf)? },
            6 => Self::TransferNft { id: u64::read(buf)?, to: Address::read(buf)? },
            7 => Self::BurnNft { id: u64::read(buf)? },
            tag => return Err(Error::InvalidEnum(tag)),
        })
    }
}

/// What the bank module's calls did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum BankEvent {
    /// Native tokens moved.
    Transfer {
        /// Payer.
        from: Address,
        /// Payee.
        to: Address,
        /// Amount.
        amount: Amount,
    },
    /// An asset was created.
    AssetCreated {
        /// Its new id.
        asset: AssetId,
        /// Its issuer.
        issuer: Address,
    },
    /// Asset units were minted.
    AssetMinted {
        /// The asset.
        asset: AssetId,
        /// Recipient.
        to: Address,
        /// Amount.
        amount: Amount,
    },
    /// Asset units moved.
    AssetTransferred {
        /// The asset.
        asset: AssetId,
        /// Payer.
        from: Address,
        /// Payee.
        to: Address,
        /// Amount.
        amount: Amount,
    },
    /// Asset units were destroyed.
    AssetBurned {
        /// The asset.
        asset: AssetId,
        /// Holder.
        from: Address,
        /// Amount.
        amount: Amount,
    },
    /// A token was minted.
    NftMinted {
        /// Its new id.
        id: NftId,
        /// First owner.
        to: Address,
    },
    /// A token changed hands.
    NftTransferred {
        /// The token.
        id: NftId,
        /// Previous owner.
        from: Address,
        /// New owner.
        to: Address,
    },
    /// A token was destroyed.
    NftBurned {
        /// The token.
        id: NftId,
    },
}

impl Write for BankEvent {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        match self {
            Self::Transfer { from, to, amount } => {
                0u8.write(buf);
                from.write(buf);
                to.write(buf);
                amount.write(buf);
            }
            Self::AssetCreated { asset, issuer } => {
                1u8.write(buf);
                asset.write(buf);
                issuer.write(buf);
            }
            Self::AssetMinted { asset, to, amount } => {
                2u8.write(buf);
                asset.write(buf);
                to.write(buf);
                amount.write(buf);
            }
            Self::AssetTransferred { asset, from, to, amount } => {
                3u8.write(buf);
                asset.write(buf);
                from.write(buf);
                to.write(buf);
                amount.write(buf);
            }
            Self::AssetBurned { asset, from, amount } => {
                4u8.write(buf);
                asset.write(buf);
                from.write(buf);
                amount.write(buf);
            }
            Self::NftMinted { id, to } => {
                5u8.write(buf);
                id.write(buf);
                to.write(buf);
            }
            Self::NftTransferred { id, from, to } => {
                6u8.write(buf);
                id.write(buf);
                from.write(buf);
                to.write(buf);
            }
            Self::NftBurned { id } => {
                7u8.write(buf);
                id.write(buf);
            }
        }
    }
}

impl EncodeSize for BankEvent {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Transfer { .. } => 32 + 32 + 8,
            Self::AssetCreated { .. } => 8 + 32,
            Self::AssetMinted { .. } => 8 + 32 + 8,
            Self::AssetTransferred { .. } => 8 + 32 + 32 + 8,
            Self::AssetBurned { .. } => 8 + 32 + 8,
            Self::NftMinted { .. } => 8 + 32,
            Self::NftTransferred { .. } => 8 + 32 + 32,
            Self::NftBurned { .. } => 8,
        }
    }
}

impl Read for BankEvent {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(match u8::read(buf)? {
            0 => Self::Transfer {
                from: Address::read(buf)?,
                to: Address::read(buf)?,
                amount: u64::read(buf)?,
            },
            1 => Self::AssetCreated { asset: u64::read(buf)?, issuer: Address::read(buf)? },
            2 => Self::AssetMinted {
                asset: u64::read(buf)?,
                to: Address::read(buf)?,
                amount: u64::read(buf)?,
            },
            3 => Self::AssetTransferred {
                asset: u64::read(buf)?,
                from: Address::read(buf)?,
                to: Address::read(buf)?,
                amount: u64::read(buf)?,
            },
            4 => Self::AssetBurned {
                asset: u64::read(buf)?,
                from: Address::read(buf)?,
                amount: u64::read(buf)?,
            },
            5 => Self::NftMinted { id: u64::read(buf)?, to: Address::read(buf)? },
            6 => Self::NftTransferred {
                id: u64::read(buf)?,
                from: Address::read(buf)?,
                to: Address::read(buf)?,
            },
            7 => Self::NftBurned { id: u64::read(buf)? },
            tag => return Err(Error::InvalidEnum(tag)),
        })
    }
}

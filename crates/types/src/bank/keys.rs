//! Every storage key of the bank module.

use crate::{
    Address,
    bank::{AssetId, NftId},
};
use crate::{
    describe::{KnownKey, decode_json},
    state::{Key, key},
};

/// An account: nonce and native balance.
pub fn account(address: &Address) -> Key {
    key(&[b"bank/account/", &address.0])
}

/// Total native supply (fixed at genesis).
pub fn native_supply() -> Key {
    key(&[b"bank/native-supply"])
}

/// The id the next created asset gets.
pub fn next_asset_id() -> Key {
    key(&[b"bank/next-asset-id"])
}

/// An asset's description and supply.
pub fn asset(id: AssetId) -> Key {
    key(&[b"bank/asset/", &id.to_be_bytes()])
}

/// A holder's balance of an asset.
pub fn asset_balance(id: AssetId, holder: &Address) -> Key {
    key(&[b"bank/asset-balance/", &id.to_be_bytes(), &holder.0])
}

/// The id the next minted token gets.
pub fn next_nft_id() -> Key {
    key(&[b"bank/next-nft-id"])
}

/// A non-fungible token.
pub fn nft(id: NftId) -> Key {
    key(&[b"bank/nft/", &id.to_be_bytes()])
}

/// The name of an account's key in proofs: `bank/account/<address>`.
pub fn describe_account(address: &Address) -> String {
    format!("bank/account/{address}")
}

/// The key a description of one of this module's keys names, with its value's decoder.
pub fn described(parts: &[&str]) -> Option<KnownKey> {
    Some(match parts {
        ["bank", "account", a] => KnownKey {
            key: account(&a.parse().ok()?),
            decode: decode_json::<super::state::Account>,
        },
        _ => return None,
    })
}

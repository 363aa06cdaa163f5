//! The bank: the native token, user-issued fungible assets and non-fungible tokens, fee
//! collection and supply accounting.
//!
//! Invariants (asserted by the tests after every block):
//! - the native supply is fixed at genesis and equals the sum of all native balances (fees
//!   move to the fee pool account, they are not destroyed);
//! - each asset's `supply` equals the sum of its holders' balances and never exceeds its cap.

pub use machina_types::bank::{keys, state};
#[cfg(test)]
mod tests;

use super::ownership;
use crate::{
    genesis::Genesis,
    module::{Ctx, ExecResult, Module},
    state::{Key, Missing},
};
use machina_types::bank::BankEvent;
use machina_types::{
    Address, Amount, BankCall, ErrorCode, Event, Hash,
    bank::{AssetId, NftId},
};
use state::{Account, AssetInfo, Nft};

/// The account that collects transaction fees.
pub fn fee_pool() -> Address {
    Address::module("fee-pool")
}

/// The bank module.
pub struct Bank;

impl Module for Bank {
    type Call = BankCall;

    fn genesis_hint(genesis: &Genesis, keys: &mut Vec<Key>) {
        keys.extend(genesis.accounts.iter().map(|a| self::keys::account(&a.address)));
        keys.push(self::keys::native_supply());
    }

    /// Credits the genesis allocations and records the native supply.
    fn genesis(ctx: &mut Ctx<'_>, genesis: &Genesis) -> ExecResult {
        let mut supply: Amount = 0;
        for account in &genesis.accounts {
            credit(ctx, &account.address, account.balance)?;
            supply = supply.checked_add(account.balance).ok_or(ErrorCode::Overflow)?;
        }
        ctx.put(keys::native_supply(), &supply);
        Ok(())
    }

    fn hint(call: &BankCall, signer: &Address, keys: &mut Vec<Key>) {
        keys.push(keys::account(signer));
        match call {
            BankCall::Transfer { to, .. } => keys.push(keys::account(to)),
            BankCall::CreateAsset { .. } => keys.push(keys::next_asset_id()),
            BankCall::MintAsset { asset, to, .. } => {
                keys.extend([keys::asset(*asset), keys::asset_balance(*asset, to)])
            }
            BankCall::TransferAsset { asset, to, .. } => {
                keys.extend([keys::asset_balance(*asset, signer), keys::asset_balance(*asset, to)])
            }
            BankCall::BurnAsset { asset, .. } => {
                keys.extend([keys::asset(*asset), keys::asset_balance(*asset, signer)])
            }
            BankCall::MintNft { .. } => keys.push(keys::next_nft_id()),
            BankCall::TransferNft { id, .. } | BankCall::BurnNft { id } => {
                keys.push(keys::nft(*id))
            }
        }
    }

    fn execute(ctx: &mut Ctx<'_>, call: &BankCall) -> ExecResult {
        let signer = ctx.signer();
        match call {
            BankCall::Transfer { to, amount } => transfer(ctx, &signer, to, *amount),
            BankCall::CreateAsset { symbol, name, decimals, max_supply, metadata } => {
                let info = AssetInfo {
                    id: 0,
                    issuer: signer,
                    symbol: symbol.clone(),
                    name: name.clone(),
                    decimals: *decimals,
                    max_supply: *max_supply,
                    supply: 0,
                    metadata: metadata.clone(),
                };
                create_asset(ctx, info).map(|_| ())
            }
            BankCall::MintAsset { asset, to, amount } => {
                refuse_shares(ctx, *asset)?;
                if asset_info(ctx, *asset)?.issuer != signer {
                    return Err(ErrorCode::NotIssuer.into());
                }
                issue_asset(ctx, *asset, to, *amount)
            }
            BankCall::TransferAsset { asset, to, amount } => {
                // A machine's shares carry revenue and votes: their module moves them.
                match ownership::machine_of_asset(ctx, *asset)? {
                    Some(machine) => ownership::transfer_shares(ctx, machine, &signer, to, *amount),
                    None => move_asset(ctx, *asset, &signer, to, *amount),
                }
            }
            BankCall::BurnAsset { asset, amount } => {
                refuse_shares(ctx, *asset)?;
                burn_asset(ctx, *asset, *amount)
            }
            BankCall::MintNft { to, metadata_hash } => mint_nft(ctx, to, metadata_hash).map(drop),
            BankCall::TransferNft { id, to } => {
                owned_nft(ctx, *id)?;
                give_nft(ctx, *id, to)
            }
            BankCall::BurnNft { id } => {
                owned_nft(ctx, *id)?;
                ownership::before_nft_burn(ctx, *id)?;
                ctx.delete(keys::nft(*id));
                ctx.emit(Event::Bank(BankEvent::NftBurned { id: *id }))
            }
        }
    }
}

/// Loads an account (the default if absent).
pub fn account(ctx: &Ctx<'_>, address: &Address) -> Result<Account, Missing> {
    Ok(ctx.get(&keys::account(address))?.unwrap_or_default())
}

/// Stores an account, deleting it when it holds nothing.
pub fn store_account(ctx: &mut Ctx<'_>, address: &Address, account: &Account) {
    if account.is_empty() {
        ctx.delete(keys::account(address));
    } else {
        ctx.put(keys::account(address), account);
    }
}

/// Adds native tokens to an account.
pub fn credit(ctx: &mut Ctx<'_>, to: &Address, amount: Amount) -> ExecResult {
    let mut acct = account(ctx, to)?;
    acct.balance = acct.balance.checked_add(amount).ok_or(ErrorCode::Overflow)?;
    store_account(ctx, to, &acct);
    ctx.note_native_flow(i128::from(amount));
    Ok(())
}

/// Removes native tokens from an account.
pub fn debit(ctx: &mut Ctx<'_>, from: &Address, amount: Amount) -> ExecResult {
    let mut acct = account(ctx, from)?;
    acct.balance = acct.balance.checked_sub(amount).ok_or(ErrorCode::InsufficientFunds)?;
    store_account(ctx, from, &acct);
    ctx.note_native_flow(-i128::from(amount));
    Ok(())
}

/// Moves native tokens and records the event.
pub fn transfer(ctx: &mut Ctx<'_>, from: &Address, to: &Address, amount: Amount) -> ExecResult {
    debit(ctx, from, amount)?;
    credit(ctx, to, amount)?;
    ctx.emit(Event::Bank(BankEvent::Transfer { from: *from, to: *to, amount }))
}

/// Why the envelope of a transaction cannot be charged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChargeError {
    /// The transaction cannot be included (nonce or fee).
    Reject(ErrorCode),
    /// A key is not loaded.
    Missing(Key),
}

/// Checks the nonce, takes the fee to the fee pool and advances the nonce.
pub fn charge(
    ctx: &mut Ctx<'_>,
    signer: &Address,
    nonce: u64,
    fee: Amount,
) -> Result<(), ChargeError> {
    let mut acct = account(ctx, signer).map_err(|m| ChargeError::Missing(m.0))?;
    if nonce < acct.nonce {
        return Err(ChargeError::Reject(ErrorCode::NonceTooLow));
    }
    if nonce > acct.nonce {
        return Err(ChargeError::Reject(ErrorCode::NonceTooHigh));
    }
    acct.balance =
        acct.balance.checked_sub(fee).ok_or(ChargeError::Reject(ErrorCode::CannotPayFee))?;
    acct.nonce += 1;
    store_account(ctx, signer, &acct);
    ctx.note_native_flow(-i128::from(fee));
    credit(ctx, &fee_pool(), fee).map_err(|e| match e {
        crate::module::ExecError::Missing(k) => ChargeError::Missing(k),
        crate::module::ExecError::Fail(c) => ChargeError::Reject(c),
    })
}

fn next_id(ctx: &mut Ctx<'_>, counter: Key) -> ExecResult<u64> {
    let id = ctx.get::<u64>(&counter)?.unwrap_or(1);
    ctx.put(counter, &(id.checked_add(1).ok_or(ErrorCode::Overflow)?));
    Ok(id)
}

/// Creates an asset (its id is assigned here) and records the event; returns its id.
pub fn create_asset(ctx: &mut Ctx<'_>, mut info: AssetInfo) -> ExecResult<AssetId> {
    let id = next_id(ctx, keys::next_asset_id())?;
    info.id = id;
    let issuer = info.issuer;
    ctx.put(keys::asset(id), &info);
    ctx.emit(Event::Bank(BankEvent::AssetCreated { asset: id, issuer }))?;
    Ok(id)
}

/// A machine's shares are neither minted nor burned after tokenization.
fn refuse_shares(ctx: &Ctx<'_>, id: AssetId) -> ExecResult {
    match ownership::machine_of_asset(ctx, id)? {
        Some(_) => Err(ErrorCode::SharesFixed.into()),
        None => Ok(()),
    }
}

/// Moves units of an asset and records the event.
pub fn move_asset(
    ctx: &mut Ctx<'_>,
    id: AssetId,
    from: &Address,
    to: &Address,
    amount: Amount,
) -> ExecResult {
    debit_asset(ctx, id, from, amount)?;
    credit_asset(ctx, id, to, amount)?;
    ctx.emit(Event::Bank(BankEvent::AssetTransferred { asset: id, from: *from, to: *to, amount }))
}

/// Moves `amount` of `asset` (the native token if `None`) and records the event.
pub fn pay(
    ctx: &mut Ctx<'_>,
    asset: Option<AssetId>,
    from: &Address,
    to: &Address,
    amount: Amount,
) -> ExecResult {
    match asset {
        None => transfer(ctx, from, to, amount),
        Some(id) => move_asset(ctx, id, from, to, amount),
    }
}

/// The asset `id`.
pub fn asset_info(ctx: &Ctx<'_>, id: AssetId) -> ExecResult<AssetInfo> {
    Ok(ctx.get(&keys::asset(id))?.ok_or(ErrorCode::UnknownAsset)?)
}

/// Units of asset `id` that `holder` holds.
pub fn asset_balance(ctx: &Ctx<'_>, id: AssetId, holder: &Address) -> Result<Amount, Missing> {
    Ok(ctx.get(&keys::asset_balance(id, holder))?.unwrap_or(0))
}

fn set_asset_balance(ctx: &mut Ctx<'_>, id: AssetId, holder: &Address, amount: Amount) {
    let key = keys::asset_balance(id, holder);
    if amount == 0 { ctx.delete(key) } else { ctx.put(key, &amount) }
}

fn credit_asset(ctx: &mut Ctx<'_>, id: AssetId, to: &Address, amount: Amount) -> ExecResult {
    let balance = asset_balance(ctx, id, to)?.checked_add(amount).ok_or(ErrorCode::Overflow)?;
    set_asset_balance(ctx, id, to, balance);
    Ok(())
}

fn debit_asset(ctx: &mut Ctx<'_>, id: AssetId, from: &Address, amount: Amount) -> ExecResult {
    let held = asset_balance(ctx, id, from)?;
    if held == 0 {
        // Distinguish "no such asset" from "none held" for a clearer error.
        asset_info(ctx, id)?;
    }
    let balance = held.checked_sub(amount).ok_or(ErrorCode::InsufficientFunds)?;
    set_asset_balance(ctx, id, from, balance);
    Ok(())
}

/// Mints units of asset `id` to `to` within its cap (the caller checked who may) and
/// records the event.
pub fn issue_asset(ctx: &mut Ctx<'_>, id: AssetId, to: &Address, amount: Amount) -> ExecResult {
    let mut info = asset_info(ctx, id)?;
    info.supply = info.supply.checked_add(amount).ok_or(ErrorCode::Overflow)?;
    if info.max_supply.is_some_and(|cap| info.supply > cap) {
        return Err(ErrorCode::SupplyCapExceeded.into());
    }
    ctx.put(keys::asset(id), &info);
    credit_asset(ctx, id, to, amount)?;
    ctx.emit(Event::Bank(BankEvent::AssetMinted { asset: id, to: *to, amount }))
}

fn burn_asset(ctx: &mut Ctx<'_>, id: AssetId, amount: Amount) -> ExecResult {
    let signer = ctx.signer();
    let mut info = asset_info(ctx, id)?;
    debit_asset(ctx, id, &signer, amount)?;
    info.supply = info.supply.checked_sub(amount).expect("asset supply below a holder's balance");
    ctx.put(keys::asset(id), &info);
    ctx.emit(Event::Bank(BankEvent::AssetBurned { asset: id, from: signer, amount }))
}

/// Mints an NFT to `to` with the signer as minter and records the event; returns its id.
pub fn mint_nft(ctx: &mut Ctx<'_>, to: &Address, metadata_hash: &Hash) -> ExecResult<NftId> {
    let id = next_id(ctx, keys::next_nft_id())?;
    let nft = Nft { owner: *to, minter: ctx.signer(), metadata_hash: *metadata_hash };
    ctx.put(keys::nft(id), &nft);
    ctx.emit(Event::Bank(BankEvent::NftMinted { id, to: *to }))?;
    Ok(id)
}

/// The NFT `id`.
pub fn nft(ctx: &Ctx<'_>, id: NftId) -> ExecResult<Nft> {
    Ok(ctx.get(&keys::nft(id))?.ok_or(ErrorCode::UnknownNft)?)
}

/// Gives NFT `id` to `to` (the caller checked who may) and records the event. A usage
/// right's listing does not follow its token.
pub fn give_nft(ctx: &mut Ctx<'_>, id: NftId, to: &Address) -> ExecResult {
    let mut token = nft(ctx, id)?;
    let from = token.owner;
    token.owner = *to;
    ctx.put(keys::nft(id), &token);
    ownership::after_nft_transfer(ctx, id)?;
    ctx.emit(Event::Bank(BankEvent::NftTransferred { id, from, to: *to }))
}

/// The NFT `id`, which the signer must own.
pub fn owned_nft(ctx: &Ctx<'_>, id: NftId) -> ExecResult<Nft> {
    let token = nft(ctx, id)?;
    if token.owner != ctx.signer() {
        return Err(ErrorCode::NotOwner.into());
    }
    Ok(token)
}

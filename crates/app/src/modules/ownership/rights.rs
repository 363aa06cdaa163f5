//! Usage rights and data assets: NFTs carrying the right to use a device's resource in a
//! window, or a stream's data rights.

use super::*;
use commonware_codec::Encode;
use machina_types::{
    Hash,
    bank::NftId,
    market::ResourceKind,
    ownership::state::{DataAsset, DeviceRights, RIGHTS_PER_DEVICE_MAX, UsageRight},
    reading::StreamId,
};

/// The usage right `nft`.
pub fn right(ctx: &Ctx<'_>, nft: NftId) -> ExecResult<UsageRight> {
    Ok(ctx.get(&keys::right(nft))?.ok_or(ErrorCode::UnknownRight)?)
}

/// What a usage right's minting names.
pub(super) struct Terms {
    pub(super) device: DeviceId,
    pub(super) kind: ResourceKind,
    pub(super) starts_ms: u64,
    pub(super) ends_ms: u64,
    pub(super) units: u64,
    pub(super) to: Address,
    pub(super) price: Option<Amount>,
}

pub(super) fn mint(ctx: &mut Ctx<'_>, t: Terms) -> ExecResult {
    identity::owned_device(ctx, &t.device)?;
    let now = ctx.env().timestamp_ms;
    if t.ends_ms <= now {
        return Err(ErrorCode::RightEnded.into());
    }
    // Rights that ended reserve nothing: forget them.
    let list: DeviceRights = ctx.get(&keys::device_rights(&t.device))?.unwrap_or_default();
    let mut rights = Vec::with_capacity(list.rights.len() + 1);
    for id in list.rights {
        if right(ctx, id)?.ends_ms > now {
            rights.push(id);
        }
    }
    if rights.len() >= RIGHTS_PER_DEVICE_MAX {
        return Err(ErrorCode::TooManyRights.into());
    }
    let mut r = UsageRight {
        nft: 0,
        device: t.device,
        kind: t.kind,
        starts_ms: t.starts_ms,
        ends_ms: t.ends_ms,
        units: t.units,
        used: 0,
        price: t.price,
    };
    // The token commits to the right's terms.
    let nft = bank::mint_nft(ctx, &t.to, &Hash::of(&[&r.encode()]))?;
    r.nft = nft;
    ctx.put(keys::right(nft), &r);
    rights.push(nft);
    ctx.put(keys::device_rights(&t.device), &DeviceRights { rights });
    emit(ctx, OwnershipEvent::RightMinted { right: nft, device: t.device, to: t.to })?;
    match t.price {
        Some(price) => emit(ctx, OwnershipEvent::RightListed { right: nft, price: Some(price) }),
        None => Ok(()),
    }
}

/// A right the signer holds that has not ended.
fn held(ctx: &Ctx<'_>, nft: NftId) -> ExecResult<UsageRight> {
    bank::owned_nft(ctx, nft)?;
    let r = right(ctx, nft)?;
    if r.ends_ms <= ctx.env().timestamp_ms {
        return Err(ErrorCode::RightEnded.into());
    }
    Ok(r)
}

pub(super) fn list(ctx: &mut Ctx<'_>, nft: NftId, price: Option<Amount>) -> ExecResult {
    let mut r = held(ctx, nft)?;
    r.price = price;
    ctx.put(keys::right(nft), &r);
    emit(ctx, OwnershipEvent::RightListed { right: nft, price })
}

pub(super) fn buy(ctx: &mut Ctx<'_>, nft: NftId, max_price: Amount) -> ExecResult {
    let buyer = ctx.signer();
    let r = right(ctx, nft)?;
    if r.ends_ms <= ctx.env().timestamp_ms {
        return Err(ErrorCode::RightEnded.into());
    }
    let price = r.price.filter(|p| *p <= max_price).ok_or(ErrorCode::NotForSale)?;
    let seller = bank::nft(ctx, nft)?.owner;
    bank::transfer(ctx, &buyer, &seller, price)?;
    // Giving the token clears its listing.
    bank::give_nft(ctx, nft, &buyer)?;
    emit(ctx, OwnershipEvent::RightSold { right: nft, from: seller, to: buyer, price })
}

pub(super) fn use_right(ctx: &mut Ctx<'_>, nft: NftId, units: u64) -> ExecResult {
    let holder = ctx.signer();
    let mut r = held(ctx, nft)?;
    if ctx.env().timestamp_ms < r.starts_ms {
        return Err(ErrorCode::RightOutsideWindow.into());
    }
    let used = r.used.checked_add(units).filter(|u| *u <= r.units);
    r.used = used.ok_or(ErrorCode::RightExhausted)?;
    ctx.put(keys::right(nft), &r);
    emit(ctx, OwnershipEvent::RightUsed { right: nft, device: r.device, holder, units })
}

/// Units of `device`'s `kind` its usage rights keep from the market now.
pub fn reserved(ctx: &Ctx<'_>, device: &DeviceId, kind: &ResourceKind) -> ExecResult<u64> {
    let Some(list) = ctx.get::<DeviceRights>(&keys::device_rights(device))? else {
        return Ok(0);
    };
    let now = ctx.env().timestamp_ms;
    let mut total: u64 = 0;
    for id in list.rights {
        let r = right(ctx, id)?;
        if r.kind == *kind {
            total = total.saturating_add(r.reserved(now));
        }
    }
    Ok(total)
}

/// A usage right's listing does not follow its token to a new holder.
pub fn after_nft_transfer(ctx: &mut Ctx<'_>, nft: NftId) -> ExecResult {
    if let Some(mut r) = ctx.get::<UsageRight>(&keys::right(nft))?
        && r.price.is_some()
    {
        r.price = None;
        ctx.put(keys::right(nft), &r);
    }
    Ok(())
}

/// A token carrying a usage right that has not ended, or a stream's data rights, stays.
pub fn before_nft_burn(ctx: &Ctx<'_>, nft: NftId) -> ExecResult {
    let live = ctx
        .get::<UsageRight>(&keys::right(nft))?
        .is_some_and(|r| r.ends_ms > ctx.env().timestamp_ms);
    if live || ctx.get::<DataAsset>(&keys::data_asset_of(nft))?.is_some() {
        return Err(ErrorCode::TokenBound.into());
    }
    Ok(())
}

pub(super) fn mint_data_asset(
    ctx: &mut Ctx<'_>,
    device: &DeviceId,
    stream: StreamId,
    to: &Address,
) -> ExecResult {
    identity::owned_device(ctx, device)?;
    if ctx.get::<NftId>(&keys::data_asset(device, stream))?.is_some() {
        return Err(ErrorCode::DataAssetExists.into());
    }
    let terms = Hash::of(&[b"machina/data-asset/", &device.0, &stream.to_be_bytes()]);
    let nft = bank::mint_nft(ctx, to, &terms)?;
    ctx.put(keys::data_asset(device, stream), &nft);
    ctx.put(keys::data_asset_of(nft), &DataAsset { device: *device, stream });
    emit(ctx, OwnershipEvent::DataAssetMinted { asset: nft, device: *device, stream, to: *to })
}

/// Who holds the data rights of a device's stream: its data asset's holder, else the
/// device's owner.
pub fn data_rights_holder(
    ctx: &Ctx<'_>,
    device: &DeviceId,
    stream: StreamId,
) -> ExecResult<Address> {
    match ctx.get::<NftId>(&keys::data_asset(device, stream))? {
        Some(nft) => Ok(bank::nft(ctx, nft)?.owner),
        None => Ok(identity::device(ctx, device)?.owner),
    }
}

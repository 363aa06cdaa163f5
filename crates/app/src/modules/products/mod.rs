//! The products module: data products, their subscriptions (the consent the chain records)
//! and the stream keys wrapped for subscribers (see [`machina_types::products`] for the
//! rules).
//!
//! Invariants: a stream is in at most one listed product, and that product's streams name
//! it (`StreamKeys::product`); a product lists at most 64 subscriptions, each one of its
//! own; a key epoch never goes back.

pub use machina_types::products::{keys, state};
#[cfg(test)]
mod tests;

use super::{bank, channels, identity, market, ownership};
use crate::{
    module::{Ctx, ExecResult, Module},
    state::Key,
};
use machina_types::{
    Address, DeviceId, ErrorCode, Event, ProductsCall,
    channels::state::{Mode, Status},
    limits::PRODUCT_SUBSCRIBERS_MAX,
    products::{Access, KeyGrant, Payment, ProductId, ProductsEvent, SubscriptionId, Terms},
    reading::StreamId,
};
use state::{Counters, Product, StreamKeys, Subscriber, Subscription, SubscriptionStatus};

/// The products module.
pub struct Products;

impl Module for Products {
    type Call = ProductsCall;

    fn hint(call: &ProductsCall, signer: &Address, keys: &mut Vec<Key>) {
        match call {
            ProductsCall::List { device, streams, .. } => {
                keys.extend([self::keys::counters(), identity::keys::device(device)]);
                for s in streams {
                    keys.push(self::keys::stream(device, *s));
                    keys.push(ownership::keys::data_asset(device, *s));
                }
            }
            ProductsCall::Subscribe { product, payment, .. } => {
                keys.extend([
                    self::keys::counters(),
                    self::keys::product(*product),
                    bank::keys::account(signer),
                ]);
                if let Payment::Channel { channel } = payment {
                    keys.push(channels::keys::channel(*channel));
                }
            }
            ProductsCall::Cancel { subscription } | ProductsCall::Revoke { subscription } => {
                keys.push(self::keys::subscription(*subscription))
            }
            ProductsCall::Delist { product }
            | ProductsCall::Rotate { product }
            | ProductsCall::PublishKeys { product, .. } => keys.push(self::keys::product(*product)),
        }
    }

    fn execute(ctx: &mut Ctx<'_>, call: &ProductsCall) -> ExecResult {
        match call {
            ProductsCall::List { device, streams, terms } => list(ctx, device, streams, terms),
            ProductsCall::Delist { product } => delist(ctx, *product),
            ProductsCall::Subscribe { product, payment, encryption_key } => {
                subscribe(ctx, *product, *payment, *encryption_key)
            }
            ProductsCall::Cancel { subscription } => end(ctx, *subscription, false),
            ProductsCall::Revoke { subscription } => end(ctx, *subscription, true),
            ProductsCall::Rotate { product } => {
                let p = sellers(ctx, *product)?;
                rotate(ctx, &p)
            }
            ProductsCall::PublishKeys { product, keys } => publish(ctx, *product, keys),
        }
    }
}

fn emit(ctx: &mut Ctx<'_>, event: ProductsEvent) -> ExecResult {
    ctx.emit(Event::Products(event))
}

/// The product `id`.
pub fn product(ctx: &Ctx<'_>, id: ProductId) -> ExecResult<Product> {
    Ok(ctx.get(&keys::product(id))?.ok_or(ErrorCode::UnknownProduct)?)
}

/// The product `id`, whose seller must be the signer.
fn sellers(ctx: &Ctx<'_>, id: ProductId) -> ExecResult<Product> {
    let p = product(ctx, id)?;
    if p.seller != ctx.signer() {
        return Err(ErrorCode::NotSeller.into());
    }
    Ok(p)
}

/// The subscription `id`.
pub fn subscription(ctx: &Ctx<'_>, id: SubscriptionId) -> ExecResult<Subscription> {
    Ok(ctx.get(&keys::subscription(id))?.ok_or(ErrorCode::UnknownSubscription)?)
}

fn stream_keys(ctx: &Ctx<'_>, device: &DeviceId, stream: StreamId) -> ExecResult<StreamKeys> {
    Ok(ctx.get(&keys::stream(device, stream))?.unwrap_or_default())
}

fn list(ctx: &mut Ctx<'_>, device: &DeviceId, streams: &[StreamId], terms: &Terms) -> ExecResult {
    let seller = ctx.signer();
    identity::device(ctx, device)?;
    if let Some(asset) = terms.asset {
        bank::asset_info(ctx, asset)?;
        if ownership::machine_of_asset(ctx, asset)?.is_some() {
            return Err(ErrorCode::SharesNotAccepted.into());
        }
    }
    let mut c: Counters = ctx.get(&keys::counters())?.unwrap_or_default();
    let id = c.product.max(1);
    c.product = id.checked_add(1).ok_or(ErrorCode::Overflow)?;
    for s in streams {
        if ownership::data_rights_holder(ctx, device, *s)? != seller {
            return Err(ErrorCode::NotDataRightsHolder.into());
        }
        let mut k = stream_keys(ctx, device, *s)?;
        if let Some(other) = k.product
            && product(ctx, other)?.listed
        {
            return Err(ErrorCode::StreamListed.into());
        }
        k.product = Some(id);
        ctx.put(keys::stream(device, *s), &k);
    }
    let p = Product {
        id,
        seller,
        device: *device,
        streams: streams.to_vec(),
        terms: terms.clone(),
        listed: true,
        subscribers: Vec::new(),
    };
    ctx.put(keys::counters(), &c);
    ctx.put(keys::product(id), &p);
    emit(ctx, ProductsEvent::Listed { product: id, seller, device: *device })
}

fn delist(ctx: &mut Ctx<'_>, id: ProductId) -> ExecResult {
    let mut p = sellers(ctx, id)?;
    if !p.listed {
        return Err(ErrorCode::ProductDelisted.into());
    }
    p.listed = false;
    for s in &p.streams {
        let mut k = stream_keys(ctx, &p.device, *s)?;
        k.product = None;
        ctx.put(keys::stream(&p.device, *s), &k);
    }
    ctx.put(keys::product(id), &p);
    emit(ctx, ProductsEvent::Delisted { product: id })
}

/// Whether `p`'s access policy admits `buyer`.
fn admits(ctx: &Ctx<'_>, p: &Product, buyer: &Address) -> ExecResult<bool> {
    Ok(match &p.terms.access {
        Access::Anyone {} => true,
        Access::AllowList { buyers } => buyers.contains(buyer),
        Access::Devices { min_reputation } => match identity::device_of_account(ctx, buyer)? {
            Some(d) => {
                identity::active_device(ctx, &d.id)?;
                market::reputation(&d) >= *min_reputation
            }
            None => false,
        },
    })
}

fn subscribe(
    ctx: &mut Ctx<'_>,
    id: ProductId,
    payment: Payment,
    encryption_key: [u8; 32],
) -> ExecResult {
    let mut p = product(ctx, id)?;
    if !p.listed {
        return Err(ErrorCode::ProductDelisted.into());
    }
    let buyer = ctx.signer();
    if !admits(ctx, &p, &buyer)? {
        return Err(ErrorCode::AccessDenied.into());
    }
    // The seller must still hold the data rights it sells.
    for s in &p.streams {
        if ownership::data_rights_holder(ctx, &p.device, *s)? != p.seller {
            return Err(ErrorCode::NotDataRightsHolder.into());
        }
    }
    let now = ctx.env().timestamp_ms;
    p.subscribers.retain(|s| s.until_ms > now);
    if p.subscribers.len() >= PRODUCT_SUBSCRIBERS_MAX {
        return Err(ErrorCode::ProductFull.into());
    }
    let (paid, until_ms) = match payment {
        Payment::Periods { periods } => {
            let Some(per) = p.terms.per_period else {
                return Err(ErrorCode::PaymentNotOffered.into());
            };
            let paid = per.price.checked_mul(u64::from(periods)).ok_or(ErrorCode::Overflow)?;
            let until = per
                .period_ms
                .checked_mul(u64::from(periods))
                .and_then(|ms| now.checked_add(ms))
                .ok_or(ErrorCode::Overflow)?;
            bank::pay(ctx, p.terms.asset, &buyer, &p.seller, paid)?;
            (paid, until)
        }
        Payment::Channel { channel } => {
            let Some(price) = p.terms.per_reading else {
                return Err(ErrorCode::PaymentNotOffered.into());
            };
            let c = channels::channel(ctx, channel)?;
            let fits = matches!(c.mode, Mode::Vouchers { .. })
                && c.status == (Status::Open {})
                && c.payer == buyer
                && c.payee == p.seller
                && c.asset == p.terms.asset;
            if !fits {
                return Err(ErrorCode::ChannelMismatch.into());
            }
            if c.held() < price {
                return Err(ErrorCode::ChannelUnfunded.into());
            }
            (0, u64::MAX)
        }
    };
    let mut first_epochs = Vec::with_capacity(p.streams.len());
    for s in &p.streams {
        first_epochs.push(stream_keys(ctx, &p.device, *s)?.epoch);
    }
    let mut c: Counters = ctx.get(&keys::counters())?.unwrap_or_default();
    let sid = c.subscription.max(1);
    c.subscription = sid.checked_add(1).ok_or(ErrorCode::Overflow)?;
    ctx.put(keys::counters(), &c);
    let sub = Subscription {
        id: sid,
        product: id,
        subscriber: buyer,
        encryption_key,
        payment,
        since_ms: now,
        until_ms,
        first_epochs,
        status: SubscriptionStatus::Active {},
    };
    ctx.put(keys::subscription(sid), &sub);
    p.subscribers.push(Subscriber { subscription: sid, until_ms });
    ctx.put(keys::product(id), &p);
    emit(
        ctx,
        ProductsEvent::Subscribed {
            subscription: sid,
            product: id,
            subscriber: buyer,
            paid,
            until_ms,
        },
    )
}

/// Ends subscription `id`: cancelled by its subscriber, or revoked by its product's seller
/// (refunding the whole periods not begun). The product's streams move to a new epoch.
fn end(ctx: &mut Ctx<'_>, id: SubscriptionId, revoke: bool) -> ExecResult {
    let mut sub = subscription(ctx, id)?;
    let mut p = product(ctx, sub.product)?;
    let who = ctx.signer();
    if revoke && who != p.seller {
        return Err(ErrorCode::NotSeller.into());
    }
    if !revoke && who != sub.subscriber {
        return Err(ErrorCode::NotSubscriber.into());
    }
    let now = ctx.env().timestamp_ms;
    if !sub.is_active(now) {
        return Err(ErrorCode::SubscriptionEnded.into());
    }
    let mut refunded = 0;
    if revoke && let (Payment::Periods { .. }, Some(per)) = (sub.payment, p.terms.per_period) {
        // Whole periods not begun (the current one is the subscriber's).
        let left = (sub.until_ms - now) / per.period_ms;
        refunded = per.price.checked_mul(left).ok_or(ErrorCode::Overflow)?;
        bank::pay(ctx, p.terms.asset, &p.seller, &sub.subscriber, refunded)?;
    }
    sub.status = match revoke {
        true => SubscriptionStatus::Revoked { at_ms: now },
        false => SubscriptionStatus::Cancelled { at_ms: now },
    };
    ctx.put(keys::subscription(id), &sub);
    p.subscribers.retain(|s| s.subscription != id);
    ctx.put(keys::product(p.id), &p);
    emit(ctx, ProductsEvent::Ended { subscription: id, revoked: revoke, refunded })?;
    rotate(ctx, &p)
}

/// Moves every stream of `p` to its next key epoch.
fn rotate(ctx: &mut Ctx<'_>, p: &Product) -> ExecResult {
    for s in &p.streams {
        let mut k = stream_keys(ctx, &p.device, *s)?;
        k.epoch = k.epoch.checked_add(1).ok_or(ErrorCode::Overflow)?;
        ctx.put(keys::stream(&p.device, *s), &k);
        emit(ctx, ProductsEvent::Rotated { device: p.device, stream: *s, epoch: k.epoch })?;
    }
    Ok(())
}

fn publish(ctx: &mut Ctx<'_>, id: ProductId, grants: &[KeyGrant]) -> ExecResult {
    let p = sellers(ctx, id)?;
    let now = ctx.env().timestamp_ms;
    for g in grants {
        let sub = subscription(ctx, g.subscription)?;
        if sub.product != id {
            return Err(ErrorCode::UnknownSubscription.into());
        }
        if !sub.is_active(now) {
            return Err(ErrorCode::SubscriptionEnded.into());
        }
        let Some(index) = p.streams.iter().position(|s| *s == g.stream) else {
            return Err(ErrorCode::StreamNotInProduct.into());
        };
        if g.epoch > stream_keys(ctx, &p.device, g.stream)?.epoch {
            return Err(ErrorCode::EpochNotReached.into());
        }
        if !p.terms.history && g.epoch < sub.first_epochs[index] {
            return Err(ErrorCode::HistoryNotIncluded.into());
        }
        ctx.put(keys::grant(g.subscription, g.stream, g.epoch), &g.key);
    }
    let count = u32::try_from(grants.len()).map_err(|_| ErrorCode::InvalidCall)?;
    emit(ctx, ProductsEvent::KeysPublished { product: id, count })
}

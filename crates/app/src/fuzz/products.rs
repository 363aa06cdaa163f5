//! The fuzzer's data-product operations: listings by a device's owner (or anyone), with
//! boundary prices, periods and policies; subscriptions by period or through a channel;
//! cancels, revocations, rotations and wrapped keys for reached and unreached epochs.

use super::{ACCOUNTS, Id, Op, Run, SignedBy, TxOps, device_index, edges, num};
use machina_types::{
    Call, Event, Hash, ProductsCall,
    limits::{PRODUCT_PERIOD_MS_MAX, PRODUCT_PERIODS_MAX},
    products::{Access, KeyGrant, Payment, PeriodPrice, ProductsEvent, Terms},
    sealed::WrappedKey,
};
use proptest::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

/// Products listed, subscriptions made, subscriptions ended early, keys published.
pub(super) static LISTED: AtomicU64 = AtomicU64::new(0);
pub(super) static SUBSCRIBED: AtomicU64 = AtomicU64::new(0);
pub(super) static ENDED: AtomicU64 = AtomicU64::new(0);
pub(super) static KEYS: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Debug)]
pub(crate) enum ProductOp {
    List {
        device: usize,
        streams: u32,
        per_reading: Option<u64>,
        period: Option<(u64, u64)>,
        /// 0: anyone, 1: an allow list of accounts 3 and 4, 2: devices of some reputation.
        access: u8,
        history: bool,
    },
    Delist {
        product: Id,
    },
    Subscribe {
        product: Id,
        /// By reading through this channel, else by periods.
        channel: Option<Id>,
        periods: u32,
    },
    Cancel {
        subscription: Id,
    },
    /// `seller`: the device whose owner signs, in flows (the signer picks it).
    Revoke {
        subscription: Id,
        seller: Option<usize>,
    },
    Rotate {
        product: Id,
    },
    Publish {
        product: Id,
        subscription: Id,
        stream: u32,
        epoch: u32,
        seller: Option<usize>,
    },
}

fn small_u32() -> impl Strategy<Value = u32> {
    prop_oneof![6 => 0u32..4, 1 => Just(u32::MAX - 1), 1 => Just(u32::MAX)]
}

/// Product calls, one at a time.
pub(super) fn op() -> BoxedStrategy<Op> {
    let product = || super::id();
    prop_oneof![
        (
            device_index(),
            prop_oneof![Just(0u32), 1u32..4, Just(8), Just(9)],
            proptest::option::of(prop_oneof![4 => 1u64..100, 1 => num()]),
            proptest::option::of((
                prop_oneof![4 => 0u64..10_000, 1 => num()],
                edges(1..100_000, PRODUCT_PERIOD_MS_MAX, u64::MAX)
            )),
            0u8..3,
            any::<bool>(),
        )
            .prop_map(|(device, streams, per_reading, period, access, history)| {
                ProductOp::List { device, streams, per_reading, period, access, history }
            }),
        product().prop_map(|product| ProductOp::Delist { product }),
        (
            product(),
            proptest::option::weighted(0.3, super::id()),
            edges(1..5, u64::from(PRODUCT_PERIODS_MAX), u64::from(u32::MAX))
        )
            .prop_map(|(product, channel, periods)| ProductOp::Subscribe {
                product,
                channel,
                periods: periods as u32,
            }),
        super::id().prop_map(|subscription| ProductOp::Cancel { subscription }),
        super::id().prop_map(|subscription| ProductOp::Revoke { subscription, seller: None }),
        product().prop_map(|product| ProductOp::Rotate { product }),
        (product(), super::id(), small_u32(), small_u32()).prop_map(
            |(product, subscription, stream, epoch)| ProductOp::Publish {
                product,
                subscription,
                stream,
                epoch,
                seller: None,
            }
        ),
    ]
    .prop_map(Op::Product)
    .boxed()
}

/// A product's life in one block: a device's owner lists streams 0 and 1, two buyers
/// subscribe by periods, the owner publishes keys, one buyer cancels or the owner revokes.
pub(super) fn flow() -> BoxedStrategy<Vec<TxOps>> {
    (device_index(), 3..ACCOUNTS, 3..ACCOUNTS, 1u32..4, any::<bool>())
        .prop_map(|(device, a, b, periods, revoke)| {
            let list = ProductOp::List {
                device,
                streams: 2,
                per_reading: Some(3),
                period: Some((100, 60_000)),
                access: 0,
                history: true,
            };
            let subscribe = |_| ProductOp::Subscribe { product: Id::Next, channel: None, periods };
            let mut txs = vec![(SignedBy::Owner(0), vec![Op::Product(list)])];
            for buyer in [a, b] {
                txs.push((SignedBy::Account(buyer), vec![Op::Product(subscribe(buyer))]));
            }
            // The product and buyer `a`'s subscription are the first this block creates.
            let publish = ProductOp::Publish {
                product: Id::Next,
                subscription: Id::Next,
                stream: 0,
                epoch: 0,
                seller: Some(device),
            };
            txs.push((SignedBy::Owner(0), vec![Op::Product(publish)]));
            let end = match revoke {
                true => (
                    SignedBy::Owner(0),
                    ProductOp::Revoke { subscription: Id::Next, seller: Some(device) },
                ),
                false => (SignedBy::Account(a), ProductOp::Cancel { subscription: Id::Next }),
            };
            txs.push((end.0, vec![Op::Product(end.1)]));
            txs
        })
        .boxed()
}

/// The device a product op names (its owner signs listings).
pub(super) fn device(op: &ProductOp) -> Option<usize> {
    match op {
        ProductOp::List { device, .. } => Some(*device),
        ProductOp::Revoke { seller, .. } | ProductOp::Publish { seller, .. } => *seller,
        _ => None,
    }
}

impl Run {
    fn product_counters(&self) -> machina_types::products::state::Counters {
        let key = crate::modules::products::keys::counters();
        self.chain().state.get(&key).unwrap_or_default()
    }

    /// The call a product op stands for, against the chain as it is.
    pub(super) fn product_call(&self, op: &ProductOp) -> Call {
        let c = self.product_counters();
        let (products, subscriptions) = (c.product.max(1), c.subscription.max(1));
        let channels = {
            let key = crate::modules::channels::keys::next_channel_id();
            self.chain().state.get(&key).unwrap_or(1)
        };
        match op.clone() {
            ProductOp::List { device, streams, per_reading, period, access, history } => {
                let access = match access {
                    0 => Access::Anyone {},
                    1 => Access::AllowList { buyers: vec![self.addr(3), self.addr(4)] },
                    _ => Access::Devices { min_reputation: 50 },
                };
                ProductsCall::List {
                    device: self.device(device),
                    streams: (0..streams).collect(),
                    terms: Terms {
                        asset: None,
                        per_reading,
                        per_period: period
                            .map(|(price, period_ms)| PeriodPrice { price, period_ms }),
                        licence: Hash([4; 32]),
                        access,
                        history,
                        sealed: true,
                    },
                }
            }
            ProductOp::Delist { product } => {
                ProductsCall::Delist { product: product.resolve(products) }
            }
            ProductOp::Subscribe { product, channel, periods } => ProductsCall::Subscribe {
                product: product.resolve(products),
                payment: match channel {
                    Some(channel) => Payment::Channel { channel: channel.resolve(channels) },
                    None => Payment::Periods { periods },
                },
                encryption_key: [9; 32],
            },
            ProductOp::Cancel { subscription } => {
                ProductsCall::Cancel { subscription: subscription.resolve(subscriptions) }
            }
            ProductOp::Revoke { subscription, .. } => {
                ProductsCall::Revoke { subscription: subscription.resolve(subscriptions) }
            }
            ProductOp::Rotate { product } => {
                ProductsCall::Rotate { product: product.resolve(products) }
            }
            ProductOp::Publish { product, subscription, stream, epoch, .. } => {
                let key = WrappedKey { ephemeral: [1; 32], sealed: [2; 48] };
                let grant = KeyGrant {
                    subscription: subscription.resolve(subscriptions),
                    stream,
                    epoch,
                    key,
                };
                ProductsCall::PublishKeys { product: product.resolve(products), keys: vec![grant] }
            }
        }
        .into()
    }
}

/// Counts the product milestones among `events`.
pub(super) fn count(events: &[Event]) {
    for e in events {
        let counter = match e {
            Event::Products(ProductsEvent::Listed { .. }) => &LISTED,
            Event::Products(ProductsEvent::Subscribed { .. }) => &SUBSCRIBED,
            Event::Products(ProductsEvent::Ended { .. }) => &ENDED,
            Event::Products(ProductsEvent::KeysPublished { .. }) => &KEYS,
            _ => continue,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

//! Data products on the test chain: listing by the data-rights holder, subscriptions by
//! period and by reading (through a channel), consent ended by either side with key
//! rotation, wrapped keys, and each refusal.

use super::{keys, state::*};
use crate::modules::identity::tests::{Fixture, MAKER, OTHER, OWNER};
use crate::testing::{Chain, START};
use machina_types::{
    Address, Amount, ChannelsCall, DeviceId, ErrorCode, Event, Hash, ProductsCall,
    channels::ChannelsEvent,
    limits::PRODUCT_SUBSCRIBERS_MAX,
    products::{
        Access, KeyGrant, Payment, PeriodPrice, ProductId, ProductsEvent, SubscriptionId, Terms,
    },
    sealed::{self, WrappedKey},
};

/// A second buyer.
const BUYER: usize = 4;
const DAY: u64 = 86_400_000;

struct Market {
    f: Fixture,
    device: DeviceId,
}

impl Market {
    fn new() -> Self {
        let mut f = Fixture::with_chain(Chain::new(6));
        let device = f.onboard(1, OWNER);
        Self { f, device }
    }

    fn chain(&mut self) -> &mut Chain {
        &mut self.f.chain
    }

    fn addr(&self, i: usize) -> Address {
        self.f.chain.addr(i)
    }

    fn balance(&self, i: usize) -> u64 {
        self.f.chain.balance(&self.addr(i))
    }

    fn list_call(&self, streams: Vec<u32>, access: Access, history: bool) -> ProductsCall {
        ProductsCall::List {
            device: self.device,
            streams,
            terms: Terms {
                asset: None,
                per_reading: Some(5),
                per_period: Some(PeriodPrice { price: 1_000, period_ms: DAY }),
                licence: Hash([7; 32]),
                access,
                history,
                sealed: true,
            },
        }
    }

    fn list(&mut self, access: Access) -> ProductId {
        let call = self.list_call(vec![1, 2], access, true);
        let events = self.chain().run(OWNER, call).unwrap();
        match events[0] {
            Event::Products(ProductsEvent::Listed { product, .. }) => product,
            _ => panic!("listed"),
        }
    }

    fn subscribe(
        &mut self,
        i: usize,
        product: ProductId,
        payment: Payment,
    ) -> Result<SubscriptionId, ErrorCode> {
        let call = ProductsCall::Subscribe { product, payment, encryption_key: key_of(i) };
        let events = self.chain().run(i, call)?;
        Ok(events
            .iter()
            .find_map(|e| match e {
                Event::Products(ProductsEvent::Subscribed { subscription, .. }) => {
                    Some(*subscription)
                }
                _ => None,
            })
            .unwrap())
    }

    fn product(&self, id: ProductId) -> Product {
        self.f.chain.state.get(&keys::product(id)).unwrap()
    }

    fn subscription(&self, id: SubscriptionId) -> Subscription {
        self.f.chain.state.get(&keys::subscription(id)).unwrap()
    }

    fn epoch(&self, stream: u32) -> u32 {
        self.f
            .chain
            .state
            .get::<StreamKeys>(&keys::stream(&self.device, stream))
            .unwrap_or_default()
            .epoch
    }

    /// Opens a voucher channel from `i` to `payee` with `deposit`.
    fn channel(&mut self, i: usize, payee: usize, deposit: Amount) -> u64 {
        let payee = self.addr(payee);
        let call = ChannelsCall::Open { payee, asset: None, deposit, challenge_blocks: 10 };
        let events = self.chain().run(i, call).unwrap();
        events
            .iter()
            .find_map(|e| match e {
                Event::Channels(ChannelsEvent::Opened { channel, .. }) => Some(*channel),
                _ => None,
            })
            .expect("opened")
    }
}

/// Account `i`'s encryption key.
fn key_of(i: usize) -> [u8; 32] {
    sealed::encryption_key(&[i as u8 + 1; 32])
}

fn grant(subscription: SubscriptionId, stream: u32, epoch: u32) -> KeyGrant {
    KeyGrant {
        subscription,
        stream,
        epoch,
        key: WrappedKey { ephemeral: [1; 32], sealed: [2; 48] },
    }
}

#[test]
fn the_data_rights_holder_lists_once_per_stream_and_a_delisted_stream_lists_again() {
    let mut m = Market::new();
    let call = m.list_call(vec![1], Access::Anyone {}, false);
    assert_eq!(m.chain().run(OTHER, call), Err(ErrorCode::NotDataRightsHolder));
    let id = m.list(Access::Anyone {});
    let p = m.product(id);
    assert_eq!((p.seller, p.streams.clone(), p.listed), (m.addr(OWNER), vec![1, 2], true));
    let again = m.list_call(vec![2, 3], Access::Anyone {}, false);
    assert_eq!(m.chain().run(OWNER, again.clone()), Err(ErrorCode::StreamListed));
    assert_eq!(
        m.chain().run(OTHER, ProductsCall::Delist { product: id }),
        Err(ErrorCode::NotSeller)
    );
    m.chain().run(OWNER, ProductsCall::Delist { product: id }).unwrap();
    assert_eq!(
        m.chain().run(OWNER, ProductsCall::Delist { product: id }),
        Err(ErrorCode::ProductDelisted)
    );
    let payment = Payment::Periods { periods: 1 };
    assert_eq!(m.subscribe(BUYER, id, payment), Err(ErrorCode::ProductDelisted));
    m.chain().run(OWNER, again).unwrap();
    // An unknown device's streams, or a listing in a machine's shares: refused.
    let mut call = m.list_call(vec![9], Access::Anyone {}, false);
    if let ProductsCall::List { device, .. } = &mut call {
        *device = Hash([9; 32]);
    }
    assert!(m.chain().run(OWNER, call).is_err());
}

#[test]
fn a_period_subscription_pays_up_front_and_a_revocation_refunds_whole_periods_and_rotates_keys() {
    let mut m = Market::new();
    let id = m.list(Access::AllowList { buyers: vec![m.addr(BUYER), m.addr(OTHER)] });
    assert_eq!(
        m.subscribe(MAKER, id, Payment::Periods { periods: 1 }),
        Err(ErrorCode::AccessDenied)
    );
    let seller = m.balance(OWNER);
    let sub = m.subscribe(BUYER, id, Payment::Periods { periods: 3 }).unwrap();
    assert_eq!(m.balance(OWNER), seller + 3_000);
    let s = m.subscription(sub);
    assert_eq!(
        (s.subscriber, s.until_ms - s.since_ms, s.first_epochs.clone()),
        (m.addr(BUYER), 3 * DAY, vec![0, 0])
    );
    assert_eq!(
        m.product(id).subscribers,
        vec![Subscriber { subscription: sub, until_ms: s.until_ms }]
    );
    // The seller publishes the buyer's keys of the current epoch.
    let publish =
        ProductsCall::PublishKeys { product: id, keys: vec![grant(sub, 1, 0), grant(sub, 2, 0)] };
    m.chain().run(OWNER, publish).unwrap();
    assert!(m.f.chain.state.get::<WrappedKey>(&keys::grant(sub, 2, 0)).is_some());
    // Only the seller revokes, only the subscriber cancels.
    assert_eq!(
        m.chain().run(BUYER, ProductsCall::Revoke { subscription: sub }),
        Err(ErrorCode::NotSeller)
    );
    assert_eq!(
        m.chain().run(OWNER, ProductsCall::Cancel { subscription: sub }),
        Err(ErrorCode::NotSubscriber)
    );
    // Half a day in, the seller revokes: two whole periods are refunded.
    m.chain().wait(DAY / 2);
    let buyer = m.balance(BUYER);
    let events = m.chain().run(OWNER, ProductsCall::Revoke { subscription: sub }).unwrap();
    assert!(events.contains(&Event::Products(ProductsEvent::Ended {
        subscription: sub,
        revoked: true,
        refunded: 2_000
    })));
    assert_eq!(m.balance(BUYER), buyer + 2_000);
    assert_eq!((m.epoch(1), m.epoch(2)), (1, 1), "both streams moved to a new epoch");
    assert!(m.product(id).subscribers.is_empty());
    assert!(matches!(m.subscription(sub).status, SubscriptionStatus::Revoked { .. }));
    // The revoked subscription gets no more keys and cannot end twice.
    let late = ProductsCall::PublishKeys { product: id, keys: vec![grant(sub, 1, 1)] };
    assert_eq!(m.chain().run(OWNER, late), Err(ErrorCode::SubscriptionEnded));
    assert_eq!(
        m.chain().run(OWNER, ProductsCall::Revoke { subscription: sub }),
        Err(ErrorCode::SubscriptionEnded)
    );
    assert_eq!(
        m.chain().run(OWNER, ProductsCall::Revoke { subscription: 99 }),
        Err(ErrorCode::UnknownSubscription)
    );
}

#[test]
fn a_subscription_without_funds_is_refused_and_changes_nothing() {
    let mut m = Market::new();
    let call = ProductsCall::List {
        device: m.device,
        streams: vec![1],
        terms: Terms {
            asset: None,
            per_reading: None,
            per_period: Some(PeriodPrice { price: START, period_ms: DAY }),
            licence: Hash([7; 32]),
            access: Access::Anyone {},
            history: false,
            sealed: true,
        },
    };
    m.chain().run(OWNER, call).unwrap();
    let (seller, product) = (m.balance(OWNER), m.product(1));
    assert_eq!(
        m.subscribe(BUYER, 1, Payment::Periods { periods: 2 }),
        Err(ErrorCode::InsufficientFunds)
    );
    assert_eq!((m.balance(OWNER), m.product(1)), (seller, product), "nothing changed");
    assert_eq!(
        m.subscribe(BUYER, 1, Payment::Channel { channel: 1 }),
        Err(ErrorCode::PaymentNotOffered)
    );
}

#[test]
fn a_reading_subscription_needs_a_funded_voucher_channel_from_the_buyer_to_the_seller() {
    let mut m = Market::new();
    let id = m.list(Access::Anyone {});
    let to_other = m.channel(BUYER, OTHER, 100);
    let from_other = m.channel(OTHER, OWNER, 100);
    let unfunded = m.channel(BUYER, OWNER, 4);
    let good = m.channel(BUYER, OWNER, 100);
    for (channel, code) in [
        (to_other, ErrorCode::ChannelMismatch),
        (from_other, ErrorCode::ChannelMismatch),
        (unfunded, ErrorCode::ChannelUnfunded),
        (99, ErrorCode::UnknownChannel),
    ] {
        assert_eq!(m.subscribe(BUYER, id, Payment::Channel { channel }), Err(code));
    }
    let payee = m.addr(OWNER);
    let stream = ChannelsCall::OpenStream { payee, asset: None, deposit: 100, rate_per_sec: 1 };
    m.chain().run(BUYER, stream).unwrap();
    assert_eq!(
        m.subscribe(BUYER, id, Payment::Channel { channel: 5 }),
        Err(ErrorCode::ChannelMismatch),
        "a stream"
    );
    let sub = m.subscribe(BUYER, id, Payment::Channel { channel: good }).unwrap();
    assert_eq!(m.subscription(sub).until_ms, u64::MAX);
    // The subscriber cancels: the keys rotate, no refund.
    let events = m.chain().run(BUYER, ProductsCall::Cancel { subscription: sub }).unwrap();
    assert!(events.contains(&Event::Products(ProductsEvent::Ended {
        subscription: sub,
        revoked: false,
        refunded: 0
    })));
    assert_eq!(m.epoch(1), 1);
    assert_eq!(
        m.chain().run(BUYER, ProductsCall::Cancel { subscription: sub }),
        Err(ErrorCode::SubscriptionEnded)
    );
}

#[test]
fn keys_are_published_for_reached_epochs_only_and_without_history_from_the_subscription_on() {
    let mut m = Market::new();
    let call = m.list_call(vec![1], Access::Anyone {}, false);
    m.chain().run(OWNER, call).unwrap();
    m.chain().run(OWNER, ProductsCall::Rotate { product: 1 }).unwrap();
    m.chain().run(OWNER, ProductsCall::Rotate { product: 1 }).unwrap();
    assert_eq!(
        m.chain().run(BUYER, ProductsCall::Rotate { product: 1 }),
        Err(ErrorCode::NotSeller)
    );
    let sub = m.subscribe(BUYER, 1, Payment::Periods { periods: 1 }).unwrap();
    assert_eq!(m.subscription(sub).first_epochs, vec![2]);
    let publish = |g| ProductsCall::PublishKeys { product: 1, keys: vec![g] };
    assert_eq!(m.chain().run(OWNER, publish(grant(sub, 1, 1))), Err(ErrorCode::HistoryNotIncluded));
    assert_eq!(m.chain().run(OWNER, publish(grant(sub, 1, 3))), Err(ErrorCode::EpochNotReached));
    assert_eq!(m.chain().run(OWNER, publish(grant(sub, 2, 2))), Err(ErrorCode::StreamNotInProduct));
    assert_eq!(m.chain().run(BUYER, publish(grant(sub, 1, 2))), Err(ErrorCode::NotSeller));
    assert_eq!(
        m.chain().run(OWNER, publish(grant(sub + 1, 1, 2))),
        Err(ErrorCode::UnknownSubscription)
    );
    m.chain().run(OWNER, publish(grant(sub, 1, 2))).unwrap();
    // After the period the subscription has lapsed: no more keys.
    m.chain().wait(DAY);
    assert_eq!(m.chain().run(OWNER, publish(grant(sub, 1, 2))), Err(ErrorCode::SubscriptionEnded));
}

#[test]
fn a_product_holds_at_most_its_subscriber_bound_and_lapsed_ones_make_room() {
    let mut m = Market::new();
    let id = m.list(Access::Anyone {});
    for _ in 0..PRODUCT_SUBSCRIBERS_MAX {
        m.subscribe(BUYER, id, Payment::Periods { periods: 1 }).unwrap();
    }
    assert_eq!(
        m.subscribe(OTHER, id, Payment::Periods { periods: 1 }),
        Err(ErrorCode::ProductFull)
    );
    m.chain().wait(DAY);
    m.subscribe(OTHER, id, Payment::Periods { periods: 1 }).unwrap();
    assert_eq!(m.product(id).subscribers.len(), 1, "the lapsed ones were pruned");
}

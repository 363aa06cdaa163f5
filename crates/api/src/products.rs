//! The products module's routes: data products, subscriptions (the consent the chain
//! records), stream key epochs and wrapped keys, and what the gateway holds of by-reading
//! payments. Products, subscriptions, stream keys and wrapped keys answer the
//! [`machina_types::products::state`] records themselves.

use machina_types::{channels::SignedVoucher, products::SubscriptionId};
use serde::{Deserialize, Serialize};

/// `GET /v1/subscriptions/{id}/voucher` and the answer to `POST
/// /v1/subscriptions/{id}/vouchers`: what the gateway holds of a by-reading subscription's
/// payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentState {
    /// The subscription.
    pub subscription: SubscriptionId,
    /// The latest voucher (null before the first): the seller settles or closes the channel
    /// with it.
    pub voucher: Option<SignedVoucher>,
    /// Readings delivered to it live; each but the last is paid by the voucher.
    pub delivered: u64,
}

//! `<home>/demo.json`: what this run of the demo created, rewritten whenever it changes
//! (a temporary file renamed over the old one, so a reader never sees half of it). Tests and
//! the explorer read it.

use super::{
    LOG,
    town::{Kind, StreamSpec},
};
use machina_types::{
    Address, DeviceId,
    channels::ChannelId,
    data::FeedId,
    market::{LeaseId, MarketId, OfferId},
    ownership::{MachineId, OfferingId, ProposalId},
    products::{ProductId, SubscriptionId},
    rewards::PoolId,
};
use serde::Serialize;
use std::{path::PathBuf, sync::Mutex};

/// Lease ids `demo.json` lists per outcome (the most recent; the totals count them all).
const LEASES_LISTED_MAX: usize = 256;
/// Offer ids it lists (the most recent: sellers post new offers as theirs sell out).
const OFFERS_LISTED_MAX: usize = 1024;

/// A device as `demo.json` lists it.
#[derive(Clone, Debug, Serialize)]
pub(super) struct DeviceEntry {
    /// Its id.
    pub(super) id: DeviceId,
    /// Its name.
    pub(super) name: &'static str,
    /// What it is.
    pub(super) kind: Kind,
    /// Its model.
    pub(super) model: &'static str,
    /// Its maker's account.
    pub(super) maker: Address,
    /// Its owner's account.
    pub(super) owner: Address,
    /// Where it stands (or started), a geohash of precision 7.
    pub(super) geohash: String,
    /// Its main stream (the first of `streams`).
    pub(super) stream: u32,
    /// Every stream it publishes.
    pub(super) streams: &'static [StreamSpec],
    /// Whether it performs leased commands (a lock that is not jammed).
    pub(super) actuator: bool,
}

/// Everything `demo.json` holds.
#[derive(Clone, Debug, Default, Serialize)]
pub(super) struct Record {
    /// When this run started, ms since the Unix epoch.
    pub(super) started_ms: u64,
    /// The seed of the consumers' orders and the devices' noise.
    pub(super) seed: u64,
    /// The explorer's address.
    pub(super) explorer: String,
    /// The makers' accounts.
    pub(super) makers: Vec<Address>,
    /// The devices this run onboarded.
    pub(super) devices: Vec<DeviceEntry>,
    /// The markets its offers trade in.
    pub(super) markets: Vec<MarketId>,
    /// Its offers (the most recent).
    pub(super) offers: Vec<OfferId>,
    /// Leases delivered (the most recent).
    pub(super) leases_delivered: Vec<LeaseId>,
    /// Leases refunded after their deadline, their sellers slashed (the most recent).
    pub(super) leases_refunded: Vec<LeaseId>,
    /// Leases delivered in all.
    pub(super) leases_delivered_total: u64,
    /// Leases refunded in all.
    pub(super) leases_refunded_total: u64,
    /// Solutions the demo's solver submitted.
    pub(super) solutions: u64,
    /// Oracle feeds over the weather stations' readings.
    pub(super) feeds: Vec<FeedId>,
    /// The solar roof, tokenized.
    pub(super) machine: Option<MachineId>,
    /// The offering of its shares.
    pub(super) offering: Option<OfferingId>,
    /// The holders' proposal raising its floor price.
    pub(super) proposal: Option<ProposalId>,
    /// A weather station's streams as a data product.
    pub(super) product: Option<ProductId>,
    /// A subscription to it.
    pub(super) subscription: Option<SubscriptionId>,
    /// A payment channel paid by a voucher.
    pub(super) channel: Option<ChannelId>,
    /// A reward pool for anchored readings.
    pub(super) reward_pool: Option<PoolId>,
}

impl Record {
    /// Records an offer.
    pub(super) fn offered(&mut self, offer: OfferId) {
        self.offers.push(offer);
        if self.offers.len() > OFFERS_LISTED_MAX {
            self.offers.remove(0);
        }
    }

    /// Records a lease's outcome (once per lease: the caller remembers which it saw).
    pub(super) fn settled(&mut self, lease: LeaseId, delivered: bool) {
        let (list, total) = match delivered {
            true => (&mut self.leases_delivered, &mut self.leases_delivered_total),
            false => (&mut self.leases_refunded, &mut self.leases_refunded_total),
        };
        list.push(lease);
        if list.len() > LEASES_LISTED_MAX {
            list.remove(0);
        }
        *total += 1;
    }
}

/// The record and the file it is kept in.
pub(super) struct Journal {
    path: PathBuf,
    record: Mutex<Record>,
}

impl Journal {
    /// A journal writing `record` to `path` (now, and at every update).
    pub(super) fn new(path: PathBuf, record: Record) -> Self {
        let journal = Self { path, record: Mutex::new(record) };
        journal.update(|_| {});
        journal
    }

    /// Changes the record and rewrites the file; a failed write is logged (the demo goes on).
    pub(super) fn update(&self, change: impl FnOnce(&mut Record)) {
        let mut record = self.record.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut record);
        if let Err(error) = self.write(&record) {
            tracing::warn!(target: LOG, "cannot write {}: {error:#}", self.path.display());
        }
    }

    /// The file.
    pub(super) fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// A copy of the record.
    pub(super) fn snapshot(&self) -> Record {
        self.record.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn write(&self, record: &Record) -> anyhow::Result<()> {
        let temporary = self.path.with_extension("json.tmp");
        std::fs::write(&temporary, serde_json::to_vec_pretty(record)?)?;
        std::fs::rename(&temporary, &self.path)?;
        Ok(())
    }
}

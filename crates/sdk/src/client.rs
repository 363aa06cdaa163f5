//! A blocking client of the node's HTTP API.

use crate::{Error, Result, tx};
use commonware_codec::Encode;
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use machina_api::{
    AcceptedReading, AccountLeases, AccountStake, AssetBalance, BlockView, DataRights,
    DeviceMachine, DeviceRightsView, FeedView, HolderView, MachineView, MarketBook, MarketOverview,
    NftInfo, PoolView, ProposalView, Readings, ReadingsQuery, RightView, RoleView, Solutions,
    StreamView, SubmitReading, SubmitTx, WorkView,
};
use machina_store::{ProofBundle, ReadingBundle};
use machina_types::{
    Address, Call, DeviceId, Hash, Receipt, SignedReading, SignedTransaction,
    bank::{NftId, state::AssetInfo},
    channels::{ChannelId, SignedVoucher, state::Channel},
    codec::hex,
    identity::state::{Device, Maker},
    market::{
        MarketId,
        state::{Intent, Lease, Offer},
    },
    ownership::{
        MachineId, OfferingId, ProposalId,
        state::{Ballot, Offering, Purchase},
    },
    products::{
        ProductId, SubscriptionId,
        state::{Product, StreamKeys, Subscription},
    },
    reading::StreamId,
    rewards::{
        Epoch, PoolId,
        state::{Enrollment, EpochTotal},
    },
    sealed::{KeyEpoch, WrappedKey},
    wallets::state::{Guarded, Multisig, MultisigProposal},
};
use serde::{Serialize, de::DeserializeOwned};
use std::time::{Duration, Instant};

pub use machina_api::{
    AccountInfo, ApiErrorBody, GatewayStatus, PaymentState, Status, Submitted, TxState, TxStatus,
    error::ErrorEnvelope,
};

/// A client of one node.
#[derive(Clone, Debug)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the node at `url` (e.g. `http://127.0.0.1:7700`).
    pub fn new(url: &str) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build();
        Self { base: url.trim_end_matches('/').to_string(), agent: config.into() }
    }

    /// A client of the node `MACHINA_NODE` names, else of the dev chain's default API
    /// address, `http://127.0.0.1:7700`.
    pub fn from_env() -> Self {
        let url = std::env::var("MACHINA_NODE");
        Self::new(url.as_deref().unwrap_or("http://127.0.0.1:7700"))
    }

    /// The node URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn handle<T: DeserializeOwned>(
        url: &str,
        response: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T> {
        let transport =
            |e: ureq::Error| Error::Transport { url: url.to_string(), message: e.to_string() };
        let mut response = response.map_err(transport)?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(transport)?;
        if status >= 400 {
            let body: ErrorEnvelope = serde_json::from_str(&text).map_err(|_| Error::Api {
                status,
                code: "http_error".into(),
                message: text.clone(),
            })?;
            return Err(Error::Api { status, code: body.error.code, message: body.error.message });
        }
        serde_json::from_str(&text).map_err(|e| Error::Transport {
            url: url.to_string(),
            message: format!("unexpected response: {e}"),
        })
    }

    /// `GET` a path and decode the JSON answer.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let url = format!("{}{path}", self.base);
        Self::handle(&url, self.agent.get(&url).call())
    }

    /// `GET` a path whose 404 is an answer (nothing there): `None` then.
    fn get_optional<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>> {
        match self.get(path) {
            Ok(value) => Ok(Some(value)),
            Err(Error::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST` a JSON body to a path and decode the JSON answer.
    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        let url = format!("{}{path}", self.base);
        Self::handle(&url, self.agent.post(&url).send_json(body))
    }

    /// Chain status.
    pub fn status(&self) -> Result<Status> {
        self.get("/v1/status")
    }

    /// An account's balance and nonces.
    pub fn account(&self, address: &Address) -> Result<AccountInfo> {
        self.get(&format!("/v1/accounts/{address}"))
    }

    /// Submits a signed transaction; returns its hash.
    pub fn submit(&self, tx: &SignedTransaction) -> Result<Hash> {
        let body = SubmitTx { tx: hex(&tx.encode()) };
        Ok(self.post::<Submitted>("/v1/txs", &body)?.hash)
    }

    /// A transaction's status.
    pub fn tx(&self, hash: &Hash) -> Result<TxStatus> {
        self.get(&format!("/v1/txs/{hash}"))
    }

    /// Polls until the transaction is final (or `timeout` passes).
    pub fn wait(&self, hash: &Hash, timeout: Duration) -> Result<TxStatus> {
        let start = Instant::now();
        loop {
            let status = self.tx(hash)?;
            if status.is_final() {
                return Ok(status);
            }
            if start.elapsed() > timeout {
                return Err(Error::Timeout(format!(
                    "transaction {hash} still {} after {timeout:?}",
                    status.status
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The receipt of an included transaction.
    pub fn receipt(&self, hash: &Hash) -> Result<Receipt> {
        self.get(&format!("/v1/receipts/{hash}"))
    }

    /// An asset.
    pub fn asset(&self, id: u64) -> Result<AssetInfo> {
        self.get(&format!("/v1/assets/{id}"))
    }

    /// An account's balance of an asset.
    pub fn asset_balance(&self, address: &Address, asset: u64) -> Result<AssetBalance> {
        self.get(&format!("/v1/accounts/{address}/assets/{asset}"))
    }

    /// A non-fungible token.
    pub fn nft(&self, id: u64) -> Result<NftInfo> {
        self.get(&format!("/v1/nfts/{id}"))
    }

    /// A finalized block (the latest if `height` is `None`).
    pub fn block(&self, height: Option<u64>) -> Result<BlockView> {
        match height {
            Some(h) => self.get(&format!("/v1/blocks/{h}")),
            None => self.get("/v1/blocks/latest"),
        }
    }

    /// A proof of an account at the latest finalized block.
    pub fn account_proof(&self, address: &Address) -> Result<ProofBundle> {
        self.get(&format!("/v1/proofs/accounts/{address}"))
    }

    /// A proof of any state key at the latest finalized block.
    pub fn key_proof(&self, key: &Hash) -> Result<ProofBundle> {
        self.get(&format!("/v1/proofs/keys/{key}"))
    }

    /// A proof of a feed's state at the latest finalized block.
    pub fn feed_proof(&self, id: u64) -> Result<ProofBundle> {
        self.get(&format!("/v1/proofs/feeds/{id}"))
    }

    /// Submits a signed reading over HTTP; returns the gateway's answer (`duplicate` true if
    /// it was already stored).
    pub fn submit_reading(&self, reading: &SignedReading) -> Result<AcceptedReading> {
        self.post("/v1/readings", &SubmitReading { reading: hex(&reading.encode()) })
    }

    /// A device record.
    pub fn device(&self, id: &DeviceId) -> Result<Device> {
        self.get(&format!("/v1/devices/{id}"))
    }

    /// A maker record.
    pub fn maker(&self, account: &Address) -> Result<Maker> {
        self.get(&format!("/v1/makers/{account}"))
    }

    /// A feed, with its current value.
    pub fn feed(&self, id: u64) -> Result<FeedView> {
        self.get(&format!("/v1/feeds/{id}"))
    }

    /// The market overview: batch schedule, parameters, totals, active markets.
    pub fn market(&self) -> Result<MarketOverview> {
        self.get("/v1/market")
    }

    /// A market and its open book.
    pub fn market_book(&self, id: &MarketId) -> Result<MarketBook> {
        self.get(&format!("/v1/markets/{id}"))
    }

    /// An offer.
    pub fn offer(&self, id: u64) -> Result<Offer> {
        self.get(&format!("/v1/offers/{id}"))
    }

    /// An intent.
    pub fn intent(&self, id: u64) -> Result<Intent> {
        self.get(&format!("/v1/intents/{id}"))
    }

    /// Whether `account` holds `role` on `device`, with the grant if there is one (`GET
    /// /v1/devices/{id}/roles/{account}/{role}`).
    pub fn role(&self, device: &DeviceId, account: &Address, role: &str) -> Result<RoleView> {
        self.get(&format!("/v1/devices/{device}/roles/{account}/{role}"))
    }

    /// A lease (`GET /v1/leases/{id}`).
    pub fn lease(&self, id: u64) -> Result<Lease> {
        self.get(&format!("/v1/leases/{id}"))
    }

    /// An account's most recent leases (as consumer or seller), newest first.
    pub fn leases(&self, account: &Address, limit: u64) -> Result<AccountLeases> {
        self.get(&format!("/v1/accounts/{account}/leases?limit={limit}"))
    }

    /// An account's provider and solver stake.
    pub fn stake(&self, account: &Address) -> Result<AccountStake> {
        self.get(&format!("/v1/accounts/{account}/stake"))
    }

    /// The solutions submitted for a batch.
    pub fn solutions(&self, batch: u64) -> Result<Solutions> {
        self.get(&format!("/v1/market/batches/{batch}/solutions"))
    }

    /// A machine, its treasury's balance and where its shares are (`GET /v1/machines/{id}`).
    pub fn machine(&self, id: MachineId) -> Result<MachineView> {
        self.get(&format!("/v1/machines/{id}"))
    }

    /// An account's shares of a machine and what a claim would pay it now.
    pub fn holder(&self, id: MachineId, holder: &Address) -> Result<HolderView> {
        self.get(&format!("/v1/machines/{id}/holders/{holder}"))
    }

    /// The machine a device was tokenized into, if any.
    pub fn device_machine(&self, device: &DeviceId) -> Result<DeviceMachine> {
        self.get(&format!("/v1/devices/{device}/machine"))
    }

    /// An offering of a machine's shares (`GET /v1/offerings/{id}`).
    pub fn offering(&self, id: OfferingId) -> Result<Offering> {
        self.get(&format!("/v1/offerings/{id}"))
    }

    /// An account's purchase in an offering; `None` if it bought nothing there (or there is
    /// no such offering).
    pub fn purchase(&self, id: OfferingId, buyer: &Address) -> Result<Option<Purchase>> {
        self.get_optional(&format!("/v1/offerings/{id}/purchases/{buyer}"))
    }

    /// A holder proposal, how its vote stands and its execution window.
    pub fn proposal(&self, id: ProposalId) -> Result<ProposalView> {
        self.get(&format!("/v1/proposals/{id}"))
    }

    /// An account's vote on a proposal; `None` if it did not vote (or there is no such
    /// proposal).
    pub fn ballot(&self, id: ProposalId, voter: &Address) -> Result<Option<Ballot>> {
        self.get_optional(&format!("/v1/proposals/{id}/ballots/{voter}"))
    }

    /// A usage right, its holder and the units it keeps from the market now (`GET
    /// /v1/rights/{nft}`).
    pub fn right(&self, nft: NftId) -> Result<RightView> {
        self.get(&format!("/v1/rights/{nft}"))
    }

    /// A device's usage rights that have not ended.
    pub fn device_rights(&self, device: &DeviceId) -> Result<DeviceRightsView> {
        self.get(&format!("/v1/devices/{device}/rights"))
    }

    /// Who holds a device stream's data rights: its data asset (if minted) and that asset's
    /// holder, else the device's owner.
    pub fn data_rights(&self, device: &DeviceId, stream: StreamId) -> Result<DataRights> {
        self.get(&format!("/v1/devices/{device}/streams/{stream}/data-rights"))
    }

    /// A reward pool, what its escrow still holds and where it stands for the next block
    /// (`GET /v1/reward-pools/{id}`).
    pub fn reward_pool(&self, id: PoolId) -> Result<PoolView> {
        self.get(&format!("/v1/reward-pools/{id}"))
    }

    /// The work credited to an epoch of a pool; `None` if none was (or there is no such
    /// pool).
    pub fn reward_epoch(&self, id: PoolId, epoch: Epoch) -> Result<Option<EpochTotal>> {
        self.get_optional(&format!("/v1/reward-pools/{id}/epochs/{epoch}"))
    }

    /// A device's enrollment in a pool; `None` if it is not enrolled (or there is no such
    /// pool).
    pub fn reward_enrollment(&self, id: PoolId, device: &DeviceId) -> Result<Option<Enrollment>> {
        self.get_optional(&format!("/v1/reward-pools/{id}/devices/{device}"))
    }

    /// A device's work in an epoch of a pool, whether it was paid and its reward; `None` if
    /// no work of the device was credited to the epoch (or there is no such pool).
    pub fn reward_work(
        &self,
        id: PoolId,
        epoch: Epoch,
        device: &DeviceId,
    ) -> Result<Option<WorkView>> {
        self.get_optional(&format!("/v1/reward-pools/{id}/epochs/{epoch}/devices/{device}"))
    }

    /// A proof of a reward pool (its rule and accounts) at the latest finalized block.
    pub fn reward_pool_proof(&self, id: PoolId) -> Result<ProofBundle> {
        self.get(&format!("/v1/proofs/reward-pools/{id}"))
    }

    /// A payment channel or stream (`GET /v1/channels/{id}`).
    pub fn channel(&self, id: ChannelId) -> Result<Channel> {
        self.get(&format!("/v1/channels/{id}"))
    }

    /// A proof of a payment channel at the latest finalized block.
    pub fn channel_proof(&self, id: ChannelId) -> Result<ProofBundle> {
        self.get(&format!("/v1/proofs/channels/{id}"))
    }

    /// A data product (`GET /v1/products/{id}`).
    pub fn product(&self, id: ProductId) -> Result<Product> {
        self.get(&format!("/v1/products/{id}"))
    }

    /// A subscription: who may read what, when (`GET /v1/subscriptions/{id}`).
    pub fn subscription(&self, id: SubscriptionId) -> Result<Subscription> {
        self.get(&format!("/v1/subscriptions/{id}"))
    }

    /// A stream's epoch key wrapped for a subscription; `None` if none was published.
    pub fn subscription_key(
        &self,
        id: SubscriptionId,
        stream: StreamId,
        epoch: KeyEpoch,
    ) -> Result<Option<WrappedKey>> {
        self.get_optional(&format!("/v1/subscriptions/{id}/keys/{stream}/{epoch}"))
    }

    /// A stream's current key epoch and the listed product that has it.
    pub fn stream_keys(&self, device: &DeviceId, stream: StreamId) -> Result<StreamKeys> {
        self.get(&format!("/v1/devices/{device}/streams/{stream}/keys"))
    }

    /// A proof of a subscription at the latest finalized block.
    pub fn subscription_proof(&self, id: SubscriptionId) -> Result<ProofBundle> {
        self.get(&format!("/v1/proofs/subscriptions/{id}"))
    }

    /// Pays a by-reading subscription with a voucher of its channel (kept by the gateway).
    pub fn pay_subscription(
        &self,
        id: SubscriptionId,
        voucher: &SignedVoucher,
    ) -> Result<PaymentState> {
        self.post(&format!("/v1/subscriptions/{id}/vouchers"), voucher)
    }

    /// The latest voucher the gateway holds for a by-reading subscription, and the readings
    /// it delivered.
    pub fn subscription_payment(&self, id: SubscriptionId) -> Result<PaymentState> {
        self.get(&format!("/v1/subscriptions/{id}/voucher"))
    }

    /// A proof of an epoch's total work in a pool at the latest finalized block.
    pub fn reward_epoch_proof(&self, id: PoolId, epoch: Epoch) -> Result<ProofBundle> {
        self.get(&format!("/v1/proofs/reward-pools/{id}/epochs/{epoch}"))
    }

    /// A proof of a device's work in an epoch of a pool (and whether it was paid) at the
    /// latest finalized block; with the pool's and the epoch's proofs it proves the payout.
    pub fn reward_work_proof(
        &self,
        id: PoolId,
        epoch: Epoch,
        device: &DeviceId,
    ) -> Result<ProofBundle> {
        self.get(&format!("/v1/proofs/reward-pools/{id}/epochs/{epoch}/devices/{device}"))
    }

    /// An account's wallet policy with what it counted; `None` if it has none
    /// (`GET /v1/accounts/{address}/policy`).
    pub fn policy(&self, account: &Address) -> Result<Option<Guarded>> {
        self.get_optional(&format!("/v1/accounts/{account}/policy"))
    }

    /// A session key of an account with its policy; `None` if there is none (never added,
    /// or revoked).
    pub fn session_key(&self, account: &Address, key: &Address) -> Result<Option<Guarded>> {
        self.get_optional(&format!("/v1/accounts/{account}/session-keys/{key}"))
    }

    /// A multisig account; `None` if none has this address.
    pub fn multisig(&self, address: &Address) -> Result<Option<Multisig>> {
        self.get_optional(&format!("/v1/multisigs/{address}"))
    }

    /// An open proposal of a multisig; `None` if there is none (never made, executed or
    /// cancelled).
    pub fn multisig_proposal(
        &self,
        multisig: &Address,
        id: u64,
    ) -> Result<Option<MultisigProposal>> {
        self.get_optional(&format!("/v1/multisigs/{multisig}/proposals/{id}"))
    }

    /// A device stream: readings the gateway stores and readings the chain has anchored.
    pub fn stream(&self, device: &DeviceId, stream: StreamId) -> Result<StreamView> {
        self.get(&format!("/v1/devices/{device}/streams/{stream}"))
    }

    /// Readings of a device stream, by sequence or time range.
    pub fn readings(
        &self,
        device: &DeviceId,
        stream: StreamId,
        query: &ReadingsQuery,
    ) -> Result<Readings> {
        let query = query.to_query_string();
        self.get(&format!("/v1/devices/{device}/streams/{stream}/readings?{query}"))
    }

    /// The proof of one reading (once its anchor is finalized).
    pub fn reading_proof(
        &self,
        device: &DeviceId,
        stream: StreamId,
        seq: u64,
    ) -> Result<ReadingBundle> {
        self.get(&format!("/v1/devices/{device}/streams/{stream}/readings/{seq}/proof"))
    }

    /// Onboards `devices` to `owner` (who signs), granting `gateway` (if given) the role that
    /// lets it anchor their readings. Packs the calls into as few transactions as the size
    /// limit allows, submits them back to back and waits until all are final; fails unless
    /// all succeeded.
    pub fn onboard_devices(
        &self,
        owner: &PrivateKey,
        devices: &[crate::device::DeviceIdentity],
        gateway: Option<Address>,
        timeout: Duration,
    ) -> Result<()> {
        use commonware_codec::EncodeSize;
        // Room for the transaction's own fields and signature.
        const BUDGET: usize = machina_types::limits::TX_SIZE_MAX - 256;
        let chain_id = self.status()?.chain_id;
        let owner_address = Address::of(&owner.public_key());
        let mut batches: Vec<Vec<Call>> = vec![Vec::new()];
        let mut size = 0;
        for device in devices {
            let calls = device.onboard_calls(&chain_id, &owner_address, gateway);
            let needed: usize = calls.iter().map(EncodeSize::encode_size).sum();
            let batch = batches.last_mut().expect("non-empty");
            let full = size + needed > BUDGET
                || batch.len() + calls.len() > machina_types::limits::CALLS_PER_TX_MAX;
            if full && !batch.is_empty() {
                batches.push(Vec::new());
                size = 0;
            }
            size += needed;
            batches.last_mut().expect("non-empty").extend(calls);
        }
        // A node holds a bounded number of one sender's pending transactions (64 by
        // default): keep at most half that many in flight.
        const IN_FLIGHT_MAX: usize = 32;
        let mut in_flight = std::collections::VecDeque::new();
        for calls in batches.into_iter().filter(|b| !b.is_empty()) {
            if in_flight.len() == IN_FLIGHT_MAX
                && let Some(hash) = in_flight.pop_front()
            {
                self.wait_onboarded(&hash, timeout)?;
            }
            in_flight.push_back(self.send(owner, calls)?.1);
        }
        for hash in in_flight {
            self.wait_onboarded(&hash, timeout)?;
        }
        Ok(())
    }

    /// Waits until the onboarding transaction `hash` is final; fails unless it succeeded.
    fn wait_onboarded(&self, hash: &Hash, timeout: Duration) -> Result<()> {
        let status = self.wait(hash, timeout)?;
        if status.status != TxState::Finalized {
            let code = status.error.map_or_else(|| status.status.to_string(), |e| e.code);
            let message = format!("onboarding transaction {hash} did not succeed");
            return Err(Error::Api { status: 200, code, message });
        }
        Ok(())
    }

    /// Signs and submits `calls` and waits until the transaction is final; fails unless it
    /// succeeded.
    pub fn execute(
        &self,
        key: &PrivateKey,
        calls: Vec<Call>,
        timeout: Duration,
    ) -> Result<TxStatus> {
        let (_, hash) = self.send(key, calls)?;
        let status = self.wait(&hash, timeout)?;
        match status.status {
            TxState::Finalized => Ok(status),
            _ => {
                let error = status.error.clone().unwrap_or(ApiErrorBody {
                    code: status.status.to_string(),
                    message: "the transaction did not succeed".into(),
                    call: None,
                });
                Err(Error::Api { status: 200, code: error.code, message: error.message })
            }
        }
    }

    /// Builds, signs and submits a transaction of `calls` from `key`, with the next nonce and
    /// the exact fee; returns the transaction and its hash.
    pub fn send(&self, key: &PrivateKey, calls: Vec<Call>) -> Result<(SignedTransaction, Hash)> {
        let status = self.status()?;
        let account = self.account(&Address::of(&key.public_key()))?;
        let params = tx::TxParams {
            chain_id: status.chain_id,
            nonce: account.next_nonce,
            expiry_height: status.height + tx::DEFAULT_VALIDITY_BLOCKS,
            fees: status.params.fees,
        };
        let tx = tx::build(key, &params, calls);
        let hash = self.submit(&tx)?;
        Ok((tx, hash))
    }
}

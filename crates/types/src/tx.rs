//! Transactions: who signs, which chain, which nonce, what fee, until when, and the calls
//! executed atomically.
//!
//! A transaction is signed with ed25519 over its canonical encoding under the
//! [`TX_NAMESPACE`]. Its hash is the SHA-256 of the signed encoding.

use crate::{
    Amount, Height,
    address::Address,
    call::Call,
    codec::{read_str, read_vec, str_size, write_str},
    error::ErrorCode,
    hash::Hash,
    limits::*,
};
use alloc::{string::String, vec::Vec};
use commonware_codec::{Buf, Encode, EncodeSize, Error, FixedSize, Read, ReadExt, Write};
use commonware_cryptography::{Signer, Verifier, ed25519};
use serde::{Deserialize, Serialize};

/// The signing namespace of transactions; a transaction signature can never be replayed as
/// any other Machina signature.
pub const TX_NAMESPACE: &[u8] = b"machina/tx/v1";

/// An unsigned transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Transaction {
    /// The chain this transaction is for.
    pub chain_id: String,
    /// The account that signs and pays.
    pub signer: Address,
    /// The signer's next nonce: transactions of one signer execute in nonce order, once each.
    pub nonce: u64,
    /// The fee the signer pays: at least [`FeeSchedule::fee`] of this transaction. Paying
    /// more buys priority: block builders order transactions by fee per byte.
    pub fee: Amount,
    /// The last height at which the transaction may be included.
    pub expiry_height: Height,
    /// The calls, executed in order and atomically.
    pub calls: Vec<Call>,
}

/// A transaction with the signer's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct SignedTransaction {
    /// The transaction.
    #[serde(flatten)]
    pub tx: Transaction,
    /// ed25519 signature by `tx.signer` over the transaction's encoding.
    #[serde(with = "crate::codec::hex_codec")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::signature))]
    pub signature: ed25519::Signature,
}

/// The fee rule: a fixed part per transaction, per call and per encoded byte. Fees are
/// deterministic from the transaction alone, so a client knows the exact fee before signing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct FeeSchedule {
    /// Charged once per transaction.
    pub base: Amount,
    /// Charged per call.
    pub per_call: Amount,
    /// Charged per byte of the signed encoding.
    pub per_byte: Amount,
}

impl Default for FeeSchedule {
    fn default() -> Self {
        Self { base: 100, per_call: 50, per_byte: 1 }
    }
}

impl FeeSchedule {
    /// The fee of a transaction of `calls` calls whose signed encoding is `size` bytes.
    pub fn fee(&self, calls: usize, size: usize) -> Amount {
        // Bounded by the protocol limits, so this cannot overflow for sane parameters;
        // saturate rather than wrap if parameters are absurd.
        self.base
            .saturating_add(self.per_call.saturating_mul(calls as u64))
            .saturating_add(self.per_byte.saturating_mul(size as u64))
    }
}

impl Transaction {
    /// The bytes that are signed.
    pub fn signing_payload(&self) -> Vec<u8> {
        self.encode().to_vec()
    }

    /// Sets `fee` to exactly the fee this transaction requires under `fees`, then signs it.
    /// (The required fee depends on the encoded size, which does not depend on `fee`'s value.)
    pub fn sign_paying_fee(
        mut self,
        key: &ed25519::PrivateKey,
        fees: &FeeSchedule,
    ) -> SignedTransaction {
        let size = self.encode_size() + ed25519::Signature::SIZE;
        self.fee = fees.fee(self.calls.len(), size);
        self.sign(key)
    }

    /// Signs the transaction with `key` (which must be the signer's key).
    pub fn sign(self, key: &ed25519::PrivateKey) -> SignedTransaction {
        debug_assert_eq!(Address::of(&key.public_key()), self.signer);
        let signature = key.sign(TX_NAMESPACE, &self.signing_payload());
        SignedTransaction { tx: self, signature }
    }
}

/// Parameters of the stateless checks.
#[derive(Clone, Debug)]
pub struct CheckParams<'a> {
    /// This chain's id.
    pub chain_id: &'a str,
    /// The height the transaction would be included at (the next block).
    pub height: Height,
    /// The fee rule.
    pub fees: FeeSchedule,
}

impl SignedTransaction {
    /// The transaction hash: SHA-256 of the signed encoding.
    pub fn hash(&self) -> Hash {
        Hash::of(&[&self.encode()])
    }

    /// The least fee this transaction may pay under `fees`.
    pub fn required_fee(&self, fees: &FeeSchedule) -> Amount {
        fees.fee(self.tx.calls.len(), self.encode_size())
    }

    /// Whether the signature verifies (a single verification; the node batches instead).
    pub fn verify_signature(&self) -> bool {
        self.tx
            .signer
            .public_key()
            .is_some_and(|pk| pk.verify(TX_NAMESPACE, &self.tx.signing_payload(), &self.signature))
    }

    /// Every check that needs no state except the signature: chain, expiry, calls, fee.
    /// The signature is checked separately so that callers can batch it.
    pub fn check_envelope(&self, params: &CheckParams<'_>) -> Result<(), ErrorCode> {
        if self.encode_size() > TX_SIZE_MAX {
            return Err(ErrorCode::Oversized);
        }
        if self.tx.chain_id != params.chain_id {
            return Err(ErrorCode::WrongChain);
        }
        if self.tx.expiry_height < params.height {
            return Err(ErrorCode::Expired);
        }
        if self.tx.calls.is_empty() {
            return Err(ErrorCode::NoCalls);
        }
        for call in &self.tx.calls {
            call.check()?;
        }
        if self.tx.fee < self.required_fee(&params.fees) {
            return Err(ErrorCode::FeeTooLow);
        }
        Ok(())
    }

    /// Every stateless check, the signature included.
    pub fn check(&self, params: &CheckParams<'_>) -> Result<(), ErrorCode> {
        self.check_envelope(params)?;
        if !self.verify_signature() {
            return Err(self.signature_refusal());
        }
        Ok(())
    }

    /// Why a signature that did not verify is refused: the signer's key is weak (no
    /// signature of it counts), or the signature is bad.
    pub fn signature_refusal(&self) -> ErrorCode {
        if self.tx.signer.is_strong_key() { ErrorCode::BadSignature } else { ErrorCode::WeakKey }
    }

    /// Decodes a signed transaction from untrusted bytes, with the size limit applied first.
    pub fn decode_checked(bytes: &[u8]) -> Result<Self, ErrorCode> {
        if bytes.len() > TX_SIZE_MAX {
            return Err(ErrorCode::Oversized);
        }
        use commonware_codec::Decode;
        Self::decode_cfg(commonware_codec::Copying(bytes), &()).map_err(|_| ErrorCode::Malformed)
    }
}

impl Write for Transaction {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        write_str(&self.chain_id, buf);
        self.signer.write(buf);
        self.nonce.write(buf);
        self.fee.write(buf);
        self.expiry_height.write(buf);
        self.calls.write(buf);
    }
}

impl EncodeSize for Transaction {
    fn encode_size(&self) -> usize {
        str_size(&self.chain_id) + Address::SIZE + 8 + 8 + 8 + self.calls.encode_size()
    }
}

impl Read for Transaction {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        let chain_id = read_str(buf, CHAIN_ID_LEN_MAX)?;
        let signer = Address::read(buf)?;
        let nonce = u64::read(buf)?;
        let fee = u64::read(buf)?;
        let expiry_height = u64::read(buf)?;
        let calls = read_vec::<Call>(buf, CALLS_PER_TX_MAX, &())?;
        Ok(Self { chain_id, signer, nonce, fee, expiry_height, calls })
    }
}

impl Write for SignedTransaction {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.tx.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for SignedTransaction {
    fn encode_size(&self) -> usize {
        self.tx.encode_size() + ed25519::Signature::SIZE
    }
}

impl Read for SignedTransaction {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self { tx: Transaction::read(buf)?, signature: ed25519::Signature::read(buf)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bank::BankCall;
    use commonware_codec::DecodeExt;
    use proptest::prelude::*;

    fn key(seed: u64) -> ed25519::PrivateKey {
        ed25519::PrivateKey::from_seed(seed)
    }

    fn transfer(seed: u64, nonce: u64, amount: u64) -> SignedTransaction {
        let k = key(seed);
        Transaction {
            chain_id: "test".into(),
            signer: Address::of(&k.public_key()),
            nonce,
            fee: 10_000,
            expiry_height: 100,
            calls: alloc::vec![Call::Bank(BankCall::Transfer { to: Address([9; 32]), amount })],
        }
        .sign(&k)
    }

    fn params() -> CheckParams<'static> {
        CheckParams { chain_id: "test", height: 5, fees: FeeSchedule::default() }
    }

    #[test]
    fn a_signed_transfer_passes_every_stateless_check() {
        assert_eq!(transfer(1, 0, 5).check(&params()), Ok(()));
    }

    #[test]
    fn each_stateless_check_refuses_with_its_own_code() {
        let good = transfer(1, 0, 5);

        let mut bad = good.clone();
        bad.tx.chain_id = "other".into();
        assert_eq!(bad.check(&params()), Err(ErrorCode::WrongChain));

        let mut bad = good.clone();
        bad.tx.expiry_height = 4;
        assert_eq!(bad.check(&params()), Err(ErrorCode::Expired));

        let mut bad = good.clone();
        bad.tx.calls.clear();
        assert_eq!(bad.check(&params()), Err(ErrorCode::NoCalls));

        assert_eq!(transfer(1, 0, 0).check(&params()), Err(ErrorCode::InvalidCall));

        let mut bad = good.clone();
        bad.tx.fee = 1;
        assert_eq!(bad.check(&params()), Err(ErrorCode::FeeTooLow));

        let mut bad = good.clone();
        bad.tx.nonce = 1; // signature no longer covers the payload
        assert_eq!(bad.check(&params()), Err(ErrorCode::BadSignature));

        let mut bad = good;
        bad.tx.signer = Address::of(&key(2).public_key());
        assert_eq!(bad.check(&params()), Err(ErrorCode::BadSignature));
    }

    #[test]
    fn oversized_and_garbage_bytes_are_refused_before_decoding() {
        assert_eq!(
            SignedTransaction::decode_checked(&[0u8; TX_SIZE_MAX + 1]),
            Err(ErrorCode::Oversized)
        );
        assert_eq!(SignedTransaction::decode_checked(&[1, 2, 3]), Err(ErrorCode::Malformed));
    }

    #[test]
    fn decoding_refuses_more_calls_than_the_limit() {
        let mut tx = transfer(1, 0, 5);
        let call = tx.tx.calls[0].clone();
        tx.tx.calls = alloc::vec![call; CALLS_PER_TX_MAX + 1];
        let bytes = tx.encode();
        assert!(SignedTransaction::decode(bytes).is_err());
    }

    #[test]
    fn json_form_round_trips() {
        let tx = transfer(3, 7, 42);
        let json = serde_json::to_string(&tx).unwrap();
        let back: SignedTransaction = serde_json::from_str(&json).unwrap();
        assert_eq!(back, tx);
        assert!(back.verify_signature());
    }

    fn arb_call() -> impl Strategy<Value = Call> {
        let addr = any::<[u8; 32]>().prop_map(Address);
        prop_oneof![
            (addr.clone(), any::<u64>())
                .prop_map(|(to, amount)| Call::Bank(BankCall::Transfer { to, amount })),
            (
                "[A-Z0-9]{1,12}",
                "[ -~]{1,64}",
                0u8..=18,
                proptest::option::of(any::<u64>()),
                proptest::collection::vec(any::<u8>(), 0..=256)
            )
                .prop_map(|(symbol, name, decimals, max_supply, metadata)| {
                    Call::Bank(BankCall::CreateAsset {
                        symbol,
                        name,
                        decimals,
                        max_supply,
                        metadata,
                    })
                }),
            (any::<u64>(), addr.clone(), any::<u64>()).prop_map(|(asset, to, amount)| Call::Bank(
                BankCall::MintAsset { asset, to, amount }
            )),
            (any::<u64>(), addr.clone(), any::<u64>()).prop_map(|(asset, to, amount)| {
                Call::Bank(BankCall::TransferAsset { asset, to, amount })
            }),
            (any::<u64>(), any::<u64>())
                .prop_map(|(asset, amount)| Call::Bank(BankCall::BurnAsset { asset, amount })),
            (addr.clone(), any::<[u8; 32]>()).prop_map(|(to, h)| {
                Call::Bank(BankCall::MintNft { to, metadata_hash: Hash(h) })
            }),
            (any::<u64>(), addr).prop_map(|(id, to)| Call::Bank(BankCall::TransferNft { id, to })),
            any::<u64>().prop_map(|id| Call::Bank(BankCall::BurnNft { id })),
            other_call(),
            market_call(),
        ]
    }

    fn market_call() -> impl Strategy<Value = Call> {
        use crate::market::*;
        let hash = any::<[u8; 32]>().prop_map(Hash);
        let sig = any::<u64>().prop_map(|s| ed25519::PrivateKey::from_seed(s).sign(b"t", b"m"));
        let kind = prop_oneof![
            Just(ResourceKind::Data),
            Just(ResourceKind::Compute),
            Just(ResourceKind::Energy),
            "[a-z]{1,32}".prop_map(|command| ResourceKind::Actuation { command }),
            "[a-z]{1,32}".prop_map(|name| ResourceKind::Custom { name }),
        ];
        let stake = prop_oneof![Just(StakeKind::Provider), Just(StakeKind::Solver)];
        let delivery = prop_oneof![
            Just(Delivery::Receipt),
            Just(Delivery::DeviceAck),
            (any::<u64>(), any::<bool>(), any::<i64>()).prop_map(|(feed, least, threshold)| {
                let comparison = if least { Comparison::AtLeast } else { Comparison::AtMost };
                Delivery::Feed { feed, comparison, threshold }
            }),
        ];
        let region = "[0-9b-hjkmnp-z]{0,12}";
        prop_oneof![
            (stake.clone(), any::<u64>())
                .prop_map(|(kind, amount)| Call::Market(MarketCall::Stake { kind, amount })),
            (stake, any::<u64>())
                .prop_map(|(kind, amount)| Call::Market(MarketCall::Unbond { kind, amount })),
            (
                hash.clone(),
                kind.clone(),
                region,
                any::<u64>(),
                any::<u64>(),
                delivery,
                any::<u64>()
            )
                .prop_map(
                    |(device, kind, region, capacity, floor_price, delivery, expiry_ms)| {
                        Call::Market(MarketCall::Offer {
                            device,
                            kind,
                            region: region.to_string(),
                            capacity,
                            floor_price,
                            delivery,
                            expiry_ms,
                        })
                    }
                ),
            (
                region,
                proptest::collection::vec(
                    (kind, any::<u64>()).prop_map(|(kind, quantity)| Component { kind, quantity }),
                    1..=COMPONENTS_MAX
                ),
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                any::<u8>(),
                any::<bool>()
            )
                .prop_map(
                    |(
                        region,
                        components,
                        units,
                        max_price,
                        deadline_ms,
                        min_reputation,
                        partial,
                    )| {
                        Call::Market(MarketCall::Intent {
                            region: region.to_string(),
                            components,
                            units,
                            max_price,
                            deadline_ms,
                            min_reputation,
                            partial,
                        })
                    }
                ),
            (
                any::<u64>(),
                proptest::collection::vec(
                    (hash, any::<u64>()).prop_map(|(market, price)| MarketPrice { market, price }),
                    1..4
                ),
                proptest::collection::vec(
                    (any::<u64>(), any::<u64>(), any::<u64>())
                        .prop_map(|(intent, offer, units)| Fill { intent, offer, units }),
                    1..8
                )
            )
                .prop_map(|(batch, prices, fills)| Call::Market(MarketCall::Solve {
                    batch,
                    prices,
                    fills
                })),
            (any::<u64>(), sig, any::<bool>()).prop_map(|(lease, signature, ack)| {
                let proof = if ack {
                    DeliveryProof::DeviceAck { signature }
                } else {
                    DeliveryProof::ConsumerReceipt { signature }
                };
                Call::Market(MarketCall::Deliver { lease, proof })
            }),
            any::<u64>().prop_map(|lease| Call::Market(MarketCall::Dispute { lease })),
        ]
    }

    fn other_call() -> impl Strategy<Value = Call> {
        use crate::{
            data::{DataCall, Eligibility},
            identity::IdentityCall,
        };
        let addr = any::<[u8; 32]>().prop_map(Address);
        let hash = any::<[u8; 32]>().prop_map(Hash);
        let sig = any::<u64>().prop_map(|s| ed25519::PrivateKey::from_seed(s).sign(b"t", b"m"));
        prop_oneof![
            ("[a-z]{1,64}", addr.clone(), any::<u64>()).prop_map(|(name, maker_key, bond)| {
                Call::Identity(IdentityCall::RegisterMaker { name, maker_key, bond })
            }),
            (hash.clone(), addr.clone(), sig.clone()).prop_map(|(device, new_key, signature)| {
                Call::Identity(IdentityCall::RotateKey { device, new_key, signature })
            }),
            (hash.clone(), "[a-z]{1,32}", proptest::option::of("[ -~]{0,128}")).prop_map(
                |(device, key, value)| Call::Identity(IdentityCall::SetAttribute {
                    device,
                    key,
                    value
                })
            ),
            (hash.clone(), addr.clone(), "[a-z]{1,32}", proptest::option::of(any::<u64>()))
                .prop_map(|(device, account, role, expiry_height)| {
                    Call::Identity(IdentityCall::GrantRole { device, account, role, expiry_height })
                }),
            hash.clone().prop_map(|device| Call::Identity(IdentityCall::Decommission { device })),
            (
                hash.clone(),
                any::<u32>(),
                any::<u64>(),
                any::<u64>(),
                any::<u32>(),
                hash.clone(),
                addr.clone()
            )
                .prop_map(
                    |(device, stream, first_seq, last_seq, count, root, device_key)| {
                        Call::Data(DataCall::Anchor {
                            device,
                            stream,
                            first_seq,
                            last_seq,
                            count,
                            root,
                            device_key,
                        })
                    }
                ),
            (
                "[a-z]{1,32}",
                any::<u32>(),
                prop_oneof![
                    proptest::collection::vec(hash, 1..8)
                        .prop_map(|devices| Eligibility::Devices { devices }),
                    addr.prop_map(|maker| Eligibility::Maker { maker }),
                    "[a-z]{1,32}".prop_map(|role| Eligibility::Role { role }),
                    ("[a-z]{1,32}", "[a-z]{0,32}")
                        .prop_map(|(key, value)| Eligibility::Attribute { key, value }),
                ],
                any::<u8>(),
                any::<u64>(),
                "[a-zA-Z]{0,16}",
                0u8..=18,
            )
                .prop_map(
                    |(name, stream, eligibility, min_sources, max_staleness_ms, unit, decimals)| {
                        Call::Data(DataCall::CreateFeed {
                            name,
                            stream,
                            eligibility,
                            min_sources,
                            max_staleness_ms,
                            unit,
                            decimals,
                        })
                    }
                ),
        ]
    }

    proptest! {
        #[test]
        fn transactions_round_trip_canonically(
            seed in any::<u64>(),
            nonce in any::<u64>(),
            fee in any::<u64>(),
            expiry in any::<u64>(),
            chain in "[a-z0-9-]{0,32}",
            calls in proptest::collection::vec(arb_call(), 0..=CALLS_PER_TX_MAX),
        ) {
            let k = key(seed);
            let tx = Transaction {
                chain_id: chain,
                signer: Address::of(&k.public_key()),
                nonce, fee, expiry_height: expiry, calls,
            }.sign(&k);
            let bytes = tx.encode();
            prop_assert_eq!(bytes.len(), tx.encode_size());
            let back = SignedTransaction::decode(bytes.clone()).unwrap();
            prop_assert_eq!(&back, &tx);
            prop_assert_eq!(back.encode(), bytes);
            prop_assert!(back.verify_signature());
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = SignedTransaction::decode_checked(&bytes);
        }
    }
}

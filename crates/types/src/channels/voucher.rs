//! Vouchers: what a payer signs off chain to pay a payee cumulatively,
//! per reading, per request or per kWh, without a transaction each time.
//!
//! A voucher names its chain, its channel and the cumulative amount the payee may take
//! from the channel's deposit so far. Each new voucher supersedes the last: the payee keeps
//! only the highest and settles it on chain whenever it likes, so the chain's work is the
//! same whatever the number of vouchers. A voucher for another chain or channel, or not
//! signed by the channel's payer, does not verify; one that does not raise the cumulative
//! amount is worth nothing new (the channel module refuses it).

use super::ChannelId;
use crate::{Address, Amount, Signature, codec::write_str};
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// Namespace of a payer's signature on a voucher.
pub const VOUCHER_NAMESPACE: &[u8] = b"machina/channel-voucher/v1";

/// A payer's promise: the payee of `channel` may take `cumulative` in all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Voucher {
    /// The channel.
    pub channel: ChannelId,
    /// What the payee may take from the channel in all, so far.
    pub cumulative: Amount,
}

crate::struct_codec!(Voucher { channel: plain, cumulative: plain });

/// The bytes a payer signs for `voucher` on `chain_id`.
pub fn voucher_message(chain_id: &str, voucher: &Voucher) -> Vec<u8> {
    let mut out = Vec::with_capacity(chain_id.len() + 17);
    write_str(chain_id, &mut out);
    out.extend_from_slice(&voucher.channel.to_be_bytes());
    out.extend_from_slice(&voucher.cumulative.to_be_bytes());
    out
}

/// A voucher with its payer's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct SignedVoucher {
    /// The voucher.
    pub voucher: Voucher,
    /// The payer's signature over [`voucher_message`].
    #[serde(with = "crate::codec::hex_codec")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::signature))]
    pub signature: Signature,
}

crate::struct_codec!(SignedVoucher { voucher: plain, signature: plain });

impl SignedVoucher {
    /// Signs `voucher` for `chain_id` with the payer's key.
    pub fn sign(
        key: &commonware_cryptography::ed25519::PrivateKey,
        chain_id: &str,
        voucher: Voucher,
    ) -> Self {
        use commonware_cryptography::Signer;
        let signature = key.sign(VOUCHER_NAMESPACE, &voucher_message(chain_id, &voucher));
        Self { voucher, signature }
    }

    /// Whether `payer` signed this voucher for `chain_id` (a weak or invalid key never
    /// verifies anything).
    pub fn verify(&self, chain_id: &str, payer: &Address) -> bool {
        use commonware_cryptography::Verifier;
        let message = voucher_message(chain_id, &self.voucher);
        payer
            .public_key()
            .is_some_and(|key| key.verify(VOUCHER_NAMESPACE, &message, &self.signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt, Encode};
    use commonware_cryptography::{Signer, ed25519::PrivateKey};

    fn payer() -> (PrivateKey, Address) {
        let key = PrivateKey::from_seed(41);
        let address = Address::of(&key.public_key());
        (key, address)
    }

    #[test]
    fn a_voucher_verifies_for_its_payer_chain_and_channel_only() {
        let (key, payer_address) = payer();
        let voucher = Voucher { channel: 7, cumulative: 1_250 };
        let signed = SignedVoucher::sign(&key, "machina-dev", voucher);
        assert!(signed.verify("machina-dev", &payer_address));
        assert!(!signed.verify("other-chain", &payer_address), "another chain");
        let other = Address::of(&PrivateKey::from_seed(42).public_key());
        assert!(!signed.verify("machina-dev", &other), "another payer");
        let moved = SignedVoucher { voucher: Voucher { channel: 8, ..voucher }, ..signed.clone() };
        assert!(!moved.verify("machina-dev", &payer_address), "another channel");
        let raised = SignedVoucher { voucher: Voucher { cumulative: 1_251, ..voucher }, ..signed };
        assert!(!raised.verify("machina-dev", &payer_address), "a raised amount");
        assert!(!raised.verify("machina-dev", &Address([0; 32])), "a weak key verifies nothing");
    }

    #[test]
    fn a_signed_voucher_round_trips_in_binary_and_json() {
        let (key, _) = payer();
        let signed = SignedVoucher::sign(&key, "c", Voucher { channel: u64::MAX, cumulative: 0 });
        let bytes = signed.encode();
        assert_eq!(bytes.len(), 8 + 8 + 64);
        assert_eq!(SignedVoucher::decode(bytes).unwrap(), signed);
        let json = serde_json::to_string(&signed).unwrap();
        assert_eq!(serde_json::from_str::<SignedVoucher>(&json).unwrap(), signed);
    }

    #[test]
    fn messages_of_different_chains_never_collide() {
        // The chain id is length-prefixed: "ab" + channel bytes cannot read as "a" + ...
        let v = Voucher { channel: 1, cumulative: 2 };
        assert_ne!(voucher_message("ab", &v), voucher_message("a", &v));
    }
}

//! Building and signing transactions.

use commonware_cryptography::{Signer, ed25519::PrivateKey};
use machina_types::{Address, Call, Height, SignedTransaction, Transaction, tx::FeeSchedule};

/// How long, in blocks, a transaction stays valid by default.
pub const DEFAULT_VALIDITY_BLOCKS: u64 = 600;

/// What a transaction needs besides its calls.
#[derive(Clone, Debug)]
pub struct TxParams {
    /// The chain id.
    pub chain_id: String,
    /// The signer's next nonce.
    pub nonce: u64,
    /// Last height the transaction may be included at.
    pub expiry_height: Height,
    /// The chain's fee rule.
    pub fees: FeeSchedule,
}

/// Signs `calls` with `key`, paying exactly the fee the transaction costs.
pub fn build(key: &PrivateKey, params: &TxParams, calls: Vec<Call>) -> SignedTransaction {
    Transaction {
        chain_id: params.chain_id.clone(),
        signer: Address::of(&key.public_key()),
        nonce: params.nonce,
        fee: 0,
        expiry_height: params.expiry_height,
        calls,
    }
    .sign_paying_fee(key, &params.fees)
}

#[cfg(test)]
mod tests {
    use super::*;
    use machina_types::{BankCall, tx::CheckParams};

    #[test]
    fn built_transactions_pay_exactly_their_fee_and_pass_the_checks() {
        let key = PrivateKey::from_seed(1);
        let params = TxParams {
            chain_id: "c".into(),
            nonce: 3,
            expiry_height: 50,
            fees: FeeSchedule::default(),
        };
        let calls = vec![Call::Bank(BankCall::Transfer { to: Address([2; 32]), amount: 9 })];
        let tx = build(&key, &params, calls);
        assert_eq!(tx.tx.fee, tx.required_fee(&params.fees));
        let check = CheckParams { chain_id: "c", height: 10, fees: params.fees };
        assert_eq!(tx.check(&check), Ok(()));
    }
}

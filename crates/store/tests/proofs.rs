//! State proofs against a real state database on the deterministic runtime.

use commonware_runtime::{Runner, deterministic};
use commonware_storage::qmdb::floor::Proportional;
use machina_store::{StateDb, StateProof, page_cache, state_db_config};
use machina_types::Hash;

fn key(i: u64) -> Hash {
    Hash::of(&[b"test/", &i.to_be_bytes()])
}

#[test]
fn inclusion_and_absence_proofs_verify_and_tampering_fails() {
    deterministic::Runner::seeded(7).start(|context| async move {
        let cfg = state_db_config("proofs", page_cache(commonware_utils::NZUsize!(64)));
        let mut db = StateDb::init(context, cfg, None).await.unwrap();
        let mut batch = db.new_batch();
        for i in 0..1_000u64 {
            batch = batch.write(key(i).digest(), Some(i.to_be_bytes().to_vec().into()));
        }
        let merkleized = batch.merkleize(&db, None, &mut Proportional).await.unwrap();
        let root = Hash::from(merkleized.root());
        db = db.apply_batch(merkleized).await.unwrap();
        assert_eq!(Hash::from(db.root()), root);

        let k = key(42);
        let proof = StateProof::inclusion(&db.key_value_proof(k.digest()).await.unwrap());
        let value = 42u64.to_be_bytes();
        assert_eq!(proof.verify(&k, Some(&value), &root), Ok(()));
        assert!(proof.verify(&k, Some(&43u64.to_be_bytes()), &root).is_err());
        assert!(proof.verify(&key(43), Some(&value), &root).is_err());
        assert!(proof.verify(&k, None, &root).is_err());
        println!("inclusion proof: {} bytes", proof.len());

        let absent = key(5_000);
        let proof = StateProof::exclusion(&db.exclusion_proof(&absent.digest()).await.unwrap());
        assert_eq!(proof.verify(&absent, None, &root), Ok(()));
        assert!(proof.verify(&k, None, &root).is_err(), "a present key cannot be proven absent");
        println!("exclusion proof: {} bytes", proof.len());

        let json = serde_json::to_string(&proof).unwrap();
        let back: StateProof = serde_json::from_str(&json).unwrap();
        assert_eq!(back, proof);
    });
}

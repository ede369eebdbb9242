//! Token keys: generation for every KeySpec, signatures with every applicable mechanism and hash,
//! verified with RustCrypto; attributes read back; SPKI; find; destroy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use qtsp_hsm::{DigestAlg, KeySpec, SignMechanism};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spec_signs_with_every_mechanism_and_hash() {
    let hsm = common::pool(2).await;
    for spec in KeySpec::ALL {
        let id = common::key_id(spec.name());
        let generated = hsm
            .generate_key_pair(spec, &format!("test {spec}"), &id)
            .await
            .unwrap();
        assert_eq!(generated.key.id, id);
        // The SPKI read back later equals the one returned at generation.
        assert_eq!(
            hsm.public_key_spki(&generated.key).await.unwrap(),
            generated.spki_der
        );

        for mech in common::mechanisms_for(spec) {
            let msg = format!("message for {spec} / {mech}");
            let digest = mech.digest_alg().digest(msg.as_bytes());
            let sig = hsm
                .sign_digest(&generated.key, mech, &digest)
                .await
                .unwrap();
            common::verify(&generated.spki_der, mech, &digest, &sig);

            // sign_message hashes in software and gives a signature over the same digest.
            let sig = hsm
                .sign_message(&generated.key, mech, msg.as_bytes())
                .await
                .unwrap();
            common::verify(&generated.spki_der, mech, &digest, &sig);
        }
        hsm.destroy_key(&generated.key).await.unwrap();
        assert!(hsm.find_key(&id).await.unwrap().is_none());
    }
    hsm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_keys_are_sensitive_and_never_extractable() {
    let hsm = common::pool(1).await;
    for spec in [KeySpec::EcP256, KeySpec::Rsa2048] {
        let id = common::key_id("attrs");
        let key = hsm.generate_key_pair(spec, "attrs", &id).await.unwrap().key;
        let a = hsm.key_attributes(&key).await.unwrap();
        assert!(a.token, "CKA_TOKEN");
        assert!(a.private, "CKA_PRIVATE");
        assert!(a.sensitive, "CKA_SENSITIVE");
        assert!(!a.extractable, "CKA_EXTRACTABLE");
        assert!(a.always_sensitive, "CKA_ALWAYS_SENSITIVE");
        assert!(a.never_extractable, "CKA_NEVER_EXTRACTABLE");
        assert!(a.sign, "CKA_SIGN");
        hsm.destroy_key(&key).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_key_returns_label_and_batches_sign_in_order() {
    let hsm = common::pool(2).await;
    let id = common::key_id("batch");
    let generated = hsm
        .generate_key_pair(KeySpec::EcP384, "batch key", &id)
        .await
        .unwrap();
    let found = hsm.find_key(&id).await.unwrap().unwrap();
    assert_eq!(found.label, "batch key");
    assert_eq!(found, generated.key);

    let mech = SignMechanism::Ecdsa(DigestAlg::Sha384);
    let digests: Vec<Vec<u8>> = (0..10)
        .map(|i| DigestAlg::Sha384.digest(format!("doc {i}").as_bytes()))
        .collect();
    let sigs = hsm
        .sign_digests(&found, mech, digests.clone())
        .await
        .unwrap();
    assert_eq!(sigs.len(), digests.len());
    for (d, s) in digests.iter().zip(&sigs) {
        common::verify(&generated.spki_der, mech, d, s);
    }
    assert!(
        hsm.sign_digests(&found, mech, Vec::new())
            .await
            .unwrap()
            .is_empty()
    );
    hsm.destroy_key(&found).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spki_has_the_expected_algorithm_identifiers() {
    let hsm = common::pool(1).await;
    let ec = hsm
        .generate_key_pair(KeySpec::EcP256, "spki ec", &common::key_id("spki-ec"))
        .await
        .unwrap();
    // SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (0 unused bits, 04 || X || Y) }
    let expected_prefix = hex_literal(
        "3059301306072a8648ce3d020106082a8648ce3d030107034200", /* then 04 */
    );
    assert_eq!(
        &ec.spki_der[..expected_prefix.len()],
        expected_prefix.as_slice()
    );
    assert_eq!(ec.spki_der[expected_prefix.len()], 0x04);
    assert_eq!(ec.spki_der.len(), 91);

    let rsa = hsm
        .generate_key_pair(KeySpec::Rsa2048, "spki rsa", &common::key_id("spki-rsa"))
        .await
        .unwrap();
    // SEQUENCE { SEQUENCE { rsaEncryption, NULL }, BIT STRING { RSAPublicKey } }
    let alg = hex_literal("300d06092a864886f70d0101010500");
    assert!(rsa.spki_der.windows(alg.len()).any(|w| w == alg.as_slice()));
    let key = {
        use p256::pkcs8::DecodePublicKey;
        rsa::PublicKey::from_public_key_der(&rsa.spki_der).unwrap()
    };
    use rsa::traits::PublicKeyParts;
    assert_eq!(key.size(), 256);
    hsm.destroy_key(&ec.key).await.unwrap();
    hsm.destroy_key(&rsa.key).await.unwrap();
}

fn hex_literal(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

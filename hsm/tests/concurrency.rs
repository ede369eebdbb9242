//! Many async callers on a small pool; recovery after the login is lost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use qtsp_hsm::{DigestAlg, KeySpec, SignMechanism};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_signers_on_three_sessions() {
    let kek = common::kek().await;
    let hsm = common::pool(3).await;
    let token_key = hsm
        .generate_key_pair(KeySpec::EcP256, "concurrent", &common::key_id("conc"))
        .await
        .unwrap();
    let wrapped = hsm
        .generate_wrapped_signer_key(KeySpec::EcP384, &kek)
        .await
        .unwrap();

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64u32 {
        let hsm = hsm.clone();
        let token_key = token_key.clone();
        let wrapped = wrapped.clone();
        let kek = kek.clone();
        tasks.spawn(async move {
            for round in 0..4u32 {
                let msg = format!("task {i} round {round}");
                if (i + round) % 4 == 0 {
                    let mech = SignMechanism::Ecdsa(DigestAlg::Sha384);
                    let d = DigestAlg::Sha384.digest(msg.as_bytes());
                    let sigs = hsm
                        .sign_with_wrapped_key(&kek, &wrapped, mech, vec![d.clone()])
                        .await
                        .unwrap();
                    common::verify(&wrapped.spki_der, mech, &d, &sigs[0]);
                } else {
                    let mech = SignMechanism::Ecdsa(DigestAlg::Sha256);
                    let d = DigestAlg::Sha256.digest(msg.as_bytes());
                    let sig = hsm.sign_digest(&token_key.key, mech, &d).await.unwrap();
                    common::verify(&token_key.spki_der, mech, &d, &sig);
                }
            }
            i
        });
    }
    let mut done = 0;
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
        done += 1;
    }
    assert_eq!(done, 64);
    assert_eq!(hsm.check().await.unwrap().sessions_alive, 3);
    hsm.destroy_key(&token_key.key).await.unwrap();
    hsm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroyed_key_is_forgotten_by_every_worker() {
    let hsm = common::pool(3).await;
    let id = common::key_id("forget");
    let mech = SignMechanism::Ecdsa(DigestAlg::Sha256);
    let d = DigestAlg::Sha256.digest(b"x");
    let first = hsm
        .generate_key_pair(KeySpec::EcP256, "v1", &id)
        .await
        .unwrap();
    // Warm every worker's cache.
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let hsm = hsm.clone();
        let key = first.key.clone();
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            hsm.sign_digest(&key, mech, &d).await.unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    hsm.destroy_key(&first.key).await.unwrap();
    // Same CKA_ID, new key: every worker must sign with the new one.
    let second = hsm
        .generate_key_pair(KeySpec::EcP256, "v2", &id)
        .await
        .unwrap();
    for _ in 0..12 {
        let sig = hsm.sign_digest(&second.key, mech, &d).await.unwrap();
        common::verify(&second.spki_der, mech, &d, &sig);
    }
    hsm.destroy_key(&second.key).await.unwrap();
}

/// SoftHSM2 2.6.1 fails now and then (CKR_GENERAL_ERROR, CKR_TEMPLATE_INCONSISTENT) when a token
/// object is created or destroyed while other threads of the process read token objects
/// (C_FindObjects, C_GetAttributeValue, C_Sign). The pool gives key generation and destruction
/// exclusive access; without that this test fails in most runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_token_key_lifecycles_all_succeed() {
    let hsm = common::pool(4).await;
    let fixed = hsm
        .generate_key_pair(KeySpec::EcP256, "fixed", &common::key_id("fixed"))
        .await
        .unwrap();
    let mech = SignMechanism::Ecdsa(DigestAlg::Sha256);
    let d = DigestAlg::Sha256.digest(b"lifecycle");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let hsm = hsm.clone();
        let fixed = fixed.clone();
        let d = d.clone();
        tasks.spawn(async move {
            for round in 0..6 {
                if i % 2 == 0 {
                    let spec = if (i + round) % 4 == 0 {
                        KeySpec::EcP384
                    } else {
                        KeySpec::EcP256
                    };
                    let key = hsm
                        .generate_key_pair(spec, "lifecycle", &common::key_id("life"))
                        .await
                        .unwrap();
                    let sig = hsm.sign_digest(&key.key, mech, &d).await.unwrap();
                    common::verify(&key.spki_der, mech, &d, &sig);
                    hsm.destroy_key(&key.key).await.unwrap();
                } else {
                    for _ in 0..10 {
                        assert!(hsm.find_key(&fixed.key.id).await.unwrap().is_some());
                        assert_eq!(
                            hsm.public_key_spki(&fixed.key).await.unwrap(),
                            fixed.spki_der
                        );
                        let sig = hsm.sign_digest(&fixed.key, mech, &d).await.unwrap();
                        common::verify(&fixed.spki_der, mech, &d, &sig);
                    }
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    hsm.destroy_key(&fixed.key).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_signer_answers_every_caller_with_its_own_signature() {
    let hsm = common::pool(2).await;
    let key = hsm
        .generate_key_pair(KeySpec::EcP384, "batched", &common::key_id("batch"))
        .await
        .unwrap();
    let mech = SignMechanism::Ecdsa(DigestAlg::Sha384);
    let signer = hsm.batch_signer(key.key.clone(), mech);
    // A wrong digest length is refused before anything is queued.
    assert_eq!(signer.sign(&[0u8; 32]).await.unwrap_err().code(), "HSM011");

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..256u32 {
        let signer = signer.clone();
        tasks.spawn(async move {
            let d = DigestAlg::Sha384.digest(format!("batched {i}").as_bytes());
            let sig = signer.sign(&d).await.unwrap();
            (d, sig)
        });
    }
    let mut done = 0;
    while let Some(r) = tasks.join_next().await {
        let (d, sig) = r.unwrap();
        // Each caller's signature verifies over its own digest: no answers were swapped.
        common::verify(&key.spki_der, mech, &d, &sig);
        done += 1;
    }
    assert_eq!(done, 256);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_signer_lets_other_jobs_through_while_its_queue_is_long() {
    // One session: the batch signer's drainer and the other job compete for it.
    let hsm = common::pool(1).await;
    let key = hsm
        .generate_key_pair(KeySpec::EcP384, "flood", &common::key_id("flood"))
        .await
        .unwrap();
    let mech = SignMechanism::Ecdsa(DigestAlg::Sha384);
    let signer = hsm.batch_signer(key.key.clone(), mech);
    const FLOOD: usize = 400;
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..FLOOD {
        let (signer, answered) = (signer.clone(), answered.clone());
        tasks.spawn(async move {
            let d = DigestAlg::Sha384.digest(format!("flood {i}").as_bytes());
            signer.sign(&d).await.unwrap();
            answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
    }
    // Wait until the drainer is at work, then ask for one unrelated signature.
    while answered.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let d = DigestAlg::Sha384.digest(b"not part of the flood");
    let sig = hsm.sign_digest(&key.key, mech, &d).await.unwrap();
    let answered_meanwhile = answered.load(std::sync::atomic::Ordering::SeqCst);
    common::verify(&key.spki_der, mech, &d, &sig);
    eprintln!("{answered_meanwhile} of {FLOOD} queued signatures answered before the other job");
    // The drainer ended its turn for the waiting job instead of signing the whole queue first.
    assert!(
        answered_meanwhile < FLOOD,
        "the other job waited for all {FLOOD} queued signatures"
    );
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    assert_eq!(answered.load(std::sync::atomic::Ordering::SeqCst), FLOOD);
    hsm.destroy_key(&key.key).await.unwrap();
    hsm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_signer_answers_every_caller_when_the_key_is_missing() {
    let hsm = common::pool(2).await;
    let key = hsm
        .generate_key_pair(KeySpec::EcP256, "gone", &common::key_id("gone"))
        .await
        .unwrap();
    hsm.destroy_key(&key.key).await.unwrap();
    let mech = SignMechanism::Ecdsa(DigestAlg::Sha256);
    let signer = hsm.batch_signer(key.key.clone(), mech);
    // Two waves: the second comes after the first wave's drainers have given up.
    for wave in 0..2u32 {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..64u32 {
            let signer = signer.clone();
            tasks.spawn(async move {
                let d = DigestAlg::Sha256.digest(format!("wave {wave} caller {i}").as_bytes());
                signer.sign(&d).await
            });
        }
        let mut failed = 0;
        while let Some(r) = tasks.join_next().await {
            let error = r.unwrap().unwrap_err();
            // Every caller learns why: the key is not on the token (HSM007 inside HSM024).
            assert_eq!(error.code(), "HSM024", "{error}");
            assert!(error.to_string().contains("HSM007"), "{error}");
            failed += 1;
        }
        assert_eq!(failed, 64);
    }
    assert_eq!(hsm.check().await.unwrap().sessions_alive, 2);
    hsm.shutdown().await;
}

//! Verifier scenarios on journals built in memory and signed with a software key (the
//! integration tests in tests/audit/ repeat them on real databases, SoftHSM2 and bundles).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use p256::pkcs8::EncodePublicKey as _;
use time::OffsetDateTime;
use time::macros::datetime;

use super::chain::{record_hash_as, sha256};
use super::verify::{ChainVerifier, CheckpointEvidence, ExpectedEnd, StatedStatement};
use super::*;
use crate::storage::{AuditCheckpoint, AuditRecord};

const T0: OffsetDateTime = datetime!(2026-11-23 08:00:00 UTC);

fn signing_key(byte: u8) -> SigningKey {
    SigningKey::from_slice(&[byte; 32]).unwrap()
}

fn spki(key: &SigningKey) -> Vec<u8> {
    key.verifying_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec()
}

/// A journal as the database holds it: records and checkpoint rows.
#[derive(Clone)]
struct Fixture {
    records: Vec<AuditRecord>,
    checkpoints: Vec<AuditCheckpoint>,
}

impl Fixture {
    /// `events` events with a checkpoint (and its announcement) after every `every` events.
    fn build(events: u64, every: u64, key: &SigningKey) -> Fixture {
        let mut fixture = Fixture {
            records: Vec::new(),
            checkpoints: Vec::new(),
        };
        for i in 1..=events {
            fixture.push(&AuditEvent::AdminAction {
                action: format!("action-{i}"),
                target: Some("t".into()),
                detail: None,
            });
            if i % every == 0 {
                fixture.checkpoint(key);
            }
        }
        fixture
    }

    fn push(&mut self, event: &AuditEvent) {
        let prev = self
            .records
            .last()
            .map_or(GENESIS_HASH.to_vec(), |r| r.hash.clone());
        let seq = self.records.len() as u64 + 1;
        let mut record = AuditRecord {
            seq,
            recorded_at: T0 + time::Duration::milliseconds(seq as i64),
            event_type: event.event_type().to_owned(),
            actor: "admin:alice".into(),
            payload: event.to_payload().unwrap(),
            prev_hash: prev,
            hash: Vec::new(),
        };
        record.hash = record_hash_as(&record, seq).to_vec();
        self.records.push(record);
    }

    fn checkpoint(&mut self, key: &SigningKey) {
        let head = self.records.last().unwrap().clone();
        let statement = CheckpointStatement {
            seq: head.seq,
            record_hash: head.hash.clone(),
            signed_at: head.recorded_at,
            key_id: key_id_of_spki(&spki(key)),
            algorithm: CHECKPOINT_ALGORITHM.into(),
        };
        let signature: p256::ecdsa::Signature = key
            .sign_prehash(&sha256(statement.to_text().as_bytes()))
            .unwrap();
        self.checkpoints.push(AuditCheckpoint {
            seq: head.seq,
            recorded_at: statement.signed_at,
            signature: signature.to_der().as_bytes().to_vec(),
            key_id: statement.key_id.clone(),
            algorithm: statement.algorithm.clone(),
        });
        self.push(&AuditEvent::CheckpointSigned {
            checkpoint_seq: head.seq,
            record_hash: head.hash.as_slice().try_into().unwrap(),
            key_id: statement.key_id,
            algorithm: statement.algorithm,
        });
    }

    /// Recomputes every hash and link from record `from` on, as someone rewriting the journal
    /// consistently would.
    fn rechain_from(&mut self, from: u64) {
        for index in (from as usize - 1)..self.records.len() {
            let prev = match index {
                0 => GENESIS_HASH.to_vec(),
                i => self.records[i - 1].hash.clone(),
            };
            let record = &mut self.records[index];
            record.prev_hash = prev;
            record.hash = record_hash_as(record, record.seq).to_vec();
        }
    }

    fn head(&self) -> ExpectedEnd {
        let last = self.records.last().unwrap();
        ExpectedEnd {
            seq: last.seq,
            hash: last.hash.clone(),
        }
    }

    /// Verifies as the database driver does (statements rebuilt from the journal).
    fn verify(&self, trusted: &[Vec<u8>], end: Option<ExpectedEnd>) -> VerifyReport {
        let mut verifier = ChainVerifier::new(
            TrustedKeys::from_spki_ders(trusted).unwrap(),
            false,
            VerifySource::Database {
                backend: crate::storage::Backend::Sqlite,
            },
        );
        for checkpoint in &self.checkpoints {
            verifier.push_checkpoint(CheckpointEvidence::from_stored(checkpoint.clone()));
        }
        for record in &self.records {
            if !verifier.push_record(record.clone()) {
                break;
            }
        }
        verifier.finish(end)
    }

    /// Verifies as the bundle driver does (statements as files), with `statements` giving the
    /// statement text of each checkpoint.
    fn verify_stated(&self, trusted: &[Vec<u8>], statements: &[(u64, String)]) -> VerifyReport {
        let mut verifier = ChainVerifier::new(
            TrustedKeys::from_spki_ders(trusted).unwrap(),
            false,
            VerifySource::Bundle { dir: "b".into() },
        );
        for checkpoint in &self.checkpoints {
            let text = &statements
                .iter()
                .find(|(s, _)| *s == checkpoint.seq)
                .unwrap()
                .1;
            let stated = CheckpointStatement::parse(text).unwrap();
            verifier.push_checkpoint(CheckpointEvidence {
                seq: checkpoint.seq,
                signed_at: stated.signed_at,
                key_id: stated.key_id.clone(),
                algorithm: stated.algorithm.clone(),
                signature: checkpoint.signature.clone(),
                stated: Some(StatedStatement {
                    text: text.as_bytes().to_vec(),
                    record_hash: stated.record_hash,
                }),
                malformed: None,
            });
        }
        for record in &self.records {
            if !verifier.push_record(record.clone()) {
                break;
            }
        }
        verifier.finish(Some(self.head()))
    }

    fn statements(&self) -> Vec<(u64, String)> {
        self.checkpoints
            .iter()
            .map(|c| {
                let hash = self.records[c.seq as usize - 1].hash.clone();
                let text = CheckpointStatement {
                    seq: c.seq,
                    record_hash: hash,
                    signed_at: c.recorded_at,
                    key_id: c.key_id.clone(),
                    algorithm: c.algorithm.clone(),
                }
                .to_text();
                (c.seq, text)
            })
            .collect()
    }
}

fn broken(report: &VerifyReport) -> (u64, BrokenReason) {
    let b = report
        .first_broken
        .clone()
        .unwrap_or_else(|| panic!("not detected:\n{report}"));
    (b.seq, b.reason)
}

/// 100 events, a checkpoint after every 10: records 1..=110, checkpoints over 10, 21, 32...
fn fixture() -> (Fixture, Vec<Vec<u8>>) {
    let key = signing_key(7);
    (Fixture::build(100, 10, &key), vec![spki(&key)])
}

#[test]
fn intact_journal_verifies() {
    let (f, trusted) = fixture();
    let report = f.verify(&trusted, Some(f.head()));
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records, 110);
    assert_eq!(report.checkpoints, 10);
    assert_eq!(report.last_checkpoint_seq, Some(109));
    assert_eq!(report.records_after_last_checkpoint(), 1);
    assert!(report.to_string().contains("INTACT"), "{report}");
    let stated = f.verify_stated(&trusted, &f.statements());
    assert!(stated.is_intact(), "{stated}");
}

#[test]
fn edited_payload() {
    let (mut f, trusted) = fixture();
    f.records[22].payload = f.records[22].payload.replace("action-", "acti0n-");
    let report = f.verify(&trusted, Some(f.head()));
    assert_eq!(broken(&report), (23, BrokenReason::HashMismatch));
    assert!(
        report.to_string().contains("BROKEN at record 23"),
        "{report}"
    );
    assert_eq!(report.records, 22);
}

#[test]
fn deleted_record() {
    let (mut f, trusted) = fixture();
    f.records.remove(36);
    let report = f.verify(&trusted, None);
    assert_eq!(
        broken(&report),
        (
            37,
            BrokenReason::Gap {
                expected: 37,
                found: 38
            }
        )
    );
}

#[test]
fn deleted_record_with_renumbering() {
    let (mut f, trusted) = fixture();
    f.records.remove(36);
    for r in &mut f.records[36..] {
        r.seq -= 1;
    }
    let report = f.verify(&trusted, None);
    assert_eq!(
        broken(&report),
        (37, BrokenReason::RemovedAndRenumbered { written_as: 38 })
    );
}

#[test]
fn inserted_record_with_renumbering() {
    let (mut f, trusted) = fixture();
    // A forged record 41 that links correctly; the old 41.. become 42..
    let mut forged = f.records[40].clone();
    forged.payload = forged.payload.replace("action-", "forged-");
    forged.hash = record_hash_as(&forged, 41).to_vec();
    f.records.insert(40, forged);
    for r in &mut f.records[41..] {
        r.seq += 1;
    }
    let report = f.verify(&trusted, None);
    assert_eq!(broken(&report), (41, BrokenReason::Inserted));
}

#[test]
fn inserted_duplicate_number() {
    let (mut f, trusted) = fixture();
    let mut forged = f.records[40].clone();
    forged.payload = forged.payload.replace("action-", "forged-");
    forged.hash = record_hash_as(&forged, 41).to_vec();
    f.records.insert(40, forged);
    let report = f.verify(&trusted, None);
    assert_eq!(
        broken(&report),
        (
            41,
            BrokenReason::OutOfOrder {
                expected: 42,
                found: 41
            }
        )
    );
}

#[test]
fn swapped_lines() {
    let (mut f, trusted) = fixture();
    f.records.swap(44, 45);
    let report = f.verify(&trusted, None);
    assert_eq!(
        broken(&report),
        (
            45,
            BrokenReason::OutOfOrder {
                expected: 45,
                found: 46
            }
        )
    );
}

#[test]
fn swapped_numbers() {
    let (mut f, trusted) = fixture();
    f.records.swap(44, 45);
    f.records[44].seq = 45;
    f.records[45].seq = 46;
    let report = f.verify(&trusted, None);
    assert_eq!(
        broken(&report),
        (
            45,
            BrokenReason::OutOfOrder {
                expected: 45,
                found: 46
            }
        )
    );
}

#[test]
fn altered_checkpoint_signature() {
    let (mut f, trusted) = fixture();
    // Checkpoint over 32: a valid signature of another checkpoint.
    f.checkpoints[2].signature = f.checkpoints[1].signature.clone();
    let report = f.verify(&trusted, Some(f.head()));
    assert_eq!(
        broken(&report),
        (32, BrokenReason::CheckpointSignatureInvalid { seq: 32 })
    );
    let mut garbage = f.clone();
    garbage.checkpoints[2].signature = vec![0x30, 0x00];
    assert_eq!(
        broken(&garbage.verify(&trusted, None)),
        (32, BrokenReason::CheckpointSignatureInvalid { seq: 32 })
    );
    let stated = f.verify_stated(&trusted, &f.statements());
    assert_eq!(
        broken(&stated),
        (32, BrokenReason::CheckpointSignatureInvalid { seq: 32 })
    );
}

#[test]
fn consistently_rewritten_journal() {
    let (mut f, trusted) = fixture();
    let statements = f.statements();
    f.records[24].payload = f.records[24].payload.replace("action-", "acti0n-");
    f.rechain_from(25);
    // The chain holds; only the checkpoint over 32 (the first at or after 25) notices.
    let report = f.verify(&trusted, Some(f.head()));
    assert_eq!(
        broken(&report),
        (32, BrokenReason::CheckpointHashMismatch { seq: 32 })
    );
    let stated = f.verify_stated(&trusted, &statements);
    assert_eq!(
        broken(&stated),
        (32, BrokenReason::CheckpointHashMismatch { seq: 32 })
    );
}

#[test]
fn altered_statement_hash() {
    let (f, trusted) = fixture();
    let mut statements = f.statements();
    let other = hex::encode([0x11; 32]);
    let current = hex::encode(&f.records[31].hash);
    statements[2].1 = statements[2].1.replace(&current, &other);
    assert_eq!(
        broken(&f.verify_stated(&trusted, &statements)),
        (32, BrokenReason::CheckpointHashMismatch { seq: 32 })
    );
}

#[test]
fn deleted_checkpoint() {
    let (mut f, trusted) = fixture();
    f.checkpoints.remove(3);
    assert_eq!(
        broken(&f.verify(&trusted, None)),
        (
            43,
            BrokenReason::CheckpointMissing {
                seq: 43,
                journaled_in: 44
            }
        )
    );
}

#[test]
fn truncated_tail() {
    let (mut f, trusted) = fixture();
    let head = f.head();
    f.records.truncate(100);
    // The head still says 110.
    assert_eq!(
        broken(&f.verify(&trusted, Some(head))),
        (
            101,
            BrokenReason::Truncated {
                expected_last: 110,
                found_last: 100
            }
        )
    );
    // The head was moved back too: the checkpoint over 109 gives it away.
    let head = f.head();
    assert_eq!(
        broken(&f.verify(&trusted, Some(head))),
        (109, BrokenReason::CheckpointUnknownSeq { seq: 109 })
    );
    // Cut after the last checkpoint (and its checkpoint gone too): undetectable.
    f.checkpoints.pop();
    f.records.truncate(98);
    let head = f.head();
    let report = f.verify(&trusted, Some(head));
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.last_seq, 98);
}

#[test]
fn head_mismatch() {
    let (f, trusted) = fixture();
    let mut head = f.head();
    head.hash = vec![0; 32];
    assert_eq!(
        broken(&f.verify(&trusted, Some(head))),
        (110, BrokenReason::HeadMismatch { head_seq: 110 })
    );
}

#[test]
fn untrusted_key() {
    let (f, _) = fixture();
    let other = vec![spki(&signing_key(9))];
    let (seq, reason) = broken(&f.verify(&other, None));
    assert_eq!(seq, 10);
    assert!(
        matches!(reason, BrokenReason::CheckpointKeyUntrusted { seq: 10, .. }),
        "{reason:?}"
    );
}

#[test]
fn consistent_forgery_of_a_non_canonical_payload() {
    let (mut f, trusted) = fixture();
    f.records[4].payload = f.records[4].payload.replace(':', ": ");
    f.rechain_from(5);
    let (seq, reason) = broken(&f.verify(&trusted, None));
    assert_eq!(seq, 5);
    assert!(
        matches!(reason, BrokenReason::Malformed { .. }),
        "{reason:?}"
    );
}

#[test]
fn report_display_names_the_break() {
    let (mut f, trusted) = fixture();
    f.records.remove(36);
    let text = f.verify(&trusted, None).to_string();
    assert!(
        text.starts_with(
            "audit journal (sqlite database): BROKEN at record 37: gap: record 37 is missing"
        ),
        "{text}"
    );
    assert!(
        text.contains("records intact before the break: 36 (1..=36)"),
        "{text}"
    );
}

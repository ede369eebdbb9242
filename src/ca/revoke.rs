//! Revocation of certificates issued by our CAs (EN 319 411-2: revocation is final).
//!
//! The service checks what the storage layer cannot tell apart for an operator (unknown serial,
//! only an intent, another issuer, already revoked, a reason that would suspend rather than
//! revoke), then records the revocation and its `revocation` audit event in ONE storage
//! transaction ([`Journal::revoke`] -> `Storage::revoke_with_audit`), the way time-stamp batches
//! are recorded with their journal entry. A revocation therefore never exists without its audit
//! record, and a failed journal append leaves no revocation behind.
//!
//! Right after the commit, and before [`RevocationService::revoke`] returns, the service tells
//! its [`RevocationObserver`]s: the node's OCSP responders (a cache that trusts the database's
//! revocation mark for a while, `[ocsp] revocation_check_ms`, meant for other nodes'
//! revocations, never serves a stale "good" from this node once the call has returned) and its
//! CRL publisher (which publishes at once). CRL requests and the publisher's poll see
//! revocations made elsewhere (a CA's last revocation id changed).
//!
//! The CA never sees HTTP: the CLI (`qtsp ca revoke`) and the admin API call this service.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use time::OffsetDateTime;

use crate::audit::{AuditError, Journal};
use crate::clock::SharedClock;
use crate::storage::{
    CertificateSerial, CertificateState, RevocationReason, RevocationRecord, RevocationRequest,
    SerialError, Storage, StorageError,
};

/// Why a revocation was refused or failed. Messages start with a stable code (`REV0xx`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevokeError {
    /// The reason is not an RFC 5280 CRLReason name.
    #[error(
        "REV001 `{given}` is not a revocation reason: use one of unspecified, keyCompromise, \
         cACompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn, \
         aACompromise"
    )]
    UnknownReason { given: String },
    /// certificateHold or removeFromCRL: suspension is not offered, revocation is final.
    #[error(
        "REV002 reason {reason} is refused: revocation is final (EN 319 411-2), certificates are \
         never suspended or taken off a CRL"
    )]
    ReasonRefused { reason: &'static str },
    /// The serial is not hex, or not a valid serial number.
    #[error("REV003 `{given}` is not a certificate serial number: {source}")]
    BadSerial {
        given: String,
        #[source]
        source: SerialError,
    },
    /// No certificate has this serial.
    #[error("REV004 no certificate with serial {serial}")]
    UnknownSerial { serial: CertificateSerial },
    /// The serial was reserved (intent) but no certificate was ever issued under it.
    #[error("REV005 certificate {serial} was never issued (only its intent is recorded)")]
    NotIssued { serial: CertificateSerial },
    /// The certificate's issuer is not one of the CAs this service revokes for.
    #[error("REV006 certificate {serial} was issued by `{issuer}`, which is not one of our CAs")]
    NotOurs {
        serial: CertificateSerial,
        issuer: String,
    },
    /// The certificate is already revoked; nothing was written.
    #[error(
        "REV007 certificate {serial} is already revoked ({reason} at {revoked_at}){}",
        if *same_reason { "" } else { "; revocation is final, its reason cannot be changed" }
    )]
    AlreadyRevoked {
        serial: CertificateSerial,
        reason: RevocationReason,
        revoked_at: String,
        /// Whether the request named the same reason (an idempotent retry).
        same_reason: bool,
    },
    /// The invalidity date is after the revocation time.
    #[error("REV008 the invalidity date {given} is in the future (revocation time {now})")]
    InvalidityDateInFuture { given: String, now: String },
    /// The invalidity date is not RFC 3339.
    #[error("REV009 `{given}` is not an RFC 3339 date-time (e.g. 2026-11-23T10:00:00Z)")]
    BadInvalidityDate { given: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Audit(AuditError),
}

impl RevokeError {
    /// The stable code of the message.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownReason { .. } => "REV001",
            Self::ReasonRefused { .. } => "REV002",
            Self::BadSerial { .. } => "REV003",
            Self::UnknownSerial { .. } => "REV004",
            Self::NotIssued { .. } => "REV005",
            Self::NotOurs { .. } => "REV006",
            Self::AlreadyRevoked { .. } => "REV007",
            Self::InvalidityDateInFuture { .. } => "REV008",
            Self::BadInvalidityDate { .. } => "REV009",
            Self::Storage(_) => "DB",
            Self::Audit(_) => "AUD",
        }
    }
}

/// Parses an RFC 5280 CRLReason name, case-insensitively (`keyCompromise`, `KEYCOMPROMISE`...).
/// `certificateHold` and `removeFromCRL` are refused with [`RevokeError::ReasonRefused`].
pub fn parse_reason(text: &str) -> Result<RevocationReason, RevokeError> {
    let trimmed = text.trim();
    for refused in ["certificateHold", "removeFromCRL"] {
        if trimmed.eq_ignore_ascii_case(refused) {
            return Err(RevokeError::ReasonRefused { reason: refused });
        }
    }
    RevocationReason::ALL
        .into_iter()
        .find(|r| r.as_str().eq_ignore_ascii_case(trimmed))
        .ok_or_else(|| RevokeError::UnknownReason {
            given: text.to_owned(),
        })
}

/// Parses a serial number as operators copy it: hex, any case, with or without `0x` and `:`
/// separators (`openssl x509 -serial` and `-text` forms).
pub fn parse_serial(text: &str) -> Result<CertificateSerial, RevokeError> {
    let trimmed = text.trim();
    let digits = trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
        .unwrap_or(trimmed);
    let mut hex: String = digits
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if hex.len() % 2 == 1 {
        hex.insert(0, '0');
    }
    CertificateSerial::from_hex(&hex).map_err(|source| RevokeError::BadSerial {
        given: text.to_owned(),
        source,
    })
}

/// Parses an RFC 3339 date-time for the invalidity date.
pub fn parse_invalidity_date(text: &str) -> Result<OffsetDateTime, RevokeError> {
    OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339).map_err(
        |_| RevokeError::BadInvalidityDate {
            given: text.to_owned(),
        },
    )
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// Told of every revocation this process commits, before the revocation call returns.
pub trait RevocationObserver: std::fmt::Debug + Send + Sync {
    /// `record` was committed; its id is then the issuer's highest revocation id. `started` is
    /// an instant taken before the revocation's transaction began: every revocation committed
    /// before it has a lower id. The revocation call returns once the future is done (an
    /// observer may read storage, e.g. to bring a cache up to the new revocation).
    fn revoked<'a>(
        &'a self,
        record: &'a RevocationRecord,
        started: Instant,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;
}

/// Revokes certificates issued by a fixed set of CAs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RevocationService {
    storage: Storage,
    journal: Journal,
    clock: SharedClock,
    issuers: Arc<BTreeSet<String>>,
    observers: Vec<Arc<dyn RevocationObserver>>,
}

impl RevocationService {
    /// A service revoking certificates of the CAs named `issuers` (names as recorded in the
    /// certificates table, e.g. `qualified-ca`).
    pub fn new(
        storage: Storage,
        journal: Journal,
        clock: SharedClock,
        issuers: impl IntoIterator<Item = String>,
    ) -> Self {
        Self {
            storage,
            journal,
            clock,
            issuers: Arc::new(issuers.into_iter().collect()),
            observers: Vec::new(),
        }
    }

    /// Also tells `observer` of each revocation committed through this service.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn RevocationObserver>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Revokes the certificate `serial` for `reason`, journaled as caused by `actor`.
    ///
    /// Refuses an unknown serial, a serial that is only an intent, a certificate of another
    /// issuer, and an already revoked certificate (whatever the reason asked: the first
    /// revocation stays, no second record is written). The revocation time is now; the
    /// invalidity date, if given, must not be later.
    pub async fn revoke(
        &self,
        serial: &CertificateSerial,
        reason: RevocationReason,
        invalidity_date: Option<OffsetDateTime>,
        actor: &str,
    ) -> Result<RevocationRecord, RevokeError> {
        let now = self.clock.now();
        if let Some(date) = invalidity_date
            && date > now
        {
            return Err(RevokeError::InvalidityDateInFuture {
                given: rfc3339(date),
                now: rfc3339(now),
            });
        }
        let certificate =
            self.storage
                .certificate(serial)
                .await?
                .ok_or_else(|| RevokeError::UnknownSerial {
                    serial: serial.clone(),
                })?;
        if certificate.state != CertificateState::Issued {
            return Err(RevokeError::NotIssued {
                serial: serial.clone(),
            });
        }
        if !self.issuers.contains(&certificate.issuer) {
            return Err(RevokeError::NotOurs {
                serial: serial.clone(),
                issuer: certificate.issuer,
            });
        }
        if let Some(existing) = &certificate.revocation {
            return Err(already_revoked(existing, reason));
        }
        let request = RevocationRequest {
            serial: serial.clone(),
            reason,
            revoked_at: now,
            invalidity_date,
        };
        let started = Instant::now();
        match self
            .journal
            .revoke(&request, &certificate.issuer, actor)
            .await
        {
            Ok((record, _audit)) => {
                for observer in &self.observers {
                    observer.revoked(&record, started).await;
                }
                Ok(record)
            }
            // A concurrent revocation won between the check above and the transaction.
            Err(AuditError::Storage {
                source: StorageError::AlreadyRevoked { .. },
                ..
            }) => match self
                .storage
                .certificate(serial)
                .await?
                .and_then(|c| c.revocation)
            {
                Some(existing) => Err(already_revoked(&existing, reason)),
                None => Err(RevokeError::Storage(StorageError::AlreadyRevoked {
                    serial_hex: serial.to_hex(),
                })),
            },
            Err(AuditError::Storage {
                source: StorageError::NotFound { .. },
                ..
            }) => Err(RevokeError::UnknownSerial {
                serial: serial.clone(),
            }),
            Err(error) => Err(RevokeError::Audit(error)),
        }
    }
}

fn already_revoked(existing: &RevocationRecord, asked: RevocationReason) -> RevokeError {
    RevokeError::AlreadyRevoked {
        serial: existing.serial.clone(),
        reason: existing.reason,
        revoked_at: rfc3339(existing.revoked_at),
        same_reason: existing.reason == asked,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn reasons_parse_by_rfc5280_name_case_insensitively() {
        for reason in RevocationReason::ALL {
            assert_eq!(parse_reason(reason.as_str()).unwrap(), reason);
            assert_eq!(
                parse_reason(&reason.as_str().to_ascii_uppercase()).unwrap(),
                reason
            );
        }
        assert_eq!(
            parse_reason("keycompromise").unwrap(),
            RevocationReason::KeyCompromise
        );
        assert_eq!(
            parse_reason(" Superseded ").unwrap(),
            RevocationReason::Superseded
        );
    }

    #[test]
    fn hold_and_remove_from_crl_are_refused() {
        for name in [
            "certificateHold",
            "CERTIFICATEHOLD",
            "removeFromCRL",
            "removefromcrl",
        ] {
            let error = parse_reason(name).unwrap_err();
            assert!(
                matches!(error, RevokeError::ReasonRefused { .. }),
                "{name}: {error}"
            );
            assert!(error.to_string().starts_with("REV002"), "{error}");
            assert!(error.to_string().contains("final"), "{error}");
        }
    }

    #[test]
    fn unknown_reasons_are_named() {
        for name in ["", "compromised", "1", "key_compromise"] {
            let error = parse_reason(name).unwrap_err();
            assert!(matches!(error, RevokeError::UnknownReason { .. }), "{name}");
            assert!(error.to_string().starts_with("REV001"), "{error}");
            assert!(error.to_string().contains("keyCompromise"), "{error}");
        }
    }

    #[test]
    fn serials_accept_the_forms_operators_copy() {
        let expected = CertificateSerial::from_hex("4a01ff").unwrap();
        for text in ["4a01ff", "4A01FF", "0x4a01ff", "4A:01:FF", " 4a01ff\n"] {
            assert_eq!(parse_serial(text).unwrap(), expected, "{text}");
        }
        // An odd number of digits is a leading zero nibble.
        assert_eq!(
            parse_serial("a01").unwrap(),
            CertificateSerial::from_hex("0a01").unwrap()
        );
        for bad in ["", "xyz", "00", "ff", "00:01"] {
            let error = parse_serial(bad).unwrap_err();
            assert!(error.to_string().starts_with("REV003"), "{bad}: {error}");
        }
    }

    #[test]
    fn invalidity_dates_are_rfc3339() {
        assert_eq!(
            parse_invalidity_date("2026-11-23T10:00:00Z").unwrap(),
            time::macros::datetime!(2026-11-23 10:00:00 UTC)
        );
        assert_eq!(
            parse_invalidity_date("2026-11-23T11:00:00+01:00").unwrap(),
            time::macros::datetime!(2026-11-23 10:00:00 UTC)
        );
        for bad in ["2026-11-23", "yesterday", ""] {
            let error = parse_invalidity_date(bad).unwrap_err();
            assert!(error.to_string().starts_with("REV009"), "{error}");
        }
    }

    #[test]
    fn already_revoked_says_whether_the_reason_differs() {
        let existing = RevocationRecord {
            id: 1,
            serial: CertificateSerial::from_hex("4a01").unwrap(),
            issuer: "qualified-ca".into(),
            reason: RevocationReason::KeyCompromise,
            revoked_at: time::macros::datetime!(2026-11-23 10:00:00 UTC),
            invalidity_date: None,
        };
        let same = already_revoked(&existing, RevocationReason::KeyCompromise).to_string();
        assert!(same.starts_with("REV007"), "{same}");
        assert!(same.contains("already revoked (keyCompromise"), "{same}");
        assert!(!same.contains("cannot be changed"), "{same}");
        let other = already_revoked(&existing, RevocationReason::Superseded).to_string();
        assert!(other.contains("cannot be changed"), "{other}");
    }
}

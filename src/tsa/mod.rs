//! RFC 3161 time-stamping authority (EN 319 421 / EN 319 422).
//!
//! [`TimeStampAuthority::stamp`] turns the body of an `application/timestamp-query` into the
//! body of an `application/timestamp-reply`, always: a bad request, an unsynchronized clock or a
//! failure inside the service are `TimeStampResp` rejections with their `failInfo`, never an
//! HTTP error. For a request that is granted:
//!
//! 1. [`request`] checks it (hash, imprint length, policy, extensions, DER);
//! 2. [`clock_guard`] confirms the clock is synchronized within the declared accuracy;
//! 3. [`token`] builds the `TSTInfo` and the signed attributes from pre-encoded parts, the TSU
//!    key signs their digest in the HSM, and the `SignedData` is assembled;
//! 4. [`recorder`] makes the token's record durable (group commit, one audit event per batch)
//!    before the response is released; [`latency`] counts how long its commits take, and how
//!    long each token waited for its signature and for its record.

pub mod clock_guard;
pub mod latency;
pub mod policy;
pub mod recorder;
pub mod request;
pub mod serial;
pub mod token;

use std::sync::Arc;

use qtsp_hsm::{BatchSigner, Hsm, HsmError, KeyRef, SignMechanism};
use time::OffsetDateTime;

use crate::audit::Journal;
use crate::clock::{SharedClock, SyncSource};
use crate::pki::PkiError;
use crate::pki::tsp::{PkiFailureInfo, PkiStatus, PkiStatusInfo, TimeStampResp, TstTime};
use crate::storage::{TimestampRecord, TimestampSerial};

pub use clock_guard::{ClockEvent, ClockGuard};
pub use latency::{
    CommitLatency, CommitLatencySnapshot, LatencyHistogram, LatencySnapshot, TokenStages,
};
pub use policy::TsaPolicy;
pub use recorder::{RecordError, Recorder};
pub use request::{
    CheckedRequest, ImprintAlgorithm, MAX_REQUEST_LEN, Refusal, RequestError, TimeStampPolicy,
    check_request,
};
pub use token::{TokenSettings, TokenTemplate};

/// Why the TSA cannot start. Every message starts with a stable code (`TSA0nn`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TsaError {
    /// The TSA policy file or its overrides are not usable.
    #[error("TSA001 TSA policy: {0}")]
    Policy(String),
    /// The TSU certificate is not usable for time-stamping.
    #[error("TSA002 time-stamping unit certificate: {0}")]
    Certificate(#[source] PkiError),
    /// The TSU key is not in the HSM.
    #[error("TSA003 the time-stamping unit key {0} is not in the HSM: run `qtsp init`")]
    KeyMissing(String),
    /// The HSM failed.
    #[error("TSA004 HSM: {0}")]
    Hsm(#[from] HsmError),
    /// The start-up self-test (one token signed and checked against the certificate) failed:
    /// the key in the HSM does not belong to the certificate, or the token is malformed.
    #[error("TSA005 self-test failed: {0}")]
    SelfTest(String),
}

/// Why a well-formed request was not granted, beyond what [`RequestError`] covers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceRefusal {
    /// The clock is not synchronized within the declared accuracy.
    #[error(
        "TSA201 time is not available: the TSA clock is not synchronized within its declared accuracy"
    )]
    TimeNotAvailable,
    /// The time would fall outside the TSU certificate's validity period: relying parties
    /// would reject the token.
    #[error("TSA203 the time-stamping unit's certificate is not valid at this time")]
    CertificateNotValid,
    /// The HSM could not sign.
    #[error("TSA301 the time-stamping unit could not sign; try again later")]
    SigningFailed,
    /// The token could not be recorded (see [`RecordError`]).
    #[error("{0}")]
    NotRecorded(RecordError),
    /// A value the TSA builds itself was invalid (a bug, never the client's fault).
    #[error("TSA305 internal error")]
    Internal,
}

impl ServiceRefusal {
    /// The stable code (`TSA201`...).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::TimeNotAvailable => "TSA201",
            Self::CertificateNotValid => "TSA203",
            Self::SigningFailed => "TSA301",
            Self::NotRecorded(RecordError::Storage(_)) => "TSA302",
            Self::NotRecorded(_) => "TSA304",
            Self::Internal => "TSA305",
        }
    }

    /// The `failInfo` bit.
    #[must_use]
    pub fn fail_info(&self) -> PkiFailureInfo {
        match self {
            Self::TimeNotAvailable => PkiFailureInfo::TIME_NOT_AVAILABLE,
            Self::CertificateNotValid
            | Self::SigningFailed
            | Self::NotRecorded(_)
            | Self::Internal => PkiFailureInfo::SYSTEM_FAILURE,
        }
    }

    /// The text sent to the client: the code and a message without internal details.
    fn client_text(&self) -> String {
        match self {
            Self::NotRecorded(_) => format!(
                "{} the time-stamp could not be recorded; try again later",
                self.code()
            ),
            other => other.to_string(),
        }
    }
}

/// What happened to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// A token was issued and recorded.
    Granted {
        /// Its serial number.
        serial: TimestampSerial,
    },
    /// Refused; the stable code and the failure bit.
    Rejected {
        /// `TSA1nn` (request), `TSA2nn` (time), `TSA3nn` (service).
        code: &'static str,
        /// The `failInfo` sent.
        fail_info: PkiFailureInfo,
    },
}

/// The body of the `application/timestamp-reply` and what it says.
#[derive(Debug, Clone)]
pub struct Reply {
    /// DER `TimeStampResp`.
    pub der: Vec<u8>,
    /// The outcome, for logs and metrics.
    pub outcome: Outcome,
}

/// Everything the TSA is built from.
#[derive(Debug)]
pub struct TsaSetup {
    /// The session pool holding the TSU key.
    pub hsm: Hsm,
    /// The TSU private key.
    pub key: KeyRef,
    /// The TSU certificate (DER).
    pub certificate: Vec<u8>,
    /// Policy in force.
    pub policy: TsaPolicy,
    /// Refuse when the clock is not synchronized.
    pub require_clock_sync: bool,
    /// How often the clock monitor journals what it read of the clock (`clock_status`).
    pub clock_report: std::time::Duration,
    /// Where time comes from.
    pub clock: SharedClock,
    /// Where synchronization state comes from.
    pub sync: Arc<dyn SyncSource>,
    /// Where token records and their batch events go (one transaction per batch), and clock
    /// episodes are journaled.
    pub journal: Journal,
    /// This node (recorded with each token).
    pub node_id: String,
}

/// Background tasks of a running TSA; await them after the last request is answered.
#[derive(Debug)]
pub struct TsaTasks {
    /// The group-commit task: ends after the last [`TimeStampAuthority`] clone is dropped and
    /// the queue is written.
    pub recorder: tokio::task::JoinHandle<()>,
    /// The clock monitor: ends with the guard, after journaling what is queued; await it (do not
    /// abort it) so that an episode boundary seen just before the end is not lost.
    pub clock_monitor: tokio::task::JoinHandle<()>,
}

/// The time-stamping authority. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TimeStampAuthority {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    template: TokenTemplate,
    request_policy: TimeStampPolicy,
    /// Dotted forms for the records, made once: the policy, each accepted hash, this node.
    policy_oid: Arc<str>,
    hash_oids: [Arc<str>; ImprintAlgorithm::ALL.len()],
    node_id: Arc<str>,
    signer: BatchSigner,
    clock: SharedClock,
    guard: Arc<ClockGuard>,
    serials: serial::SerialGenerator,
    recorder: Recorder,
    stages: Arc<TokenStages>,
    /// Set while requests are refused because the TSU certificate is not valid, so that the
    /// episode is logged once, not per request.
    certificate_refusing: std::sync::atomic::AtomicBool,
}

/// How long before its TSU certificate expires readiness starts warning.
pub const CERTIFICATE_WARNING: time::Duration = time::Duration::days(30);

impl Inner {
    /// The shared dotted form of an imprint hash's OID.
    fn hash_oid(&self, alg: ImprintAlgorithm) -> Arc<str> {
        ImprintAlgorithm::ALL
            .iter()
            .position(|a| *a == alg)
            .and_then(|i| self.hash_oids.get(i))
            .cloned()
            .unwrap_or_else(|| Arc::from(alg.oid().to_string()))
    }
}

impl TimeStampAuthority {
    /// Encodes the constant parts, signs one token as a self-test, and starts the recorder
    /// and the clock monitor.
    pub async fn start(setup: TsaSetup) -> Result<(Self, TsaTasks), TsaError> {
        let template =
            check_unit(&setup.hsm, &setup.key, &setup.certificate, &setup.policy).await?;
        let mechanism = crate::ca::sign_mechanism(template.signature_algorithm());

        let random = setup.hsm.random(8).await?;
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(random.get(..8).unwrap_or(&[0; 8]));

        let actor = setup.journal.system_actor();
        let (recorder, recorder_task) = Recorder::spawn(setup.journal.clone(), actor.clone());
        let (guard, events) = ClockGuard::new(
            setup.sync.clone(),
            setup.policy.accuracy,
            setup.require_clock_sync,
        );
        let guard = Arc::new(guard);
        let clock_monitor = clock_guard::spawn_monitor(
            &guard,
            events,
            clock_guard::MonitorSetup {
                journal: setup.journal,
                actor,
                clock: setup.clock.clone(),
                report_every: setup.clock_report,
            },
        );
        if !setup.require_clock_sync {
            tracing::warn!(
                "TSA202 tsa.require_clock_sync is false: time-stamps are issued WITHOUT checking \
                 that the clock is synchronized. Acceptable on a development machine only; a \
                 qualified TSA must not run like this."
            );
        }
        let inner = Inner {
            request_policy: setup.policy.request_policy(),
            policy_oid: setup.policy.policy.to_string().into(),
            hash_oids: ImprintAlgorithm::ALL.map(|a| Arc::from(a.oid().to_string())),
            node_id: setup.node_id.into(),
            template,
            signer: setup.hsm.batch_signer(setup.key, mechanism),
            clock: setup.clock,
            guard,
            serials: serial::SerialGenerator::new(prefix),
            recorder,
            stages: Arc::default(),
            certificate_refusing: std::sync::atomic::AtomicBool::new(false),
        };
        let now = inner.clock.now();
        if !inner.template.certificate_valid_at(now) {
            let (not_before, not_after) = inner.template.certificate_validity();
            tracing::error!(
                %not_before,
                %not_after,
                "TSA203 the time-stamping unit's certificate is not valid now: every request \
                 will be refused until a valid certificate is installed"
            );
        }
        Ok((
            Self {
                inner: Arc::new(inner),
            },
            TsaTasks {
                recorder: recorder_task,
                clock_monitor,
            },
        ))
    }

    /// How long the group commits of token records have taken.
    #[must_use]
    pub fn commit_latency(&self) -> &Arc<CommitLatency> {
        self.inner.recorder.commit_latency()
    }

    /// How long granted tokens waited for their signature and for their record.
    #[must_use]
    pub fn token_stages(&self) -> &Arc<TokenStages> {
        &self.inner.stages
    }

    /// The TSU certificate (DER).
    #[must_use]
    pub fn certificate(&self) -> &[u8] {
        self.inner.template.certificate()
    }

    /// Whether the TSA can grant a request now, for readiness probes: `Err` with the reason
    /// when every request would be refused (clock not synchronized, certificate not valid);
    /// `Ok(Some(warning))` when the TSU certificate expires within [`CERTIFICATE_WARNING`].
    pub fn readiness(&self) -> Result<Option<String>, String> {
        let inner = &*self.inner;
        if let Err(detail) = inner.guard.check() {
            return Err(format!(
                "{}: {detail}",
                ServiceRefusal::TimeNotAvailable.code()
            ));
        }
        let now = inner.clock.now();
        let (not_before, not_after) = inner.template.certificate_validity();
        if !inner.template.certificate_valid_at(now) {
            return Err(format!(
                "{} (valid from {not_before} to {not_after})",
                ServiceRefusal::CertificateNotValid
            ));
        }
        let left = not_after - now;
        Ok((left < CERTIFICATE_WARNING).then(|| {
            format!(
                "TSA204 the time-stamping unit's certificate expires at {not_after} (in {} days)",
                left.whole_days()
            )
        }))
    }

    /// Answers one request. `requester` is the client's address, recorded with the token.
    pub async fn stamp(&self, body: &[u8], requester: Option<String>) -> Reply {
        let inner = &*self.inner;
        let request = match check_request(body, &inner.request_policy) {
            Ok(request) => request,
            Err(refusal) => {
                tracing::debug!(code = refusal.code(), reason = %refusal, "time-stamp request refused");
                return rejection(refusal.code(), refusal.fail_info, &refusal.text);
            }
        };
        if inner.guard.check().is_err() {
            return service_rejection(&ServiceRefusal::TimeNotAvailable);
        }
        let gen_time = truncate_to_micros(inner.clock.now());
        if !inner.template.certificate_valid_at(gen_time) {
            use std::sync::atomic::Ordering;
            if !inner.certificate_refusing.swap(true, Ordering::AcqRel) {
                let (not_before, not_after) = inner.template.certificate_validity();
                tracing::error!(%not_before, %not_after, %gen_time, "TSA203 time-stamp refused: the TSU certificate is not valid at this time");
            }
            return service_rejection(&ServiceRefusal::CertificateNotValid);
        }
        if inner
            .certificate_refusing
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            inner
                .certificate_refusing
                .store(false, std::sync::atomic::Ordering::Relaxed);
        }
        let gen_time_field = match TstTime::new(gen_time) {
            Ok(t) => t,
            Err(_) => return service_rejection(&ServiceRefusal::TimeNotAvailable),
        };
        let serial = inner.serials.next_serial();
        // Always a positive minimal INTEGER by construction (see `serial`); checked anyway,
        // before anything is signed.
        let Ok(serial_record) = TimestampSerial::from_der_content(serial.to_vec()) else {
            return service_rejection(&ServiceRefusal::Internal);
        };
        let tst_info = inner.template.tst_info(&token::TstFields {
            serial: &serial,
            gen_time: gen_time_field,
            message_imprint_der: &request.message_imprint_der,
            nonce: request.nonce.as_deref(),
        });
        let signed = inner.template.signed_attributes(&tst_info);
        let asked = std::time::Instant::now();
        let signature = match inner.signer.sign(signed.digest()).await {
            Ok(signature) => {
                inner.stages.signature.observe(asked.elapsed());
                signature
            }
            Err(error) => {
                tracing::error!(%error, "time-stamping unit could not sign");
                return service_rejection(&ServiceRefusal::SigningFailed);
            }
        };
        let der = inner.template.assemble(
            &tst_info,
            &signed,
            signature.to_x509_bytes(),
            request.cert_req,
        );
        let record = TimestampRecord {
            serial: serial_record.clone(),
            gen_time,
            policy_oid: inner.policy_oid.clone(),
            hash_alg_oid: inner.hash_oid(request.hash_alg),
            message_imprint: request.imprint,
            requester,
            node_id: Some(inner.node_id.clone()),
        };
        let handed = std::time::Instant::now();
        if let Err(error) = inner.recorder.record(record).await {
            return service_rejection(&ServiceRefusal::NotRecorded(error));
        }
        inner.stages.record.observe(handed.elapsed());
        Reply {
            der,
            outcome: Outcome::Granted {
                serial: serial_record,
            },
        }
    }
}

fn truncate_to_micros(t: OffsetDateTime) -> OffsetDateTime {
    let micros = t.nanosecond() / 1000;
    t.replace_nanosecond(micros * 1000).unwrap_or(t)
}

fn service_rejection(refusal: &ServiceRefusal) -> Reply {
    rejection(refusal.code(), refusal.fail_info(), &refusal.client_text())
}

/// A `TimeStampResp` with status rejection.
fn rejection(code: &'static str, fail_info: PkiFailureInfo, text: &str) -> Reply {
    let response = TimeStampResp {
        status: PkiStatusInfo {
            status: PkiStatus::Rejection,
            status_string: Some(vec![text.to_owned()]),
            fail_info: Some(fail_info),
        },
        time_stamp_token: None,
    };
    // A rejection is a handful of short fields: encoding cannot fail; the fallback is the
    // bare systemFailure response, pre-encoded.
    let der = der::Encode::to_der(&response).unwrap_or_else(|_| SYSTEM_FAILURE_RESPONSE.to_vec());
    Reply {
        der,
        outcome: Outcome::Rejected { code, fail_info },
    }
}

/// `TimeStampResp { status { rejection, failInfo systemFailure } }`.
const SYSTEM_FAILURE_RESPONSE: [u8; 13] = [
    0x30, 0x0b, 0x30, 0x09, 0x02, 0x01, 0x02, 0x03, 0x04, 0x06, 0x00, 0x00, 0x40,
];

/// Encodes the constant parts of the tokens of a TSU and signs one test token with its key,
/// checked against its certificate: what [`TimeStampAuthority::start`] does first, and what
/// `qtsp tsa check` runs without starting anything.
pub async fn check_unit(
    hsm: &Hsm,
    key: &KeyRef,
    certificate: &[u8],
    policy: &TsaPolicy,
) -> Result<TokenTemplate, TsaError> {
    let template =
        TokenTemplate::new(&policy.token_settings(), certificate).map_err(TsaError::Certificate)?;
    let mechanism = crate::ca::sign_mechanism(template.signature_algorithm());
    self_test(&template, hsm, key, mechanism, certificate).await?;
    Ok(template)
}

/// Signs one token for a fixed imprint and checks it with the certificate's public key, so that
/// a TSU key that does not match its certificate is found at start, not by a relying party.
async fn self_test(
    template: &TokenTemplate,
    hsm: &Hsm,
    key: &KeyRef,
    mechanism: SignMechanism,
    certificate: &[u8],
) -> Result<(), TsaError> {
    use der::{Decode, Encode};
    let fail = |what: String| TsaError::SelfTest(what);
    let imprint = crate::pki::tsp::MessageImprint {
        hash_algorithm: crate::pki::tsp::sha256_algorithm(),
        hashed_message: der::asn1::OctetString::new([0x5a; 32].to_vec())
            .map_err(|e| fail(e.to_string()))?,
    };
    let imprint_der = imprint.to_der().map_err(|e| fail(e.to_string()))?;
    let tst_info = template.tst_info(&token::TstFields {
        serial: &[0x01],
        gen_time: TstTime::new(OffsetDateTime::UNIX_EPOCH).map_err(|e| fail(e.to_string()))?,
        message_imprint_der: &imprint_der,
        nonce: Some(&[0x2a]),
    });
    crate::pki::tsp::TstInfo::from_der(&tst_info)
        .map_err(|e| fail(format!("TSTInfo does not decode: {e}")))?
        .validate()
        .map_err(|e| fail(e.to_string()))?;
    let signed = template.signed_attributes(&tst_info);
    let signature = hsm.sign_digest(key, mechanism, signed.digest()).await?;
    let cert = x509_cert::Certificate::from_der(certificate)
        .map_err(|e| fail(format!("certificate: {e}")))?;
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| fail(e.to_string()))?;
    template
        .signature_algorithm()
        .verify_digest(&spki, signed.digest(), signature.to_x509_bytes())
        .map_err(|e| fail(format!("the TSU key does not match its certificate: {e}")))?;
    let response = template.assemble(&tst_info, &signed, signature.to_x509_bytes(), true);
    TimeStampResp::from_der(&response).map_err(|e| fail(format!("response: {e}")))?;
    Ok(())
}

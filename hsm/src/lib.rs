//! `qtsp-hsm`: the only part of qtsp that talks PKCS#11.
//!
//! * [`Hsm`] is a pool of logged-in read/write sessions on one token, driven by worker OS threads;
//!   async callers submit jobs and await results, no tokio thread ever blocks on the token.
//! * Keys are referred to by CKA_ID ([`KeyRef`], [`KeyId`]): [`Hsm::generate_key_pair`],
//!   [`Hsm::find_key`], [`Hsm::public_key_spki`], [`Hsm::key_attributes`], [`Hsm::destroy_key`].
//! * Signatures over precomputed digests ([`Hsm::sign_digest`], [`Hsm::sign_digests`],
//!   [`Hsm::sign_message`]) with ECDSA, RSA PKCS#1 v1.5 and RSA-PSS.
//! * Signer keys live outside the token, wrapped under a trusted, non-extractable KEK
//!   ([`init_kek_as_security_officer`], [`Hsm::generate_wrapped_signer_key`],
//!   [`Hsm::sign_with_wrapped_key`]).
//! * [`softhsm::SoftHsmSetup`] prepares the embedded SoftHSM2 token; [`mod@bench`] measures throughput.
//!
//! See `hsm/README.md` for configuration and the SoftHSM2 facts this crate relies on.

mod batch;
mod config;
mod error;
mod keys;
mod module;
mod pool;
mod sign;
mod spki;
mod wrap;

pub mod bench;
pub mod softhsm;
#[cfg(feature = "testing")]
pub mod testing;

pub use batch::BatchSigner;
pub use config::{DEFAULT_QUEUE_DEPTH, DEFAULT_SESSIONS, HsmConfig, Pin, TokenSelector};
pub use error::{HsmError, Result, rv_name};
pub use keys::{EcCurve, GeneratedKey, KeyId, KeyRef, KeySpec, PrivateKeyAttributes};
pub use pool::{HealthReport, Hsm, MAX_RANDOM_LEN};
pub use sign::{DigestAlg, EcdsaSignature, SignMechanism, Signature};
pub use wrap::{WrappedSignerKey, init_kek_as_security_officer};

/// The PKCS#11 return value type kept inside [`HsmError`] (re-exported so callers can match on it
/// without depending on cryptoki).
pub use cryptoki::error::RvError;

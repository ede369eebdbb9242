//! Typed errors of the HSM layer.
//!
//! Every message starts with a stable code (`HSM001` ...) so that operators and auditors can grep
//! logs for it, and every error that comes from the token keeps the PKCS#11 return value and prints
//! its standard `CKR_*` name. No error ever carries a PIN: PINs only exist inside [`crate::Pin`],
//! which is not part of any variant.

use std::fmt;
use std::path::PathBuf;

use cryptoki::error::{Error as Pkcs11Error, RvError};

use crate::keys::KeyId;

/// Result type of this crate.
pub type Result<T, E = HsmError> = std::result::Result<T, E>;

/// Everything that can go wrong between qtsp and its PKCS#11 token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HsmError {
    /// The PKCS#11 module (shared library) could not be loaded.
    #[error("HSM001 cannot load PKCS#11 module {}: {}", path.display(), Pkcs11Detail(source))]
    ModuleLoad {
        /// Path of the module as configured.
        path: PathBuf,
        /// What cryptoki / the dynamic loader said.
        #[source]
        source: Pkcs11Error,
    },

    /// `C_Initialize` failed.
    #[error("HSM002 C_Initialize of {} failed: {}", path.display(), Pkcs11Detail(source))]
    Initialize {
        /// Path of the module.
        path: PathBuf,
        /// The PKCS#11 error.
        #[source]
        source: Pkcs11Error,
    },

    /// No token matches the configured label or serial number.
    #[error("HSM003 no token with {selector} is present")]
    TokenNotFound {
        /// How the token was looked for (label or serial, never a slot number).
        selector: String,
    },

    /// More than one token matches the configured label or serial number.
    #[error("HSM004 {count} tokens match {selector}; refusing to guess")]
    TokenAmbiguous {
        /// How the token was looked for.
        selector: String,
        /// How many tokens matched.
        count: usize,
    },

    /// `C_Login` failed.
    #[error("HSM005 C_Login as {user} failed: {}", rv_name(*rv))]
    Login {
        /// `user` or `security officer`.
        user: &'static str,
        /// The PKCS#11 return value (for example `CKR_PIN_INCORRECT`).
        rv: RvError,
    },

    /// Any other PKCS#11 call failed.
    #[error("HSM006 {operation} failed: {}", Pkcs11Detail(source))]
    Pkcs11 {
        /// The PKCS#11 function (for example `C_Sign`).
        operation: &'static str,
        /// The PKCS#11 error.
        #[source]
        source: Pkcs11Error,
    },

    /// No key with this CKA_ID exists on the token.
    #[error("HSM007 no {class} with CKA_ID {id} on the token")]
    KeyNotFound {
        /// The CKA_ID looked for.
        id: KeyId,
        /// `private key`, `public key`, `secret key` or `key`.
        class: &'static str,
    },

    /// A key with this CKA_ID already exists; generation refused.
    #[error(
        "HSM008 a key with CKA_ID {id} already exists on the token; refusing to create another"
    )]
    KeyExists {
        /// The CKA_ID.
        id: KeyId,
    },

    /// Several objects of the same class share a CKA_ID.
    #[error("HSM009 {count} objects of class {class} share CKA_ID {id}; refusing to guess")]
    KeyAmbiguous {
        /// The CKA_ID.
        id: KeyId,
        /// The object class.
        class: &'static str,
        /// How many objects matched.
        count: usize,
    },

    /// The signature mechanism does not fit the key (e.g. ECDSA with an RSA key).
    #[error("HSM010 mechanism {mechanism} cannot be used with {key}")]
    UnsupportedMechanism {
        /// The requested mechanism.
        mechanism: String,
        /// What the key is.
        key: String,
    },

    /// The digest handed in does not have the length of the announced hash algorithm.
    #[error("HSM011 digest for {alg} must be {expected} bytes, got {got}")]
    BadDigestLength {
        /// The announced hash algorithm.
        alg: &'static str,
        /// Its output length.
        expected: usize,
        /// The length received.
        got: usize,
    },

    /// The pool has been shut down (or is shutting down).
    #[error("HSM012 the HSM session pool is closed")]
    PoolClosed,

    /// A worker thread went away without answering (it panicked or its session was lost for good).
    #[error("HSM013 the HSM worker did not answer (worker lost)")]
    WorkerLost,

    /// DER encoding or decoding failed, or the token returned bytes that do not have the expected
    /// shape.
    #[error("HSM014 encoding: {0}")]
    Encoding(String),

    /// A key on the token has attributes this crate does not support or does not accept.
    #[error("HSM015 unsupported or unexpected key: {0}")]
    UnsupportedKey(String),

    /// The configuration is invalid.
    #[error("HSM016 invalid HSM configuration: {0}")]
    InvalidConfig(String),

    /// A PIN file could not be read or is not acceptable.
    #[error("HSM017 PIN file {}: {reason}", path.display())]
    PinFile {
        /// The file.
        path: PathBuf,
        /// Why it was refused (never the content).
        reason: String,
    },

    /// A file-system operation failed (SoftHSM2 configuration, token directory, lock file).
    #[error("HSM018 {context} {}: {source}", path.display())]
    Io {
        /// What was being done.
        context: &'static str,
        /// On which path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// `SOFTHSM2_CONF` of this process does not point at the configuration that is being set up.
    #[error(
        "HSM019 SOFTHSM2_CONF is {actual} but the token is being set up with {}; export SOFTHSM2_CONF={} before starting the process",
        expected.display(),
        expected.display()
    )]
    SoftHsmConfMismatch {
        /// The configuration file this setup writes.
        expected: PathBuf,
        /// What the environment says (or `unset`).
        actual: String,
    },

    /// A token could not be initialized.
    #[error("HSM020 token initialization failed: {0}")]
    TokenInit(String),

    /// The wrapped key blob does not fit the request.
    #[error("HSM021 wrapped signer key rejected: {0}")]
    BadWrappedKey(String),

    /// A login is refused without asking the token because a previous attempt was rejected
    /// (protects the PIN retry counter).
    #[error("HSM022 login disabled after a rejected PIN ({}); restart with a correct PIN", rv_name(*rv))]
    LoginDisabled {
        /// The return value of the rejected attempt.
        rv: RvError,
    },

    /// A caller-supplied argument is out of range.
    #[error("HSM023 invalid argument: {0}")]
    InvalidArgument(String),

    /// A batch of signatures failed as a whole; every request of the batch gets this error.
    #[error("HSM024 a batch of signatures failed: {0}")]
    BatchFailed(std::sync::Arc<HsmError>),
}

impl HsmError {
    /// The stable code at the start of the message (`"HSM006"`).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::ModuleLoad { .. } => "HSM001",
            Self::Initialize { .. } => "HSM002",
            Self::TokenNotFound { .. } => "HSM003",
            Self::TokenAmbiguous { .. } => "HSM004",
            Self::Login { .. } => "HSM005",
            Self::Pkcs11 { .. } => "HSM006",
            Self::KeyNotFound { .. } => "HSM007",
            Self::KeyExists { .. } => "HSM008",
            Self::KeyAmbiguous { .. } => "HSM009",
            Self::UnsupportedMechanism { .. } => "HSM010",
            Self::BadDigestLength { .. } => "HSM011",
            Self::PoolClosed => "HSM012",
            Self::WorkerLost => "HSM013",
            Self::Encoding(_) => "HSM014",
            Self::UnsupportedKey(_) => "HSM015",
            Self::InvalidConfig(_) => "HSM016",
            Self::PinFile { .. } => "HSM017",
            Self::Io { .. } => "HSM018",
            Self::SoftHsmConfMismatch { .. } => "HSM019",
            Self::TokenInit(_) => "HSM020",
            Self::BadWrappedKey(_) => "HSM021",
            Self::LoginDisabled { .. } => "HSM022",
            Self::InvalidArgument(_) => "HSM023",
            Self::BatchFailed(_) => "HSM024",
        }
    }

    /// The PKCS#11 return value behind this error, if the token produced it.
    #[must_use]
    pub fn rv(&self) -> Option<RvError> {
        match self {
            Self::ModuleLoad { source, .. }
            | Self::Initialize { source, .. }
            | Self::Pkcs11 { source, .. } => match source {
                Pkcs11Error::Pkcs11(rv, _) => Some(*rv),
                _ => None,
            },
            Self::Login { rv, .. } | Self::LoginDisabled { rv } => Some(*rv),
            Self::BatchFailed(inner) => inner.rv(),
            _ => None,
        }
    }

    /// Wraps a cryptoki error of a named PKCS#11 function.
    pub(crate) fn pkcs11(operation: &'static str) -> impl FnOnce(Pkcs11Error) -> Self {
        move |source| Self::Pkcs11 { operation, source }
    }

    /// True when the session is gone or no longer logged in: the worker re-opens a session,
    /// logs in again and retries once.
    pub(crate) fn is_session_lost(&self) -> bool {
        matches!(
            self.rv(),
            Some(
                RvError::SessionHandleInvalid
                    | RvError::SessionClosed
                    | RvError::DeviceRemoved
                    | RvError::UserNotLoggedIn
                    | RvError::TokenNotPresent
            )
        )
    }

    /// True when a cached object handle went stale (the object was destroyed, possibly by another
    /// process): the worker drops its handle cache and retries once.
    pub(crate) fn is_stale_handle(&self) -> bool {
        matches!(
            self.rv(),
            Some(
                RvError::KeyHandleInvalid
                    | RvError::ObjectHandleInvalid
                    | RvError::WrappingKeyHandleInvalid
                    | RvError::UnwrappingKeyHandleInvalid
            )
        )
    }

    /// True when the pool runs a failed job once more (after re-opening the session or dropping
    /// the handle cache): [`Self::is_session_lost`] or [`Self::is_stale_handle`].
    pub(crate) fn is_retried_by_pool(&self) -> bool {
        self.is_session_lost() || self.is_stale_handle()
    }
}

impl From<der::Error> for HsmError {
    fn from(e: der::Error) -> Self {
        Self::Encoding(e.to_string())
    }
}

/// Displays a cryptoki error with the `CKR_*` name instead of cryptoki's long prose.
struct Pkcs11Detail<'a>(&'a Pkcs11Error);

impl fmt::Display for Pkcs11Detail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Pkcs11Error::Pkcs11(rv, _) => f.write_str(&rv_name(*rv)),
            other => write!(f, "{other}"),
        }
    }
}

/// The standard PKCS#11 name of a return value (`CKR_PIN_INCORRECT`).
#[must_use]
pub fn rv_name(rv: RvError) -> std::borrow::Cow<'static, str> {
    use std::borrow::Cow::{Borrowed, Owned};
    Borrowed(match rv {
        RvError::Cancel => "CKR_CANCEL",
        RvError::HostMemory => "CKR_HOST_MEMORY",
        RvError::SlotIdInvalid => "CKR_SLOT_ID_INVALID",
        RvError::GeneralError => "CKR_GENERAL_ERROR",
        RvError::FunctionFailed => "CKR_FUNCTION_FAILED",
        RvError::ArgumentsBad => "CKR_ARGUMENTS_BAD",
        RvError::NoEvent => "CKR_NO_EVENT",
        RvError::NeedToCreateThreads => "CKR_NEED_TO_CREATE_THREADS",
        RvError::CantLock => "CKR_CANT_LOCK",
        RvError::AttributeReadOnly => "CKR_ATTRIBUTE_READ_ONLY",
        RvError::AttributeSensitive => "CKR_ATTRIBUTE_SENSITIVE",
        RvError::AttributeTypeInvalid => "CKR_ATTRIBUTE_TYPE_INVALID",
        RvError::AttributeValueInvalid => "CKR_ATTRIBUTE_VALUE_INVALID",
        RvError::ActionProhibited => "CKR_ACTION_PROHIBITED",
        RvError::DataInvalid => "CKR_DATA_INVALID",
        RvError::DataLenRange => "CKR_DATA_LEN_RANGE",
        RvError::DeviceError => "CKR_DEVICE_ERROR",
        RvError::DeviceMemory => "CKR_DEVICE_MEMORY",
        RvError::DeviceRemoved => "CKR_DEVICE_REMOVED",
        RvError::EncryptedDataInvalid => "CKR_ENCRYPTED_DATA_INVALID",
        RvError::EncryptedDataLenRange => "CKR_ENCRYPTED_DATA_LEN_RANGE",
        RvError::FunctionCanceled => "CKR_FUNCTION_CANCELED",
        RvError::FunctionNotParallel => "CKR_FUNCTION_NOT_PARALLEL",
        RvError::FunctionNotSupported => "CKR_FUNCTION_NOT_SUPPORTED",
        RvError::CurveNotSupported => "CKR_CURVE_NOT_SUPPORTED",
        RvError::KeyHandleInvalid => "CKR_KEY_HANDLE_INVALID",
        RvError::KeySizeRange => "CKR_KEY_SIZE_RANGE",
        RvError::KeyTypeInconsistent => "CKR_KEY_TYPE_INCONSISTENT",
        RvError::KeyNotNeeded => "CKR_KEY_NOT_NEEDED",
        RvError::KeyChanged => "CKR_KEY_CHANGED",
        RvError::KeyNeeded => "CKR_KEY_NEEDED",
        RvError::KeyIndigestible => "CKR_KEY_INDIGESTIBLE",
        RvError::KeyFunctionNotPermitted => "CKR_KEY_FUNCTION_NOT_PERMITTED",
        RvError::KeyNotWrappable => "CKR_KEY_NOT_WRAPPABLE",
        RvError::KeyUnextractable => "CKR_KEY_UNEXTRACTABLE",
        RvError::MechanismInvalid => "CKR_MECHANISM_INVALID",
        RvError::MechanismParamInvalid => "CKR_MECHANISM_PARAM_INVALID",
        RvError::ObjectHandleInvalid => "CKR_OBJECT_HANDLE_INVALID",
        RvError::OperationActive => "CKR_OPERATION_ACTIVE",
        RvError::OperationNotInitialized => "CKR_OPERATION_NOT_INITIALIZED",
        RvError::PinIncorrect => "CKR_PIN_INCORRECT",
        RvError::PinInvalid => "CKR_PIN_INVALID",
        RvError::PinLenRange => "CKR_PIN_LEN_RANGE",
        RvError::PinExpired => "CKR_PIN_EXPIRED",
        RvError::PinLocked => "CKR_PIN_LOCKED",
        RvError::SessionClosed => "CKR_SESSION_CLOSED",
        RvError::SessionCount => "CKR_SESSION_COUNT",
        RvError::SessionHandleInvalid => "CKR_SESSION_HANDLE_INVALID",
        RvError::SessionParallelNotSupported => "CKR_SESSION_PARALLEL_NOT_SUPPORTED",
        RvError::SessionReadOnly => "CKR_SESSION_READ_ONLY",
        RvError::SessionExists => "CKR_SESSION_EXISTS",
        RvError::SessionReadOnlyExists => "CKR_SESSION_READ_ONLY_EXISTS",
        RvError::SessionReadWriteSoExists => "CKR_SESSION_READ_WRITE_SO_EXISTS",
        RvError::SignatureInvalid => "CKR_SIGNATURE_INVALID",
        RvError::SignatureLenRange => "CKR_SIGNATURE_LEN_RANGE",
        RvError::TemplateIncomplete => "CKR_TEMPLATE_INCOMPLETE",
        RvError::TemplateInconsistent => "CKR_TEMPLATE_INCONSISTENT",
        RvError::TokenNotPresent => "CKR_TOKEN_NOT_PRESENT",
        RvError::TokenNotRecognized => "CKR_TOKEN_NOT_RECOGNIZED",
        RvError::TokenWriteProtected => "CKR_TOKEN_WRITE_PROTECTED",
        RvError::UnwrappingKeyHandleInvalid => "CKR_UNWRAPPING_KEY_HANDLE_INVALID",
        RvError::UnwrappingKeySizeRange => "CKR_UNWRAPPING_KEY_SIZE_RANGE",
        RvError::UnwrappingKeyTypeInconsistent => "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT",
        RvError::UserAlreadyLoggedIn => "CKR_USER_ALREADY_LOGGED_IN",
        RvError::UserNotLoggedIn => "CKR_USER_NOT_LOGGED_IN",
        RvError::UserPinNotInitialized => "CKR_USER_PIN_NOT_INITIALIZED",
        RvError::UserTypeInvalid => "CKR_USER_TYPE_INVALID",
        RvError::UserAnotherAlreadyLoggedIn => "CKR_USER_ANOTHER_ALREADY_LOGGED_IN",
        RvError::UserTooManyTypes => "CKR_USER_TOO_MANY_TYPES",
        RvError::WrappedKeyInvalid => "CKR_WRAPPED_KEY_INVALID",
        RvError::WrappedKeyLenRange => "CKR_WRAPPED_KEY_LEN_RANGE",
        RvError::WrappingKeyHandleInvalid => "CKR_WRAPPING_KEY_HANDLE_INVALID",
        RvError::WrappingKeySizeRange => "CKR_WRAPPING_KEY_SIZE_RANGE",
        RvError::WrappingKeyTypeInconsistent => "CKR_WRAPPING_KEY_TYPE_INCONSISTENT",
        RvError::RandomSeedNotSupported => "CKR_RANDOM_SEED_NOT_SUPPORTED",
        RvError::RandomNoRng => "CKR_RANDOM_NO_RNG",
        RvError::DomainParamsInvalid => "CKR_DOMAIN_PARAMS_INVALID",
        RvError::BufferTooSmall => "CKR_BUFFER_TOO_SMALL",
        RvError::SavedStateInvalid => "CKR_SAVED_STATE_INVALID",
        RvError::InformationSensitive => "CKR_INFORMATION_SENSITIVE",
        RvError::StateUnsaveable => "CKR_STATE_UNSAVEABLE",
        RvError::CryptokiNotInitialized => "CKR_CRYPTOKI_NOT_INITIALIZED",
        RvError::CryptokiAlreadyInitialized => "CKR_CRYPTOKI_ALREADY_INITIALIZED",
        RvError::MutexBad => "CKR_MUTEX_BAD",
        RvError::MutexNotLocked => "CKR_MUTEX_NOT_LOCKED",
        RvError::NewPinMode => "CKR_NEW_PIN_MODE",
        RvError::NextOtp => "CKR_NEXT_OTP",
        RvError::ExceededMaxIterations => "CKR_EXCEEDED_MAX_ITERATIONS",
        RvError::FipsSelfTestFailed => "CKR_FIPS_SELF_TEST_FAILED",
        RvError::LibraryLoadFailed => "CKR_LIBRARY_LOAD_FAILED",
        RvError::PinTooWeak => "CKR_PIN_TOO_WEAK",
        RvError::PublicKeyInvalid => "CKR_PUBLIC_KEY_INVALID",
        RvError::FunctionRejected => "CKR_FUNCTION_REJECTED",
        RvError::VendorDefined(code) => return Owned(format!("CKR_VENDOR_DEFINED(0x{code:08X})")),
        RvError::UnknownErrorCode(code) => return Owned(format!("CKR_UNKNOWN(0x{code:08X})")),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn messages_carry_code_and_ckr_name() {
        let e = HsmError::Login {
            user: "user",
            rv: RvError::PinIncorrect,
        };
        assert_eq!(
            e.to_string(),
            "HSM005 C_Login as user failed: CKR_PIN_INCORRECT"
        );
        assert_eq!(e.code(), "HSM005");
        assert_eq!(e.rv(), Some(RvError::PinIncorrect));

        let e = HsmError::Pkcs11 {
            operation: "C_Sign",
            source: Pkcs11Error::Pkcs11(
                RvError::KeyHandleInvalid,
                cryptoki::context::Function::Sign,
            ),
        };
        assert_eq!(
            e.to_string(),
            "HSM006 C_Sign failed: CKR_KEY_HANDLE_INVALID"
        );
        assert!(e.is_stale_handle());
        assert!(!e.is_session_lost());
    }

    #[test]
    fn every_message_starts_with_its_code() {
        let samples = [
            HsmError::PoolClosed,
            HsmError::WorkerLost,
            HsmError::Encoding("x".into()),
            HsmError::BadDigestLength {
                alg: "SHA-256",
                expected: 32,
                got: 31,
            },
        ];
        for e in samples {
            assert!(e.to_string().starts_with(e.code()), "{e}");
        }
    }
}

//! Errors of the certificate authority.

/// Why a certificate could not be issued. Messages start with a stable code (`CA0xx`) or carry the
/// typed error of the layer that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    #[error(transparent)]
    Profile(#[from] crate::profile::ProfileError),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error(transparent)]
    Hsm(#[from] qtsp_hsm::HsmError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    #[error("CA001 serial number refused: {0}")]
    Serial(#[from] crate::storage::SerialError),
}

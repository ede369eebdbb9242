//! The health check of the pool: [`Hsm::check`] and the [`HealthReport`] it returns.

use std::sync::atomic::Ordering;

use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::session::SessionState;

use super::Hsm;
use crate::error::{HsmError, Result};

/// What [`Hsm::check`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthReport {
    /// Token label.
    pub token_label: String,
    /// Token serial number.
    pub serial: String,
    /// Token manufacturer.
    pub manufacturer: String,
    /// Token model.
    pub model: String,
    /// Token firmware version (`major.minor`).
    pub firmware: String,
    /// Sessions of the pool currently open and logged in.
    pub sessions_alive: usize,
    /// Sessions the pool was configured with.
    pub sessions_configured: usize,
}

impl Hsm {
    /// Proves that a logged-in session answers (C_GetSessionInfo must report a R/W user session)
    /// and reports what the token says about itself (C_GetTokenInfo).
    pub async fn check(&self) -> Result<HealthReport> {
        let configured = self.inner.sessions;
        let mut report = self
            .submit(move |ctx| {
                let info = ctx
                    .session()?
                    .get_session_info()
                    .map_err(HsmError::pkcs11("C_GetSessionInfo"))?;
                if !matches!(info.session_state(), SessionState::RwUser) {
                    return Err(HsmError::Pkcs11 {
                        operation: "C_GetSessionInfo",
                        source: Pkcs11Error::Pkcs11(
                            RvError::UserNotLoggedIn,
                            cryptoki::context::Function::GetSessionInfo,
                        ),
                    });
                }
                let shared = ctx.shared();
                let token = shared
                    .module()
                    .ctx()
                    .get_token_info(shared.slot())
                    .map_err(HsmError::pkcs11("C_GetTokenInfo"))?;
                let fw = token.firmware_version();
                Ok(HealthReport {
                    token_label: token.label().trim_end().to_owned(),
                    serial: token.serial_number().trim_end().to_owned(),
                    manufacturer: token.manufacturer_id().trim_end().to_owned(),
                    model: token.model().trim_end().to_owned(),
                    firmware: format!("{}.{}", fw.major(), fw.minor()),
                    sessions_alive: 0,
                    sessions_configured: configured,
                })
            })
            .await?;
        report.sessions_alive = self
            .inner
            .alive
            .iter()
            .filter(|a| a.load(Ordering::Acquire))
            .count();
        Ok(report)
    }
}

//! Helpers shared by the integration tests. Each test file that needs them says `mod common;`.

pub mod audit;
pub mod db;
pub mod metrics;
pub mod ocsp;
pub mod ocsp_load;
pub mod pki;
pub mod process;

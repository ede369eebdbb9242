//! qtsp: a qualified trust service provider server.
//!
//! The module map and the direction of dependencies are in docs/ARCHITECTURE.md.

pub mod api;
pub mod app;
pub mod audit;
pub mod bench;
pub mod ca;
pub mod clock;
pub mod config;
pub mod crl;
pub mod init;
pub mod ocsp;
pub mod pki;
pub mod profile;
pub mod server;
pub mod storage;
pub mod tsa;

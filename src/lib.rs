//! qtsp: a qualified trust service provider server.
//!
//! See `../shared/ARCHITECTURE.md` (mirrored in docs/ARCHITECTURE.md) for the module map.

pub mod storage;

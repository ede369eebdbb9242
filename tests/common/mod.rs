//! Helpers shared by the integration tests. Each test file that needs them says `mod common;`.

pub mod db;

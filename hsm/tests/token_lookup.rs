//! The token lookup survives a token this process cannot see for a moment.
//!
//! SoftHSM2 scans its token directory at `C_Initialize`: a token another process creates (or is
//! rewriting, so that it cannot be read) at that moment stays invisible until the module is
//! initialized again. Its own binary, so that no other test holds the module open.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::time::Duration;

use qtsp_hsm::testing::{default_test_dir, prepare_test_token_with_label};
use qtsp_hsm::{Hsm, HsmError};

const LATE_LABEL: &str = "qtsp-test-late-token";

fn delete_late_token(conf: &std::path::Path) {
    // Absent is fine: the command then fails and there is nothing to delete.
    let _ = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", conf)
        .args(["--delete-token", "--token", LATE_LABEL])
        .output()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_created_by_another_process_after_initialization_is_found() {
    // This process initializes the module and keeps it: the pool holds it.
    let holder = common::pool(1).await;
    let conf = common::token().conf_path.clone();
    delete_late_token(&conf);
    // Another process (softhsm2-util) creates a token this initialization does not see.
    let late = prepare_test_token_with_label(&default_test_dir(), LATE_LABEL).unwrap();
    let late_cfg = late.config(1);
    let start = tokio::spawn(async move { Hsm::start(&late_cfg).await });
    // The lookup misses the token while the module stays initialized; once the holder is gone,
    // a retry initializes the module again and finds it.
    tokio::time::sleep(Duration::from_millis(20)).await;
    holder.shutdown().await;
    drop(holder);
    let found = start.await.unwrap();
    let result = match found {
        Ok(hsm) => {
            hsm.check().await.unwrap();
            hsm.shutdown().await;
            Ok(())
        }
        Err(e) => Err(e),
    };
    delete_late_token(&conf);
    if let Err(e) = result {
        panic!("the late token was not found: {e}");
    }

    // A token that is really absent is still reported, after the retries.
    let mut absent = late.config(1);
    absent.token = qtsp_hsm::TokenSelector::Label("qtsp-test-never-created".into());
    let err = Hsm::start(&absent).await.unwrap_err();
    assert!(matches!(err, HsmError::TokenNotFound { .. }), "{err}");
}

//! OCSP helpers shared by the end-to-end tests: `openssl ocsp` as the client (POST with `-url`,
//! GET with a request made by `-reqout`), pkilint's `lint_ocsp_response`, and the `/metrics`
//! counters.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use base64::Engine as _;

use super::pki::{openssl, pkilint, run_pkilint};

/// `openssl ocsp` with `args`; returns (success, stdout + stderr).
pub fn ocsp(args: &[&str]) -> (bool, String) {
    let mut all = vec!["ocsp"];
    all.extend_from_slice(args);
    let (ok, out, err) = openssl(&all);
    (ok, format!("{out}{err}"))
}

/// A query through `openssl ocsp` (POST): the response must verify against the hierarchy, and
/// is saved to `respout`.
pub fn query(
    url: &str,
    issuer: &Path,
    chain: &Path,
    target: &[&str],
    extra: &[&str],
    respout: &Path,
) -> String {
    let mut args = vec![
        "-issuer",
        issuer.to_str().unwrap(),
        "-url",
        url,
        "-CAfile",
        chain.to_str().unwrap(),
        "-resp_text",
        "-respout",
        respout.to_str().unwrap(),
    ];
    args.extend_from_slice(target);
    args.extend_from_slice(extra);
    let (ok, text) = ocsp(&args);
    assert!(ok, "openssl ocsp {args:?}:\n{text}");
    assert!(text.contains("Response verify OK"), "{args:?}:\n{text}");
    text
}

/// What a GET query returned.
pub struct GetAnswer {
    pub headers: reqwest::header::HeaderMap,
    /// `openssl ocsp -respin ... -resp_text` on the saved response, which verified.
    pub text: String,
}

/// A GET query: `openssl ocsp -reqout` makes the request for `cert` of `issuer` (with a nonce
/// unless `nonce` is false), it is sent as `GET {url}/{base64}` (percent-encoded), and the
/// answer, saved to `respout`, must verify against `chain` with `openssl ocsp -respin`.
#[allow(clippy::too_many_arguments)]
pub async fn get_query(
    client: &reqwest::Client,
    url: &str,
    issuer: &Path,
    chain: &Path,
    cert: &Path,
    nonce: bool,
    reqout: &Path,
    respout: &Path,
) -> GetAnswer {
    let mut args = vec![
        "-issuer",
        issuer.to_str().unwrap(),
        "-cert",
        cert.to_str().unwrap(),
        "-reqout",
        reqout.to_str().unwrap(),
    ];
    if !nonce {
        args.push("-no_nonce");
    }
    let (ok, text) = ocsp(&args);
    assert!(ok, "{text}");
    let b64 = base64::engine::general_purpose::STANDARD.encode(std::fs::read(reqout).unwrap());
    let response = client
        .get(format!("{url}/{}", percent_encode(&b64)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/ocsp-response"
    );
    let headers = response.headers().clone();
    std::fs::write(respout, response.bytes().await.unwrap()).unwrap();
    let mut args = vec![
        "-respin",
        respout.to_str().unwrap(),
        "-issuer",
        issuer.to_str().unwrap(),
        "-cert",
        cert.to_str().unwrap(),
        "-CAfile",
        chain.to_str().unwrap(),
        "-resp_text",
    ];
    if nonce {
        // The request's nonce cannot be matched by -respin: only check the echo.
        args.push("-no_nonce");
    }
    let (ok, text) = ocsp(&args);
    assert!(ok && text.contains("Response verify OK"), "{text}");
    assert_eq!(text.contains("OCSP Nonce"), nonce, "{text}");
    GetAnswer { headers, text }
}

/// pkilint's lint_ocsp_response: no ERROR or FATAL; every finding is shown in the test output.
pub fn lint(response: &Path) {
    let Some(bin) = pkilint() else { return };
    let report = run_pkilint(&bin, "lint_ocsp_response", &["-s", "INFO"], response);
    eprintln!("{}:\n{}", report.command, report.output);
    report.assert_clean();
}

/// Standard base64 made safe for a URL path segment.
pub fn percent_encode(b64: &str) -> String {
    b64.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

//! Area 1: interoperability with openssl. Every combination of SHA-256/384/512, with and
//! without `-cert`, with and without a nonce, asked by `openssl ts -query`, verified by
//! `openssl ts -verify` and read back field by field.

use std::path::{Path, PathBuf};

use der::Decode;
use qtsp::pki::tsp::TimeStampReq;
use time::OffsetDateTime;

use crate::processes::{
    QUERY, REPLY, Server, nonce_line, openssl, openssl_ok, path_str, post, shown,
};
use crate::tokens::{Hash, Tsu, check_token, granted};

pub(crate) struct Files {
    dir: PathBuf,
    document: PathBuf,
    root: PathBuf,
    /// qualified-ca.pem: the intermediate, when the token carries the TSU certificate.
    ca: PathBuf,
    /// qualified-ca.pem then tsu.pem: when the token does not carry it.
    ca_and_tsu: PathBuf,
}

impl Files {
    pub(crate) fn new(dir: &Path, data: &Path) -> Self {
        let document = dir.join("document.txt");
        std::fs::write(&document, b"qtsp: a document to time-stamp over HTTP\n").unwrap();
        let certs = data.join("certs");
        let ca_and_tsu = dir.join("ca-and-tsu.pem");
        let mut chain = std::fs::read(certs.join("qualified-ca.pem")).unwrap();
        chain.extend(std::fs::read(certs.join("tsu.pem")).unwrap());
        std::fs::write(&ca_and_tsu, chain).unwrap();
        Self {
            dir: dir.to_owned(),
            document,
            root: certs.join("root.pem"),
            ca: certs.join("qualified-ca.pem"),
            ca_and_tsu,
        }
    }

    /// `openssl ts -query -data document.txt ARGS -out NAME`: the request's path and bytes.
    pub(crate) fn query(&self, name: &str, args: &[&str]) -> (PathBuf, Vec<u8>) {
        let out = self.dir.join(name);
        let mut all = vec!["ts", "-query", "-data", path_str(&self.document)];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-out", path_str(&out)]);
        openssl_ok(&all);
        let der = std::fs::read(&out).unwrap();
        (out, der)
    }
}

/// `openssl ts -verify`; true when it says "Verification: OK".
fn openssl_verifies(
    reply: &Path,
    against: [&str; 2],
    untrusted: &Path,
    root: &Path,
) -> (bool, String) {
    let args = [
        "ts",
        "-verify",
        "-in",
        path_str(reply),
        against[0],
        against[1],
        "-CAfile",
        path_str(root),
        "-untrusted",
        path_str(untrusted),
    ];
    let output = openssl(&args);
    let ok = output.status.success()
        && String::from_utf8_lossy(&output.stdout).contains("Verification: OK");
    (ok, shown(&args, &output))
}

pub(crate) async fn interop(server: &Server, client: &reqwest::Client, files: &Files, tsu: &Tsu) {
    let mut cases = 0;
    for hash in Hash::ALL {
        for cert in [true, false] {
            for nonce in [true, false] {
                let name = format!(
                    "{}-{}-{}",
                    hash.name(),
                    if cert { "cert" } else { "nocert" },
                    if nonce { "nonce" } else { "nononce" }
                );
                let hash_flag = format!("-{}", hash.name());
                let mut args = vec![hash_flag.as_str()];
                if cert {
                    args.push("-cert");
                }
                if !nonce {
                    args.push("-no_nonce");
                }
                let (query_path, query) = files.query(&format!("{name}.tsq"), &args);
                let request = TimeStampReq::from_der(&query).unwrap();
                assert_eq!(request.nonce.is_some(), nonce);
                assert_eq!(request.cert_req, cert);

                let before = OffsetDateTime::now_utc();
                let answer = post(client, &server.tsa_url(), Some(QUERY), query.clone()).await;
                let after = OffsetDateTime::now_utc();
                assert_eq!(answer.status, 200, "{name}:\n{}", server.log());
                assert_eq!(answer.content_type, REPLY, "{name}");
                let reply_path = files.dir.join(format!("{name}.tsr"));
                std::fs::write(&reply_path, &answer.body).unwrap();

                // openssl, the independent verifier: signature, chain, imprint, nonce, ESSCertIDv2.
                let untrusted = if cert { &files.ca } else { &files.ca_and_tsu };
                let (ok, shown) = openssl_verifies(
                    &reply_path,
                    ["-queryfile", path_str(&query_path)],
                    untrusted,
                    &files.root,
                );
                assert!(ok, "{name}: {shown}");
                if hash == Hash::Sha384 && !cert && nonce {
                    let (ok, shown) = openssl_verifies(
                        &reply_path,
                        ["-data", path_str(&files.document)],
                        untrusted,
                        &files.root,
                    );
                    assert!(ok, "{name} against the data: {shown}");
                    // Not vacuous: other data does not verify.
                    let other = files.dir.join("other.txt");
                    std::fs::write(&other, b"some other document\n").unwrap();
                    let (ok, shown) = openssl_verifies(
                        &reply_path,
                        ["-data", path_str(&other)],
                        untrusted,
                        &files.root,
                    );
                    assert!(!ok, "{name} verified against other data: {shown}");
                }

                // What openssl reads in the token.
                let text = openssl_ok(&["ts", "-reply", "-in", path_str(&reply_path), "-text"]);
                for expected in [
                    "Status: Granted.",
                    "Version: 1",
                    "Policy OID: 0.4.0.2023.1.1",
                    &format!("Hash Algorithm: {}", hash.name()),
                    "Accuracy: 0x01 seconds",
                    "Ordering: no",
                    &format!("TSA: DirName:{}", tsu.subject_compat),
                ] {
                    assert!(
                        text.lines().any(|l| l.starts_with(expected)),
                        "{name}: no `{expected}` in\n{text}"
                    );
                }
                let extensions = text
                    .split_once("Extensions:")
                    .unwrap_or_else(|| panic!("{name}: no Extensions in\n{text}"))
                    .1;
                assert!(extensions.contains("qcStatements"), "{name}:\n{text}");
                let query_text =
                    openssl_ok(&["ts", "-query", "-in", path_str(&query_path), "-text"]);
                if nonce {
                    assert_ne!(nonce_line(&query_text), "Nonce: unspecified");
                    assert_eq!(nonce_line(&text), nonce_line(&query_text), "{name}");
                } else {
                    assert_eq!(nonce_line(&text), "Nonce: unspecified", "{name}");
                }

                // The same token, field by field.
                check_token(&granted(&answer.body), &request, tsu, before, after);
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 12);
}

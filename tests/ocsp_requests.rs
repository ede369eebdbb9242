//! RFC 6960 request checks against real requests made by `openssl ocsp -reqout` for certificates
//! made by `openssl req` / `openssl x509`, and refusal (and unsigned basic) responses read back by
//! `openssl ocsp -respin`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use der::asn1::{BitString, GeneralizedTime, Null, OctetString};
use der::{DateTime, Decode, DecodePem, Encode};
use qtsp::ocsp::{CertIdHash, MAX_REQUESTS, OcspRefusal, check_request};
use qtsp::pki::ocsp::{
    BasicOcspResponse, CertStatus, OCSP_V1, OcspResponse, OcspResponseStatus, ResponderId,
    ResponseBytes, ResponseData, RevokedInfo, SingleResponse,
};
use qtsp::pki::oid;
use sha1::{Digest, Sha1};
use sha2::Sha256;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::serial_number::SerialNumber;

/// A CA and two leaf certificates (EC P-256), made by openssl in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
}

/// Serial of `leaf1.pem`: 8 octets, high bit clear.
const SERIAL1: &str = "0123456789abcdef";
/// Serial of `leaf2.pem`: the high bit is set, so DER adds a leading zero octet.
const SERIAL2: &str = "80aa55";

impl Pki {
    fn new() -> Self {
        let pki = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        pki.openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-subj",
                    "/C=FR/O=qtsp test/CN=qtsp OCSP test CA",
                    "-days",
                    "2",
                    "-out",
                    "ca.pem",
                ],
            ]
            .concat(),
        );
        pki.openssl(
            &[
                &["req", "-new"][..],
                &ec,
                &[
                    "-keyout", "leaf.key", "-subj", "/CN=leaf", "-out", "leaf.csr",
                ],
            ]
            .concat(),
        );
        for (out, serial) in [("leaf1.pem", SERIAL1), ("leaf2.pem", SERIAL2)] {
            pki.openssl(&[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                &format!("0x{serial}"),
                "-days",
                "1",
                "-out",
                out,
            ]);
        }
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs openssl in the directory, whatever its exit status.
    fn run(&self, args: &[&str]) -> Output {
        Command::new("openssl")
            .current_dir(self.dir.path())
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs openssl in the directory; it must succeed. Returns stdout.
    fn openssl(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    /// `openssl ocsp -issuer ca.pem ARGS -reqout NAME`, returning the request bytes.
    fn request(&self, name: &str, args: &[&str]) -> Vec<u8> {
        self.openssl(&[&["ocsp", "-issuer", "ca.pem"][..], args, &["-reqout", name]].concat());
        std::fs::read(self.path(name)).unwrap()
    }

    fn cert(&self, name: &str) -> Certificate {
        Certificate::from_pem(std::fs::read(self.path(name)).unwrap()).unwrap()
    }

    /// (issuerNameHash, issuerKeyHash) computed here: the hash of the DER of the CA's subject
    /// Name, and of the value of its subjectPublicKey BIT STRING (no tag, length or unused-bits
    /// octet).
    fn issuer_hashes(&self, alg: CertIdHash) -> (Vec<u8>, Vec<u8>) {
        let ca = self.cert("ca.pem");
        let name = ca.tbs_certificate().subject().to_der().unwrap();
        let key = ca
            .tbs_certificate()
            .subject_public_key_info()
            .subject_public_key
            .raw_bytes()
            .to_vec();
        // An uncompressed P-256 point.
        assert_eq!((key.len(), key[0]), (65, 0x04));
        match alg {
            CertIdHash::Sha1 => (Sha1::digest(&name).to_vec(), Sha1::digest(&key).to_vec()),
            CertIdHash::Sha256 => (
                Sha256::digest(&name).to_vec(),
                Sha256::digest(&key).to_vec(),
            ),
            other => panic!("{other:?}"),
        }
    }
}

/// The nonce as `openssl ocsp -reqin FILE -req_text` prints it: the hex of the extension's
/// extnValue (`0410` + 16 octets), upper case, on the line after "OCSP Nonce:".
fn printed_nonce_ext_value(text: &str) -> Option<String> {
    let mut lines = text.lines();
    lines.find(|l| l.trim() == "OCSP Nonce:")?;
    Some(lines.next()?.trim().to_ascii_lowercase())
}

fn contains_window(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn openssl_requests_are_accepted_with_the_right_facts() {
    let pki = Pki::new();
    let leaf1 = pki.cert("leaf1.pem");
    let leaf2 = pki.cert("leaf2.pem");
    let serial1 = leaf1.tbs_certificate().serial_number().clone();
    let serial2 = leaf2.tbs_certificate().serial_number().clone();
    // The serials as openssl wrote them in the certificates, DER content octets.
    assert_eq!(hex::encode(serial1.as_bytes()), SERIAL1);
    assert_eq!(hex::encode(serial2.as_bytes()), format!("00{SERIAL2}"));
    // The leaves' issuer is the CA's subject, byte for byte.
    assert_eq!(
        leaf1.tbs_certificate().issuer().to_der().unwrap(),
        pki.cert("ca.pem")
            .tbs_certificate()
            .subject()
            .to_der()
            .unwrap()
    );

    let cases: &[(&[&str], CertIdHash, &[&SerialNumber])] = &[
        (&["-cert", "leaf1.pem"], CertIdHash::Sha1, &[&serial1]),
        (
            &["-cert", "leaf1.pem", "-no_nonce"],
            CertIdHash::Sha1,
            &[&serial1],
        ),
        (
            &["-sha256", "-cert", "leaf2.pem"],
            CertIdHash::Sha256,
            &[&serial2],
        ),
        (
            &["-cert", "leaf1.pem", "-cert", "leaf2.pem"],
            CertIdHash::Sha1,
            &[&serial1, &serial2],
        ),
        (
            &[
                "-sha256",
                "-cert",
                "leaf2.pem",
                "-cert",
                "leaf1.pem",
                "-no_nonce",
            ],
            CertIdHash::Sha256,
            &[&serial2, &serial1],
        ),
    ];
    for (i, (args, alg, serials)) in cases.iter().enumerate() {
        let name = format!("req{i}.der");
        let der = pki.request(&name, args);
        let checked = check_request(&der).unwrap_or_else(|r| panic!("{args:?}: {r}"));
        assert!(!checked.signed);
        let (name_hash, key_hash) = pki.issuer_hashes(*alg);
        assert_eq!(checked.requests.len(), serials.len(), "{args:?}");
        for (r, serial) in checked.requests.iter().zip(serials.iter()) {
            assert_eq!(r.hash_alg, *alg, "{args:?}");
            assert_eq!(r.issuer_name_hash, name_hash, "{args:?}");
            assert_eq!(r.issuer_key_hash, key_hash, "{args:?}");
            assert_eq!(&r.serial_number, *serial, "{args:?}");
            // The CertID to echo is the request's, byte for byte.
            assert!(contains_window(&der, &r.cert_id.to_der().unwrap()));
        }

        let text = pki.openssl(&["ocsp", "-reqin", &name, "-req_text"]);
        let printed = printed_nonce_ext_value(&text);
        if args.contains(&"-no_nonce") {
            assert_eq!(checked.nonce, None, "{args:?}");
            assert_eq!(printed, None, "{text}");
        } else {
            // openssl's nonce: 16 random octets, in an OCTET STRING inside extnValue.
            let nonce = checked.nonce.as_ref().unwrap();
            assert_eq!(nonce.len(), 16);
            assert_eq!(
                printed,
                Some(format!("0410{}", hex::encode(nonce))),
                "{text}"
            );
        }
    }
}

#[test]
fn openssl_requests_we_cannot_answer_are_malformed() {
    let pki = Pki::new();
    // SHA-384 CertIDs.
    let r =
        check_request(&pki.request("sha384.der", &["-sha384", "-cert", "leaf1.pem"])).unwrap_err();
    assert_eq!(r, OcspRefusal::UnsupportedHash(oid::ID_SHA384));
    assert_eq!(r.status(), OcspResponseStatus::MalformedRequest);

    // MAX_REQUESTS certificates are fine, one more is not.
    let many = |n: usize| -> Vec<&str> {
        std::iter::repeat_n(["-cert", "leaf1.pem"], n)
            .flatten()
            .collect()
    };
    let ok = check_request(&pki.request("max.der", &many(MAX_REQUESTS))).unwrap();
    assert_eq!(ok.requests.len(), MAX_REQUESTS);
    let r = check_request(&pki.request("toomany.der", &many(MAX_REQUESTS + 1))).unwrap_err();
    assert_eq!(
        r,
        OcspRefusal::TooManyRequests {
            count: MAX_REQUESTS + 1
        }
    );
}

#[test]
fn truncations_corruptions_and_random_bytes_never_panic() {
    let pki = Pki::new();
    let der = pki.request("fuzz.der", &["-cert", "leaf1.pem", "-cert", "leaf2.pem"]);
    check_request(&der).unwrap();

    for len in 0..der.len() {
        let r = check_request(&der[..len]).unwrap_err();
        assert_eq!(
            r.status(),
            OcspResponseStatus::MalformedRequest,
            "truncated to {len}"
        );
        assert_eq!(r.to_response_der().unwrap(), [0x30, 0x03, 0x0a, 0x01, 0x01]);
    }

    let mut accepted = 0usize;
    for i in 0..der.len() {
        for value in 0..=255u8 {
            if value == der[i] {
                continue;
            }
            let mut bad = der.clone();
            bad[i] = value;
            match check_request(&bad) {
                // A changed hash, serial or nonce byte is still a valid request.
                Ok(_) => accepted += 1,
                Err(r) => {
                    assert_eq!(
                        r.status(),
                        OcspResponseStatus::MalformedRequest,
                        "{i} {value}"
                    );
                    assert!(r.to_string().starts_with(r.code()));
                    assert!(r.to_response_der().is_ok());
                }
            }
        }
    }
    assert!(accepted > 0);

    // xorshift64: deterministic random inputs of every length up to 300 bytes.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..20_000usize {
        let len = round % 300;
        let mut bytes: Vec<u8> = (0..len).map(|_| next().to_le_bytes()[0]).collect();
        if round % 2 == 0 && !bytes.is_empty() {
            bytes[0] = 0x30; // a SEQUENCE tag, to get past the first check more often
        }
        let r = check_request(&bytes).unwrap_err();
        assert_eq!(r.status(), OcspResponseStatus::MalformedRequest);
    }
}

/// `openssl ocsp -respin FILE -resp_text -noverify -ignore_err`: stdout, whatever the exit status
/// (openssl exits with 1 on an error status).
fn read_response(pki: &Pki, file: &Path, extra: &[&str]) -> String {
    let out = pki.run(
        &[
            &["ocsp", "-respin", file.to_str().unwrap()][..],
            extra,
            &["-resp_text", "-noverify", "-ignore_err"],
        ]
        .concat(),
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn refusal_responses_read_as_malformed_request_by_openssl() {
    let pki = Pki::new();
    let der = pki.request("r.der", &["-cert", "leaf1.pem"]);
    let refusals = [
        check_request(&der[..der.len() - 1]).unwrap_err(),
        check_request(b"not a request").unwrap_err(),
        check_request(&pki.request("r384.der", &["-sha384", "-cert", "leaf1.pem"])).unwrap_err(),
        OcspRefusal::ContentType,
    ];
    for (i, refusal) in refusals.iter().enumerate() {
        let file = pki.path(&format!("refusal{i}.der"));
        std::fs::write(&file, refusal.to_response_der().unwrap()).unwrap();
        let text = read_response(&pki, &file, &[]).to_ascii_lowercase();
        // OpenSSL 3.0 spells the status in lower case ("malformedrequest"); compare without case.
        assert!(
            text.contains("responder error: malformedrequest (1)"),
            "{refusal}: {text}"
        );
        assert!(
            text.contains("ocsp response status: malformedrequest (0x1)"),
            "{refusal}: {text}"
        );
        let parsed = pki.openssl(&["asn1parse", "-inform", "DER", "-in", file.to_str().unwrap()]);
        assert!(parsed.contains("ENUMERATED        :01"), "{parsed}");
        assert_eq!(parsed.lines().count(), 2, "{parsed}");
    }
}

#[test]
fn openssl_reads_good_revoked_and_unknown_from_our_types() {
    // An unsigned BasicOCSPResponse (signing is not the point here: the tags are), answering an
    // openssl request, read by openssl with -noverify.
    let pki = Pki::new();
    let req = pki.request("q.der", &["-cert", "leaf1.pem", "-cert", "leaf2.pem"]);
    let checked = check_request(&req).unwrap();
    let t = |d, h| GeneralizedTime::from_date_time(DateTime::new(2026, 3, d, h, 34, 56).unwrap());

    let mut unknown_id = checked.requests[0].cert_id.clone();
    unknown_id.serial_number = SerialNumber::new(&[0x42]).unwrap();
    let (_, key_hash) = pki.issuer_hashes(CertIdHash::Sha1);
    let nonce_value = OctetString::new(checked.nonce.clone().unwrap())
        .unwrap()
        .to_der()
        .unwrap();
    let data = ResponseData {
        version: OCSP_V1,
        responder_id: ResponderId::ByKey(OctetString::new(key_hash.clone()).unwrap()),
        produced_at: t(1, 12),
        responses: vec![
            SingleResponse {
                cert_id: checked.requests[0].cert_id.clone(),
                cert_status: CertStatus::Good(Null),
                this_update: t(1, 12),
                next_update: Some(t(2, 12)),
                single_extensions: None,
            },
            SingleResponse {
                cert_id: checked.requests[1].cert_id.clone(),
                cert_status: CertStatus::Revoked(RevokedInfo {
                    revocation_time: t(1, 10),
                    revocation_reason: Some(CrlReason::KeyCompromise),
                }),
                this_update: t(1, 12),
                next_update: Some(t(2, 12)),
                single_extensions: None,
            },
            SingleResponse {
                cert_id: unknown_id,
                cert_status: CertStatus::Unknown(Null),
                this_update: t(1, 12),
                next_update: None,
                single_extensions: None,
            },
        ],
        response_extensions: Some(vec![Extension {
            extn_id: oid::ID_PKIX_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(nonce_value.clone()).unwrap(),
        }]),
    };
    let basic = BasicOcspResponse {
        tbs_response_data: data,
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: oid::ECDSA_WITH_SHA256,
            parameters: None,
        },
        signature: BitString::from_bytes(&[0x30, 0x00]).unwrap(),
        certs: None,
    };
    let response = OcspResponse {
        response_status: OcspResponseStatus::Successful,
        response_bytes: Some(ResponseBytes {
            response_type: oid::ID_PKIX_OCSP_BASIC,
            response: OctetString::new(basic.to_der().unwrap()).unwrap(),
        }),
    };
    let der = response.to_der().unwrap();
    assert_eq!(OcspResponse::from_der(&der).unwrap(), response);
    let file = pki.path("resp.der");
    std::fs::write(&file, &der).unwrap();

    let text = read_response(&pki, &file, &[]);
    let lines: Vec<String> = text.lines().map(|l| l.trim().to_owned()).collect();
    let has = |s: &str| lines.iter().any(|l| l == s);
    for expected in [
        "OCSP Response Status: successful (0x0)",
        "Response Type: Basic OCSP Response",
        "Version: 1 (0x0)",
        &format!("Responder Id: {}", hex::encode_upper(&key_hash)),
        "Produced At: Mar  1 12:34:56 2026 GMT",
        "Serial Number: 0123456789ABCDEF",
        "Cert Status: good",
        "Serial Number: 80AA55",
        "Cert Status: revoked",
        "Revocation Time: Mar  1 10:34:56 2026 GMT",
        "Revocation Reason: keyCompromise (0x1)",
        "Serial Number: 42",
        "Cert Status: unknown",
        "This Update: Mar  1 12:34:56 2026 GMT",
        "Next Update: Mar  2 12:34:56 2026 GMT",
        "OCSP Nonce:",
        &hex::encode_upper(&nonce_value),
    ] {
        assert!(has(expected), "missing {expected:?} in\n{text}");
    }

    // openssl finds each certificate's status by the CertID it computes itself, so the echoed
    // CertIDs match.
    let summary = read_response(
        &pki,
        &file,
        &[
            "-issuer",
            "ca.pem",
            "-cert",
            "leaf1.pem",
            "-cert",
            "leaf2.pem",
            // The times are fixed, in the past: tolerate them (seconds).
            "-validity_period",
            "3000000000",
        ],
    );
    assert!(!summary.contains("WARNING"), "{summary}");
    assert!(summary.contains("leaf1.pem: good"), "{summary}");
    assert!(summary.contains("leaf2.pem: revoked"), "{summary}");
}

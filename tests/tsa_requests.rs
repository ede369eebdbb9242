//! RFC 3161 request checks against real requests made by `openssl ts -query`, and rejection
//! responses read back by `openssl ts -reply` and `openssl asn1parse`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use der::asn1::OctetString;
use der::{Decode, Encode};
use qtsp::pki::oid;
use qtsp::pki::tsp::{PkiFailureInfo, PkiStatus, TimeStampReq};
use qtsp::tsa::{ImprintAlgorithm, Refusal, TimeStampPolicy, check_request};
use x509_cert::ext::Extension;

struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data.txt"), b"qtsp time-stamp test data\n").unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `openssl ts -query -data data.txt ARGS -out NAME`, returning the request bytes.
    fn query(&self, name: &str, args: &[&str]) -> Vec<u8> {
        let out = self.path(name);
        let status = Command::new("openssl")
            .args(["ts", "-query", "-data"])
            .arg(self.path("data.txt"))
            .args(args)
            .arg("-out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(status.status.success(), "{status:?}");
        std::fs::read(out).unwrap()
    }
}

fn openssl_text(args: &[&str], file: &Path) -> String {
    let out = Command::new("openssl")
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// What `openssl ts -query -in FILE -text` says about a request.
#[derive(Debug)]
struct Printed {
    hash: String,
    imprint_hex: String,
    policy: Option<String>,
    nonce_hex: Option<String>,
    cert_req: bool,
}

fn printed(file: &Path) -> Printed {
    let text = openssl_text(&["ts", "-query", "-text", "-in"], file);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} missing in {text}"))
            .trim()
            .to_owned()
    };
    // Hex dump lines: "    0000 - 98 ea 6e 4f 21 6f 2f b4-b6 9f ...   ascii".
    let mut imprint_hex = String::new();
    let mut in_dump = false;
    for line in text.lines() {
        if line.starts_with("Message data:") {
            in_dump = true;
            continue;
        }
        if in_dump {
            let Some((_, rest)) = line.trim_start().split_once(" - ") else {
                break;
            };
            let hex_part = rest.get(..47).unwrap_or(rest);
            imprint_hex.extend(
                hex_part
                    .chars()
                    .filter(char::is_ascii_hexdigit)
                    .map(|c| c.to_ascii_lowercase()),
            );
        }
    }
    let unspecified = |v: String| (v != "unspecified").then_some(v);
    Printed {
        hash: field("Hash Algorithm:"),
        imprint_hex,
        policy: unspecified(field("Policy OID:")),
        nonce_hex: unspecified(field("Nonce:"))
            .map(|n| n.trim_start_matches("0x").to_ascii_lowercase()),
        cert_req: field("Certificate required:") == "yes",
    }
}

/// The hex of a DER INTEGER's content octets as openssl prints the number (`BN_bn2hex`): no
/// leading zero octets, but two digits for every octet, so `0x08BC...`, not `0x8BC...`.
fn number_hex(content: &[u8]) -> String {
    let start = content
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(content.len());
    let hex = hex::encode(&content[start..]);
    if hex.is_empty() { "0".into() } else { hex }
}

#[test]
fn openssl_requests_are_accepted_and_read_as_openssl_reads_them() {
    let w = Workdir::new();
    let policy = TimeStampPolicy::default();
    let cases: &[(&[&str], ImprintAlgorithm)] = &[
        (&["-sha256"], ImprintAlgorithm::Sha256),
        (&["-sha256", "-cert"], ImprintAlgorithm::Sha256),
        (&["-sha384", "-no_nonce"], ImprintAlgorithm::Sha384),
        (&["-sha512", "-cert", "-no_nonce"], ImprintAlgorithm::Sha512),
        (&["-sha3-256"], ImprintAlgorithm::Sha3_256),
        (&["-sha3-384", "-cert"], ImprintAlgorithm::Sha3_384),
        (&["-sha3-512", "-no_nonce"], ImprintAlgorithm::Sha3_512),
        (
            &["-sha256", "-tspolicy", "0.4.0.2023.1.1", "-cert"],
            ImprintAlgorithm::Sha256,
        ),
    ];
    for (i, (args, alg)) in cases.iter().enumerate() {
        let name = format!("req{i}.tsq");
        let der = w.query(&name, args);
        let expected = printed(&w.path(&name));
        let checked = check_request(&der, &policy).unwrap_or_else(|r| panic!("{args:?}: {r}"));
        assert_eq!(checked.hash_alg, *alg, "{args:?}");
        assert_eq!(checked.hash_alg.name(), expected.hash, "{args:?}");
        assert_eq!(
            hex::encode(&checked.imprint),
            expected.imprint_hex,
            "{args:?}"
        );
        assert_eq!(checked.imprint.len(), alg.output_len());
        assert_eq!(
            checked.nonce.as_deref().map(number_hex),
            expected.nonce_hex,
            "{args:?}"
        );
        assert_eq!(checked.nonce.is_none(), args.contains(&"-no_nonce"));
        assert_eq!(checked.cert_req, expected.cert_req, "{args:?}");
        assert_eq!(checked.cert_req, args.contains(&"-cert"));
        assert_eq!(
            checked.requested_policy.map(|p| p.to_string()),
            expected.policy,
            "{args:?}"
        );
    }
}

fn refused(der: &[u8]) -> Refusal {
    check_request(der, &TimeStampPolicy::default()).unwrap_err()
}

#[test]
fn weak_hashes_and_foreign_policies_are_refused() {
    let w = Workdir::new();
    for alg in ["-sha1", "-md5"] {
        let r = refused(&w.query("weak.tsq", &[alg]));
        assert_eq!(r.status, PkiStatus::Rejection);
        assert_eq!(r.fail_info, PkiFailureInfo::BAD_ALG, "{alg}");
    }
    let r = refused(&w.query("policy.tsq", &["-sha256", "-tspolicy", "1.2.3.4"]));
    assert_eq!(r.fail_info, PkiFailureInfo::UNACCEPTED_POLICY);
    assert!(r.text.contains("1.2.3.4"), "{}", r.text);
}

#[test]
fn truncations_corruptions_and_random_bytes_never_panic() {
    let w = Workdir::new();
    let policy = TimeStampPolicy::default();
    let der = w.query("fuzz.tsq", &["-sha256", "-cert"]);
    check_request(&der, &policy).unwrap();

    for len in 0..der.len() {
        let r = check_request(&der[..len], &policy).unwrap_err();
        assert_eq!(
            r.fail_info,
            PkiFailureInfo::BAD_REQUEST,
            "truncated to {len}"
        );
    }

    let mut accepted = 0usize;
    for i in 0..der.len() {
        for value in 0..=255u8 {
            if value == der[i] {
                continue;
            }
            let mut bad = der.clone();
            bad[i] = value;
            match check_request(&bad, &policy) {
                // A changed imprint or nonce byte is still a valid request.
                Ok(_) => accepted += 1,
                Err(r) => {
                    assert_eq!(r.status, PkiStatus::Rejection);
                    assert_eq!(r.fail_info.bits().count_ones(), 1, "{i} {value}: {r}");
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
        let r = check_request(&bytes, &policy).unwrap_err();
        assert_eq!(r.fail_info, PkiFailureInfo::BAD_REQUEST);
    }
}

#[test]
fn extensions_are_refused_critical_or_not() {
    let w = Workdir::new();
    let der = w.query("ext.tsq", &["-sha256"]);
    let mut req = TimeStampReq::from_der(&der).unwrap();
    for critical in [true, false] {
        req.extensions = Some(vec![Extension {
            extn_id: const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.1"),
            critical,
            extn_value: OctetString::new(vec![0x05, 0x00]).unwrap(),
        }]);
        let with_ext = req.to_der().unwrap();
        std::fs::write(w.path("ext-out.tsq"), &with_ext).unwrap();
        // openssl reads the request we built, extension included.
        let text = openssl_text(&["ts", "-query", "-text", "-in"], &w.path("ext-out.tsq"));
        assert!(text.contains("1.3.6.1.4.1.99999.1"), "{text}");
        if critical {
            assert!(text.contains("critical"), "{text}");
        }
        let r = refused(&with_ext);
        assert_eq!(r.fail_info, PkiFailureInfo::UNACCEPTED_EXTENSION);
    }
}

#[test]
fn rejection_responses_parse_with_openssl() {
    let w = Workdir::new();
    let cases = [
        (
            refused(&w.query("r1.tsq", &["-md5"])),
            "0780",
            "unrecognized or unsupported algorithm identifier",
        ),
        (
            refused(b"not a request"),
            "0520",
            "transaction not permitted or supported",
        ),
        (
            refused(&w.query("r2.tsq", &["-sha256", "-tspolicy", "1.2.3.4"])),
            "000001",
            "the requested TSA policy is not supported by the TSA",
        ),
    ];
    for (i, (refusal, bits_hex, openssl_says)) in cases.iter().enumerate() {
        let file = w.path(&format!("resp{i}.tsr"));
        std::fs::write(&file, refusal.to_response_der().unwrap()).unwrap();

        let parsed = openssl_text(
            &["asn1parse", "-inform", "DER", "-i", "-dump", "-in"],
            &file,
        );
        assert!(parsed.contains("INTEGER           :02"), "{parsed}");
        assert!(parsed.contains(&format!(":{}", refusal.text)), "{parsed}");
        let dump: String = parsed
            .lines()
            .skip_while(|l| !l.contains("BIT STRING"))
            .nth(1)
            .unwrap_or_else(|| panic!("{parsed}"))
            .split_once(" - ")
            .unwrap()
            .1
            .split_whitespace()
            .take_while(|t| t.len() == 2 && t.chars().all(|c| c.is_ascii_hexdigit()))
            .collect();
        assert_eq!(dump, *bits_hex, "{parsed}");

        let reply = openssl_text(&["ts", "-reply", "-text", "-in"], &file);
        assert!(reply.contains("Status: Rejected."), "{reply}");
        assert!(reply.contains(&refusal.text), "{reply}");
        assert!(reply.contains(openssl_says), "{reply}");
    }
}

#[test]
fn baseline_policy_constant_is_what_openssl_writes() {
    let w = Workdir::new();
    let der = w.query("p.tsq", &["-sha256", "-tspolicy", "0.4.0.2023.1.1"]);
    let req = TimeStampReq::from_der(&der).unwrap();
    assert_eq!(req.req_policy, Some(oid::TSA_BASELINE_POLICY));
    assert_eq!(req.to_der().unwrap(), der);
}

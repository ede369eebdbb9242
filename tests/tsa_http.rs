//! RFC 3161 over HTTP, end to end (issue #4): `qtsp init` and `qtsp serve` as real processes on
//! a real SoftHSM2 token, the `openssl ts` command line as the independent client and verifier,
//! the `cms` crate as an independent decoder of the tokens qtsp assembles by hand, and the
//! database and the audit journal read back after a graceful shutdown (SIGTERM).
//!
//! * [`interop_rejections_and_clock_guard`]: one data dir, two servers one after the other.
//!   With `QTSP_TSA_REQUIRE_CLOCK_SYNC=false`: every combination of SHA-256/384/512, with and
//!   without `-cert`, with and without a nonce, verified by `openssl ts -verify` and read back
//!   field by field; then every kind of bad request gets its exact `failInfo` in an HTTP 200,
//!   a wrong media type a 415, a GET a 405, an oversized body a 413, never a 5xx. Then a server
//!   that checks the clock: on an unsynchronized kernel clock every request is refused with
//!   `timeNotAvailable` and the journal holds one `clock_unsynchronized` record for the run.
//! * [`concurrent_tokens_are_unique_and_recorded_on_sqlite`] and
//!   [`concurrent_tokens_are_unique_and_recorded_on_postgresql`]: many tokens with 64 requests
//!   in flight, all granted with distinct serials; after shutdown each has its record (imprint,
//!   hash, genTime), the `timestamp_batch` events account for every one, and
//!   `qtsp audit verify` passes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, Int, OctetString};
use der::{Decode, Encode, Sequence};
use qtsp::pki::tsp::{
    Accuracy, MessageImprint, PkiFailureInfo, PkiStatus, SigningCertificateV2, TimeStampReq,
    TimeStampResp, TstInfo,
};
use qtsp::storage::{Storage, StorageOptions, TimestampSerial};
use sha2::Digest;
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;

const QTSP: &str = env!("CARGO_BIN_EXE_qtsp");

// OIDs written out here rather than taken from `qtsp::pki::oid`, so that a wrong constant there
// cannot hide behind the same wrong constant here.
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const ID_PE_QC_STATEMENTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.3");
const ESI4_QTST_STATEMENT_1: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.19422.1.1");
const BASELINE_POLICY: &str = "0.4.0.2023.1.1";

const QUERY: &str = "application/timestamp-query";
const REPLY: &str = "application/timestamp-reply";

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/// `qtsp` on `data`, with ephemeral ports and the TSA settings left to the policy file.
fn qtsp(data: &Path, database_url: Option<&str>) -> Command {
    let mut command = Command::new(QTSP);
    command
        .env("QTSP_DATA_DIR", data)
        .env("QTSP_PUBLIC_LISTEN", "127.0.0.1:0")
        .env("QTSP_API_LISTEN", "127.0.0.1:0")
        .env("QTSP_LOG", "warn")
        .env_remove("QTSP_TSA_REQUIRE_CLOCK_SYNC")
        .env_remove("QTSP_TSA_POLICY_OID")
        .env_remove("QTSP_TSA_ACCURACY_MS")
        .stdin(Stdio::null());
    match database_url {
        Some(url) => command.env("QTSP_DATABASE_URL", url),
        None => command.env_remove("QTSP_DATABASE_URL"),
    };
    command
}

fn run_ok(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A running `qtsp serve`; killed if the test fails before [`Server::stop`].
struct Server {
    child: Child,
    public: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Runs `command serve` and waits for its public listener's address on stderr.
    fn start(mut command: Command) -> Self {
        let mut child = command
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (sender, receiver) = std::sync::mpsc::channel();
        {
            // Keeps draining stderr, so that the child never blocks on a full pipe.
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    log.lock().unwrap().push(line.clone());
                    let _ = sender.send(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let public = loop {
            let line = receiver
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| {
                    panic!(
                        "qtsp serve did not print its public listener:\n{}",
                        log.lock().unwrap().join("\n")
                    )
                });
            if let Some(address) = line
                .strip_prefix("qtsp: public listener http://")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|a| a.parse::<SocketAddr>().ok())
            {
                break address;
            }
        };
        Self { child, public, log }
    }

    fn tsa_url(&self) -> String {
        format!("http://{}/tsa", self.public)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn assert_running(&mut self) {
        let exit = self.child.try_wait().unwrap();
        assert!(
            exit.is_none(),
            "qtsp serve exited ({exit:?}):\n{}",
            self.log()
        );
    }

    /// SIGTERM, then a clean exit: in-flight requests answered, records and journal written.
    async fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        let exit = loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                break exit;
            }
            assert!(
                Instant::now() < deadline,
                "qtsp serve ignored SIGTERM:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        assert!(
            exit.success(),
            "qtsp serve exited with {exit}:\n{}",
            self.log()
        );
    }
}

fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::new()
}

/// An HTTP answer: status, Content-Type, body.
struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Answer {
    let mut request = client.post(url).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.bytes().await.unwrap().to_vec();
    Answer {
        status,
        content_type,
        body,
    }
}

async fn sqlite(data: &Path) -> Storage {
    Storage::open_sqlite(&data.join("qtsp.db"), StorageOptions::default())
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// openssl
// ---------------------------------------------------------------------------------------------

fn openssl(args: &[&str]) -> Output {
    Command::new("openssl").args(args).output().unwrap()
}

fn shown(args: &[&str], output: &Output) -> String {
    format!(
        "openssl {} ({}):\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs openssl, fails with its whole output unless it succeeds; returns stdout.
fn openssl_ok(args: &[&str]) -> String {
    let output = openssl(args);
    assert!(output.status.success(), "{}", shown(args, &output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The `Nonce:` line of openssl's text output.
fn nonce_line(text: &str) -> &str {
    text.lines()
        .find(|l| l.starts_with("Nonce:"))
        .unwrap_or_else(|| panic!("no Nonce line in\n{text}"))
}

// ---------------------------------------------------------------------------------------------
// Hashes and requests
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    const ALL: [Self; 3] = [Self::Sha256, Self::Sha384, Self::Sha512];

    fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha256 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1"),
            Self::Sha384 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2"),
            Self::Sha512 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3"),
        }
    }

    fn from_oid(oid: &ObjectIdentifier) -> Self {
        Self::ALL
            .into_iter()
            .find(|h| h.oid() == *oid)
            .unwrap_or_else(|| panic!("{oid} is not a SHA-2 hash"))
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

/// A request built here (not by openssl), for what openssl cannot or will not produce.
fn hand_built(
    alg: ObjectIdentifier,
    imprint: Vec<u8>,
    nonce: Option<u64>,
    cert_req: bool,
) -> TimeStampReq {
    TimeStampReq {
        version: 1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: alg,
                parameters: None,
            },
            hashed_message: OctetString::new(imprint).unwrap(),
        },
        req_policy: None,
        // 0x01 first: positive and minimal whatever the number.
        nonce: nonce.map(|n| Int::new(&[&[0x01][..], &n.to_be_bytes()].concat()).unwrap()),
        cert_req,
        extensions: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// The TSU as `qtsp init` wrote it.
struct Tsu {
    der: Vec<u8>,
    certificate: Certificate,
    /// `openssl x509 -subject -nameopt compat`, as `openssl ts -reply -text` prints a DirName.
    subject_compat: String,
}

impl Tsu {
    fn load(data: &Path) -> Self {
        let der = std::fs::read(data.join("certs/tsu.crt")).unwrap();
        let certificate = Certificate::from_der(&der).unwrap();
        let subject = openssl_ok(&[
            "x509",
            "-noout",
            "-subject",
            "-nameopt",
            "compat",
            "-in",
            path_str(&data.join("certs/tsu.pem")),
        ]);
        let subject_compat = subject
            .trim()
            .strip_prefix("subject=")
            .unwrap_or_else(|| panic!("{subject}"))
            .to_owned();
        Self {
            der,
            certificate,
            subject_compat,
        }
    }
}

/// A granted token, decoded with the `cms` crate and qtsp's `TstInfo`.
struct Token {
    tst_info: TstInfo,
    /// The eContent octets: the DER `TSTInfo` that was signed.
    tst_der: Vec<u8>,
    signed_data: SignedData,
}

/// Decodes a `TimeStampResp` that must be granted.
fn granted(reply: &[u8]) -> Token {
    let response = TimeStampResp::from_der(reply).unwrap_or_else(|e| {
        panic!(
            "TimeStampResp does not decode ({e}): {}",
            hex::encode(reply)
        )
    });
    assert_eq!(
        response.status.status,
        PkiStatus::Granted,
        "{:?}",
        response.status
    );
    assert_eq!(response.status.fail_info, None);
    let token = response.time_stamp_token.expect("granted without a token");
    let content_info = ContentInfo::from_der(&token.to_der().unwrap()).unwrap();
    assert_eq!(content_info.content_type, ID_SIGNED_DATA);
    let signed_data: SignedData = content_info.content.decode_as().unwrap();
    assert_eq!(signed_data.encap_content_info.econtent_type, ID_CT_TST_INFO);
    let econtent = signed_data
        .encap_content_info
        .econtent
        .as_ref()
        .expect("the TSTInfo is encapsulated");
    let tst_der = econtent
        .decode_as::<OctetString>()
        .unwrap()
        .as_bytes()
        .to_vec();
    let tst_info = TstInfo::from_der(&tst_der).unwrap();
    tst_info.validate().unwrap();
    Token {
        tst_info,
        tst_der,
        signed_data,
    }
}

/// Decodes a `TimeStampResp` that must be a rejection: its one `failInfo` and its text.
fn rejected(reply: &[u8]) -> (PkiFailureInfo, String) {
    let response = TimeStampResp::from_der(reply).unwrap_or_else(|e| {
        panic!(
            "TimeStampResp does not decode ({e}): {}",
            hex::encode(reply)
        )
    });
    assert_eq!(
        response.status.status,
        PkiStatus::Rejection,
        "{:?}",
        response.status
    );
    assert!(response.time_stamp_token.is_none());
    let text = response.status.status_string.unwrap_or_default().join(" ");
    (response.status.fail_info.expect("a failInfo"), text)
}

/// `SEQUENCE { statementId OBJECT IDENTIFIER, statementInfo ANY OPTIONAL }` (RFC 3739).
#[derive(Debug, Sequence)]
struct QcStatement {
    statement_id: ObjectIdentifier,
    statement_info: Option<Any>,
}

/// Serial number: positive, and at most 160 bits.
fn assert_serial(serial: &Int) {
    let bytes = serial.as_bytes();
    assert!(
        bytes.first().is_some_and(|b| b & 0x80 == 0),
        "negative serial {bytes:02x?}"
    );
    let magnitude = match bytes {
        [0, rest @ ..] => rest,
        all => all,
    };
    assert!(magnitude.iter().any(|b| *b != 0), "zero serial");
    assert!(magnitude.len() <= 20, "serial over 160 bits: {bytes:02x?}");
}

/// Everything issue #4 asks of a token, read from the structures (not from openssl's text).
fn check_token(
    token: &Token,
    request: &TimeStampReq,
    tsu: &Tsu,
    before: OffsetDateTime,
    after: OffsetDateTime,
) {
    let info = &token.tst_info;
    let context = format!("{info:?}");
    assert_eq!(info.version, 1, "{context}");
    assert_eq!(info.policy.to_string(), BASELINE_POLICY, "{context}");
    assert_eq!(info.message_imprint, request.message_imprint, "{context}");
    assert_eq!(info.nonce, request.nonce, "{context}");
    assert_serial(&info.serial_number);
    let gen_time = info.gen_time.to_offset_date_time();
    let slack = time::Duration::seconds(3);
    assert!(
        gen_time >= before - slack && gen_time <= after + slack,
        "genTime {gen_time} is not around {before}..{after}"
    );
    assert_eq!(
        info.accuracy,
        Some(Accuracy {
            seconds: Some(1),
            millis: None,
            micros: None
        })
    );
    assert!(!info.ordering);
    assert_eq!(
        info.tsa,
        Some(GeneralName::DirectoryName(
            tsu.certificate.tbs_certificate().subject().clone()
        )),
        "{context}"
    );
    let extensions: &[Extension] = info.extensions.as_deref().unwrap_or_default();
    let qc = extensions
        .iter()
        .find(|e| e.extn_id == ID_PE_QC_STATEMENTS)
        .unwrap_or_else(|| panic!("no qcStatements in {context}"));
    assert!(!qc.critical);
    let statements = Vec::<QcStatement>::from_der(qc.extn_value.as_bytes()).unwrap();
    assert!(
        statements
            .iter()
            .any(|s| s.statement_id == ESI4_QTST_STATEMENT_1),
        "{statements:?}"
    );

    // The CMS around it.
    let signed = &token.signed_data;
    match &signed.certificates {
        Some(set) if request.cert_req => {
            let certificates: Vec<&CertificateChoices> = set.0.iter().collect();
            assert_eq!(certificates.len(), 1);
            let CertificateChoices::Certificate(certificate) = certificates[0] else {
                panic!("not an X.509 certificate");
            };
            assert_eq!(certificate.to_der().unwrap(), tsu.der);
        }
        None if !request.cert_req => {}
        other => panic!(
            "certReq {} but certificates {}",
            request.cert_req,
            if other.is_some() { "present" } else { "absent" }
        ),
    }
    let signers: Vec<_> = signed.signer_infos.0.iter().collect();
    assert_eq!(signers.len(), 1);
    let signer = signers[0];
    let SignerIdentifier::IssuerAndSerialNumber(sid) = &signer.sid else {
        panic!("sid is not issuerAndSerialNumber");
    };
    let tbs = tsu.certificate.tbs_certificate();
    assert_eq!(&sid.issuer, tbs.issuer());
    assert_eq!(&sid.serial_number, tbs.serial_number());
    assert!(
        signed
            .digest_algorithms
            .iter()
            .any(|a| a == &signer.digest_alg)
    );

    let attributes = signer.signed_attrs.as_ref().expect("signed attributes");
    let value = |oid: ObjectIdentifier| -> &Any {
        let attribute = attributes
            .iter()
            .find(|a| a.oid == oid)
            .unwrap_or_else(|| panic!("no signed attribute {oid}"));
        assert_eq!(attribute.values.len(), 1, "{oid}");
        attribute.values.iter().next().unwrap()
    };
    assert_eq!(
        value(ID_CONTENT_TYPE)
            .decode_as::<ObjectIdentifier>()
            .unwrap(),
        ID_CT_TST_INFO
    );
    let digest = Hash::from_oid(&signer.digest_alg.oid).digest(&token.tst_der);
    assert_eq!(
        value(ID_MESSAGE_DIGEST)
            .decode_as::<OctetString>()
            .unwrap()
            .as_bytes(),
        digest.as_slice()
    );
    let signing_certificate =
        SigningCertificateV2::from_der(&value(ID_SIGNING_CERTIFICATE_V2).to_der().unwrap())
            .unwrap();
    let first = signing_certificate.certs.first().expect("an ESSCertIDv2");
    assert_eq!(first.hash_algorithm.oid, Hash::Sha256.oid());
    assert_eq!(
        first.cert_hash.as_bytes(),
        sha2::Sha256::digest(&tsu.der).as_slice(),
        "ESSCertIDv2.certHash is not the SHA-256 of certs/tsu.crt"
    );
    if let Some(issuer_serial) = &first.issuer_serial {
        assert_eq!(
            issuer_serial.issuer,
            vec![GeneralName::DirectoryName(tbs.issuer().clone())]
        );
        assert_eq!(&issuer_serial.serial_number, tbs.serial_number());
    }
}

// ---------------------------------------------------------------------------------------------
// Area 1: interoperability with openssl
// ---------------------------------------------------------------------------------------------

struct Files {
    dir: PathBuf,
    document: PathBuf,
    root: PathBuf,
    /// qualified-ca.pem: the intermediate, when the token carries the TSU certificate.
    ca: PathBuf,
    /// qualified-ca.pem then tsu.pem: when the token does not carry it.
    ca_and_tsu: PathBuf,
}

impl Files {
    fn new(dir: &Path, data: &Path) -> Self {
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
    fn query(&self, name: &str, args: &[&str]) -> (PathBuf, Vec<u8>) {
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

async fn interop(server: &Server, client: &reqwest::Client, files: &Files, tsu: &Tsu) {
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

// ---------------------------------------------------------------------------------------------
// Area 2: rejections
// ---------------------------------------------------------------------------------------------

async fn rejections(server: &mut Server, client: &reqwest::Client, files: &Files) {
    let url = server.tsa_url();
    let (_, valid) = files.query("valid.tsq", &["-sha256", "-cert"]);
    let base = TimeStampReq::from_der(&valid).unwrap();

    let unknown_hash = hand_built(
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.2.1"),
        vec![0x11; 32],
        Some(1),
        true,
    );
    let sha512_with_32_bytes = hand_built(Hash::Sha512.oid(), vec![0x22; 32], Some(2), false);
    let sha256_with_20_bytes = hand_built(Hash::Sha256.oid(), vec![0x33; 20], None, true);
    let mut critical_extension = base.clone();
    critical_extension.extensions = Some(vec![Extension {
        extn_id: ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.3.1"),
        critical: true,
        extn_value: OctetString::new(vec![0x05, 0x00]).unwrap(),
    }]);
    let mut version_2 = base.clone();
    version_2.version = 2;

    let cases: Vec<(&str, Vec<u8>, PkiFailureInfo)> = vec![
        (
            "SHA-1 (openssl)",
            files.query("sha1.tsq", &["-sha1"]).1,
            PkiFailureInfo::BAD_ALG,
        ),
        (
            "MD5 (openssl)",
            files.query("md5.tsq", &["-md5"]).1,
            PkiFailureInfo::BAD_ALG,
        ),
        (
            "unknown hash OID",
            unknown_hash.to_der().unwrap(),
            PkiFailureInfo::BAD_ALG,
        ),
        (
            "SHA-512 with a 32-byte imprint",
            sha512_with_32_bytes.to_der().unwrap(),
            PkiFailureInfo::BAD_DATA_FORMAT,
        ),
        (
            "SHA-256 with a 20-byte imprint",
            sha256_with_20_bytes.to_der().unwrap(),
            PkiFailureInfo::BAD_DATA_FORMAT,
        ),
        (
            "reqPolicy 1.2.3.4 (openssl -tspolicy)",
            files
                .query("policy.tsq", &["-sha256", "-tspolicy", "1.2.3.4"])
                .1,
            PkiFailureInfo::UNACCEPTED_POLICY,
        ),
        (
            "critical unknown extension",
            critical_extension.to_der().unwrap(),
            PkiFailureInfo::UNACCEPTED_EXTENSION,
        ),
        (
            "version 2",
            version_2.to_der().unwrap(),
            PkiFailureInfo::BAD_REQUEST,
        ),
        (
            "garbage",
            b"this is not a time-stamp request".to_vec(),
            PkiFailureInfo::BAD_REQUEST,
        ),
        ("empty body", Vec::new(), PkiFailureInfo::BAD_REQUEST),
        (
            "truncated request",
            valid[..valid.len() - 7].to_vec(),
            PkiFailureInfo::BAD_REQUEST,
        ),
        (
            "request and a trailing byte",
            [valid.as_slice(), &[0x00]].concat(),
            PkiFailureInfo::BAD_REQUEST,
        ),
        (
            "100 kB body (under the HTTP limit, over the request limit)",
            vec![0x30; 100_000],
            PkiFailureInfo::BAD_REQUEST,
        ),
    ];
    for (what, body, expected) in cases {
        let answer = post(client, &url, Some(QUERY), body).await;
        assert_eq!(answer.status, 200, "{what}:\n{}", server.log());
        assert_eq!(answer.content_type, REPLY, "{what}");
        let (fail_info, text) = rejected(&answer.body);
        assert_eq!(fail_info, expected, "{what}: {text}");
        assert!(text.starts_with("TSA1"), "{what}: {text}");
    }

    // Not labelled application/timestamp-query: 415, with a TimeStampResp saying badRequest.
    for content_type in [Some("text/plain"), Some("application/octet-stream"), None] {
        let answer = post(client, &url, content_type, valid.clone()).await;
        assert_eq!(answer.status, 415, "{content_type:?}");
        assert_eq!(answer.content_type, REPLY, "{content_type:?}");
        let (fail_info, text) = rejected(&answer.body);
        assert_eq!(
            fail_info,
            PkiFailureInfo::BAD_REQUEST,
            "{content_type:?}: {text}"
        );
    }
    // Media type parameters and case are ignored.
    let answer = post(
        client,
        &url,
        Some("Application/TimeStamp-Query; charset=binary"),
        valid.clone(),
    )
    .await;
    assert_eq!(answer.status, 200);
    granted(&answer.body);

    // GET is not a time-stamp request.
    let get = client.get(&url).send().await.unwrap();
    assert_eq!(get.status().as_u16(), 405);

    // A body over the server's limit (1 MiB by default) is refused from its announced length.
    let head = {
        let mut socket = std::net::TcpStream::connect(server.public).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        socket
            .write_all(
                format!(
                    "POST /tsa HTTP/1.1\r\nHost: qtsp\r\nContent-Type: {QUERY}\r\n\
                     Content-Length: {}\r\n\r\n",
                    2 << 20
                )
                .as_bytes(),
            )
            .unwrap();
        let mut head = [0u8; 12];
        socket.read_exact(&mut head).unwrap();
        String::from_utf8_lossy(&head).into_owned()
    };
    assert_eq!(head, "HTTP/1.1 413", "{head}");

    // Still alive and still stamping.
    server.assert_running();
    let answer = post(client, &url, Some(QUERY), valid).await;
    assert_eq!(answer.status, 200);
    granted(&answer.body);
}

// ---------------------------------------------------------------------------------------------
// Area 3: the clock guard
// ---------------------------------------------------------------------------------------------

async fn clock_guard(data: &Path, client: &reqwest::Client, tsu: &Tsu) {
    // What the server will see; its TSA refuses unless synchronized within its accuracy (1 s).
    let kernel = qtsp::clock::kernel::read().unwrap();
    let trusted = kernel.synchronized() && kernel.max_error() <= Duration::from_secs(1);
    let first_seq = {
        let storage = sqlite(data).await;
        let head = storage.audit_head().await.unwrap();
        storage.close().await;
        head.seq + 1
    };

    // QTSP_TSA_REQUIRE_CLOCK_SYNC is not set: the check is on.
    let server = Server::start(qtsp(data, None));
    // Readiness tells a load balancer what the TSA would do.
    let ready = client
        .get(format!("http://{}/health/ready", server.public))
        .send()
        .await
        .unwrap();
    let ready_status = ready.status().as_u16();
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["hsm"]["ok"], true, "{body}");
    assert_eq!(body["checks"]["database"]["ok"], true, "{body}");
    if trusted {
        assert_eq!(ready_status, 200, "{body}");
        assert_eq!(body["checks"]["tsa"]["ok"], true, "{body}");
    } else {
        assert_eq!(ready_status, 503, "{body}");
        assert_eq!(body["status"], "not_ready", "{body}");
        assert_eq!(body["checks"]["tsa"]["ok"], false, "{body}");
        let error = body["checks"]["tsa"]["error"].as_str().unwrap();
        assert!(error.starts_with("TSA201"), "{body}");
    }
    for i in 0..3u64 {
        let request = hand_built(
            Hash::Sha256.oid(),
            Hash::Sha256.digest(&i.to_be_bytes()),
            Some(i),
            i % 2 == 0,
        );
        let before = OffsetDateTime::now_utc();
        let answer = post(
            client,
            &server.tsa_url(),
            Some(QUERY),
            request.to_der().unwrap(),
        )
        .await;
        let after = OffsetDateTime::now_utc();
        assert_eq!(answer.status, 200, "{}", server.log());
        if trusted {
            check_token(&granted(&answer.body), &request, tsu, before, after);
        } else {
            let (fail_info, text) = rejected(&answer.body);
            assert_eq!(
                fail_info,
                PkiFailureInfo::TIME_NOT_AVAILABLE,
                "{kernel:?}: {text}"
            );
            assert!(text.starts_with("TSA201"), "{text}");
        }
    }
    server.stop().await;

    let storage = sqlite(data).await;
    let records: Vec<_> = common::audit::all_records(&storage)
        .await
        .into_iter()
        .filter(|r| r.seq >= first_seq)
        .collect();
    storage.close().await;
    let types: Vec<&str> = records.iter().map(|r| r.event_type.as_str()).collect();
    assert_eq!(types.first(), Some(&"service_started"), "{types:?}");
    assert!(types.contains(&"service_stopped"), "{types:?}");
    let episodes: Vec<_> = records
        .iter()
        .filter(|r| r.event_type == "clock_unsynchronized")
        .collect();
    if trusted {
        eprintln!(
            "note: the kernel clock is synchronized here ({kernel:?}); tokens were granted \
             and the timeNotAvailable path was not exercised"
        );
        assert!(episodes.is_empty(), "{episodes:?}");
        assert!(types.contains(&"timestamp_batch"), "{types:?}");
    } else {
        assert_eq!(
            episodes.len(),
            1,
            "one clock_unsynchronized record for the whole run, not one per request: {types:?}"
        );
        let payload: serde_json::Value = serde_json::from_str(&episodes[0].payload).unwrap();
        assert_eq!(payload["source"], "kernel", "{payload}");
        assert!(
            payload["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("not synchronized"),
            "{payload}"
        );
        assert!(!types.contains(&"timestamp_batch"), "{types:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_rejections_and_clock_guard() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("var");
    run_ok(qtsp(&data, None).arg("init"));
    let files = Files::new(dir.path(), &data);
    let tsu = Tsu::load(&data);
    let client = http_client();

    let mut server = Server::start({
        let mut command = qtsp(&data, None);
        command.env("QTSP_TSA_REQUIRE_CLOCK_SYNC", "false");
        command
    });
    interop(&server, &client, &files, &tsu).await;
    rejections(&mut server, &client, &files).await;
    server.stop().await;

    clock_guard(&data, &client, &tsu).await;
    run_ok(qtsp(&data, None).args(["audit", "verify"]));
    tsa_check(&data).await;
}

/// `qtsp tsa check`: the self-test passes, the verdict follows the kernel's clock, and nothing is
/// written to the journal.
async fn tsa_check(data: &Path) {
    let head = sqlite(data).await.audit_head().await.unwrap();
    let relaxed = run_ok(
        qtsp(data, None)
            .args(["tsa", "check"])
            .env("QTSP_TSA_REQUIRE_CLOCK_SYNC", "false"),
    );
    assert!(relaxed.contains("self-test passed"), "{relaxed}");
    assert!(relaxed.contains("policy     0.4.0.2023.1.1"), "{relaxed}");

    let strict = qtsp(data, None).args(["tsa", "check"]).output().unwrap();
    let kernel = qtsp::clock::kernel::read().unwrap();
    let in_sync = kernel.synchronized() && kernel.max_error() <= Duration::from_secs(1);
    let stdout = String::from_utf8_lossy(&strict.stdout);
    let stderr = String::from_utf8_lossy(&strict.stderr);
    if in_sync {
        assert!(strict.status.success(), "{stdout}{stderr}");
        assert!(stdout.contains("time-stamps are issued"), "{stdout}");
    } else {
        assert_eq!(strict.status.code(), Some(1), "{stdout}{stderr}");
        assert!(stdout.contains("REFUSED (timeNotAvailable)"), "{stdout}");
        assert!(stderr.contains("APP006"), "{stderr}");
    }
    assert_eq!(
        sqlite(data).await.audit_head().await.unwrap(),
        head,
        "a check writes nothing"
    );
}

// ---------------------------------------------------------------------------------------------
// Area 4: concurrency and records
// ---------------------------------------------------------------------------------------------

/// What the client learnt of one granted token.
struct Issued {
    serial: Vec<u8>,
    hash: Hash,
    imprint: Vec<u8>,
    gen_time: OffsetDateTime,
}

/// `total` tokens, `in_flight` requests at a time, each checked as it comes back.
async fn issue_concurrently(url: &str, total: usize, in_flight: usize) -> Vec<Issued> {
    let client = http_client();
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let (client, next, url) = (client.clone(), next.clone(), url.to_owned());
            tokio::spawn(async move {
                let mut issued = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return issued;
                    }
                    let hash = Hash::ALL[i % 3];
                    let imprint = hash.digest(format!("document {i}").as_bytes());
                    let request =
                        hand_built(hash.oid(), imprint.clone(), Some(i as u64), i % 2 == 0);
                    let answer = post(&client, &url, Some(QUERY), request.to_der().unwrap()).await;
                    assert_eq!(answer.status, 200, "request {i}");
                    let token = granted(&answer.body);
                    let info = &token.tst_info;
                    assert_eq!(info.message_imprint, request.message_imprint, "request {i}");
                    assert_eq!(info.nonce, request.nonce, "request {i}");
                    assert_eq!(token.signed_data.certificates.is_some(), i % 2 == 0);
                    assert_serial(&info.serial_number);
                    issued.push(Issued {
                        serial: info.serial_number.as_bytes().to_vec(),
                        hash,
                        imprint,
                        gen_time: info.gen_time.to_offset_date_time(),
                    });
                }
            })
        })
        .collect();
    let mut all = Vec::with_capacity(total);
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    all
}

/// Runs the burst against a server on `data` (and `database_url`), stops it, and checks the
/// records in `storage` and the journal.
async fn burst_and_records(
    data: &Path,
    database_url: Option<&str>,
    storage: Option<Storage>,
    total: usize,
) {
    run_ok(qtsp(data, database_url).arg("init"));
    let server = Server::start({
        let mut command = qtsp(data, database_url);
        command.env("QTSP_TSA_REQUIRE_CLOCK_SYNC", "false");
        command
    });
    let issued = issue_concurrently(&server.tsa_url(), total, 64).await;
    assert_eq!(issued.len(), total);
    let serials: HashSet<&[u8]> = issued.iter().map(|t| t.serial.as_slice()).collect();
    assert_eq!(serials.len(), total, "serial numbers repeat");
    // The metrics count every answer (POST /tsa is answered before the router and its metrics
    // middleware: the route counts itself).
    let metrics =
        common::metrics::metrics_text(&http_client(), &format!("http://{}/metrics", server.public))
            .await;
    assert_eq!(
        common::metrics::metric_in(&metrics, "qtsp_timestamps_total{outcome=\"granted\"}"),
        total as u64
    );
    assert_eq!(
        common::metrics::metric_in(
            &metrics,
            "qtsp_http_requests_total{listener=\"public\",status=\"2xx\"}"
        ),
        total as u64
    );
    server.stop().await;

    let storage = match storage {
        Some(storage) => storage,
        None => sqlite(data).await,
    };
    assert_eq!(storage.count_timestamps().await.unwrap(), total as u64);
    for token in &issued {
        let serial = TimestampSerial::from_der_content(token.serial.clone()).unwrap();
        let record = storage
            .timestamp(&serial)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no record for serial {serial}"));
        assert_eq!(record.serial, serial);
        assert_eq!(record.message_imprint, token.imprint, "{serial}");
        assert_eq!(
            &*record.hash_alg_oid,
            token.hash.oid().to_string(),
            "{serial}"
        );
        assert_eq!(&*record.policy_oid, BASELINE_POLICY, "{serial}");
        assert_eq!(record.gen_time, token.gen_time, "{serial}");
        assert_eq!(record.requester.as_deref(), Some("127.0.0.1"), "{serial}");
    }

    let records = common::audit::all_records(&storage).await;
    storage.close().await;
    let batches: Vec<u64> = records
        .iter()
        .filter(|r| r.event_type == "timestamp_batch")
        .map(|r| {
            let payload: serde_json::Value = serde_json::from_str(&r.payload).unwrap();
            payload["count"]
                .as_u64()
                .unwrap_or_else(|| panic!("no count in {payload}"))
        })
        .collect();
    assert_eq!(batches.iter().sum::<u64>(), total as u64, "{batches:?}");
    eprintln!("{total} tokens recorded in {} batches", batches.len());
    let report = run_ok(qtsp(data, database_url).args(["audit", "verify"]));
    assert!(report.contains("INTACT"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tokens_are_unique_and_recorded_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    burst_and_records(&dir.path().join("var"), None, None, 2000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tokens_are_unique_and_recorded_on_postgresql() {
    let Some((storage, url)) = common::db::postgres_storage_with_url().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    burst_and_records(&dir.path().join("var"), Some(&url), Some(storage), 300).await;
}

//! An OCSP load for tests: request loops against two `qtsp serve` nodes that record, for each
//! request, when it was sent, when its answer came back, and the status it gave (decoded with
//! qtsp's own OCSP types). The requests, made by `openssl ocsp -reqout`, ask about a watched
//! certificate (the target) or about a control certificate.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use der::Decode as _;
use qtsp::pki::ocsp::{BasicOcspResponse, CertStatus, OcspResponse, OcspResponseStatus};
use x509_cert::ext::pkix::CrlReason;

use super::pki::openssl;

/// The two serving processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    A,
    B,
}

/// How a request goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// One kind of request in the mix.
#[derive(Clone, Copy, Debug)]
pub struct Kind {
    pub method: Method,
    /// Index into [`Requests::bodies`].
    pub body: usize,
    /// About the target (else the control certificate).
    pub target: bool,
    pub nonce: bool,
}

/// DER OCSP requests made by `openssl ocsp -reqout`, and how each kind is sent.
pub struct Requests {
    pub bodies: Vec<Vec<u8>>,
    pub kinds: Vec<Kind>,
    /// The body asking about the target by a SHA-1 CertID, without nonce (what `openssl ocsp
    /// -respin -cert` matches by default).
    pub sha1: usize,
}

/// What an answer said about the certificate asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Good,
    Revoked {
        time_unix: u64,
        reason: Option<CrlReason>,
    },
    Unknown,
    /// No successful answer about that serial (transport, HTTP status, DER, responseStatus).
    Failed(String),
}

/// One request and its answer.
#[derive(Debug)]
pub struct Sample {
    pub node: Node,
    pub kind: Kind,
    pub sent: Instant,
    pub received: Instant,
    pub outcome: Outcome,
    /// The response, kept for revoked answers to requests without nonce (openssl samples).
    pub der: Option<Vec<u8>>,
}

/// Counters the test watches while the load runs.
#[derive(Default)]
pub struct Progress {
    pub stop: AtomicBool,
    /// Good answers for the target, per node.
    pub good: [AtomicU64; 2],
    /// Revoked answers for the target, per node.
    pub revoked: [AtomicU64; 2],
}

/// The index of `node` in the [`Progress`] counters.
pub fn node_index(node: Node) -> usize {
    match node {
        Node::A => 0,
        Node::B => 1,
    }
}

/// `openssl ocsp -issuer CA -cert CERT -reqout FILE` with `extra` flags; the DER request.
pub fn make_request(dir: &Path, name: &str, issuer: &Path, cert: &Path, extra: &[&str]) -> Vec<u8> {
    let out = dir.join(format!("{name}.req"));
    // openssl takes the CertID digest (-sha256) only before -cert.
    let mut args = vec!["ocsp", "-issuer", issuer.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        "-cert",
        cert.to_str().unwrap(),
        "-reqout",
        out.to_str().unwrap(),
    ]);
    let (ok, stdout, stderr) = openssl(&args);
    assert!(ok, "openssl {args:?}: {stdout}{stderr}");
    std::fs::read(out).unwrap()
}

/// The mix, about certificates of the CA `issuer` (PEM files): the target by SHA-1 and SHA-256
/// CertIDs without nonce (GET and POST, answered from the pre-signed cache), the target with
/// three different nonces (signed on demand), the control by SHA-1 without nonce (GET).
pub fn requests(dir: &Path, issuer: &Path, target: &Path, control: &Path) -> Requests {
    let mut bodies = Vec::new();
    let mut add = |body: Vec<u8>| {
        bodies.push(body);
        bodies.len() - 1
    };
    let sha1 = add(make_request(dir, "sha1", issuer, target, &["-no_nonce"]));
    let sha256 = add(make_request(
        dir,
        "sha256",
        issuer,
        target,
        &["-no_nonce", "-sha256"],
    ));
    // openssl draws a new nonce for each request.
    let nonces: Vec<usize> = (0..3)
        .map(|i| {
            add(make_request(
                dir,
                &format!("nonce-{i}"),
                issuer,
                target,
                &[],
            ))
        })
        .collect();
    let control = add(make_request(
        dir,
        "control",
        issuer,
        control,
        &["-no_nonce"],
    ));
    let kind = |method, body, nonce| Kind {
        method,
        body,
        target: body != control,
        nonce,
    };
    let mut kinds = vec![
        kind(Method::Get, sha1, false),
        kind(Method::Post, sha1, false),
        kind(Method::Get, sha256, false),
        kind(Method::Post, sha256, false),
        kind(Method::Get, control, false),
    ];
    for (i, body) in nonces.into_iter().enumerate() {
        let method = if i % 2 == 0 {
            Method::Post
        } else {
            Method::Get
        };
        kinds.push(kind(method, body, true));
    }
    Requests {
        bodies,
        kinds,
        sha1,
    }
}

/// The status of the one `SingleResponse` of a successful answer, whose serial must be `serial`.
pub fn outcome(der: &[u8], serial: &[u8]) -> Outcome {
    let failed = |why: String| Outcome::Failed(why);
    let response = match OcspResponse::from_der(der) {
        Ok(response) => response,
        Err(e) => return failed(format!("not an OCSPResponse: {e}")),
    };
    if response.response_status != OcspResponseStatus::Successful {
        return failed(format!("status {:?}", response.response_status));
    }
    let Some(bytes) = response.response_bytes else {
        return failed("no responseBytes".into());
    };
    let basic = match BasicOcspResponse::from_der(bytes.response.as_bytes()) {
        Ok(basic) => basic,
        Err(e) => return failed(format!("not a BasicOCSPResponse: {e}")),
    };
    let [single] = basic.tbs_response_data.responses.as_slice() else {
        return failed("not exactly one SingleResponse".into());
    };
    if single.cert_id.serial_number.as_bytes() != serial {
        return failed("the answer is about another serial".into());
    }
    match &single.cert_status {
        CertStatus::Good(_) => Outcome::Good,
        CertStatus::Revoked(info) => Outcome::Revoked {
            time_unix: info.revocation_time.to_unix_duration().as_secs(),
            reason: info.revocation_reason,
        },
        CertStatus::Unknown(_) => Outcome::Unknown,
    }
}

/// Sends `body` to `public` as `method`; the answer's DER, or why there is none.
pub async fn send(
    client: &reqwest::Client,
    public: SocketAddr,
    method: Method,
    body: &[u8],
) -> Result<Vec<u8>, String> {
    let request = match method {
        Method::Post => client
            .post(format!("http://{public}/ocsp"))
            .header("content-type", "application/ocsp-request")
            .body(body.to_vec()),
        Method::Get => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(body);
            let path = b64
                .replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D");
            client.get(format!("http://{public}/ocsp/{path}"))
        }
    };
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("HTTP {status}"));
    }
    Ok(bytes.to_vec())
}

/// One request loop against `public`, cycling through the kinds from `offset`, until
/// `progress.stop`; `serials` are the target's and the control's (DER INTEGER contents).
pub async fn worker(
    node: Node,
    public: SocketAddr,
    requests: Arc<Requests>,
    serials: Arc<[Vec<u8>; 2]>,
    progress: Arc<Progress>,
    offset: usize,
) -> Vec<Sample> {
    let client = reqwest::Client::new();
    let mut samples = Vec::new();
    let mut i = offset;
    while !progress.stop.load(Ordering::Relaxed) {
        let kind = requests.kinds[i % requests.kinds.len()];
        i += 1;
        let sent = Instant::now();
        let answer = send(&client, public, kind.method, &requests.bodies[kind.body]).await;
        let received = Instant::now();
        let serial = &serials[usize::from(!kind.target)];
        let (outcome, der) = match answer {
            Ok(der) => (outcome(&der, serial), Some(der)),
            Err(why) => (Outcome::Failed(why), None),
        };
        if kind.target {
            let counter = match outcome {
                Outcome::Good => Some(&progress.good[node_index(node)]),
                Outcome::Revoked { .. } => Some(&progress.revoked[node_index(node)]),
                _ => None,
            };
            if let Some(counter) = counter {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        let keep = !kind.nonce && matches!(outcome, Outcome::Revoked { .. });
        samples.push(Sample {
            node,
            kind,
            sent,
            received,
            outcome,
            der: der.filter(|_| keep),
        });
    }
    samples
}

/// Waits until `done` holds, checking every 20 ms; panics with `what` after `limit`, or as
/// soon as a worker stopped (it panicked: the load is not running).
pub async fn wait_for(
    what: &str,
    limit: Duration,
    workers: &[tokio::task::JoinHandle<Vec<Sample>>],
    done: impl Fn() -> bool,
) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        assert!(
            workers.iter().all(|w| !w.is_finished()),
            "a load worker stopped while waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `later - earlier` in milliseconds, negative when `later` is before `earlier`.
pub fn signed_ms(later: Instant, earlier: Instant) -> f64 {
    match later.checked_duration_since(earlier) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(earlier - later).as_secs_f64() * 1e3,
    }
}

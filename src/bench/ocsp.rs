//! `qtsp bench ocsp`: OCSP responses per second through the real server on loopback, for the three
//! kinds of traffic relying parties send — GET without a nonce on keep-alive connections (what CDNs
//! and browsers do), POST without a nonce on a new connection per request (openssl's client), and
//! POST with a fresh nonce (signed on demand) — beside the raw HSM sign rate of the responder key.
//! (The comparison with `openssl ocsp -index ... -port` that issue #5 asks for is not here yet.)

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use der::asn1::OctetString;
use der::{Decode, Encode};
use hyper::body::Bytes;
use sha1::{Digest as _, Sha1};
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;

use super::load::{LoadConfig, LoadMode, LoadReport, LoadRequest, RequestFactory};
use super::run_load;
use crate::app::{self, App, AppError};
use crate::config::Config;
use crate::pki::ocsp::{
    CertId, OcspRequest, OcspResponse, OcspResponseStatus, Request, TbsRequest,
};
use crate::pki::oid;
use crate::server::Shutdown;
use qtsp_hsm::KeySpec;
use qtsp_hsm::bench::{default_mechanism, plain_loop, pool_loop};

/// Media type of an OCSP request.
const OCSP_REQUEST: &str = "application/ocsp-request";

/// Arguments of `qtsp bench ocsp`.
#[derive(Debug, Clone, clap::Args)]
pub struct OcspBenchArgs {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Keep-alive connections (and concurrent clients in the new-connection mode).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
}

/// The CertID of `serial` under the CA certificate `ca` (SHA-1, as openssl's client sends).
fn cert_id(ca: &Certificate, serial: &SerialNumber) -> Result<CertId, AppError> {
    let bad = |e: String| AppError::InvalidArgument(format!("bench OCSP request: {e}"));
    let tbs = ca.tbs_certificate();
    let name = tbs.subject().to_der().map_err(|e| bad(e.to_string()))?;
    let key = tbs
        .subject_public_key_info()
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| bad("CA key has unused bits".into()))?;
    Ok(CertId {
        hash_algorithm: spki::AlgorithmIdentifierOwned {
            oid: oid::ID_SHA1,
            parameters: Some(der::asn1::Any::null()),
        },
        issuer_name_hash: OctetString::new(Sha1::digest(&name).to_vec())
            .map_err(|e| bad(e.to_string()))?,
        issuer_key_hash: OctetString::new(Sha1::digest(key).to_vec())
            .map_err(|e| bad(e.to_string()))?,
        serial_number: serial.clone(),
    })
}

/// A DER OCSPRequest for `id`, with a nonce when given.
fn ocsp_request(id: &CertId, nonce: Option<&[u8]>) -> Result<Vec<u8>, der::Error> {
    let request_extensions = match nonce {
        Some(nonce) => Some(vec![Extension {
            extn_id: oid::ID_PKIX_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(OctetString::new(nonce.to_vec())?.to_der()?)?,
        }]),
        None => None,
    };
    OcspRequest {
        tbs_request: TbsRequest {
            version: 0,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: id.clone(),
                single_request_extensions: None,
            }],
            request_extensions,
        },
        optional_signature: None,
    }
    .to_der()
}

/// Whether a body is a successful OCSPResponse.
fn successful(body: &[u8]) -> bool {
    OcspResponse::from_der(body).is_ok_and(|r| r.response_status == OcspResponseStatus::Successful)
}

/// GET /ocsp/{base64} of one fixed request.
#[derive(Debug)]
struct GetFixed(String);

impl RequestFactory for GetFixed {
    fn request(&self, _seq: u64) -> LoadRequest {
        LoadRequest::get(self.0.clone())
    }
    fn check(&self, status: u16, body: &[u8]) -> bool {
        status == 200 && successful(body)
    }
}

/// POST of one fixed request.
#[derive(Debug)]
struct PostFixed(Bytes);

impl RequestFactory for PostFixed {
    fn request(&self, _seq: u64) -> LoadRequest {
        LoadRequest::post("/ocsp", OCSP_REQUEST, self.0.clone())
    }
    fn check(&self, status: u16, body: &[u8]) -> bool {
        status == 200 && successful(body)
    }
}

/// POST with a fresh 32-octet nonce per request.
#[derive(Debug)]
struct PostNonce(CertId);

impl RequestFactory for PostNonce {
    fn request(&self, seq: u64) -> LoadRequest {
        let mut nonce = [0u8; 32];
        nonce[..8].copy_from_slice(&seq.to_be_bytes());
        nonce[8] = 0x5a;
        let body = ocsp_request(&self.0, Some(&nonce)).unwrap_or_default();
        LoadRequest::post("/ocsp", OCSP_REQUEST, body)
    }
    fn check(&self, status: u16, body: &[u8]) -> bool {
        status == 200 && successful(body)
    }
}

fn load_config(addr: SocketAddr, mode: LoadMode, args: &OcspBenchArgs) -> LoadConfig {
    let mut config = LoadConfig::new(addr, mode);
    config.connections = args.connections.max(1);
    config.duration = Duration::from_secs_f64(args.seconds.clamp(0.2, 600.0));
    config.warmup = Duration::from_secs(1);
    config
}

/// One measured line of the table.
#[derive(Debug)]
struct Line {
    what: String,
    report: LoadReport,
}

/// `qtsp bench ocsp`.
#[allow(clippy::print_stdout)]
pub async fn ocsp(config: &Config, args: &OcspBenchArgs) -> Result<(), AppError> {
    let duration = Duration::from_secs_f64(args.seconds.clamp(0.2, 600.0));
    let mut config = config.clone();
    config.server.public_listen = "127.0.0.1:0"
        .parse()
        .map_err(|_| AppError::InvalidArgument("cannot parse the loopback address".into()))?;
    config.server.api_listen = config.server.public_listen;
    config.log.filter = "warn".into();
    let hsm_config = app::hsm_config(&config)?;

    // Raw rate of the responder's key type (P-256 in the shipped hierarchy), before the server.
    let spec = KeySpec::EcP256;
    let plain_one = plain_loop(
        &hsm_config.module,
        &hsm_config.token,
        &hsm_config.user_pin,
        spec,
        1,
        duration,
    )
    .await?;
    let plain_all = plain_loop(
        &hsm_config.module,
        &hsm_config.token,
        &hsm_config.user_pin,
        spec,
        hsm_config.sessions,
        duration,
    )
    .await?;

    let app = App::build(config.clone()).await?;
    let responder = app.start_ocsp().await?;
    let pool = {
        let key = qtsp_hsm::bench::temporary_key(&app.hsm, spec).await?;
        let result = pool_loop(
            &app.hsm,
            &key,
            default_mechanism(spec),
            16 * app.hsm.sessions(),
            duration,
        )
        .await;
        app.hsm.destroy_key(&key).await?;
        result?
    };

    // A certificate of the qualified CA if one was issued (`qtsp bench issue`), else a serial
    // it never issued (answered "unknown", signed all the same).
    let ca_der = app
        .certificates
        .get("qualified-ca")
        .ok_or_else(|| AppError::InvalidArgument("no qualified-ca certificate".into()))?;
    let ca = Certificate::from_der(ca_der)
        .map_err(|e| AppError::InvalidArgument(format!("qualified-ca certificate: {e}")))?;
    let issued = app
        .storage
        .certificates_by_issuer("qualified-ca", None, 1)
        .await?;
    let serial = match issued.first() {
        Some(record) => SerialNumber::new(record.serial.as_bytes()),
        None => SerialNumber::new(&[0x42, 0x17, 0x00, 0x01]),
    }
    .map_err(|e| AppError::InvalidArgument(format!("serial: {e}")))?;
    let id = cert_id(&ca, &serial)?;
    let fixed = ocsp_request(&id, None)
        .map_err(|e| AppError::InvalidArgument(format!("bench OCSP request: {e}")))?;
    let get_path = format!(
        "/ocsp/{}",
        base64::engine::general_purpose::STANDARD.encode(&fixed)
    );

    let bound = app.bind().await?;
    let addr = bound
        .public_addr()
        .ok_or_else(|| AppError::InvalidArgument("the public listener has no address".into()))?;
    let shutdown = Shutdown::default();
    let server = {
        let (app, shutdown) = (app.clone(), shutdown.clone());
        tokio::spawn(async move {
            app.serve_on(bound, shutdown, None, None, Some(responder), None)
                .await
        })
    };

    let mut lines = Vec::new();
    let get: Arc<dyn RequestFactory> = Arc::new(GetFixed(get_path));
    let post: Arc<dyn RequestFactory> = Arc::new(PostFixed(Bytes::from(fixed.clone())));
    let nonce: Arc<dyn RequestFactory> = Arc::new(PostNonce(id.clone()));
    for (what, mode, factory) in [
        ("qtsp GET, keep-alive, no nonce", LoadMode::ClosedLoop, get),
        (
            "qtsp POST, new connection, no nonce",
            LoadMode::NewConnectionPerRequest,
            post.clone(),
        ),
        ("qtsp POST, keep-alive, nonce", LoadMode::ClosedLoop, nonce),
    ] {
        let report = run_load(load_config(addr, mode, args), factory).await?;
        lines.push(Line {
            what: what.to_owned(),
            report,
        });
    }
    shutdown.trigger();
    match server.await {
        Ok(result) => result?,
        Err(_) => return Err(AppError::InvalidArgument("the server task died".into())),
    }
    app.hsm.shutdown().await;
    app.storage.close().await;

    println!(
        "# qtsp bench ocsp: {} s per measurement, {} connections, {} HSM sessions, database {}",
        duration.as_secs_f64(),
        args.connections,
        hsm_config.sessions,
        config.database.redacted_url()
    );
    println!(
        "# raw HSM P-256 signatures/s: plain 1 thread {:.0}, plain {} threads {:.0}, pool {:.0}",
        plain_one.per_sec, hsm_config.sessions, plain_all.per_sec, pool.per_sec
    );
    let best_raw = plain_one.per_sec.max(plain_all.per_sec).max(pool.per_sec);
    println!("| traffic | responses/s | /best raw | p50 ms | p99 ms | failed |");
    println!("|---|---|---|---|---|---|");
    for line in &lines {
        let r = &line.report;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
            line.what,
            r.rate_per_second,
            if best_raw > 0.0 {
                r.rate_per_second / best_raw
            } else {
                0.0
            },
            ms(r.p50),
            ms(r.p99),
            r.failed + r.transport_errors + r.unsent
        );
    }
    Ok(())
}

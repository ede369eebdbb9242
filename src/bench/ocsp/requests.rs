//! What `qtsp bench ocsp` sends: OCSP requests for one certificate (fixed for the pre-signed
//! traffic, with a fresh nonce per request for the traffic signed on demand), and how it judges
//! the answers.

use der::asn1::OctetString;
use der::{Decode, Encode};
use hyper::body::Bytes;
use sha1::{Digest as _, Sha1};
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;

use super::OCSP_REQUEST;
use crate::app::AppError;
use crate::bench::load::{LoadRequest, RequestFactory};
use crate::pki::ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, Request,
    TbsRequest,
};
use crate::pki::oid;

/// The CertID of `serial` under the CA certificate `ca` (SHA-1, as openssl's client sends).
pub(super) fn cert_id(ca: &Certificate, serial: &SerialNumber) -> Result<CertId, AppError> {
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
pub(super) fn ocsp_request(id: &CertId, nonce: Option<&[u8]>) -> Result<Vec<u8>, der::Error> {
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
pub(super) fn successful(body: &[u8]) -> bool {
    OcspResponse::from_der(body).is_ok_and(|r| r.response_status == OcspResponseStatus::Successful)
}

/// GET /ocsp/{base64} of one fixed request.
#[derive(Debug)]
pub(super) struct GetFixed(pub(super) String);

impl RequestFactory for GetFixed {
    fn request(&self, _seq: u64) -> LoadRequest {
        LoadRequest::get(self.0.clone())
    }
    fn check(&self, status: u16, body: &[u8]) -> bool {
        status == 200 && successful(body)
    }
}

/// POST of one fixed request; remembers the certStatus of the first good answer.
#[derive(Debug)]
pub(super) struct PostFixed {
    body: Bytes,
    pub(super) status: std::sync::OnceLock<&'static str>,
}

impl PostFixed {
    pub(super) fn new(body: Vec<u8>) -> Self {
        Self {
            body: Bytes::from(body),
            status: std::sync::OnceLock::new(),
        }
    }
}

impl RequestFactory for PostFixed {
    fn request(&self, _seq: u64) -> LoadRequest {
        LoadRequest::post("/ocsp", OCSP_REQUEST, self.body.clone())
    }
    fn check(&self, status: u16, body: &[u8]) -> bool {
        let ok = status == 200 && successful(body);
        if ok && self.status.get().is_none() {
            let _ = self.status.set(first_status(body));
        }
        ok
    }
}

/// POST with a fresh 32-octet nonce per request.
#[derive(Debug)]
pub(super) struct PostNonce(pub(super) CertId);

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

/// The certStatus of the first answer in a successful response, for the report.
pub(super) fn first_status(body: &[u8]) -> &'static str {
    let basic = OcspResponse::from_der(body).ok().and_then(|r| {
        r.response_bytes
            .and_then(|b| BasicOcspResponse::from_der(b.response.as_bytes()).ok())
    });
    match basic
        .as_ref()
        .and_then(|b| b.tbs_response_data.responses.first())
        .map(|r| &r.cert_status)
    {
        Some(CertStatus::Good(_)) => "good",
        Some(CertStatus::Revoked(_)) => "revoked",
        Some(CertStatus::Unknown(_)) => "unknown",
        None => "no successful answer",
    }
}

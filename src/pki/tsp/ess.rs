//! The ESS signing-certificate attribute of a time-stamp token (RFC 5035, RFC 5816):
//! `SigningCertificateV2`, `ESSCertIDv2`, `IssuerSerial`.

use der::asn1::OctetString;
use der::{Decode, DecodeValue, Encode, EncodeValue, Header, Length, Reader, Sequence, Writer};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;

use crate::pki::oid;

/// Identifies the signing certificate by hash (RFC 5035 section 4, RFC 5816).
///
/// ```text
/// ESSCertIDv2 ::= SEQUENCE {
///     hashAlgorithm           AlgorithmIdentifier
///            DEFAULT {algorithm id-sha256},
///     certHash                 Hash,
///     issuerSerial             IssuerSerial OPTIONAL
/// }
///
/// Hash ::= OCTET STRING
/// ```
///
/// `hashAlgorithm` is omitted from the encoding when it is SHA-256 without parameters. (The
/// `der` 0.8 derive cannot put `DEFAULT` on a field that is not `Copy`, hence the hand-written
/// DER impls.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EssCertIdV2 {
    /// `hashAlgorithm`.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// `certHash`: the hash of the whole DER certificate.
    pub cert_hash: OctetString,
    /// `issuerSerial`.
    pub issuer_serial: Option<IssuerSerial>,
}

impl EssCertIdV2 {
    /// `hashAlgorithm` as encoded: absent when it is the default.
    fn encoded_hash_algorithm(&self) -> Option<&AlgorithmIdentifierOwned> {
        (self.hash_algorithm != sha256_algorithm()).then_some(&self.hash_algorithm)
    }
}

impl EncodeValue for EssCertIdV2 {
    fn value_len(&self) -> der::Result<Length> {
        let mut len = self.cert_hash.encoded_len()?;
        if let Some(alg) = self.encoded_hash_algorithm() {
            len = (len + alg.encoded_len()?)?;
        }
        if let Some(issuer_serial) = &self.issuer_serial {
            len = (len + issuer_serial.encoded_len()?)?;
        }
        Ok(len)
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        if let Some(alg) = self.encoded_hash_algorithm() {
            alg.encode(writer)?;
        }
        self.cert_hash.encode(writer)?;
        if let Some(issuer_serial) = &self.issuer_serial {
            issuer_serial.encode(writer)?;
        }
        Ok(())
    }
}

impl<'a> DecodeValue<'a> for EssCertIdV2 {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, _header: Header) -> der::Result<Self> {
        // Like the derive: an explicitly encoded default is accepted on decoding.
        let hash_algorithm =
            Option::<AlgorithmIdentifierOwned>::decode(reader)?.unwrap_or_else(sha256_algorithm);
        let cert_hash = OctetString::decode(reader)?;
        let issuer_serial = Option::<IssuerSerial>::decode(reader)?;
        Ok(Self {
            hash_algorithm,
            cert_hash,
            issuer_serial,
        })
    }
}

impl Sequence<'_> for EssCertIdV2 {}

/// The default `hashAlgorithm` of [`EssCertIdV2`]: `id-sha256`, parameters absent.
#[must_use]
pub fn sha256_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: oid::ID_SHA256,
        parameters: None,
    }
}

/// Issuer and serial number of a certificate (RFC 5035 section 4).
///
/// ```text
/// IssuerSerial ::= SEQUENCE {
///     issuer                   GeneralNames,
///     serialNumber             CertificateSerialNumber
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct IssuerSerial {
    /// `issuer`: for a certificate, one `directoryName`.
    pub issuer: Vec<GeneralName>,
    /// `serialNumber`.
    pub serial_number: SerialNumber,
}

/// The `signingCertificateV2` signed attribute (RFC 5035 section 3, RFC 5816).
///
/// ```text
/// SigningCertificateV2 ::=  SEQUENCE {
///     certs        SEQUENCE OF ESSCertIDv2,
///     policies     SEQUENCE OF PolicyInformation OPTIONAL
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SigningCertificateV2 {
    /// `certs`: the signing certificate first.
    pub certs: Vec<EssCertIdV2>,
    /// `policies`.
    pub policies: Option<Vec<PolicyInformation>>,
}

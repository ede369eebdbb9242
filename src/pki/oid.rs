//! Every object identifier qtsp writes or reads, as a named constant.
//!
//! Logic never spells an OID as a string: it names one of these. Each constant has a unit test
//! pinning its dotted value (and, where the `const-oid` database knows it, checking that it agrees),
//! because public code often mislabels the ETSI identifiers, the QCP policy OIDs above all.
//!
//! Sources: ETSI EN 319 411-2 (policies), EN 319 412-1 (semantics identifiers), EN 319 412-5
//! (QC statements), EN 319 422 (qualified time-stamp statement), EN 319 421 (TSA policy),
//! TS 119 461 (identity proofing), RFC 3739 (qcStatements), RFC 5280, RFC 5480, RFC 5758,
//! RFC 8017, RFC 6960, RFC 5652, RFC 5035 and RFC 3161.

use const_oid::ObjectIdentifier;

/// Shorthand for the constants below; an invalid literal fails the build, never the run.
const fn oid(dotted: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(dotted)
}

// ---------------------------------------------------------------------------------------------
// ETSI EN 319 411-2: policies for EU qualified certificates.
// ---------------------------------------------------------------------------------------------

/// QCP-n: EU qualified certificate issued to a natural person (`0.4.0.194112.1.0`).
pub const QCP_N: ObjectIdentifier = oid("0.4.0.194112.1.0");
/// QCP-l: EU qualified certificate issued to a legal person (`0.4.0.194112.1.1`).
pub const QCP_L: ObjectIdentifier = oid("0.4.0.194112.1.1");
/// QCP-n-qscd: qualified certificate for a natural person whose private key is on a QSCD
/// (`0.4.0.194112.1.2`). qtsp's signing certificates use this one.
pub const QCP_N_QSCD: ObjectIdentifier = oid("0.4.0.194112.1.2");
/// QCP-l-qscd: qualified certificate for a legal person, key on a QSCD (`0.4.0.194112.1.3`).
pub const QCP_L_QSCD: ObjectIdentifier = oid("0.4.0.194112.1.3");
/// QCP-w: qualified website authentication certificate (`0.4.0.194112.1.4`).
pub const QCP_W: ObjectIdentifier = oid("0.4.0.194112.1.4");

// ---------------------------------------------------------------------------------------------
// RFC 3739 and ETSI EN 319 412-5: qualified certificate statements.
// ---------------------------------------------------------------------------------------------

/// `id-pe-qcStatements`: the QCStatements certificate extension (`1.3.6.1.5.5.7.1.3`).
pub const ID_PE_QC_STATEMENTS: ObjectIdentifier = oid("1.3.6.1.5.5.7.1.3");
/// `id-qcs-pkixQCSyntax-v1` (RFC 3739, obsolete; decoded, never written) (`1.3.6.1.5.5.7.11.1`).
pub const ID_QCS_PKIX_QC_SYNTAX_V1: ObjectIdentifier = oid("1.3.6.1.5.5.7.11.1");
/// `id-qcs-pkixQCSyntax-v2`: statement carrying `SemanticsInformation` (`1.3.6.1.5.5.7.11.2`).
pub const ID_QCS_PKIX_QC_SYNTAX_V2: ObjectIdentifier = oid("1.3.6.1.5.5.7.11.2");

/// `id-etsi-qcs`: the arc of the EN 319 412-5 statements (`0.4.0.1862.1`).
pub const ID_ETSI_QCS: ObjectIdentifier = oid("0.4.0.1862.1");
/// `id-etsi-qcs-QcCompliance`: issued as an EU qualified certificate (`0.4.0.1862.1.1`).
pub const QCS_QC_COMPLIANCE: ObjectIdentifier = oid("0.4.0.1862.1.1");
/// `id-etsi-qcs-QcLimitValue`: limit on the value of transactions (`0.4.0.1862.1.2`).
pub const QCS_QC_LIMIT_VALUE: ObjectIdentifier = oid("0.4.0.1862.1.2");
/// `id-etsi-qcs-QcRetentionPeriod`: years the registration information is kept after expiry
/// (`0.4.0.1862.1.3`).
pub const QCS_QC_RETENTION_PERIOD: ObjectIdentifier = oid("0.4.0.1862.1.3");
/// `id-etsi-qcs-QcSSCD`: the private key resides in a QSCD (`0.4.0.1862.1.4`).
pub const QCS_QC_SSCD: ObjectIdentifier = oid("0.4.0.1862.1.4");
/// `id-etsi-qcs-QcPDS`: where the PKI disclosure statements are (`0.4.0.1862.1.5`).
pub const QCS_QC_PDS: ObjectIdentifier = oid("0.4.0.1862.1.5");
/// `id-etsi-qcs-QcType`: the type of qualified certificate (`0.4.0.1862.1.6`).
pub const QCS_QC_TYPE: ObjectIdentifier = oid("0.4.0.1862.1.6");
/// `id-etsi-qct-esign`: certificate for electronic signatures (`0.4.0.1862.1.6.1`).
pub const QCT_ESIGN: ObjectIdentifier = oid("0.4.0.1862.1.6.1");
/// `id-etsi-qct-eseal`: certificate for electronic seals (`0.4.0.1862.1.6.2`).
pub const QCT_ESEAL: ObjectIdentifier = oid("0.4.0.1862.1.6.2");
/// `id-etsi-qct-web`: certificate for website authentication (`0.4.0.1862.1.6.3`).
pub const QCT_WEB: ObjectIdentifier = oid("0.4.0.1862.1.6.3");
/// `id-etsi-qcs-QcCClegislation`: qualified under the law of the listed countries; only for
/// non-EU legislation, so qtsp's eIDAS certificates omit it (`0.4.0.1862.1.7`).
pub const QCS_QC_CC_LEGISLATION: ObjectIdentifier = oid("0.4.0.1862.1.7");
/// `id-etsi-qcs-QcIdentMethod` (EN 319 412-5 V2.5.1): how the subject's identity was verified
/// (`0.4.0.1862.1.8`).
pub const QCS_QC_IDENT_METHOD: ObjectIdentifier = oid("0.4.0.1862.1.8");
/// `id-etsi-qcs-QcQSCDlegislation`: the countries under whose law the QSCD is recognised
/// (`0.4.0.1862.1.9`).
pub const QCS_QC_QSCD_LEGISLATION: ObjectIdentifier = oid("0.4.0.1862.1.9");

// ---------------------------------------------------------------------------------------------
// ETSI EN 319 412-1: semantics identifiers (SemanticsInformation.semanticsIdentifier).
// ---------------------------------------------------------------------------------------------

/// `id-etsi-qcs-semanticsId-Natural`: the subject's serialNumber follows EN 319 412-1 clause
/// 5.1.3 (`PASFR-...`, `IDCFR-...`, `PNOFR-...`) (`0.4.0.194121.1.1`).
pub const SEMANTICS_ID_NATURAL: ObjectIdentifier = oid("0.4.0.194121.1.1");
/// `id-etsi-qcs-SemanticsId-Legal`: organizationIdentifier follows clause 5.1.4 (`NTRFR-...`)
/// (`0.4.0.194121.1.2`).
pub const SEMANTICS_ID_LEGAL: ObjectIdentifier = oid("0.4.0.194121.1.2");
/// `id-etsi-qcs-semanticsId-eIDASNatural`: serialNumber is an eIDAS PersonIdentifier
/// (`FR/FR/...`) (`0.4.0.194121.1.3`).
pub const SEMANTICS_ID_EIDAS_NATURAL: ObjectIdentifier = oid("0.4.0.194121.1.3");
/// `id-etsi-qcs-SemanticsId-eIDASLegal`: organizationIdentifier is an eIDAS
/// LegalPersonIdentifier (`0.4.0.194121.1.4`).
pub const SEMANTICS_ID_EIDAS_LEGAL: ObjectIdentifier = oid("0.4.0.194121.1.4");

// ---------------------------------------------------------------------------------------------
// Time-stamping and identity proofing policies.
// ---------------------------------------------------------------------------------------------

/// `esi4-qtstStatement-1` (EN 319 422): in a TSTInfo's qcStatements extension, the time-stamp
/// is a qualified electronic time stamp (`0.4.0.19422.1.1`).
pub const ESI4_QTST_STATEMENT_1: ObjectIdentifier = oid("0.4.0.19422.1.1");
/// EN 319 421 best practices policy for time-stamp, the baseline TSA policy (`0.4.0.2023.1.1`).
pub const TSA_BASELINE_POLICY: ObjectIdentifier = oid("0.4.0.2023.1.1");
/// TS 119 461 level of identity proofing: baseline (`0.4.0.19461.1.1`).
pub const LOIP_BASELINE: ObjectIdentifier = oid("0.4.0.19461.1.1");
/// TS 119 461 level of identity proofing: extended (`0.4.0.19461.1.2`).
pub const LOIP_EXTENDED: ObjectIdentifier = oid("0.4.0.19461.1.2");

// ---------------------------------------------------------------------------------------------
// RFC 5280 certificate and CRL extensions.
// ---------------------------------------------------------------------------------------------

/// `id-ce-subjectKeyIdentifier` (`2.5.29.14`).
pub const ID_CE_SUBJECT_KEY_IDENTIFIER: ObjectIdentifier = oid("2.5.29.14");
/// `id-ce-keyUsage` (`2.5.29.15`).
pub const ID_CE_KEY_USAGE: ObjectIdentifier = oid("2.5.29.15");
/// `id-ce-subjectAltName` (`2.5.29.17`).
pub const ID_CE_SUBJECT_ALT_NAME: ObjectIdentifier = oid("2.5.29.17");
/// `id-ce-basicConstraints` (`2.5.29.19`).
pub const ID_CE_BASIC_CONSTRAINTS: ObjectIdentifier = oid("2.5.29.19");
/// `id-ce-cRLNumber` (`2.5.29.20`).
pub const ID_CE_CRL_NUMBER: ObjectIdentifier = oid("2.5.29.20");
/// `id-ce-cRLReasons` (`2.5.29.21`).
pub const ID_CE_CRL_REASONS: ObjectIdentifier = oid("2.5.29.21");
/// `id-ce-invalidityDate` (`2.5.29.24`).
pub const ID_CE_INVALIDITY_DATE: ObjectIdentifier = oid("2.5.29.24");
/// `id-ce-cRLDistributionPoints` (`2.5.29.31`).
pub const ID_CE_CRL_DISTRIBUTION_POINTS: ObjectIdentifier = oid("2.5.29.31");
/// `id-ce-certificatePolicies` (`2.5.29.32`).
pub const ID_CE_CERTIFICATE_POLICIES: ObjectIdentifier = oid("2.5.29.32");
/// `anyPolicy` (`2.5.29.32.0`).
pub const ANY_POLICY: ObjectIdentifier = oid("2.5.29.32.0");
/// `id-ce-authorityKeyIdentifier` (`2.5.29.35`).
pub const ID_CE_AUTHORITY_KEY_IDENTIFIER: ObjectIdentifier = oid("2.5.29.35");
/// `id-ce-extKeyUsage` (`2.5.29.37`).
pub const ID_CE_EXT_KEY_USAGE: ObjectIdentifier = oid("2.5.29.37");
/// `id-ce-expiredCertsOnCRL` (`2.5.29.60`, ITU-T X.509 clause 9.6.2.9): the CRL keeps entries
/// of certificates that expired after this GeneralizedTime. Not in RFC 5280.
pub const ID_CE_EXPIRED_CERTS_ON_CRL: ObjectIdentifier = oid("2.5.29.60");
/// `id-pe-authorityInfoAccess` (`1.3.6.1.5.5.7.1.1`).
pub const ID_PE_AUTHORITY_INFO_ACCESS: ObjectIdentifier = oid("1.3.6.1.5.5.7.1.1");

/// `id-kp-serverAuth` (`1.3.6.1.5.5.7.3.1`).
pub const ID_KP_SERVER_AUTH: ObjectIdentifier = oid("1.3.6.1.5.5.7.3.1");
/// `id-kp-clientAuth` (`1.3.6.1.5.5.7.3.2`).
pub const ID_KP_CLIENT_AUTH: ObjectIdentifier = oid("1.3.6.1.5.5.7.3.2");
/// `id-kp-timeStamping` (`1.3.6.1.5.5.7.3.8`).
pub const ID_KP_TIME_STAMPING: ObjectIdentifier = oid("1.3.6.1.5.5.7.3.8");
/// `id-kp-OCSPSigning` (`1.3.6.1.5.5.7.3.9`).
pub const ID_KP_OCSP_SIGNING: ObjectIdentifier = oid("1.3.6.1.5.5.7.3.9");

/// `id-ad-ocsp` (`1.3.6.1.5.5.7.48.1`).
pub const ID_AD_OCSP: ObjectIdentifier = oid("1.3.6.1.5.5.7.48.1");
/// `id-ad-caIssuers` (`1.3.6.1.5.5.7.48.2`).
pub const ID_AD_CA_ISSUERS: ObjectIdentifier = oid("1.3.6.1.5.5.7.48.2");

// ---------------------------------------------------------------------------------------------
// RFC 6960: OCSP.
// ---------------------------------------------------------------------------------------------

/// `id-pkix-ocsp-basic`: the BasicOCSPResponse response type (`1.3.6.1.5.5.7.48.1.1`).
pub const ID_PKIX_OCSP_BASIC: ObjectIdentifier = oid("1.3.6.1.5.5.7.48.1.1");
/// `id-pkix-ocsp-nonce` (`1.3.6.1.5.5.7.48.1.2`).
pub const ID_PKIX_OCSP_NONCE: ObjectIdentifier = oid("1.3.6.1.5.5.7.48.1.2");
/// `id-pkix-ocsp-nocheck`: do not check the revocation of this responder certificate
/// (`1.3.6.1.5.5.7.48.1.5`).
pub const ID_PKIX_OCSP_NOCHECK: ObjectIdentifier = oid("1.3.6.1.5.5.7.48.1.5");
/// `id-pkix-ocsp-archive-cutoff` (`1.3.6.1.5.5.7.48.1.6`).
pub const ID_PKIX_OCSP_ARCHIVE_CUTOFF: ObjectIdentifier = oid("1.3.6.1.5.5.7.48.1.6");

// ---------------------------------------------------------------------------------------------
// Algorithms: RFC 5480, RFC 5758, RFC 8017, RFC 5754.
// ---------------------------------------------------------------------------------------------

/// `id-ecPublicKey` (`1.2.840.10045.2.1`).
pub const ID_EC_PUBLIC_KEY: ObjectIdentifier = oid("1.2.840.10045.2.1");
/// `secp256r1` / NIST P-256 (`1.2.840.10045.3.1.7`).
pub const SECP256R1: ObjectIdentifier = oid("1.2.840.10045.3.1.7");
/// `secp384r1` / NIST P-384 (`1.3.132.0.34`).
pub const SECP384R1: ObjectIdentifier = oid("1.3.132.0.34");
/// `ecdsa-with-SHA256` (`1.2.840.10045.4.3.2`).
pub const ECDSA_WITH_SHA256: ObjectIdentifier = oid("1.2.840.10045.4.3.2");
/// `ecdsa-with-SHA384` (`1.2.840.10045.4.3.3`).
pub const ECDSA_WITH_SHA384: ObjectIdentifier = oid("1.2.840.10045.4.3.3");
/// `ecdsa-with-SHA512` (`1.2.840.10045.4.3.4`).
pub const ECDSA_WITH_SHA512: ObjectIdentifier = oid("1.2.840.10045.4.3.4");
/// `rsaEncryption` (`1.2.840.113549.1.1.1`).
pub const RSA_ENCRYPTION: ObjectIdentifier = oid("1.2.840.113549.1.1.1");
/// `id-RSASSA-PSS` (`1.2.840.113549.1.1.10`).
pub const ID_RSASSA_PSS: ObjectIdentifier = oid("1.2.840.113549.1.1.10");
/// `sha256WithRSAEncryption` (`1.2.840.113549.1.1.11`).
pub const SHA256_WITH_RSA_ENCRYPTION: ObjectIdentifier = oid("1.2.840.113549.1.1.11");
/// `sha384WithRSAEncryption` (`1.2.840.113549.1.1.12`).
pub const SHA384_WITH_RSA_ENCRYPTION: ObjectIdentifier = oid("1.2.840.113549.1.1.12");
/// `sha512WithRSAEncryption` (`1.2.840.113549.1.1.13`).
pub const SHA512_WITH_RSA_ENCRYPTION: ObjectIdentifier = oid("1.2.840.113549.1.1.13");
/// `id-sha256` (`2.16.840.1.101.3.4.2.1`).
pub const ID_SHA256: ObjectIdentifier = oid("2.16.840.1.101.3.4.2.1");
/// `id-sha384` (`2.16.840.1.101.3.4.2.2`).
pub const ID_SHA384: ObjectIdentifier = oid("2.16.840.1.101.3.4.2.2");
/// `id-sha512` (`2.16.840.1.101.3.4.2.3`).
pub const ID_SHA512: ObjectIdentifier = oid("2.16.840.1.101.3.4.2.3");
/// `id-sha3-256` (FIPS 202, RFC 8702) (`2.16.840.1.101.3.4.2.8`).
pub const ID_SHA3_256: ObjectIdentifier = oid("2.16.840.1.101.3.4.2.8");
/// `id-sha3-384` (`2.16.840.1.101.3.4.2.9`).
pub const ID_SHA3_384: ObjectIdentifier = oid("2.16.840.1.101.3.4.2.9");
/// `id-sha3-512` (`2.16.840.1.101.3.4.2.10`).
pub const ID_SHA3_512: ObjectIdentifier = oid("2.16.840.1.101.3.4.2.10");
/// `id-sha1` (RFC 3279): recognised only to be refused as too weak (`1.3.14.3.2.26`).
pub const ID_SHA1: ObjectIdentifier = oid("1.3.14.3.2.26");
/// `id-md5` (RFC 3279): recognised only to be refused as broken (`1.2.840.113549.2.5`).
pub const ID_MD5: ObjectIdentifier = oid("1.2.840.113549.2.5");

// ---------------------------------------------------------------------------------------------
// CMS (RFC 5652, RFC 5035) and RFC 3161.
// ---------------------------------------------------------------------------------------------

/// `id-data` (`1.2.840.113549.1.7.1`).
pub const ID_DATA: ObjectIdentifier = oid("1.2.840.113549.1.7.1");
/// `id-signedData` (`1.2.840.113549.1.7.2`).
pub const ID_SIGNED_DATA: ObjectIdentifier = oid("1.2.840.113549.1.7.2");
/// `id-contentType` signed attribute (`1.2.840.113549.1.9.3`).
pub const ID_CONTENT_TYPE: ObjectIdentifier = oid("1.2.840.113549.1.9.3");
/// `id-messageDigest` signed attribute (`1.2.840.113549.1.9.4`).
pub const ID_MESSAGE_DIGEST: ObjectIdentifier = oid("1.2.840.113549.1.9.4");
/// `id-signingTime` signed attribute (`1.2.840.113549.1.9.5`).
pub const ID_SIGNING_TIME: ObjectIdentifier = oid("1.2.840.113549.1.9.5");
/// `id-ct-TSTInfo` (`1.2.840.113549.1.9.16.1.4`).
pub const ID_CT_TST_INFO: ObjectIdentifier = oid("1.2.840.113549.1.9.16.1.4");
/// `id-aa-signingCertificateV2` (`1.2.840.113549.1.9.16.2.47`).
pub const ID_AA_SIGNING_CERTIFICATE_V2: ObjectIdentifier = oid("1.2.840.113549.1.9.16.2.47");

// ---------------------------------------------------------------------------------------------
// X.520 attribute types used in names.
// ---------------------------------------------------------------------------------------------

/// `id-at-commonName` (`2.5.4.3`).
pub const AT_COMMON_NAME: ObjectIdentifier = oid("2.5.4.3");
/// `id-at-surname` (`2.5.4.4`).
pub const AT_SURNAME: ObjectIdentifier = oid("2.5.4.4");
/// `id-at-serialNumber` (`2.5.4.5`).
pub const AT_SERIAL_NUMBER: ObjectIdentifier = oid("2.5.4.5");
/// `id-at-countryName` (`2.5.4.6`).
pub const AT_COUNTRY_NAME: ObjectIdentifier = oid("2.5.4.6");
/// `id-at-localityName` (`2.5.4.7`).
pub const AT_LOCALITY_NAME: ObjectIdentifier = oid("2.5.4.7");
/// `id-at-organizationName` (`2.5.4.10`).
pub const AT_ORGANIZATION_NAME: ObjectIdentifier = oid("2.5.4.10");
/// `id-at-organizationalUnitName` (`2.5.4.11`).
pub const AT_ORGANIZATIONAL_UNIT_NAME: ObjectIdentifier = oid("2.5.4.11");
/// `id-at-givenName` (`2.5.4.42`).
pub const AT_GIVEN_NAME: ObjectIdentifier = oid("2.5.4.42");
/// `id-at-pseudonym` (`2.5.4.65`).
pub const AT_PSEUDONYM: ObjectIdentifier = oid("2.5.4.65");
/// `id-at-organizationIdentifier` (`2.5.4.97`).
pub const AT_ORGANIZATION_IDENTIFIER: ObjectIdentifier = oid("2.5.4.97");

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use const_oid::db::{rfc5280, rfc5912};
    use der::Encode;

    fn pin(constant: ObjectIdentifier, dotted: &str) {
        assert_eq!(constant.to_string(), dotted);
        assert_eq!(constant, ObjectIdentifier::new(dotted).unwrap());
    }

    #[test]
    fn qualified_certificate_policies_are_pinned() {
        // EN 319 411-2 clause 5.3: the order is n, l, n-qscd, l-qscd, w. Mislabelled often.
        pin(QCP_N, "0.4.0.194112.1.0");
        pin(QCP_L, "0.4.0.194112.1.1");
        pin(QCP_N_QSCD, "0.4.0.194112.1.2");
        pin(QCP_L_QSCD, "0.4.0.194112.1.3");
        pin(QCP_W, "0.4.0.194112.1.4");
    }

    #[test]
    fn qc_statement_identifiers_are_pinned() {
        pin(ID_PE_QC_STATEMENTS, "1.3.6.1.5.5.7.1.3");
        pin(ID_QCS_PKIX_QC_SYNTAX_V1, "1.3.6.1.5.5.7.11.1");
        pin(ID_QCS_PKIX_QC_SYNTAX_V2, "1.3.6.1.5.5.7.11.2");
        pin(ID_ETSI_QCS, "0.4.0.1862.1");
        pin(QCS_QC_COMPLIANCE, "0.4.0.1862.1.1");
        pin(QCS_QC_LIMIT_VALUE, "0.4.0.1862.1.2");
        pin(QCS_QC_RETENTION_PERIOD, "0.4.0.1862.1.3");
        pin(QCS_QC_SSCD, "0.4.0.1862.1.4");
        pin(QCS_QC_PDS, "0.4.0.1862.1.5");
        pin(QCS_QC_TYPE, "0.4.0.1862.1.6");
        pin(QCT_ESIGN, "0.4.0.1862.1.6.1");
        pin(QCT_ESEAL, "0.4.0.1862.1.6.2");
        pin(QCT_WEB, "0.4.0.1862.1.6.3");
        pin(QCS_QC_CC_LEGISLATION, "0.4.0.1862.1.7");
        pin(QCS_QC_IDENT_METHOD, "0.4.0.1862.1.8");
        pin(QCS_QC_QSCD_LEGISLATION, "0.4.0.1862.1.9");
        // The statements hang off their arc.
        for s in [
            QCS_QC_COMPLIANCE,
            QCS_QC_LIMIT_VALUE,
            QCS_QC_RETENTION_PERIOD,
            QCS_QC_SSCD,
            QCS_QC_PDS,
            QCS_QC_TYPE,
            QCS_QC_CC_LEGISLATION,
            QCS_QC_IDENT_METHOD,
            QCS_QC_QSCD_LEGISLATION,
        ] {
            assert_eq!(s.parent(), Some(ID_ETSI_QCS));
        }
        for t in [QCT_ESIGN, QCT_ESEAL, QCT_WEB] {
            assert_eq!(t.parent(), Some(QCS_QC_TYPE));
        }
    }

    #[test]
    fn semantics_identifiers_are_pinned() {
        pin(SEMANTICS_ID_NATURAL, "0.4.0.194121.1.1");
        pin(SEMANTICS_ID_LEGAL, "0.4.0.194121.1.2");
        pin(SEMANTICS_ID_EIDAS_NATURAL, "0.4.0.194121.1.3");
        pin(SEMANTICS_ID_EIDAS_LEGAL, "0.4.0.194121.1.4");
    }

    #[test]
    fn tsa_and_proofing_policies_are_pinned() {
        pin(ESI4_QTST_STATEMENT_1, "0.4.0.19422.1.1");
        pin(TSA_BASELINE_POLICY, "0.4.0.2023.1.1");
        pin(LOIP_BASELINE, "0.4.0.19461.1.1");
        pin(LOIP_EXTENDED, "0.4.0.19461.1.2");
    }

    #[test]
    fn extension_identifiers_are_pinned_and_agree_with_const_oid() {
        let table = [
            (
                ID_CE_SUBJECT_KEY_IDENTIFIER,
                "2.5.29.14",
                rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
            ),
            (ID_CE_KEY_USAGE, "2.5.29.15", rfc5280::ID_CE_KEY_USAGE),
            (
                ID_CE_SUBJECT_ALT_NAME,
                "2.5.29.17",
                rfc5280::ID_CE_SUBJECT_ALT_NAME,
            ),
            (
                ID_CE_BASIC_CONSTRAINTS,
                "2.5.29.19",
                rfc5280::ID_CE_BASIC_CONSTRAINTS,
            ),
            (ID_CE_CRL_NUMBER, "2.5.29.20", rfc5280::ID_CE_CRL_NUMBER),
            (ID_CE_CRL_REASONS, "2.5.29.21", rfc5280::ID_CE_CRL_REASONS),
            (
                ID_CE_INVALIDITY_DATE,
                "2.5.29.24",
                rfc5280::ID_CE_INVALIDITY_DATE,
            ),
            (
                ID_CE_CRL_DISTRIBUTION_POINTS,
                "2.5.29.31",
                rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS,
            ),
            (
                ID_CE_CERTIFICATE_POLICIES,
                "2.5.29.32",
                rfc5280::ID_CE_CERTIFICATE_POLICIES,
            ),
            (ANY_POLICY, "2.5.29.32.0", rfc5280::ANY_POLICY),
            (
                ID_CE_AUTHORITY_KEY_IDENTIFIER,
                "2.5.29.35",
                rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER,
            ),
            (
                ID_CE_EXT_KEY_USAGE,
                "2.5.29.37",
                rfc5280::ID_CE_EXT_KEY_USAGE,
            ),
            (
                ID_PE_AUTHORITY_INFO_ACCESS,
                "1.3.6.1.5.5.7.1.1",
                rfc5280::ID_PE_AUTHORITY_INFO_ACCESS,
            ),
            (
                ID_KP_SERVER_AUTH,
                "1.3.6.1.5.5.7.3.1",
                rfc5280::ID_KP_SERVER_AUTH,
            ),
            (
                ID_KP_CLIENT_AUTH,
                "1.3.6.1.5.5.7.3.2",
                rfc5280::ID_KP_CLIENT_AUTH,
            ),
            (
                ID_KP_TIME_STAMPING,
                "1.3.6.1.5.5.7.3.8",
                rfc5280::ID_KP_TIME_STAMPING,
            ),
            (
                ID_KP_OCSP_SIGNING,
                "1.3.6.1.5.5.7.3.9",
                rfc5280::ID_KP_OCSP_SIGNING,
            ),
            (ID_AD_OCSP, "1.3.6.1.5.5.7.48.1", rfc5280::ID_AD_OCSP),
            (
                ID_AD_CA_ISSUERS,
                "1.3.6.1.5.5.7.48.2",
                rfc5280::ID_AD_CA_ISSUERS,
            ),
        ];
        for (constant, dotted, db) in table {
            pin(constant, dotted);
            assert_eq!(constant, db, "{dotted}");
        }
    }

    #[test]
    fn expired_certs_on_crl_is_pinned() {
        // X.509 only (no RFC 5280 name, so no const-oid entry): id-ce 60.
        pin(ID_CE_EXPIRED_CERTS_ON_CRL, "2.5.29.60");
        assert_eq!(
            ID_CE_EXPIRED_CERTS_ON_CRL.parent(),
            ID_CE_CRL_NUMBER.parent()
        );
    }

    #[test]
    fn ocsp_identifiers_are_pinned() {
        pin(ID_PKIX_OCSP_BASIC, "1.3.6.1.5.5.7.48.1.1");
        pin(ID_PKIX_OCSP_NONCE, "1.3.6.1.5.5.7.48.1.2");
        pin(ID_PKIX_OCSP_NOCHECK, "1.3.6.1.5.5.7.48.1.5");
        pin(ID_PKIX_OCSP_ARCHIVE_CUTOFF, "1.3.6.1.5.5.7.48.1.6");
    }

    #[test]
    fn algorithm_identifiers_are_pinned_and_agree_with_const_oid() {
        let table = [
            (
                ID_EC_PUBLIC_KEY,
                "1.2.840.10045.2.1",
                rfc5912::ID_EC_PUBLIC_KEY,
            ),
            (SECP256R1, "1.2.840.10045.3.1.7", rfc5912::SECP_256_R_1),
            (SECP384R1, "1.3.132.0.34", rfc5912::SECP_384_R_1),
            (
                ECDSA_WITH_SHA256,
                "1.2.840.10045.4.3.2",
                rfc5912::ECDSA_WITH_SHA_256,
            ),
            (
                ECDSA_WITH_SHA384,
                "1.2.840.10045.4.3.3",
                rfc5912::ECDSA_WITH_SHA_384,
            ),
            (
                ECDSA_WITH_SHA512,
                "1.2.840.10045.4.3.4",
                rfc5912::ECDSA_WITH_SHA_512,
            ),
            (
                RSA_ENCRYPTION,
                "1.2.840.113549.1.1.1",
                rfc5912::RSA_ENCRYPTION,
            ),
            (
                ID_RSASSA_PSS,
                "1.2.840.113549.1.1.10",
                rfc5912::ID_RSASSA_PSS,
            ),
            (
                SHA256_WITH_RSA_ENCRYPTION,
                "1.2.840.113549.1.1.11",
                rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
            ),
            (
                SHA384_WITH_RSA_ENCRYPTION,
                "1.2.840.113549.1.1.12",
                rfc5912::SHA_384_WITH_RSA_ENCRYPTION,
            ),
            (
                SHA512_WITH_RSA_ENCRYPTION,
                "1.2.840.113549.1.1.13",
                rfc5912::SHA_512_WITH_RSA_ENCRYPTION,
            ),
            (ID_SHA256, "2.16.840.1.101.3.4.2.1", rfc5912::ID_SHA_256),
            (ID_SHA384, "2.16.840.1.101.3.4.2.2", rfc5912::ID_SHA_384),
            (ID_SHA512, "2.16.840.1.101.3.4.2.3", rfc5912::ID_SHA_512),
            (ID_SHA1, "1.3.14.3.2.26", rfc5912::ID_SHA_1),
            (ID_MD5, "1.2.840.113549.2.5", rfc5912::ID_MD_5),
        ];
        for (constant, dotted, db) in table {
            pin(constant, dotted);
            assert_eq!(constant, db, "{dotted}");
        }
    }

    #[test]
    fn cms_identifiers_are_pinned() {
        pin(ID_DATA, "1.2.840.113549.1.7.1");
        pin(ID_SIGNED_DATA, "1.2.840.113549.1.7.2");
        pin(ID_CONTENT_TYPE, "1.2.840.113549.1.9.3");
        pin(ID_MESSAGE_DIGEST, "1.2.840.113549.1.9.4");
        pin(ID_SIGNING_TIME, "1.2.840.113549.1.9.5");
        pin(ID_CT_TST_INFO, "1.2.840.113549.1.9.16.1.4");
        pin(ID_AA_SIGNING_CERTIFICATE_V2, "1.2.840.113549.1.9.16.2.47");
    }

    #[test]
    fn sha3_identifiers_are_pinned() {
        // NIST's hashAlgs arc: 8, 9, 10 are SHA3-256/384/512 (11, 12 are SHAKE128/256).
        pin(ID_SHA3_256, "2.16.840.1.101.3.4.2.8");
        pin(ID_SHA3_384, "2.16.840.1.101.3.4.2.9");
        pin(ID_SHA3_512, "2.16.840.1.101.3.4.2.10");
        assert_eq!(ID_SHA3_256, const_oid::db::fips202::ID_SHA_3_256);
        assert_eq!(ID_SHA3_384, const_oid::db::fips202::ID_SHA_3_384);
        assert_eq!(ID_SHA3_512, const_oid::db::fips202::ID_SHA_3_512);
        for h in [ID_SHA3_256, ID_SHA3_384, ID_SHA3_512] {
            assert_eq!(h.parent(), ID_SHA256.parent());
        }
    }

    #[test]
    fn attribute_types_are_pinned() {
        pin(AT_COMMON_NAME, "2.5.4.3");
        pin(AT_SURNAME, "2.5.4.4");
        pin(AT_SERIAL_NUMBER, "2.5.4.5");
        pin(AT_COUNTRY_NAME, "2.5.4.6");
        pin(AT_LOCALITY_NAME, "2.5.4.7");
        pin(AT_ORGANIZATION_NAME, "2.5.4.10");
        pin(AT_ORGANIZATIONAL_UNIT_NAME, "2.5.4.11");
        pin(AT_GIVEN_NAME, "2.5.4.42");
        pin(AT_PSEUDONYM, "2.5.4.65");
        pin(AT_ORGANIZATION_IDENTIFIER, "2.5.4.97");
    }

    #[test]
    fn der_encoding_of_a_policy_oid_is_the_expected_bytes() {
        // 0.4.0.194112.1.2: first octet 0*40+4 = 0x04, then 0, 194112 = 0x8b 0xec 0x40, 1, 2.
        assert_eq!(
            QCP_N_QSCD.to_der().unwrap(),
            [0x06, 0x07, 0x04, 0x00, 0x8b, 0xec, 0x40, 0x01, 0x02][..].to_vec()
        );
    }
}

//! Qualified certificate statements: RFC 3739 `QCStatements` and the statements of ETSI
//! EN 319 412-5 and EN 319 412-1, as DER types.
//!
//! [`QcStatements`] / [`QcStatement`] are the wire types (a statement id and an optional `ANY`);
//! [`Statement`] is the typed view: [`QcStatement::parse`] checks the statement's information
//! against its definition (sizes, character sets, presence) and [`Statement::to_qc_statement`]
//! builds one. Decoding never panics: malformed input is a [`PkiError`].

use const_oid::{AssociatedOid, ObjectIdentifier};
use der::asn1::Any;
use der::{
    Decode, DecodeValue, Encode, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag,
    Writer,
};

use super::PkiError;
use super::oid;

/// Implements DER for a newtype over `Vec<T>` encoded as `SEQUENCE OF T`.
macro_rules! sequence_of_newtype {
    ($newtype:ty, $item:ty) => {
        impl FixedTag for $newtype {
            const TAG: Tag = Tag::Sequence;
        }

        impl<'a> DecodeValue<'a> for $newtype {
            type Error = der::Error;

            fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
                Ok(Self(<Vec<$item> as DecodeValue<'a>>::decode_value(
                    reader, header,
                )?))
            }
        }

        impl EncodeValue for $newtype {
            fn value_len(&self) -> der::Result<Length> {
                self.0.value_len()
            }

            fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
                self.0.encode_value(writer)
            }
        }
    };
}

mod info;
mod statement;

pub use info::{
    CountryList, Iso4217CurrencyCode, MonetaryValue, PdsLocation, PdsLocations, QcIdentMethod,
    QcType, SemanticsInformation,
};
pub use statement::Statement;

/// The `qcStatements` certificate extension value (RFC 3739 section 3.2.6).
///
/// ```text
/// QCStatements ::= SEQUENCE OF QCStatement
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QcStatements(pub Vec<QcStatement>);

sequence_of_newtype!(QcStatements, QcStatement);

impl AssociatedOid for QcStatements {
    const OID: ObjectIdentifier = oid::ID_PE_QC_STATEMENTS;
}

/// One qualified certificate statement (RFC 3739 section 3.2.6).
///
/// ```text
/// QCStatement ::= SEQUENCE {
///     statementId   QC-STATEMENT.&Id({SupportedStatements}),
///     statementInfo QC-STATEMENT.&Type({SupportedStatements}{@statementId}) OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct QcStatement {
    /// `statementId`.
    pub statement_id: ObjectIdentifier,
    /// `statementInfo`, the DER of a value whose type the statement id defines.
    pub statement_info: Option<Any>,
}

impl QcStatement {
    /// A statement with no information (QcCompliance, QcSSCD, esi4-qtstStatement-1...).
    #[must_use]
    pub fn without_info(statement_id: ObjectIdentifier) -> Self {
        Self {
            statement_id,
            statement_info: None,
        }
    }

    /// The typed view of this statement, checked against its definition.
    pub fn parse(&self) -> Result<Statement, PkiError> {
        let id = self.statement_id;
        let no_info = |statement: Statement| {
            if self.statement_info.is_some() {
                Err(PkiError::invalid(
                    "QCStatement.statementInfo",
                    format!("statement {id} takes no statementInfo"),
                ))
            } else {
                Ok(statement)
            }
        };
        let statement = if id == oid::QCS_QC_COMPLIANCE {
            no_info(Statement::Compliance)?
        } else if id == oid::QCS_QC_SSCD {
            no_info(Statement::Sscd)?
        } else if id == oid::ESI4_QTST_STATEMENT_1 {
            no_info(Statement::QualifiedTimestamp)?
        } else if id == oid::QCS_QC_LIMIT_VALUE {
            Statement::LimitValue(decode_owned(self, "QcEuLimitValue")?)
        } else if id == oid::QCS_QC_RETENTION_PERIOD {
            Statement::RetentionPeriod(decode_owned(self, "QcEuRetentionPeriod")?)
        } else if id == oid::QCS_QC_PDS {
            Statement::Pds(decode_owned(self, "QcEuPDS")?)
        } else if id == oid::QCS_QC_TYPE {
            Statement::Type(decode_owned(self, "QcType")?)
        } else if id == oid::QCS_QC_CC_LEGISLATION {
            Statement::CcLegislation(decode_owned(self, "QcCClegislation")?)
        } else if id == oid::QCS_QC_IDENT_METHOD {
            Statement::IdentMethod(decode_owned(self, "QcIdentMethod")?)
        } else if id == oid::QCS_QC_QSCD_LEGISLATION {
            Statement::QscdLegislation(decode_owned(self, "QcQSCDlegislation")?)
        } else if id == oid::ID_QCS_PKIX_QC_SYNTAX_V2 {
            Statement::Semantics(decode_owned(self, "SemanticsInformation")?)
        } else {
            Statement::Other(self.clone())
        };
        statement.validate()?;
        Ok(statement)
    }
}

/// Decodes the statement information as an owned type.
fn decode_owned<T>(statement: &QcStatement, what: &'static str) -> Result<T, PkiError>
where
    T: for<'b> Decode<'b, Error = der::Error>,
{
    let info = statement
        .statement_info
        .as_ref()
        .ok_or_else(|| PkiError::invalid(what, "the statement has no statementInfo"))?;
    // Re-read the whole TLV so that the tag is checked too.
    let der = info.to_der().map_err(PkiError::decode(what))?;
    T::from_der(&der).map_err(PkiError::decode(what))
}

impl QcStatements {
    /// The extension value for these typed statements; refuses two statements with one id.
    pub fn from_statements(statements: &[Statement]) -> Result<Self, PkiError> {
        let mut out: Vec<QcStatement> = Vec::with_capacity(statements.len());
        for s in statements {
            let qc = s.to_qc_statement()?;
            if out.iter().any(|o| o.statement_id == qc.statement_id) {
                return Err(PkiError::invalid(
                    "QCStatements",
                    format!("statement {} appears twice", qc.statement_id),
                ));
            }
            out.push(qc);
        }
        Ok(Self(out))
    }

    /// Decodes an extension value (the content of the extnValue OCTET STRING).
    pub fn from_extension_value(der: &[u8]) -> Result<Self, PkiError> {
        Self::from_der(der).map_err(PkiError::decode("QCStatements"))
    }

    /// DER of the extension value.
    pub fn to_extension_value(&self) -> Result<Vec<u8>, PkiError> {
        self.to_der().map_err(PkiError::encode("QCStatements"))
    }

    /// Every statement, typed and checked; refuses a statement id that appears twice.
    pub fn parse_all(&self) -> Result<Vec<Statement>, PkiError> {
        let mut out = Vec::with_capacity(self.0.len());
        for (i, s) in self.0.iter().enumerate() {
            if self.0[..i].iter().any(|o| o.statement_id == s.statement_id) {
                return Err(PkiError::invalid(
                    "QCStatements",
                    format!("statement {} appears twice", s.statement_id),
                ));
            }
            out.push(s.parse()?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use der::asn1::{Ia5String, PrintableString};
    use x509_cert::ext::pkix::name::GeneralName;

    fn roundtrip(statement: Statement) -> Vec<u8> {
        let all = QcStatements::from_statements(std::slice::from_ref(&statement)).unwrap();
        let der = all.to_extension_value().unwrap();
        let back = QcStatements::from_extension_value(&der).unwrap();
        assert_eq!(back, all);
        assert_eq!(back.parse_all().unwrap(), vec![statement]);
        assert_eq!(back.to_der().unwrap(), der, "re-encoding is byte identical");
        der
    }

    #[test]
    fn compliance_and_sscd_encode_as_bare_ids() {
        let der = roundtrip(Statement::Compliance);
        // SEQUENCE { SEQUENCE { OID 0.4.0.1862.1.1 } }
        assert_eq!(
            der,
            hex::decode("300a3008060604008e460101").unwrap(),
            "{}",
            hex::encode(&der)
        );
        let der = roundtrip(Statement::Sscd);
        assert_eq!(der, hex::decode("300a3008060604008e460104").unwrap());
        roundtrip(Statement::QualifiedTimestamp);
    }

    #[test]
    fn qc_type_esign_matches_known_encoding() {
        let der = roundtrip(Statement::qc_type(oid::QCT_ESIGN));
        // SEQUENCE { SEQUENCE { OID QcType, SEQUENCE { OID esign } } }
        assert_eq!(
            hex::encode(der),
            "30153013060604008e4601063009060704008e46010601"
        );
    }

    #[test]
    fn pds_semantics_retention_limit_and_legislation_round_trip() {
        roundtrip(Statement::Pds(PdsLocations(vec![
            PdsLocation::new("https://qtsp.example/pds/en.pdf", "en").unwrap(),
            PdsLocation::new("https://qtsp.example/pds/fr.pdf", "fr").unwrap(),
        ])));
        roundtrip(Statement::Semantics(SemanticsInformation::with_identifier(
            oid::SEMANTICS_ID_NATURAL,
        )));
        roundtrip(Statement::Semantics(SemanticsInformation {
            semantics_identifier: Some(oid::SEMANTICS_ID_LEGAL),
            name_registration_authorities: Some(vec![GeneralName::UniformResourceIdentifier(
                Ia5String::new("https://registry.example").unwrap(),
            )]),
        }));
        roundtrip(Statement::RetentionPeriod(7));
        roundtrip(Statement::LimitValue(MonetaryValue {
            currency: Iso4217CurrencyCode::Alphabetic(PrintableString::new("EUR").unwrap()),
            amount: 1000,
            exponent: 3,
        }));
        roundtrip(Statement::LimitValue(MonetaryValue {
            currency: Iso4217CurrencyCode::Numeric(978),
            amount: 5,
            exponent: 0,
        }));
        roundtrip(Statement::CcLegislation(CountryList(vec![
            PrintableString::new("CH").unwrap(),
        ])));
        roundtrip(Statement::QscdLegislation(CountryList(vec![
            PrintableString::new("FR").unwrap(),
            PrintableString::new("DE").unwrap(),
        ])));
        roundtrip(Statement::IdentMethod(QcIdentMethod(vec![
            oid::QCS_QC_IDENT_METHOD.push_arc(1).unwrap(),
        ])));
    }

    #[test]
    fn a_full_natural_person_set_round_trips_in_order() {
        let statements = vec![
            Statement::Compliance,
            Statement::Sscd,
            Statement::qc_type(oid::QCT_ESIGN),
            Statement::Pds(PdsLocations(vec![
                PdsLocation::new("https://qtsp.example/pds/en.pdf", "en").unwrap(),
            ])),
            Statement::Semantics(SemanticsInformation::with_identifier(
                oid::SEMANTICS_ID_NATURAL,
            )),
        ];
        let all = QcStatements::from_statements(&statements).unwrap();
        let der = all.to_extension_value().unwrap();
        let back = QcStatements::from_extension_value(&der).unwrap();
        assert_eq!(back.parse_all().unwrap(), statements);
    }

    #[test]
    fn unknown_statements_are_kept() {
        let other = QcStatement {
            statement_id: ObjectIdentifier::new_unwrap("1.2.3.4"),
            statement_info: Some(Any::from_der(&[0x05, 0x00]).unwrap()),
        };
        let all = QcStatements(vec![other.clone()]);
        let der = all.to_der().unwrap();
        let back = QcStatements::from_extension_value(&der).unwrap();
        assert_eq!(back.parse_all().unwrap(), vec![Statement::Other(other)]);
    }

    #[test]
    fn constructors_refuse_values_outside_their_definition() {
        assert!(PdsLocation::new("http://qtsp.example/pds", "en").is_err());
        assert!(PdsLocation::new("https://qtsp.example/pds", "eng").is_err());
        assert!(PdsLocation::new("https://qtsp.example/pds", "EN").is_err());
        assert!(PdsLocation::new("https://qtsp.example/é", "en").is_err());
        assert!(
            Statement::Pds(PdsLocations(vec![]))
                .to_qc_statement()
                .is_err()
        );
        assert!(Statement::RetentionPeriod(0).to_qc_statement().is_err());
        assert!(Statement::Type(QcType(vec![])).to_qc_statement().is_err());
        assert!(
            Statement::Type(QcType(vec![oid::QCT_ESIGN, oid::QCT_ESEAL]))
                .to_qc_statement()
                .is_err()
        );
        assert!(
            Statement::Semantics(SemanticsInformation {
                semantics_identifier: None,
                name_registration_authorities: None
            })
            .to_qc_statement()
            .is_err()
        );
        assert!(
            Statement::CcLegislation(CountryList(vec![PrintableString::new("fr").unwrap()]))
                .to_qc_statement()
                .is_err()
        );
        assert!(
            QcStatements::from_statements(&[Statement::Compliance, Statement::Compliance]).is_err()
        );
    }

    /// Malformed DER: every case is an error, never a panic.
    #[test]
    fn malformed_extension_values_are_errors() {
        let cases: &[(&str, &str)] = &[
            ("empty input", ""),
            ("not a sequence", "0400"),
            ("truncated length", "30"),
            ("length beyond input", "3005300306"),
            ("trailing garbage", "300a3008060604008e46010100"),
            ("statement without id", "30023000"),
            ("statement id not an OID", "300430020400"),
            ("indefinite length (BER)", "3080300806060400 8e4601010000"),
            ("non-minimal length", "30810a3008060604008e460101"),
            ("bad OID encoding", "3004300206ff"),
            ("huge length", "3084ffffffff"),
        ];
        for (name, hex_der) in cases {
            let der = hex::decode(hex_der.replace(' ', "")).unwrap();
            assert!(
                QcStatements::from_extension_value(&der).is_err(),
                "{name} should not decode"
            );
        }
    }

    /// Well-formed outer structure, malformed statement info: parse reports, never panics.
    #[test]
    fn malformed_statement_info_is_an_error() {
        let st = |id: ObjectIdentifier, info: &str| QcStatement {
            statement_id: id,
            statement_info: Some(Any::from_der(&hex::decode(info).unwrap()).unwrap()),
        };
        let cases = [
            // compliance takes no info
            st(oid::QCS_QC_COMPLIANCE, "0500"),
            st(oid::QCS_QC_SSCD, "0101ff"),
            // retention period: negative, zero, not an integer, too large for u32
            st(oid::QCS_QC_RETENTION_PERIOD, "0201ff"),
            st(oid::QCS_QC_RETENTION_PERIOD, "020100"),
            st(oid::QCS_QC_RETENTION_PERIOD, "0500"),
            st(oid::QCS_QC_RETENTION_PERIOD, "0209010000000000000000"),
            // PDS: empty, language of 3 letters, http url, missing language, url not IA5
            st(oid::QCS_QC_PDS, "3000"),
            st(
                oid::QCS_QC_PDS,
                "30153013160c68747470733a2f2f612e65781303656e67",
            ),
            st(
                oid::QCS_QC_PDS,
                "30133011160b687474703a2f2f612e65781302656e",
            ),
            st(oid::QCS_QC_PDS, "3010300e160c68747470733a2f2f612e6578"),
            st(
                oid::QCS_QC_PDS,
                "30143012160c68747470733a2f2fe92e65781302656e",
            ),
            // QcType: empty, not OIDs, two types
            st(oid::QCS_QC_TYPE, "3000"),
            st(oid::QCS_QC_TYPE, "30020500"),
            st(oid::QCS_QC_TYPE, "3012060704008e46010601060704008e46010602"),
            // Semantics: empty sequence, wrong inner type
            st(oid::ID_QCS_PKIX_QC_SYNTAX_V2, "3000"),
            st(oid::ID_QCS_PKIX_QC_SYNTAX_V2, "30030101ff"),
            // Limit value: missing exponent, bad currency
            st(oid::QCS_QC_LIMIT_VALUE, "3008130345555202010a"),
            st(oid::QCS_QC_LIMIT_VALUE, "300a13026575020101020100"),
            // CC legislation: lower case
            st(oid::QCS_QC_CC_LEGISLATION, "30041302667a"),
        ];
        for (i, s) in cases.iter().enumerate() {
            let hex_info = hex::encode(s.statement_info.as_ref().unwrap().to_der().unwrap());
            let res = s.parse();
            assert!(res.is_err(), "case {i} ({hex_info}) parsed as {res:?}");
        }
        // Missing info where it is required.
        assert!(QcStatement::without_info(oid::QCS_QC_PDS).parse().is_err());
        assert!(
            QcStatement::without_info(oid::QCS_QC_RETENTION_PERIOD)
                .parse()
                .is_err()
        );
    }
}

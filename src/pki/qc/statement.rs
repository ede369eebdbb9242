//! [`Statement`], the typed view of one statement: its id, its checks and its wire form.

use const_oid::ObjectIdentifier;
use der::asn1::Any;
use der::{Decode, Encode};

use super::{
    CountryList, Iso4217CurrencyCode, MonetaryValue, PdsLocation, PdsLocations, QcIdentMethod,
    QcStatement, QcType, SemanticsInformation,
};
use crate::pki::{PkiError, oid};

/// The typed view of one statement.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Statement {
    /// `QcCompliance`: an EU qualified certificate (no statement info).
    Compliance,
    /// `QcLimitValue`.
    LimitValue(MonetaryValue),
    /// `QcRetentionPeriod`: years (`QcEuRetentionPeriod ::= INTEGER`, positive).
    RetentionPeriod(u32),
    /// `QcSSCD`: the private key is on a QSCD (no statement info).
    Sscd,
    /// `QcPDS`.
    Pds(PdsLocations),
    /// `QcType`.
    Type(QcType),
    /// `QcCClegislation` (non-EU legislation only).
    CcLegislation(CountryList),
    /// `QcIdentMethod`.
    IdentMethod(QcIdentMethod),
    /// `QcQSCDlegislation`.
    QscdLegislation(CountryList),
    /// `id-qcs-pkixQCSyntax-v2` with its `SemanticsInformation`.
    Semantics(SemanticsInformation),
    /// `esi4-qtstStatement-1` (EN 319 422): in a TSTInfo, a qualified time stamp.
    QualifiedTimestamp,
    /// A statement this module does not know, kept as it is.
    Other(QcStatement),
}

impl Statement {
    /// `QcType` with the single type `qc_type` ([`oid::QCT_ESIGN`], ...).
    #[must_use]
    pub fn qc_type(qc_type: ObjectIdentifier) -> Self {
        Self::Type(QcType(vec![qc_type]))
    }

    /// The statement id.
    #[must_use]
    pub fn statement_id(&self) -> ObjectIdentifier {
        match self {
            Self::Compliance => oid::QCS_QC_COMPLIANCE,
            Self::LimitValue(_) => oid::QCS_QC_LIMIT_VALUE,
            Self::RetentionPeriod(_) => oid::QCS_QC_RETENTION_PERIOD,
            Self::Sscd => oid::QCS_QC_SSCD,
            Self::Pds(_) => oid::QCS_QC_PDS,
            Self::Type(_) => oid::QCS_QC_TYPE,
            Self::CcLegislation(_) => oid::QCS_QC_CC_LEGISLATION,
            Self::IdentMethod(_) => oid::QCS_QC_IDENT_METHOD,
            Self::QscdLegislation(_) => oid::QCS_QC_QSCD_LEGISLATION,
            Self::Semantics(_) => oid::ID_QCS_PKIX_QC_SYNTAX_V2,
            Self::QualifiedTimestamp => oid::ESI4_QTST_STATEMENT_1,
            Self::Other(s) => s.statement_id,
        }
    }

    /// Checks the constraints of the statement's definition.
    pub fn validate(&self) -> Result<(), PkiError> {
        match self {
            Self::Compliance | Self::Sscd | Self::QualifiedTimestamp | Self::Other(_) => Ok(()),
            Self::LimitValue(v) => match &v.currency {
                Iso4217CurrencyCode::Alphabetic(code)
                    if code.as_str().len() != 3
                        || !code.as_str().bytes().all(|b| b.is_ascii_uppercase()) =>
                {
                    Err(PkiError::invalid(
                        "MonetaryValue.currency",
                        format!("{:?} is not an alphabetic ISO 4217 code", code.as_str()),
                    ))
                }
                Iso4217CurrencyCode::Numeric(n) if !(1..=999).contains(n) => Err(
                    PkiError::invalid("MonetaryValue.currency", format!("{n} is not in 1..999")),
                ),
                _ => Ok(()),
            },
            Self::RetentionPeriod(years) => {
                if *years == 0 {
                    Err(PkiError::invalid(
                        "QcEuRetentionPeriod",
                        "the retention period must be a positive number of years",
                    ))
                } else {
                    Ok(())
                }
            }
            Self::Pds(locations) => {
                if locations.0.is_empty() {
                    return Err(PkiError::invalid(
                        "PdsLocations",
                        "SIZE (1..MAX): the sequence is empty",
                    ));
                }
                locations.0.iter().try_for_each(PdsLocation::validate)
            }
            Self::Type(t) => {
                if t.0.len() == 1 {
                    Ok(())
                } else {
                    Err(PkiError::invalid(
                        "QcType",
                        format!(
                            "a certificate has exactly one type (EN 319 412-5 clause 4.2.3), got {}",
                            t.0.len()
                        ),
                    ))
                }
            }
            Self::CcLegislation(list) => list.validate("QcCClegislation"),
            Self::QscdLegislation(list) => list.validate("QcQSCDlegislation"),
            Self::IdentMethod(m) => {
                if m.0.len() == 1 {
                    Ok(())
                } else {
                    Err(PkiError::invalid(
                        "QcIdentMethod",
                        format!("SIZE (1..1): got {} identifiers", m.0.len()),
                    ))
                }
            }
            Self::Semantics(info) => info.validate(),
        }
    }

    /// The wire form of this statement, after [`Statement::validate`].
    pub fn to_qc_statement(&self) -> Result<QcStatement, PkiError> {
        self.validate()?;
        let info = match self {
            Self::Compliance | Self::Sscd | Self::QualifiedTimestamp => None,
            Self::Other(s) => return Ok(s.clone()),
            Self::LimitValue(v) => Some(to_any(v, "QcEuLimitValue")?),
            Self::RetentionPeriod(y) => Some(to_any(y, "QcEuRetentionPeriod")?),
            Self::Pds(p) => Some(to_any(p, "QcEuPDS")?),
            Self::Type(t) => Some(to_any(t, "QcType")?),
            Self::CcLegislation(l) => Some(to_any(l, "QcCClegislation")?),
            Self::IdentMethod(m) => Some(to_any(m, "QcIdentMethod")?),
            Self::QscdLegislation(l) => Some(to_any(l, "QcQSCDlegislation")?),
            Self::Semantics(s) => Some(to_any(s, "SemanticsInformation")?),
        };
        Ok(QcStatement {
            statement_id: self.statement_id(),
            statement_info: info,
        })
    }
}

fn to_any<T: Encode>(value: &T, what: &'static str) -> Result<Any, PkiError> {
    let der = value.to_der().map_err(PkiError::encode(what))?;
    Any::from_der(&der).map_err(PkiError::encode(what))
}

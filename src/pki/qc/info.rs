//! The `statementInfo` types of RFC 3739 and EN 319 412-5, with the checks of their definitions.

use const_oid::ObjectIdentifier;
use der::asn1::{Ia5String, PrintableString};
use der::{
    Choice, DecodeValue, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag, Writer,
};
use x509_cert::ext::pkix::name::GeneralName;

use crate::pki::PkiError;

/// Semantics information of the `id-qcs-pkixQCSyntax-v2` statement (RFC 3739 section 3.2.6.1).
///
/// ```text
/// SemanticsInformation ::= SEQUENCE {
///     semanticsIdentifier         OBJECT IDENTIFIER OPTIONAL,
///     nameRegistrationAuthorities NameRegistrationAuthorities OPTIONAL
///     } (WITH COMPONENTS {..., semanticsIdentifier PRESENT}|
///        WITH COMPONENTS {..., nameRegistrationAuthorities PRESENT})
///
/// NameRegistrationAuthorities ::= SEQUENCE SIZE (1..MAX) OF GeneralName
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SemanticsInformation {
    /// `semanticsIdentifier`, e.g.
    /// [`oid::SEMANTICS_ID_NATURAL`](crate::pki::oid::SEMANTICS_ID_NATURAL).
    pub semantics_identifier: Option<ObjectIdentifier>,
    /// `nameRegistrationAuthorities`.
    pub name_registration_authorities: Option<Vec<GeneralName>>,
}

impl SemanticsInformation {
    /// Semantics information with only an identifier.
    #[must_use]
    pub fn with_identifier(semantics_identifier: ObjectIdentifier) -> Self {
        Self {
            semantics_identifier: Some(semantics_identifier),
            name_registration_authorities: None,
        }
    }

    pub(super) fn validate(&self) -> Result<(), PkiError> {
        match (
            &self.semantics_identifier,
            &self.name_registration_authorities,
        ) {
            (None, None) => Err(PkiError::invalid(
                "SemanticsInformation",
                "neither semanticsIdentifier nor nameRegistrationAuthorities is present",
            )),
            (_, Some(nra)) if nra.is_empty() => Err(PkiError::invalid(
                "SemanticsInformation.nameRegistrationAuthorities",
                "SIZE (1..MAX): the sequence is empty",
            )),
            _ => Ok(()),
        }
    }
}

/// Value limit of the `QcLimitValue` statement (EN 319 412-5 clause 4.3.2).
///
/// ```text
/// QcEuLimitValue ::= MonetaryValue
/// MonetaryValue ::= SEQUENCE {
///     currency Iso4217CurrencyCode,
///     amount   INTEGER,
///     exponent INTEGER}
///     -- value = amount * 10^exponent
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct MonetaryValue {
    /// `currency`.
    pub currency: Iso4217CurrencyCode,
    /// `amount`.
    pub amount: i64,
    /// `exponent`.
    pub exponent: i64,
}

/// ISO 4217 currency code (EN 319 412-5 clause 4.3.2).
///
/// ```text
/// Iso4217CurrencyCode ::= CHOICE {
///     alphabetic PrintableString (SIZE (3)), -- Recommended
///     numeric    INTEGER (1..999) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
pub enum Iso4217CurrencyCode {
    /// `alphabetic`, e.g. `EUR`.
    #[asn1(type = "PrintableString")]
    Alphabetic(PrintableString),
    /// `numeric`, e.g. 978.
    Numeric(u16),
}

/// Where the PKI disclosure statements are (EN 319 412-5 clause 4.3.4).
///
/// ```text
/// QcEuPDS ::= PdsLocations
/// PdsLocations ::= SEQUENCE SIZE (1..MAX) OF PdsLocation
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PdsLocations(pub Vec<PdsLocation>);

sequence_of_newtype!(PdsLocations, PdsLocation);

/// One PKI disclosure statement (EN 319 412-5 clause 4.3.4).
///
/// ```text
/// PdsLocation ::= SEQUENCE {
///     url      IA5String,
///     language PrintableString (SIZE(2))} --ISO 639-1 language code
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct PdsLocation {
    /// `url` (EN 319 412-5 requires https).
    pub url: Ia5String,
    /// `language`, a two-letter ISO 639-1 code.
    pub language: PrintableString,
}

impl PdsLocation {
    /// A location; `url` must be an `https://` URL in IA5 (ASCII), `language` two lowercase
    /// ISO 639-1 letters.
    pub fn new(url: &str, language: &str) -> Result<Self, PkiError> {
        let location = Self {
            url: Ia5String::new(url).map_err(PkiError::encode("PdsLocation.url"))?,
            language: PrintableString::new(language)
                .map_err(PkiError::encode("PdsLocation.language"))?,
        };
        location.validate()?;
        Ok(location)
    }

    pub(super) fn validate(&self) -> Result<(), PkiError> {
        let url = self.url.as_str();
        if !url.starts_with("https://") || url.len() <= "https://".len() {
            return Err(PkiError::invalid(
                "PdsLocation.url",
                format!("{url:?} is not an https URL (EN 319 412-5 clause 4.3.4)"),
            ));
        }
        let lang = self.language.as_str();
        if lang.len() != 2 || !lang.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(PkiError::invalid(
                "PdsLocation.language",
                format!("{lang:?} is not a two-letter lowercase ISO 639-1 code"),
            ));
        }
        Ok(())
    }
}

/// The type of qualified certificate (EN 319 412-5 clause 4.2.3).
///
/// ```text
/// QcType ::= SEQUENCE OF OBJECT IDENTIFIER (id-etsi-qct-esign | id-etsi-qct-eseal |
///                                           id-etsi-qct-web, ...)
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QcType(pub Vec<ObjectIdentifier>);

sequence_of_newtype!(QcType, ObjectIdentifier);

/// Country lists of `QcCClegislation` (EN 319 412-5 clause 4.2.4) and `QcQSCDlegislation`.
///
/// ```text
/// QcCClegislation ::= CountryList
/// CountryList ::= SEQUENCE OF CountryName
/// CountryName ::= PrintableString (SIZE (2)) (CONSTRAINED BY { -- ISO 3166 alpha-2 codes only -- })
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountryList(pub Vec<PrintableString>);

sequence_of_newtype!(CountryList, PrintableString);

impl CountryList {
    pub(super) fn validate(&self, what: &'static str) -> Result<(), PkiError> {
        if self.0.is_empty() {
            return Err(PkiError::invalid(what, "the country list is empty"));
        }
        for c in &self.0 {
            let c = c.as_str();
            if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(PkiError::invalid(
                    what,
                    format!("{c:?} is not an ISO 3166-1 alpha-2 code"),
                ));
            }
        }
        Ok(())
    }
}

/// How the identity of the subject was verified (EN 319 412-5 V2.5.1, `QcIdentMethod`).
///
/// The official text was not available when this was written; the definition below is the one
/// pkilint transcribes from EN 319 412-5 Annex B (a sequence holding exactly one identifier).
///
/// ```text
/// QcIdentMethod ::= SEQUENCE SIZE (1..1) OF OBJECT IDENTIFIER
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QcIdentMethod(pub Vec<ObjectIdentifier>);

sequence_of_newtype!(QcIdentMethod, ObjectIdentifier);

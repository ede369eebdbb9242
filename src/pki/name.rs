//! Typed distinguished names for the certificates qtsp issues.
//!
//! * [`NaturalPersonName`] (EN 319 412-2 clause 4.2.4): countryName, givenName and/or surname,
//!   serialNumber in the EN 319 412-1 clause 5.1.3 form (`IDCFR-...`), commonName.
//! * [`OrganizationName`] (EN 319 412-3 / the issuer rules of EN 319 412-2 clause 4.2.3.1):
//!   countryName, organizationName, organizationIdentifier in the EN 319 412-1 clause 5.1.4 form
//!   (`NTRFR-<SIREN>`), commonName.
//!
//! Values are checked when built (character sets, upper bounds of RFC 5280 appendix A), then
//! encoded as RFC 5280 asks: PrintableString for countryName and serialNumber, UTF8String for the
//! others. Each RDN holds one attribute.

use std::fmt;

use const_oid::ObjectIdentifier;
use der::asn1::{Any, PrintableString, SetOfVec};
use der::{Decode, Encode};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

use super::PkiError;
use super::oid;

/// RFC 5280 upper bound of commonName, organizationName and serialNumber (`ub-common-name`,
/// `ub-organization-name`, `ub-serial-number`).
pub const UB_64: usize = 64;
/// Upper bound qtsp applies to givenName and surname (X.520 allows 32768).
pub const UB_PERSONAL_NAME: usize = 128;

/// An ISO 3166-1 alpha-2 country code, upper case (`FR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Two ASCII upper-case letters.
    pub fn new(code: &str) -> Result<Self, PkiError> {
        match code.as_bytes() {
            [a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Ok(Self([*a, *b])),
            _ => Err(PkiError::invalid(
                "countryName",
                format!("{code:?} is not two upper-case letters (ISO 3166-1 alpha-2)"),
            )),
        }
    }

    /// The code.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Two ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identity type reference of a natural person identifier (EN 319 412-1 clause 5.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PersonIdentityType {
    /// `PAS`: passport number.
    Passport,
    /// `IDC`: identity card number.
    IdentityCard,
    /// `PNO`: national personal number.
    NationalPersonalNumber,
    /// `TIN`: tax identification number.
    TaxIdentificationNumber,
    /// Two letters + `:`: a locally defined type (needs nameRegistrationAuthorities in the
    /// semantics information, EN 319 412-1 NAT-5.1.3-05).
    Local([u8; 2]),
}

impl PersonIdentityType {
    /// The three-character prefix.
    #[must_use]
    pub fn prefix(&self) -> String {
        match self {
            Self::Passport => "PAS".into(),
            Self::IdentityCard => "IDC".into(),
            Self::NationalPersonalNumber => "PNO".into(),
            Self::TaxIdentificationNumber => "TIN".into(),
            Self::Local([a, b]) => format!("{}{}:", char::from(*a), char::from(*b)),
        }
    }
}

/// Identity type reference of a legal person identifier (EN 319 412-1 clause 5.1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LegalIdentityType {
    /// `NTR`: national trade register (in France, the SIREN).
    NationalTradeRegister,
    /// `VAT`: value added tax identification number.
    Vat,
    /// `PSD`: PSD2 authorization number.
    Psd,
    /// `LEI`: global Legal Entity Identifier (country `XG`).
    Lei,
}

impl LegalIdentityType {
    /// The three-character prefix.
    #[must_use]
    pub fn prefix(&self) -> &'static str {
        match self {
            Self::NationalTradeRegister => "NTR",
            Self::Vat => "VAT",
            Self::Psd => "PSD",
            Self::Lei => "LEI",
        }
    }
}

/// Checks a printable reference (the part after `-`): non-empty, PrintableString characters.
fn check_reference(what: &'static str, reference: &str) -> Result<(), PkiError> {
    if reference.is_empty() {
        return Err(PkiError::invalid(what, "the identifier is empty"));
    }
    PrintableString::new(reference).map_err(|_| {
        PkiError::invalid(
            what,
            format!("{reference:?} has characters outside PrintableString"),
        )
    })?;
    Ok(())
}

/// A natural person identifier, `TYPE` + country + `-` + reference (EN 319 412-1 clause 5.1.3),
/// e.g. `IDCFR-7d1c2a`. The whole value is a PrintableString of at most 64 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NaturalPersonIdentifier {
    kind: PersonIdentityType,
    country: CountryCode,
    reference: String,
}

impl NaturalPersonIdentifier {
    /// Builds and checks an identifier.
    pub fn new(
        kind: PersonIdentityType,
        country: CountryCode,
        reference: &str,
    ) -> Result<Self, PkiError> {
        if let PersonIdentityType::Local(letters) = kind
            && !letters.iter().all(u8::is_ascii_uppercase)
        {
            return Err(PkiError::invalid(
                "serialNumber",
                "a local identity type is two upper-case letters",
            ));
        }
        check_reference("serialNumber", reference)?;
        let id = Self {
            kind,
            country,
            reference: reference.to_owned(),
        };
        let len = id.to_string().len();
        if len > UB_64 {
            return Err(PkiError::invalid(
                "serialNumber",
                format!("{len} characters, at most {UB_64}"),
            ));
        }
        Ok(id)
    }

    /// The identity type.
    #[must_use]
    pub fn kind(&self) -> PersonIdentityType {
        self.kind
    }

    /// The country of the identifier.
    #[must_use]
    pub fn country(&self) -> CountryCode {
        self.country
    }

    /// The reference after the `-`.
    #[must_use]
    pub fn reference(&self) -> &str {
        &self.reference
    }
}

impl fmt::Display for NaturalPersonIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}-{}",
            self.kind.prefix(),
            self.country,
            self.reference
        )
    }
}

/// A legal person identifier, `TYPE` + country + `-` + reference (EN 319 412-1 clause 5.1.4),
/// e.g. `NTRFR-123456789`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LegalPersonIdentifier {
    kind: LegalIdentityType,
    country: CountryCode,
    reference: String,
}

impl LegalPersonIdentifier {
    /// Builds and checks an identifier (no whitespace, at most 64 characters).
    pub fn new(
        kind: LegalIdentityType,
        country: CountryCode,
        reference: &str,
    ) -> Result<Self, PkiError> {
        check_reference("organizationIdentifier", reference)?;
        if reference.chars().any(char::is_whitespace) {
            return Err(PkiError::invalid(
                "organizationIdentifier",
                "the identifier contains whitespace",
            ));
        }
        if kind == LegalIdentityType::Lei && country.as_str() != "XG" {
            return Err(PkiError::invalid(
                "organizationIdentifier",
                "an LEI identifier uses the country code XG",
            ));
        }
        let id = Self {
            kind,
            country,
            reference: reference.to_owned(),
        };
        let len = id.to_string().len();
        if len > UB_64 {
            return Err(PkiError::invalid(
                "organizationIdentifier",
                format!("{len} characters, at most {UB_64}"),
            ));
        }
        Ok(id)
    }
}

impl fmt::Display for LegalPersonIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}-{}",
            self.kind.prefix(),
            self.country,
            self.reference
        )
    }
}

/// Checks a UTF8String attribute value: trimmed, non-empty, no control characters, bounded.
fn check_text(what: &'static str, value: &str, max_chars: usize) -> Result<(), PkiError> {
    if value.trim().is_empty() {
        return Err(PkiError::invalid(what, "empty"));
    }
    if value.trim() != value {
        return Err(PkiError::invalid(what, "leading or trailing whitespace"));
    }
    if value.chars().any(char::is_control) {
        return Err(PkiError::invalid(what, "control characters"));
    }
    let n = value.chars().count();
    if n > max_chars {
        return Err(PkiError::invalid(
            what,
            format!("{n} characters, at most {max_chars}"),
        ));
    }
    Ok(())
}

/// Subject name of a natural person (EN 319 412-2 clause 4.2.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NaturalPersonName {
    country: CountryCode,
    given_name: Option<String>,
    surname: Option<String>,
    common_name: String,
    serial_number: NaturalPersonIdentifier,
}

impl NaturalPersonName {
    /// Builds and checks a natural person's name: at least one of `given_name` and `surname`.
    pub fn new(
        country: CountryCode,
        given_name: Option<&str>,
        surname: Option<&str>,
        common_name: &str,
        serial_number: NaturalPersonIdentifier,
    ) -> Result<Self, PkiError> {
        if given_name.is_none() && surname.is_none() {
            return Err(PkiError::invalid(
                "subject",
                "a natural person's name has a givenName, a surname or both (EN 319 412-2 NAT-4.2.4-1)",
            ));
        }
        if let Some(g) = given_name {
            check_text("givenName", g, UB_PERSONAL_NAME)?;
        }
        if let Some(s) = surname {
            check_text("surname", s, UB_PERSONAL_NAME)?;
        }
        check_text("commonName", common_name, UB_64)?;
        Ok(Self {
            country,
            given_name: given_name.map(str::to_owned),
            surname: surname.map(str::to_owned),
            common_name: common_name.to_owned(),
            serial_number,
        })
    }

    /// countryName.
    #[must_use]
    pub fn country(&self) -> CountryCode {
        self.country
    }

    /// givenName.
    #[must_use]
    pub fn given_name(&self) -> Option<&str> {
        self.given_name.as_deref()
    }

    /// surname.
    #[must_use]
    pub fn surname(&self) -> Option<&str> {
        self.surname.as_deref()
    }

    /// commonName.
    #[must_use]
    pub fn common_name(&self) -> &str {
        &self.common_name
    }

    /// serialNumber.
    #[must_use]
    pub fn serial_number(&self) -> &NaturalPersonIdentifier {
        &self.serial_number
    }
}

/// Subject name of an organisation: a CA, a TSU, an OCSP responder, a legal person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganizationName {
    country: CountryCode,
    organization: String,
    organization_identifier: Option<LegalPersonIdentifier>,
    common_name: String,
}

impl OrganizationName {
    /// Builds and checks an organisation's name. The organizationIdentifier, when present, must
    /// differ from the organizationName (EN 319 412-2 GEN-4.2.3.1-3).
    pub fn new(
        country: CountryCode,
        organization: &str,
        organization_identifier: Option<LegalPersonIdentifier>,
        common_name: &str,
    ) -> Result<Self, PkiError> {
        check_text("organizationName", organization, UB_64)?;
        check_text("commonName", common_name, UB_64)?;
        if organization_identifier
            .as_ref()
            .is_some_and(|id| id.to_string() == organization)
        {
            return Err(PkiError::invalid(
                "organizationIdentifier",
                "equal to organizationName",
            ));
        }
        Ok(Self {
            country,
            organization: organization.to_owned(),
            organization_identifier,
            common_name: common_name.to_owned(),
        })
    }

    /// countryName.
    #[must_use]
    pub fn country(&self) -> CountryCode {
        self.country
    }

    /// organizationName.
    #[must_use]
    pub fn organization(&self) -> &str {
        &self.organization
    }

    /// organizationIdentifier.
    #[must_use]
    pub fn organization_identifier(&self) -> Option<&LegalPersonIdentifier> {
        self.organization_identifier.as_ref()
    }

    /// commonName.
    #[must_use]
    pub fn common_name(&self) -> &str {
        &self.common_name
    }
}

/// What kind of subject a name describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SubjectKind {
    /// A natural person.
    NaturalPerson,
    /// An organisation (legal person, CA, service unit).
    Organization,
}

impl SubjectKind {
    /// `natural-person` or `organization`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::NaturalPerson => "natural-person",
            Self::Organization => "organization",
        }
    }
}

/// A certificate subject.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubjectName {
    /// A natural person.
    NaturalPerson(NaturalPersonName),
    /// An organisation.
    Organization(OrganizationName),
}

/// How an attribute value is encoded.
enum StringKind {
    Printable,
    Utf8,
}

fn atv(
    oid: ObjectIdentifier,
    kind: StringKind,
    value: &str,
) -> Result<RelativeDistinguishedName, PkiError> {
    let value = match kind {
        StringKind::Printable => {
            let s = PrintableString::new(value).map_err(PkiError::encode("PrintableString"))?;
            Any::encode_from(&s).map_err(PkiError::encode("PrintableString"))?
        }
        StringKind::Utf8 => {
            Any::encode_from(&value.to_owned()).map_err(PkiError::encode("UTF8String"))?
        }
    };
    let set = SetOfVec::try_from(vec![AttributeTypeAndValue { oid, value }])
        .map_err(PkiError::encode("RelativeDistinguishedName"))?;
    Ok(RelativeDistinguishedName::from(set))
}

impl SubjectName {
    /// Which kind of subject this is.
    #[must_use]
    pub fn kind(&self) -> SubjectKind {
        match self {
            Self::NaturalPerson(_) => SubjectKind::NaturalPerson,
            Self::Organization(_) => SubjectKind::Organization,
        }
    }

    /// The commonName.
    #[must_use]
    pub fn common_name(&self) -> &str {
        match self {
            Self::NaturalPerson(n) => n.common_name(),
            Self::Organization(o) => o.common_name(),
        }
    }

    /// The RDN sequence, most significant first: C, (GN, SN, serialNumber | O,
    /// organizationIdentifier), CN.
    pub fn to_rdn_sequence(&self) -> Result<RdnSequence, PkiError> {
        use StringKind::{Printable, Utf8};
        let mut rdns = Vec::new();
        match self {
            Self::NaturalPerson(n) => {
                rdns.push(atv(oid::AT_COUNTRY_NAME, Printable, n.country.as_str())?);
                if let Some(g) = &n.given_name {
                    rdns.push(atv(oid::AT_GIVEN_NAME, Utf8, g)?);
                }
                if let Some(s) = &n.surname {
                    rdns.push(atv(oid::AT_SURNAME, Utf8, s)?);
                }
                rdns.push(atv(
                    oid::AT_SERIAL_NUMBER,
                    Printable,
                    &n.serial_number.to_string(),
                )?);
                rdns.push(atv(oid::AT_COMMON_NAME, Utf8, &n.common_name)?);
            }
            Self::Organization(o) => {
                rdns.push(atv(oid::AT_COUNTRY_NAME, Printable, o.country.as_str())?);
                rdns.push(atv(oid::AT_ORGANIZATION_NAME, Utf8, &o.organization)?);
                if let Some(id) = &o.organization_identifier {
                    rdns.push(atv(oid::AT_ORGANIZATION_IDENTIFIER, Utf8, &id.to_string())?);
                }
                rdns.push(atv(oid::AT_COMMON_NAME, Utf8, &o.common_name)?);
            }
        }
        Ok(RdnSequence::from(rdns))
    }

    /// DER of the `Name`.
    pub fn to_der(&self) -> Result<Vec<u8>, PkiError> {
        self.to_rdn_sequence()?
            .to_der()
            .map_err(PkiError::encode("Name"))
    }

    /// The `x509-cert` `Name`.
    pub fn to_name(&self) -> Result<Name, PkiError> {
        Name::from_der(&self.to_der()?).map_err(PkiError::decode("Name"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn fr() -> CountryCode {
        CountryCode::new("FR").unwrap()
    }

    pub(crate) fn person() -> SubjectName {
        SubjectName::NaturalPerson(
            NaturalPersonName::new(
                fr(),
                Some("Marie-Hélène"),
                Some("Dupont"),
                "Marie-Hélène Dupont",
                NaturalPersonIdentifier::new(PersonIdentityType::IdentityCard, fr(), "7D1C2A90")
                    .unwrap(),
            )
            .unwrap(),
        )
    }

    #[test]
    fn natural_person_name_encodes_with_the_rfc5280_string_types() {
        let name = person().to_name().unwrap();
        assert_eq!(
            name.to_string(),
            "CN=Marie-Hélène Dupont,SERIALNUMBER=IDCFR-7D1C2A90,SN=Dupont,GN=Marie-Hélène,C=FR"
        );
        let tags: Vec<der::Tag> = name.iter().map(|a| der::Tagged::tag(&a.value)).collect();
        use der::Tag::{PrintableString as P, Utf8String as U};
        assert_eq!(tags, vec![P, U, U, P, U]);
        assert_eq!(name.len(), 5, "one attribute per RDN");
        let der = person().to_der().unwrap();
        assert_eq!(Name::from_der(&der).unwrap().to_der().unwrap(), der);
    }

    #[test]
    fn organization_name_encodes_in_order() {
        let org = SubjectName::Organization(
            OrganizationName::new(
                fr(),
                "qtsp SAS",
                Some(
                    LegalPersonIdentifier::new(
                        LegalIdentityType::NationalTradeRegister,
                        fr(),
                        "123456789",
                    )
                    .unwrap(),
                ),
                "qtsp Qualified CA",
            )
            .unwrap(),
        );
        assert_eq!(org.kind(), SubjectKind::Organization);
        assert_eq!(
            org.to_name().unwrap().to_string(),
            "CN=qtsp Qualified CA,2.5.4.97=#0c0f4e545246522d313233343536373839,O=qtsp SAS,C=FR"
        );
    }

    #[test]
    fn identifiers_follow_en_319_412_1() {
        let id = NaturalPersonIdentifier::new(PersonIdentityType::Passport, fr(), "AB12").unwrap();
        assert_eq!(id.to_string(), "PASFR-AB12");
        let local =
            NaturalPersonIdentifier::new(PersonIdentityType::Local(*b"QT"), fr(), "1").unwrap();
        assert_eq!(local.to_string(), "QT:FR-1");
        assert!(
            NaturalPersonIdentifier::new(PersonIdentityType::Local(*b"qt"), fr(), "1").is_err()
        );
        assert!(NaturalPersonIdentifier::new(PersonIdentityType::Passport, fr(), "").is_err());
        assert!(NaturalPersonIdentifier::new(PersonIdentityType::Passport, fr(), "a@b").is_err());
        assert!(
            NaturalPersonIdentifier::new(PersonIdentityType::Passport, fr(), &"1".repeat(60))
                .is_err()
        );
        assert!(
            LegalPersonIdentifier::new(LegalIdentityType::NationalTradeRegister, fr(), "1 2")
                .is_err()
        );
        assert!(
            LegalPersonIdentifier::new(LegalIdentityType::Lei, fr(), "529900T8BM49AURSDO55")
                .is_err()
        );
        assert_eq!(
            LegalPersonIdentifier::new(
                LegalIdentityType::Lei,
                CountryCode::new("XG").unwrap(),
                "529900T8BM49AURSDO55"
            )
            .unwrap()
            .to_string(),
            "LEIXG-529900T8BM49AURSDO55"
        );
    }

    #[test]
    fn invalid_names_are_refused() {
        for bad in ["fr", "F", "FRA", "F1", ""] {
            assert!(CountryCode::new(bad).is_err(), "{bad}");
        }
        let id =
            || NaturalPersonIdentifier::new(PersonIdentityType::IdentityCard, fr(), "1").unwrap();
        assert!(NaturalPersonName::new(fr(), None, None, "X", id()).is_err());
        assert!(NaturalPersonName::new(fr(), Some(" A"), None, "A", id()).is_err());
        assert!(NaturalPersonName::new(fr(), Some("A"), None, "", id()).is_err());
        assert!(NaturalPersonName::new(fr(), Some("A\u{7}"), None, "A", id()).is_err());
        assert!(NaturalPersonName::new(fr(), Some("A"), None, &"é".repeat(65), id()).is_err());
        assert!(NaturalPersonName::new(fr(), Some("A"), None, &"é".repeat(64), id()).is_ok());
        assert!(OrganizationName::new(fr(), "", None, "CA").is_err());
        let ntr = LegalPersonIdentifier::new(LegalIdentityType::NationalTradeRegister, fr(), "1")
            .unwrap();
        assert!(OrganizationName::new(fr(), "NTRFR-1", Some(ntr), "CA").is_err());
    }
}

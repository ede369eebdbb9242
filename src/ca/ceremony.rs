//! The key ceremony of `qtsp init`, described by `policies/hierarchy.toml`: generate each key in the
//! HSM, self-sign the root, issue every other certificate through the same CA pipeline as any
//! certificate (intent, audit, sign, record). Idempotent: what exists is checked, never redone, and a
//! run that finds everything in place writes nothing (not even to the journal).

use super::{CaError, CertificateAuthority, IssuanceRequest};
use crate::audit::{AuditEvent, CeremonyOutcome, Journal, KeyPurpose};
use crate::clock::SharedClock;
use crate::pki::{
    CountryCode, KeyAlgorithm, LegalIdentityType, LegalPersonIdentifier, OrganizationName,
    SubjectName,
};
use crate::profile::{self, CertificateKind, ProfileId, UrlContext};
use crate::storage::Storage;
use der::{Decode, Encode};
use qtsp_hsm::{Hsm, KeyId, KeyRef, KeySpec};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The default ceremony, built into the binary.
pub const DEFAULT_HIERARCHY: &str = include_str!("../../policies/hierarchy.toml");
/// The ceremony file format this build reads.
pub const HIERARCHY_VERSION: u32 = 1;

/// Why the ceremony stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CeremonyError {
    #[error("CER001 the ceremony file is invalid: {0}")]
    Parse(String),
    #[error(
        "CER002 ceremony file version {found} is not supported (this qtsp reads {HIERARCHY_VERSION})"
    )]
    Version { found: u32 },
    #[error("CER003 `{entity}`: {problem}")]
    Invalid { entity: String, problem: String },
    #[error(
        "CER004 {path} does not certify the HSM key qtsp-{entity}: the token and the data directory \
         come from different ceremonies; restore the matching pair"
    )]
    KeyMismatch { entity: String, path: PathBuf },
    #[error("CER005 cannot write or read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Ca(#[from] CaError),
}

impl From<qtsp_hsm::HsmError> for CeremonyError {
    fn from(error: qtsp_hsm::HsmError) -> Self {
        Self::Ca(CaError::Hsm(error))
    }
}

impl From<crate::audit::AuditError> for CeremonyError {
    fn from(error: crate::audit::AuditError) -> Self {
        Self::Ca(CaError::Audit(error))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HierarchyFile {
    version: u32,
    ceremony: String,
    purpose: String,
    root: EntityFile,
    #[serde(default)]
    issued: Vec<EntityFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntityFile {
    name: String,
    #[serde(default)]
    issuer: Option<String>,
    profile: String,
    key: String,
    validity_days: u32,
    country: String,
    organization: String,
    #[serde(default)]
    organization_identifier: Option<String>,
    common_name: String,
}

/// One key and certificate of the hierarchy, checked.
#[derive(Debug, Clone)]
pub struct Entity {
    pub name: String,
    pub issuer: Option<String>,
    pub profile: ProfileId,
    pub key: KeySpec,
    pub validity: time::Duration,
    pub subject: SubjectName,
}

impl Entity {
    /// CKA_ID and CKA_LABEL of the entity's key.
    pub fn key_label(&self) -> String {
        format!("qtsp-{}", self.name)
    }

    pub fn key_id(&self) -> Result<KeyId, qtsp_hsm::HsmError> {
        KeyId::new(self.key_label().as_bytes())
    }

    fn purpose(&self) -> KeyPurpose {
        match self.profile {
            ProfileId::Tsu => KeyPurpose::TimeStamping,
            ProfileId::OcspResponder => KeyPurpose::OcspSigning,
            ProfileId::AuditCheckpointSigner => KeyPurpose::AuditCheckpoint,
            _ => KeyPurpose::CaSigning,
        }
    }
}

/// The ceremony: root first, then each issued entity after its issuer.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    pub ceremony: String,
    pub purpose: String,
    pub entities: Vec<Entity>,
}

impl Hierarchy {
    /// Parses and checks a ceremony file.
    pub fn parse(text: &str) -> Result<Self, CeremonyError> {
        let file: HierarchyFile =
            toml::from_str(text).map_err(|e| CeremonyError::Parse(e.to_string()))?;
        if file.version != HIERARCHY_VERSION {
            return Err(CeremonyError::Version {
                found: file.version,
            });
        }
        let mut entities = Vec::with_capacity(1 + file.issued.len());
        let mut seen = BTreeMap::new();
        for (index, raw) in std::iter::once(&file.root).chain(&file.issued).enumerate() {
            let entity = check_entity(raw, index == 0)?;
            if let Some(issuer) = &entity.issuer
                && !seen.contains_key(issuer)
            {
                return Err(invalid(
                    &entity.name,
                    format!("issuer `{issuer}` must be listed before it"),
                ));
            }
            if seen.insert(entity.name.clone(), entity.profile).is_some() {
                return Err(invalid(&entity.name, "listed twice"));
            }
            entities.push(entity);
        }
        Ok(Self {
            ceremony: file.ceremony,
            purpose: file.purpose,
            entities,
        })
    }

    /// The default hierarchy shipped with qtsp.
    pub fn default_hierarchy() -> Result<Self, CeremonyError> {
        Self::parse(DEFAULT_HIERARCHY)
    }

    pub fn entity(&self, name: &str) -> Option<&Entity> {
        self.entities.iter().find(|e| e.name == name)
    }
}

fn invalid(entity: &str, problem: impl Into<String>) -> CeremonyError {
    CeremonyError::Invalid {
        entity: entity.to_owned(),
        problem: problem.into(),
    }
}

fn check_entity(raw: &EntityFile, is_root: bool) -> Result<Entity, CeremonyError> {
    let name = &raw.name;
    let short = !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !short {
        return Err(invalid(name, "names use 1 to 40 of [a-z0-9-]"));
    }
    let profile_id =
        ProfileId::from_name(&raw.profile).map_err(|e| invalid(name, e.to_string()))?;
    let profile = profile::builtin(profile_id).map_err(|e| invalid(name, e.to_string()))?;
    match (is_root, &raw.issuer, profile.kind) {
        (true, None, CertificateKind::RootCa) => {}
        (true, _, _) => {
            return Err(invalid(
                name,
                "the root has no issuer and the root-ca profile",
            ));
        }
        (false, Some(_), kind) if kind != CertificateKind::RootCa => {}
        (false, _, _) => return Err(invalid(name, "names its issuer and is not a root")),
    }
    let key = match raw.key.as_str() {
        "ec-p256" => KeySpec::EcP256,
        "ec-p384" => KeySpec::EcP384,
        "rsa-2048" => KeySpec::Rsa2048,
        "rsa-3072" => KeySpec::Rsa3072,
        other => return Err(invalid(name, format!("unknown key type `{other}`"))),
    };
    let key_algorithm = key_algorithm(key);
    if !profile.subject_keys.contains(&key_algorithm) {
        return Err(invalid(
            name,
            format!("profile {} does not allow {} keys", profile.name, raw.key),
        ));
    }
    let validity = time::Duration::days(i64::from(raw.validity_days));
    if raw.validity_days == 0 || validity > profile.validity {
        return Err(invalid(
            name,
            format!(
                "validity_days must be 1 to {} for profile {}",
                profile.validity.whole_days(),
                profile.name
            ),
        ));
    }
    let country = CountryCode::new(&raw.country).map_err(|e| invalid(name, e.to_string()))?;
    let identifier = match &raw.organization_identifier {
        None => None,
        Some(text) => Some(parse_legal_identifier(text).map_err(|e| invalid(name, e))?),
    };
    let subject = SubjectName::Organization(
        OrganizationName::new(country, &raw.organization, identifier, &raw.common_name)
            .map_err(|e| invalid(name, e.to_string()))?,
    );
    Ok(Entity {
        name: name.clone(),
        issuer: raw.issuer.clone(),
        profile: profile_id,
        key,
        validity,
        subject,
    })
}

/// `NTRFR-123456789` and the like (EN 319 412-1 clause 5.1.4).
fn parse_legal_identifier(text: &str) -> Result<LegalPersonIdentifier, String> {
    let (head, reference) = text
        .split_once('-')
        .ok_or_else(|| format!("`{text}` is not TYPE + country + '-' + reference"))?;
    if head.len() != 5 {
        return Err(format!("`{text}` is not TYPE + country + '-' + reference"));
    }
    let (kind, country) = head.split_at(3);
    let kind = match kind {
        "NTR" => LegalIdentityType::NationalTradeRegister,
        "VAT" => LegalIdentityType::Vat,
        "PSD" => LegalIdentityType::Psd,
        "LEI" => LegalIdentityType::Lei,
        other => return Err(format!("unknown identifier type `{other}`")),
    };
    let country = CountryCode::new(country).map_err(|e| e.to_string())?;
    LegalPersonIdentifier::new(kind, country, reference).map_err(|e| e.to_string())
}

fn key_algorithm(spec: KeySpec) -> KeyAlgorithm {
    match spec {
        KeySpec::EcP256 => KeyAlgorithm::EcP256,
        KeySpec::EcP384 => KeyAlgorithm::EcP384,
        KeySpec::Rsa2048 => KeyAlgorithm::Rsa { bits: 2048 },
        _ => KeyAlgorithm::Rsa { bits: 3072 },
    }
}

/// Where the ceremony writes, and the URLs it puts in certificates.
#[derive(Debug, Clone)]
pub struct CeremonySettings {
    pub certs_dir: PathBuf,
    pub public_base_url: String,
    pub pds_base_url: String,
    pub actor: String,
}

/// What the ceremony did for each entity.
#[derive(Debug, Default)]
pub struct CeremonyReport {
    pub keys_generated: Vec<String>,
    pub certificates_issued: Vec<String>,
    pub already_present: Vec<String>,
}

/// A certificate of the hierarchy, as the services load it.
#[derive(Debug, Clone)]
pub struct HierarchyMember {
    pub entity: Entity,
    pub key: KeyRef,
    pub certificate_der: Vec<u8>,
}

/// Paths of an entity's certificate files.
pub fn certificate_paths(certs_dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        certs_dir.join(format!("{name}.crt")),
        certs_dir.join(format!("{name}.pem")),
    )
}

/// Runs the ceremony: every missing key is generated, every missing certificate issued.
pub async fn run(
    hierarchy: &Hierarchy,
    settings: &CeremonySettings,
    hsm: &Hsm,
    storage: &Storage,
    journal: &Journal,
    clock: &SharedClock,
) -> Result<(CeremonyReport, Vec<HierarchyMember>), CeremonyError> {
    let mut report = CeremonyReport::default();
    std::fs::create_dir_all(&settings.certs_dir).map_err(|source| CeremonyError::Io {
        path: settings.certs_dir.clone(),
        source,
    })?;

    // First look: is anything missing? A complete hierarchy writes nothing, not even to the journal.
    let mut missing = false;
    for entity in &hierarchy.entities {
        let (der_path, _) = certificate_paths(&settings.certs_dir, &entity.name);
        if hsm.find_key(&entity.key_id()?).await?.is_none() || !der_path.exists() {
            missing = true;
        }
    }
    if missing {
        journal
            .append(
                &AuditEvent::CeremonyStarted {
                    ceremony: hierarchy.ceremony.clone(),
                    purpose: hierarchy.purpose.clone(),
                    participants: vec![settings.actor.clone()],
                },
                &settings.actor,
            )
            .await?;
    }
    let result = run_steps(
        hierarchy,
        settings,
        hsm,
        storage,
        journal,
        clock,
        &mut report,
    )
    .await;
    if missing {
        let (outcome, detail) = match &result {
            Ok(_) => (CeremonyOutcome::Completed, None),
            Err(error) => (CeremonyOutcome::Aborted, Some(error.to_string())),
        };
        journal
            .append(
                &AuditEvent::CeremonyCompleted {
                    ceremony: hierarchy.ceremony.clone(),
                    outcome,
                    detail,
                },
                &settings.actor,
            )
            .await?;
    }
    result.map(|members| (report, members))
}

async fn run_steps(
    hierarchy: &Hierarchy,
    settings: &CeremonySettings,
    hsm: &Hsm,
    storage: &Storage,
    journal: &Journal,
    clock: &SharedClock,
    report: &mut CeremonyReport,
) -> Result<Vec<HierarchyMember>, CeremonyError> {
    let mut members: Vec<HierarchyMember> = Vec::new();
    for entity in &hierarchy.entities {
        let key = ensure_key(entity, hsm, journal, &settings.actor, report).await?;
        let spki = hsm.public_key_spki(&key).await?;
        let (der_path, pem_path) = certificate_paths(&settings.certs_dir, &entity.name);
        let certificate_der = if der_path.exists() {
            let der = std::fs::read(&der_path).map_err(|source| CeremonyError::Io {
                path: der_path.clone(),
                source,
            })?;
            if certificate_spki(&der).as_deref() != Some(spki.as_slice()) {
                return Err(CeremonyError::KeyMismatch {
                    entity: entity.name.clone(),
                    path: der_path,
                });
            }
            report.already_present.push(entity.name.clone());
            der
        } else {
            let issuer_ca = match &entity.issuer {
                None => CertificateAuthority::self_signing(
                    &entity.name,
                    key.clone(),
                    &entity.subject,
                    &spki,
                    url_context(settings, &entity.name)?,
                    hsm.clone(),
                    storage.clone(),
                    journal.clone(),
                    clock.clone(),
                )?,
                Some(issuer) => {
                    let member = members
                        .iter()
                        .find(|m| &m.entity.name == issuer)
                        .ok_or_else(|| invalid(&entity.name, "issuer not yet certified"))?;
                    CertificateAuthority::new(
                        issuer,
                        member.key.clone(),
                        &member.certificate_der,
                        url_context(settings, issuer)?,
                        hsm.clone(),
                        storage.clone(),
                        journal.clone(),
                        clock.clone(),
                    )?
                }
            };
            let profile = profile::builtin(entity.profile).map_err(CaError::from)?;
            let now = clock.now();
            // Second precision, as in the certificate; a minute back so that clients whose clocks lag
            // a little do not see a certificate from the future.
            let not_before = now.replace_nanosecond(0).unwrap_or(now) - time::Duration::minutes(1);
            let mut not_after = not_before + entity.validity - time::Duration::seconds(1);
            if let Some(member) = entity
                .issuer
                .as_ref()
                .and_then(|i| members.iter().find(|m| &m.entity.name == i))
                && let Some(issuer_not_after) = certificate_not_after(&member.certificate_der)
            {
                not_after = not_after.min(issuer_not_after);
            }
            let prepared = issuer_ca
                .prepare(&IssuanceRequest {
                    profile,
                    subject: &entity.subject,
                    subject_spki_der: &spki,
                    not_before,
                    not_after,
                    actor: &settings.actor,
                })
                .await?;
            let issued = issuer_ca.issue(prepared).await?;
            write_certificate(&der_path, &pem_path, &issued.der)?;
            report.certificates_issued.push(entity.name.clone());
            issued.der
        };
        members.push(HierarchyMember {
            entity: entity.clone(),
            key,
            certificate_der,
        });
    }
    Ok(members)
}

async fn ensure_key(
    entity: &Entity,
    hsm: &Hsm,
    journal: &Journal,
    actor: &str,
    report: &mut CeremonyReport,
) -> Result<KeyRef, CeremonyError> {
    let id = entity.key_id()?;
    if let Some(key) = hsm.find_key(&id).await? {
        return Ok(key);
    }
    let generated = hsm
        .generate_key_pair(entity.key, &entity.key_label(), &id)
        .await?;
    journal
        .append(
            &AuditEvent::KeyGenerated {
                key_label: entity.key_label(),
                key_id_hex: id.to_hex(),
                algorithm: entity.key.name().to_owned(),
                purpose: entity.purpose(),
                spki_sha256: Sha256::digest(&generated.spki_der).into(),
            },
            actor,
        )
        .await?;
    report.keys_generated.push(entity.key_label());
    Ok(generated.key)
}

fn url_context(settings: &CeremonySettings, ca: &str) -> Result<UrlContext, CaError> {
    Ok(UrlContext::new(
        &settings.public_base_url,
        &settings.pds_base_url,
        ca,
    )?)
}

fn certificate_spki(der: &[u8]) -> Option<Vec<u8>> {
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    cert.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .ok()
}

fn certificate_not_after(der: &[u8]) -> Option<time::OffsetDateTime> {
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let system_time = cert.tbs_certificate().validity().not_after.to_system_time();
    Some(time::OffsetDateTime::from(system_time))
}

/// Writes DER and PEM, each to a temporary file renamed into place (never half a certificate).
fn write_certificate(der_path: &Path, pem_path: &Path, der: &[u8]) -> Result<(), CeremonyError> {
    let pem = pem_encode("CERTIFICATE", der);
    if pem.is_empty() {
        return Err(CeremonyError::Io {
            path: pem_path.to_owned(),
            source: std::io::Error::other("PEM encoding failed"),
        });
    }
    for (path, bytes) in [(pem_path, pem.as_bytes()), (der_path, der)] {
        let tmp = path.with_extension("tmp");
        let io = |source| CeremonyError::Io {
            path: path.to_owned(),
            source,
        };
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
    }
    Ok(())
}

/// RFC 7468 textual encoding of a certificate.
pub fn pem_encode(label: &'static str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn default_hierarchy_parses() {
        let h = Hierarchy::default_hierarchy().unwrap();
        assert_eq!(h.entities[0].name, "root");
        assert!(h.entity("qualified-ca").is_some());
        assert!(h.entity("tsu").is_some());
        assert!(h.entity("qualified-ca-ocsp").is_some());
        assert!(h.entity("audit").is_some());
        // Each CA has its delegated OCSP responder.
        let root_ocsp = h.entity("root-ocsp").unwrap();
        assert_eq!(root_ocsp.issuer.as_deref(), Some("root"));
        assert_eq!(root_ocsp.profile, ProfileId::OcspResponder);
    }

    #[test]
    fn mistakes_are_named() {
        let base = DEFAULT_HIERARCHY;
        let err = Hierarchy::parse(&base.replace("version = 1", "version = 2")).unwrap_err();
        assert!(err.to_string().starts_with("CER002"), "{err}");
        let err =
            Hierarchy::parse(&base.replace("issuer = \"root\"", "issuer = \"tsu\"")).unwrap_err();
        assert!(err.to_string().contains("listed before"), "{err}");
        let err = Hierarchy::parse(&base.replacen("key = \"ec-p256\"", "key = \"ed25519\"", 1))
            .unwrap_err();
        assert!(err.to_string().contains("unknown key type"), "{err}");
        let err = Hierarchy::parse(&base.replace("validity_days = 90", "validity_days = 99999"))
            .unwrap_err();
        assert!(err.to_string().contains("validity_days"), "{err}");
        let err = Hierarchy::parse(&format!("{base}\nsurprise = 1\n")).unwrap_err();
        assert!(err.to_string().starts_with("CER001"), "{err}");
    }
}

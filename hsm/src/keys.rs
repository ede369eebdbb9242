//! Key identities, key specifications, templates and token look-ups.
//!
//! Everything here runs on a worker thread against a logged-in session; the async API lives in
//! [`crate::pool`].

use std::fmt;
use std::sync::Arc;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState};
use cryptoki::types::Ulong;
use der::Encode;

use crate::error::{HsmError, Result};
use crate::spki;

/// `CKA_ID` of a key: the stable name qtsp stores in its database. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(Arc<[u8]>);

impl KeyId {
    /// Longest CKA_ID accepted.
    pub const MAX_LEN: usize = 64;

    /// A key id from raw bytes (1 to [`Self::MAX_LEN`] bytes).
    pub fn new(bytes: impl AsRef<[u8]>) -> Result<Self> {
        let bytes = bytes.as_ref();
        if bytes.is_empty() || bytes.len() > Self::MAX_LEN {
            return Err(HsmError::InvalidArgument(format!(
                "a CKA_ID must have 1 to {} bytes, got {}",
                Self::MAX_LEN,
                bytes.len()
            )));
        }
        Ok(Self(Arc::from(bytes)))
    }

    /// A key id from its lowercase or uppercase hexadecimal form.
    pub fn from_hex(hex_id: &str) -> Result<Self> {
        let bytes = hex::decode(hex_id)
            .map_err(|e| HsmError::InvalidArgument(format!("CKA_ID is not hexadecimal: {e}")))?;
        Self::new(bytes)
    }

    /// For ids built internally whose length is known to be in range.
    pub(crate) fn from_vec_in_range(bytes: Vec<u8>) -> Self {
        debug_assert!(!bytes.is_empty() && bytes.len() <= Self::MAX_LEN);
        Self(bytes.into())
    }

    /// The raw bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Lowercase hexadecimal form (how ids appear in logs and errors).
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.to_hex())
    }
}

/// A key on the token: its `CKA_ID` (what operations use) and its `CKA_LABEL` (for humans).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRef {
    /// `CKA_ID`, shared by the private and the public half.
    pub id: KeyId,
    /// `CKA_LABEL`.
    pub label: String,
}

/// The key types qtsp creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeySpec {
    /// ECDSA on NIST P-256 (secp256r1).
    EcP256,
    /// ECDSA on NIST P-384 (secp384r1).
    EcP384,
    /// RSA, 2048-bit modulus, public exponent 65537.
    Rsa2048,
    /// RSA, 3072-bit modulus, public exponent 65537.
    Rsa3072,
}

impl KeySpec {
    /// Every supported spec.
    pub const ALL: [KeySpec; 4] = [Self::EcP256, Self::EcP384, Self::Rsa2048, Self::Rsa3072];

    /// The elliptic curve, for EC specs.
    #[must_use]
    pub fn curve(self) -> Option<EcCurve> {
        match self {
            Self::EcP256 => Some(EcCurve::P256),
            Self::EcP384 => Some(EcCurve::P384),
            Self::Rsa2048 | Self::Rsa3072 => None,
        }
    }

    /// The RSA modulus size in bits, for RSA specs.
    #[must_use]
    pub fn rsa_bits(self) -> Option<u64> {
        match self {
            Self::Rsa2048 => Some(2048),
            Self::Rsa3072 => Some(3072),
            Self::EcP256 | Self::EcP384 => None,
        }
    }

    /// Short stable name (`ec-p256`, `rsa-2048`...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::EcP256 => "ec-p256",
            Self::EcP384 => "ec-p384",
            Self::Rsa2048 => "rsa-2048",
            Self::Rsa3072 => "rsa-3072",
        }
    }

    pub(crate) fn key_type(self) -> KeyType {
        match self {
            Self::EcP256 | Self::EcP384 => KeyType::EC,
            Self::Rsa2048 | Self::Rsa3072 => KeyType::RSA,
        }
    }

    pub(crate) fn keygen_mechanism(self) -> Mechanism<'static> {
        match self {
            Self::EcP256 | Self::EcP384 => Mechanism::EccKeyPairGen,
            Self::Rsa2048 | Self::Rsa3072 => Mechanism::RsaPkcsKeyPairGen,
        }
    }

    /// The attributes that define the key itself (curve or modulus size), for the public template.
    pub(crate) fn domain_attributes(self) -> Result<Vec<Attribute>> {
        Ok(match (self.curve(), self.rsa_bits()) {
            (Some(curve), _) => vec![Attribute::EcParams(curve.oid().to_der()?)],
            (None, Some(bits)) => vec![
                Attribute::ModulusBits(Ulong::from(bits)),
                Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
            ],
            (None, None) => {
                return Err(HsmError::UnsupportedKey(format!(
                    "no domain parameters for {}",
                    self.name()
                )));
            }
        })
    }

    pub(crate) fn matches_kind(self, kind: KeyKind) -> bool {
        match kind {
            KeyKind::Ec(curve) => self.curve() == Some(curve),
            KeyKind::Rsa { modulus_len } => self
                .rsa_bits()
                .is_some_and(|bits| bits == (modulus_len as u64) * 8),
            KeyKind::Aes { .. } => false,
        }
    }
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Named elliptic curves supported by qtsp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EcCurve {
    /// secp256r1.
    P256,
    /// secp384r1.
    P384,
}

impl EcCurve {
    /// The namedCurve OID.
    #[must_use]
    pub fn oid(self) -> const_oid::ObjectIdentifier {
        match self {
            Self::P256 => const_oid::db::rfc5912::SECP_256_R_1,
            Self::P384 => const_oid::db::rfc5912::SECP_384_R_1,
        }
    }

    /// Field (and scalar) size in bytes: r and s each have this width in a raw signature.
    #[must_use]
    pub fn field_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
        }
    }

    fn from_ec_params(params: &[u8]) -> Result<Self> {
        use der::Decode;
        let oid = const_oid::ObjectIdentifier::from_der(params).map_err(|e| {
            HsmError::UnsupportedKey(format!(
                "CKA_EC_PARAMS is not a namedCurve OID ({e}); implicit or explicit curves are not supported"
            ))
        })?;
        [Self::P256, Self::P384]
            .into_iter()
            .find(|c| c.oid() == oid)
            .ok_or_else(|| HsmError::UnsupportedKey(format!("curve {oid} is not supported")))
    }
}

/// What a key object is, as far as signing cares. Read once per key and cached by the worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Ec(EcCurve),
    Rsa { modulus_len: usize },
    Aes { value_len: usize },
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ec(EcCurve::P256) => f.write_str("an EC P-256 key"),
            Self::Ec(EcCurve::P384) => f.write_str("an EC P-384 key"),
            Self::Rsa { modulus_len } => write!(f, "an RSA-{} key", modulus_len * 8),
            Self::Aes { value_len } => write!(f, "an AES-{} key", value_len * 8),
        }
    }
}

/// A token key pair that was just generated.
#[derive(Clone, Debug)]
pub struct GeneratedKey {
    /// How to refer to it later.
    pub key: KeyRef,
    /// DER SubjectPublicKeyInfo of the public half.
    pub spki_der: Vec<u8>,
}

/// Security attributes of a private key, read back from the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // mirrors the PKCS#11 boolean attributes one to one
pub struct PrivateKeyAttributes {
    /// CKA_TOKEN.
    pub token: bool,
    /// CKA_PRIVATE.
    pub private: bool,
    /// CKA_SENSITIVE.
    pub sensitive: bool,
    /// CKA_EXTRACTABLE.
    pub extractable: bool,
    /// CKA_ALWAYS_SENSITIVE.
    pub always_sensitive: bool,
    /// CKA_NEVER_EXTRACTABLE.
    pub never_extractable: bool,
    /// CKA_SIGN.
    pub sign: bool,
}

/// Object classes looked up by CKA_ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Class {
    Private,
    Public,
    Secret,
}

impl Class {
    pub(crate) fn object_class(self) -> ObjectClass {
        match self {
            Self::Private => ObjectClass::PRIVATE_KEY,
            Self::Public => ObjectClass::PUBLIC_KEY,
            Self::Secret => ObjectClass::SECRET_KEY,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Private => "private key",
            Self::Public => "public key",
            Self::Secret => "secret key",
        }
    }
}

/// Template of a token private key: never leaves the token, only signs.
pub(crate) fn token_private_template(spec: KeySpec, id: &KeyId, label: &str) -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::SignRecover(false),
        Attribute::Decrypt(false),
        Attribute::Unwrap(false),
        Attribute::Derive(false),
        Attribute::KeyType(spec.key_type()),
        Attribute::Id(id.as_bytes().to_vec()),
        Attribute::Label(label.as_bytes().to_vec()),
    ]
}

/// Template of a token public key.
pub(crate) fn token_public_template(
    spec: KeySpec,
    id: &KeyId,
    label: &str,
) -> Result<Vec<Attribute>> {
    let mut t = vec![
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Verify(true),
        Attribute::Encrypt(false),
        Attribute::Wrap(false),
        Attribute::Derive(false),
        Attribute::KeyType(spec.key_type()),
        Attribute::Id(id.as_bytes().to_vec()),
        Attribute::Label(label.as_bytes().to_vec()),
    ];
    t.extend(spec.domain_attributes()?);
    Ok(t)
}

/// All token objects of `class` with this CKA_ID.
pub(crate) fn find_token_objects(
    session: &Session,
    class: Class,
    id: &KeyId,
) -> Result<Vec<ObjectHandle>> {
    let found = session
        .find_objects(&[
            Attribute::Class(class.object_class()),
            Attribute::Token(true),
            Attribute::Id(id.as_bytes().to_vec()),
        ])
        .map_err(HsmError::pkcs11("C_FindObjects"))?;
    if found.is_empty() {
        ensure_logged_in(session)?;
    }
    Ok(found)
}

/// An empty search in a session that lost its login is not an answer (private objects are
/// invisible then): report it as CKR_USER_NOT_LOGGED_IN so that the worker logs in again.
fn ensure_logged_in(session: &Session) -> Result<()> {
    let state = session
        .get_session_info()
        .map_err(HsmError::pkcs11("C_GetSessionInfo"))?
        .session_state();
    if matches!(state, SessionState::RoPublic | SessionState::RwPublic) {
        return Err(HsmError::Pkcs11 {
            operation: "C_FindObjects",
            source: cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::UserNotLoggedIn,
                cryptoki::context::Function::FindObjects,
            ),
        });
    }
    Ok(())
}

/// The single token object of `class` with this CKA_ID, if any.
pub(crate) fn find_one(
    session: &Session,
    class: Class,
    id: &KeyId,
) -> Result<Option<ObjectHandle>> {
    let mut found = find_token_objects(session, class, id)?;
    match found.len() {
        0 | 1 => Ok(found.pop()),
        count => Err(HsmError::KeyAmbiguous {
            id: id.clone(),
            class: class.name(),
            count,
        }),
    }
}

/// Like [`find_one`] but a missing key is an error.
pub(crate) fn require_one(session: &Session, class: Class, id: &KeyId) -> Result<ObjectHandle> {
    find_one(session, class, id)?.ok_or_else(|| HsmError::KeyNotFound {
        id: id.clone(),
        class: class.name(),
    })
}

/// Reads what kind of key `handle` is (type and size).
pub(crate) fn read_kind(session: &Session, handle: ObjectHandle) -> Result<KeyKind> {
    let attrs = session
        .get_attributes(handle, &[AttributeType::KeyType])
        .map_err(HsmError::pkcs11("C_GetAttributeValue"))?;
    let key_type = attrs
        .iter()
        .find_map(|a| match a {
            Attribute::KeyType(t) => Some(*t),
            _ => None,
        })
        .ok_or_else(|| HsmError::UnsupportedKey("object has no CKA_KEY_TYPE".into()))?;
    if key_type == KeyType::EC {
        let params = get_bytes(session, handle, AttributeType::EcParams)?;
        Ok(KeyKind::Ec(EcCurve::from_ec_params(&params)?))
    } else if key_type == KeyType::RSA {
        let modulus = get_bytes(session, handle, AttributeType::Modulus)?;
        let significant = modulus.iter().skip_while(|b| **b == 0).count();
        Ok(KeyKind::Rsa {
            modulus_len: significant,
        })
    } else if key_type == KeyType::AES {
        let attrs = session
            .get_attributes(handle, &[AttributeType::ValueLen])
            .map_err(HsmError::pkcs11("C_GetAttributeValue"))?;
        let value_len = attrs
            .iter()
            .find_map(|a| match a {
                Attribute::ValueLen(l) => Some(usize::from(*l)),
                _ => None,
            })
            .ok_or_else(|| HsmError::UnsupportedKey("AES key without CKA_VALUE_LEN".into()))?;
        Ok(KeyKind::Aes { value_len })
    } else {
        Err(HsmError::UnsupportedKey(format!("key type {key_type}")))
    }
}

/// One byte-string attribute; absent or unreadable is an error.
pub(crate) fn get_bytes(
    session: &Session,
    handle: ObjectHandle,
    which: AttributeType,
) -> Result<Vec<u8>> {
    let attrs = session
        .get_attributes(handle, &[which])
        .map_err(HsmError::pkcs11("C_GetAttributeValue"))?;
    attrs
        .into_iter()
        .find(|a| a.attribute_type() == which)
        .and_then(|a| match a {
            Attribute::EcParams(v)
            | Attribute::EcPoint(v)
            | Attribute::Modulus(v)
            | Attribute::PublicExponent(v)
            | Attribute::Label(v)
            | Attribute::Id(v) => Some(v),
            _ => None,
        })
        .ok_or_else(|| HsmError::UnsupportedKey(format!("attribute {which} is not available")))
}

/// Reads the boolean attributes listed, in order; a missing one is an error.
pub(crate) fn get_bools(
    session: &Session,
    handle: ObjectHandle,
    which: &[AttributeType],
) -> Result<Vec<bool>> {
    let attrs = session
        .get_attributes(handle, which)
        .map_err(HsmError::pkcs11("C_GetAttributeValue"))?;
    which
        .iter()
        .map(|t| {
            attrs
                .iter()
                .find(|a| a.attribute_type() == *t)
                .and_then(bool_value)
                .ok_or_else(|| HsmError::UnsupportedKey(format!("attribute {t} is not available")))
        })
        .collect()
}

fn bool_value(a: &Attribute) -> Option<bool> {
    Some(match a {
        Attribute::Token(b)
        | Attribute::Private(b)
        | Attribute::Sensitive(b)
        | Attribute::Extractable(b)
        | Attribute::AlwaysSensitive(b)
        | Attribute::NeverExtractable(b)
        | Attribute::Sign(b)
        | Attribute::Trusted(b)
        | Attribute::Wrap(b)
        | Attribute::Unwrap(b)
        | Attribute::Encrypt(b)
        | Attribute::Decrypt(b)
        | Attribute::WrapWithTrusted(b)
        | Attribute::Modifiable(b)
        | Attribute::Derive(b) => *b,
        _ => return None,
    })
}

/// The label of a token object.
pub(crate) fn read_label(session: &Session, handle: ObjectHandle) -> Result<String> {
    match get_bytes(session, handle, AttributeType::Label) {
        Ok(raw) => Ok(String::from_utf8_lossy(&raw).into_owned()),
        // An object without a label has the empty label.
        Err(HsmError::UnsupportedKey(_)) => Ok(String::new()),
        Err(e) => Err(e),
    }
}

/// Reads the security attributes of a private key.
pub(crate) fn read_private_attributes(
    session: &Session,
    handle: ObjectHandle,
) -> Result<PrivateKeyAttributes> {
    let v = get_bools(
        session,
        handle,
        &[
            AttributeType::Token,
            AttributeType::Private,
            AttributeType::Sensitive,
            AttributeType::Extractable,
            AttributeType::AlwaysSensitive,
            AttributeType::NeverExtractable,
            AttributeType::Sign,
        ],
    )?;
    match v.as_slice() {
        [
            token,
            private,
            sensitive,
            extractable,
            always_sensitive,
            never_extractable,
            sign,
        ] => Ok(PrivateKeyAttributes {
            token: *token,
            private: *private,
            sensitive: *sensitive,
            extractable: *extractable,
            always_sensitive: *always_sensitive,
            never_extractable: *never_extractable,
            sign: *sign,
        }),
        _ => Err(HsmError::UnsupportedKey(
            "private key attributes incomplete".into(),
        )),
    }
}

/// DER SubjectPublicKeyInfo of a public key object.
pub(crate) fn public_key_spki(session: &Session, public: ObjectHandle) -> Result<Vec<u8>> {
    match read_kind(session, public)? {
        KeyKind::Ec(curve) => {
            let point = get_bytes(session, public, AttributeType::EcPoint)?;
            spki::ec_spki(curve, &point)
        }
        KeyKind::Rsa { .. } => {
            let modulus = get_bytes(session, public, AttributeType::Modulus)?;
            let exponent = get_bytes(session, public, AttributeType::PublicExponent)?;
            spki::rsa_spki(&modulus, &exponent)
        }
        kind @ KeyKind::Aes { .. } => Err(HsmError::UnsupportedKey(format!(
            "{kind} has no public key"
        ))),
    }
}

impl crate::Hsm {
    /// Generates a key pair on the token.
    ///
    /// The private key is CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE and may only
    /// sign; both halves carry `id` as CKA_ID and `label` as CKA_LABEL. Refused with
    /// [`HsmError::KeyExists`] if any token object already has this CKA_ID (checked with exclusive
    /// access to token objects in this process; CKA_IDs are allocated by qtsp's database, which
    /// keeps them unique across processes).
    pub async fn generate_key_pair(
        &self,
        spec: KeySpec,
        label: &str,
        id: &KeyId,
    ) -> Result<GeneratedKey> {
        if label.is_empty() || label.len() > 128 {
            return Err(HsmError::InvalidArgument(
                "a key label must have 1 to 128 bytes".into(),
            ));
        }
        let id = id.clone();
        let label = label.to_owned();
        let private_template = token_private_template(spec, &id, &label);
        let public_template = token_public_template(spec, &id, &label)?;
        let generated = self
            .submit_exclusive(move |ctx| {
                let session = ctx.session()?;
                let existing = session
                    .find_objects(&[
                        Attribute::Token(true),
                        Attribute::Id(id.as_bytes().to_vec()),
                    ])
                    .map_err(HsmError::pkcs11("C_FindObjects"))?;
                if !existing.is_empty() {
                    return Err(HsmError::KeyExists { id: id.clone() });
                }
                let (public, private) = session
                    .generate_key_pair(
                        &spec.keygen_mechanism(),
                        &public_template,
                        &private_template,
                    )
                    .map_err(HsmError::pkcs11("C_GenerateKeyPair"))?;
                match public_key_spki(session, public) {
                    Ok(spki_der) => Ok(GeneratedKey {
                        key: KeyRef {
                            id: id.clone(),
                            label: label.clone(),
                        },
                        spki_der,
                    }),
                    Err(e) => {
                        // Do not leave a half-usable key behind.
                        let _ = session.destroy_object(private);
                        let _ = session.destroy_object(public);
                        Err(e)
                    }
                }
            })
            .await?;
        tracing::info!(
            key_id = %generated.key.id,
            label = %generated.key.label,
            spec = %spec,
            "key pair generated on the token"
        );
        Ok(generated)
    }

    /// The token private key with this CKA_ID, if there is one.
    pub async fn find_key(&self, id: &KeyId) -> Result<Option<KeyRef>> {
        let id = id.clone();
        self.submit(move |ctx| {
            let session = ctx.session()?;
            match find_one(session, Class::Private, &id)? {
                Some(handle) => Ok(Some(KeyRef {
                    id: id.clone(),
                    label: read_label(session, handle)?,
                })),
                None => Ok(None),
            }
        })
        .await
    }

    /// DER SubjectPublicKeyInfo of the key's public half, built from the token attributes.
    pub async fn public_key_spki(&self, key: &KeyRef) -> Result<Vec<u8>> {
        let id = key.id.clone();
        self.submit(move |ctx| {
            let session = ctx.session()?;
            let public = require_one(session, Class::Public, &id)?;
            public_key_spki(session, public)
        })
        .await
    }

    /// The security attributes of the key's private half, as the token reports them.
    pub async fn key_attributes(&self, key: &KeyRef) -> Result<PrivateKeyAttributes> {
        let id = key.id.clone();
        self.submit(move |ctx| {
            let session = ctx.session()?;
            let private = require_one(session, Class::Private, &id)?;
            read_private_attributes(session, private)
        })
        .await
    }

    /// Destroys both halves of the key pair (every token key object with this CKA_ID).
    pub async fn destroy_key(&self, key: &KeyRef) -> Result<()> {
        let id = key.id.clone();
        let destroyed = self
            .submit_exclusive(move |ctx| {
                let mut handles = Vec::new();
                {
                    let session = ctx.session()?;
                    for class in [Class::Private, Class::Public] {
                        handles.extend(find_token_objects(session, class, &id)?);
                    }
                }
                if handles.is_empty() {
                    return Err(HsmError::KeyNotFound {
                        id: id.clone(),
                        class: "key",
                    });
                }
                ctx.invalidate_key_caches();
                let session = ctx.session()?;
                for h in &handles {
                    session
                        .destroy_object(*h)
                        .map_err(HsmError::pkcs11("C_DestroyObject"))?;
                }
                Ok(handles.len())
            })
            .await?;
        tracing::info!(key_id = %key.id, label = %key.label, objects = destroyed, "key destroyed on the token");
        Ok(())
    }
}

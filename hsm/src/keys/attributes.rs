//! Reading token objects back: their kind, labels, boolean and byte-string attributes, the security
//! attributes of a private key and the SubjectPublicKeyInfo of a public key.

use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectHandle};
use cryptoki::session::Session;

use super::{EcCurve, KeyKind};
use crate::error::{HsmError, Result};
use crate::spki;

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

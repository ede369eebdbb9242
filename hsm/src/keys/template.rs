//! Templates of the token key pairs qtsp generates: what each half may do and how it is named.

use cryptoki::object::Attribute;

use super::{KeyId, KeySpec};
use crate::error::Result;

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

//! The async key operations of [`crate::Hsm`]: generate a token key pair, find it, read it back,
//! destroy it.

use super::attributes::{public_key_spki, read_label, read_private_attributes};
use super::lookup::{Class, ensure_id_free, find_one, find_token_objects, require_one};
use super::template::{token_private_template, token_public_template};
use super::{KeyId, KeyRef, KeySpec, PrivateKeyAttributes};
use crate::error::{HsmError, Result};

/// A token key pair that was just generated.
#[derive(Clone, Debug)]
pub struct GeneratedKey {
    /// How to refer to it later.
    pub key: KeyRef,
    /// DER SubjectPublicKeyInfo of the public half.
    pub spki_der: Vec<u8>,
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
                ensure_id_free(session, &id)?;
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

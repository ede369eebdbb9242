//! Signer keys kept outside the token, wrapped by a key-encryption key (KEK) that never leaves it.
//!
//! Facts about SoftHSM2 2.6.1 this design rests on (verified on this project's machines, see
//! `docs`/ARCHITECTURE.md "Keys"):
//!
//! * only the security officer (SO) may set CKA_TRUSTED; the SO can only create public objects;
//!   CKA_TRUSTED cannot be set afterwards. So the KEK is generated in an SO session with
//!   CKA_PRIVATE=false ("not private" only means visible: CKA_SENSITIVE=true and
//!   CKA_EXTRACTABLE=false mean its value can never be read), CKA_TRUSTED=true, CKA_WRAP and
//!   CKA_UNWRAP true, CKA_ENCRYPT and CKA_DECRYPT false.
//! * a signer key generated with CKA_WRAP_WITH_TRUSTED=true, CKA_SENSITIVE=true and
//!   CKA_EXTRACTABLE=true can be wrapped only under a trusted key (an untrusted AES key gets
//!   CKR_KEY_NOT_WRAPPABLE), with CKM_AES_KEY_WRAP_PAD (RFC 5649).
//! * the blob unwraps as a session object (CKA_TOKEN=false, CKA_EXTRACTABLE=false) that signs, and
//!   is destroyed right after the batch.
//!
//! PKCS#11 forbids the SO and the user to be logged in at the same time in one application, so
//! [`init_kek_as_security_officer`] runs before the user pool is started (`qtsp init`); the module
//! registry finalizes the module after it, and [`crate::Hsm::start`] initializes it again.

use std::fmt;
use std::sync::Arc;

use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::Ulong;

use crate::config::{HsmConfig, Pin};
use crate::error::{HsmError, Result};
use crate::keys::{self, Class, KeyId, KeyKind, KeyRef, KeySpec};
use crate::module;
use crate::sign::{self, SignMechanism, Signature};

/// AES-256.
const KEK_LEN: u64 = 32;

/// A signer's private key, wrapped under the KEK (CKM_AES_KEY_WRAP_PAD), plus its public key.
/// This is what qtsp stores in its database.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedSignerKey {
    /// The wrapped private key (AES-KWP of the PKCS#8 encoding, as produced by the token).
    pub wrapped: Vec<u8>,
    /// DER SubjectPublicKeyInfo of the key pair.
    pub spki_der: Vec<u8>,
    /// Key type.
    pub spec: KeySpec,
}

impl fmt::Debug for WrappedSignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedSignerKey")
            .field("spec", &self.spec)
            .field("wrapped_len", &self.wrapped.len())
            .field("spki_len", &self.spki_der.len())
            .finish()
    }
}

/// Destroys session objects when dropped, on every path. If a destruction fails, the worker's
/// session is closed and re-opened after the job (closing a session destroys its objects).
struct SessionObjects<'s> {
    session: &'s Session,
    handles: [Option<ObjectHandle>; 2],
    recycle: &'s std::cell::Cell<bool>,
}

impl<'s> SessionObjects<'s> {
    fn new(session: &'s Session, recycle: &'s std::cell::Cell<bool>) -> Self {
        Self {
            session,
            handles: [None, None],
            recycle,
        }
    }

    fn push(&mut self, handle: ObjectHandle) {
        if let Some(slot) = self.handles.iter_mut().find(|h| h.is_none()) {
            *slot = Some(handle);
        } else {
            // Never more than two: destroy right away rather than lose track of it.
            self.destroy(handle);
        }
    }

    fn destroy(&self, handle: ObjectHandle) {
        if let Err(e) = self.session.destroy_object(handle) {
            tracing::error!(
                error = %HsmError::pkcs11("C_DestroyObject")(e),
                "a session key could not be destroyed; the session will be closed to drop it"
            );
            self.recycle.set(true);
        }
    }
}

impl Drop for SessionObjects<'_> {
    fn drop(&mut self) {
        let handles = std::mem::take(&mut self.handles);
        for h in handles.into_iter().flatten() {
            self.destroy(h);
        }
    }
}

fn kek_template(label: &str, id: &KeyId) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(Ulong::from(KEK_LEN)),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Trusted(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Wrap(true),
        Attribute::Unwrap(true),
        Attribute::Encrypt(false),
        Attribute::Decrypt(false),
        Attribute::Sign(false),
        Attribute::Verify(false),
        Attribute::Derive(false),
        Attribute::Modifiable(false),
        Attribute::Id(id.as_bytes().to_vec()),
        Attribute::Label(label.as_bytes().to_vec()),
    ]
}

/// Checks that an existing KEK has exactly the properties a fresh one would have.
fn verify_kek(session: &Session, handle: ObjectHandle) -> Result<()> {
    match keys::read_kind(session, handle)? {
        KeyKind::Aes { value_len } if value_len as u64 == KEK_LEN => {}
        other => {
            return Err(HsmError::UnsupportedKey(format!(
                "the existing KEK is {other}, expected an AES-256 key"
            )));
        }
    }
    let wanted = [
        (AttributeType::Token, true),
        (AttributeType::Trusted, true),
        (AttributeType::Sensitive, true),
        (AttributeType::Extractable, false),
        (AttributeType::Wrap, true),
        (AttributeType::Unwrap, true),
        (AttributeType::Encrypt, false),
        (AttributeType::Decrypt, false),
    ];
    let types: Vec<AttributeType> = wanted.iter().map(|(t, _)| *t).collect();
    let got = keys::get_bools(session, handle, &types)?;
    for ((t, want), have) in wanted.iter().zip(got) {
        if *want != have {
            return Err(HsmError::UnsupportedKey(format!(
                "the existing KEK has {t}={have}, expected {want}"
            )));
        }
    }
    Ok(())
}

/// Creates the KEK as security officer, or returns it if it already exists (and is a proper KEK).
///
/// Runs before the user pool of this process is started: the SO and the user cannot be logged in
/// together in one application (an SO login while a pool of this process is running fails with
/// CKR_USER_ANOTHER_ALREADY_LOGGED_IN). When it returns, the SO is logged out, its session closed
/// and, unless something else in the process still uses the module, the module finalized.
pub async fn init_kek_as_security_officer(
    config: &HsmConfig,
    so_pin: &Pin,
    kek_label: &str,
    kek_id: &KeyId,
) -> Result<KeyRef> {
    if kek_label.is_empty() || kek_label.len() > 128 {
        return Err(HsmError::InvalidArgument(
            "a KEK label must have 1 to 128 bytes".into(),
        ));
    }
    let module_path = config.module.clone();
    let selector = config.token.clone();
    let so_pin = so_pin.clone();
    let label = kek_label.to_owned();
    let id = kek_id.clone();
    tokio::task::spawn_blocking(move || {
        let (module, slot, _) = module::acquire_token(&module_path, &selector)?;
        let session = module
            .ctx()
            .open_rw_session(slot)
            .map_err(HsmError::pkcs11("C_OpenSession"))?;
        match session.login(UserType::So, Some(&so_pin.to_auth_pin())) {
            Ok(()) => {}
            Err(Pkcs11Error::Pkcs11(rv, _)) => {
                return Err(HsmError::Login {
                    user: "security officer",
                    rv,
                });
            }
            Err(other) => return Err(HsmError::pkcs11("C_Login")(other)),
        }
        let result = {
            let _exclusive = module::TokenAccess::Exclusive.acquire();
            ensure_kek(&session, &label, &id)
        };
        if let Err(e) = session.logout() {
            tracing::warn!(error = %HsmError::pkcs11("C_Logout")(e), "SO logout failed");
        }
        if let Err(e) = session.close() {
            tracing::warn!(error = %HsmError::pkcs11("C_CloseSession")(e), "closing the SO session failed");
        }
        drop(module);
        result
    })
    .await
    .map_err(|_| HsmError::WorkerLost)?
}

fn ensure_kek(session: &Session, label: &str, id: &KeyId) -> Result<KeyRef> {
    if let Some(existing) = keys::find_one(session, Class::Secret, id)? {
        verify_kek(session, existing)?;
        let label = keys::read_label(session, existing)?;
        tracing::info!(kek_id = %id, label = %label, "KEK already present on the token");
        return Ok(KeyRef {
            id: id.clone(),
            label,
        });
    }
    keys::ensure_id_free(session, id)?;
    let handle = session
        .generate_key(&Mechanism::AesKeyGen, &kek_template(label, id))
        .map_err(HsmError::pkcs11("C_GenerateKey"))?;
    verify_kek(session, handle)?;
    tracing::info!(kek_id = %id, label = %label, "KEK generated on the token by the security officer");
    Ok(KeyRef {
        id: id.clone(),
        label: label.to_owned(),
    })
}

fn session_private_template(spec: KeySpec) -> Vec<Attribute> {
    vec![
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(true),
        Attribute::WrapWithTrusted(true),
        Attribute::Sign(true),
        Attribute::Decrypt(false),
        Attribute::Unwrap(false),
        Attribute::Derive(false),
        Attribute::KeyType(spec.key_type()),
    ]
}

fn session_public_template(spec: KeySpec) -> Result<Vec<Attribute>> {
    let mut t = vec![
        Attribute::Token(false),
        Attribute::Private(false),
        Attribute::Verify(true),
        Attribute::Encrypt(false),
        Attribute::Wrap(false),
        Attribute::KeyType(spec.key_type()),
    ];
    t.extend(spec.domain_attributes()?);
    Ok(t)
}

fn unwrap_template(spec: KeySpec) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(spec.key_type()),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Decrypt(false),
        Attribute::Unwrap(false),
        Attribute::Derive(false),
    ]
}

fn require_aes_kek(kek: &crate::pool::CachedKey, id: &KeyId) -> Result<()> {
    match kek.kind {
        KeyKind::Aes { .. } => Ok(()),
        other => Err(HsmError::UnsupportedKey(format!(
            "KEK {id} is {other}, expected an AES key"
        ))),
    }
}

fn mechanism_fits(spec: KeySpec, mech: SignMechanism) -> Result<()> {
    let ok = match mech {
        SignMechanism::Ecdsa(_) => spec.curve().is_some(),
        SignMechanism::RsaPkcs1v15(_) | SignMechanism::RsaPss(_) => spec.rsa_bits().is_some(),
    };
    if ok {
        Ok(())
    } else {
        Err(HsmError::UnsupportedMechanism {
            mechanism: mech.to_string(),
            key: format!("a wrapped {spec} key"),
        })
    }
}

impl crate::Hsm {
    /// Generates a signer key pair as session objects (sensitive, extractable only under a trusted
    /// key), wraps the private key under `kek` with CKM_AES_KEY_WRAP_PAD, destroys both session
    /// objects and returns the blob with the public key. Nothing about the key stays on the token.
    pub async fn generate_wrapped_signer_key(
        &self,
        spec: KeySpec,
        kek: &KeyRef,
    ) -> Result<WrappedSignerKey> {
        let kek_id = kek.id.clone();
        let private_template: Arc<[Attribute]> = session_private_template(spec).into();
        let public_template: Arc<[Attribute]> = session_public_template(spec)?.into();
        self.submit(move |ctx| {
            let kek = ctx.key(Class::Secret, &kek_id)?;
            require_aes_kek(&kek, &kek_id)?;
            let session = ctx.session()?;
            let mut objects = SessionObjects::new(session, ctx.recycle_flag());
            let (public, private) = session
                .generate_key_pair(
                    &spec.keygen_mechanism(),
                    &public_template,
                    &private_template,
                )
                .map_err(HsmError::pkcs11("C_GenerateKeyPair"))?;
            objects.push(public);
            objects.push(private);
            let spki_der = keys::public_key_spki(session, public)?;
            let wrapped = session
                .wrap_key(&Mechanism::AesKeyWrapPad, kek.handle, private)
                .map_err(HsmError::pkcs11("C_WrapKey"))?;
            drop(objects);
            Ok(WrappedSignerKey {
                wrapped,
                spki_der,
                spec,
            })
        })
        .await
    }

    /// In one worker job: unwraps the signer key under `kek` as a session object (CKA_TOKEN=false,
    /// CKA_SENSITIVE=true, CKA_EXTRACTABLE=false, CKA_SIGN=true), signs every digest, and destroys
    /// the object, whatever happens.
    pub async fn sign_with_wrapped_key(
        &self,
        kek: &KeyRef,
        key: &WrappedSignerKey,
        mech: SignMechanism,
        digests: Vec<Vec<u8>>,
    ) -> Result<Vec<Signature>> {
        mechanism_fits(key.spec, mech)?;
        sign::check_digests(mech, &digests)?;
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        if key.wrapped.is_empty() || !key.wrapped.len().is_multiple_of(8) {
            return Err(HsmError::BadWrappedKey(format!(
                "an AES-KWP blob is a non-empty multiple of 8 bytes, got {}",
                key.wrapped.len()
            )));
        }
        let kek_id = kek.id.clone();
        let spec = key.spec;
        let wrapped = key.wrapped.clone();
        let template: Arc<[Attribute]> = unwrap_template(spec).into();
        let raw = self
            .submit(move |ctx| {
                let kek = ctx.key(Class::Secret, &kek_id)?;
                require_aes_kek(&kek, &kek_id)?;
                let session = ctx.session()?;
                let mut objects = SessionObjects::new(session, ctx.recycle_flag());
                let handle = session
                    .unwrap_key(&Mechanism::AesKeyWrapPad, kek.handle, &wrapped, &template)
                    .map_err(|e| match e {
                        Pkcs11Error::Pkcs11(
                            RvError::WrappedKeyInvalid
                            | RvError::WrappedKeyLenRange
                            | RvError::EncryptedDataInvalid,
                            _,
                        ) => HsmError::BadWrappedKey(format!(
                            "the token refused the blob: {}",
                            HsmError::pkcs11("C_UnwrapKey")(e)
                        )),
                        other => HsmError::pkcs11("C_UnwrapKey")(other),
                    })?;
                objects.push(handle);
                let kind = keys::read_kind(session, handle)?;
                if !spec.matches_kind(kind) {
                    return Err(HsmError::BadWrappedKey(format!(
                        "the blob holds {kind}, the record says {spec}"
                    )));
                }
                let signatures = digests
                    .iter()
                    .map(|d| sign::sign_digest_with(session, handle, kind, mech, d))
                    .collect::<Result<Vec<_>>>();
                drop(objects);
                signatures
            })
            .await?;
        sign::finish_all(raw)
    }
}

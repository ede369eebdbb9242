//! Finding token objects by class and CKA_ID ([`Class`], [`find_one`], [`require_one`]), and
//! making sure a new key's CKA_ID is free ([`ensure_id_free`]).

use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState};

use super::KeyId;
use crate::error::{HsmError, Result};

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

/// Refuses with [`HsmError::KeyExists`] when any token object already carries this CKA_ID: a new
/// key must not share its id with anything on the token.
pub(crate) fn ensure_id_free(session: &Session, id: &KeyId) -> Result<()> {
    let existing = session
        .find_objects(&[
            Attribute::Token(true),
            Attribute::Id(id.as_bytes().to_vec()),
        ])
        .map_err(HsmError::pkcs11("C_FindObjects"))?;
    if existing.is_empty() {
        Ok(())
    } else {
        Err(HsmError::KeyExists { id: id.clone() })
    }
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

//! A PKCS#11 token (a hardware security module, a cloud KMS adapter, SoftHSM): a
//! place that keeps secret keys and runs ciphers with them, so that the key bytes never
//! reach this process. piivault keeps its master key versions there with
//! `--master-key-provider pkcs11`; this module knows nothing of versions (that is
//! `master.rs`), only of AES key objects found by their id and label.
//!
//! The binding is `cryptoki`: the PKCS#11 calls are its FFI, none of ours. A PKCS#11
//! module is initialised once per process and shared by every [`Token`] opened on it
//! (a second `C_Initialize` would be refused, and a `C_Finalize` would end the other
//! tokens' sessions, so it is never called).
//!
//! Sessions are not free-threaded: a session serves one call at a time. A [`Token`]
//! keeps a pool of idle sessions; a call takes one (or opens and logs in a new one),
//! uses it and puts it back, so the serving threads (8 by default) each hold at most
//! one. A session whose call failed for a reason other than the data (a removed
//! token, a restarted HSM) is closed instead of put back, so calls after the token
//! returns open fresh sessions, logging in again: the service recovers by itself.
//! Object handles may change when every session was closed (SoftHSM renumbers them):
//! a [`TokenKey`] finds its object again by id and label and retries once.
//!
//! Ciphertext that does not authenticate is `CKR_ENCRYPTED_DATA_INVALID` (or
//! `_LEN_RANGE`) from `C_Decrypt`; SoftHSM reports a failed GCM tag as
//! `CKR_GENERAL_ERROR` from `C_Decrypt`, so that is read as the same.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{anyhow, bail, Context as _};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use crate::config::Pkcs11Settings;
use crate::crypto::{CryptoError, Custody, KeyEncryptionKey, NONCE_LEN};

/// The token's user PIN: read from the environment only (never a flag, never logged).
pub const PIN_ENV: &str = "PIIVAULT_PKCS11_PIN";

/// The `CKA_APPLICATION` of piivault's data objects.
const APPLICATION: &str = "piivault";

/// GCM tags are 128 bits, as in every at-rest format.
const TAG_BITS: u64 = 128;

/// One token, logged in as its user, with a pool of sessions.
pub struct Token {
    module: Pkcs11,
    label: String,
    pin: AuthPin,
    slot: Mutex<Slot>,
    idle: Mutex<Vec<Session>>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// Why a token call failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token ran the cipher and the ciphertext did not authenticate.
    #[error("the ciphertext does not authenticate")]
    Unauthentic,
    /// The object handle is no longer valid (every session was closed meanwhile).
    #[error("a PKCS#11 object handle is no longer valid")]
    StaleHandle,
    /// The token could not be reached or refused the call: the PKCS#11 function
    /// and return value, never any data.
    #[error("PKCS#11 token unavailable: {0}")]
    Unavailable(String),
}

impl From<TokenError> for CryptoError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Unauthentic => Self::Unauthentic,
            TokenError::StaleHandle | TokenError::Unavailable(_) => Self::Unavailable,
        }
    }
}

impl Token {
    /// Loads the module, finds the token by its label and logs in with the PIN from
    /// [`PIN_ENV`]. Each failure (no module, no such token, no or a wrong PIN) is an
    /// error that says which.
    pub fn open(settings: &Pkcs11Settings) -> anyhow::Result<Arc<Self>> {
        let pin = std::env::var(PIN_ENV).map_err(|_| {
            anyhow!("{PIN_ENV} is not set: the PKCS#11 token's user PIN is read from it")
        })?;
        let module = initialised_module(&settings.module)?;
        let slot = find_slot(&module, &settings.token_label)?;
        let token = Self {
            module,
            label: settings.token_label.clone(),
            pin: AuthPin::from(pin),
            slot: Mutex::new(slot),
            idle: Mutex::new(Vec::new()),
        };
        let session = token.open_session().map_err(|error| {
            anyhow!(
                "logging in to PKCS#11 token `{}`: {error}",
                settings.token_label
            )
        })?;
        token.put_back(session);
        Ok(Arc::new(token))
    }

    /// The token's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The AES secret key with this id and label, if the token holds one.
    pub fn aes_key(&self, id: &[u8], label: &str) -> Result<Option<ObjectHandle>, TokenError> {
        Ok(self
            .aes_keys_with_id(id)?
            .into_iter()
            .find(|(found, _)| found == label)
            .map(|(_, handle)| handle))
    }

    /// The AES secret keys whose `CKA_ID` is `id`, with their labels.
    pub fn aes_keys_with_id(&self, id: &[u8]) -> Result<Vec<(String, ObjectHandle)>, TokenError> {
        self.call(|session| {
            let handles = session.find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Id(id.to_vec()),
            ])?;
            let mut found = Vec::with_capacity(handles.len());
            for handle in handles {
                let label = session
                    .get_attributes(handle, &[AttributeType::Label])?
                    .into_iter()
                    .find_map(|attribute| match attribute {
                        Attribute::Label(label) => Some(label),
                        _ => None,
                    })
                    .unwrap_or_default();
                found.push((String::from_utf8_lossy(&label).into_owned(), handle));
            }
            Ok(found)
        })
    }

    /// Generates an AES-256 key inside the token that never leaves it: sensitive, not
    /// extractable, usable only to encrypt and decrypt (not to wrap, sign or derive),
    /// and unmodifiable, so that none of this can be relaxed later.
    pub fn generate_aes_key(&self, id: &[u8], label: &str) -> Result<ObjectHandle, TokenError> {
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Sign(false),
            Attribute::Verify(false),
            Attribute::Derive(false),
            Attribute::Modifiable(false),
            Attribute::Id(id.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        self.call(|session| session.generate_key(&Mechanism::AesKeyGen, &template))
    }

    /// The values of this application's data objects labelled `label`.
    pub fn data_objects(&self, label: &str) -> Result<Vec<(ObjectHandle, Vec<u8>)>, TokenError> {
        self.call(|session| {
            let handles = session.find_objects(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Application(APPLICATION.as_bytes().to_vec()),
                Attribute::Label(label.as_bytes().to_vec()),
            ])?;
            let mut found = Vec::with_capacity(handles.len());
            for handle in handles {
                let value = session
                    .get_attributes(handle, &[AttributeType::Value])?
                    .into_iter()
                    .find_map(|attribute| match attribute {
                        Attribute::Value(value) => Some(value),
                        _ => None,
                    })
                    .unwrap_or_default();
                found.push((handle, value));
            }
            Ok(found)
        })
    }

    /// Stores a small private data object (not a secret: bookkeeping such as which
    /// key versions were retired).
    pub fn create_data_object(
        &self,
        label: &str,
        value: &[u8],
    ) -> Result<ObjectHandle, TokenError> {
        self.call(|session| {
            session.create_object(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Application(APPLICATION.as_bytes().to_vec()),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Value(value.to_vec()),
            ])
        })
    }

    /// Destroys an object.
    pub fn destroy(&self, object: ObjectHandle) -> Result<(), TokenError> {
        self.call(|session| session.destroy_object(object))
    }

    /// AES-256-GCM inside the token: `ciphertext ‖ tag`.
    pub fn aes_gcm_encrypt(
        &self,
        key: ObjectHandle,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, TokenError> {
        self.call(|session| {
            let mut iv = *nonce;
            let params = GcmParams::new(&mut iv, aad, TAG_BITS.into())?;
            session.encrypt(&Mechanism::AesGcm(params), key, plaintext)
        })
    }

    /// The inverse of [`aes_gcm_encrypt`](Self::aes_gcm_encrypt).
    pub fn aes_gcm_decrypt(
        &self,
        key: ObjectHandle,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, TokenError> {
        self.call(|session| {
            let mut iv = *nonce;
            let params = GcmParams::new(&mut iv, aad, TAG_BITS.into())?;
            session
                .decrypt(&Mechanism::AesGcm(params), key, ciphertext)
                .map(Zeroizing::new)
        })
    }

    /// Runs one call on a pooled session. A session whose call failed for a reason
    /// other than the data or a stale handle is closed, not put back.
    fn call<T>(
        &self,
        work: impl FnOnce(&Session) -> Result<T, Pkcs11Error>,
    ) -> Result<T, TokenError> {
        let session = self.session()?;
        match work(&session) {
            Ok(value) => {
                self.put_back(session);
                Ok(value)
            }
            Err(
                Pkcs11Error::Pkcs11(
                    RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange,
                    _,
                )
                | Pkcs11Error::Pkcs11(RvError::GeneralError, Function::Decrypt),
            ) => {
                self.put_back(session);
                Err(TokenError::Unauthentic)
            }
            Err(Pkcs11Error::Pkcs11(
                RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid,
                _,
            )) => {
                self.put_back(session);
                Err(TokenError::StaleHandle)
            }
            Err(error) => {
                drop(session);
                tracing::warn!(token = %self.label, %error, "PKCS#11 call failed; its session is closed");
                Err(TokenError::Unavailable(error.to_string()))
            }
        }
    }

    fn session(&self) -> Result<Session, TokenError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(session) => Ok(session),
            None => self.open_session().map_err(|error| {
                tracing::warn!(token = %self.label, error = %format!("{error:#}"), "cannot open a PKCS#11 session");
                TokenError::Unavailable(format!("{error:#}"))
            }),
        }
    }

    /// A new read-write session, logged in. Login is per application, so a session
    /// opened while others are logged in is too (`CKR_USER_ALREADY_LOGGED_IN`). When
    /// the slot no longer holds the token (it was removed and came back elsewhere),
    /// the slots are searched again by label.
    fn open_session(&self) -> anyhow::Result<Session> {
        let slot = *self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        let session = if let Ok(session) = self.module.open_rw_session(slot) {
            session
        } else {
            let slot = find_slot(&self.module, &self.label)?;
            *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = slot;
            self.module
                .open_rw_session(slot)
                .context("opening a PKCS#11 session")?
        };
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(Pkcs11Error::Pkcs11(RvError::PinIncorrect, _)) => {
                bail!("the token refused the PIN in {PIN_ENV}")
            }
            Err(error) => Err(error).context("logging in to the token"),
        }
    }

    fn put_back(&self, session: Session) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(session);
    }
}

/// One AES key object of a token, as a key-encryption key: the token runs AES-GCM,
/// this process holds only the handle (found again by id and label when it goes
/// stale).
pub struct TokenKey {
    token: Arc<Token>,
    id: Vec<u8>,
    label: String,
    handle: Mutex<ObjectHandle>,
}

impl TokenKey {
    pub fn new(token: Arc<Token>, id: Vec<u8>, label: String, handle: ObjectHandle) -> Self {
        Self {
            token,
            id,
            label,
            handle: Mutex::new(handle),
        }
    }

    /// Runs `operation` with the object's handle; a stale handle is looked up again
    /// and the operation tried once more.
    fn with_handle<T>(
        &self,
        operation: impl Fn(ObjectHandle) -> Result<T, TokenError>,
    ) -> Result<T, CryptoError> {
        let handle = *self.handle.lock().unwrap_or_else(PoisonError::into_inner);
        match operation(handle) {
            Err(TokenError::StaleHandle) => {
                let fresh = self
                    .token
                    .aes_key(&self.id, &self.label)?
                    .ok_or(CryptoError::Unavailable)?;
                *self.handle.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
                Ok(operation(fresh)?)
            }
            other => Ok(other?),
        }
    }
}

impl KeyEncryptionKey for TokenKey {
    fn encrypt(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.with_handle(|handle| self.token.aes_gcm_encrypt(handle, nonce, aad, plaintext))
    }

    fn decrypt(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.with_handle(|handle| self.token.aes_gcm_decrypt(handle, nonce, aad, ciphertext))
    }

    fn custody(&self) -> Custody {
        Custody::Token
    }
}

/// The modules this process has loaded and initialised, by path: PKCS#11 allows one
/// `C_Initialize` per process, so every token on a module shares it.
static MODULES: Mutex<Vec<(PathBuf, Pkcs11)>> = Mutex::new(Vec::new());

fn initialised_module(path: &Path) -> anyhow::Result<Pkcs11> {
    let mut modules = MODULES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, module)) = modules.iter().find(|(loaded, _)| loaded == path) {
        return Ok(module.clone());
    }
    let module = Pkcs11::new(path)
        .with_context(|| format!("loading the PKCS#11 module {}", path.display()))?;
    match module.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(error) => {
            return Err(error)
                .with_context(|| format!("initialising the PKCS#11 module {}", path.display()))
        }
    }
    modules.push((path.to_path_buf(), module.clone()));
    Ok(module)
}

fn find_slot(module: &Pkcs11, label: &str) -> anyhow::Result<Slot> {
    let slots = module
        .get_slots_with_initialized_token()
        .context("listing the PKCS#11 module's tokens")?;
    for slot in slots {
        if module
            .get_token_info(slot)
            .is_ok_and(|info| info.label().trim_end() == label)
        {
            return Ok(slot);
        }
    }
    bail!("no PKCS#11 token labelled `{label}` is present")
}

//! Statement download links: `GET /statements/download/<token>` hands a statement to
//! whoever holds the link (the person, not an API client), so the link is the
//! credential. This module owns what a link is made of:
//!
//! - the [`LinkToken`]: 256 random bits in base64url; only its SHA-256 is stored, so a
//!   database reader cannot rebuild a link;
//! - the [`PasswordPolicy`] that says what opens its PDF: the national id, the national
//!   id and a one-time code (`<national id>-<code>`), or a generated password;
//! - how many times it may be downloaded ([`MaxDownloads`]): the PDF's password is only
//!   as strong as the policy, and each download is one more copy to guess offline, so
//!   links of the stronger policies default to one. The count is taken when the
//!   document is about to start (after every check that can refuse the request), so
//!   a refused request does not use one up, and a transfer cut short after its first
//!   byte does;
//! - the code or password, shown once and stored only sealed under the user's data key
//!   (AAD `piivault/v1/statement_links.secret/<link uuid>`): it is needed again at
//!   download time to encrypt the PDF, so a hash would not do.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::audit::{Action, RequestId, Subject};
use super::documents::DocumentStream;
use super::statements::{self, StatementRequest, NO_NATIONAL_ID};
use super::users::UserRecord;
use super::{Core, Vault, VaultError};
use crate::access::Caller;
use crate::crypto::{random_bytes, CryptoError, DataKey, FieldContext, SealedField};
use crate::db::statement_links::{self as rows, StatementLinkRow};
use crate::db::DbConnection;
use crate::domain::{Currency, Period};
use crate::id::{LinkId, UserId};
use crate::metrics::DocumentKind;

/// Crockford's base32 alphabet: no I, L, O or U, so codes read aloud or typed from an
/// SMS are not misread.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// 12 characters = 60 bits, shown in groups of [`CODE_GROUP`] (`RZV2-Q19T-7K3M`): at
/// the ~2 ms per guess the R6 password check costs one core, 2^60 guesses are tens of
/// millions of core-years, even with the national id known.
const CODE_LENGTH: usize = 12;
/// Characters between the hyphens of a code, so that it can be read and typed.
const CODE_GROUP: usize = 4;
/// 20 characters = 100 bits.
const PASSWORD_LENGTH: usize = 20;
/// The most downloads a link may be given.
pub const MAX_DOWNLOADS: u8 = 10;
/// The URL path under which download links are served.
pub const DOWNLOAD_PATH: &str = "/statements/download";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordPolicy {
    NationalId,
    NationalIdCode,
    Random,
}

impl PasswordPolicy {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        match raw {
            "national_id" => Ok(Self::NationalId),
            "national_id_code" => Ok(Self::NationalIdCode),
            "random" => Ok(Self::Random),
            _ => Err("must be one of national_id, national_id_code, random"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NationalId => "national_id",
            Self::NationalIdCode => "national_id_code",
            Self::Random => "random",
        }
    }

    /// The one-time code or generated password this policy shows once, with the name
    /// of the field it is shown under; `None` for the national id alone.
    fn new_secret(self) -> Result<Option<(&'static str, Zeroizing<String>)>, CryptoError> {
        Ok(match self {
            Self::NationalId => None,
            Self::NationalIdCode => Some(("code", grouped(&random_string(CODE_LENGTH)?))),
            Self::Random => Some(("password", random_string(PASSWORD_LENGTH)?)),
        })
    }

    /// How many downloads a link of this policy gets unless the request says: one for
    /// the policies a person holds a secret for, any number (until it expires) for the
    /// national id alone, whose PDF is as guessable on the first download as on the
    /// tenth.
    fn default_max_downloads(self) -> Option<MaxDownloads> {
        match self {
            Self::NationalId => None,
            Self::NationalIdCode | Self::Random => Some(MaxDownloads(1)),
        }
    }
}

/// How many times a link may be downloaded: 1 to [`MAX_DOWNLOADS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxDownloads(u8);

impl MaxDownloads {
    pub fn parse(raw: u64) -> Result<Self, &'static str> {
        u8::try_from(raw)
            .ok()
            .filter(|count| (1..=MAX_DOWNLOADS).contains(count))
            .map(Self)
            .ok_or(MUST_BE_A_DOWNLOAD_COUNT)
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// What a request is told when `max_downloads` is out of bounds.
pub const MUST_BE_A_DOWNLOAD_COUNT: &str = "must be an integer from 1 to 10";

/// `code` with a hyphen after every [`CODE_GROUP`] characters.
fn grouped(code: &str) -> Zeroizing<String> {
    let mut shown = Zeroizing::new(String::with_capacity(code.len() + code.len() / CODE_GROUP));
    for (index, character) in code.chars().enumerate() {
        if index > 0 && index % CODE_GROUP == 0 {
            shown.push('-');
        }
        shown.push(character);
    }
    shown
}

fn random_string(length: usize) -> Result<Zeroizing<String>, CryptoError> {
    let mut bytes = Zeroizing::new(vec![0u8; length]);
    getrandom::fill(&mut bytes).map_err(|_| CryptoError::Random)?;
    // 256 is a multiple of 32, so taking the low five bits is unbiased.
    Ok(Zeroizing::new(
        bytes
            .iter()
            .map(|byte| char::from(ALPHABET[usize::from(byte & 31)]))
            .collect(),
    ))
}

/// A link's secret: 32 random bytes, 43 characters of base64url.
pub struct LinkToken(Zeroizing<String>);

impl LinkToken {
    fn generate() -> Result<Self, CryptoError> {
        let bytes = Zeroizing::new(random_bytes::<32>()?);
        Ok(Self(Zeroizing::new(
            URL_SAFE_NO_PAD.encode(bytes.as_slice()),
        )))
    }

    /// A presented token; anything that cannot be one of ours is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let well_formed = text.len() == 43 && URL_SAFE_NO_PAD.decode(text.as_bytes()).is_ok();
        well_formed.then(|| Self(Zeroizing::new(text.to_owned())))
    }

    /// What the database keys the link by.
    fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }

    /// The token itself, to put in the download URL shown once.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkToken(<redacted>)")
    }
}

/// What POST /users/{id}/statements asks for.
#[derive(Debug)]
pub struct LinkRequest {
    pub period: Period,
    pub currency: Currency,
    pub policy: PasswordPolicy,
    /// `None`: the policy's default.
    pub max_downloads: Option<MaxDownloads>,
}

/// A link as created: what the caller is shown once.
#[derive(Debug)]
pub struct CreatedLink {
    pub id: LinkId,
    pub token: LinkToken,
    pub expires_at: chrono::NaiveDateTime,
    /// `None`: any number of downloads until it expires.
    pub max_downloads: Option<MaxDownloads>,
    /// The one-time code (`"code"`) or the generated password (`"password"`), by
    /// policy, with the field name it is shown under.
    pub shown_once: Option<(&'static str, Zeroizing<String>)>,
}

fn secret_context(link: LinkId) -> FieldContext<'static> {
    FieldContext::new("statement_links", "secret", link.uuid())
}

fn seal_secret(data_key: &DataKey, link: LinkId, secret: &str) -> Result<Vec<u8>, CryptoError> {
    SealedField::seal(data_key, secret_context(link), secret).map(SealedField::into_bytes)
}

fn open_secret(
    data_key: &DataKey,
    link: LinkId,
    sealed: Vec<u8>,
) -> Result<Zeroizing<String>, CryptoError> {
    SealedField::from_bytes(sealed)
        .open(data_key, secret_context(link))
        .map(Zeroizing::new)
}

impl Vault {
    /// POST /users/{id}/statements: a download link for `caller` to hand on. Handing
    /// out the link hands out the statement, so the read is audited here, against the
    /// client that asked.
    pub async fn create_statement_link(
        &self,
        caller: Caller,
        request: RequestId,
        user: UserId,
        link: LinkRequest,
    ) -> Result<CreatedLink, VaultError> {
        let created = self
            .with_connection(move |core, connection| core.create_link(connection, user, &link))
            .await?;
        self.record(
            &caller,
            &request,
            Action::StatementDownload,
            Subject::User(user),
        )
        .await?;
        Ok(created)
    }

    /// GET /statements/download/{token}: the statement, until the link expires or its
    /// downloads are used up.
    pub async fn statement_by_link(&self, token: LinkToken) -> Result<DocumentStream, VaultError> {
        self.stream_document(DocumentKind::Statement, move |core, ready, sink| {
            crate::db::run(&core.pool, |connection| {
                let link = core.open_link(connection, &token)?;
                statements::check_size(connection, link.person.id, link.wanted)?;
                // Last: nothing after this refuses the request, so only a download
                // that starts uses one up.
                if link.limited && !rows::take_download(connection, link.id)? {
                    return Err(VaultError::NotFound);
                }
                ready.go(format!("statement-{}.pdf", link.reference));
                core.write_statement(
                    connection,
                    &link.person,
                    link.wanted,
                    link.reference,
                    &link.password,
                    sink,
                )
            })
        })
        .await
    }
}

impl Core {
    fn create_link(
        &self,
        connection: &mut DbConnection,
        user: UserId,
        link: &LinkRequest,
    ) -> Result<CreatedLink, VaultError> {
        let person = self.fetch(connection, user)?.ok_or(VaultError::NotFound)?;
        if link.policy != PasswordPolicy::Random && person.national_id.is_none() {
            return Err(VaultError::Conflict(NO_NATIONAL_ID));
        }
        let id = LinkId::generate();
        let shown_once = link.policy.new_secret()?;
        let secret = match &shown_once {
            Some((_, value)) => {
                let data_key = self
                    .data_key(connection, user)?
                    .ok_or(VaultError::NotFound)?;
                Some(seal_secret(&data_key, id, value)?)
            }
            None => None,
        };
        let token = LinkToken::generate()?;
        let max_downloads = link
            .max_downloads
            .or_else(|| link.policy.default_max_downloads());
        let now = crate::time::now();
        let expires_at = now + self.statement_link_ttl;
        rows::delete_expired(connection, now)?;
        rows::insert(
            connection,
            &StatementLinkRow {
                id,
                user_id: user,
                token_hash: token.hash(),
                period_from: link.period.from.to_string(),
                period_to: link.period.to.to_string(),
                currency: link.currency.code().to_owned(),
                policy: link.policy.as_str().to_owned(),
                secret,
                created_at: now,
                expires_at,
                downloads_left: max_downloads.map(|count| i32::from(count.get())),
            },
        )?;
        Ok(CreatedLink {
            id,
            token,
            expires_at,
            max_downloads,
            shown_once,
        })
    }

    /// The statement a live link is for and the password that opens its PDF.
    fn open_link(
        &self,
        connection: &mut DbConnection,
        token: &LinkToken,
    ) -> Result<OpenedLink, VaultError> {
        let link = rows::find_live(connection, &token.hash(), crate::time::now())?
            .ok_or(VaultError::NotFound)?;
        let stored =
            |what| VaultError::Internal(anyhow::anyhow!("statement link has a bad {what}"));
        let policy = PasswordPolicy::parse(&link.policy).map_err(|_| stored("policy"))?;
        let period = Period::parse(
            Some(&link.period_from),
            Some(&link.period_to),
            statements::today(),
        )
        .map_err(|_| stored("period"))?;
        let currency = Currency::parse(&link.currency).map_err(|_| stored("currency"))?;
        let person = self
            .fetch(connection, link.user_id)?
            .ok_or(VaultError::NotFound)?;
        let mut secret = || -> Result<Zeroizing<String>, VaultError> {
            let sealed = link.secret.clone().ok_or_else(|| stored("secret"))?;
            let data_key = self
                .data_key(connection, link.user_id)?
                .ok_or(VaultError::NotFound)?;
            Ok(open_secret(&data_key, link.id, sealed)?)
        };
        let national_id = || {
            person
                .national_id
                .clone()
                .ok_or(VaultError::Conflict(NO_NATIONAL_ID))
        };
        // Each copy of the national id or the secret is wiped when dropped.
        let password = match policy {
            PasswordPolicy::NationalId => Zeroizing::new(national_id()?),
            PasswordPolicy::NationalIdCode => {
                let (national_id, code) = (Zeroizing::new(national_id()?), secret()?);
                let mut password =
                    Zeroizing::new(String::with_capacity(national_id.len() + 1 + code.len()));
                password.push_str(&national_id);
                password.push('-');
                password.push_str(&code);
                password
            }
            PasswordPolicy::Random => secret()?,
        };
        Ok(OpenedLink {
            id: link.id,
            limited: link.downloads_left.is_some(),
            wanted: StatementRequest { period, currency },
            reference: link.id.to_string(),
            person,
            password,
        })
    }
}

/// What a live link hands out.
struct OpenedLink {
    id: LinkId,
    /// Whether it has a number of downloads to take one from.
    limited: bool,
    person: UserRecord,
    wanted: StatementRequest,
    reference: String,
    password: Zeroizing<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_passwords_have_their_length_alphabet_and_differ() {
        let (name, code) = PasswordPolicy::NationalIdCode
            .new_secret()
            .unwrap()
            .unwrap();
        assert_eq!((name, code.len()), ("code", CODE_LENGTH + 2));
        let groups: Vec<&str> = code.split('-').collect();
        assert_eq!(groups.len(), 3, "{groups:?}");
        assert!(
            groups
                .iter()
                .all(|group| group.len() == CODE_GROUP
                    && group.bytes().all(|b| ALPHABET.contains(&b)))
        );
        const { assert!(CODE_LENGTH * 5 >= 60, "at least 60 bits") };
        let (name, password) = PasswordPolicy::Random.new_secret().unwrap().unwrap();
        assert_eq!((name, password.len()), ("password", PASSWORD_LENGTH));
        assert!(password.bytes().all(|b| ALPHABET.contains(&b)));
        const { assert!(PASSWORD_LENGTH * 5 >= 80, "at least 80 bits") };
        assert_ne!(random_string(PASSWORD_LENGTH).unwrap(), password);
        assert!(PasswordPolicy::NationalId.new_secret().unwrap().is_none());
    }

    #[test]
    fn download_counts_are_bounded_and_default_by_policy() {
        assert_eq!(MaxDownloads::parse(1).map(MaxDownloads::get), Ok(1));
        assert_eq!(MaxDownloads::parse(10).map(MaxDownloads::get), Ok(10));
        for bad in [0, 11, 256, u64::MAX] {
            assert!(MaxDownloads::parse(bad).is_err(), "{bad}");
        }
        assert!(MUST_BE_A_DOWNLOAD_COUNT.ends_with(&format!("to {MAX_DOWNLOADS}")));
        assert_eq!(PasswordPolicy::NationalId.default_max_downloads(), None);
        for policy in [PasswordPolicy::NationalIdCode, PasswordPolicy::Random] {
            assert_eq!(policy.default_max_downloads(), Some(MaxDownloads(1)));
        }
    }

    #[test]
    fn policies_round_trip() {
        for policy in [
            PasswordPolicy::NationalId,
            PasswordPolicy::NationalIdCode,
            PasswordPolicy::Random,
        ] {
            assert_eq!(PasswordPolicy::parse(policy.as_str()), Ok(policy));
        }
        assert!(PasswordPolicy::parse("none").is_err());
    }

    #[test]
    fn tokens_are_43_characters_of_base64url_and_stored_hashed() {
        let token = LinkToken::generate().unwrap();
        let parsed = LinkToken::parse(token.reveal()).unwrap();
        assert_eq!(parsed.hash(), token.hash());
        assert_eq!(
            token.hash(),
            Sha256::digest(token.reveal().as_bytes()).to_vec()
        );
        assert!(LinkToken::parse("short").is_none());
        assert!(LinkToken::parse(&"!".repeat(43)).is_none());
        assert!(!format!("{token:?}").contains(token.reveal()));
    }
}

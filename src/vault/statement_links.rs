//! Statement download links: `GET /statements/download/<token>` hands a statement to
//! whoever holds the link (the person, not an API client), so the link is the
//! credential. This module owns what a link is made of:
//!
//! - the [`LinkToken`]: 256 random bits in base64url; only a keyed digest of its
//!   SHA-256 is stored (`crypto::MetadataKey`), so a database reader cannot rebuild a
//!   link and a database writer cannot make one;
//! - the row's MAC under the metadata key, over every column that decides what the
//!   link hands out (id, digest, user, policy, period, currency, expiry, download
//!   limit, sealed secret; docs/formats.md): a link forged or edited in the database
//!   answers 404, like an unknown one, and is logged as a warning naming its id only.
//!   The running count of downloads left is not sealed (it changes with each
//!   download), but it is checked against the sealed limit;
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
use crate::access::clients::Sealed;
use crate::access::Caller;
use crate::crypto::{
    passphrase, random_bytes, CryptoError, DataKey, FieldContext, MetadataKey, SealedField,
};
use crate::db::statement_links::{self as rows, StatementLinkRow};
use crate::db::DbConnection;
use crate::domain::{Currency, Period};
use crate::id::{LinkId, UserId};
use crate::metrics::DocumentKind;

/// 12 characters = 60 bits, shown in groups of [`CODE_GROUP`] (`RZV2-Q19T-7K3M`): at
/// the ~2 ms per guess the R6 password check costs one core, 2^60 guesses are tens of
/// millions of core-years, even with the national id known.
const CODE_LENGTH: usize = 12;
/// Characters between the hyphens of a code, so that it can be read and typed.
const CODE_GROUP: usize = 4;
/// 20 characters = 100 bits.
pub const PASSWORD_LENGTH: usize = 20;
const _: () = assert!(CODE_LENGTH * passphrase::BITS_PER_CHARACTER >= 60);
const _: () = assert!(PASSWORD_LENGTH * passphrase::BITS_PER_CHARACTER >= 100);
/// The most downloads a link may be given.
pub const MAX_DOWNLOADS: u8 = 10;
/// The URL path under which download links are served.
pub const DOWNLOAD_PATH: &str = "/statements/download";
/// The label of a link token's stored digest.
const DIGEST_LABEL: &str = "piivault/v1/statement_links.token_hash";
/// The label of a link row's MAC.
const MAC_LABEL: &str = "piivault/v1/statement_links.mac";

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
            Self::NationalIdCode => Some((
                "code",
                passphrase::grouped(&passphrase::random_base32(CODE_LENGTH)?, CODE_GROUP),
            )),
            Self::Random => Some(("password", passphrase::random_base32(PASSWORD_LENGTH)?)),
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
    fn digest(&self, key: &MetadataKey) -> Vec<u8> {
        key.token_digest(DIGEST_LABEL, &Sha256::digest(self.0.as_bytes()).into())
            .to_vec()
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

/// Runs `use_fields` over the sealed columns of a link row, in their documented
/// order (docs/formats.md). An absent value is an empty field: no present one is
/// empty (a sealed secret holds at least its nonce and tag, a limit four bytes).
fn with_sealed_fields<T>(row: &StatementLinkRow, use_fields: impl FnOnce(&[&[u8]]) -> T) -> T {
    let (id, user) = (row.id.uuid(), row.user_id.uuid());
    let expires_at = row.expires_at.and_utc().timestamp_micros().to_be_bytes();
    let max_downloads = row.max_downloads.map(i32::to_be_bytes);
    use_fields(&[
        id.as_bytes(),
        &row.token_hash,
        user.as_bytes(),
        row.policy.as_bytes(),
        row.period_from.as_bytes(),
        row.period_to.as_bytes(),
        row.currency.as_bytes(),
        &expires_at,
        max_downloads.as_ref().map_or(&[][..], |count| &count[..]),
        row.secret.as_deref().unwrap_or_default(),
    ])
}

fn link_mac(key: &MetadataKey, row: &StatementLinkRow) -> Vec<u8> {
    with_sealed_fields(row, |fields| key.row_mac(MAC_LABEL, fields)).to_vec()
}

/// Whether a link row carries its MAC and its count of downloads left is within its
/// sealed limit. A row that does not was forged or edited in the database (or
/// predates the metadata key and was never sealed): it is logged and refused.
fn link_is_authentic(key: &MetadataKey, row: &StatementLinkRow) -> bool {
    let sealed = row.mac.as_deref().is_some_and(|mac| {
        with_sealed_fields(row, |fields| key.verify_row(MAC_LABEL, fields, mac))
    });
    let within_limit = match (row.downloads_left, row.max_downloads) {
        (Some(left), Some(max)) => left <= max,
        (None, Some(_)) => false,
        (_, None) => true,
    };
    if !(sealed && within_limit) {
        tracing::warn!(
            link = %row.id,
            "a statement_links row fails its MAC or download limit (edited or forged in the database, or never sealed): refused"
        );
    }
    sealed && within_limit
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
        let count = max_downloads.map(|count| i32::from(count.get()));
        let keys = self.keys.current();
        let mut row = StatementLinkRow {
            id,
            user_id: user,
            token_hash: token.digest(&keys.metadata),
            period_from: link.period.from.to_string(),
            period_to: link.period.to.to_string(),
            currency: link.currency.code().to_owned(),
            policy: link.policy.as_str().to_owned(),
            secret,
            created_at: now,
            expires_at,
            downloads_left: count,
            max_downloads: count,
            mac: None,
        };
        row.mac = Some(link_mac(&keys.metadata, &row));
        rows::delete_expired(connection, now)?;
        rows::insert(connection, &row)?;
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
        let key = &self.keys.current().metadata;
        let link = rows::find_live(connection, &token.digest(key), crate::time::now())?
            .filter(|link| link_is_authentic(key, link))
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
            limited: link.max_downloads.is_some(),
            wanted: StatementRequest { period, currency },
            reference: link.id.to_string(),
            person,
            password,
        })
    }
}

/// Seals up to `limit` links written before the metadata key existed: their
/// SHA-256 token hash becomes the keyed digest of that hash (so the links keep
/// working) and they get their MAC. A link sealed meanwhile is left alone.
pub(super) fn seal_unsealed_links(
    connection: &mut DbConnection,
    key: &MetadataKey,
    limit: i64,
) -> Result<Sealed, VaultError> {
    let rows = rows::unsealed(connection, limit)?;
    let mut done = Sealed {
        looked_at: rows.len(),
        sealed: 0,
    };
    for mut row in rows {
        let Ok(sha256) = <[u8; 32]>::try_from(row.token_hash.as_slice()) else {
            tracing::warn!(link = %row.id, "an unsealed statement_links row has no SHA-256 token hash: left as it is");
            continue;
        };
        row.token_hash = key.token_digest(DIGEST_LABEL, &sha256).to_vec();
        let mac = link_mac(key, &row);
        if rows::seal(connection, row.id, &row.token_hash, &mac)? {
            done.sealed += 1;
        }
    }
    Ok(done)
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
        assert!(groups.iter().all(|group| group.len() == CODE_GROUP
            && group.bytes().all(|b| passphrase::ALPHABET.contains(&b))));
        let (name, password) = PasswordPolicy::Random.new_secret().unwrap().unwrap();
        assert_eq!((name, password.len()), ("password", PASSWORD_LENGTH));
        assert!(password.bytes().all(|b| passphrase::ALPHABET.contains(&b)));
        assert_ne!(
            passphrase::random_base32(PASSWORD_LENGTH).unwrap(),
            password
        );
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
    fn tokens_are_43_characters_of_base64url_and_stored_as_keyed_digests() {
        let key = MetadataKey::new(crate::crypto::SecretKey::from_bytes([4; 32]));
        let token = LinkToken::generate().unwrap();
        let parsed = LinkToken::parse(token.reveal()).unwrap();
        assert_eq!(parsed.digest(&key), token.digest(&key));
        let sha256: [u8; 32] = Sha256::digest(token.reveal().as_bytes()).into();
        assert_eq!(
            token.digest(&key),
            key.token_digest(DIGEST_LABEL, &sha256).to_vec()
        );
        assert!(LinkToken::parse("short").is_none());
        assert!(LinkToken::parse(&"!".repeat(43)).is_none());
        assert!(!format!("{token:?}").contains(token.reveal()));
    }
}

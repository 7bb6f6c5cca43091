//! Demo and benchmark data: `piivault seed --users N` makes realistic fake people
//! (Kenyan and other names, E.164 phones, national ids, addresses, dates of birth)
//! and stores them through the same domain parsing and sealing as POST /users, in
//! batches: one transaction per batch, the batch's users and their transactions
//! together (binary `COPY` on PostgreSQL). Sealing is the CPU-heavy part, so one
//! thread per core makes and seals batches while this thread stores the ones ready.
//!
//! The fake data comes from small built-in lists and a seeded SplitMix64 generator:
//! no dictionary crate to build. Each person has a generator of their own, seeded
//! from `--seed` and their serial number, so a `--seed` reproduces the same people
//! whatever the batch size, the number of threads or the order batches finish in.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use crate::crypto::CryptoError;
use crate::db::transactions::NewTransactionRow;
use crate::domain::{
    Address, DateOfBirth, Email, NationalId, NewTransaction, NewUser, PersonName, Phone,
};
use crate::keys::KeyMaterial;
use crate::vault::users::{self, SealedUser};
use crate::vault::{ledger, Vault, VaultError};

const FIRST_NAMES: &[&str] = &[
    "Wanjiru", "Kamau", "Achieng", "Otieno", "Njeri", "Mwangi", "Akinyi", "Kiprono", "Chebet",
    "Mutua", "Wambui", "Omondi", "Nyambura", "Kipchoge", "Auma", "Baraka", "Zawadi", "Amani",
    "Imani", "Jabari", "Amina", "Hassan", "Fatuma", "Juma", "Grace", "Brian", "Mercy", "Kevin",
    "Faith", "Dennis", "Esther", "Peter", "Mary", "John", "Ann", "David", "Sarah", "James", "Lucy",
    "Daniel", "Chinedu", "Ngozi", "Kwame", "Abena", "Thabo", "Naledi", "Sipho", "Aisha", "Émilie",
    "José", "Søren", "Zoë", "Priya", "Arjun", "Mei", "Hiro", "Olga", "Lukas",
];
const LAST_NAMES: &[&str] = &[
    "Kamau",
    "Otieno",
    "Wanjiku",
    "Mwangi",
    "Ochieng",
    "Kariuki",
    "Njoroge",
    "Mutiso",
    "Kiptoo",
    "Chepkoech",
    "Odhiambo",
    "Wafula",
    "Barasa",
    "Kimani",
    "Nyaga",
    "Omollo",
    "Mohamed",
    "Ali",
    "Abdi",
    "Korir",
    "Rotich",
    "Langat",
    "Macharia",
    "Gitau",
    "Muthoni",
    "Okafor",
    "Mensah",
    "Dlamini",
    "Nkosi",
    "Mahlangu",
    "Smith",
    "Johnson",
    "Müller",
    "García",
    "Rossi",
    "Dubois",
    "Novak",
    "Patel",
    "Tanaka",
    "Nguyen",
    "O'Brien",
    "Van der Merwe",
];
const STREETS: &[&str] = &[
    "Kenyatta Avenue",
    "Moi Avenue",
    "Ngong Road",
    "Waiyaki Way",
    "Mombasa Road",
    "Tom Mboya Street",
    "Kimathi Street",
    "Haile Selassie Avenue",
    "Uhuru Highway",
    "Oginga Odinga Street",
    "Jomo Kenyatta Highway",
    "Langata Road",
    "Thika Road",
    "Argwings Kodhek Road",
    "Digo Road",
    "High Street",
    "Station Road",
    "Church Lane",
];
const CITIES: &[&str] = &[
    "Nairobi",
    "Mombasa",
    "Kisumu",
    "Nakuru",
    "Eldoret",
    "Thika",
    "Malindi",
    "Kitale",
    "Garissa",
    "Nyeri",
    "Machakos",
    "Meru",
    "Kampala",
    "Dar es Salaam",
    "Kigali",
    "Lagos",
    "London",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "mail.example.co.ke",
];

/// SplitMix64: tiny, fast, and good enough for fake people (not for keys: those
/// come from the OS through the sealing code).
pub struct FakeRng(u64);

impl FakeRng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The generator of the person with this serial number in a run seeded `seed`
    /// (`stream` tells apart the generators of one person: their details, their
    /// transactions).
    fn for_person(seed: u64, serial: u64, stream: u64) -> Self {
        let mut mixer = Self(seed ^ serial.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ stream);
        Self(mixer.next())
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[usize::try_from(self.below(items.len() as u64)).unwrap_or(0)]
    }

    fn digits(&mut self, count: u32) -> String {
        format!(
            "{:0width$}",
            self.below(10u64.pow(count)),
            width = count as usize
        )
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Why a fake person could not be made: a list entry the domain refuses (a bug here).
#[derive(Debug, thiserror::Error)]
#[error("fake {0} was refused by the domain rules: {1}")]
pub struct FakeError(&'static str, &'static str);

/// One fake person, parsed by the same domain types as an API payload. `serial`
/// (unique within a run) with `run` (random per run) keeps emails unique.
pub fn fake_user(rng: &mut FakeRng, run: u32, serial: u64) -> Result<NewUser, FakeError> {
    let first = rng.pick(FIRST_NAMES);
    let last = rng.pick(LAST_NAMES);
    let local: String = format!("{first}.{last}")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .chain(std::iter::once('.'))
        .collect::<String>()
        .to_ascii_lowercase();
    let email = format!("{local}{run:08x}{serial}@{}", rng.pick(DOMAINS));
    let phone = match rng.below(10) {
        0..=5 => format!("+2547{}", rng.digits(8)),
        6 => format!("+2541{}", rng.digits(8)),
        7 => format!("+2567{}", rng.digits(8)),
        8 => format!("+447{}", rng.digits(9)),
        _ => format!("+1{}{}", 2 + rng.below(8), rng.digits(9)),
    };
    let national_id = format!("{}", 10_000_000 + rng.below(30_000_000));
    let born = format!(
        "{}-{:02}-{:02}",
        1940 + rng.below(66),
        1 + rng.below(12),
        1 + rng.below(28)
    );
    let address = format!(
        "{} {}, {}",
        1 + rng.below(400),
        rng.pick(STREETS),
        rng.pick(CITIES)
    );
    let check = |field: &'static str| move |why| FakeError(field, why);
    Ok(NewUser {
        first_name: PersonName::parse(first).map_err(check("first name"))?,
        last_name: PersonName::parse(last).map_err(check("last name"))?,
        email: Email::parse(&email).map_err(check("email"))?,
        phone: rng
            .chance(92)
            .then(|| Phone::parse(&phone))
            .transpose()
            .map_err(check("phone"))?,
        national_id: rng
            .chance(95)
            .then(|| NationalId::parse(&national_id))
            .transpose()
            .map_err(check("national id"))?,
        date_of_birth: Some(DateOfBirth::parse(&born).map_err(check("date of birth"))?),
        address: rng
            .chance(90)
            .then(|| Address::parse(&address))
            .transpose()
            .map_err(check("address"))?,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(transparent)]
    Fake(#[from] FakeError),
    #[error("sealing failed: {0}")]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("the sealing thread stopped")]
    Worker,
}

/// What to seed.
#[derive(Debug, Clone, Copy)]
pub struct SeedOptions {
    pub users: u64,
    /// Transactions per user, spread over the 90 days before now.
    pub transactions_per_user: u32,
    pub batch_size: u32,
    pub seed: u64,
}

/// What each transaction says it was: everyday M-Pesa-like payments and deposits.
const DETAILS: [&str; 8] = [
    "Customer Transfer to Mama Mboga",
    "Pay Bill to KPLC Prepaid",
    "Buy Goods at Naivas Supermarket",
    "Funds received from Wanjiru Kamau",
    "Deposit of Funds at Agent Westlands",
    "Airtime Purchase",
    "Salary payment from Acme Ltd",
    "Customer Withdrawal at Agent CBD",
];

/// One fake transaction, parsed by the same rules as the API's.
fn fake_transaction(
    rng: &mut FakeRng,
    run: u32,
    serial: u64,
    number: u32,
    now: chrono::NaiveDateTime,
) -> Result<NewTransaction, FakeError> {
    let details = rng.pick(&DETAILS);
    let incoming = details.starts_with("Funds")
        || details.starts_with("Deposit")
        || details.starts_with("Salary");
    let cents = 5_000 + rng.below(2_500_000);
    let amount = format!(
        "{}{}.{:02}",
        if incoming { "" } else { "-" },
        cents / 100,
        cents % 100
    );
    let seconds_ago = i64::try_from(rng.below(90 * 24 * 3600)).unwrap_or(0);
    let occurred_at = (now - chrono::Duration::seconds(seconds_ago))
        .and_utc()
        .to_rfc3339();
    let object = serde_json::json!({
        "reference": format!("S{run:08X}{serial:07}{number:04}"),
        "occurred_at": occurred_at,
        "details": details,
        "amount": amount,
        "currency": "KES",
    });
    let serde_json::Value::Object(object) = object else {
        return Err(FakeError("transaction", "its JSON is not an object"));
    };
    NewTransaction::parse(&object)
        .map_err(|_| FakeError("transaction", "see NewTransaction::parse"))
}

/// A batch as it goes from a sealing thread to the storing one.
struct SealedBatch {
    users: Vec<SealedUser>,
    transactions: Vec<NewTransactionRow>,
}

/// Generator streams of one person.
const PERSON: u64 = 0;
const TRANSACTIONS: u64 = 1;

/// Makes and seals the people with serial numbers `serials`, and their transactions.
fn seal_batch(
    keys: &KeyMaterial,
    options: &SeedOptions,
    run: u32,
    serials: std::ops::Range<u64>,
    now: chrono::NaiveDateTime,
) -> Result<SealedBatch, SeedError> {
    let mut batch = SealedBatch {
        users: Vec::new(),
        transactions: Vec::new(),
    };
    for serial in serials {
        let person = fake_user(
            &mut FakeRng::for_person(options.seed, serial, PERSON),
            run,
            serial,
        )?;
        let (user, data_key) = users::seal_new(keys, &person)?;
        let mut rng = FakeRng::for_person(options.seed, serial, TRANSACTIONS);
        for number in 0..options.transactions_per_user {
            let item = fake_transaction(&mut rng, run, serial, number, now)?;
            batch
                .transactions
                .push(ledger::seal_new(&data_key, user.id, &item, now)?);
        }
        batch.users.push(user);
    }
    Ok(batch)
}

/// Makes, seals and stores `options.users` fake people; returns how many were stored.
/// `progress` hears of each stored batch (so a rate shown is real inserts).
pub fn seed(
    vault: &Vault,
    keys: &KeyMaterial,
    options: SeedOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, SeedError> {
    let batch_size = u64::from(options.batch_size.max(1));
    let batches = options.users.div_ceil(batch_size);
    let run =
        u32::try_from((options.seed ^ (options.seed >> 32)) & u64::from(u32::MAX)).unwrap_or(0);
    let now = crate::time::now();
    let sealers = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let next_batch = AtomicU64::new(0);
    // A batch ready per sealer at most: sealing stays just ahead of storing.
    let (sender, receiver) = mpsc::sync_channel::<Result<SealedBatch, SeedError>>(sealers);
    std::thread::scope(|scope| {
        for _ in 0..sealers {
            let (sender, next_batch) = (sender.clone(), &next_batch);
            scope.spawn(move || loop {
                let batch = next_batch.fetch_add(1, Ordering::Relaxed);
                if batch >= batches {
                    return;
                }
                let first = batch * batch_size;
                let serials = first..(first + batch_size).min(options.users);
                let sealed = seal_batch(keys, &options, run, serials, now);
                let failed = sealed.is_err();
                // The storing side hung up (it failed): stop sealing.
                if sender.send(sealed).is_err() || failed {
                    return;
                }
            });
        }
        drop(sender);
        let mut stored = 0u64;
        for batch in receiver {
            let batch = batch?;
            // A batch's users and their transactions land together or not at all.
            let written = vault.store_sealed_batch(batch.users, &batch.transactions)?;
            stored += written as u64;
            progress(written as u64);
        }
        if stored < options.users {
            return Err(SeedError::Worker);
        }
        Ok(stored)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_people_pass_the_domain_rules_and_are_reproducible() {
        let mut a = FakeRng::new(7);
        let mut b = FakeRng::new(7);
        for serial in 0..2000 {
            let one = fake_user(&mut a, 1, serial).unwrap();
            let two = fake_user(&mut b, 1, serial).unwrap();
            assert_eq!(one.email.as_str(), two.email.as_str());
            assert!(one.email.as_str().contains(&format!("{:08x}{serial}@", 1)));
        }
    }

    #[test]
    fn phones_include_kenyan_and_other_countries() {
        let mut rng = FakeRng::new(1);
        let phones: Vec<String> = (0..500)
            .filter_map(|n| fake_user(&mut rng, 0, n).unwrap().phone)
            .map(|phone| phone.as_str().to_owned())
            .collect();
        assert!(phones.iter().any(|p| p.starts_with("+254")));
        assert!(phones.iter().any(|p| !p.starts_with("+254")));
    }
}

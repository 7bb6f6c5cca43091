//! The byte formats at rest as a database writer meets them: values sealed in format
//! v2 refuse to open when their format byte, or a transaction's clear `occurred_at` or
//! `currency`, is edited with SQL (500 `integrity_failed`, nothing served); values
//! sealed in format v1 still read, and `piivault keys reseal` rewrites them to v2 while
//! the server serves, resumably (users, transactions and file metadata).

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use diesel::prelude::*;
use piivault::crypto::{random_bytes, DataKey, SecretKey};
use piivault::db::schema::{data_keys, files, transactions, users};
use piivault::db::users::UserRow;
use serde_json::Value;
use uuid::Uuid;

use crate::files::upload_raw;
use crate::on_both_backends;
use crate::support::{new_user_payload, unique_email, Reply, TestApp};
use crate::transactions::transaction;

/// Listings cover October and November; statements November (so that October's rows
/// are in its opening balance).
const PERIOD: &str = "from=2026-10-01&to=2026-11-30";
const STATEMENT_PERIOD: &str = "from=2026-11-01&to=2026-11-30";

/// A user with one transaction on 2026-11-02; returns the user's id.
fn user_with_a_payment(app: &TestApp) -> Uuid {
    let user = app.register(&new_user_payload(&unique_email()));
    app.post_transactions(
        user,
        &[transaction(
            "QFT3XYZ12A",
            "2026-11-02T08:00:00Z",
            "Paid to Mama Mboga",
            "-1250.00",
        )],
    );
    user
}

fn listing(app: &TestApp, user: Uuid) -> crate::support::Reply {
    app.get(&format!("/users/{user}/transactions?{PERIOD}"))
}

fn transaction_row(app: &TestApp, user: Uuid) -> (Vec<u8>, chrono::NaiveDateTime, String) {
    transactions::table
        .filter(transactions::user_id.eq(user.as_bytes().to_vec()))
        .select((
            transactions::id,
            transactions::occurred_at,
            transactions::currency,
        ))
        .first(&mut **app.connection())
        .unwrap()
}

on_both_backends!(
    a_transaction_moved_in_time_or_currency_refuses_to_open,
    |backend| {
        let app = TestApp::spawn(backend);
        let user = user_with_a_payment(&app);
        assert_eq!(listing(&app, user).status, 200);
        let (id, occurred_at, currency) = transaction_row(&app, user);
        let row = || transactions::table.filter(transactions::id.eq(id.clone()));

        // A day later, still inside the period: without the binding it would be listed.
        let moved = occurred_at + chrono::Duration::days(1);
        diesel::update(row())
            .set(transactions::occurred_at.eq(moved))
            .execute(&mut **app.connection())
            .unwrap();
        listing(&app, user).assert_error(500, "integrity_failed", "occurred_at moved");
        let statement = app.get(&format!("/users/{user}/statement?{STATEMENT_PERIOD}"));
        assert!(
            !statement.body.ends_with(b"%%EOF\n"),
            "no statement of a moved payment"
        );

        diesel::update(row())
            .set(transactions::occurred_at.eq(occurred_at))
            .execute(&mut **app.connection())
            .unwrap();
        assert_eq!(listing(&app, user).status, 200, "moved back, it opens");

        diesel::update(row())
            .set(transactions::currency.eq("USD"))
            .execute(&mut **app.connection())
            .unwrap();
        let reply = app.get(&format!("/users/{user}/transactions?{PERIOD}"));
        reply.assert_error(500, "integrity_failed", "currency changed");
        let body = String::from_utf8_lossy(&reply.body);
        assert!(
            !body.contains("Mama Mboga") && !body.contains("1250"),
            "{body}"
        );

        diesel::update(row())
            .set(transactions::currency.eq(currency))
            .execute(&mut **app.connection())
            .unwrap();
        assert_eq!(listing(&app, user).status, 200);
    }
);

on_both_backends!(a_format_byte_edited_by_sql_refuses_to_open, |backend| {
    let app = TestApp::spawn(backend);
    let user = user_with_a_payment(&app);
    let user_row = || users::table.filter(users::id.eq(user.as_bytes().to_vec()));
    let email: Vec<u8> = user_row()
        .select(users::email)
        .first(&mut **app.connection())
        .unwrap();
    assert_eq!(email[0], 0x02, "written in format v2");
    // Relabelled as v1 (which would open it under the data key itself, without the
    // format byte in the associated data), and as a format that does not exist.
    for format in [0x01, 0x03] {
        let mut relabelled = email.clone();
        relabelled[0] = format;
        diesel::update(user_row())
            .set(users::email.eq(relabelled))
            .execute(&mut **app.connection())
            .unwrap();
        app.get(&format!("/users/{user}")).assert_error(
            500,
            "integrity_failed",
            &format!("email as {format:#04x}"),
        );
    }
    diesel::update(user_row())
        .set(users::email.eq(&email))
        .execute(&mut **app.connection())
        .unwrap();
    assert_eq!(app.get(&format!("/users/{user}")).status, 200);

    let (id, ..) = transaction_row(&app, user);
    let amount_of = || transactions::table.filter(transactions::id.eq(id.clone()));
    let amount: Vec<u8> = amount_of()
        .select(transactions::amount)
        .first(&mut **app.connection())
        .unwrap();
    assert_eq!(amount[0], 0x02);
    let mut relabelled = amount.clone();
    relabelled[0] = 0x01;
    diesel::update(amount_of())
        .set(transactions::amount.eq(relabelled))
        .execute(&mut **app.connection())
        .unwrap();
    listing(&app, user).assert_error(500, "integrity_failed", "amount as v1");
});

/// Seals `value` in format v1 with an AES-GCM of its own (not piivault's code):
/// `0x01 ‖ nonce ‖ AES-256-GCM(DEK, nonce, value, "piivault/v1/<table>.<column>/<row>")`.
fn seal_v1(dek: &[u8; 32], table: &str, column: &str, row: Uuid, value: &str) -> Vec<u8> {
    let nonce: [u8; 12] = random_bytes().unwrap();
    let aad = format!("piivault/v1/{table}.{column}/{}", row.hyphenated());
    let sealed = Aes256Gcm::new(dek.into())
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: value.as_bytes(),
                aad: aad.as_bytes(),
            },
        )
        .unwrap();
    [&[0x01][..], &nonce, &sealed].concat()
}

/// Rewrites a user registered through the API as piivault wrote users before format
/// v2: a data key of the test's choosing, and every sealed value of the user, of their
/// transactions and of their files in format v1.
fn rewrite_as_v1(app: &TestApp, user: Uuid, values: &Value, listed: &Value, files: &Value) {
    let dek: [u8; 32] = random_bytes().unwrap();
    let wrapped = app
        .keys
        .master
        .wrap(user, &DataKey::from_secret(SecretKey::from_bytes(dek)))
        .unwrap();
    diesel::update(data_keys::table.filter(data_keys::user_id.eq(user.as_bytes().to_vec())))
        .set(data_keys::wrapped_key.eq(wrapped.as_bytes().to_vec()))
        .execute(&mut **app.key_connection())
        .unwrap();
    let seal = |column: &str| {
        seal_v1(
            &dek,
            "users",
            column,
            user,
            values[column].as_str().unwrap(),
        )
    };
    diesel::update(users::table.filter(users::id.eq(user.as_bytes().to_vec())))
        .set((
            users::first_name.eq(seal("first_name")),
            users::last_name.eq(seal("last_name")),
            users::email.eq(seal("email")),
            users::phone.eq(seal("phone")),
            users::national_id.eq(seal("national_id")),
            users::date_of_birth.eq(seal("date_of_birth")),
            users::address.eq(seal("address")),
        ))
        .execute(&mut **app.connection())
        .unwrap();
    for item in listed["transactions"].as_array().unwrap() {
        let id = Uuid::parse_str(item["id"].as_str().unwrap()).unwrap();
        let seal = |column: &str, value: &str| seal_v1(&dek, "transactions", column, id, value);
        // Amounts are sealed as their count of minor units.
        let minor = item["amount"].as_str().unwrap().replace('.', "");
        diesel::update(transactions::table.filter(transactions::id.eq(id.as_bytes().to_vec())))
            .set((
                transactions::reference.eq(seal("reference", item["reference"].as_str().unwrap())),
                transactions::details.eq(seal("details", item["details"].as_str().unwrap())),
                transactions::amount.eq(seal("amount", &minor)),
            ))
            .execute(&mut **app.connection())
            .unwrap();
    }
    for file in files["files"].as_array().unwrap() {
        let id = Uuid::parse_str(file["id"].as_str().unwrap()).unwrap();
        let seal =
            |column: &str| seal_v1(&dek, "files", column, id, file[column].as_str().unwrap());
        diesel::update(files::table.filter(files::id.eq(id.as_bytes().to_vec())))
            .set((
                files::name.eq(seal("name")),
                files::content_type.eq(seal("content_type")),
            ))
            .execute(&mut **app.connection())
            .unwrap();
    }
}

fn listing_json(app: &TestApp, user: Uuid) -> Value {
    ok_json(&listing(app, user))
}

fn files_json(app: &TestApp, user: Uuid) -> Value {
    ok_json(&app.get(&format!("/users/{user}/files")))
}

fn user_json(app: &TestApp, user: Uuid) -> Value {
    ok_json(&app.get(&format!("/users/{user}")))
}

/// The JSON of a reply that must be a 200.
fn ok_json(reply: &Reply) -> Value {
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

/// The first byte of every sealed value of these users, their transactions and files.
fn format_bytes(app: &TestApp, ids: &[Uuid]) -> Vec<u8> {
    let ids: Vec<Vec<u8>> = ids.iter().map(|id| id.as_bytes().to_vec()).collect();
    let mut connection = app.connection();
    let users: Vec<UserRow> = users::table
        .filter(users::id.eq_any(&ids))
        .select(UserRow::as_select())
        .load(&mut **connection)
        .unwrap();
    let transactions: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = transactions::table
        .filter(transactions::user_id.eq_any(&ids))
        .select((
            transactions::reference,
            transactions::details,
            transactions::amount,
        ))
        .load(&mut **connection)
        .unwrap();
    let files: Vec<(Vec<u8>, Vec<u8>)> = files::table
        .filter(files::user_id.eq_any(&ids))
        .select((files::name, files::content_type))
        .load(&mut **connection)
        .unwrap();
    let mut bytes = Vec::new();
    for (name, content_type) in files {
        bytes.extend([name[0], content_type[0]]);
    }
    for user in users {
        let optional = [
            user.phone,
            user.national_id,
            user.date_of_birth,
            user.address,
        ];
        bytes.extend([user.first_name[0], user.last_name[0], user.email[0]]);
        bytes.extend(optional.iter().map(|value| value.as_ref().unwrap()[0]));
    }
    for (a, b, c) in transactions {
        bytes.extend([a[0], b[0], c[0]]);
    }
    bytes
}

on_both_backends!(
    v1_rows_still_read_and_the_reseal_job_moves_them_to_v2,
    |backend| {
        let app = TestApp::spawn(backend);
        let users: Vec<Uuid> = (0..3)
            .map(|_| {
                let user = app.register(&new_user_payload(&unique_email()));
                app.post_transactions(
                    user,
                    &[
                        transaction("R1", "2026-11-02T08:00:00Z", "Deposit", "10.00"),
                        transaction("R2", "2026-10-30T08:00:00Z", "Earlier", "-2.50"),
                    ],
                );
                user
            })
            .collect();
        let uploaded = upload_raw(&app, users[0], "receipt.txt", "text/plain", b"paid");
        assert_eq!(uploaded.status, 201);
        let expected: Vec<(Value, Value, Value)> = users
            .iter()
            .map(|user| {
                let files = files_json(&app, *user);
                (user_json(&app, *user), listing_json(&app, *user), files)
            })
            .collect();
        assert_eq!(expected[0].2["files"].as_array().unwrap().len(), 1);
        // The values as stored are the ones the API returns (parsed and normalized).
        for (user, (user_before, listing_before, files_before)) in users.iter().zip(&expected) {
            rewrite_as_v1(&app, *user, user_before, listing_before, files_before);
        }
        assert!(format_bytes(&app, &users).iter().all(|byte| *byte == 0x01));

        // v1 still reads, through every way out: the user, the listing, a statement
        // (whose opening balance opens amounts before the period).
        for (user, (user_before, listing_before, files_before)) in users.iter().zip(&expected) {
            assert_eq!(&user_json(&app, *user), user_before, "v1 user reads");
            assert_eq!(
                &files_json(&app, *user),
                files_before,
                "v1 file metadata reads"
            );
            assert_eq!(
                &listing_json(&app, *user),
                listing_before,
                "v1 transactions read"
            );
            let statement = app.get(&format!("/users/{user}/statement?{STATEMENT_PERIOD}"));
            assert_eq!(statement.status, 200);
            assert!(statement.body.ends_with(b"%%EOF\n"));
        }

        // Resumable: a first run stops after two rows, the next one finishes.
        let first = app.cli_ok(&["keys", "reseal", "--max-rows", "2", "--batch-size", "1"]);
        assert!(
            first.contains("reseal: 2 written, 0 skipped, 2 looked at"),
            "{first}"
        );
        assert!(
            first.contains("; 8 left"),
            "3 users + 6 transactions + 1 file - 2: {first}"
        );
        let rest = app.cli_ok(&["keys", "reseal"]);
        assert!(
            rest.contains("reseal: 8 written, 0 skipped, 8 looked at"),
            "{rest}"
        );
        assert!(rest.contains("; 0 left"), "{rest}");
        assert!(format_bytes(&app, &users).iter().all(|byte| *byte == 0x02));
        let again = app.cli_ok(&["keys", "reseal"]);
        assert!(
            again.contains("reseal: 0 written, 0 skipped, 0 looked at"),
            "{again}"
        );

        for (user, (user_before, listing_before, files_before)) in users.iter().zip(&expected) {
            assert_eq!(&user_json(&app, *user), user_before, "resealed user reads");
            assert_eq!(
                &files_json(&app, *user),
                files_before,
                "resealed file metadata"
            );
            assert_eq!(&listing_json(&app, *user), listing_before);
        }
        // Resealed transactions are bound to their time and currency like new ones.
        let (id, ..) = transaction_row(&app, users[0]);
        diesel::update(transactions::table.filter(transactions::id.eq(id)))
            .set(transactions::currency.eq("USD"))
            .execute(&mut **app.connection())
            .unwrap();
        listing(&app, users[0]).assert_error(
            500,
            "integrity_failed",
            "resealed row, currency changed",
        );
    }
);

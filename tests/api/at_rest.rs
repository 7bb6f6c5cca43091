//! Reads the database directly and finds none of the plaintext values sent.

use crate::on_both_backends;
use crate::support::{Backend, TestApp};
use serde_json::json;

on_both_backends!(no_plaintext_in_the_database, |backend| {
    let app = TestApp::spawn(backend);
    let payload = json!({"first_name":"Wanjiru","last_name":"Kamau-Plaintext","email":"wanjiru.plaintext@example.org",
        "phone":"+254798765432","national_id":"PLAIN9876","date_of_birth":"1987-06-05",
        "address":"Moi Avenue 42, Mombasa"});
    let id = app.register(&payload);
    assert_eq!(app.get(&format!("/users/{id}")).status, 200);

    let dump = match backend {
        Backend::Sqlite => {
            // The whole file set: main database, WAL and shared memory.
            let mut bytes = Vec::new();
            for suffix in ["", "-wal", "-shm"] {
                if let Ok(content) = std::fs::read(format!("{}{suffix}", app.database_url)) {
                    bytes.extend(content);
                }
            }
            assert!(bytes.len() > 4096, "read the SQLite files");
            bytes
        }
        Backend::Postgres => {
            let rows = app.psql_rows(
                "SELECT row_to_json(u)::text FROM users u; SELECT row_to_json(k)::text FROM data_keys k;",
            );
            assert!(rows.len() > 200, "read the rows");
            rows
        }
    };
    let dump = String::from_utf8_lossy(&dump).to_lowercase();
    for value in [
        "Wanjiru",
        "Kamau-Plaintext",
        "wanjiru.plaintext@example.org",
        "+254798765432",
        "254798765432",
        "PLAIN9876",
        "1987-06-05",
        "Moi Avenue",
        "Mombasa",
    ] {
        assert!(
            !dump.contains(&value.to_lowercase()),
            "plaintext {value:?} found at rest"
        );
    }
});

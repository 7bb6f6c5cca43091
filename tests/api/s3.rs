//! The file vault on a real S3-compatible server (moto, started by the tests): round
//! trips with ranges, a 64 MiB multipart upload, deletion and crypto-shredding seen
//! in the bucket, tamper detection on the stored object, two instances sharing one
//! bucket and one PostgreSQL, and an unreachable bucket answering 503 with nothing
//! written. Compiled with `--features s3` (README's test command).

use serde_json::Value;

use crate::files::{
    download, multipart_body, new_user, random, sha256, stored_id, upload_multipart, upload_raw,
    HEADER, SEALED_SEGMENT, SEGMENT,
};
use crate::on_both_backends;
use crate::support::{s3, Backend, Reply, TestApp};

fn on_s3(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |settings| settings.files = s3::new_bucket())
}

fn listed_ids(app: &TestApp, user: uuid::Uuid) -> Vec<String> {
    let list = app.get(&format!("/users/{user}/files"));
    assert_eq!(list.status, 200);
    list.json()["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file["id"].as_str().unwrap().to_owned())
        .collect()
}

on_both_backends!(round_trips_ranges_and_deletes_in_a_bucket, |backend| {
    let app = on_s3(backend);
    let user = new_user(&app);
    let data = random(3 * SEGMENT + 100);
    let raw = stored_id(&upload_raw(
        &app,
        user,
        "r.bin",
        "application/octet-stream",
        &data,
    ));
    let form = stored_id(&upload_multipart(
        &app,
        user,
        "résumé.pdf",
        "application/pdf",
        b"%PDF",
    ));
    assert_eq!(
        s3::objects(&app.files).len(),
        2,
        "two objects in the bucket"
    );
    assert!(
        !app.data_dir.join("files").exists()
            || std::fs::read_dir(app.data_dir.join("files"))
                .unwrap()
                .count()
                == 0,
        "nothing on the local disk"
    );

    let whole = download(&app, user, &raw, None);
    assert_eq!(whole.status, 200);
    assert_eq!(sha256(&whole.body), sha256(&data));
    assert_eq!(download(&app, user, &form, None).body, b"%PDF");
    for (range, start, end) in [
        (
            format!("bytes={}-{}", SEGMENT - 1, SEGMENT),
            SEGMENT - 1,
            SEGMENT,
        ),
        ("bytes=-100".to_owned(), data.len() - 100, data.len() - 1),
        (
            format!("bytes={}-", 3 * SEGMENT),
            3 * SEGMENT,
            data.len() - 1,
        ),
    ] {
        let part = download(&app, user, &raw, Some(&range));
        assert_eq!(part.status, 206, "{range}");
        assert_eq!(part.body, data[start..=end], "{range}");
    }
    download(&app, user, &raw, Some(&format!("bytes={}-", data.len()))).assert_error(
        416,
        "range_not_satisfiable",
        "past the end",
    );

    assert_eq!(
        app.delete(&format!("/users/{user}/files/{form}")).status,
        204
    );
    assert_eq!(
        s3::objects(&app.files).len(),
        1,
        "the object went with its file"
    );
    assert_eq!(listed_ids(&app, user), vec![raw]);
});

#[test]
fn a_64_mib_file_goes_up_in_parts_and_comes_back_whole() {
    let app = on_s3(Backend::Postgres);
    let user = new_user(&app);
    let data = random(64 * 1024 * 1024);
    // Multipart form framing on top, so the body crosses 64 MiB too.
    let (content_type, body) = multipart_body("big.bin", "application/octet-stream", &data);
    // moto keeps every part in a Python process: give it minutes on a busy machine.
    let slow = std::time::Duration::from_secs(600);
    let reply = Reply::of(
        app.request("POST", &format!("/users/{user}/files"), Some(&app.token))
            .timeout(slow)
            .set("Content-Type", &content_type)
            .send_bytes(&body),
    );
    let id = stored_id(&reply);
    assert_eq!(reply.json()["size"], data.len());
    let objects = s3::objects(&app.files);
    assert_eq!(objects.len(), 1);
    // The sealed object: header, every segment with its tag (5 MiB S3 parts inside).
    let segments = data.len().div_ceil(SEGMENT);
    assert_eq!(objects[0].1.len(), HEADER + data.len() + 16 * segments);
    let back = Reply::of(
        app.request(
            "GET",
            &format!("/users/{user}/files/{id}"),
            Some(&app.token),
        )
        .timeout(slow)
        .call(),
    );
    assert_eq!(back.status, 200);
    assert!(!back.broken);
    assert_eq!(sha256(&back.body), sha256(&data));
    let tail = download(&app, user, &id, Some("bytes=-1000"));
    assert_eq!(tail.body, data[data.len() - 1000..]);
}

on_both_backends!(
    shredding_a_user_removes_its_objects_from_the_bucket,
    |backend| {
        let app = on_s3(backend);
        let user = new_user(&app);
        let kept = new_user(&app);
        for name in ["a.txt", "b.txt"] {
            stored_id(&upload_raw(&app, user, name, "text/plain", &random(70_000)));
        }
        let other = stored_id(&upload_raw(&app, kept, "k.txt", "text/plain", b"kept"));
        let before = s3::objects(&app.files);
        assert_eq!(before.len(), 3);
        assert_eq!(app.delete(&format!("/users/{user}")).status, 204);
        let after = s3::objects(&app.files);
        assert_eq!(after.len(), 1, "the user's objects went with the user");
        app.get(&format!("/users/{user}/files")).assert_error(
            404,
            "not_found",
            "files of a shredded user",
        );
        // A copy of a shredded user's object kept elsewhere opens for no one: put it back
        // under the surviving file's name and it fails its integrity check, not decrypts.
        let shredded = before
            .iter()
            .find(|(name, _)| after.iter().all(|(kept, _)| kept != name))
            .unwrap();
        let (survivor, original) = &after[0];
        s3::overwrite(&app.files, survivor, shredded.1.clone());
        download(&app, kept, &other, None).assert_error(500, "integrity_failed", "foreign object");
        s3::overwrite(&app.files, survivor, original.clone());
        assert_eq!(download(&app, kept, &other, None).body, b"kept");
    }
);

#[test]
fn a_tampered_object_in_the_bucket_fails_instead_of_returning_wrong_bytes() {
    let app = on_s3(Backend::Sqlite);
    let user = new_user(&app);
    let data = random(2 * SEGMENT + 500);
    let id = stored_id(&upload_raw(
        &app,
        user,
        "t.bin",
        "application/octet-stream",
        &data,
    ));
    let (name, original) = s3::objects(&app.files).remove(0);
    let mut flipped = original.clone();
    flipped[HEADER + SEALED_SEGMENT + 3] ^= 0x01;
    let mut reordered = original.clone();
    reordered[HEADER..HEADER + SEALED_SEGMENT]
        .copy_from_slice(&original[HEADER + SEALED_SEGMENT..HEADER + 2 * SEALED_SEGMENT]);
    reordered[HEADER + SEALED_SEGMENT..HEADER + 2 * SEALED_SEGMENT]
        .copy_from_slice(&original[HEADER..HEADER + SEALED_SEGMENT]);
    for (case, bytes) in [
        ("a bit flipped in segment 1", flipped),
        (
            "truncated by a byte",
            original[..original.len() - 1].to_vec(),
        ),
        ("segments 0 and 1 swapped", reordered),
    ] {
        s3::overwrite(&app.files, &name, bytes);
        download(&app, user, &id, None).assert_error(500, "integrity_failed", case);
    }
    s3::overwrite(&app.files, &name, original);
    assert_eq!(sha256(&download(&app, user, &id, None).body), sha256(&data));
}

#[test]
fn two_instances_share_one_bucket_and_one_postgresql() {
    let first = on_s3(Backend::Postgres);
    let second = first.second_instance();
    let user = new_user(&first);
    let data = random(300_000);
    let id = stored_id(&upload_raw(
        &first,
        user,
        "shared.bin",
        "application/octet-stream",
        &data,
    ));
    // Read through the other instance (the token is in the shared database).
    let back = Reply::of(
        second
            .request(
                "GET",
                &format!("/users/{user}/files/{id}"),
                Some(&first.token),
            )
            .call(),
    );
    assert_eq!(sha256(&back.body), sha256(&data));
    let through_second = Reply::of(
        second
            .request(
                "POST",
                &format!("/users/{user}/files?name=2.txt"),
                Some(&first.token),
            )
            .set("Content-Type", "text/plain")
            .send_bytes(b"second"),
    );
    let second_id = stored_id(&through_second);
    assert_eq!(download(&first, user, &second_id, None).body, b"second");
    assert_eq!(s3::objects(&first.files).len(), 2);
    // Shredded through the second, gone for the first, objects included.
    let deleted = Reply::of(
        second
            .request("DELETE", &format!("/users/{user}"), Some(&first.token))
            .call(),
    );
    assert_eq!(deleted.status, 204);
    download(&first, user, &id, None).assert_error(404, "not_found", "shredded elsewhere");
    assert!(s3::objects(&first.files).is_empty());
}

on_both_backends!(an_unreachable_bucket_is_503_and_writes_no_row, |backend| {
    // A port nothing listens on: the endpoint refuses every connection.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = TestApp::spawn_with(backend, |settings| {
        settings.files = s3::on(&endpoint, "nowhere");
    });
    let user = new_user(&app);
    let upload = upload_raw(&app, user, "a.txt", "text/plain", b"hello");
    upload.assert_error(503, "unavailable", "upload to an unreachable bucket");
    let (content_type, body) = multipart_body("b.txt", "text/plain", b"hello");
    Reply::of(
        app.request("POST", &format!("/users/{user}/files"), Some(&app.token))
            .set("Content-Type", &content_type)
            .send_bytes(&body),
    )
    .assert_error(503, "unavailable", "multipart upload");
    assert!(listed_ids(&app, user).is_empty(), "no row was written");
    // The rest of the service is unaffected.
    let user_json: Value = app.get(&format!("/users/{user}")).json();
    assert_eq!(user_json["last_name"], "Sparrow");
});

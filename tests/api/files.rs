//! The file vault over real HTTP: round trips at the segment borders, names that look
//! like paths, concurrency, ranges, every tamper case on the stored object, limits,
//! aborted uploads, access rules, deletion, and a scan of everything at rest.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use piivault::access::Scope;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::support::{new_user_payload, unique_email, Backend, Reply, TestApp};
use crate::{on_backends_and_providers, on_both_backends};

pub(crate) const SEGMENT: usize = 64 * 1024;
pub(crate) const SEALED_SEGMENT: usize = SEGMENT + 16;
pub(crate) const HEADER: usize = 40;

pub(crate) fn random(size: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; size];
    getrandom::fill(&mut bytes).unwrap();
    bytes
}

pub(crate) fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

pub(crate) fn upload_raw(
    app: &TestApp,
    user: Uuid,
    name: &str,
    content_type: &str,
    body: &[u8],
) -> Reply {
    let path = format!(
        "/users/{user}/files?name={}",
        crate::support::encode_query(name)
    );
    Reply::of(
        app.request("POST", &path, Some(&app.token))
            .set("Content-Type", content_type)
            .send_bytes(body),
    )
}

pub(crate) fn multipart_body(name: &str, content_type: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----piivault-test-boundary-7d3a";
    let mut body = Vec::new();
    // A field before the file, which the server must skip.
    write!(
        body,
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored\r\n"
    )
    .unwrap();
    write!(
        body,
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .unwrap();
    body.extend_from_slice(data);
    write!(body, "\r\n--{boundary}--\r\n").unwrap();
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub(crate) fn upload_multipart(
    app: &TestApp,
    user: Uuid,
    name: &str,
    content_type: &str,
    data: &[u8],
) -> Reply {
    let (header, body) = multipart_body(name, content_type, data);
    Reply::of(
        app.request("POST", &format!("/users/{user}/files"), Some(&app.token))
            .set("Content-Type", &header)
            .send_bytes(&body),
    )
}

pub(crate) fn stored_id(reply: &Reply) -> String {
    assert_eq!(
        reply.status,
        201,
        "upload: {}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()["id"].as_str().unwrap().to_owned()
}

pub(crate) fn download(app: &TestApp, user: Uuid, file: &str, range: Option<&str>) -> Reply {
    let mut request = app.request(
        "GET",
        &format!("/users/{user}/files/{file}"),
        Some(&app.token),
    );
    if let Some(range) = range {
        request = request.set("Range", range);
    }
    Reply::of(request.call())
}

pub(crate) fn new_user(app: &TestApp) -> Uuid {
    app.register(&new_user_payload(&unique_email()))
}

fn objects_dir(app: &TestApp) -> PathBuf {
    app.data_dir.join("files")
}

/// Every entry in the object directory (objects and any staging files).
fn objects(app: &TestApp) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(objects_dir(app))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    entries
}

/// Percent-decodes RFC 5987 `filename*=UTF-8''…`.
fn disposition_name(header: &str) -> String {
    let encoded = header
        .split(';')
        .map(str::trim)
        .find_map(|part| part.strip_prefix("filename*="))
        .and_then(|value| {
            value
                .strip_prefix("UTF-8''")
                .or_else(|| value.strip_prefix("utf-8''"))
        })
        .unwrap_or_else(|| panic!("no filename* in {header}"));
    let bytes = encoded.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&encoded[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

on_backends_and_providers!(round_trips_at_segment_borders, |setup| {
    let app = TestApp::spawn(setup);
    let user = new_user(&app);
    for size in [0, 1, SEGMENT, SEGMENT + 1, 5 * 1024 * 1024 + 3] {
        let data = random(size);
        let reply = upload_raw(&app, user, "data.bin", "application/octet-stream", &data);
        let id = stored_id(&reply);
        let meta = reply.json();
        assert_eq!(meta["size"], size, "size {size}");
        assert_eq!(meta["name"], "data.bin");
        assert_eq!(meta["content_type"], "application/octet-stream");
        assert_eq!(
            reply.header("Location").unwrap(),
            format!("/users/{user}/files/{id}")
        );

        let back = download(&app, user, &id, None);
        assert_eq!(back.status, 200, "size {size}");
        assert!(!back.broken, "size {size}");
        assert_eq!(back.header("Content-Length").unwrap(), size.to_string());
        assert_eq!(
            back.header("Content-Type").unwrap(),
            "application/octet-stream"
        );
        assert_eq!(back.header("Accept-Ranges").unwrap(), "bytes");
        assert_eq!(sha256(&back.body), sha256(&data), "size {size}: content");
    }
    let list = Reply::of(
        app.request("GET", &format!("/users/{user}/files"), Some(&app.token))
            .call(),
    );
    assert_eq!(list.status, 200);
    let sizes: Vec<u64> = list.json()["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file["size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, vec![0, 1, 65536, 65537, 5 * 1024 * 1024 + 3]);
});

on_both_backends!(names_are_stored_and_returned_as_given, |backend| {
    let app = TestApp::spawn(backend);
    let user = new_user(&app);
    // Even indexes go up as multipart, odd ones raw with ?name= (a quote cannot be
    // written inside a multipart filename="…").
    let names = [
        "../../etc/passwd",
        "con.txt",
        "résumé 📄.pdf",
        "a\"b\\c;d.txt",
        "..",
    ];
    for (index, name) in names.iter().enumerate() {
        let data = format!("content {index}").into_bytes();
        // Multipart for some, raw with ?name= for the others.
        let reply = if index % 2 == 0 {
            upload_multipart(&app, user, name, "application/pdf", &data)
        } else {
            upload_raw(&app, user, name, "application/pdf", &data)
        };
        let id = stored_id(&reply);
        assert_eq!(reply.json()["name"], *name, "{name}: metadata");
        let back = download(&app, user, &id, None);
        assert_eq!(back.body, data, "{name}: content");
        assert_eq!(back.header("Content-Type").unwrap(), "application/pdf");
        let disposition = back.header("Content-Disposition").unwrap();
        assert!(disposition.starts_with("attachment;"), "{disposition}");
        assert_eq!(disposition_name(disposition), *name, "{name}: filename*");
        assert!(disposition.is_ascii(), "{disposition}");
    }
    // Nothing was ever used as a path: the object directory holds random hex names
    // only, and nothing appeared outside it.
    for object in objects(&app) {
        let file_name = object.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            file_name.len() == 32 && file_name.bytes().all(|b| b.is_ascii_hexdigit()),
            "unexpected entry {file_name}"
        );
    }
    assert_eq!(objects(&app).len(), names.len());
    assert!(!app.data_dir.join("con.txt").exists());
    assert!(!app.data_dir.join("etc").exists());
});

#[test]
fn concurrent_uploads_each_round_trip() {
    let app = TestApp::spawn(Backend::Sqlite);
    let user = new_user(&app);
    let uploads: Vec<(String, Vec<u8>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|n| {
                let app = &app;
                scope.spawn(move || {
                    let data = random(300_000 + n * 70_001);
                    let reply = upload_raw(
                        app,
                        user,
                        &format!("part-{n}.bin"),
                        "application/octet-stream",
                        &data,
                    );
                    (stored_id(&reply), data)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    for (id, data) in &uploads {
        assert_eq!(sha256(&download(&app, user, id, None).body), sha256(data));
    }
    assert_eq!(objects(&app).len(), 8);
}

#[test]
fn ranges_at_segment_borders() {
    let app = TestApp::spawn(Backend::Sqlite);
    let user = new_user(&app);
    let size = 3 * SEGMENT + 100;
    let data = random(size);
    let id = stored_id(&upload_raw(
        &app,
        user,
        "r.bin",
        "application/octet-stream",
        &data,
    ));
    let s = SEGMENT;
    let cases: Vec<(String, usize, usize)> = vec![
        ("bytes=0-0".into(), 0, 0),
        (format!("bytes={}-{}", s - 1, s), s - 1, s),
        (format!("bytes={}-{}", s, 2 * s - 1), s, 2 * s - 1),
        (format!("bytes={}-{}", 2 * s - 1, 2 * s), 2 * s - 1, 2 * s),
        (format!("bytes={}-", 3 * s), 3 * s, size - 1),
        ("bytes=-100".into(), size - 100, size - 1),
        (format!("bytes=10-{}", size + 1000), 10, size - 1),
        ("bytes=0-".into(), 0, size - 1),
    ];
    for (range, start, end) in cases {
        let part = download(&app, user, &id, Some(&range));
        assert_eq!(part.status, 206, "{range}");
        assert_eq!(
            part.header("Content-Range").unwrap(),
            format!("bytes {start}-{end}/{size}"),
            "{range}"
        );
        assert_eq!(
            part.header("Content-Length").unwrap(),
            (end - start + 1).to_string(),
            "{range}"
        );
        assert_eq!(part.body, data[start..=end], "{range}");
    }
    let outside = download(&app, user, &id, Some(&format!("bytes={size}-")));
    outside.assert_error(416, "range_not_satisfiable", "past the end");
    assert_eq!(
        outside.header("Content-Range").unwrap(),
        format!("bytes */{size}")
    );
    // Several ranges are not served as multipart/byteranges: the whole file comes back.
    let several = download(&app, user, &id, Some("bytes=0-1,5-6"));
    assert_eq!(several.status, 200);
    assert_eq!(several.body, data);
}

/// The one object of a user with one file, for the tamper tests.
fn only_object(app: &TestApp) -> PathBuf {
    let all = objects(app);
    assert_eq!(all.len(), 1, "{all:?}");
    all.into_iter().next().unwrap()
}

fn tampered(app: &TestApp, user: Uuid, id: &str, object: &Path, bytes: &[u8], case: &str) {
    let original = std::fs::read(object).unwrap();
    std::fs::write(object, bytes).unwrap();
    download(app, user, id, None).assert_error(500, "integrity_failed", case);
    let ranged = download(app, user, id, Some("bytes=0-9"));
    assert_eq!(ranged.status, 500, "{case}: range");
    std::fs::write(object, &original).unwrap();
}

#[test]
fn every_tamper_case_fails_instead_of_returning_wrong_bytes() {
    let app = TestApp::spawn(Backend::Sqlite);
    let user = new_user(&app);
    // Three segments of content, so reordering and late flips have somewhere to go.
    let size = 2 * SEGMENT + 500;
    let data = random(size);
    let id = stored_id(&upload_raw(
        &app,
        user,
        "t.bin",
        "application/octet-stream",
        &data,
    ));
    let object = only_object(&app);
    let original = std::fs::read(&object).unwrap();
    assert_eq!(original.len(), HEADER + size + 3 * 16);

    let mut flipped = original.clone();
    flipped[HEADER + 1000] ^= 0x01;
    tampered(
        &app,
        user,
        &id,
        &object,
        &flipped,
        "bit flipped in segment 0",
    );
    let mut flipped_header = original.clone();
    flipped_header[5] ^= 0x80;
    tampered(
        &app,
        user,
        &id,
        &object,
        &flipped_header,
        "bit flipped in the salt",
    );
    tampered(
        &app,
        user,
        &id,
        &object,
        &original[..original.len() - 1],
        "truncated by a byte",
    );
    tampered(
        &app,
        user,
        &id,
        &object,
        &original[..HEADER + 2 * SEALED_SEGMENT],
        "truncated at a segment border",
    );
    let mut extended = original.clone();
    extended.extend_from_slice(&original[HEADER..HEADER + SEALED_SEGMENT]);
    tampered(&app, user, &id, &object, &extended, "extended by a segment");
    let mut reordered = original.clone();
    reordered[HEADER..HEADER + SEALED_SEGMENT]
        .copy_from_slice(&original[HEADER + SEALED_SEGMENT..HEADER + 2 * SEALED_SEGMENT]);
    reordered[HEADER + SEALED_SEGMENT..HEADER + 2 * SEALED_SEGMENT]
        .copy_from_slice(&original[HEADER..HEADER + SEALED_SEGMENT]);
    tampered(
        &app,
        user,
        &id,
        &object,
        &reordered,
        "segments 0 and 1 swapped",
    );

    // Another file of the same user and size: its header, or its whole object.
    let other_id = stored_id(&upload_raw(
        &app,
        user,
        "u.bin",
        "application/octet-stream",
        &random(size),
    ));
    let other_object = objects(&app)
        .into_iter()
        .find(|path| path != &object)
        .unwrap();
    let other = std::fs::read(&other_object).unwrap();
    let mut foreign_header = original.clone();
    foreign_header[..HEADER].copy_from_slice(&other[..HEADER]);
    tampered(
        &app,
        user,
        &id,
        &object,
        &foreign_header,
        "header of another file",
    );
    tampered(&app, user, &id, &object, &other, "object of another file");
    // Untouched, both still open: the failures above were the tampering.
    assert_eq!(download(&app, user, &id, None).body, data);
    assert_eq!(download(&app, user, &other_id, None).status, 200);
}

#[test]
fn a_late_failure_aborts_the_body() {
    let app = TestApp::spawn(Backend::Sqlite);
    let user = new_user(&app);
    // A flip in a late segment is found after the headers went out: the body stops
    // short of its Content-Length instead of delivering wrong bytes.
    let big = 3 * 1024 * 1024;
    let big_data = random(big);
    let big_id = stored_id(&upload_raw(
        &app,
        user,
        "big.bin",
        "application/octet-stream",
        &big_data,
    ));
    let big_object = only_object(&app);
    let mut late = std::fs::read(&big_object).unwrap();
    late[HEADER + 40 * SEALED_SEGMENT + 7] ^= 0x01;
    std::fs::write(&big_object, &late).unwrap();
    let cut = download(&app, user, &big_id, None);
    assert_eq!(cut.status, 200, "the first batch was fine");
    assert_eq!(cut.header("Content-Length").unwrap(), big.to_string());
    assert!(
        cut.broken || cut.body.len() < big,
        "a late failure must abort the body"
    );
    assert!(
        cut.body.len() <= 40 * SEGMENT,
        "nothing from the bad segment on"
    );
    assert_eq!(
        cut.body[..],
        big_data[..cut.body.len()],
        "what came was right"
    );
    // The range that starts at the bad segment fails before its headers.
    download(
        &app,
        user,
        &big_id,
        Some(&format!("bytes={}-", 40 * SEGMENT)),
    )
    .assert_error(500, "integrity_failed", "range at the bad segment");
}

on_both_backends!(oversized_and_aborted_uploads_leave_nothing, |backend| {
    let limit = 200_000;
    let app = TestApp::spawn_with(backend, |settings| {
        settings.files.max_file_bytes = limit;
    });
    let user = new_user(&app);
    let at_limit = stored_id(&upload_raw(
        &app,
        user,
        "ok.bin",
        "application/octet-stream",
        &random(usize::try_from(limit).unwrap()),
    ));
    // Declared too large: refused from the headers alone, before any body is sent.
    let address = app.base_url.trim_start_matches("http://").to_owned();
    let mut socket = std::net::TcpStream::connect(&address).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        socket,
        "POST /users/{user}/files?name=big.bin HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        app.token,
        limit + 1
    )
    .unwrap();
    let mut head = [0u8; 12];
    socket.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413", "declared length");
    drop(socket);
    // Streamed past the limit (chunked, or multipart whose declared length is within
    // the framing allowance): refused once the limit is crossed. The server may close
    // while the client is still sending, so a transport error is an answer too; what
    // matters is checked below: nothing stays behind.
    let chunked = app
        .request(
            "POST",
            &format!("/users/{user}/files?name=big.bin"),
            Some(&app.token),
        )
        .set("Content-Type", "application/octet-stream")
        .send(std::io::Cursor::new(random(600_000)));
    let (header, body) = multipart_body("big.bin", "application/pdf", &random(230_000));
    let multipart = app
        .request("POST", &format!("/users/{user}/files"), Some(&app.token))
        .set("Content-Type", &header)
        .send_bytes(&body);
    for (case, result) in [("chunked", chunked), ("multipart", multipart)] {
        match result {
            Err(ureq::Error::Status(status, _)) => assert_eq!(status, 413, "{case}"),
            Err(ureq::Error::Transport(_)) => {}
            Ok(response) => panic!("{case}: oversize accepted with {}", response.status()),
        }
    }

    // Aborted: the client sends half of what it declared and hangs up.
    let before = objects(&app);
    let mut socket = std::net::TcpStream::connect(&address).unwrap();
    write!(
        socket,
        "POST /users/{user}/files?name=half.bin HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Type: application/octet-stream\r\nContent-Length: 190000\r\n\r\n",
        app.token
    )
    .unwrap();
    socket.write_all(&random(150_000)).unwrap();
    socket.flush().unwrap();
    // Hang up once the server is storing it: its staging object exists.
    crate::support::wait_for("the upload to start", || {
        objects(&app).iter().any(|entry| !before.contains(entry))
    });
    drop(socket);

    // Only the file at the limit remains, as object and as row (give the server a
    // moment to notice the hang-up and clean up).
    crate::support::wait_for("the aborted uploads to be cleaned up", || {
        objects(&app).len() == 1
    });
    let list = Reply::of(
        app.request("GET", &format!("/users/{user}/files"), Some(&app.token))
            .call(),
    )
    .json();
    let ids: Vec<&str> = list["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![at_limit.as_str()]);
});

on_both_backends!(access_rules, |backend| {
    let app = TestApp::spawn(backend);
    let owner = new_user(&app);
    let other = new_user(&app);
    let id = stored_id(&upload_raw(&app, owner, "a.txt", "text/plain", b"hello"));
    let no_files = app.create_client("nofiles", &[Scope::UsersRead, Scope::UsersWrite]);
    let routes = [
        ("POST", format!("/users/{owner}/files?name=x.txt")),
        ("GET", format!("/users/{owner}/files")),
        ("GET", format!("/users/{owner}/files/{id}")),
        ("DELETE", format!("/users/{owner}/files/{id}")),
    ];
    for (method, path) in &routes {
        let send = |token: Option<&str>| {
            let request = app
                .request(method, path, token)
                .set("Content-Type", "text/plain");
            Reply::of(if *method == "POST" {
                request.send_bytes(b"x")
            } else {
                request.call()
            })
        };
        send(None).assert_error(
            401,
            "unauthorized",
            &format!("{method} {path} without token"),
        );
        send(Some("pv_not-a-real-token")).assert_error(
            401,
            "unauthorized",
            &format!("{method} {path} bad token"),
        );
        send(Some(&no_files)).assert_error(
            403,
            "forbidden",
            &format!("{method} {path} without scope"),
        );
    }
    // Another user's path never reaches this user's file.
    download(&app, other, &id, None).assert_error(404, "not_found", "wrong user download");
    Reply::of(
        app.request(
            "DELETE",
            &format!("/users/{other}/files/{id}"),
            Some(&app.token),
        )
        .call(),
    )
    .assert_error(404, "not_found", "wrong user delete");
    let others = Reply::of(
        app.request("GET", &format!("/users/{other}/files"), Some(&app.token))
            .call(),
    );
    assert_eq!(others.json()["files"].as_array().unwrap().len(), 0);
    let ghost = Uuid::new_v4();
    upload_raw(&app, ghost, "x.txt", "text/plain", b"x").assert_error(
        404,
        "not_found",
        "upload to unknown user",
    );
    Reply::of(
        app.request("GET", &format!("/users/{ghost}/files"), Some(&app.token))
            .call(),
    )
    .assert_error(404, "not_found", "list of unknown user");
    download(&app, owner, &Uuid::new_v4().to_string(), None).assert_error(
        404,
        "not_found",
        "unknown file",
    );
    download(&app, owner, "not-a-uuid", None).assert_error(400, "invalid_id", "bad file id");
    // Bad input.
    Reply::of(
        app.request("POST", &format!("/users/{owner}/files"), Some(&app.token))
            .set("Content-Type", "text/plain")
            .send_bytes(b"x"),
    )
    .assert_error(422, "validation_failed", "raw body without a name");
    upload_raw(&app, owner, "x.txt", "not a type", b"x").assert_error(
        422,
        "validation_failed",
        "bad content type",
    );
    Reply::of(
        app.request(
            "POST",
            &format!("/users/{owner}/files?name=a&name=b"),
            Some(&app.token),
        )
        .set("Content-Type", "text/plain")
        .send_bytes(b"x"),
    )
    .assert_error(422, "validation_failed", "malformed query");
    Reply::of(
        app.request(
            "POST",
            &format!("/users/{owner}/files?name=a.txt&colour=blue"),
            Some(&app.token),
        )
        .set("Content-Type", "text/plain")
        .send_bytes(b"x"),
    )
    .assert_error(422, "validation_failed", "unknown query parameter");
    Reply::of(
        app.request("POST", &format!("/users/{owner}/files"), Some(&app.token))
            .set("Content-Type", "multipart/form-data; boundary=zzz")
            .send_bytes(
                b"--zzz\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--zzz--\r\n",
            ),
    )
    .assert_error(422, "validation_failed", "multipart without a file field");
    // And the owner still has the file.
    assert_eq!(download(&app, owner, &id, None).body, b"hello");
});

on_backends_and_providers!(deleting_files_and_users_removes_objects, |setup| {
    let app = TestApp::spawn(setup);
    let user = new_user(&app);
    let keep = new_user(&app);
    let first = stored_id(&upload_raw(&app, user, "1.txt", "text/plain", b"one"));
    let _second = stored_id(&upload_raw(
        &app,
        user,
        "2.txt",
        "text/plain",
        &random(100_000),
    ));
    let kept = stored_id(&upload_raw(&app, keep, "k.txt", "text/plain", b"kept"));
    assert_eq!(objects(&app).len(), 3);

    let deleted = Reply::of(
        app.request(
            "DELETE",
            &format!("/users/{user}/files/{first}"),
            Some(&app.token),
        )
        .call(),
    );
    assert_eq!(deleted.status, 204);
    download(&app, user, &first, None).assert_error(404, "not_found", "deleted file");
    assert_eq!(objects(&app).len(), 2);

    assert_eq!(app.delete(&format!("/users/{user}")).status, 204);
    assert_eq!(
        objects(&app).len(),
        1,
        "the user's objects went with the user"
    );
    Reply::of(
        app.request("GET", &format!("/users/{user}/files"), Some(&app.token))
            .call(),
    )
    .assert_error(404, "not_found", "files of a deleted user");
    assert_eq!(download(&app, keep, &kept, None).body, b"kept");
});

on_both_backends!(no_plaintext_content_or_name_at_rest, |backend| {
    let app = TestApp::spawn(backend);
    let user = new_user(&app);
    let canary_content = "CANARY-CONTENT-7f3e9a1b ".repeat(20_000);
    let canary_name = "canary-name-5c2d8e.pdf";
    let canary_type = "application/x-canary-type";
    let id = stored_id(&upload_multipart(
        &app,
        user,
        canary_name,
        canary_type,
        canary_content.as_bytes(),
    ));
    assert_eq!(
        download(&app, user, &id, None).body,
        canary_content.as_bytes()
    );

    // Every byte under the data dir: objects, SQLite database, WAL, keys.
    let mut at_rest = Vec::new();
    let mut pending = vec![app.data_dir.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                at_rest.extend(std::fs::read(&path).unwrap());
            }
        }
    }
    assert!(at_rest.len() > canary_content.len(), "read the objects");
    if backend == Backend::Postgres {
        let rows = app.psql_rows("SELECT row_to_json(f)::text FROM files f");
        assert!(rows.len() > 100, "read the file rows");
        at_rest.extend(rows);
    }
    let at_rest = String::from_utf8_lossy(&at_rest).to_lowercase();
    for needle in [
        "canary-content-7f3e9a1b",
        "canary-name-5c2d8e",
        "x-canary-type",
    ] {
        assert!(!at_rest.contains(needle), "{needle:?} found at rest");
    }
});

/// An upload's file row that commits while its user is being deleted must either be
/// deleted and reported with the others (so its object is removed) or fail; on
/// PostgreSQL the cascade used to take it silently, leaving its object behind.
#[test]
fn deleting_a_user_reports_a_file_row_committed_meanwhile() {
    use diesel::connection::SimpleConnection as _;
    use piivault::db::users;

    let app = TestApp::spawn(Backend::Postgres);
    let user = new_user(&app);
    // The upload's row: written, not yet committed, when the delete starts.
    let mut uploader = app.connection();
    (**uploader)
        .batch_execute(&format!(
            "BEGIN; INSERT INTO files (id, user_id, object_name, size, name, content_type, created_at) \
             VALUES ('\\x{}', '\\x{}', 'racing-object', 1, '\\x00', '\\x00', now())",
            Uuid::new_v4().simple(),
            user.simple()
        ))
        .unwrap();
    let mut deleter = app.connection();
    let deleting = std::thread::spawn(move || users::delete(&mut deleter, user.into()));
    // Commit only once the delete is inside its transaction, waiting on a lock (with
    // the fix: on the user row; without it, later, on the same row for the cascade).
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'";
    crate::support::wait_for("the delete to wait for the uncommitted row", || {
        app.psql_rows(waiting) != b"0\n"
    });
    (**uploader).batch_execute("COMMIT").unwrap();
    let objects = deleting.join().unwrap().unwrap().expect("the user existed");
    assert!(
        objects.contains(&"racing-object".to_owned()),
        "the row committed meanwhile was not reported: {objects:?}"
    );
}

//! Per-client quotas over real HTTP: a client over its rate or at its concurrency cap
//! gets 429 `rate_limited` with `Retry-After` and nothing is done for it, another
//! client is unaffected, changed limits apply without a restart, and limits survive
//! one. Limits are set through the `piivault clients` commands, as an operator would.

use std::io::Write as _;

use piivault::access::{ClientLimits, Scope};
use serde_json::Value;

use crate::on_both_backends;
use crate::support::{new_user_payload, unique_email, wait_for, Reply, TestApp};

fn limits(rate_per_second: u32, burst: u32, max_concurrent: u32) -> ClientLimits {
    ClientLimits {
        rate_per_second,
        burst,
        max_concurrent,
    }
}

/// Asserts a quota refusal: 429 `rate_limited` with a whole number of seconds in
/// `Retry-After`; returns that number.
fn assert_limited(reply: &Reply, case: &str) -> u64 {
    reply.assert_error(429, "rate_limited", case);
    reply
        .header("Retry-After")
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("{case}: Retry-After is not a number of seconds"))
}

/// Requests refused for `limit`, as a metrics client scrapes them.
fn refusals_counted(app: &TestApp, limit: &str) -> f64 {
    let prometheus = app.create_client("prometheus", &[Scope::Metrics]);
    let scraped = app.get_as("/metrics", Some(&prometheus));
    assert_eq!(scraped.status, 200);
    let series = format!("piivault_http_rate_limited_total{{limit=\"{limit}\"}} ");
    String::from_utf8(scraped.body)
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

fn audit_records(app: &TestApp) -> usize {
    use diesel::prelude::*;
    let count: i64 = piivault::db::schema::audit_log::table
        .count()
        .get_result(&mut **app.connection())
        .unwrap();
    usize::try_from(count).unwrap()
}

fn users(app: &TestApp) -> usize {
    use diesel::prelude::*;
    let count: i64 = piivault::db::schema::users::table
        .count()
        .get_result(&mut **app.connection())
        .unwrap();
    usize::try_from(count).unwrap()
}

on_both_backends!(
    over_its_rate_a_client_is_refused_and_nothing_is_done,
    |backend| {
        let app = TestApp::spawn(backend);
        let user = app.register(&new_user_payload(&unique_email()));
        // One unit a second: within a test's few seconds, the bucket hardly refills.
        let (_, writer) = app.create_limited_client("writer", &Scope::ALL, limits(1, 6, 100));
        let post = || {
            let jwe = app.jwe(&new_user_payload(&unique_email()));
            app.post_as("/users", Some(&writer), "application/jose", jwe.as_bytes())
        };
        // The first request teaches this instance the client's limits; a JWE body costs
        // 5 units, so the next one empties the bucket of 6 and the third is refused.
        assert_eq!(post().status, 201);
        assert_eq!(post().status, 201);
        let (users_before, audit_before) = (users(&app), audit_records(&app));
        let refused = post();
        let retry_after = assert_limited(&refused, "a third JWE body");
        assert!((1..=5).contains(&retry_after), "Retry-After {retry_after}");
        // A statement costs more than the burst: it needs the whole bucket back. Refused,
        // it is neither rendered nor audited.
        let statement = app.get_as(&format!("/users/{user}/statement"), Some(&writer));
        assert!(assert_limited(&statement, "a statement") >= 1);
        assert_eq!(users(&app), users_before, "the refused body made no user");
        assert_eq!(audit_records(&app), audit_before, "nothing audited");
        // Another client is unaffected.
        assert_eq!(app.get(&format!("/users/{user}")).status, 200);
        assert_eq!(
            app.post_user(&new_user_payload(&unique_email())).status,
            201
        );
        assert!(refusals_counted(&app, "rate") >= 2.0, "counted in /metrics");
    }
);

/// Starts a file upload as `token` and stalls it mid-body: the request stays in flight
/// until the returned socket is dropped.
fn stalled_upload(app: &TestApp, token: &str, user: uuid::Uuid) -> std::net::TcpStream {
    let address = app.base_url.trim_start_matches("http://");
    let mut socket = std::net::TcpStream::connect(address).unwrap();
    write!(
        socket,
        "POST /users/{user}/files?name=slow.bin HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: 100000\r\n\r\nabc"
    )
    .unwrap();
    socket
}

on_both_backends!(
    at_its_concurrency_cap_a_client_waits_for_its_own_requests,
    |backend| {
        let app = TestApp::spawn(backend);
        let user = app.register(&new_user_payload(&unique_email()));
        let (_, token) = app.create_limited_client("uploader", &Scope::ALL, limits(1000, 1000, 1));
        let read = || app.get_as(&format!("/users/{user}"), Some(&token));
        assert_eq!(read().status, 200, "teaches the limits");
        let upload = stalled_upload(&app, &token, user);
        let mut refused = None;
        wait_for("a read to meet the cap of one request in flight", || {
            let reply = read();
            let limited = reply.status == 429;
            refused = Some(reply);
            limited
        });
        let refused = refused.unwrap();
        assert_eq!(assert_limited(&refused, "a second request in flight"), 1);
        // Another client is unaffected meanwhile.
        assert_eq!(app.get(&format!("/users/{user}")).status, 200);
        // The stalled upload ends (its client goes away): the slot is free again.
        drop(upload);
        wait_for("the slot to be released", || read().status == 200);
        assert!(
            refusals_counted(&app, "concurrency") >= 1.0,
            "counted in /metrics"
        );
    }
);

on_both_backends!(
    changed_limits_apply_without_a_restart_and_survive_one,
    |backend| {
        let app = TestApp::spawn(backend);
        let user = app.register(&new_user_payload(&unique_email()));
        let name = format!("reader-{}", uuid::Uuid::new_v4().simple());
        let created: Value = serde_json::from_str(&app.cli_ok(&[
            "clients",
            "create",
            "--name",
            &name,
            "--scopes",
            "users:read",
            "--rate",
            "1/s",
            "--burst",
            "2",
            "--max-concurrent",
            "3",
            "--json",
        ]))
        .unwrap();
        assert_eq!(created["limits"]["rate_per_second"], 1);
        assert_eq!(created["limits"]["burst"], 2);
        assert_eq!(created["limits"]["max_concurrent"], 3);
        let token = created["token"].as_str().unwrap().to_owned();
        let read = |app: &TestApp| app.get_as(&format!("/users/{user}"), Some(&token));
        // Learned at the first read; a burst of 2 then runs out.
        let limited_within = |app: &TestApp, reads: usize| {
            (0..reads).any(|_| {
                let reply = read(app);
                assert!(
                    reply.status == 200 || reply.status == 429,
                    "{}",
                    reply.status
                );
                reply.status == 429
            })
        };
        assert!(limited_within(&app, 4), "a burst of 2 runs out");

        // Raised while the client is refused: within seconds, without a restart.
        let raised = app.cli_ok(&[
            "clients", "limits", &name, "--rate", "1000/s", "--burst", "1000",
        ]);
        assert!(
            raised.contains("rate 1000/s, burst 1000, max concurrent 3"),
            "{raised}"
        );
        wait_for("the raised limits to apply", || read(&app).status == 200);
        assert!(!limited_within(&app, 20), "20 reads within the new burst");

        // Lowered again: the next checked read brings the new limits.
        app.cli_ok(&["clients", "limits", &name, "--rate", "1/s", "--burst", "1"]);
        assert!(limited_within(&app, 4), "the lowered burst runs out");

        // A new instance on the same database (a restart) enforces the stored limits.
        let restarted = app.second_instance();
        assert!(limited_within(&restarted, 4), "limits survive a restart");
        let listed: Value =
            serde_json::from_str(&app.cli_ok(&["clients", "list", "--json"])).unwrap();
        let stored = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|client| client["name"] == name.as_str())
            .unwrap();
        assert_eq!(stored["limits"]["burst"], 1);
        // Limits out of range are refused by the command.
        for bad in [
            ["--rate", "0/s"],
            ["--burst", "0"],
            ["--max-concurrent", "-1"],
        ] {
            let refused = app.cli_refused(&["clients", "limits", &name, bad[0], bad[1]]);
            assert!(!refused.is_empty(), "{bad:?}");
        }
    }
);

/// One keep-alive HTTP/1.1 connection, driven by hand so that a test sees whether the
/// server keeps it open.
struct Connection {
    socket: std::io::BufReader<std::net::TcpStream>,
    host: String,
}

/// A response read off a [`Connection`]: status and lower-cased headers.
struct RawReply {
    status: u16,
    headers: Vec<(String, String)>,
}

impl RawReply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl Connection {
    fn open(app: &TestApp) -> Self {
        let host = app.base_url.trim_start_matches("http://").to_owned();
        let socket = std::net::TcpStream::connect(&host).unwrap();
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        Self {
            socket: std::io::BufReader::new(socket),
            host,
        }
    }

    /// POSTs `body` as a JWE and reads the whole response.
    fn post_jwe(&mut self, path: &str, token: &str, body: &[u8]) -> RawReply {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/jose\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        let socket = self.socket.get_mut();
        socket.write_all(head.as_bytes()).unwrap();
        socket.write_all(body).unwrap();
        self.read_reply()
    }

    fn read_reply(&mut self) -> RawReply {
        use std::io::{BufRead as _, Read as _};
        let mut line = String::new();
        self.socket.read_line(&mut line).unwrap();
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|status| status.parse().ok())
            .unwrap_or_else(|| panic!("status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.socket.read_line(&mut line).unwrap();
            let Some((name, value)) = line.trim_end().split_once(':') else {
                break;
            };
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        let reply = RawReply { status, headers };
        let length: usize = reply
            .header("content-length")
            .map_or(0, |length| length.parse().unwrap());
        self.socket
            .read_exact(&mut vec![0; length])
            .expect("the whole body");
        reply
    }
}

on_both_backends!(
    a_client_that_ignores_retry_after_is_answered_slowly_on_the_same_connection,
    |backend| {
        let app = TestApp::spawn(backend);
        // A JWE body costs 5 units: after the first (which teaches the limits), one is
        // admitted, and then the bucket takes five seconds to admit another.
        let (_, token) = app.create_limited_client("flooder", &Scope::ALL, limits(1, 5, 100));
        let jwe = || app.jwe(&new_user_payload(&unique_email()));
        let mut connection = Connection::open(&app);
        for _ in 0..2 {
            let reply = connection.post_jwe("/users", &token, jwe().as_bytes());
            assert_eq!(reply.status, 201);
        }
        let users_before = users(&app);
        let told_at = std::time::Instant::now();
        let told = connection.post_jwe("/users", &token, jwe().as_bytes());
        assert_eq!(told.status, 429);
        // Five seconds to refill five units (four, if a second passed since the last).
        let told_wait = told.header("retry-after");
        assert!(matches!(told_wait, Some("4" | "5")), "{told_wait:?}");
        // Its body was read, so the connection stays open for the next request.
        assert_eq!(told.header("connection"), None, "{:?}", told.headers);
        // Sent at once, ignoring Retry-After: answered only after a delay (the wait it
        // was told, at most a second), on the same connection.
        let held = connection.post_jwe("/users", &token, jwe().as_bytes());
        assert_eq!(held.status, 429);
        assert!(held.header("retry-after").is_some());
        assert!(
            told_at.elapsed() >= std::time::Duration::from_secs(1),
            "held until a second after the refusal before it: {:?}",
            told_at.elapsed()
        );
        assert_eq!(users(&app), users_before, "nothing done for either");
        // The refusal comes first, whatever else is wrong with the request: a query the
        // route does not take is not a way around the delay.
        let delayed_at = std::time::Instant::now();
        let bad_query = connection.post_jwe("/users?x=1", &token, jwe().as_bytes());
        assert_eq!(bad_query.status, 429);
        assert!(
            delayed_at.elapsed() >= std::time::Duration::from_millis(900),
            "delayed like the others: {:?}",
            delayed_at.elapsed()
        );
        // Another client is unaffected throughout.
        assert_eq!(
            app.post_user(&new_user_payload(&unique_email())).status,
            201
        );
    }
);

//! Group commit seen from outside: concurrent requests are committed (or their
//! tokens checked) together, yet each gets its own answer. A duplicate email refuses
//! only its own registration; a refused read (unknown token, missing scope, no such
//! user) writes no record and disturbs no other read; a transaction that fails fails
//! exactly the reads whose records it held, and an answered read always has its record.

use std::collections::HashSet;
use std::sync::Barrier;

use piivault::access::Scope;
use piivault::config::PoolSettings;
use piivault::vault::audit::{self, AuditQuery};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{new_user_payload, postgres, unique_email, Backend, Reply, TestApp};

/// Runs `request(0..count)` on `count` threads released at the same moment; the
/// replies in order.
fn all_at_once(count: usize, request: impl Fn(usize) -> Reply + Sync) -> Vec<Reply> {
    let start = Barrier::new(count);
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..count)
            .map(|n| {
                let (start, request) = (&start, &request);
                scope.spawn(move || {
                    start.wait();
                    request(n)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    })
}

/// GET /users/{id} with a token and a request id of the test's choosing.
fn read(app: &TestApp, id: Uuid, token: &str, request_id: &str) -> Reply {
    let request = app
        .request("GET", &format!("/users/{id}"), Some(token))
        .set("X-Request-Id", request_id);
    TestApp::send(request, None)
}

/// The request ids of every `user.read` record, with the user each names.
fn recorded_reads(app: &TestApp) -> HashSet<(String, Uuid)> {
    let pool = piivault::db::pool(&app.database_url, &PoolSettings::single());
    let everything = AuditQuery {
        limit: u32::MAX,
        ..AuditQuery::default()
    };
    audit::find(&mut pool.get().unwrap(), &everything)
        .unwrap()
        .into_iter()
        .filter(|record| record.action == "user.read")
        .filter_map(|record| Some((record.request_id, record.subject_user_id?.uuid())))
        .collect()
}

on_both_backends!(
    concurrent_registrations_each_get_their_own_answer,
    |backend| {
        let app = TestApp::spawn(backend);
        let shared = unique_email();
        let payloads: Vec<_> = (0..20)
            .map(|n| {
                new_user_payload(&if n < 6 {
                    shared.clone()
                } else {
                    unique_email()
                })
            })
            .collect();
        let jwes: Vec<String> = payloads.iter().map(|payload| app.jwe(payload)).collect();
        let replies = all_at_once(20, |n| {
            app.post_as(
                "/users",
                Some(&app.token),
                "application/jose",
                jwes[n].as_bytes(),
            )
        });
        let (same, distinct) = replies.split_at(6);
        let created = same.iter().filter(|reply| reply.status == 201).count();
        assert_eq!(created, 1, "one registration of the shared email is stored");
        for reply in same.iter().filter(|reply| reply.status != 201) {
            reply.assert_error(409, "conflict", "the same email again");
        }
        for (reply, payload) in distinct.iter().zip(&payloads[6..]) {
            assert_eq!(
                reply.status,
                201,
                "{}",
                String::from_utf8_lossy(&reply.body)
            );
            let id = reply.json()["id"].as_str().unwrap().to_owned();
            let user = app.get(&format!("/users/{id}")).json();
            assert_eq!(user["email"], payload["email"], "stored whole");
        }
        assert_eq!(app.get("/users?limit=1").json()["total"], 15);
    }
);

on_both_backends!(
    concurrent_claim_checks_each_get_their_own_answer,
    |backend| {
        // POST /users checks its token before it reads the body; concurrent checks
        // are made with one query, and each still gets its own answer.
        let app = TestApp::spawn(backend);
        let reader = app.create_client("reader", &[Scope::UsersRead]);
        let unknown_token = format!("pv_{}", "B".repeat(43));
        let jwes: Vec<String> = (0..18)
            .map(|_| app.jwe(&new_user_payload(&unique_email())))
            .collect();
        let replies = all_at_once(18, |n| {
            let token = match n % 3 {
                0 => &app.token,
                1 => &reader,
                _ => &unknown_token,
            };
            app.post_as(
                "/users",
                Some(token),
                "application/jose",
                jwes[n].as_bytes(),
            )
        });
        for (n, reply) in replies.iter().enumerate() {
            match n % 3 {
                0 => assert_eq!(
                    reply.status,
                    201,
                    "{}",
                    String::from_utf8_lossy(&reply.body)
                ),
                1 => reply.assert_error(403, "forbidden", "a token without users:write"),
                _ => reply.assert_error(401, "unauthorized", "an unknown token"),
            }
        }
        assert_eq!(app.get("/users?limit=1").json()["total"], 6);
    }
);

on_both_backends!(
    concurrent_reads_each_get_their_own_answer_and_only_reads_are_recorded,
    |backend| {
        let app = TestApp::spawn(backend);
        let users: Vec<Uuid> = (0..3)
            .map(|_| app.register(&new_user_payload(&unique_email())))
            .collect();
        let writer = app.create_client("writer", &[Scope::UsersWrite]);
        let unknown_token = format!("pv_{}", "A".repeat(43));
        // Four kinds of request, mixed: a read, a missing scope, an unknown token, and
        // a user that does not exist.
        let kinds = 24;
        let request_id = |n: usize| format!("mixed-{n}");
        let replies = all_at_once(kinds, |n| match n % 4 {
            0 => read(&app, users[n % 3], &app.token, &request_id(n)),
            1 => read(&app, users[n % 3], &writer, &request_id(n)),
            2 => read(&app, users[n % 3], &unknown_token, &request_id(n)),
            _ => read(&app, Uuid::now_v7(), &app.token, &request_id(n)),
        });
        let mut expected = HashSet::new();
        for (n, reply) in replies.iter().enumerate() {
            match n % 4 {
                0 => {
                    assert_eq!(reply.status, 200, "read {n}");
                    assert!(reply.json()["email"].is_string());
                    expected.insert((request_id(n), users[n % 3]));
                }
                1 => reply.assert_error(403, "forbidden", "missing scope"),
                2 => reply.assert_error(401, "unauthorized", "unknown token"),
                _ => reply.assert_error(404, "not_found", "no such user"),
            }
        }
        assert_eq!(
            recorded_reads(&app),
            expected,
            "a record for each read, no other"
        );
    }
);

on_both_backends!(a_failed_commit_fails_exactly_the_reads_it_held, |backend| {
    use diesel::connection::SimpleConnection as _;
    let app = TestApp::spawn(backend);
    let id = app.register(&new_user_payload(&unique_email()));
    // The database refuses the records of some requests, as it would refuse a whole
    // transaction that cannot commit.
    let refuse_marked = match backend {
        Backend::Sqlite => {
            "CREATE TRIGGER refuse_marked BEFORE INSERT ON audit_log \
             WHEN NEW.request_id LIKE 'refuse-%' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION refuse_marked() RETURNS trigger AS $$ BEGIN \
               IF NEW.request_id LIKE 'refuse-%' THEN RAISE EXCEPTION 'refused by the test'; \
               END IF; RETURN NEW; END; $$ LANGUAGE plpgsql; \
             CREATE TRIGGER refuse_marked BEFORE INSERT ON audit_log \
             FOR EACH ROW EXECUTE FUNCTION refuse_marked();"
        }
    };
    (**app.connection()).batch_execute(refuse_marked).unwrap();
    let request_id = |n: usize| {
        if n % 2 == 0 {
            format!("refuse-{n}")
        } else {
            format!("keep-{n}")
        }
    };
    let replies = all_at_once(24, |n| read(&app, id, &app.token, &request_id(n)));
    let recorded = recorded_reads(&app);
    for (n, reply) in replies.iter().enumerate() {
        let has_record = recorded.contains(&(request_id(n), id));
        if n % 2 == 0 {
            reply.assert_error(500, "internal", "a read whose record is refused");
        }
        if reply.status == 200 {
            assert!(has_record, "read {n} was answered without its record");
        } else {
            reply.assert_error(500, "internal", "a read in a failed transaction");
            assert!(!has_record, "read {n} failed but its record was committed");
        }
    }
    // The committers go on: a read on its own is answered and recorded.
    assert_eq!(read(&app, id, &app.token, "keep-alone").status, 200);
    assert!(recorded_reads(&app).contains(&("keep-alone".to_owned(), id)));
});

/// `SHOW plan_cache_mode` on a connection of `pool`.
fn plan_cache_mode(pool: &piivault::db::DbPool) -> String {
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        plan_cache_mode: String,
    }
    let setting: Setting = diesel::RunQueryDsl::get_result(
        diesel::sql_query("SHOW plan_cache_mode"),
        &mut **pool.get().unwrap(),
    )
    .unwrap();
    setting.plan_cache_mode
}

/// The committers' statements are planned once per connection (their batches' array
/// lengths would otherwise have PostgreSQL plan each one anew); the requests' pool
/// keeps PostgreSQL's own choice, which a query with a range or a limit may need.
#[test]
fn committer_sessions_use_generic_plans_and_request_sessions_do_not() {
    let url = postgres::database_url();
    let committers = piivault::db::committer_pool(
        &url,
        &PoolSettings::single(),
        Box::new(diesel::r2d2::NopEventHandler),
    );
    assert_eq!(plan_cache_mode(&committers), "force_generic_plan");
    let requests = piivault::db::pool(&url, &PoolSettings::single());
    assert_eq!(plan_cache_mode(&requests), "auto");
}

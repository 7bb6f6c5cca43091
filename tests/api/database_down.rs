//! PostgreSQL goes away and comes back: 503 `unavailable` meanwhile, nothing
//! half-written, and the service recovers by itself.

use std::time::{Duration, Instant};

use crate::support::{new_user_payload, postgres, unique_email, Backend, TestApp};

#[test]
fn database_down_gives_503_and_the_service_recovers() {
    let cluster = postgres::dedicated_cluster();
    let url = cluster.database_url();
    let app = TestApp::spawn_with(Backend::Postgres, |settings| {
        settings.database_url = url.clone();
    });
    let id = app.register(&new_user_payload(&unique_email()));

    cluster.stop();
    let jwe = app.jwe(&new_user_payload(&unique_email()));
    let reply = app.post_as(
        "/users",
        Some(&app.token),
        "application/jose",
        jwe.as_bytes(),
    );
    // The token check reaches the database first: either way the answer is 503.
    reply.assert_error(503, "unavailable", "POST while down");
    app.get_as("/readyz", None)
        .assert_error(503, "unavailable", "readyz while down");
    app.get(&format!("/users/{id}"))
        .assert_error(503, "unavailable", "GET while down");
    assert_eq!(
        app.get_as("/healthz", None).status,
        200,
        "liveness does not depend on the database"
    );

    cluster.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.get_as("/readyz", None).status != 200 {
        assert!(Instant::now() < deadline, "did not recover within 30 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        app.get(&format!("/users/{id}")).status,
        200,
        "reads work again"
    );
    let reply = app.post_as(
        "/users",
        Some(&app.token),
        "application/jose",
        jwe.as_bytes(),
    );
    assert_eq!(
        reply.status, 201,
        "the refused request can simply be sent again"
    );
}

//! Integration tests: real HTTP against the real server, each on SQLite and on a
//! throw-away PostgreSQL cluster. One binary, so the cluster starts once.

// Tests may panic on the unexpected: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod access;
mod admin_browser;
mod architecture;
mod at_rest;
mod bad_input;
mod binary;
mod conventions;
mod crash;
mod database_down;
mod documents;
mod files;
mod formats;
mod group_commit;
mod hostile_input;
mod hsm;
mod interop;
mod key_lifecycle;
mod metadata;
mod metrics;
mod openapi;
mod operator;
mod postman;
mod quotas;
mod retirement;
#[cfg(feature = "s3")]
mod s3;
mod statement;
mod transactions;
mod users;

//! piivault: collects, keeps and hands back people's personal data without it ever
//! lying around in the clear. The binary in `main.rs` is a thin shell over this library.
#![forbid(unsafe_code)]

pub mod access;
pub mod audit;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod error;
pub mod files;
pub mod jose;
pub mod json;
pub mod keys;
pub mod keystore;
pub mod ledger;
pub mod lifecycle;
pub mod request_id;
pub mod routes;
pub mod seed;
pub mod startup;
pub mod statement;
pub mod telemetry;
pub mod time;
pub mod users;

//! piivault: collects, keeps and hands back people's personal data without it ever
//! lying around in the clear. The binary in `main.rs` is a thin shell over this library.
//!
//! Layers, top down (a module only uses the ones below it):
//! `routes` + `startup` (HTTP) and `cli` (with `seed`) → `vault` (the service) → `access`, `pdf`,
//! `files`, `keys`, `db`, `jose`, `crypto`, `domain` → `config`, `id`, `time`, `json`,
//! `metrics`.
#![forbid(unsafe_code)]

pub mod access;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod files;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz_targets;
pub mod id;
pub mod jose;
pub mod json;
pub mod keys;
pub mod metrics;
pub mod pdf;
pub mod routes;
pub mod seed;
pub mod startup;
pub mod telemetry;
pub mod time;
pub mod vault;

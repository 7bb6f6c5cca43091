//! `piivault serve [--dev]` (and `piivault` alone: the quick start). Dev mode generates
//! missing keys and prints a token with every scope, kept (0600) in the data dir so it
//! survives restarts.

use std::path::Path;

use anyhow::Context as _;

use super::args::{GlobalArgs, ServeArgs};
use crate::access::{clients, ApiToken};
use crate::keys;
use crate::startup;

const DEV_CLIENT: &str = "dev";
const DEV_TOKEN_FILE: &str = "dev-token";

pub fn run(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    global.prepare_data_dir()?;
    if args.dev {
        let created = keys::init(&global.key_places()?)?;
        for path in created.files {
            tracing::warn!(path = %path.display(), "dev mode: generated a missing key");
        }
        for label in created.token_objects {
            tracing::warn!(%label, "dev mode: generated a missing master key in the token");
        }
    }
    let settings = global.serve_settings(args);
    startup::serve(&settings, |application| {
        if settings.dev {
            let token = dev_token(global)?;
            println!(
                "\npiivault dev mode on http://127.0.0.1:{port}\n  dev token (every scope): {token}\n  try: curl http://127.0.0.1:{port}/.well-known/jwks.json\n",
                port = application.port(),
                token = token.reveal()
            );
        }
        tracing::info!(
            port = application.port(),
            dev = settings.dev,
            "piivault listening"
        );
        Ok(())
    })
}

/// The dev token: read from the data dir, or made and saved there, and accepted by
/// the `dev` client (created with every scope if missing).
fn dev_token(global: &GlobalArgs) -> anyhow::Result<ApiToken> {
    let path = global.data_dir.join(DEV_TOKEN_FILE);
    let saved = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| ApiToken::parse(text.trim()));
    let token = if let Some(token) = saved {
        token
    } else {
        let token = ApiToken::generate()?;
        write_private(&path, token.reveal())?;
        token
    };
    let key = keys::load_metadata_key(&global.keys_dir)?;
    let mut connection = global.connect()?;
    clients::ensure_with_token(&mut connection, &key, DEV_CLIENT, &token)?;
    Ok(token)
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

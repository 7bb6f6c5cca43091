//! `piivault clients create | limits | list | revoke`: API clients, their tokens (a
//! token is printed once; only its keyed digest is stored) and their quotas. Every
//! client row is sealed under the metadata key, so these commands read it from the
//! keys dir (or `PIIVAULT_METADATA_KEY`).

use anyhow::bail;

use super::args::{ClientsCommand, GlobalArgs, LimitArgs};
use crate::access::clients::LimitChange;
use crate::access::{clients, ClientLimits, Scope};
use crate::keys;

impl LimitArgs {
    fn change(self) -> LimitChange {
        LimitChange {
            rate_per_second: self.rate,
            burst: self.burst,
            max_concurrent: self.max_concurrent,
        }
    }
}

fn describe(limits: ClientLimits) -> String {
    format!(
        "rate {}/s, burst {}, max concurrent {}",
        limits.rate_per_second, limits.burst, limits.max_concurrent
    )
}

pub fn run(global: &GlobalArgs, command: ClientsCommand) -> anyhow::Result<()> {
    let key = keys::load_metadata_key(&global.keys_dir)?;
    let mut connection = global.connect()?;
    match command {
        ClientsCommand::Create {
            name,
            scopes,
            limits,
            json,
        } => {
            let scopes = Scope::parse_list(&scopes).map_err(anyhow::Error::msg)?;
            let defaults = ClientLimits::DEFAULT;
            let limits = ClientLimits {
                rate_per_second: limits.rate.unwrap_or(defaults.rate_per_second),
                burst: limits.burst.unwrap_or(defaults.burst),
                max_concurrent: limits.max_concurrent.unwrap_or(defaults.max_concurrent),
            };
            let created = clients::create(&mut connection, &key, &name, &scopes, limits)?;
            if json {
                println!("{}", serde_json::to_string(&created)?);
            } else {
                println!(
                    "created client {} ({}) with scopes {} and {}\ntoken (shown once, keep it secret): {}",
                    created.name,
                    created.id,
                    created.scopes.join(","),
                    describe(created.limits),
                    created.token
                );
            }
        }
        ClientsCommand::Limits { name, limits, json } => {
            let now = clients::set_limits(&mut connection, &key, &name, &limits.change())?;
            if json {
                println!("{}", serde_json::to_string(&now)?);
            } else {
                println!("{name}: {}", describe(now));
            }
        }
        ClientsCommand::List { json } => {
            let list = clients::list(&mut connection, &key)?;
            if json {
                println!("{}", serde_json::to_string(&list)?);
            } else {
                for client in list {
                    let mut state = client
                        .revoked_at
                        .map_or("active".to_owned(), |at| format!("revoked {at}"));
                    if !client.authentic {
                        state.push_str(" FAILS ITS MAC: token refused");
                    }
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        client.name,
                        client.scopes.join(","),
                        describe(client.limits),
                        client.created_at,
                        state
                    );
                }
            }
        }
        ClientsCommand::Revoke { name } => {
            if !clients::revoke(&mut connection, &key, &name)? {
                bail!("no active client named `{name}`");
            }
            println!("revoked {name}");
        }
    }
    Ok(())
}

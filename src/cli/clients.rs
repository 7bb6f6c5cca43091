//! `piivault clients create | list | revoke`: API clients and their tokens (a token is
//! printed once; only its hash is stored).

use anyhow::bail;

use super::args::{ClientsCommand, GlobalArgs};
use crate::access::{clients, Scope};

pub fn run(global: &GlobalArgs, command: ClientsCommand) -> anyhow::Result<()> {
    let mut connection = global.connect()?;
    match command {
        ClientsCommand::Create { name, scopes, json } => {
            let scopes = Scope::parse_list(&scopes).map_err(anyhow::Error::msg)?;
            let created = clients::create(&mut connection, &name, &scopes)?;
            if json {
                println!("{}", serde_json::to_string(&created)?);
            } else {
                println!(
                    "created client {} ({}) with scopes {}\ntoken (shown once, keep it secret): {}",
                    created.name,
                    created.id,
                    created.scopes.join(","),
                    created.token
                );
            }
        }
        ClientsCommand::List { json } => {
            let list = clients::list(&mut connection)?;
            if json {
                println!("{}", serde_json::to_string(&list)?);
            } else {
                for client in list {
                    let state = client
                        .revoked_at
                        .map_or("active".to_owned(), |at| format!("revoked {at}"));
                    println!(
                        "{}\t{}\t{}\t{}",
                        client.name,
                        client.scopes.join(","),
                        client.created_at,
                        state
                    );
                }
            }
        }
        ClientsCommand::Revoke { name } => {
            if !clients::revoke(&mut connection, &name)? {
                bail!("no active client named `{name}`");
            }
            println!("revoked {name}");
        }
    }
    Ok(())
}

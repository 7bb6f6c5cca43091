//! `piivault users shred ID`: the same crypto-shredding as `DELETE /users/{id}`.

use anyhow::{bail, Context as _};

use super::args::{GlobalArgs, UsersCommand};
use super::block_on;
use crate::id::{Id as _, UserId};

pub fn run(global: &GlobalArgs, command: UsersCommand) -> anyhow::Result<()> {
    let UsersCommand::Shred { id } = command;
    let id = UserId::parse(&id)
        .context("the user id is not a UUID as piivault writes them (lowercase, hyphenated)")?;
    let vault = global.vault()?;
    let Some(files) = block_on(vault.shred(id))?? else {
        bail!("no user {id}")
    };
    println!("shredded user {id}: its data key is destroyed, its rows and {files} file(s) deleted");
    Ok(())
}

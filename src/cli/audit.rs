//! `piivault audit tail [-n N] [--follow] [--json]`: the newest audit records, oldest
//! of them first; `--follow` keeps polling for new ones.

use std::time::Duration;

use super::args::{AuditCommand, GlobalArgs};
use crate::vault::audit::{self, AuditEntry, AuditQuery};

pub fn run(global: &GlobalArgs, command: &AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Tail {
        lines,
        follow,
        json,
    } = *command;
    tail(global, lines, follow, json)
}

fn tail(global: &GlobalArgs, lines: u32, follow: bool, json: bool) -> anyhow::Result<()> {
    let mut connection = global.connect()?;
    let print = |entry: &AuditEntry| -> anyhow::Result<()> {
        if json {
            println!("{}", serde_json::to_string(entry)?);
        } else {
            println!(
                "{}  {:<18} client={} ({})  subject={}  users={}  request={}",
                crate::time::rfc3339(entry.at),
                entry.action,
                entry.client_name,
                entry.client_id,
                entry
                    .subject_user_id
                    .map_or_else(|| "-".to_owned(), |id| id.to_string()),
                entry.users_read,
                entry.request_id
            );
        }
        Ok(())
    };
    let newest = audit::find(
        &mut connection,
        &AuditQuery {
            limit: lines.max(1),
            ..AuditQuery::default()
        },
    )?;
    let mut last = newest.first().map(|entry| entry.id);
    for entry in newest.iter().rev() {
        print(entry)?;
    }
    if !follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(Duration::from_secs(1));
        // Everything newer than the last printed record, oldest first.
        let mut fresh = Vec::new();
        let mut before = None;
        loop {
            let page = audit::find(
                &mut connection,
                &AuditQuery {
                    before,
                    limit: 500,
                    ..AuditQuery::default()
                },
            )?;
            let done = page.len() < 500;
            let mut reached = false;
            for entry in page {
                if Some(entry.id) <= last {
                    reached = true;
                    break;
                }
                before = Some(entry.id);
                fresh.push(entry);
            }
            if reached || done {
                break;
            }
        }
        for entry in fresh.iter().rev() {
            print(entry)?;
        }
        if let Some(entry) = fresh.first() {
            last = Some(entry.id);
        }
    }
}

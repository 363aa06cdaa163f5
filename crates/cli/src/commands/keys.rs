//! `machina keys`: the keyring.

use super::*;

/// Key management.
#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create a new random key.
    New {
        /// Its name.
        name: String,
    },
    /// List keys.
    List,
    /// Show a key's address.
    Show {
        /// Its name.
        name: String,
    },
}

pub(super) fn keys(ctx: &Ctx, cmd: KeysCommand) -> CmdResult {
    let ring = ctx.keyring();
    match cmd {
        KeysCommand::New { name } => {
            let key = ring.generate(&name)?;
            let body = json!({ "name": key.name, "address": key.address() });
            ctx.print(&body, || format!("{}  {}", key.name, key.address()));
        }
        KeysCommand::List => {
            let keys = ring.list()?;
            let body: Vec<Value> =
                keys.iter().map(|k| json!({ "name": k.name, "address": k.address() })).collect();
            ctx.print(&json!(body), || {
                if keys.is_empty() {
                    format!("no keys in {}", ring.dir().display())
                } else {
                    keys.iter()
                        .map(|k| format!("{:<12} {}", k.name, k.address()))
                        .collect::<Vec<_>>()
                        .join("\n")
                }
            });
        }
        KeysCommand::Show { name } => {
            let key = ring.get(&name)?;
            let body = json!({ "name": key.name, "address": key.address() });
            ctx.print(&body, || format!("name     {}\naddress  {}", key.name, key.address()));
        }
    }
    Ok(())
}

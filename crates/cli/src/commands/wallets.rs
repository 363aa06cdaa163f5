//! `machina wallet` and `machina multisig`: account policies the chain enforces (spending
//! limits, allow lists, cooldown, expiry), the kill switch and recovery, session keys acting
//! for an account, and k-of-n multisig accounts.

use super::device::{DeviceCtx, Signing};
use anyhow::{Context as _, Result, anyhow, bail};
use clap::{Args, Subcommand};
use machina_sdk::client::TxStatus;
use machina_types::{
    Address, Call, Event, Hash, WalletsCall,
    call::MODULES,
    wallets::{Limit, Policy, WalletsEvent},
};
use serde_json::json;

/// What a policy allows, as flags (shared by `wallet policy set` and `wallet session add`).
#[derive(Args, Debug)]
pub struct PolicyArgs {
    /// A spending limit: `ASSET:AMOUNT:PERIOD_MS[:PER_TX]`, ASSET `native` or a bank asset
    /// id, e.g. `native:1000:86400000` (1,000 a day); repeat for several assets (at most 8).
    #[arg(long = "limit")]
    limits: Vec<String>,
    /// Allow bank transfers to this payee only (address or key name; repeat; at most 32).
    #[arg(long = "counterparty")]
    counterparties: Vec<String>,
    /// Allow calls to this module only (`bank`, `market`...; repeat; at most 16).
    #[arg(long = "module")]
    modules: Vec<String>,
    /// Allow market offers and intents in this market only (hex id; repeat; at most 16).
    #[arg(long = "market")]
    markets: Vec<String>,
    /// Least block time (ms) between two transactions.
    #[arg(long, default_value_t = 0)]
    cooldown_ms: u64,
}

/// `machina wallet`.
#[derive(Subcommand, Debug)]
pub enum WalletCommand {
    /// Set, show or remove an account's policy.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Freeze an account and its session keys (its guardian or device owner): from the next
    /// block its transactions are rejected.
    Freeze {
        /// The account (address or key name).
        account: String,
    },
    /// Unfreeze an account (its guardian or device owner).
    Unfreeze {
        /// The account (address or key name).
        account: String,
    },
    /// Move a frozen account's balance to a safe address (its guardian or device owner).
    Recover {
        /// The frozen account (address or key name).
        account: String,
        /// How much.
        #[arg(long)]
        amount: u64,
        /// Who receives it (address or key name).
        #[arg(long)]
        to: String,
        /// A bank asset [default: the native token].
        #[arg(long)]
        asset: Option<u64>,
    },
    /// Session keys: keys that act for an account within a policy of their own.
    #[command(subcommand)]
    Session(SessionCommand),
}

/// `machina wallet policy`.
#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Set or replace an account's policy. An account without one sets its own; then only
    /// its guardian (or the owner of the device the account signs for) may.
    Set {
        /// The account [default: the signer].
        #[arg(long)]
        account: Option<String>,
        /// Who may change, freeze, recover or remove the policy [default: the signer].
        #[arg(long)]
        guardian: Option<String>,
        /// Block time (ms since the epoch) from which the account may make no calls.
        #[arg(long)]
        expires_at_ms: Option<u64>,
        /// Set it frozen.
        #[arg(long)]
        frozen: bool,
        /// What it allows.
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// An account's policy and what its limits counted in their current windows.
    Show {
        /// The account (address or key name).
        account: String,
    },
    /// Remove an account's policy (its guardian or device owner).
    Remove {
        /// The account (address or key name).
        account: String,
    },
}

/// `machina wallet session`.
#[derive(Subcommand, Debug)]
pub enum SessionCommand {
    /// Add (or replace) a session key for an account (the account itself, its guardian or
    /// its device owner).
    Add {
        /// The account [default: the signer].
        #[arg(long)]
        account: Option<String>,
        /// The session key (address or key name; created in the keyring if it is a new name).
        #[arg(long)]
        key: String,
        /// How long the key may act (ms from now; block time).
        #[arg(long)]
        expires_in_ms: u64,
        /// What it allows (checked with the account's own policy).
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Revoke a session key at once.
    Revoke {
        /// The account [default: the signer].
        #[arg(long)]
        account: Option<String>,
        /// The session key (address or key name).
        #[arg(long)]
        key: String,
    },
    /// A session key's policy and what it counted.
    Show {
        /// The account (address or key name).
        account: String,
        /// The session key (address or key name).
        #[arg(long)]
        key: String,
    },
    /// Make calls as an account, signed by its session key (`--from`); the key pays the fee.
    Act {
        /// The account (address or key name).
        account: String,
        /// A call as JSON, e.g. `{"module":"bank","call":{"op":"transfer","to":"<address>",
        /// "amount":5}}` (repeat, at most 4; made in order, all or none; no wallets calls).
        #[arg(long = "call", required = true)]
        calls: Vec<String>,
    },
}

/// `machina multisig`.
#[derive(Subcommand, Debug)]
pub enum MultisigCommand {
    /// Create a k-of-n multisig account (no key controls it); prints its address.
    Create {
        /// A member (address or key name; repeat, 2 to 16).
        #[arg(long = "member", required = true)]
        members: Vec<String>,
        /// Approvals an execution needs.
        #[arg(long)]
        threshold: u8,
        /// Block time (ms) between reaching the threshold and executing.
        #[arg(long, default_value_t = 0)]
        timelock_ms: u64,
    },
    /// Propose calls for a multisig to make (a member; counts as your approval).
    Propose {
        /// The multisig's address.
        multisig: String,
        /// A call as JSON (repeat, at most 4; made in order as the multisig, all or none).
        #[arg(long = "call", required = true)]
        calls: Vec<String>,
    },
    /// Approve an open proposal (a member, once).
    Approve {
        /// The multisig's address.
        multisig: String,
        /// The proposal.
        proposal: u64,
    },
    /// Make an approved proposal's calls after the timelock (a member).
    Execute {
        /// The multisig's address.
        multisig: String,
        /// The proposal.
        proposal: u64,
    },
    /// Withdraw an open proposal (its proposer).
    Cancel {
        /// The multisig's address.
        multisig: String,
        /// The proposal.
        proposal: u64,
    },
    /// A multisig, or one of its open proposals with --proposal.
    Show {
        /// The multisig's address.
        multisig: String,
        /// An open proposal.
        #[arg(long)]
        proposal: Option<u64>,
    },
}

/// Parses `ASSET:AMOUNT:PERIOD_MS[:PER_TX]`.
fn limit(text: &str) -> Result<Limit> {
    let parts: Vec<&str> = text.split(':').collect();
    let bad = || anyhow!("--limit {text}: expected ASSET:AMOUNT:PERIOD_MS[:PER_TX]");
    let [asset, amount, period, rest @ ..] = &parts[..] else { return Err(bad()) };
    let asset = match *asset {
        "native" => None,
        id => Some(id.parse().map_err(|_| bad())?),
    };
    let per_tx = match rest {
        [] => None,
        [cap] => Some(cap.parse().map_err(|_| bad())?),
        _ => return Err(bad()),
    };
    let per_period = amount.parse().map_err(|_| bad())?;
    Ok(Limit { asset, per_period, period_ms: period.parse().map_err(|_| bad())?, per_tx })
}

impl PolicyArgs {
    /// The policy these flags describe, guarded by `guardian`.
    fn policy(&self, ctx: &DeviceCtx, guardian: Address) -> Result<Policy> {
        let modules = self.modules.iter().map(|m| {
            MODULES.iter().find(|(name, ..)| name == m).map(|(_, tag, _)| *tag).ok_or_else(|| {
                let names: Vec<&str> = MODULES.iter().map(|(n, ..)| *n).collect();
                anyhow!("--module {m}: not one of {}", names.join(", "))
            })
        });
        let markets = self.markets.iter().map(|m| {
            m.parse::<Hash>().map_err(|_| anyhow!("--market {m}: not a market id (64 hex)"))
        });
        let counterparties = self.counterparties.iter().map(|c| ctx.address(c));
        Ok(Policy {
            limits: self.limits.iter().map(|l| limit(l)).collect::<Result<_>>()?,
            counterparties: counterparties.collect::<Result<_>>()?,
            modules: modules.collect::<Result<_>>()?,
            markets: markets.collect::<Result<_>>()?,
            cooldown_ms: self.cooldown_ms,
            ..Policy::guarded_by(guardian)
        })
    }
}

/// Parses calls given as JSON.
fn calls(texts: &[String]) -> Result<Vec<Call>> {
    texts.iter().map(|c| serde_json::from_str(c).with_context(|| format!("--call {c}"))).collect()
}

/// The wallets events of a transaction's receipt.
fn events(status: &TxStatus) -> Vec<WalletsEvent> {
    let Some(receipt) = &status.receipt else { return Vec::new() };
    let wallets = receipt.events.iter().filter_map(|e| match e {
        Event::Wallets(w) => Some(w.clone()),
        _ => None,
    });
    wallets.collect()
}

/// Signs and submits one wallets call and waits until it is final; prints `done`.
fn run(ctx: &DeviceCtx, signing: &Signing, call: WalletsCall, done: String) -> Result<TxStatus> {
    let status = ctx.execute(&signing.from, vec![call.into()])?;
    ctx.print(&json!({ "tx": status.hash, "events": events(&status) }), || done);
    Ok(status)
}

/// The account named by `who`, or the signer.
fn account_or_signer(ctx: &DeviceCtx, signing: &Signing, who: Option<String>) -> Result<Address> {
    ctx.address(who.as_deref().unwrap_or(&signing.from))
}

/// Runs `machina wallet ...`.
pub fn wallet(ctx: &DeviceCtx, signing: &Signing, cmd: WalletCommand) -> Result<()> {
    match cmd {
        WalletCommand::Policy(cmd) => policy(ctx, signing, cmd),
        WalletCommand::Freeze { account } => {
            let account = ctx.address(&account)?;
            let done = format!("{account} frozen from the next block");
            run(ctx, signing, WalletsCall::Freeze { account }, done).map(drop)
        }
        WalletCommand::Unfreeze { account } => {
            let account = ctx.address(&account)?;
            run(ctx, signing, WalletsCall::Unfreeze { account }, format!("{account} unfrozen"))
                .map(drop)
        }
        WalletCommand::Recover { account, amount, to, asset } => {
            let (account, to) = (ctx.address(&account)?, ctx.address(&to)?);
            let done = format!("recovered {amount} from {account} to {to}");
            run(ctx, signing, WalletsCall::Recover { account, asset, amount, to }, done).map(drop)
        }
        WalletCommand::Session(cmd) => session(ctx, signing, cmd),
    }
}

fn policy(ctx: &DeviceCtx, signing: &Signing, cmd: PolicyCommand) -> Result<()> {
    match cmd {
        PolicyCommand::Set { account, guardian, expires_at_ms, frozen, policy } => {
            let account = account_or_signer(ctx, signing, account)?;
            let guardian = account_or_signer(ctx, signing, guardian)?;
            let policy = Policy { expires_at_ms, frozen, ..policy.policy(ctx, guardian)? };
            let done = format!("policy of {account} set, guarded by {guardian}");
            run(ctx, signing, WalletsCall::SetPolicy { account, policy }, done).map(drop)
        }
        PolicyCommand::Show { account } => {
            let account = ctx.address(&account)?;
            let Some(policy) = ctx.client.policy(&account)? else {
                bail!("{account} has no policy");
            };
            ctx.print(&policy, || serde_json::to_string_pretty(&policy).unwrap_or_default());
            Ok(())
        }
        PolicyCommand::Remove { account } => {
            let account = ctx.address(&account)?;
            let done = format!("policy of {account} removed");
            run(ctx, signing, WalletsCall::RemovePolicy { account }, done).map(drop)
        }
    }
}

fn session(ctx: &DeviceCtx, signing: &Signing, cmd: SessionCommand) -> Result<()> {
    match cmd {
        SessionCommand::Add { account, key, expires_in_ms, policy } => {
            let account = account_or_signer(ctx, signing, account)?;
            let key = match ctx.address(&key) {
                Ok(address) => address,
                Err(_) => ctx.key_or_create(&key)?.address(),
            };
            let now = super::device::now_ms();
            let expires_at_ms = Some(now.saturating_add(expires_in_ms));
            let policy = Policy { expires_at_ms, ..policy.policy(ctx, account)? };
            let done = format!("session key {key} added for {account}");
            run(ctx, signing, WalletsCall::AddSessionKey { account, key, policy }, done).map(drop)
        }
        SessionCommand::Revoke { account, key } => {
            let account = account_or_signer(ctx, signing, account)?;
            let key = ctx.address(&key)?;
            let done = format!("session key {key} of {account} revoked");
            run(ctx, signing, WalletsCall::RevokeSessionKey { account, key }, done).map(drop)
        }
        SessionCommand::Show { account, key } => {
            let (account, key) = (ctx.address(&account)?, ctx.address(&key)?);
            let Some(session) = ctx.client.session_key(&account, &key)? else {
                bail!("{key} is not a session key of {account}");
            };
            ctx.print(&session, || serde_json::to_string_pretty(&session).unwrap_or_default());
            Ok(())
        }
        SessionCommand::Act { account, calls: texts } => {
            let account = ctx.address(&account)?;
            let calls = calls(&texts)?;
            let done = format!("{} calls made as {account}", calls.len());
            run(ctx, signing, WalletsCall::Act { account, calls }, done).map(drop)
        }
    }
}

/// Runs `machina multisig ...`.
pub fn multisig(ctx: &DeviceCtx, signing: &Signing, cmd: MultisigCommand) -> Result<()> {
    let address = |text: &str| -> Result<Address> {
        text.parse().map_err(|_| anyhow!("not a multisig address (64 hex): {text}"))
    };
    match cmd {
        MultisigCommand::Create { members, threshold, timelock_ms } => {
            let members = members.iter().map(|m| ctx.address(m)).collect::<Result<Vec<_>>>()?;
            let n = members.len();
            let call = WalletsCall::CreateMultisig { members, threshold, timelock_ms };
            let status = ctx.execute(&signing.from, vec![call.into()])?;
            let Some(multisig) = events(&status).into_iter().find_map(|e| match e {
                WalletsEvent::MultisigCreated { multisig, .. } => Some(multisig),
                _ => None,
            }) else {
                bail!("the creation's receipt has no multisig");
            };
            ctx.print(&json!({ "tx": status.hash, "multisig": multisig }), || {
                format!("multisig {multisig}: {threshold} of {n}, timelock {timelock_ms} ms")
            });
        }
        MultisigCommand::Propose { multisig, calls: texts } => {
            let multisig = address(&multisig)?;
            let call = WalletsCall::Propose { multisig, calls: calls(&texts)? };
            let status = ctx.execute(&signing.from, vec![call.into()])?;
            let proposal = events(&status).into_iter().find_map(|e| match e {
                WalletsEvent::Proposed { proposal, .. } => Some(proposal),
                _ => None,
            });
            let proposal = proposal.context("the proposal's receipt has no proposal")?;
            ctx.print(&json!({ "tx": status.hash, "proposal": proposal }), || {
                format!("proposal {proposal} of multisig {multisig}")
            });
        }
        MultisigCommand::Approve { multisig, proposal } => {
            let multisig = address(&multisig)?;
            let done = format!("approved proposal {proposal} of {multisig}");
            run(ctx, signing, WalletsCall::Approve { multisig, proposal }, done)?;
        }
        MultisigCommand::Execute { multisig, proposal } => {
            let multisig = address(&multisig)?;
            let done = format!("executed proposal {proposal} of {multisig}");
            run(ctx, signing, WalletsCall::Execute { multisig, proposal }, done)?;
        }
        MultisigCommand::Cancel { multisig, proposal } => {
            let multisig = address(&multisig)?;
            let done = format!("cancelled proposal {proposal} of {multisig}");
            run(ctx, signing, WalletsCall::Cancel { multisig, proposal }, done)?;
        }
        MultisigCommand::Show { multisig, proposal } => {
            let multisig = address(&multisig)?;
            let value = match proposal {
                Some(id) => serde_json::to_value(
                    ctx.client
                        .multisig_proposal(&multisig, id)?
                        .with_context(|| format!("no open proposal {id} of {multisig}"))?,
                )?,
                None => serde_json::to_value(
                    ctx.client
                        .multisig(&multisig)?
                        .with_context(|| format!("no multisig {multisig}"))?,
                )?,
            };
            ctx.print(&value, || serde_json::to_string_pretty(&value).unwrap_or_default());
        }
    }
    Ok(())
}

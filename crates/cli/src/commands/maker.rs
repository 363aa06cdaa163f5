//! `machina maker`: registering a maker, its firmware, and slashing by a validator quorum.

use anyhow::{Context as _, Result, anyhow};
use clap::Subcommand;
use machina_types::{
    Address, IdentityCall,
    identity::{Approval, SLASH_NAMESPACE, slash_message},
};
use serde_json::json;

use super::device::*;

/// `machina maker`.
#[derive(Subcommand, Debug)]
pub enum MakerCommand {
    /// Register the signer as a maker, bonding native tokens.
    Register {
        /// Maker name.
        #[arg(long)]
        name: String,
        /// Bond [default: the chain minimum].
        #[arg(long)]
        bond: Option<u64>,
        /// Keyring name of the maker key that signs certificates (created if missing).
        #[arg(long, default_value = "maker")]
        maker_key: String,
    },
    /// As a validator, sign an approval of slashing a maker's bond (for certified fakes);
    /// prints `<validator>:<signature>` to pass to `machina maker slash --approval`. An
    /// approval is good for the maker's next slash only.
    ApproveSlash {
        /// The maker's account (address or key name).
        #[arg(long)]
        maker: String,
        /// Amount to take from its bond.
        #[arg(long)]
        amount: u64,
        /// The validator key file [default: the home's validator.key].
        #[arg(long)]
        validator_key: Option<std::path::PathBuf>,
    },
    /// Slash a maker's bond with the approvals of a quorum of validators (more than two
    /// thirds of them); anyone may submit it.
    Slash {
        /// The maker's account (address or key name).
        #[arg(long)]
        maker: String,
        /// Amount to take from its bond.
        #[arg(long)]
        amount: u64,
        /// A validator's approval, as printed by `approve-slash` (repeat for each).
        #[arg(long = "approval", required = true)]
        approvals: Vec<String>,
    },
}

/// Runs `machina maker ...`.
pub fn maker(ctx: &DeviceCtx, signing: &Signing, cmd: MakerCommand) -> Result<()> {
    match cmd {
        MakerCommand::Register { name, bond, maker_key } => {
            register_maker(ctx, signing, name, bond, maker_key)
        }
        MakerCommand::ApproveSlash { maker, amount, validator_key } => {
            use commonware_cryptography::Signer;
            let maker = ctx.address(&maker)?;
            let path = validator_key.unwrap_or_else(|| ctx.home.join("validator.key"));
            let key = machina_node::home::read_key(&path)?;
            let record = ctx.client.maker(&maker)?;
            let slashed = record.slashed;
            let chain_id = ctx.client.status()?.chain_id;
            let message = slash_message(&chain_id, &maker, amount, slashed);
            let signature = key.sign(SLASH_NAMESPACE, &message);
            let validator = Address::of(&key.public_key());
            let approval = format!("{validator}:{}", machina_types::codec::hex(signature.as_ref()));
            ctx.print(&json!({ "approval": approval }), || approval.clone());
            Ok(())
        }
        MakerCommand::Slash { maker, amount, approvals } => {
            let maker = ctx.address(&maker)?;
            let approvals = approvals.iter().map(|a| parse_approval(a)).collect::<Result<_>>()?;
            let call = IdentityCall::SlashMaker { maker, amount, approvals };
            ctx.execute(&signing.from, vec![call.into()])?;
            ctx.print(&json!({ "maker": maker, "slashed": amount }), || {
                format!("slashed {amount} of maker {maker}'s bond")
            });
            Ok(())
        }
    }
}

/// Parses `<validator address>:<signature hex>`.
fn parse_approval(text: &str) -> Result<Approval> {
    let (validator, signature) =
        text.split_once(':').ok_or_else(|| anyhow!("an approval is <validator>:<signature>"))?;
    let bytes = machina_types::codec::parse_hex(signature).context("the signature's hex")?;
    use commonware_codec::DecodeExt;
    Ok(Approval {
        validator: validator.parse().context("the validator's address")?,
        signature: machina_types::Signature::decode(commonware_codec::Copying(&bytes[..]))
            .map_err(|_| anyhow!("not an ed25519 signature"))?,
    })
}

fn register_maker(
    ctx: &DeviceCtx,
    signing: &Signing,
    name: String,
    bond: Option<u64>,
    maker_key: String,
) -> Result<()> {
    let key = ctx.key_or_create(&maker_key)?;
    let bond = match bond {
        Some(b) => b,
        None => ctx.client.status()?.params.identity.min_maker_bond,
    };
    let call = IdentityCall::RegisterMaker { name: name.clone(), maker_key: key.address(), bond };
    ctx.execute(&signing.from, vec![call.into()])?;
    let account = ctx.keyring.get(&signing.from)?.address();
    let body = json!({ "maker": account, "name": name, "maker_key": key.address(), "bond": bond });
    ctx.print(&body, || format!("registered maker {name:?} ({account}) with bond {bond}; certificates signed by key {maker_key:?}"));
    Ok(())
}

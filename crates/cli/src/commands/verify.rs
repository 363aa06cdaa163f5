//! `machina verify-proof` and `machina verify-reading`: offline checks against the genesis.

use super::*;

pub(super) fn verify_reading(
    ctx: &Ctx,
    file: &std::path::Path,
    genesis: Option<PathBuf>,
) -> CmdResult {
    let bundle: machina_store::ReadingBundle = read_proof(file, "a reading proof")?;
    let genesis =
        machina_node::home::read_genesis(&genesis.unwrap_or_else(|| ctx.home.genesis_path()))?;
    match machina_sdk::verify::verify_reading(&bundle, &genesis) {
        Ok(v) => {
            let r = &v.reading.reading;
            let body = json!({
                "valid": true, "height": v.height, "block": v.block, "device": r.device, "stream": r.stream,
                "seq": r.seq, "value": r.value, "anchor": v.anchor, "maker": v.maker.0, "maker_name": v.maker.1,
            });
            ctx.print(&body, || {
                format!(
                    "valid: reading {} of device {} stream {} = {}\n  signed by the device key in anchor {} (height {}),\n  \
                     device certified by maker {:?} ({}),\n  in the state of block {} at height {}, finalized by a quorum of the {} genesis validators",
                    r.seq, r.device, r.stream, serde_json::to_string(&r.value).unwrap_or_default(), v.anchor,
                    v.anchored_at, v.maker.1, v.maker.0, v.block, v.height, genesis.validators.len()
                )
            });
            Ok(())
        }
        Err(error) => invalid(ctx, &error),
    }
}

/// Reads and parses a proof file; `what` names the kind in errors.
fn read_proof<T: serde::de::DeserializeOwned>(file: &std::path::Path, what: &str) -> Result<T> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not {what}", file.display()))
}

/// Reports a proof that does not verify; exits with status 1.
fn invalid(ctx: &Ctx, error: &impl std::fmt::Display) -> CmdResult {
    ctx.print(&json!({ "valid": false, "reason": error.to_string() }), || {
        format!("INVALID: {error}")
    });
    Err(Exit(1).into())
}

pub(super) fn describe_key(bundle: &ProofBundle) -> String {
    bundle.entry.description.clone().unwrap_or_else(|| format!("key {}", bundle.entry.key))
}

pub(super) fn verify_proof(
    ctx: &Ctx,
    file: &std::path::Path,
    genesis: Option<PathBuf>,
) -> CmdResult {
    let bundle: ProofBundle = read_proof(file, "a proof file")?;
    let genesis_path = genesis.unwrap_or_else(|| ctx.home.genesis_path());
    let genesis = machina_node::home::read_genesis(&genesis_path)?;
    match verify_bundle(&bundle, &genesis) {
        Ok(verified) => {
            let body = json!({
                "valid": true,
                "chain_id": verified.chain_id,
                "height": verified.height,
                "block": verified.block,
                "state_root": verified.state_root,
                "key": verified.key,
                "present": verified.value.is_some(),
                "decoded": bundle.entry.decoded,
            });
            ctx.print(&body, || {
                let what = match &bundle.entry.decoded {
                    Some(decoded) => format!("{} = {decoded}", describe_key(&bundle)),
                    None if verified.value.is_none() => format!("{} is absent", describe_key(&bundle)),
                    None => format!("{} holds {} bytes", describe_key(&bundle), verified.value.as_ref().map_or(0, Vec::len)),
                };
                format!(
                    "valid: {what}\n  at height {} (block {}), finalized by a quorum of the {} genesis validators",
                    verified.height,
                    verified.block,
                    genesis.validators.len()
                )
            });
            Ok(())
        }
        Err(error) => invalid(ctx, &error),
    }
}

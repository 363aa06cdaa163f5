//! The wallets module: an account's policy, a session key, a multisig and its open
//! proposals, read from the latest finalized state.

use super::{
    ApiState,
    error::ApiError,
    market::{parse, record},
};
use axum::{
    Json,
    extract::{Path, State},
};
use machina_app::modules::wallets::{
    keys,
    state::{Guarded, Multisig, MultisigProposal},
};
use machina_types::{Address, wallets::ProposalId};

type ApiResult<T> = Result<T, ApiError>;

/// `GET /v1/accounts/{address}/policy`: the account's policy.
pub(super) async fn policy(
    State(s): State<ApiState>,
    Path(address): Path<String>,
) -> ApiResult<Json<Guarded>> {
    let address: Address = parse("address", &address)?;
    record(&s, keys::policy(&address), "policy for account", &address.to_string()).await
}

/// `GET /v1/accounts/{address}/session-keys/{key}`: a session key of the account.
pub(super) async fn session(
    State(s): State<ApiState>,
    Path((address, key)): Path<(String, String)>,
) -> ApiResult<Json<Guarded>> {
    let address: Address = parse("address", &address)?;
    let key: Address = parse("session key", &key)?;
    let what = format!("session key {key} for account");
    record(&s, keys::session(&address, &key), &what, &address.to_string()).await
}

/// `GET /v1/multisigs/{address}`: a multisig.
pub(super) async fn multisig(
    State(s): State<ApiState>,
    Path(address): Path<String>,
) -> ApiResult<Json<Multisig>> {
    let address: Address = parse("address", &address)?;
    record(&s, keys::multisig(&address), "multisig", &address.to_string()).await
}

/// `GET /v1/multisigs/{address}/proposals/{id}`: an open proposal of a multisig.
pub(super) async fn proposal(
    State(s): State<ApiState>,
    Path((address, id)): Path<(String, String)>,
) -> ApiResult<Json<MultisigProposal>> {
    let address: Address = parse("address", &address)?;
    let id: ProposalId = parse("proposal id", &id)?;
    let what = format!("open proposal {id} of multisig");
    record(&s, keys::proposal(&address, id), &what, &address.to_string()).await
}

//! The ownership module's routes: machines and their holders, offerings and purchases,
//! proposals and ballots, the machine a device belongs to, usage rights and who holds a
//! stream's data rights. Offerings, purchases and ballots answer the
//! [`machina_types::ownership::state`] records themselves.

use machina_types::{
    Address, Amount, DeviceId,
    bank::NftId,
    ownership::{
        MachineId,
        state::{Decision, Machine, Proposal, UsageRight},
    },
    reading::StreamId,
};
use serde::{Deserialize, Serialize};

/// `GET /v1/machines/{id}`: a machine with its treasury's balance and where its shares are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MachineView {
    /// The machine.
    #[serde(flatten)]
    pub machine: Machine,
    /// The treasury's native balance: its reserve, what holders are owed and the income
    /// not yet split (the next call that touches the machine splits it).
    pub treasury_balance: Amount,
    /// Shares the treasury holds (offered or not).
    pub unsold: u64,
    /// Shares outside the treasury (the supply less `unsold`).
    pub circulating: u64,
}

/// `GET /v1/machines/{id}/holders/{address}`: an account's shares of a machine and the
/// revenue it may claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HolderView {
    /// The machine.
    pub machine: MachineId,
    /// The account.
    pub holder: Address,
    /// Shares it holds.
    pub shares: u64,
    /// What a claim would pay now (a decimal string in JSON), the treasury's income not yet
    /// split counted as the next call will split it. Always 0 for the treasury itself,
    /// whose shares earn for its reserve.
    #[serde(with = "machina_types::codec::u128_string")]
    #[cfg_attr(feature = "openapi", schema(schema_with = machina_types::schema::u128_string))]
    pub claimable: u128,
}

/// `GET /v1/proposals/{id}`: a proposal with how its vote stands and its execution window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProposalView {
    /// The proposal.
    #[serde(flatten)]
    pub proposal: Proposal,
    /// How the vote stands for the next block (the latest finalized height plus one):
    /// `voting` until `end`, then `no_quorum`, `rejected` or `approved`.
    pub decision: Decision,
    /// The first height at which it may be executed, if approved.
    pub executable_from: u64,
    /// The last height at which it may be executed, if approved; it may be closed after.
    pub expires: u64,
}

/// `GET /v1/devices/{id}/machine`: the machine a device belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceMachine {
    /// The device.
    pub device: DeviceId,
    /// The machine it was tokenized into, null if none (or no such device).
    pub machine: Option<MachineId>,
}

/// `GET /v1/rights/{nft}`: a usage right with its holder and what it keeps from the market.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RightView {
    /// The right.
    #[serde(flatten)]
    pub right: UsageRight,
    /// Who holds it (its token's owner); null once the token was burned, which only a
    /// right that ended allows.
    pub holder: Option<Address>,
    /// Units it keeps from the market now (at the latest finalized block's time): those not
    /// used, until it ends.
    pub reserved: u64,
}

/// `GET /v1/devices/{id}/rights`: a device's usage rights that have not ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceRightsView {
    /// The device.
    pub device: DeviceId,
    /// Its rights that have not ended at the latest finalized block's time, in minting
    /// order.
    pub rights: Vec<RightView>,
}

/// `GET /v1/devices/{id}/streams/{stream}/data-rights`: who holds a stream's data rights
/// (receives its data revenue and sets its access policy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DataRights {
    /// The device.
    pub device: DeviceId,
    /// The stream.
    pub stream: StreamId,
    /// The stream's data asset (an NFT), null if none was minted.
    pub asset: Option<NftId>,
    /// The data asset's holder, else the device's owner.
    pub holder: Address,
}

#[cfg(test)]
mod tests {
    use super::*;
    use machina_types::{
        BankCall, Call, Hash,
        ownership::{Governance, revenue::RevenueIndex, state::ProposalStatus},
    };
    use serde::de::DeserializeOwned;

    fn governance() -> Governance {
        Governance {
            threshold_bps: 100,
            deposit: 10,
            quorum_bps: 2_000,
            approval_bps: 5_001,
            voting_blocks: 10,
            timelock_blocks: 5,
            execution_blocks: 20,
        }
    }

    /// Serializes `value`, checks the JSON with `check`, and reads it back.
    fn round_trip<T>(value: &T, check: impl FnOnce(&serde_json::Value))
    where
        T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let json = serde_json::to_value(value).unwrap();
        check(&json);
        let back: T = serde_json::from_value(json).unwrap();
        assert_eq!(&back, value);
    }

    #[test]
    fn views_flatten_their_record_and_write_u128_as_decimal_strings() {
        let machine = Machine {
            id: 1,
            name: "Wind turbine 1".into(),
            sponsor: Address([1; 32]),
            treasury: machina_types::ownership::treasury(1),
            shares: 3,
            supply: 1_000,
            devices: vec![Hash([2; 32])],
            reserve_bps: 1_000,
            governance: governance(),
            reserve: 5,
            pending: 7,
            index: RevenueIndex { credited: u128::from(u64::MAX) + 1 },
            offered: 100,
            open_offerings: 1,
            created_height: 9,
        };
        let view = MachineView { machine, treasury_balance: 12, unsold: 800, circulating: 200 };
        round_trip(&view, |json| {
            assert_eq!(json["id"], 1);
            assert_eq!(json["index"]["credited"], "18446744073709551616");
            assert_eq!(json["unsold"], 800);
        });
        let holder = HolderView {
            machine: 1,
            holder: Address([4; 32]),
            shares: 250,
            claimable: u128::from(u64::MAX) * 3,
        };
        round_trip(&holder, |json| assert_eq!(json["claimable"], "55340232221128654845"));
        let transfer = BankCall::Transfer { to: Address([5; 32]), amount: 5 };
        let proposal = Proposal {
            id: 2,
            machine: 1,
            proposer: Address([4; 32]),
            calls: vec![Call::Bank(transfer)],
            description: Hash::of(&[b"pay"]),
            governance: governance(),
            snapshot: 10,
            circulating: 200,
            end: 20,
            yes: 150,
            no: 10,
            deposit: 10,
            status: ProposalStatus::Open,
        };
        let view = ProposalView {
            decision: proposal.decision(21),
            executable_from: proposal.executable_from(),
            expires: proposal.expires(),
            proposal,
        };
        assert_eq!(view.decision, Decision::Approved);
        round_trip(&view, |json| {
            assert_eq!(json["decision"], "approved");
            assert_eq!(json["calls"][0]["module"], "bank");
            assert_eq!(json["executable_from"], 26);
        });
        let device = DeviceMachine { device: Hash([2; 32]), machine: None };
        round_trip(&device, |json| assert!(json["machine"].is_null()));
        let right = UsageRight {
            nft: 3,
            device: Hash([2; 32]),
            kind: machina_types::market::ResourceKind::Compute,
            starts_ms: 1_000,
            ends_ms: 2_000,
            units: 10,
            used: 4,
            price: Some(50),
        };
        let view = RightView { right, holder: None, reserved: 6 };
        round_trip(&view, |json| {
            assert_eq!(json["nft"], 3);
            assert!(json["holder"].is_null());
            assert_eq!(json["reserved"], 6);
        });
        let rights = DeviceRightsView { device: Hash([2; 32]), rights: vec![view] };
        round_trip(&rights, |json| assert_eq!(json["rights"][0]["used"], 4));
        let data =
            DataRights { device: Hash([2; 32]), stream: 1, asset: None, holder: Address([1; 32]) };
        round_trip(&data, |json| assert!(json["asset"].is_null()));
    }
}

//! Stable error codes.
//!
//! Every refusal Machina gives (by the API before a transaction enters the mempool, or by
//! the state machine in a receipt) carries one of these codes. Codes and names never change
//! meaning once released; clients may match on either. The API documents them all.

use commonware_codec::{FixedSize, Read, ReadExt, Write};

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $name:literal, $msg:literal; )*) => {
        /// A stable, typed reason for a refusal or a failed call.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u16)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant = $code, )*
        }

        impl ErrorCode {
            /// Every code, in numeric order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The numeric code.
            pub fn code(self) -> u16 {
                self as u16
            }

            /// The stable snake_case name.
            pub fn name(self) -> &'static str {
                match self { $(ErrorCode::$variant => $name,)* }
            }

            /// A one-line human explanation.
            pub fn message(self) -> &'static str {
                match self { $(ErrorCode::$variant => $msg,)* }
            }

            /// The code with numeric value `code`, if it exists.
            pub fn from_code(code: u16) -> Option<Self> {
                match code { $($code => Some(ErrorCode::$variant),)* _ => None }
            }

            /// The code named `name`, if it exists.
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($name => Some(ErrorCode::$variant),)* _ => None }
            }
        }
    };
}

error_codes! {
    /// The bytes do not decode (as a transaction, or as a signed reading).
    Malformed = 100, "malformed", "the bytes do not decode (as a transaction or signed reading)";
    /// The encoded transaction or reading is larger than the protocol allows.
    Oversized = 101, "oversized", "the encoding exceeds the maximum size";
    /// The signature does not verify against the signer.
    BadSignature = 102, "bad_signature", "the signature does not verify";
    /// The transaction names another chain.
    WrongChain = 103, "wrong_chain", "the transaction is for another chain";
    /// The expiry height has passed.
    Expired = 104, "expired", "the transaction expired";
    /// A transaction must make at least one call.
    NoCalls = 105, "no_calls", "the transaction has no calls";
    /// A call's arguments are out of range (a zero amount, an over-long name).
    InvalidCall = 106, "invalid_call", "a call has invalid arguments";
    /// The maximum fee is below the fee this transaction costs.
    FeeTooLow = 107, "fee_too_low", "the fee is below the required fee";
    /// A public key is not a canonical encoding of a curve point of large order (a weak key
    /// whose signatures anyone could forge).
    WeakKey = 108, "weak_key", "the public key is weak or not canonical";
    /// The nonce was already used: a replay.
    NonceTooLow = 200, "nonce_too_low", "the nonce was already used";
    /// The nonce is too far ahead of the account's next nonce.
    NonceTooHigh = 201, "nonce_too_high", "the nonce is too far ahead of the account";
    /// The same transaction is already known.
    Duplicate = 202, "duplicate", "the transaction is already known";
    /// The mempool is full and the fee does not beat the cheapest entry.
    MempoolFull = 203, "mempool_full", "the mempool is full";
    /// The sender has too many pending transactions.
    SenderLimit = 204, "sender_limit", "the sender has too many pending transactions";
    /// The signer cannot pay the fee.
    CannotPayFee = 205, "cannot_pay_fee", "the signer's balance cannot pay the fee";
    /// The node cannot take this now (overloaded or stopping); try again.
    Unavailable = 206, "unavailable", "the node cannot take this now";
    /// The expiry height is further ahead than the mempool keeps transactions.
    ExpiryTooFar = 207, "expiry_too_far", "the expiry height is too far ahead";
    /// A replacement (same sender and nonce) must pay a higher fee per byte.
    ReplacementUnderpriced = 208, "replacement_underpriced", "a replacement must pay a higher fee rate";
    /// The sender's pending transactions already spend its balance.
    PendingCostTooHigh = 209, "pending_cost_too_high", "pending transactions already spend the balance";
    /// A balance is too small for the amount.
    InsufficientFunds = 300, "insufficient_funds", "the balance is too small";
    /// No asset has this id.
    UnknownAsset = 301, "unknown_asset", "no asset has this id";
    /// Only the asset's issuer may do this.
    NotIssuer = 302, "not_issuer", "only the issuer may do this";
    /// The mint would exceed the asset's maximum supply.
    SupplyCapExceeded = 303, "supply_cap_exceeded", "the mint exceeds the maximum supply";
    /// No token has this id.
    UnknownNft = 304, "unknown_nft", "no token has this id";
    /// Only the owner may do this.
    NotOwner = 305, "not_owner", "only the owner may do this";
    /// An amount overflowed its integer width.
    Overflow = 306, "overflow", "an amount overflows";
    /// No maker is registered for this account.
    UnknownMaker = 310, "unknown_maker", "no maker is registered for this account";
    /// This account is already a maker.
    MakerExists = 311, "maker_exists", "this account is already a maker";
    /// The bond is below the chain's minimum maker bond.
    BondTooSmall = 312, "bond_too_small", "the bond is below the minimum";
    /// The device certificate is not signed by its maker's key.
    BadCertificate = 313, "bad_certificate", "the certificate is not signed by the maker key";
    /// A device signature does not verify against the device's key.
    BadDeviceSignature = 314, "bad_device_signature", "the device signature does not verify";
    /// A device with this id is already onboarded.
    DeviceExists = 315, "device_exists", "the device is already onboarded";
    /// No device has this id.
    UnknownDevice = 316, "unknown_device", "no device has this id";
    /// Only the device's owner may do this.
    NotDeviceOwner = 317, "not_device_owner", "only the device owner may do this";
    /// The device is suspended.
    DeviceSuspended = 318, "device_suspended", "the device is suspended";
    /// The device is decommissioned: it can never act again.
    DeviceDecommissioned = 319, "device_decommissioned", "the device is decommissioned";
    /// The device's maker has not released this firmware.
    UnknownFirmware = 320, "unknown_firmware", "the maker has not released this firmware";
    /// The device already has the maximum number of attributes.
    AttributeLimit = 321, "attribute_limit", "the device has too many attributes";
    /// Only a validator may do this.
    NotValidator = 322, "not_validator", "only a validator may do this";
    /// The signer lacks the role this needs on the device.
    Unauthorized = 323, "unauthorized", "the signer lacks the role this needs";
    /// The key already belongs to a device (now or before a rotation).
    DeviceKeyInUse = 324, "device_key_in_use", "the key already belongs to a device";
    /// The approvals are not from a quorum of distinct genesis validators.
    NoQuorum = 325, "no_quorum", "the approvals are not from a quorum of validators";
    /// No grant of this role to the signer exists on the device.
    NoSuchGrant = 326, "no_such_grant", "the device has not granted this role to the signer";
    /// An anchor does not start right after the stream's previous anchor.
    AnchorGap = 350, "anchor_gap", "the anchor does not follow the previous anchor";
    /// The key is not one of the device's known keys.
    UnknownDeviceKey = 351, "unknown_device_key", "the key is not one of the device's keys";
    /// No feed has this id.
    UnknownFeed = 352, "unknown_feed", "no feed has this id";
    /// The device may not report to this feed.
    NotEligible = 353, "not_eligible", "the device may not report to this feed";
    /// The reading's stream, unit or value type does not fit the feed.
    ReadingMismatch = 354, "reading_mismatch", "the reading does not fit the feed";
    /// The reading is too old for the feed.
    StaleReading = 355, "stale_reading", "the reading is too old";
    /// The feed already tracks the maximum number of sources.
    SourceLimit = 356, "source_limit", "the feed tracks too many sources";
    /// The reading's sequence number is not above the stream's last one (a replay or out of order).
    SequenceNotIncreasing = 360, "sequence_not_increasing", "the sequence number does not increase";
    /// The reading's timestamp is too far in the future or before the stream's last reading.
    TimestampOutOfRange = 361, "timestamp_out_of_range", "the timestamp is out of range";
    /// The topic names another device or stream than the reading.
    TopicMismatch = 362, "topic_mismatch", "the topic does not match the reading";
    /// The signer's provider or solver stake is below the chain minimum (or below the amount).
    InsufficientStake = 400, "insufficient_stake", "the stake is below what this needs";
    /// No open offer has this id.
    UnknownOffer = 401, "unknown_offer", "no open offer has this id";
    /// No open intent has this id.
    UnknownIntent = 402, "unknown_intent", "no open intent has this id";
    /// No lease has this id.
    UnknownLease = 403, "unknown_lease", "no lease has this id";
    /// A deadline or expiry is not in the future, or too far in it.
    BadDeadline = 404, "bad_deadline", "the deadline is in the past or too far ahead";
    /// The market's book, or the list of active markets, is full.
    BookFull = 405, "book_full", "the market's book is full";
    /// The solution is not for the open batch.
    WrongBatch = 406, "wrong_batch", "the solution is not for the open batch";
    /// The solution allocates more of an offer than it has.
    CapacityExceeded = 407, "capacity_exceeded", "the solution exceeds an offer's capacity";
    /// The solution makes a consumer pay more than its limit.
    LimitExceeded = 408, "limit_exceeded", "the solution exceeds an intent's price limit";
    /// The solution pays a provider less than its floor.
    BelowFloor = 409, "below_floor", "the solution pays below an offer's floor";
    /// The solution fills an intent by more than it asks, in the wrong proportions, or in
    /// part when it may not be split.
    FillMismatch = 410, "fill_mismatch", "the solution fills an intent wrongly";
    /// A fill's offer does not trade in a market the intent asks for, or the market has no
    /// price in the solution.
    MarketMismatch = 411, "market_mismatch", "a fill's offer is not in the intent's markets";
    /// The provider's reputation is below the intent's minimum.
    ReputationTooLow = 412, "reputation_too_low", "the provider's reputation is too low";
    /// The batch already has the most solutions it keeps.
    SolutionLimit = 413, "solution_limit", "the batch has too many solutions";
    /// The solution adds no surplus over the built-in clearing.
    NoImprovement = 414, "no_improvement", "the solution adds no surplus";
    /// The lease is not awaiting delivery (already paid or refunded).
    LeaseSettled = 415, "lease_settled", "the lease is already settled";
    /// The delivery proof does not verify.
    BadDeliveryProof = 416, "bad_delivery_proof", "the delivery proof does not verify";
    /// The offer's delivery terms do not allow this way of settling.
    WrongDelivery = 417, "wrong_delivery", "the delivery terms do not allow this";
    /// The dispute window is closed, or no delivery was claimed.
    DisputeClosed = 418, "dispute_closed", "no claim is open to dispute";
    /// No unbonded stake is ready to withdraw.
    NothingToWithdraw = 419, "nothing_to_withdraw", "no unbonded stake is ready to withdraw";
    /// The feed's condition does not hold.
    ConditionUnmet = 420, "condition_unmet", "the feed's condition does not hold";
    /// The account already has the most open orders (intents or offers) it may hold.
    OrderLimit = 421, "order_limit", "the account has too many open orders";
    /// The stake is locked as the potential slash of open leases.
    StakeLocked = 422, "stake_locked", "the stake is locked by open leases";
    /// The device already belongs to a machine.
    AlreadyTokenized = 500, "already_tokenized", "the device already belongs to a machine";
    /// No machine has this id.
    UnknownMachine = 501, "unknown_machine", "no such machine";
    /// The signer may not do this for the machine (only its treasury, that is an approved
    /// proposal, or its sponsor may).
    NotMachineController = 502, "not_machine_controller", "only the machine's treasury (a holder decision) or sponsor may do this";
    /// The account holds none of the machine's shares and has nothing to claim.
    NothingToClaim = 503, "nothing_to_claim", "no revenue to claim";
    /// No offering has this id.
    UnknownOffering = 504, "unknown_offering", "no such offering";
    /// The offering is not open for purchases (past its deadline, sold out or closed).
    OfferingClosed = 505, "offering_closed", "the offering is not open";
    /// The purchase is below the offering's minimum or above its per-buyer maximum or the
    /// shares left.
    PurchaseOutOfBounds = 506, "purchase_out_of_bounds", "the purchase is outside the offering's per-buyer limits or the shares left";
    /// The treasury does not hold the shares (outside other offerings) this needs.
    SharesUnavailable = 507, "shares_unavailable", "the treasury does not hold enough unreserved shares";
    /// The deadline is not in the future or too far away.
    BadOfferingDeadline = 508, "bad_offering_deadline", "the offering's deadline is in the past or too far ahead";
    /// The offering has not succeeded, or the tranche does not exist or was released.
    TrancheUnavailable = 509, "tranche_unavailable", "no such unreleased tranche of a successful offering";
    /// The tranche's milestone is not met (and its time has not run out).
    MilestoneUnmet = 510, "milestone_unmet", "the tranche's milestone is not met";
    /// The offering has the most buyers it may have.
    TooManyBuyers = 511, "too_many_buyers", "the offering has the most buyers it may have";
    /// The machine has the most open offerings one machine may have, or the chain the most
    /// it may hold.
    TooManyOfferings = 512, "too_many_offerings", "too many offerings are open (for the machine or the chain)";
    /// The proposer holds fewer shares than the machine's proposal threshold.
    BelowThreshold = 513, "below_threshold", "the proposer holds fewer shares than the threshold";
    /// No proposal has this id.
    UnknownProposal = 514, "unknown_proposal", "no such proposal";
    /// The proposal's vote has ended.
    VotingClosed = 515, "voting_closed", "the vote has ended";
    /// The account has already voted on this proposal.
    AlreadyVoted = 516, "already_voted", "already voted on this proposal";
    /// The account held no shares when the proposal was made.
    NoVotingShares = 517, "no_voting_shares", "no shares held when the proposal was made";
    /// The proposal is approved and in its timelock.
    TimelockActive = 518, "timelock_active", "the proposal's timelock has not passed";
    /// The proposal was not approved.
    NotApproved = 519, "not_approved", "the proposal was not approved";
    /// The proposal's execution window has passed.
    ProposalExpired = 520, "proposal_expired", "the proposal expired";
    /// The proposal was already executed or closed.
    ProposalFinished = 521, "proposal_finished", "the proposal was already executed or closed";
    /// The proposal is approved and may still be executed, so it cannot be closed.
    ProposalExecutable = 522, "proposal_executable", "the proposal is approved and still executable";
    /// A proposal's calls would spend revenue owed to holders or shares reserved by
    /// offerings.
    TreasuryOverspent = 523, "treasury_overspent", "the calls would spend holders' revenue or reserved shares";
    /// A machine's shares cannot be minted or burned.
    SharesFixed = 524, "shares_fixed", "a machine's share supply is fixed";
    /// The proposal's vote has not ended.
    VotingOpen = 525, "voting_open", "the proposal's vote has not ended";
    /// The device has the most outstanding usage rights it may have.
    TooManyRights = 526, "too_many_rights", "the device has too many outstanding usage rights";
    /// The usage right's window has not started or has ended.
    RightOutsideWindow = 527, "right_outside_window", "outside the usage right's window";
    /// The usage right has fewer units left.
    RightExhausted = 528, "right_exhausted", "the usage right has fewer units left";
    /// The usage right is not for sale, or costs more than the buyer's limit.
    NotForSale = 529, "not_for_sale", "the right is not listed, or its price is above the limit";
    /// No usage right has this NFT.
    UnknownRight = 530, "unknown_right", "no such usage right";
    /// The stream already has a data asset.
    DataAssetExists = 531, "data_asset_exists", "the stream already has a data asset";
    /// The token carries a usage right that has not ended, or a stream's data rights, and
    /// cannot be burned.
    TokenBound = 532, "token_bound", "the token carries a right and cannot be burned";
    /// The usage right's window ends in the past.
    RightEnded = 533, "right_ended", "the window ends in the past";
    /// A machine's shares cannot pay for an offering (only the ownership module moves them).
    SharesNotAccepted = 534, "shares_not_accepted", "a machine's shares cannot pay for an offering";
    /// No reward pool has this id.
    UnknownPool = 550, "unknown_pool", "no such reward pool";
    /// The pool's epochs or epoch length exceed the chain's `rewards` parameters.
    PoolOutOfBounds = 551, "pool_out_of_bounds", "the pool's epochs or epoch length exceed the chain's limits";
    /// A machine's shares cannot fund a reward pool (only the ownership module moves them).
    UnrewardableAsset = 552, "unrewardable_asset", "a machine's shares cannot fund a reward pool";
    /// The pool's last epoch has begun: a device enrolled now could never report.
    EnrollmentClosed = 553, "enrollment_closed", "the pool no longer enrolls devices";
    /// The device is already enrolled in the pool.
    AlreadyEnrolled = 554, "already_enrolled", "the device is already enrolled in the pool";
    /// The pool has enrolled the most devices a pool may.
    PoolFull = 555, "pool_full", "the pool has the most devices it may enroll";
    /// The device is not enrolled in the pool.
    NotEnrolled = 556, "not_enrolled", "the device is not enrolled in the pool";
    /// The device does not meet the pool's eligibility rule (its devices, maker, role or
    /// attribute).
    IneligibleDevice = 557, "ineligible_device", "the device does not meet the pool's eligibility rule";
    /// The device's market reputation is below the pool's minimum.
    ReputationBelowMinimum = 558, "reputation_below_minimum", "the device's reputation is below the pool's minimum";
    /// The pool's epoch 0 has not ended: there is nothing to report yet.
    ReportTooEarly = 559, "report_too_early", "the pool's first epoch has not ended";
    /// The pool's reporting has ended (its last epoch was reported during the next).
    ReportingClosed = 560, "reporting_closed", "the pool's reporting has ended";
    /// The device already reported (or was enrolled) during this epoch: report in the next.
    AlreadyReported = 561, "already_reported", "the device already reported or enrolled in this epoch";
    /// The device's counter has not grown since its last report (or its enrollment).
    NoNewWork = 562, "no_new_work", "the device did no new work since its last report";
    /// The pool pays for no such epoch.
    UnknownEpoch = 563, "unknown_epoch", "the pool has no such epoch";
    /// The epoch's reporting has not closed (it closes at the end of the next epoch).
    ClaimTooEarly = 564, "claim_too_early", "the epoch's reporting has not closed";
    /// The pool's claim deadline has passed.
    ClaimWindowClosed = 565, "claim_window_closed", "the pool's claim deadline has passed";
    /// No work of the device was credited to the epoch.
    NoCreditedWork = 566, "no_credited_work", "the device has no work credited to this epoch";
    /// The device's reward for the epoch was already paid.
    RewardClaimed = 567, "reward_claimed", "the reward was already paid";
    /// The pool's claim deadline has not passed: it cannot be closed yet.
    ClaimsOpen = 568, "claims_open", "the pool's claim deadline has not passed";
    /// The pool was closed and its rest returned to its funder.
    PoolClosed = 569, "pool_closed", "the pool is closed";
    /// No channel has this id.
    UnknownChannel = 600, "unknown_channel", "no such payment channel";
    /// The channel is closed: nothing more can be paid, refunded or closed.
    ChannelClosed = 601, "channel_closed", "the channel is closed";
    /// Only the channel's payer may do this.
    NotPayer = 602, "not_payer", "only the channel's payer may do this";
    /// Only the channel's payee may do this.
    NotPayee = 603, "not_payee", "only the channel's payee may do this";
    /// The voucher names another channel than the call.
    VoucherForAnotherChannel = 604, "voucher_for_another_channel", "the voucher is for another channel";
    /// The voucher is not signed by the channel's payer for this chain.
    BadVoucher = 605, "bad_voucher", "the voucher is not signed by the channel's payer for this chain";
    /// The voucher does not raise what was settled before.
    StaleVoucher = 606, "stale_voucher", "the voucher does not exceed the amount already settled";
    /// The voucher promises more than the channel's deposit.
    VoucherOverDeposit = 607, "voucher_over_deposit", "the voucher exceeds the channel's deposit";
    /// The payer already started closing the channel.
    ChannelClosing = 608, "channel_closing", "the channel is closing";
    /// The close's challenge period has not passed.
    ChallengeOpen = 609, "challenge_open", "the challenge period has not passed";
    /// Nobody started closing the channel.
    NotClosing = 610, "not_closing", "nobody started closing the channel";
    /// The call is for the other mode (a voucher channel or a stream).
    WrongChannelMode = 611, "wrong_channel_mode", "the call does not apply to this kind of channel";
    /// Nothing has accrued to the stream's payee since the last withdrawal.
    NothingAccrued = 612, "nothing_accrued", "nothing has accrued since the last withdrawal";
    /// The stream's deposit has all flowed: it cannot be topped up.
    StreamEnded = 613, "stream_ended", "the stream has run dry";
    /// A machine's shares cannot fund a channel.
    UnchannelableAsset = 614, "unchannelable_asset", "a machine's shares cannot fund a channel";
    /// The payer and the payee are the same account.
    SelfChannel = 615, "self_channel", "a channel needs two different accounts";
    /// No data product has this id.
    UnknownProduct = 700, "unknown_product", "no such data product";
    /// The product was delisted.
    ProductDelisted = 701, "product_delisted", "the data product is no longer listed";
    /// Only the product's seller may do this.
    NotSeller = 702, "not_seller", "only the data product's seller may do this";
    /// The signer does not hold the stream's data rights.
    NotDataRightsHolder = 703, "not_data_rights_holder", "the signer does not hold the stream's data rights";
    /// The stream is already in a listed product.
    StreamListed = 704, "stream_listed", "the stream is already in a listed data product";
    /// The product does not offer this way of paying.
    PaymentNotOffered = 705, "payment_not_offered", "the data product does not offer this way of paying";
    /// The product's access policy does not admit the buyer.
    AccessDenied = 706, "access_denied", "the data product's access policy does not admit the buyer";
    /// No subscription has this id.
    UnknownSubscription = 707, "unknown_subscription", "no such subscription";
    /// The subscription has ended (lapsed, cancelled or revoked).
    SubscriptionEnded = 708, "subscription_ended", "the subscription has ended";
    /// Only the subscriber may do this.
    NotSubscriber = 709, "not_subscriber", "only the subscriber may do this";
    /// The product has the most active subscriptions it may have.
    ProductFull = 710, "product_full", "the data product has the most subscriptions it may have";
    /// The channel is not an open voucher channel from the buyer to the seller in the
    /// product's asset.
    ChannelMismatch = 711, "channel_mismatch", "the channel is not an open voucher channel from the buyer to the seller in the product's asset";
    /// The channel holds less than one reading's price.
    ChannelUnfunded = 712, "channel_unfunded", "the channel holds less than one reading's price";
    /// The key's epoch has not begun.
    EpochNotReached = 713, "epoch_not_reached", "the stream has not reached this key epoch";
    /// The product does not include history: keys start at the subscription's epoch.
    HistoryNotIncluded = 714, "history_not_included", "the data product does not include history";
    /// The stream is not one of the product's.
    StreamNotInProduct = 715, "stream_not_in_product", "the stream is not in the data product";
    /// The voucher pays for more than the readings delivered and the next one.
    VoucherAhead = 716, "voucher_ahead", "the voucher pays for readings not delivered yet";
    /// Only the account's guardian (or the owner of the device it signs for) may do this.
    NotGuardian = 650, "not_guardian", "only the account's guardian or device owner may do this";
    /// The account (or the session key's account) is frozen by its guardian.
    AccountFrozen = 651, "account_frozen", "the account is frozen";
    /// The account's policy has expired: it may make no calls.
    PolicyExpired = 652, "policy_expired", "the account's policy has expired";
    /// The account's previous transaction was less than its cooldown ago.
    CooldownActive = 653, "cooldown_active", "the account's cooldown has not passed";
    /// The policy does not allow calls to this module.
    CallNotAllowed = 654, "call_not_allowed", "the policy does not allow this call";
    /// The policy does not allow paying this counterparty.
    CounterpartyNotAllowed = 655, "counterparty_not_allowed", "the policy does not allow this counterparty";
    /// The policy does not allow trading in this market.
    MarketNotAllowed = 656, "market_not_allowed", "the policy does not allow this market";
    /// The transaction spends more of an asset than the policy's per-transaction cap.
    OverTransactionCap = 657, "over_transaction_cap", "the transaction spends over its cap";
    /// The spending would exceed the policy's limit for the current window.
    OverSpendingLimit = 658, "over_spending_limit", "the spending exceeds the window's limit";
    /// The signer is not a session key of the account (never added, or revoked).
    UnknownSessionKey = 659, "unknown_session_key", "no such session key for the account";
    /// The session key has expired.
    SessionExpired = 660, "session_expired", "the session key has expired";
    /// The account has no policy.
    NoPolicy = 661, "no_policy", "the account has no policy";
    /// Recovery needs the account to be frozen first.
    NotFrozen = 662, "not_frozen", "the account is not frozen";
    /// No multisig has this address.
    UnknownMultisig = 663, "unknown_multisig", "no such multisig";
    /// Only a member of the multisig may do this.
    NotMember = 664, "not_member", "only a member of the multisig may do this";
    /// The member already approved this proposal.
    AlreadyApproved = 665, "already_approved", "the member already approved this proposal";
    /// The proposal was executed or cancelled.
    MultisigProposalFinished = 666, "multisig_proposal_finished", "the proposal was executed or cancelled";
    /// The multisig has no such proposal.
    UnknownMultisigProposal = 667, "unknown_multisig_proposal", "no such proposal of the multisig";
    /// The proposal has fewer approvals than the multisig's threshold.
    ThresholdNotMet = 668, "threshold_not_met", "the proposal has too few approvals";
    /// The multisig's timelock since the threshold was reached has not passed.
    MultisigTimelockActive = 669, "multisig_timelock_active", "the multisig's timelock has not passed";
    /// The multisig has the most open proposals it may have.
    TooManyProposals = 670, "too_many_proposals", "the multisig has too many open proposals";
    /// Only the proposer may cancel the proposal.
    NotProposer = 671, "not_proposer", "only the proposer may do this";
    /// A session key's act or a multisig execution cannot run inside another call's calls.
    NestedExecution = 672, "nested_execution", "an act or execution cannot run inside another";
    /// The call hit a broken internal invariant; it failed and wrote nothing (a bug, logged
    /// and counted by the node).
    Internal = 900, "internal", "an internal error; nothing was written";
}

impl core::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl Write for ErrorCode {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.code().write(buf);
    }
}

impl FixedSize for ErrorCode {
    const SIZE: usize = 2;
}

impl Read for ErrorCode {
    type Cfg = ();
    fn read_cfg(
        buf: &mut impl commonware_codec::Buf,
        _: &(),
    ) -> Result<Self, commonware_codec::Error> {
        let code = u16::read(buf)?;
        Self::from_code(code).ok_or(commonware_codec::Error::Invalid("ErrorCode", "unknown code"))
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <alloc::string::String as serde::Deserialize>::deserialize(d)?;
        Self::from_name(&s).ok_or_else(|| serde::de::Error::custom("unknown error code"))
    }
}

/// Who returns which codes: every code lies in exactly one range. A module's range is also
/// its call type's [`crate::call::ModuleCall::ERRORS`]; a new module takes the next free
/// hundred (or a free part of one) and names it here.
pub const RANGES: &[(&str, core::ops::RangeInclusive<u16>)] = &[
    ("transaction (stateless checks)", 100..=199),
    ("mempool (admission)", 200..=299),
    ("bank", 300..=309),
    ("identity", 310..=349),
    ("data", 350..=399),
    ("market", 400..=499),
    ("ownership", 500..=549),
    ("rewards", 550..=599),
    ("channels", 600..=649),
    ("products", 700..=749),
    ("wallets", 650..=699),
    ("internal", 900..=999),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_lies_in_exactly_one_range_and_modules_declare_theirs() {
        for code in ErrorCode::ALL {
            let owners = RANGES.iter().filter(|(_, range)| range.contains(&code.code())).count();
            assert_eq!(owners, 1, "{} lies in {owners} ranges", code.name());
        }
        for (module, _, errors) in crate::call::MODULES {
            assert!(
                RANGES.iter().any(|(name, range)| name == module && range == errors),
                "{module}'s error range is not the one named in RANGES"
            );
        }
    }

    #[test]
    fn codes_and_names_are_unique_and_round_trip() {
        let mut seen = alloc::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.code()));
            assert_eq!(ErrorCode::from_code(code.code()), Some(*code));
            assert_eq!(ErrorCode::from_name(code.name()), Some(*code));
        }
    }
}

//! The modules of the state machine, one directory each, and their registry.
//!
//! The registry below is the one place that lists the modules: the executor, admission and
//! the fuzzer reach every module through the functions it generates. Adding a module is a
//! directory here, one in `machina-types` and one line in each registry (this one and
//! `machina_types::call`).

pub mod bank;
pub mod channels;
pub mod data;
pub mod identity;
pub mod market;
pub mod ownership;
pub mod products;
pub mod rewards;
pub mod wallets;

use crate::{
    genesis::Genesis,
    module::{Ctx, ExecResult, Module, Step},
    state::Key,
};
use machina_types::{Address, Call};

/// Generates the dispatch over every module. The `match`es are exhaustive over
/// [`Call`], so a call type without its module does not compile.
macro_rules! registry {
    ($( $variant:ident => $module:ty, )*) => {
        /// Adds the keys applying `call` by `signer` will read.
        pub fn hint(call: &Call, signer: &Address, keys: &mut Vec<Key>) {
            match call { $( Call::$variant(c) => <$module>::hint(c, signer, keys), )* }
        }

        /// Executes `call` on behalf of `ctx.signer()`.
        pub fn execute(ctx: &mut Ctx<'_>, call: &Call) -> ExecResult {
            match call { $( Call::$variant(c) => <$module>::execute(ctx, c), )* }
        }

        /// Every block-level step with the account it runs as, in module order.
        pub fn steps() -> impl Iterator<Item = (Address, &'static Step)> {
            const MODULES: &[(fn() -> Address, &[Step])] =
                &[$( (<$module>::account, <$module>::STEPS), )*];
            MODULES.iter().flat_map(|(account, steps)| steps.iter().map(move |s| (account(), s)))
        }

        /// How many block-level steps there are.
        pub const STEP_COUNT: usize = 0 $( + <$module>::STEPS.len() )*;

        /// Adds the keys every module's genesis reads.
        pub fn genesis_hint(genesis: &Genesis, keys: &mut Vec<Key>) {
            $( <$module>::genesis_hint(genesis, keys); )*
        }

        /// Writes every module's initial state, in module order.
        pub fn genesis(ctx: &mut Ctx<'_>, genesis: &Genesis) -> ExecResult {
            $( <$module>::genesis(ctx, genesis)?; )*
            Ok(())
        }
    };
}

registry! {
    Bank => bank::Bank,
    Identity => identity::Identity,
    Data => data::Data,
    Market => market::Market,
    Ownership => ownership::Ownership,
    Rewards => rewards::Rewards,
    Channels => channels::Channels,
    Products => products::Products,
    Wallets => wallets::Wallets,
}

//! Machines as investable assets: shares of a machine, its revenue paid to their holders,
//! offerings, holder governance, usage rights and rewards.
//!
//! This module grows with the ownership work; today it holds the arithmetic every later
//! part builds on: [`revenue`], which spreads a machine's revenue over any number of
//! holders in constant time per payment.

pub mod revenue;

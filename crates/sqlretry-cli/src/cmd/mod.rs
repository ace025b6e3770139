//! The subcommands.

pub mod doctor;
pub mod stress;

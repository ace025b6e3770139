//! The subcommands.

pub mod dead_letters;
pub mod doctor;
pub mod stress;

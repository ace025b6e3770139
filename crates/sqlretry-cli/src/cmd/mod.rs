//! The subcommands.

pub mod dead_letters;
pub mod doctor;
pub mod http_client;
pub mod load;
pub mod serve;
pub mod stress;
pub mod tls_client;

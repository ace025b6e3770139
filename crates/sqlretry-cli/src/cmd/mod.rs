//! The subcommands: the product commands (`serve`, `load`, `doctor`, `dead-letters`) and
//! `stress`, the thin entry to the benchmark harness (the `sqlretry-stress` crate).

pub mod dead_letters;
pub mod doctor;
pub mod http_client;
pub mod load;
pub mod serve;
pub mod stress;
pub mod tls_client;

//! [`Background`]: work the engine's thread does besides groups (a writer's ingest lanes), when
//! it is due and when the engine stops.

use std::time::Instant;

use super::engine::Engine;

/// Work run on the engine's thread between groups. Object safe: one engine keeps many.
pub(crate) trait Background: Send + Sync {
    /// When it next wants to run (`None`: nothing to do until woken).
    fn due(&self) -> Option<Instant>;
    /// Runs what is due, or everything left when `all` (the engine is stopping).
    fn run(&self, engine: &Engine, all: bool);
    /// The engine stopped taking work: refuse more.
    fn close(&self);
}

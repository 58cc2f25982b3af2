//! `converge`: day-2 changes of a live cluster (grow, shrink, replace dead nodes, repair
//! interrupted migrations, rebalance slots, spread masters again), computed as steps from what
//! the nodes report and carried out online.
//!
//! The split follows the rest of the crate: [`layout`] is the observed cluster as plain data,
//! [`steps`] the pure planner that turns a layout and the wanted node list into ordered steps,
//! [`observe`] builds the layout from a survey, [`schedule`] decides which steps run together and
//! whether a step still fits the cluster, [`migrate`] moves slots with their keys (key by key)
//! and [`atomic`] with the server's atomic slot migration where it has one, [`execute`]
//! runs the steps, re-observing and re-planning until nothing is left to do, and [`audit`] checks
//! after a stopped run that every key is where clients look for it.

pub mod atomic;
pub mod audit;
pub mod execute;
pub mod layout;
pub mod migrate;
pub mod observe;
pub mod rescue;
pub mod schedule;
pub mod steps;

pub use layout::{Layout, LayoutNode};
pub use steps::{plan, Converge, ConvergeError, Step};

/// How converge moves slots with their keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Migration {
    /// The server's atomic slot migration where both ends have the same (Valkey 9,
    /// Redis 8.4), key by key elsewhere.
    #[default]
    Auto,
    /// Atomic slot migration only; a server without it is refused before any change.
    Atomic,
    /// Key by key (SETSLOT and MIGRATE), whatever the servers offer.
    Keys,
}

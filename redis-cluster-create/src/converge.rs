//! `converge`: day-2 changes of a live cluster (grow, shrink, replace dead nodes, repair
//! interrupted migrations, rebalance slots, spread masters again), computed as steps from what
//! the nodes report and carried out online.
//!
//! The split follows the rest of the crate: [`layout`] is the observed cluster as plain data,
//! [`steps`] the pure planner that turns a layout and the wanted node list into ordered steps,
//! [`observe`] builds the layout from a survey, [`schedule`] decides which steps run together and
//! whether a step still fits the cluster, [`migrate`] moves slots with their keys, [`execute`]
//! runs the steps, re-observing and re-planning until nothing is left to do, and [`audit`] checks
//! after a stopped run that every key is where clients look for it.

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

//! `converge`: day-2 changes of a live cluster (grow, shrink, replace dead nodes, repair
//! interrupted migrations, rebalance slots, spread masters again), computed as steps from what
//! the nodes report and carried out online.
//!
//! The split follows the rest of the crate: [`layout`] is the observed cluster as plain data,
//! [`steps`] the pure planner that turns a layout and the wanted node list into ordered steps,
//! [`observe`] builds the layout from a survey, [`migrate`] moves slots with their keys and
//! [`execute`] runs the other steps, re-observing and re-planning until nothing is left to do.

pub mod execute;
pub mod layout;
pub mod migrate;
pub mod observe;
pub mod steps;

pub use layout::{Layout, LayoutNode};
pub use steps::{plan, Converge, ConvergeError, Step};

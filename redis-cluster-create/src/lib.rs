//! redis-cluster-create: plan, apply and reset a Redis Cluster.
//!
//! The planner (with its flow solver) and the readiness rules are pure; talking to nodes
//! happens in `preflight`, `apply`, `wait` and `reset`, which `cli` drives. `config` prints or
//! writes the instances' configuration files. `converge` changes a live cluster: its planner is
//! pure too, its executor talks to the nodes. `failover` promotes replicas of a host CARP
//! found silent: a pure policy between a survey and the promotions. `maintenance` empties a host
//! of masters before a planned stop and hands them back after, with the converge executor.

pub mod apply;
pub mod cli;
pub mod config;
pub mod converge;
pub mod error;
pub mod failover;
pub mod flow;
pub mod maintenance;
pub mod planner;
pub mod preflight;
pub mod reset;
pub mod wait;

pub use cli::{run, Cli};
pub use error::CreateError;

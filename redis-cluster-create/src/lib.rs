//! redis-cluster-create: plan, apply and reset a Redis Cluster.
//!
//! The planner and the readiness rules are pure; talking to nodes happens in `preflight`,
//! `apply`, `wait` and `reset`, which the thin binary drives.

pub mod flow;
pub mod planner;

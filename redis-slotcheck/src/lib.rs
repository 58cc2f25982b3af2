//! redis-slotcheck: the health of a running Redis Cluster.
//!
//! The checks (`check`) judge a survey of the cluster taken with the `redis-cluster` crate and
//! fill a report (`report`); `render` turns the report into JSON, text, Nagios or Prometheus
//! output. `verdict` judges from a report and carpctl's status whether one host's own
//! instances are broken and what to do with its CARP groups (`carp-verdict`).

pub mod check;
pub mod cli;
pub mod render;
pub mod report;
pub mod verdict;

pub use check::{check, CheckOptions};
pub use report::{Check, CheckName, Detail, NodeReport, Report, Role, Status, Totals};

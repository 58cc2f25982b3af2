//! carpctl: CARP for the site. On Linux it is a CARP node in user space, wire-compatible with
//! FreeBSD's kernel CARP and ucarp; on FreeBSD it writes and applies the kernel's CARP alias.
//!
//! The pure cores (wire codec, state machine, FreeBSD text) are separate from the Linux I/O
//! so they can be tested without a network.

pub mod cli;
pub mod control;
pub mod error;
pub mod freebsd;
pub mod health;
pub mod hold;
pub mod links;
pub mod lock;
pub mod log;
pub mod machine;
pub mod metrics;
pub mod output;
pub mod replay;
pub mod settings;
pub mod statedir;
pub mod subnets;
pub mod wire;

#[cfg(target_os = "linux")]
pub mod linux;

pub use error::Error;

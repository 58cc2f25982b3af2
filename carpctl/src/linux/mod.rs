//! The CARP node for Linux: the kernel has no CARP, so this process sends and receives the
//! advertisements, drives the state machine and moves the virtual addresses.

mod addresses;
mod arp;
mod engine;
mod link;
mod ndp;
mod serve;
mod socket;
mod tracking;

pub use engine::run;

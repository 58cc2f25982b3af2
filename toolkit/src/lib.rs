//! toolkit: what every tool of the suite does alike, written once (as coreutils' uucore).
//!
//! Standard output that tolerates a closed pipe, standard error that never panics, files
//! replaced atomically, Prometheus text exposition, input read with a size bound, `--timeout`
//! values, password files with one permission policy, counted nouns and name lists, problem
//! lists, and the one shape of `main` that maps an outcome to the exit-code table every tool
//! shares, and SIGINT/SIGTERM turned into a flag that long work checks at its safe points.

pub mod duration;
pub mod exit;
pub mod file;
pub mod input;
pub mod interrupt;
pub mod prom;
pub mod secret;
pub mod stdio;
pub mod words;

pub use exit::{main, main_reporting, Ending, Failure, BAD_INPUT, FAILED, SUCCESS};

//! The redis-cluster-create binary: parse, run, map the outcome to an exit code.

use clap::Parser;

fn main() {
    let started = std::time::Instant::now();
    let cli = redis_cluster_create::Cli::parse();
    if let Err(error) = redis_cluster_create::run(cli, started) {
        eprintln!("redis-cluster-create: {error}");
        std::process::exit(error.exit_code());
    }
}

//! The redis-cluster-create binary: parse, run, map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    let started = std::time::Instant::now();
    toolkit::main("redis-cluster-create", toolkit::BAD_INPUT, |cli| {
        redis_cluster_create::run(cli, started).map(|()| toolkit::SUCCESS)
    })
}

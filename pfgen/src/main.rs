//! The pfgen binary: parse the command line, run, map the outcome to the exit status
//! (0 printed, 1 the checker or the output failed, 2 usage error or an unusable site).

fn main() -> std::process::ExitCode {
    toolkit::main("pfgen", toolkit::BAD_INPUT, |cli: pfgen::cli::Cli| {
        pfgen::cli::run(&cli.task()).map(|()| toolkit::SUCCESS)
    })
}

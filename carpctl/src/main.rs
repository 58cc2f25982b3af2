//! The carpctl binary: parse, dispatch, map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    toolkit::main("carpctl", toolkit::BAD_INPUT, |cli: carpctl::cli::Cli| {
        carpctl::cli::dispatch(cli.command)
    })
}

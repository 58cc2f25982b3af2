fn main() {
    std::process::exit(carpctl::cli::main());
}

//! The `confer` binary: parse the command line and hand over to the library.

fn main() -> std::process::ExitCode {
    confer::cli::main(std::env::args_os())
}

//! The `confer` binary: parse the command line and hand over to the library.

/// mimalloc rather than the C library's allocator (see server/Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    confer::cli::main(std::env::args_os())
}

//! The `confer` binary: parse the command line and hand over to the library.

/// jemalloc rather than glibc's malloc: see docs/performance.md (session 11).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    confer::cli::main(std::env::args_os())
}

//! The `rowferry` binary: parse the command line, run the library, map the outcome to an exit
//! code (0 every row accepted, 1 some rows rejected, 2 nothing done).

fn main() -> std::process::ExitCode {
    rowferry::cli::main()
}

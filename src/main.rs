//! vtrace binary: parse the command line, run the command, map the outcome to an exit code.
//! Everything else lives in the library (`vtrace::*`).

use std::process::ExitCode;

fn main() -> ExitCode {
    vtrace::cli::main()
}

//! Exit codes and the error type commands return.
//!
//! ripgrep style: 0 success / target reachable, 1 traced but unreachable or lost, 2 error.

use std::process::ExitCode;

/// What a command concluded, mapped to the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Success; for a trace: every echo was answered.
    Success,
    /// The command worked, but the target was unreachable or packets were lost.
    NotReached,
}

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Success => ExitCode::SUCCESS,
            Outcome::NotReached => ExitCode::from(1),
        }
    }
}

/// Exit code for any error (printed as `vtrace: {err:#}`).
pub const ERROR_EXIT: u8 = 2;

/// True when the error chain ends in a broken pipe (`vtrace … | head`): that is success.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

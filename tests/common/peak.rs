//! Peak resident memory of a process as the kernel counts it (`VmHWM` in `/proc/PID/status`),
//! read by the test itself, never taken from what the process says about itself. A value that
//! cannot be read is an error, never 0.
//!
//! [`follow_to_exit`] attaches to the process with ptrace (`PTRACE_SEIZE`, root) while it waits at
//! a gate (a shell reading a fifo before it `exec`s the program: the high-water mark starts over
//! with the new program), lets it go, and reads `VmHWM`:
//!
//! - at a [`Mark`], once the process has read so far into a file: its main thread is held
//!   (`PTRACE_INTERRUPT`) until every other thread is asleep and the file position stands still
//!   (the queues between the threads are full: the worst they can hold), read, and let go;
//! - at its exit stop (`PTRACE_O_TRACEEXIT`): it has done everything and its memory is still
//!   mapped, so nothing can come after the reading: the peak of the whole run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `VmHWM` of process `pid`, in kB.
pub fn vm_hwm_kb(pid: i32) -> Result<u64, String> {
    let file = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&file).map_err(|e| format!("reading {file}: {e}"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .ok_or_else(|| format!("no VmHWM in {file} (the process has no memory left):\n{status}"))?;
    line.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .filter(|&kb| kb > 0)
        .ok_or_else(|| format!("unreadable {line:?} in {file}"))
}

/// Where in its run a process's peak is read too: once it has read `offset` bytes of `file`.
#[derive(Debug, Clone)]
pub struct Mark {
    pub file: PathBuf,
    pub offset: u64,
}

/// What the test read of a followed process.
#[derive(Debug, Clone)]
pub struct Followed {
    /// `VmHWM` at the exit stop, in kB: the peak resident memory of the whole run.
    pub peak_kb: u64,
    /// `VmHWM` at the mark, in kB.
    pub mark_kb: Option<u64>,
    /// The program it ran (`/proc/PID/exe`).
    pub exe: PathBuf,
    /// Its exit code (`None`: killed by a signal).
    pub code: Option<i32>,
}

/// The calling thread traces `pid`; detached on drop (a tracee that is not stopped is detached
/// when the tracing thread ends).
struct Traced(libc::pid_t);

impl Drop for Traced {
    fn drop(&mut self) {
        // SAFETY: plain syscall on a process id; fails harmlessly when it is gone or running.
        unsafe {
            libc::ptrace(libc::PTRACE_DETACH, self.0, 0usize, 0usize);
        }
    }
}

fn ptrace(req: libc::c_uint, pid: libc::pid_t, data: usize) -> Result<(), String> {
    // SAFETY: requests that take no pointer from us (`data` is an option mask or a signal).
    let rc = unsafe { libc::ptrace(req, pid, 0usize, data) };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!("ptrace({req:#x}, {pid}): {}", std::io::Error::last_os_error()))
    }
}

/// Where the mark stands.
enum AtMark {
    /// Not reached yet.
    Ahead(Mark),
    /// The main thread was asked to stop (the mark's file).
    Interrupting(PathBuf),
    /// The main thread is stopped: the position in the mark's file at the last poll, and how
    /// many polls in a row found it unchanged and every other thread asleep.
    Held {
        file: PathBuf,
        since: Instant,
        pos: u64,
        quiet: u32,
    },
    Passed,
}

/// The stop `PTRACE_INTERRUPT` causes (`status >> 16`; not in the libc crate).
const PTRACE_EVENT_STOP: libc::c_int = 128;

/// Polls of a held process, one [`POLL`] apart, that must find every other thread asleep and the
/// file position unchanged.
const QUIET_POLLS: u32 = 4;
const POLL: Duration = Duration::from_millis(5);
/// A held process must settle within this (otherwise something spins: a failure).
const SETTLE: Duration = Duration::from_secs(20);

/// Follow process `pid`, held at a gate, to its exit: attach, `release` it, read its peak at
/// `mark` (if any) and at its exit stop, then let it exit (its parent reaps it). Signals it
/// receives are passed on. Must run on one thread from attach to exit (ptrace's tracer is a
/// thread).
pub fn follow_to_exit(
    pid: u32,
    release: impl FnOnce(),
    mark: Option<Mark>,
) -> Result<Followed, String> {
    let pid = libc::pid_t::try_from(pid).map_err(|e| format!("pid {pid}: {e}"))?;
    ptrace(libc::PTRACE_SEIZE, pid, libc::PTRACE_O_TRACEEXIT as usize).map_err(|e| {
        format!(
            "{e}: attaching to read the peak memory (needs root, and ptrace allowed by the \
             container's seccomp profile)"
        )
    })?;
    let traced = Traced(pid);
    release();
    let mut at_mark = mark.map_or(AtMark::Passed, AtMark::Ahead);
    let mut mark_kb = None;
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out pointer.
        let got = unsafe { libc::waitpid(pid, &mut status, libc::__WALL | libc::WNOHANG) };
        if got == 0 {
            at_mark = match at_mark {
                AtMark::Ahead(m) if read_pos(pid, &m.file).is_some_and(|p| p >= m.offset) => {
                    ptrace(libc::PTRACE_INTERRUPT, pid, 0)?;
                    AtMark::Interrupting(m.file)
                }
                AtMark::Held { file, since, pos, quiet } => {
                    // A file read to its end is closed: no position, which stands still too.
                    let now = read_pos(pid, &file).unwrap_or(u64::MAX);
                    let quiet = if now == pos && others_asleep(pid) { quiet + 1 } else { 0 };
                    if quiet >= QUIET_POLLS {
                        mark_kb = Some(vm_hwm_kb(pid)?);
                        ptrace(libc::PTRACE_CONT, pid, 0)?;
                        AtMark::Passed
                    } else if since.elapsed() > SETTLE {
                        return Err(format!(
                            "process {pid}, held at the mark, did not settle in {SETTLE:?}: a \
                             thread kept running"
                        ));
                    } else {
                        AtMark::Held { file, since, pos: now, quiet }
                    }
                }
                other => other,
            };
            std::thread::sleep(POLL);
            continue;
        }
        if got != pid {
            return Err(format!("waiting for {pid}: {}", std::io::Error::last_os_error()));
        }
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            return Err(format!(
                "process {pid} ended (wait status {status:#x}) without the exit stop where its \
                 peak memory is read"
            ));
        }
        if !libc::WIFSTOPPED(status) {
            continue;
        }
        let event = status >> 16;
        let sig = libc::WSTOPSIG(status);
        if event == libc::PTRACE_EVENT_EXIT {
            let followed = at_exit(pid, mark_kb);
            drop(traced);
            return followed;
        }
        if event == PTRACE_EVENT_STOP && sig == libc::SIGTRAP {
            if let AtMark::Interrupting(file) = at_mark {
                // Held: the other threads run on until the queues between them are full.
                let pos = read_pos(pid, &file).unwrap_or(u64::MAX);
                at_mark = AtMark::Held { file, since: Instant::now(), pos, quiet: 0 };
                continue;
            }
        }
        // A signal on its way to the process is delivered; any other stop just resumed.
        let deliver = if event == 0 { sig as usize } else { 0 };
        ptrace(libc::PTRACE_CONT, pid, deliver)?;
    }
}

/// The file position of `pid` in `file` (the furthest, if it is open more than once).
fn read_pos(pid: libc::pid_t, file: &Path) -> Option<u64> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    fds.filter_map(|e| e.ok())
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l == file))
        .filter_map(|e| {
            let fdinfo = Path::new("/proc").join(pid.to_string()).join("fdinfo");
            let info = std::fs::read_to_string(fdinfo.join(e.file_name())).ok()?;
            info.lines().find_map(|l| l.strip_prefix("pos:")).and_then(|p| p.trim().parse().ok())
        })
        .max()
}

/// Whether every thread of `pid` but the main one is asleep (`S` in its stat).
fn others_asleep(pid: libc::pid_t) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return false };
    tasks.filter_map(|e| e.ok()).filter(|e| e.file_name() != pid.to_string().as_str()).all(|e| {
        std::fs::read_to_string(e.path().join("stat")).is_ok_and(|stat| {
            // `pid (comm) S …`: the comm may hold anything, the state follows the last ')'.
            stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('S'))
        })
    })
}

/// The process at its exit stop: peak memory, program, exit code.
fn at_exit(pid: libc::pid_t, mark_kb: Option<u64>) -> Result<Followed, String> {
    let peak_kb = vm_hwm_kb(pid)?;
    let link = format!("/proc/{pid}/exe");
    let exe = std::fs::read_link(&link).map_err(|e| format!("reading {link}: {e}"))?;
    let mut msg: libc::c_ulong = 0;
    // SAFETY: `msg` is a valid out pointer for PTRACE_GETEVENTMSG; the tracee is stopped.
    let rc = unsafe {
        libc::ptrace(libc::PTRACE_GETEVENTMSG, pid, 0usize, &mut msg as *mut libc::c_ulong)
    };
    if rc != 0 {
        return Err(format!("exit status of {pid}: {}", std::io::Error::last_os_error()));
    }
    let status = msg as libc::c_int;
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Ok(Followed { peak_kb, mark_kb, exe, code })
}

/// `s` quoted for sh.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A fifo a shell waits on before it runs the program (`read -r _ < FIFO`); removed on drop.
#[derive(Debug)]
pub struct Gate(PathBuf);

impl Gate {
    pub fn new(tag: &str) -> Gate {
        let path = std::env::temp_dir().join(format!("vtrace-gate-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .unwrap_or_else(|e| panic!("mkfifo {}: {e}", path.display()));
        Gate(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Let the waiting shell go, once it has opened the fifo (a failure after 20 s).
    pub fn open(&self) {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let start = Instant::now();
        loop {
            // Without a reader yet, a non-blocking open for writing fails (ENXIO).
            let opened = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&self.0);
            match opened {
                Ok(mut f) => {
                    f.write_all(b"go\n")
                        .unwrap_or_else(|e| panic!("writing {}: {e}", self.0.display()));
                    return;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                    assert!(
                        start.elapsed() < Duration::from_secs(20),
                        "nobody waits at {} after 20 s",
                        self.0.display()
                    );
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("opening {}: {e}", self.0.display()),
            }
        }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

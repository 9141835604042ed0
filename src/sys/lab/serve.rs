//! HTTP servers for `lab up --serve`: a tiny server in each container namespace, so that the
//! lab answers HTTP like the nginx containers of the classic example.
//!
//! Uses `busybox httpd` or `nginx`, whichever is installed (busybox first), forked by a thread
//! inside the namespace ([`crate::sys::netns::run_in`]: a child starts in the namespace of the
//! thread that forks it), in a session of its own; each server gets its own document root under
//! `/run/vtrace/www/<netns>`, whose path on the command line is how `lab down` recognises it
//! (so a reused pid is never killed). This module starts and stops processes only.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::{LabError, Result};
use super::state::{STATE_DIR, Server};
use crate::sys::netns::{Netns, run_in};

/// The HTTP server programs vtrace knows how to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    Busybox,
    Nginx,
}

impl ServerKind {
    pub fn program(self) -> &'static str {
        match self {
            ServerKind::Busybox => "busybox",
            ServerKind::Nginx => "nginx",
        }
    }
}

/// The first installed server program (searching `PATH`, then the sbin directories).
pub fn find() -> Option<(ServerKind, PathBuf)> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .collect();
    [ServerKind::Busybox, ServerKind::Nginx].into_iter().find_map(|k| {
        dirs.iter().map(|d| d.join(k.program())).find(|p| p.is_file()).map(|p| (k, p))
    })
}

/// The document root of the server in `netns`.
pub fn www_dir(netns: &str) -> PathBuf {
    Path::new(STATE_DIR).join("www").join(netns)
}

/// Start a server on port 80 inside `netns`, serving a page that names the container.
pub fn start(kind: ServerKind, program: &Path, netns: &str, container: &str) -> Result<Server> {
    let dir = www_dir(netns);
    let dir_s = dir.to_string_lossy().into_owned();
    let what = || format!("starting {} in netns {netns}", kind.program());
    std::fs::create_dir_all(&dir).map_err(|e| LabError::io("serve", what(), &e))?;
    let page = format!(
        "<!DOCTYPE html>\n<html><body><h1>hello from {container}</h1>\
         <p>served by vtrace lab ({})</p></body></html>\n",
        kind.program()
    );
    std::fs::write(dir.join("index.html"), page).map_err(|e| LabError::io("serve", what(), &e))?;
    let mut cmd = Command::new(program);
    match kind {
        ServerKind::Busybox => {
            cmd.args(["httpd", "-f", "-p", "80", "-h", &dir_s]);
        }
        ServerKind::Nginx => {
            let conf = dir.join("nginx.conf");
            std::fs::write(&conf, nginx_conf(&dir_s))
                .map_err(|e| LabError::io("serve", what(), &e))?;
            cmd.args(["-c", &conf.to_string_lossy(), "-p", &dir_s, "-g", "daemon off;"]);
        }
    }
    let log =
        File::create(dir.join("server.log")).map_err(|e| LabError::io("serve", what(), &e))?;
    let ns = Netns::named(netns).map_err(|e| LabError::chain("serve", what(), &e))?;
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
    // SAFETY: the closure runs in the child between fork and exec and only makes the
    // async-signal-safe system call setsid(2).
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let spawned = run_in(&ns, "vtrace-serve", move || Ok(cmd.spawn()))
        .map_err(|e| LabError::chain("serve", what(), &e))?;
    let child = spawned.map_err(|e| LabError::io("serve", what(), &e))?;
    let pid = i32::try_from(child.id())
        .map_err(|_| LabError::other("serve", what(), "the process id does not fit an i32"))?;
    Ok(Server { pid, netns: netns.to_owned(), dir: dir_s })
}

fn nginx_conf(dir: &str) -> String {
    format!(
        "worker_processes 1;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {dir}/tmp;\n  \
         proxy_temp_path {dir}/tmp;\n  fastcgi_temp_path {dir}/tmp;\n  \
         uwsgi_temp_path {dir}/tmp;\n  scgi_temp_path {dir}/tmp;\n  \
         server {{ listen 80; root {dir}; }}\n}}\n"
    )
}

/// True when `server.pid` is still the server vtrace started (its command line names its
/// document root), not a reused pid.
pub fn is_running(server: &Server) -> bool {
    std::fs::read(format!("/proc/{}/cmdline", server.pid)).is_ok_and(|raw| {
        let cmdline: String = String::from_utf8_lossy(&raw)
            .chars()
            .map(|c| if c == '\0' { ' ' } else { c })
            .collect();
        cmdline.contains(&server.dir)
    })
}

/// Stop the server (SIGTERM) if it is still ours, and remove its document root.
pub fn stop(server: &Server) {
    terminate(server);
    let _ = std::fs::remove_dir_all(&server.dir);
}

/// SIGTERM to the server if it is still ours.
fn terminate(server: &Server) {
    if server.pid > 1 && server.pid != std::process::id() as i32 && is_running(server) {
        let pid = nix::unistd::Pid::from_raw(server.pid);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }
}

/// Stop any process whose command line names `dir` (a server started by an `up` that crashed
/// before recording it), then remove `dir`. Does nothing when `dir` does not exist.
pub fn stop_strays(dir: &Path) {
    if !dir.exists() {
        return;
    }
    let dir_s = dir.to_string_lossy().into_owned();
    let pids = std::fs::read_dir("/proc")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    for pid in pids {
        terminate(&Server { pid, netns: String::new(), dir: dir_s.clone() });
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_whose_command_line_lacks_the_root_is_not_ours() {
        let me = Server {
            pid: std::process::id() as i32,
            netns: "x".into(),
            dir: "/run/vtrace/www/definitely-not-on-my-command-line".into(),
        };
        assert!(!is_running(&me));
        let gone = Server { pid: i32::MAX, ..me };
        assert!(!is_running(&gone));
    }

    #[test]
    fn nginx_conf_keeps_everything_under_the_root() {
        let c = nginx_conf("/run/vtrace/www/n1");
        assert!(c.contains("pid /run/vtrace/www/n1/nginx.pid;"));
        assert!(c.contains("server { listen 80; root /run/vtrace/www/n1; }"));
    }
}

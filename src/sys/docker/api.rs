//! The one question `ping` and `watch` ask Docker before every trace (which containers these
//! bare names are) asked of the Engine API on its local socket: a GET per name over HTTP/1.0
//! (the daemon answers it whole, not chunked, and closes), about a millisecond where running the
//! CLI costs 20-50 ms of CPU. Only when the CLI would ask that same socket: `DOCKER_HOST` unset
//! or `unix://`, no context chosen (`DOCKER_CONTEXT`, or a `currentContext` in the CLI's
//! config); anything else (a remote host, TLS, a context) is the CLI's to resolve.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The daemon's default socket.
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// How long a question may take before the CLI is asked instead.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The socket the CLI would ask, when vtrace may ask it directly.
pub fn socket() -> Option<PathBuf> {
    let host = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
    socket_for(
        host.as_deref(),
        std::env::var_os("DOCKER_CONTEXT").is_some_and(|c| !c.is_empty()),
        config_context().as_deref(),
    )
}

/// [`socket`] from `DOCKER_HOST`, whether `DOCKER_CONTEXT` is set and the config's
/// `currentContext`.
fn socket_for(host: Option<&str>, context_env: bool, context: Option<&str>) -> Option<PathBuf> {
    if context_env || context.is_some_and(|c| !c.is_empty() && c != "default") {
        return None;
    }
    match host {
        None => Some(PathBuf::from(DEFAULT_SOCKET)),
        Some(h) => h.strip_prefix("unix://").filter(|p| p.starts_with('/')).map(PathBuf::from),
    }
}

/// The `currentContext` of the CLI's config (`$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`), if it names one.
fn config_context() -> Option<String> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))?;
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    config.get("currentContext")?.as_str().map(str::to_owned)
}

/// What a GET answered.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// Why the API gave no answer.
#[derive(Debug)]
pub enum ApiError {
    /// Nothing listens there (no socket, refused, no right to it): the daemon is not reachable.
    Unreachable(std::io::Error),
    /// It answered something that is not HTTP (or not what was asked), or stopped answering.
    Broken,
}

/// GET `path` from the API at `socket`.
pub fn get(socket: &Path, path: &str) -> Result<Response, ApiError> {
    let mut stream = UnixStream::connect(socket).map_err(ApiError::Unreachable)?;
    let broken = |_| ApiError::Broken;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(broken)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(broken)?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").as_bytes())
        .map_err(broken)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(broken)?;
    parse(&raw).ok_or(ApiError::Broken)
}

/// An HTTP/1.x answer read to its end: its status and body.
fn parse(raw: &[u8]) -> Option<Response> {
    let text = std::str::from_utf8(raw).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status_line = head.lines().next()?;
    let mut words = status_line.split_whitespace();
    if !words.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = words.next()?.parse().ok()?;
    Some(Response { status, body: body.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_its_status_and_body() {
        let raw = b"HTTP/1.0 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n\r\n{\"Id\":\"ab\"}\n";
        assert_eq!(parse(raw), Some(Response { status: 200, body: "{\"Id\":\"ab\"}\n".into() }));
        let missing = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse(missing).map(|r| r.status), Some(404));
        for bad in [&b""[..], b"garbage", b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.0 abc\r\n\r\n"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_the_socket_the_cli_would_ask() {
        let default = Some(PathBuf::from(DEFAULT_SOCKET));
        assert_eq!(socket_for(None, false, None), default);
        assert_eq!(socket_for(None, false, Some("default")), default);
        assert_eq!(
            socket_for(Some("unix:///run/user/1000/docker.sock"), false, None),
            Some(PathBuf::from("/run/user/1000/docker.sock"))
        );
        assert_eq!(socket_for(Some("tcp://10.0.0.1:2376"), false, None), None);
        assert_eq!(socket_for(Some("ssh://me@host"), false, None), None);
        assert_eq!(socket_for(None, true, None), None);
        assert_eq!(socket_for(None, false, Some("remote")), None);
    }

    #[test]
    fn a_missing_socket_is_unreachable() {
        let r = get(Path::new("/nonexistent/vtrace-test/docker.sock"), "/_ping");
        assert!(matches!(r, Err(ApiError::Unreachable(_))), "{r:?}");
    }
}

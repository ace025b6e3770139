//! Standard output that tolerates a reader going away: `sqlretry dead-letters list DB | head -2`
//! closes the pipe early, and `println!` would panic on the broken pipe. A closed pipe means the
//! reader has what it wanted, so writing stops quietly.

use std::io::Write;

/// Writes `text` to standard output; a closed pipe is not an error.
///
/// # Errors
///
/// Any other write error (a full disk behind a redirect).
pub fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

//! Several callers' closures in one transaction: each caller's closure and its outcome ([`Call`]),
//! and the savepoint discipline that lets one closure fail alone ([`run_members`]).

use rusqlite::Connection;

use crate::classify::Classify;
use crate::deadline::Deadline;

/// One member of a group, as the code running the group sees it (object safe, so one group holds
/// many result types). `C` is what the closure is given: a `Connection` or a `Transaction`.
pub(crate) trait Member<C: ?Sized> {
    /// Runs the closure once inside the open transaction. `Err` is the closure's error,
    /// unchanged: [`run_members`] decides whether it fails this member alone or the attempt.
    fn run(&mut self, on: &C) -> rusqlite::Result<()>;
    /// Forgets the previous attempt's outcome.
    fn reset(&mut self);
    /// Records the closure's permanent error (its changes were rolled back).
    fn reject(&mut self, error: rusqlite::Error);
    /// Whether the latest run was rejected.
    fn rejected(&self) -> bool;
}

/// A caller's re-runnable closure, the outcome of its latest run, and `R`, where the outcome
/// goes once the group is over. A [`Member`] given whatever the closure takes.
pub(crate) struct Call<F, T, R> {
    f: F,
    output: Option<rusqlite::Result<T>>,
    panicked: bool,
    reply: R,
    deadline: Deadline,
    submitted: std::time::Instant,
    runs: u32,
}

/// How a [`Call`] ended.
pub(crate) enum Ended<T> {
    /// The closure's value (committed, if the group committed).
    Value(T),
    /// The closure's own permanent error, and how many times the closure ran; its changes were
    /// rolled back.
    Rejected(rusqlite::Error, u32),
    /// The closure panicked; its changes were rolled back.
    Panicked,
    /// The closure never completed a run (the group gave up first).
    NotRun,
}

impl<F, T, R> Call<F, T, R> {
    /// `f`, whose outcome goes to `reply`, to be done by `deadline` (fixed when its caller called).
    pub(crate) fn new(f: F, reply: R, deadline: Deadline) -> Self {
        Call {
            f,
            output: None,
            panicked: false,
            reply,
            deadline,
            submitted: std::time::Instant::now(),
            runs: 0,
        }
    }

    /// When its caller called.
    pub(crate) fn submitted(&self) -> std::time::Instant {
        self.submitted
    }

    /// When the caller's wait must end.
    pub(crate) fn deadline(&self) -> Deadline {
        self.deadline
    }

    /// How the latest run ended, and where to send it.
    pub(crate) fn finish(self) -> (Ended<T>, R) {
        let ended = match self.output {
            Some(Ok(value)) => Ended::Value(value),
            Some(Err(_)) if self.panicked => Ended::Panicked,
            Some(Err(error)) => Ended::Rejected(error, self.runs),
            None => Ended::NotRun,
        };
        (ended, self.reply)
    }
}

impl<C, F, T, R> Member<C> for Call<F, T, R>
where
    C: ?Sized,
    F: FnMut(&C) -> rusqlite::Result<T>,
{
    /// Runs the closure. A panic is caught and turned into a permanent error, so that it reaches
    /// neither the thread running the group (another caller, or the writer thread) nor the other
    /// members.
    fn run(&mut self, on: &C) -> rusqlite::Result<()> {
        self.output = None;
        self.runs += 1;
        let f = &mut self.f;
        let Ok(result) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(on))) else {
            self.panicked = true;
            // Permanent (not an SQLite code): the group rolls this member back alone.
            return Err(rusqlite::Error::InvalidParameterName("the request's closure panicked".into()));
        };
        self.panicked = false;
        self.output = Some(Ok(result?));
        Ok(())
    }

    fn reset(&mut self) {
        self.output = None;
    }

    fn reject(&mut self, error: rusqlite::Error) {
        self.output = Some(Err(error));
    }

    fn rejected(&self) -> bool {
        matches!(self.output, Some(Err(_)))
    }
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// Runs `members` in the transaction open on `conn` (each given `on`); returns whether to commit.
///
/// A member's permanent error fails only that member: its changes are undone and the others
/// commit. Optimistically, the group runs inside one `SAVEPOINT` with no per-member savepoints
/// (two statements per group, not two per member); the first rejection rolls back to the group
/// savepoint and the remaining members run again, each in its own `SAVEPOINT`. A group of one
/// needs no savepoint at all: a rejected lone member makes this return `Ok(false)` (roll back).
/// `Err` is a retryable error: the attempt failed, and the caller's policy re-runs every member
/// from the start.
pub(crate) fn run_members<C, M>(conn: &Connection, on: &C, members: &mut [Box<M>]) -> rusqlite::Result<bool>
where
    C: ?Sized,
    M: Member<C> + ?Sized,
{
    members.iter_mut().for_each(|m| m.reset());
    if let [member] = members {
        return match member.run(on) {
            Ok(()) => Ok(true),
            Err(e) if e.classify().is_retryable() => Err(e),
            Err(e) => {
                member.reject(e);
                Ok(false)
            }
        };
    }
    exec(conn, "SAVEPOINT sqlretry_group")?;
    let mut isolate = false;
    loop {
        let mut rerun = false;
        for member in members.iter_mut().filter(|m| !m.rejected()) {
            if isolate {
                exec(conn, "SAVEPOINT sqlretry_request")?;
            }
            match member.run(on) {
                Ok(()) if isolate => exec(conn, "RELEASE sqlretry_request")?,
                Ok(()) => {}
                Err(e) if e.classify().is_retryable() => return Err(e),
                Err(e) => {
                    member.reject(e);
                    if !isolate {
                        rerun = true;
                        break;
                    }
                    exec(conn, "ROLLBACK TO sqlretry_request")?;
                    exec(conn, "RELEASE sqlretry_request")?;
                }
            }
        }
        if !rerun {
            break;
        }
        // A member was rejected: undo the group so far and run the others again, this time each
        // in its own savepoint.
        exec(conn, "ROLLBACK TO sqlretry_group")?;
        isolate = true;
    }
    exec(conn, "RELEASE sqlretry_group")?;
    Ok(true)
}

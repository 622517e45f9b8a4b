//! The one writer of a SQLite database file ([`Dialect::WRITER`]): one
//! connection of its own runs every write of the stores opened on the file
//! by one `connect`.
//!
//! SQLite lets one connection write at a time; another connection that
//! finds the lock taken sleeps in its busy handler and tries again, so
//! writers from a pool wait for each other in sleeps of up to 100 ms. Here
//! a write finding the connection free runs on it at once, from the
//! caller's task; otherwise it waits in a queue, which a thread of its own
//! (so that waking it never waits behind the application's tasks) serves:
//! the writes found queued together run in one transaction (up to
//! [`MAX_BATCH`]), each answered only once it is committed. Reads keep
//! using the pool.
//!
//! - **Per-write results**: a write that fails in a batch rolls the batch
//!   back, and its writes are run again one by one, each on its own, so
//!   each caller gets the result it would have got alone. Only a lock that
//!   another process held for the whole busy timeout when the batch began
//!   fails every write of the batch, with that error.
//! - **Callers that leave**: a queued write whose caller stopped waiting
//!   (its future dropped: the operation timeout, a cancelled request)
//!   before the writer reached it is not run. One that started is
//!   committed or rolled back as a whole, and its answer dropped; when it
//!   ran at once, the writes after it queue until its statement is done.
//! - **The pool closed**: the writer closes its connection and answers
//!   every write with sqlx's `PoolClosed`, as the pool does.
//! - **A broken connection** (I/O, the driver's worker gone, a transaction
//!   left in an unknown state) is dropped, which rolls back what it had not
//!   committed, and the next write opens a new one with the pool's options.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use sqlx::{ConnectOptions, Connection, Pool};
use store_core::Expiry;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::codec::{Arg, On};
use crate::query::{Dialect, Statements, Write};

/// The most queued writes one transaction takes.
pub(crate) const MAX_BATCH: usize = 64;

/// How many writes wait in the queue before a caller waits to queue its own.
const QUEUE_LEN: usize = 1024;

/// What a write gives back: the first column of each row it returned, the
/// rows it changed and the value it gave `LAST_INSERT_ID(…)`, as asked.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) ints: Vec<i64>,
    pub(crate) changed: u64,
    pub(crate) id: u64,
}

/// Which of [`Outcome`]'s parts a write needs: its returned integers, or
/// its counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    Ints,
    Changed,
}

/// A database's writer; cloned by every store on the database.
pub(crate) struct Writer<D: Dialect> {
    queue: mpsc::Sender<Job>,
    shared: Arc<Shared<D>>,
}

impl<D: Dialect> Clone for Writer<D> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<D: Dialect> fmt::Debug for Writer<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

/// What the callers and the writer's thread share: the pool (its options,
/// whether it is closed) and the connection.
struct Shared<D: Dialect> {
    pool: Pool<D>,
    slot: Mutex<Slot<D>>,
}

/// The writer's connection (none until the next write after one broke),
/// and whether a write that ran at once was dropped before it was done
/// (its statement may still be running on the connection).
struct Slot<D: Dialect> {
    conn: Option<D::Connection>,
    unfinished: bool,
}

impl<D: Dialect> Writer<D> {
    /// Starts the writer of `pool`'s database with `conn`, a connection of
    /// its own; its thread lives as long as a store holds the writer.
    pub(crate) fn start(
        pool: Pool<D>,
        begin: &'static str,
        conn: D::Connection,
    ) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel(QUEUE_LEN);
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot {
                conn: Some(conn),
                unfinished: false,
            }),
            pool,
        });
        let task = Task {
            closed: shared.pool.close_event(),
            shared: Arc::clone(&shared),
            begin,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        std::thread::Builder::new()
            .name(format!("{}-writer", D::BACKEND))
            .spawn(move || runtime.block_on(task.serve(jobs)))?;
        Ok(Self { queue, shared })
    }

    /// Runs statement `write` of `statements` with `args` on the writer's
    /// connection: at once when it is free, else through the queue.
    /// Dropping the future before the writer reached a queued write
    /// withdraws it.
    pub(crate) async fn run(
        &self,
        statements: &Arc<Statements>,
        write: Write,
        args: &[Arg<'_>],
        want: Want,
    ) -> Result<Outcome, sqlx::Error> {
        // Free, and not busy with a statement whose caller left (the
        // writes after it queue, so that those whose callers leave as well
        // are not run).
        if let Ok(mut slot) = self.shared.slot.try_lock() {
            if !slot.unfinished {
                let pool = &self.shared.pool;
                if pool.is_closed() {
                    slot.conn = None;
                    return Err(sqlx::Error::PoolClosed);
                }
                // Cleared when done: left set when this future is dropped.
                slot.unfinished = true;
                let result = match connection(pool, &mut slot.conn).await {
                    Ok(conn) => execute::<D>(conn, statements.write(write), args, want).await,
                    Err(e) => Err(e),
                };
                if result.as_ref().is_err_and(breaks_connection) {
                    slot.conn = None;
                }
                slot.unfinished = false;
                return result;
            }
        }
        let (reply, answer) = oneshot::channel();
        let job = Job {
            statements: Arc::clone(statements),
            write,
            params: args.iter().map(Param::from).collect(),
            want,
            reply,
        };
        // The writer stops only when no store holds the queue, or if its
        // thread panicked.
        self.queue
            .send(job)
            .await
            .map_err(|_| sqlx::Error::WorkerCrashed)?;
        answer.await.map_err(|_| sqlx::Error::WorkerCrashed)?
    }
}

/// Runs `sql` with `args` on `conn` (alone, or inside a batch's
/// transaction).
async fn execute<D: Dialect>(
    conn: &mut D::Connection,
    sql: &str,
    args: &[Arg<'_>],
    want: Want,
) -> Result<Outcome, sqlx::Error> {
    match want {
        Want::Ints => {
            let ints = D::ints(On::Conn(conn), sql, args).await?;
            Ok(Outcome {
                ints,
                ..Outcome::default()
            })
        }
        Want::Changed => {
            let (changed, id) = D::execute_id(On::Conn(conn), sql, args).await?;
            Ok(Outcome {
                changed,
                id,
                ..Outcome::default()
            })
        }
    }
}

/// The writer's connection, opened with the pool's options when there is
/// none.
async fn connection<'c, D: Dialect>(
    pool: &Pool<D>,
    conn: &'c mut Option<D::Connection>,
) -> Result<&'c mut D::Connection, sqlx::Error> {
    if conn.is_none() {
        *conn = Some(pool.connect_options().connect().await?);
    }
    conn.as_mut().ok_or(sqlx::Error::WorkerCrashed)
}

/// One queued write.
struct Job {
    statements: Arc<Statements>,
    write: Write,
    params: Vec<Param>,
    want: Want,
    reply: oneshot::Sender<Result<Outcome, sqlx::Error>>,
}

impl Job {
    /// Whether the caller stopped waiting for the answer.
    fn withdrawn(&self) -> bool {
        self.reply.is_closed()
    }

    fn answer(self, result: Result<Outcome, sqlx::Error>) {
        // A caller that left does not want it.
        let _ = self.reply.send(result);
    }

    /// Runs the write on `conn` (alone, or inside the batch's transaction).
    async fn run<D: Dialect>(&self, conn: &mut D::Connection) -> Result<Outcome, sqlx::Error> {
        let args: Vec<Arg<'_>> = self.params.iter().map(Param::arg).collect();
        execute::<D>(conn, self.statements.write(self.write), &args, self.want).await
    }
}

/// An [`Arg`] the queue owns (a value shares its bytes).
enum Param {
    Text(String),
    OptText(Option<String>),
    Bytes(Bytes),
    Int(i64),
    Time(Option<Expiry>),
}

impl From<&Arg<'_>> for Param {
    fn from(arg: &Arg<'_>) -> Self {
        match *arg {
            Arg::Text(s) => Self::Text(s.to_owned()),
            Arg::OptText(s) => Self::OptText(s.map(str::to_owned)),
            Arg::Bytes(b) => Self::Bytes(b.clone()),
            Arg::Int(i) => Self::Int(i),
            Arg::Time(t) => Self::Time(t),
        }
    }
}

impl Param {
    fn arg(&self) -> Arg<'_> {
        match self {
            Self::Text(s) => Arg::Text(s),
            Self::OptText(s) => Arg::OptText(s.as_deref()),
            Self::Bytes(b) => Arg::Bytes(b),
            Self::Int(i) => Arg::Int(*i),
            Self::Time(t) => Arg::Time(*t),
        }
    }
}

/// The writer's thread: what it shares with the callers, and what it
/// needs to start a batch.
struct Task<D: Dialect> {
    shared: Arc<Shared<D>>,
    closed: sqlx::pool::CloseEvent,
    /// The statement that starts a batch's transaction.
    begin: &'static str,
}

impl<D: Dialect> Task<D> {
    /// Takes the queued writes, [`MAX_BATCH`] at a time, until every store
    /// is gone; closes the connection when the pool closes.
    async fn serve(mut self, mut queue: mpsc::Receiver<Job>) {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        let mut closed = false;
        loop {
            tokio::select! {
                taken = queue.recv_many(&mut jobs, MAX_BATCH) => {
                    if taken == 0 {
                        return;
                    }
                }
                () = &mut self.closed, if !closed => {
                    closed = true;
                    self.shared.slot.lock().await.conn = None;
                    continue;
                }
            }
            jobs.retain(|job| !job.withdrawn());
            if jobs.is_empty() {
                continue;
            }
            let mut slot = self.shared.slot.lock().await;
            if slot.unfinished {
                // Wait for the statement of a caller that left: the driver
                // answers the ping once it is done.
                if let Some(conn) = slot.conn.as_mut() {
                    if conn.ping().await.is_err() {
                        slot.conn = None;
                    }
                }
                slot.unfinished = false;
                jobs.retain(|job| !job.withdrawn());
            }
            let pool = &self.shared.pool;
            if pool.is_closed() {
                slot.conn = None;
                for job in jobs.drain(..) {
                    job.answer(Err(sqlx::Error::PoolClosed));
                }
            } else if jobs.len() == 1 {
                run_each(pool, &mut slot.conn, &mut jobs).await;
            } else if !jobs.is_empty() {
                run_together(pool, self.begin, &mut slot.conn, &mut jobs).await;
            }
        }
    }
}

/// Runs each write on its own (one statement: atomic by itself), and
/// answers it.
async fn run_each<D: Dialect>(
    pool: &Pool<D>,
    conn: &mut Option<D::Connection>,
    jobs: &mut Vec<Job>,
) {
    for job in jobs.drain(..) {
        if job.withdrawn() {
            continue;
        }
        let result = match connection(pool, conn).await {
            Ok(conn) => job.run::<D>(conn).await,
            Err(e) => Err(e),
        };
        if result.as_ref().is_err_and(breaks_connection) {
            *conn = None;
        }
        job.answer(result);
    }
}

/// Runs the writes in one transaction, answered once it is committed; on
/// any failure the transaction is rolled back and the writes are run again
/// one by one.
async fn run_together<D: Dialect>(
    pool: &Pool<D>,
    begin: &'static str,
    conn: &mut Option<D::Connection>,
    jobs: &mut Vec<Job>,
) {
    let Ok(open) = connection(pool, conn).await else {
        // Each write tries to connect again and gets its own error.
        return run_each(pool, conn, jobs).await;
    };
    match together::<D>(open, begin, jobs).await {
        Together::Answered => {}
        Together::Again { keep } => {
            if !keep {
                *conn = None;
            }
            run_each(pool, conn, jobs).await;
        }
    }
}

/// How a batch in one transaction ended.
enum Together {
    /// Every write was answered.
    Answered,
    /// Nothing was committed: the writes are to run again one by one,
    /// `keep`ing the connection or not (its state unknown).
    Again { keep: bool },
}

/// Runs `jobs` in one transaction on `conn`, started with `begin`, and
/// answers them once it is committed.
async fn together<D: Dialect>(
    conn: &mut D::Connection,
    begin: &'static str,
    jobs: &mut Vec<Job>,
) -> Together {
    let mut tx = match conn.begin_with(begin).await {
        Ok(tx) => tx,
        // The lock stayed taken for the whole busy timeout (or the file
        // failed): what each write would have met.
        Err(sqlx::Error::Database(db)) => {
            for job in jobs.drain(..) {
                job.answer(Err(sqlx::Error::Database(Box::new(Replica::of(&*db)))));
            }
            return Together::Answered;
        }
        Err(_) => return Together::Again { keep: false },
    };
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut failed = false;
    for job in jobs.iter() {
        // Withdrawn before it ran: left out.
        if job.withdrawn() {
            outcomes.push(None);
            continue;
        }
        match job.run::<D>(&mut tx).await {
            Ok(outcome) => outcomes.push(Some(outcome)),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    let ended = if failed {
        tx.rollback().await.map(|()| false)
    } else {
        tx.commit().await.map(|()| true)
    };
    match ended {
        Ok(true) => {
            for (job, outcome) in jobs.drain(..).zip(outcomes) {
                if let Some(outcome) = outcome {
                    job.answer(Ok(outcome));
                }
            }
            Together::Answered
        }
        Ok(false) => Together::Again { keep: true },
        // Whether the transaction is still open is unknown: closing the
        // connection rolls back whatever is left of it.
        Err(_) => Together::Again { keep: false },
    }
}

/// Whether an error leaves the connection unusable.
fn breaks_connection(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed | sqlx::Error::Protocol(_)
    )
}

/// A database error given to every write of a batch that met it: its code
/// and message, which is what the store reads of a database error.
#[derive(Debug)]
struct Replica {
    code: Option<String>,
    message: String,
}

impl Replica {
    fn of(db: &dyn sqlx::error::DatabaseError) -> Self {
        Self {
            code: db.code().map(Cow::into_owned),
            message: db.message().to_owned(),
        }
    }
}

impl fmt::Display for Replica {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for Replica {}

impl sqlx::error::DatabaseError for Replica {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        self.code.as_deref().map(Cow::Borrowed)
    }

    fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn StdError + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn StdError + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        sqlx::error::ErrorKind::Other
    }
}

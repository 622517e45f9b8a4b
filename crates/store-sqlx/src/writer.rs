//! The one writer of a SQLite database file ([`Dialect::WRITER`]): a
//! thread that owns a connection of its own and runs every write of the
//! stores opened on the file by one `connect`, in the order they were
//! queued.
//!
//! SQLite lets one connection write at a time; another connection that
//! finds the lock taken sleeps in its busy handler and tries again, so
//! writers from a pool wait for each other in sleeps of up to 100 ms. Here
//! the store's writes wait in a queue instead, and reads keep using the
//! pool. The writes found queued together run in one transaction (up to
//! [`MAX_BATCH`]), each answered only once it is committed.
//!
//! - **Per-write results**: a write that fails in a batch rolls the batch
//!   back, and its writes are run again one by one, each on its own, so
//!   each caller gets the result it would have got alone. Only a lock that
//!   another process held for the whole busy timeout when the batch began
//!   fails every write of the batch, with that error.
//! - **Callers that leave**: a write whose caller stopped waiting (its
//!   future dropped: the operation timeout, a cancelled request) before
//!   the writer reached it is not run. One the writer has started is
//!   committed or rolled back as a whole, and its answer dropped.
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
use tokio::sync::{mpsc, oneshot};

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

/// The queue of a database's writer; cloned by every store on the database.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer of `pool`'s database with `conn`, a connection of
    /// its own: a thread of its own (so that waking it never waits behind
    /// the application's tasks) that lives as long as a store holds the
    /// queue.
    pub(crate) fn start<D: Dialect>(
        pool: Pool<D>,
        begin: &'static str,
        conn: D::Connection,
    ) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel(QUEUE_LEN);
        let task = Task {
            closed: pool.close_event(),
            pool,
            begin,
            conn: Some(conn),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        std::thread::Builder::new()
            .name(format!("{}-writer", D::BACKEND))
            .spawn(move || runtime.block_on(task.serve(jobs)))?;
        Ok(Self { queue })
    }

    /// Runs statement `write` of `statements` with `args` on the writer's
    /// connection. Dropping the future before the writer reached the write
    /// withdraws it.
    pub(crate) async fn run(
        &self,
        statements: &Arc<Statements>,
        write: Write,
        args: &[Arg<'_>],
        want: Want,
    ) -> Result<Outcome, sqlx::Error> {
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
        let sql = self.statements.write(self.write);
        let args: Vec<Arg<'_>> = self.params.iter().map(Param::arg).collect();
        match self.want {
            Want::Ints => {
                let ints = D::ints(On::Conn(conn), sql, &args).await?;
                Ok(Outcome {
                    ints,
                    ..Outcome::default()
                })
            }
            Want::Changed => {
                let (changed, id) = D::execute_id(On::Conn(conn), sql, &args).await?;
                Ok(Outcome {
                    changed,
                    id,
                    ..Outcome::default()
                })
            }
        }
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

/// The writer's task: its connection (none until the next write after one
/// broke) and what it needs to open another.
struct Task<D: Dialect> {
    pool: Pool<D>,
    closed: sqlx::pool::CloseEvent,
    /// The statement that starts a batch's transaction.
    begin: &'static str,
    conn: Option<D::Connection>,
}

impl<D: Dialect> Task<D> {
    /// Takes the queued writes, [`MAX_BATCH`] at a time, until every store
    /// is gone; closes the connection when the pool closes.
    async fn serve(mut self, mut queue: mpsc::Receiver<Job>) {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        loop {
            tokio::select! {
                taken = queue.recv_many(&mut jobs, MAX_BATCH) => {
                    if taken == 0 {
                        return;
                    }
                }
                () = &mut self.closed, if self.conn.is_some() => {
                    self.conn = None;
                    continue;
                }
            }
            jobs.retain(|job| !job.withdrawn());
            if self.pool.is_closed() {
                self.conn = None;
                for job in jobs.drain(..) {
                    job.answer(Err(sqlx::Error::PoolClosed));
                }
            } else if jobs.len() == 1 {
                self.run_each(&mut jobs).await;
            } else if !jobs.is_empty() {
                self.run_together(&mut jobs).await;
            }
        }
    }

    /// The writer's connection, opened with the pool's options when it has
    /// none.
    async fn connection(&mut self) -> Result<&mut D::Connection, sqlx::Error> {
        if self.conn.is_none() {
            self.conn = Some(self.pool.connect_options().connect().await?);
        }
        self.conn.as_mut().ok_or(sqlx::Error::WorkerCrashed)
    }

    /// Runs each write on its own (one statement: atomic by itself), and
    /// answers it.
    async fn run_each(&mut self, jobs: &mut Vec<Job>) {
        for job in jobs.drain(..) {
            if job.withdrawn() {
                continue;
            }
            let result = match self.connection().await {
                Ok(conn) => job.run::<D>(conn).await,
                Err(e) => Err(e),
            };
            if result.as_ref().is_err_and(breaks_connection) {
                self.conn = None;
            }
            job.answer(result);
        }
    }

    /// Runs the writes in one transaction, answered once it is committed;
    /// on any failure the transaction is rolled back and the writes are run
    /// again one by one.
    async fn run_together(&mut self, jobs: &mut Vec<Job>) {
        let begin = self.begin;
        let Ok(conn) = self.connection().await else {
            // Each write tries to connect again and gets its own error.
            return self.run_each(jobs).await;
        };
        match together::<D>(conn, begin, jobs).await {
            Together::Answered => {}
            Together::Again { keep } => {
                if !keep {
                    self.conn = None;
                }
                self.run_each(jobs).await;
            }
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

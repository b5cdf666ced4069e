//! Reader threads: each owns a connection and runs read jobs, each in a read-only
//! REPEATABLE READ transaction (one consistent snapshot). They share one queue and end when
//! the backend is dropped.

use crossbeam_channel::{Receiver, Sender};

use super::{Conn, Tx};
use crate::store::{ReadJob, Result};

/// A read job and where to say it ran (or why it could not).
pub(super) type ReadMsg = (ReadJob, std::sync::mpsc::SyncSender<Result<()>>);

/// Starts `n` reader threads; they connect on their first job.
pub(super) fn start(config: postgres::Config, n: usize) -> Sender<ReadMsg> {
    let (tx, rx) = crossbeam_channel::unbounded::<ReadMsg>();
    for i in 0..n {
        let (config, rx) = (config.clone(), rx.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("pagerd-pg-reader-{i}"))
            .spawn(move || run(&config, &rx));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start a store reader thread");
        }
    }
    tx
}

fn run(config: &postgres::Config, jobs: &Receiver<ReadMsg>) {
    let mut conn: Option<Conn> = None;
    for (job, reply) in jobs.iter() {
        // A panicking job loses only its own answer (the caller sees `ReadPanicked`).
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            read_one(config, &mut conn, job)
        }));
        match ran {
            Ok(result) => {
                let _ = reply.send(result);
            }
            Err(_) => conn = None,
        }
        if conn.as_ref().is_some_and(Conn::is_closed) {
            conn = None;
        }
    }
}

fn read_one(config: &postgres::Config, conn: &mut Option<Conn>, job: ReadJob) -> Result<()> {
    if conn.is_none() {
        *conn = Some(Conn::connect(config, "reader")?);
    }
    let Some(Conn { client, statements }) = conn.as_mut() else {
        unreachable!("connected above");
    };
    let mut tx = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    job(&Tx::new(&mut tx, statements));
    tx.commit()?;
    Ok(())
}

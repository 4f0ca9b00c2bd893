//! Signals and stopping, written once for the daemon, the simulator (`simulate`) and `demo`:
//! SIGHUP asks for a reload, SIGTERM and SIGINT for a graceful stop ([`Signals`]); a signal
//! passed on to a child process ([`forward`]); and a child that dies with its parent, however
//! the parent dies ([`die_with_parent`]).

use std::future::Future;
use std::io;

/// A signal this crate's processes act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGHUP: reload.
    Hangup,
    /// SIGTERM: stop gracefully.
    Terminate,
    /// SIGINT (Ctrl-C): stop gracefully.
    Interrupt,
}

impl Signal {
    /// The conventional name, as in logs: `SIGHUP`, `SIGTERM`, `SIGINT`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Hangup => "SIGHUP",
            Signal::Terminate => "SIGTERM",
            Signal::Interrupt => "SIGINT",
        }
    }

    #[cfg(unix)]
    fn raw(self) -> rustix::process::Signal {
        match self {
            Signal::Hangup => rustix::process::Signal::HUP,
            Signal::Terminate => rustix::process::Signal::TERM,
            Signal::Interrupt => rustix::process::Signal::INT,
        }
    }
}

/// The installed handlers: from [`Signals::install`] on, SIGHUP, SIGTERM and SIGINT no longer
/// end the process but wait here to be received. (Elsewhere than Unix: Ctrl-C only.)
pub struct Signals {
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers (inside a Tokio runtime).
    #[cfg(unix)]
    pub fn install() -> io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Installs the handlers (inside a Tokio runtime).
    #[cfg(not(unix))]
    pub fn install() -> io::Result<Signals> {
        Ok(Signals {})
    }

    /// The next signal.
    #[cfg(unix)]
    pub async fn recv(&mut self) -> Signal {
        tokio::select! {
            Some(()) = self.hup.recv() => Signal::Hangup,
            Some(()) = self.term.recv() => Signal::Terminate,
            Some(()) = self.int.recv() => Signal::Interrupt,
            // The runtime's signal driver is gone: nothing can arrive any more; stop.
            else => Signal::Terminate,
        }
    }

    /// The next signal.
    #[cfg(not(unix))]
    pub async fn recv(&mut self) -> Signal {
        let _ = tokio::signal::ctrl_c().await;
        Signal::Interrupt
    }

    /// Waits for SIGTERM or SIGINT (logged as received) and returns it; every SIGHUP before it
    /// runs `on_hangup` to completion, so a stop waits for a reload in progress.
    pub async fn until_stop<F, Fut>(&mut self, mut on_hangup: F) -> Signal
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ()>,
    {
        loop {
            match self.recv().await {
                Signal::Hangup => on_hangup().await,
                stop => {
                    tracing::info!("{} received", stop.name());
                    return stop;
                }
            }
        }
    }
}

/// Passes `signal` on to `child`; elsewhere than Unix, stops it. A child that has already
/// exited is left alone.
pub fn forward(child: &mut tokio::process::Child, signal: Signal) -> io::Result<()> {
    #[cfg(unix)]
    {
        let Some(pid) = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(rustix::process::Pid::from_raw)
        else {
            return Ok(());
        };
        rustix::process::kill_process(pid, signal.raw()).map_err(io::Error::from)
    }
    #[cfg(not(unix))]
    {
        let _ = signal;
        child.start_kill()
    }
}

/// Makes the process that `cmd` starts receive SIGTERM when this process ends, however it ends
/// (SIGKILL and crashes included): Linux's parent-death signal, set in the child before exec.
/// A parent that died before the signal was set is noticed too (the child then exits without
/// running the program).
///
/// Linux sends the signal when the *thread* that spawned the child ends, so spawn from a thread
/// that lives as long as the process (the main thread; `Runtime::block_on` polls its future
/// there).
#[cfg(target_os = "linux")]
pub fn die_with_parent(cmd: &mut tokio::process::Command) {
    let parent = rustix::process::getpid();
    // SAFETY: the closure runs in the forked child before exec. It only makes two system calls
    // (prctl, getppid), which are async-signal-safe, and neither allocates nor takes locks: the
    // error values are plain errno codes.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))?;
            if rustix::process::getppid() != Some(parent) {
                // The parent died between fork and prctl: no signal will ever come.
                return Err(rustix::io::Errno::SRCH.into());
            }
            Ok(())
        });
    }
}

/// Elsewhere than Linux there is no parent-death signal: the child outlives a parent killed
/// with SIGKILL (a graceful stop still reaches it through [`forward`]).
#[cfg(not(target_os = "linux"))]
pub fn die_with_parent(_cmd: &mut tokio::process::Command) {}

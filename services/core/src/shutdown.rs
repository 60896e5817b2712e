//! Stopping: one token for the whole process, cancelled on Ctrl-C or SIGTERM.
//!
//! Libraries take a [`CancellationToken`] and stop their loops when it is
//! cancelled; `main` waits for them to drain before exiting.

pub use tokio_util::sync::CancellationToken;

/// A token cancelled when the process receives Ctrl-C or SIGTERM.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let child = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        child.cancel();
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        child.cancel();
    });
    token
}

//! A one-line progress bar on stderr, redrawn as work completes.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running progress bar.
#[derive(Debug)]
pub struct Bar {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Bar {
    /// Draws the final state and ends the line.
    pub async fn finish(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

fn draw(done: usize, total: usize, what: &str) {
    const WIDTH: usize = 30;
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return;
    }
    let filled = (done * WIDTH).checked_div(total).unwrap_or(0).min(WIDTH);
    let _ = write!(
        std::io::stderr(),
        "\r  [{}{}] {done}/{total} {what}",
        "#".repeat(filled),
        " ".repeat(WIDTH - filled)
    );
}

/// Redraws `(done, total)` read from `state` a few times a second until
/// finished. The redraw interval is for people; nothing waits on it.
pub fn bar<T: Send + Sync + 'static>(
    state: Arc<T>,
    read: fn(&T) -> (usize, usize),
    what: &'static str,
) -> Bar {
    let stop = CancellationToken::new();
    let token = stop.clone();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            let (done, total) = read(&state);
            draw(done, total, what);
            tokio::select! {
                _ = token.cancelled() => break,
                _ = tick.tick() => {}
            }
        }
        let (done, total) = read(&state);
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            draw(done, total, what);
            let _ = writeln!(std::io::stderr());
        } else {
            let _ = writeln!(std::io::stderr(), "  {done}/{total} {what}");
        }
    });
    Bar { stop, task }
}

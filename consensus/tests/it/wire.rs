//! The network between members: every member dials every other through a TCP forwarder of
//! its own, so a test can cut some pairs apart (a partition) and join them again.

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

/// One member's dialling path to another: a loopback port that forwards to the other's
/// consensus port while the wire is up.
pub(crate) struct Wire {
    /// Where the dialling member connects.
    pub(crate) listen: String,
    up: watch::Sender<bool>,
}

impl Wire {
    /// A wire to `target`, up, forwarding on a task of the current runtime.
    pub(crate) async fn to(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listen = listener.local_addr().unwrap().to_string();
        let (up, state) = watch::channel(true);
        tokio::spawn(forward(listener, target, state));
        Wire { listen, up }
    }

    /// Cuts the wire: open connections close and new ones are dropped once accepted.
    pub(crate) fn cut(&self) {
        self.up.send_replace(false);
    }

    /// Joins the wire again: the next dial goes through.
    pub(crate) fn join(&self) {
        self.up.send_replace(true);
    }
}

async fn forward(listener: TcpListener, target: String, state: watch::Receiver<bool>) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        if !*state.borrow() {
            continue;
        }
        let target = target.clone();
        let mut state = state.clone();
        tokio::spawn(async move {
            let Ok(mut outbound) = TcpStream::connect(&target).await else { return };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                _ = state.wait_for(|up| !up) => {}
            }
        });
    }
}

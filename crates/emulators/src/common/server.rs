//! Binding on loopback and serving an axum router until the handle says stop.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Binds 127.0.0.1:`port` (0 = a free port). Emulators never listen on other interfaces.
pub async fn bind_loopback(port: u16) -> io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await
}

/// A running emulator: its address, the means to stop it, and the emulator itself (`E`) for
/// driving it from code. Dropping the handle stops the server.
#[derive(Debug)]
pub struct EmulatorHandle<E = ()> {
    pub addr: SocketAddr,
    pub shutdown: Shutdown,
    pub emulator: E,
}

impl<E> EmulatorHandle<E> {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the server task.
    pub async fn stop(mut self) {
        self.shutdown.stop().await;
    }
}

/// Stops a server started by [`serve`]; also on drop.
#[derive(Debug)]
pub struct Shutdown {
    tx: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Shutdown {
    pub async fn stop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Shutdown {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(());
        }
    }
}

/// Serves `router` on `listener` (TCP_NODELAY on) in a background task, behind the request
/// capture layer (a pass-through unless capture is on: see [`super::capture`]).
pub fn serve<E>(
    listener: TcpListener,
    router: Router,
    emulator: E,
) -> io::Result<EmulatorHandle<E>> {
    let router = router.layer(axum::middleware::from_fn(super::capture::layer));
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let task = tokio::spawn(async move {
        let r = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "emulator server stopped with an error");
        }
    });
    Ok(EmulatorHandle {
        addr,
        shutdown: Shutdown {
            tx: Some(tx),
            task: Some(task),
        },
        emulator,
    })
}

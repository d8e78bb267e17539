//! A per-connection kill switch, for "the answer was lost" faults: the handler performs the operation, throws the
//! switch, and from then on every read and write on that connection's TCP stream fails, so the response is never
//! written and the socket is closed. The client sees the connection drop without a status line (HTTP/1.1) or
//! without response headers (HTTP/2: the whole connection goes, as when a network path dies).
//!
//! It sits under TLS (the acceptor wraps the TCP stream before the handshake), so nothing, not even an encrypted
//! record of the response, leaves the machine after the switch is thrown.
use axum::{Extension, Router};
use std::future::Ready;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Handed to handlers as a request extension; [`ConnKill::kill`] drops the connection the request came on.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnKill(Arc<AtomicBool>);

impl ConnKill {
    pub fn kill(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn killed(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The TCP stream of one connection, dead once its [`ConnKill`] is thrown.
pub(crate) struct KillableStream {
    inner: TcpStream,
    kill: ConnKill,
}

fn dropped() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "emulator fault: connection dropped",
    )
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.kill.killed() {
            return Poll::Ready(Err(dropped()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.kill.killed() {
            return Poll::Ready(Err(dropped()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.kill.killed() {
            return Poll::Ready(Err(dropped()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The acceptor under TLS: wraps each TCP stream and gives the connection's service the matching switch.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KillSwitchAcceptor;

impl axum_server::accept::Accept<TcpStream, Router> for KillSwitchAcceptor {
    type Stream = KillableStream;
    type Service = Router;
    type Future = Ready<io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: TcpStream, service: Router) -> Self::Future {
        let kill = ConnKill::default();
        let service = service.layer(Extension(kill.clone()));
        std::future::ready(Ok((
            KillableStream {
                inner: stream,
                kill,
            },
            service,
        )))
    }
}

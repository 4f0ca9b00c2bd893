//! One connection from accept to close: the TLS handshake (when configured), then HTTP/1.1 with
//! keep-alive, closed when its slot's deadline passes (slow or absent request head, idle
//! keep-alive, a response nobody reads), when it is evicted for room, or — after the response in
//! flight — when the server stops.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::service::ConnService;
use super::slots::{Limits, Phase, Slot};

/// Serves one connection until it closes.
pub async fn serve<IO>(
    io: IO,
    tls: Option<TlsAcceptor>,
    service: ConnService,
    limits: Limits,
    stop: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let slot = Arc::clone(&service.slot);
    let io = Watched {
        io,
        slot: Arc::clone(&slot),
    };
    let expired = {
        let slot = Arc::clone(&slot);
        async move { slot.expired(&limits).await }
    };
    tokio::pin!(expired);
    match tls {
        None => http(io, service, expired, stop).await,
        Some(acceptor) => {
            let stream = tokio::select! {
                r = acceptor.accept(io) => match r {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return;
                    }
                },
                why = &mut expired => {
                    closing(why, &limits);
                    return;
                }
                _ = stop.cancelled() => return,
            };
            http(stream, service, expired, stop).await;
        }
    }
}

async fn http<IO>(
    io: IO,
    service: ConnService,
    mut expired: Pin<&mut impl Future<Output = Option<Phase>>>,
    stop: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    // The header-read timeout is the slot's (it must not also cut idle keep-alive connections,
    // which hyper's own would).
    builder.header_read_timeout(None).keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "HTTP connection ended with an error");
                }
                return;
            }
            why = &mut expired => {
                tracing::debug!(reason = why.map(Phase::name).unwrap_or("evicted for room"), "closing an HTTP connection");
                return;
            }
            _ = stop.cancelled(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

fn closing(why: Option<Phase>, limits: &Limits) {
    match why {
        Some(_) => tracing::debug!(
            timeout = ?limits.read_header_timeout,
            "closing a connection: no TLS handshake in time"
        ),
        None => tracing::debug!("closing a connection: evicted for room"),
    }
}

/// The connection's byte stream, telling its slot when bytes come and go.
struct Watched<IO> {
    io: IO,
    slot: Arc<Slot>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.slot.on_read();
        }
        r
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.slot.on_write();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.slot.on_write();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

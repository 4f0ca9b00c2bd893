//! A snapshot of the text exposition (the exporter's own families as text, then the per-tuple
//! families as a [`TupleSnapshot`]), written out in chunks.

use bytes::{Bytes, BytesMut};

use super::snapshot::TupleSnapshot;

/// Content type of the text exposition format served on `/metrics` and `/probe`.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A snapshot of the exposition, taken quickly under the locks and written out afterwards,
/// chunk by chunk, without holding them: only the chunk being written exists as text.
#[derive(Clone, Default)]
pub struct Exposition {
    /// Text written first (the exporter's own families).
    head: Vec<Bytes>,
    tuples: TupleSnapshot,
}

impl Exposition {
    /// The exposition made of `head`, then the per-tuple families of `tuples`.
    pub(super) fn new(head: Vec<Bytes>, tuples: TupleSnapshot) -> Exposition {
        Exposition { head, tuples }
    }

    /// The exposition as chunks of about `size` bytes (small pieces coalesced, so the HTTP body
    /// is written in few large writes while the memory of each chunk is reused).
    pub fn into_chunks(self, size: usize) -> impl Iterator<Item = Bytes> + Send + 'static {
        let size = size.max(1);
        Chunks {
            parts: self.head.into_iter().chain(self.tuples.into_pieces(size)),
            size,
            pending: None,
        }
    }

    /// The whole exposition as one string.
    pub fn to_text(&self) -> String {
        let mut out = Vec::new();
        for chunk in self.clone().into_chunks(64 * 1024) {
            out.extend_from_slice(&chunk);
        }
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

struct Chunks<I> {
    parts: I,
    size: usize,
    pending: Option<Bytes>,
}

impl<I: Iterator<Item = Bytes>> Iterator for Chunks<I> {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        let mut buf: Option<BytesMut> = None;
        loop {
            let Some(part) = self.pending.take().or_else(|| self.parts.next()) else {
                break;
            };
            match buf.as_mut() {
                None if part.len() >= self.size => return Some(part),
                None => {
                    let mut b = BytesMut::with_capacity(self.size);
                    b.extend_from_slice(&part);
                    buf = Some(b);
                }
                Some(b) if b.len() + part.len() > self.size => {
                    self.pending = Some(part);
                    break;
                }
                Some(b) => b.extend_from_slice(&part),
            }
        }
        buf.map(BytesMut::freeze)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_carry_the_exact_exposition_in_pieces_of_bounded_size() {
        let parts: Vec<Bytes> = ["ab", "cdefgh", "", "ijklmnopqrstuvwxyz", "0", "12345"]
            .into_iter()
            .map(|s| Bytes::from(s.to_string()))
            .collect();
        let e = Exposition::new(parts, TupleSnapshot::default());
        let text = e.to_text();
        let chunks: Vec<Bytes> = e.into_chunks(8).collect();
        let joined: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        assert_eq!(joined, text.as_bytes());
        for c in &chunks {
            assert!(!c.is_empty());
            // Only a piece larger than the chunk size is passed through whole.
            assert!(c.len() <= 8 || c.as_ref() == b"ijklmnopqrstuvwxyz", "{c:?}");
        }
        assert_eq!(chunks.len(), 3, "{chunks:?}");
    }
}

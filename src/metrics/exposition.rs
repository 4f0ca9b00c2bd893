//! A snapshot of the text exposition as a list of shared pieces, written out in chunks.

use bytes::{Bytes, BytesMut};

/// Content type of the text exposition format served on `/metrics` and `/probe`.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A snapshot of the exposition: the text format as a list of shared pieces, taken quickly
/// under the lock and written out afterwards, chunk by chunk, without holding it.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    parts: Vec<Bytes>,
}

impl Exposition {
    /// The exposition made of `parts`, in order.
    pub(super) fn from_parts(parts: Vec<Bytes>) -> Exposition {
        Exposition { parts }
    }

    /// Total size in bytes.
    pub fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The exposition as chunks of about `size` bytes (small pieces coalesced, so the HTTP body
    /// is written in few large writes while the memory of each chunk is reused).
    pub fn into_chunks(self, size: usize) -> impl Iterator<Item = Bytes> + Send + 'static {
        Chunks {
            parts: self.parts.into_iter(),
            size: size.max(1),
            pending: None,
        }
    }

    /// The whole exposition as one string.
    pub fn to_text(&self) -> String {
        let mut out = Vec::with_capacity(self.len());
        for p in &self.parts {
            out.extend_from_slice(p);
        }
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

struct Chunks {
    parts: std::vec::IntoIter<Bytes>,
    size: usize,
    pending: Option<Bytes>,
}

impl Iterator for Chunks {
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
        let e = Exposition { parts };
        let text = e.to_text();
        assert_eq!(e.len(), text.len());
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

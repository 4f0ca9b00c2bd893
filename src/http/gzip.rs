//! gzip for `/metrics` when the scraper asks for it (`Accept-Encoding: gzip`, as Prometheus
//! always does). The exposition's chunks are compressed one at a time as the body is written,
//! so a scrape never holds the whole compressed text, and at the fastest level: the text is so
//! repetitive that level 1 already shrinks it about tenfold, while higher levels cost several
//! times the CPU for a few percent.

use std::io::Write as _;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http::HeaderMap;
use http::header::ACCEPT_ENCODING;

/// Whether `headers` accept a gzip-encoded answer: `gzip` (or `x-gzip`, or `*`) listed in
/// `Accept-Encoding` with a non-zero quality.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|entry| {
            let mut parts = entry.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let wanted = coding.eq_ignore_ascii_case("gzip")
                || coding.eq_ignore_ascii_case("x-gzip")
                || coding == "*";
            wanted && parts.all(|p| !zero_quality(p))
        })
}

/// Whether the parameter `p` is `q=0` (any spelling of zero).
fn zero_quality(p: &str) -> bool {
    let Some((name, value)) = p.split_once('=') else {
        return false;
    };
    name.trim().eq_ignore_ascii_case("q")
        && value
            .trim()
            .parse::<f32>()
            .is_ok_and(|q| q <= 0.0 || q.is_nan())
}

/// The gzip stream of the concatenated `chunks`, produced chunk by chunk: each item is what
/// the encoder emitted after one or more input chunks, the last one the gzip trailer.
pub struct GzipChunks<I> {
    input: I,
    encoder: Option<GzEncoder<Vec<u8>>>,
}

impl<I: Iterator<Item = Bytes>> GzipChunks<I> {
    pub fn new(input: I) -> GzipChunks<I> {
        GzipChunks {
            input,
            encoder: Some(GzEncoder::new(Vec::new(), Compression::fast())),
        }
    }
}

impl<I: Iterator<Item = Bytes>> Iterator for GzipChunks<I> {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        loop {
            let encoder = self.encoder.as_mut()?;
            match self.input.next() {
                Some(chunk) => {
                    // Writing into a Vec cannot fail.
                    if encoder.write_all(&chunk).is_err() {
                        self.encoder = None;
                        return None;
                    }
                    let out = std::mem::take(encoder.get_mut());
                    if !out.is_empty() {
                        return Some(Bytes::from(out));
                    }
                }
                None => {
                    let out = self.encoder.take()?.finish().ok()?;
                    return (!out.is_empty()).then(|| Bytes::from(out));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use http::HeaderValue;

    use super::*;

    fn accepts(value: &str) -> bool {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(ACCEPT_ENCODING, v);
        }
        accepts_gzip(&headers)
    }

    #[test]
    fn gzip_is_served_only_when_asked_for() {
        assert!(accepts("gzip"));
        assert!(accepts("deflate, GZIP;q=0.5"));
        assert!(accepts("br;q=1.0, *;q=0.1"));
        assert!(accepts("x-gzip"));
        assert!(!accepts(""));
        assert!(!accepts("identity"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("gzip; q=0.000, br"));
        assert!(!accepts("gzipped"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn the_chunks_decompress_to_the_text() {
        let text: String = (0..20_000)
            .map(|i| format!("metric{{tuple=\"{i}\",layer=\"invoke\"}} 1\n"))
            .collect();
        let chunks: Vec<Bytes> = text
            .as_bytes()
            .chunks(64 * 1024)
            .map(Bytes::copy_from_slice)
            .collect();
        let gz: Vec<u8> = GzipChunks::new(chunks.into_iter())
            .flat_map(|b| b.to_vec())
            .collect();
        assert!(gz.len() * 8 < text.len(), "{} of {}", gz.len(), text.len());
        let mut back = String::new();
        let read = flate2::read::GzDecoder::new(gz.as_slice()).read_to_string(&mut back);
        assert!(read.is_ok(), "{read:?}");
        assert_eq!(back, text);
        assert_eq!(
            GzipChunks::new(std::iter::empty())
                .map(|b| b.len())
                .sum::<usize>()
                .min(1),
            1,
            "an empty text is still a gzip stream (header and trailer)"
        );
    }
}

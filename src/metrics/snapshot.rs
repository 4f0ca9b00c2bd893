//! The store's entries at one instant, written out family by family when a scrape reads them:
//! the sample text exists only for the chunk being written, never for the whole store.

use std::sync::Arc;

use bytes::Bytes;

use super::encode::{NFAM, family_headers, family_lines};
use super::rows::Rows;
use super::state::{Counters, TupleMeta, TupleState};

/// One tuple in the store: its settings, its last state and counters, and its label set
/// (escaped once per recorded probe, shared by every sample line of the tuple).
#[derive(Clone)]
pub(super) struct Entry {
    pub meta: TupleMeta,
    pub state: TupleState,
    pub counters: Counters,
    pub labels: Box<str>,
}

/// The entries of a store at one instant (shared, so a probe recorded during a scrape copies
/// only its own entry) and the families to write.
#[derive(Clone, Default)]
pub struct TupleSnapshot {
    entries: Vec<Arc<Entry>>,
    families: Vec<usize>,
}

impl TupleSnapshot {
    pub(super) fn new(entries: Vec<Arc<Entry>>, keep: impl Fn(usize) -> bool) -> TupleSnapshot {
        let families = if entries.is_empty() {
            Vec::new()
        } else {
            (0..NFAM).filter(|&i| keep(i)).collect()
        };
        TupleSnapshot { entries, families }
    }

    /// The exposition's text in pieces of about `size` bytes, each family's `# HELP`/`# TYPE`
    /// lines first, encoded as they are asked for (from a compact copy made at the first).
    pub(super) fn into_pieces(self, size: usize) -> Pieces {
        Pieces {
            entries: self.entries,
            rows: Rows::default(),
            families: self.families,
            family: 0,
            next: 0,
            size: size.max(1),
        }
    }
}

/// Iterator of [`TupleSnapshot::into_pieces`].
pub(super) struct Pieces {
    /// The snapshot's entries until the first piece copies them into `rows`.
    entries: Vec<Arc<Entry>>,
    rows: Rows,
    families: Vec<usize>,
    /// Position in `families`.
    family: usize,
    /// The next row to write in the current family (0: the family's header first).
    next: usize,
    size: usize,
}

impl Iterator for Pieces {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        let &fam = self.families.get(self.family)?;
        if !self.entries.is_empty() {
            let entries = std::mem::take(&mut self.entries);
            self.rows = Rows::with_capacity(entries.len());
            for e in &entries {
                self.rows.push(&e.labels, &e.state, &e.counters);
            }
        }
        let rows = &self.rows.rows;
        let mut out = String::with_capacity(self.size + 2048);
        if self.next == 0 {
            out.push_str(&family_headers()[fam]);
        }
        // At least one row per piece, so that every piece makes progress.
        while let Some(row) = rows.get(self.next) {
            family_lines(&mut out, fam, &self.rows, row);
            self.next += 1;
            if out.len() >= self.size {
                break;
            }
        }
        if self.next >= rows.len() {
            self.family += 1;
            self.next = 0;
        }
        Some(Bytes::from(out))
    }
}

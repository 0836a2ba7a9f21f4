//! JSONL read in batches of lines, with line numbers and byte offsets, so that records can be
//! parsed on several threads and items found again by offset.
//!
//! gavel-core's `RecordReader` parses every record into a JSON tree on the reading thread; for
//! the million-judgment inputs of a training set the builder instead hands whole batches of
//! raw lines to worker threads, which parse them straight into the few fields they need. The
//! rules are the same as the reader's: blank lines are skipped, a UTF-8 byte-order mark at the
//! start is ignored, `\r\n` line ends are accepted.

use std::io::{self, BufRead};
use std::ops::Range;

/// A batch of lines: one buffer and each line's range in it.
#[derive(Debug, Default)]
pub struct Batch {
    buf: Vec<u8>,
    lines: Vec<Line>,
}

/// One non-blank line of a batch.
#[derive(Debug, Clone)]
pub struct Line {
    /// 1-based line number in the file.
    pub number: u64,
    /// Byte offset of the line's start in the file.
    pub offset: u64,
    range: Range<usize>,
}

impl Batch {
    /// The lines of the batch.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// The text of a line (without its line end).
    pub fn bytes(&self, line: &Line) -> &[u8] {
        &self.buf[line.range.clone()]
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether the batch has no lines.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// Reads a JSONL stream in batches of about `target_bytes`.
pub struct Batches<R> {
    reader: R,
    target_bytes: usize,
    number: u64,
    offset: u64,
    done: bool,
}

impl<R: BufRead> Batches<R> {
    /// Batches of about `target_bytes` bytes (at least one line each).
    pub fn new(reader: R, target_bytes: usize) -> Batches<R> {
        Batches {
            reader,
            target_bytes: target_bytes.max(1),
            number: 0,
            offset: 0,
            done: false,
        }
    }

    /// The next batch, `None` at the end.
    pub fn next_batch(&mut self) -> io::Result<Option<Batch>> {
        if self.done {
            return Ok(None);
        }
        let mut batch = Batch {
            buf: Vec::with_capacity(self.target_bytes + (self.target_bytes >> 3)),
            lines: Vec::new(),
        };
        while batch.buf.len() < self.target_bytes {
            let start = batch.buf.len();
            let n = self.reader.read_until(b'\n', &mut batch.buf)?;
            if n == 0 {
                self.done = true;
                break;
            }
            self.number += 1;
            let line_offset = self.offset;
            self.offset += n as u64;
            let mut end = batch.buf.len();
            while end > start && matches!(batch.buf[end - 1], b'\n' | b'\r') {
                end -= 1;
            }
            let mut begin = start;
            if self.number == 1 && batch.buf[begin..end].starts_with(b"\xEF\xBB\xBF") {
                begin += 3;
            }
            if batch.buf[begin..end].iter().all(u8::is_ascii_whitespace) {
                batch.buf.truncate(start);
                continue;
            }
            batch.lines.push(Line {
                number: self.number,
                offset: line_offset + (begin - start) as u64,
                range: begin..end,
            });
        }
        if batch.lines.is_empty() && self.done {
            return Ok(None);
        }
        Ok(Some(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_numbers_offsets_and_blank_lines() {
        let text = "\u{feff}{\"a\":1}\r\n\n  \n{\"b\":2}\n{\"c\":3}";
        let mut b = Batches::new(io::Cursor::new(text.as_bytes()), 10);
        let mut got = Vec::new();
        while let Some(batch) = b.next_batch().unwrap() {
            for l in batch.lines() {
                got.push((
                    l.number,
                    l.offset,
                    String::from_utf8(batch.bytes(l).to_vec()).unwrap(),
                ));
            }
        }
        assert_eq!(
            got,
            vec![
                (1, 3, "{\"a\":1}".to_string()),
                (4, 16, "{\"b\":2}".to_string()),
                (5, 24, "{\"c\":3}".to_string()),
            ]
        );
        assert_eq!(&text.as_bytes()[16..23], b"{\"b\":2}");
    }

    #[test]
    fn empty_input() {
        let mut b = Batches::new(io::Cursor::new(b"\n\n".as_slice()), 10);
        assert!(b.next_batch().unwrap().is_none());
    }
}

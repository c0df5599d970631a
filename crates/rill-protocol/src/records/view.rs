//! Borrowed, lazy access to magic-2 batches: the fastest way to read records.
//!
//! [`BatchView`] decodes a batch header, checks the CRC and decompresses (if
//! needed) but materializes nothing: [`BatchView::records`] parses records on
//! the fly and hands out keys, values and headers as `&[u8]` borrowed from
//! the batch buffer: no allocation and no reference counting per record.
//! Take a `Bytes` of any part with [`BatchView::bytes_of`] when it must
//! outlive the view (zero copy; one reference count).

use bytes::Bytes;

use super::batch::{decode_v2_header, field, frame, BatchHeader, Frame, RecordBatch, TimestampType, MAGIC_OFFSET};
use super::parse;
use super::record::{Header, Record};
use super::DecodeOptions;
use crate::codec::Reader;
use crate::error::{DecodeError, DecodeErrorKind};

/// A decoded, CRC-checked magic-2 batch whose records are parsed on demand.
#[derive(Debug, Clone)]
pub struct BatchView {
    pub header: BatchHeader,
    /// The records region: a slice of the input, or the decompressed buffer.
    data: Bytes,
}

impl BatchView {
    /// Decodes exactly one complete magic-2 batch filling `buf`.
    pub fn decode(buf: &Bytes, opts: &DecodeOptions) -> Result<BatchView, DecodeError> {
        let mut r = Reader::new(buf);
        let v = Self::decode_from(&mut r, opts)?;
        r.expect_end(field::BATCH)?;
        Ok(v)
    }

    fn decode_from(r: &mut Reader<'_>, opts: &DecodeOptions) -> Result<BatchView, DecodeError> {
        let (header, data) = decode_v2_header(r, opts)?;
        Ok(BatchView { header, data })
    }

    /// Iterates over the records. Each record is validated as it is reached;
    /// after the declared count, leftover bytes are reported as an error item.
    pub fn records(&self) -> RecordViews<'_> {
        RecordViews { data: &self.data, pos: 0, left: self.header.record_count.max(0) as usize, done: false }
    }

    /// The declared number of records.
    pub fn record_count(&self) -> usize {
        self.header.record_count.max(0) as usize
    }

    /// The (decompressed) records region.
    pub fn records_data(&self) -> &Bytes {
        &self.data
    }

    /// A zero-copy `Bytes` for a slice handed out by this view (a key, a
    /// value, a header); `None` if `part` is not inside this view's buffer.
    pub fn bytes_of(&self, part: &[u8]) -> Option<Bytes> {
        if part.is_empty() {
            return Some(Bytes::new());
        }
        let base = self.data.as_ptr() as usize;
        let start = (part.as_ptr() as usize).checked_sub(base)?;
        let end = start.checked_add(part.len())?;
        (end <= self.data.len()).then(|| self.data.slice(start..end))
    }

    /// Materializes an owned [`RecordBatch`] (keys and values still zero-copy).
    pub fn to_batch(&self) -> Result<RecordBatch, DecodeError> {
        let mut records = Vec::with_capacity(self.record_count().min(self.data.len() / super::MIN_RECORD_LEN));
        for r in self.records() {
            records.push(r?.to_record(self));
        }
        let h = &self.header;
        Ok(RecordBatch {
            base_offset: h.base_offset,
            batch_length: h.batch_length,
            partition_leader_epoch: h.partition_leader_epoch,
            magic: h.magic,
            crc: h.crc,
            attributes: h.attributes,
            last_offset_delta: h.last_offset_delta,
            base_timestamp: h.base_timestamp,
            max_timestamp: h.max_timestamp,
            producer_id: h.producer_id,
            producer_epoch: h.producer_epoch,
            base_sequence: h.base_sequence,
            records,
        })
    }

    /// Absolute offset of a record of this batch.
    #[inline]
    pub fn offset_of(&self, r: &RecordView<'_>) -> i64 {
        self.header.base_offset.wrapping_add(r.offset_delta as i64)
    }

    /// Absolute timestamp of a record (max timestamp for LogAppendTime batches).
    #[inline]
    pub fn timestamp_of(&self, r: &RecordView<'_>) -> i64 {
        match self.header.attributes.timestamp_type() {
            TimestampType::LogAppendTime => self.header.max_timestamp,
            TimestampType::CreateTime => self.header.base_timestamp.wrapping_add(r.timestamp_delta),
        }
    }
}

/// One record borrowed from a [`BatchView`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    headers: &'a [u8],
    header_count: usize,
}

impl<'a> RecordView<'a> {
    pub fn header_count(&self) -> usize {
        self.header_count
    }

    /// Headers as `(key, value)`; they were validated when the record was parsed.
    pub fn headers(&self) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + 'a {
        let data = self.headers;
        let mut pos = 0usize;
        (0..self.header_count).map_while(move |_| {
            let ((ka, kb), v) = parse::header(data, &mut pos).ok()?;
            let key = data.get(ka..kb)?;
            let value = match v {
                Some((a, b)) => Some(data.get(a..b)?),
                None => None,
            };
            Some((key, value))
        })
    }

    /// An owned [`Record`] whose byte fields are zero-copy slices of the view's buffer.
    pub fn to_record(&self, view: &BatchView) -> Record {
        let b = |s: Option<&[u8]>| s.and_then(|s| view.bytes_of(s));
        Record {
            attributes: self.attributes,
            timestamp_delta: self.timestamp_delta,
            offset_delta: self.offset_delta,
            key: b(self.key),
            value: b(self.value),
            headers: self.headers().map(|(k, v)| Header { key: view.bytes_of(k).unwrap_or_default(), value: b(v) }).collect(),
        }
    }
}

/// Iterator over the records of a [`BatchView`].
#[derive(Debug, Clone)]
pub struct RecordViews<'a> {
    data: &'a [u8],
    pos: usize,
    left: usize,
    done: bool,
}

impl<'a> Iterator for RecordViews<'a> {
    type Item = Result<RecordView<'a>, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            if self.done || self.pos == self.data.len() {
                return None;
            }
            self.done = true;
            let remaining = self.data.len().saturating_sub(self.pos);
            return Some(Err(DecodeError::new(DecodeErrorKind::TrailingBytes { remaining }, field::RECORDS)));
        }
        let data = self.data;
        match parse::record(data, &mut self.pos) {
            Ok(raw) => {
                self.left -= 1;
                let get = |s: Option<(usize, usize)>| s.and_then(|(a, b)| data.get(a..b));
                Some(Ok(RecordView {
                    attributes: raw.attributes,
                    timestamp_delta: raw.timestamp_delta,
                    offset_delta: raw.offset_delta,
                    key: get(raw.key),
                    value: get(raw.value),
                    headers: data.get(raw.headers_at..raw.end).unwrap_or_default(),
                    header_count: raw.header_count,
                }))
            }
            Err(e) => {
                self.left = 0;
                self.done = true;
                Some(Err(e))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left + 1))
    }
}

/// Iterator over the magic-2 batches of a `records` field as [`BatchView`]s;
/// a partial trailing batch ends it silently, like [`super::RecordBatches`].
/// Magic 0/1 entries give an `InvalidValue` error for `RecordBatch.magic`
/// (decode those with [`super::RecordBatches`]).
#[derive(Debug, Clone)]
pub struct BatchViews<'a> {
    reader: Reader<'a>,
    opts: DecodeOptions,
    done: bool,
}

impl<'a> BatchViews<'a> {
    pub fn new(buf: &'a Bytes, opts: &DecodeOptions) -> Self {
        BatchViews { reader: Reader::new(buf), opts: opts.clone(), done: false }
    }

    /// Bytes not consumed (the partial trailing batch once iteration ended).
    pub fn trailing_partial(&self) -> usize {
        self.reader.remaining()
    }
}

impl Iterator for BatchViews<'_> {
    type Item = Result<BatchView, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        // Same framing as RecordBatches: a partial batch ends iteration silently.
        let total = match frame(&self.reader) {
            Frame::Partial => {
                self.done = true;
                return None;
            }
            Frame::Bad(e) => {
                self.done = true;
                return Some(Err(e));
            }
            Frame::Complete(total) => total,
        };
        let rest = self.reader.peek_rest();
        match rest.get(MAGIC_OFFSET) {
            Some(2) => {}
            Some(&m) => {
                self.done = true;
                return Some(Err(DecodeError::new(DecodeErrorKind::InvalidValue { value: m as i8 as i64 }, field::MAGIC)));
            }
            None => {
                self.done = true;
                return Some(Err(DecodeError::missing(field::MAGIC, MAGIC_OFFSET + 1, rest.len())));
            }
        }
        let mut batch = match self.reader.sub(total, field::BATCH) {
            Ok(b) => b,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        Some(BatchView::decode_from(&mut batch, &self.opts).and_then(|v| {
            batch.expect_end(field::BATCH)?;
            Ok(v)
        }))
    }
}

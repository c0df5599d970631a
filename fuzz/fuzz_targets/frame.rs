//! Fuzz target: the size-prefixed frame splitter fed in arbitrary chunks.
//! The cap must hold before any buffering, and frames must come out whole.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rill_protocol::frame::FrameDecoder;

const MAX_FRAME_BYTES: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, rest)) = data.split_first() else { return };
    let chunk = usize::from(chunk).max(1);
    let mut decoder = FrameDecoder::new(MAX_FRAME_BYTES);
    let mut buf = BytesMut::new();
    for piece in rest.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => assert!(frame.len() <= MAX_FRAME_BYTES),
                Ok(None) => {
                    assert!(decoder.needed() <= MAX_FRAME_BYTES + 4);
                    break;
                }
                Err(_) => return,
            }
        }
    }
});

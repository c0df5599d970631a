use std::fmt;

/// A Kafka UUID (topic ids, directory ids): 16 raw bytes, big-endian halves on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero UUID Kafka uses for "no topic id".
    pub const ZERO: Uuid = Uuid([0; 16]);

    pub fn from_u64_pair(most: u64, least: u64) -> Self {
        let mut b = [0u8; 16];
        let (hi, lo) = b.split_at_mut(8);
        hi.copy_from_slice(&most.to_be_bytes());
        lo.copy_from_slice(&least.to_be_bytes());
        Uuid(b)
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Kafka prints topic ids as URL-safe base64 without padding; we print the
/// canonical hex form, which is unambiguous in logs.
impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

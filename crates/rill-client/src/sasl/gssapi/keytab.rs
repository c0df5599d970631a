//! MIT keytab files (format version 0x0502, big-endian), as `kadmin ktadd`
//! and `ktutil` write them: a principal's long-term keys, one entry per key
//! version and encryption type. Every length is checked against the entry
//! before it is read; a malformed file is an error naming the key.

use std::fmt;
use std::path::Path;

use crate::config::ConfigError;

const KEY: &str = "sasl.kerberos.keytab";

/// One key of a principal.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct KeytabEntry {
    pub(super) realm: String,
    /// Name components: `["alice"]`, `["kafka", "host"]`.
    pub(super) components: Vec<String>,
    pub(super) kvno: u32,
    pub(super) enctype: u16,
    pub(super) key: Vec<u8>,
}

impl fmt::Debug for KeytabEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeytabEntry")
            .field("principal", &format_args!("{}@{}", self.components.join("/"), self.realm))
            .field("kvno", &self.kvno)
            .field("enctype", &self.enctype)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Reads the keytab at `path`.
pub(super) fn read(path: &Path) -> Result<Vec<KeytabEntry>, ConfigError> {
    let file = |reason: String| ConfigError::File { key: KEY, path: path.to_path_buf(), reason };
    let bytes = std::fs::read(path).map_err(|e| file(format!("cannot read the keytab: {e}")))?;
    parse(&bytes).map_err(|reason| file(format!("not an MIT keytab (version 0x0502): {reason}")))
}

/// Parses a keytab file's bytes.
pub(super) fn parse(bytes: &[u8]) -> Result<Vec<KeytabEntry>, &'static str> {
    let mut file = Reader(bytes);
    match file.u16()? {
        0x0502 => {}
        0x0501 => return Err("format version 0x0501 (native byte order) is not supported; re-export the keytab"),
        _ => return Err("unknown format version"),
    }
    let mut entries = Vec::new();
    while !file.0.is_empty() {
        let size = i32::from_be_bytes(file.array()?);
        let length = usize::try_from(size.unsigned_abs()).map_err(|_| "entry size out of range")?;
        let body = file.take(length)?;
        // A negative size marks a deleted entry (a hole); 0 ends the file.
        if size == 0 {
            break;
        }
        if size > 0 {
            entries.push(entry(Reader(body))?);
        }
    }
    Ok(entries)
}

fn entry(mut e: Reader<'_>) -> Result<KeytabEntry, &'static str> {
    let components = e.u16()?;
    let realm = e.string()?;
    let components = (0..components).map(|_| e.string()).collect::<Result<Vec<_>, _>>()?;
    let _name_type = e.u32()?;
    let _timestamp = e.u32()?;
    let kvno8 = e.u8()?;
    let enctype = e.u16()?;
    let key_length = usize::from(e.u16()?);
    let key = e.take(key_length)?.to_vec();
    // A 32-bit key version follows when the entry has room for it; it
    // supersedes the 8-bit one unless it is 0.
    let kvno = match e.u32() {
        Ok(kvno) if kvno != 0 => kvno,
        _ => u32::from(kvno8),
    };
    Ok(KeytabEntry { realm, components, kvno, enctype, key })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.0.len() < n {
            return Err("truncated entry");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        self.take(N)?.try_into().map_err(|_| "truncated entry")
    }

    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16, &'static str> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, &'static str> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn string(&mut self) -> Result<String, &'static str> {
        let length = usize::from(self.u16()?);
        String::from_utf8(self.take(length)?.to_vec()).map_err(|_| "a name is not UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(s: &[u8]) -> Vec<u8> {
        let mut v = (s.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(s);
        v
    }

    fn entry_bytes(kvno8: u8, kvno32: Option<u32>, enctype: u16, key: &[u8]) -> Vec<u8> {
        let mut body = 1u16.to_be_bytes().to_vec();
        body.extend(counted(b"RILL.TEST"));
        body.extend(counted(b"alice"));
        body.extend(1u32.to_be_bytes());
        body.extend(1_700_000_000u32.to_be_bytes());
        body.push(kvno8);
        body.extend(enctype.to_be_bytes());
        body.extend(counted(key));
        if let Some(k) = kvno32 {
            body.extend(k.to_be_bytes());
        }
        let mut e = (body.len() as i32).to_be_bytes().to_vec();
        e.extend(body);
        e
    }

    #[test]
    fn entries_holes_and_key_versions() {
        let mut file = vec![0x05, 0x02];
        file.extend(entry_bytes(3, None, 18, &[7; 32]));
        file.extend((-5i32).to_be_bytes());
        file.extend([0; 5]);
        file.extend(entry_bytes(255, Some(300), 17, &[9; 16]));
        let entries = parse(&file).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[0].kvno, entries[0].enctype, entries[0].key.len()), (3, 18, 32));
        assert_eq!(entries[0].components, vec!["alice"]);
        assert_eq!(entries[0].realm, "RILL.TEST");
        assert_eq!((entries[1].kvno, entries[1].enctype), (300, 17));
        assert!(!format!("{:?}", entries[0]).contains("7, 7"));
    }

    #[test]
    fn malformed_files_are_errors_not_panics() {
        assert!(parse(&[]).is_err());
        assert!(parse(&[0x05, 0x01]).is_err());
        let mut file = vec![0x05, 0x02];
        file.extend(entry_bytes(3, None, 18, &[7; 32]));
        for cut in 2..file.len() {
            let _ = parse(&file[..cut]);
        }
        assert!(parse(&file[..file.len() - 1]).is_err());
        let mut huge = vec![0x05, 0x02];
        huge.extend(i32::MAX.to_be_bytes());
        assert!(parse(&huge).is_err());
        let mut lying = vec![0x05, 0x02, 0, 0, 0, 4, 0, 9, 0xff, 0xff];
        assert!(parse(&lying).is_err());
        lying.truncate(2);
        assert!(parse(&lying).unwrap().is_empty());
    }
}

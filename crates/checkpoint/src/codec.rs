//! Versioned envelope around bincode: `b"RFCK"`, a little-endian `u16` format version, then the
//! bincode body. A reader refuses a version it does not know instead of misreading it.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::Checkpoint;

const MAGIC: &[u8; 4] = b"RFCK";
/// Current format version written by [`encode`].
pub const VERSION: u16 = 1;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("not a redoflow record: expected magic RFCK, found {found:02X?}")]
    BadMagic { found: Vec<u8> },
    #[error("record format version {found} is not supported (this build reads version {VERSION})")]
    UnsupportedVersion { found: u16 },
    #[error("record body is corrupt: {0}")]
    Body(String),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// Encodes any serde value in the envelope.
pub fn encode_value<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    // Serializing our own plain data types into a Vec cannot fail.
    match bincode::serde::encode_to_vec(value, config()) {
        Ok(body) => out.extend_from_slice(&body),
        Err(e) => unreachable!("bincode encoding of plain data failed: {e}"),
    }
    out
}

/// Decodes a value written by [`encode_value`].
pub fn decode_value<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() < 6 || &bytes[..4] != MAGIC {
        return Err(CodecError::BadMagic {
            found: bytes.iter().take(4).copied().collect(),
        });
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if version != VERSION {
        return Err(CodecError::UnsupportedVersion { found: version });
    }
    let (value, used) = bincode::serde::decode_from_slice(&bytes[6..], config())
        .map_err(|e| CodecError::Body(e.to_string()))?;
    if used != bytes.len() - 6 {
        return Err(CodecError::Body(format!(
            "{} trailing bytes",
            bytes.len() - 6 - used
        )));
    }
    Ok(value)
}

pub fn encode(checkpoint: &Checkpoint) -> Vec<u8> {
    encode_value(checkpoint)
}

pub fn decode(bytes: &[u8]) -> Result<Checkpoint, CodecError> {
    decode_value(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CheckpointId, FileCommit, Offset, Scn, Term, ThreadId, Xid};

    fn sample() -> Checkpoint {
        let mut offset = Offset::starting_after(Scn(1000));
        offset.record_commit(ThreadId(1), Scn(1200), Xid(0x0A00_1B00_C3D4_0000));
        offset.record_commit(ThreadId(1), Scn(1200), Xid(7));
        offset.record_commit(ThreadId(2), Scn(1150), Xid(9));
        Checkpoint {
            id: CheckpointId(42),
            term: Term(3),
            offset,
            files: vec![FileCommit {
                table: "HR.EMP".into(),
                final_path: "HR.EMP/0000000042-000000.csv".into(),
                inprogress_path: "HR.EMP/.0000000042-000000-t3.csv.inprogress".into(),
                rows: 10,
                bytes: 999,
                crc32: 0xDEADBEEF,
            }],
            created_at_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn round_trip() {
        let c = sample();
        assert_eq!(decode(&encode(&c)).unwrap(), c);
    }

    #[test]
    fn refuses_unknown_version_and_magic() {
        let mut bytes = encode(&sample());
        bytes[4] = 9;
        assert!(matches!(
            decode(&bytes),
            Err(CodecError::UnsupportedVersion { found: 9 })
        ));
        assert!(matches!(
            decode(b"JUNKJUNK"),
            Err(CodecError::BadMagic { .. })
        ));
        assert!(matches!(decode(b"RF"), Err(CodecError::BadMagic { .. })));
    }

    #[test]
    fn refuses_truncated_and_trailing_bytes() {
        let bytes = encode(&sample());
        assert!(matches!(
            decode(&bytes[..bytes.len() - 3]),
            Err(CodecError::Body(_))
        ));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(decode(&longer), Err(CodecError::Body(_))));
    }

    proptest::proptest! {
        #[test]
        fn any_offset_round_trips(resume in 0u64.., commits in proptest::collection::vec((1u16..4, 0u64..50, 0u64..8), 0..40)) {
            let mut offset = Offset::starting_after(Scn(resume));
            for (t, scn, xid) in commits {
                offset.record_commit(ThreadId(t), Scn(scn), Xid(xid));
            }
            let c = Checkpoint { id: CheckpointId(1), term: Term(0), offset, files: vec![], created_at_ms: 0 };
            proptest::prop_assert_eq!(decode(&encode(&c)).unwrap(), c);
        }
    }
}

//! The cluster secret and the proof every RPC carries of it.
//!
//! The proof is an HMAC-SHA256, keyed with the secret, over the method, the path, the sender's
//! and the target's node ids, the sender's cluster id and the body, each length-prefixed so no
//! two different requests sign the same bytes. It is sent hex-encoded in a header and checked
//! in constant time.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::RaftError;

type HmacSha256 = Hmac<Sha256>;

/// The shared secret of a cluster: at least [`Secret::MIN_LEN`] bytes. Cheap to clone; its
/// `Debug` output never shows it.
#[derive(Clone)]
pub struct Secret(Arc<[u8]>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// What a request's proof covers, besides the secret.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Signed<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// `None` for admin clients, which are not nodes.
    pub from: Option<u64>,
    pub to: u64,
    pub cluster_id: Option<&'a str>,
    pub body: &'a [u8],
}

impl Secret {
    /// The shortest secret accepted, in bytes.
    pub const MIN_LEN: usize = 16;

    /// Reads the secret from a file; one trailing newline (`\n` or `\r\n`) is not part of it.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Secret, RaftError> {
        let path = path.as_ref();
        let origin = format!("file {}", path.display());
        let mut bytes = std::fs::read(path).map_err(|e| RaftError::Secret {
            origin: origin.clone(),
            problem: format!("cannot be read: {e}"),
        })?;
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        Secret::checked(bytes, origin)
    }

    /// Reads the secret from an environment variable.
    pub fn from_env(var: &str) -> Result<Secret, RaftError> {
        let origin = format!("environment variable {var}");
        match std::env::var_os(var) {
            None => Err(RaftError::Secret {
                origin,
                problem: "is not set".into(),
            }),
            Some(value) => Secret::checked(value.into_encoded_bytes(), origin),
        }
    }

    /// A secret given directly (embedding, tests); `origin` names where it came from in errors.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>, origin: &str) -> Result<Secret, RaftError> {
        Secret::checked(bytes.into(), origin.to_string())
    }

    fn checked(bytes: Vec<u8>, origin: String) -> Result<Secret, RaftError> {
        if bytes.is_empty() {
            return Err(RaftError::Secret {
                origin,
                problem: "is empty".into(),
            });
        }
        if bytes.len() < Secret::MIN_LEN {
            return Err(RaftError::Secret {
                origin,
                problem: format!(
                    "is {} bytes long; at least {} are required",
                    bytes.len(),
                    Secret::MIN_LEN
                ),
            });
        }
        Ok(Secret(bytes.into()))
    }

    fn mac(&self, signed: &Signed<'_>) -> HmacSha256 {
        let mut mac = match HmacSha256::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(e) => unreachable!("HMAC takes keys of any length: {e}"),
        };
        let mut field = |bytes: &[u8]| {
            mac.update(&(bytes.len() as u64).to_le_bytes());
            mac.update(bytes);
        };
        field(signed.method.as_bytes());
        field(signed.path.as_bytes());
        field(
            signed
                .from
                .map(|id| id.to_string())
                .unwrap_or_default()
                .as_bytes(),
        );
        field(signed.to.to_string().as_bytes());
        field(signed.cluster_id.unwrap_or_default().as_bytes());
        field(signed.body);
        mac
    }

    /// The hex-encoded proof for a request.
    pub(crate) fn prove(&self, signed: &Signed<'_>) -> String {
        let tag = self.mac(signed).finalize().into_bytes();
        tag.iter().fold(String::with_capacity(64), |mut s, b| {
            s.push_str(&format!("{b:02x}"));
            s
        })
    }

    /// Whether `proof` (hex) is this secret's proof for the request, compared in constant time.
    pub(crate) fn verify(&self, signed: &Signed<'_>, proof: &str) -> bool {
        match decode_hex(proof) {
            Some(tag) => self.mac(signed).verify_slice(&tag).is_ok(),
            None => false,
        }
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(body: &[u8]) -> Signed<'_> {
        Signed {
            method: "POST",
            path: "/raft/vote",
            from: Some(1),
            to: 2,
            cluster_id: Some("abc"),
            body,
        }
    }

    #[test]
    fn a_proof_verifies_only_for_the_same_secret_and_request() {
        let s = Secret::from_bytes("0123456789abcdef", "test").unwrap();
        let other = Secret::from_bytes("0123456789abcdeX", "test").unwrap();
        let proof = s.prove(&signed(b"body"));
        assert_eq!(proof.len(), 64);
        assert!(s.verify(&signed(b"body"), &proof));
        assert!(!other.verify(&signed(b"body"), &proof));
        assert!(!s.verify(&signed(b"bodz"), &proof));
        assert!(!s.verify(
            &Signed {
                to: 3,
                ..signed(b"body")
            },
            &proof
        ));
        assert!(!s.verify(
            &Signed {
                from: None,
                ..signed(b"body")
            },
            &proof
        ));
        assert!(!s.verify(
            &Signed {
                cluster_id: None,
                ..signed(b"body")
            },
            &proof
        ));
        assert!(!s.verify(&signed(b"body"), "zz"));
        assert!(!s.verify(&signed(b"body"), ""));
        assert!(!s.verify(&signed(b"body"), "é"));
    }

    #[test]
    fn a_file_secret_loses_its_trailing_newline_and_short_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "0123456789abcdef\r\n").unwrap();
        let s = Secret::from_file(&path).unwrap();
        assert_eq!(&*s.0, b"0123456789abcdef");
        assert_eq!(format!("{s:?}"), "Secret(16 bytes)");

        std::fs::write(&path, "0123456789abcde\n").unwrap();
        let e = Secret::from_file(&path).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(e.contains("15 bytes"), "{e}");

        let missing = dir.path().join("nope");
        let e = Secret::from_file(&missing).unwrap_err().to_string();
        assert!(e.contains("nope") && e.contains("cannot be read"), "{e}");

        std::fs::write(&path, "\n").unwrap();
        assert!(Secret::from_file(&path)
            .unwrap_err()
            .to_string()
            .contains("is empty"));
    }

    #[test]
    fn an_unset_variable_is_refused_by_name() {
        let e = Secret::from_env("REDOFLOW_RAFT_TEST_SECRET_THAT_IS_NOT_SET")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("environment variable REDOFLOW_RAFT_TEST_SECRET_THAT_IS_NOT_SET"),
            "{e}"
        );
        assert!(e.contains("is not set"), "{e}");
    }
}

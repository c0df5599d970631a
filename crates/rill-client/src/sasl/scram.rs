//! The SCRAM-SHA-256/512 client (RFC 5802, RFC 7677): client-first,
//! client-final with the proof, and the server signature checked, so a
//! broker that does not know the password is refused too. The iteration
//! count the server asks for is held to [`MIN_ITERATIONS`]..=[`MAX_ITERATIONS`]
//! before any hashing.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::{digest, hmac, pbkdf2};

use crate::error::{Error, Result};

/// The fewest PBKDF2 iterations a server may ask for: RFC 7677 section 4
/// wants at least 4096, and Java's `ScramSaslClient` refuses fewer. A server
/// asking for fewer (a hostile one: Kafka stores no weaker credential) gets
/// a proof that is cheaper to brute-force offline.
pub(super) const MIN_ITERATIONS: u32 = 4096;

/// The most PBKDF2 iterations a server may ask for. Key derivation time grows
/// with the count, so an unchecked `i=4294967295` from a hostile broker would
/// keep a connection's task hashing for hours. Kafka accepts credentials of
/// at most 16384 iterations (KIP-554); the cap leaves room for other servers,
/// as PostgreSQL drivers do with the same bound.
pub(super) const MAX_ITERATIONS: u32 = 100_000;

/// The server-first-message's iteration count, within
/// [`MIN_ITERATIONS`]..=[`MAX_ITERATIONS`].
fn iterations_of(text: &str) -> Result<std::num::NonZeroU32, String> {
    let n: u32 = text.parse().map_err(|_| "the server-first-message's iteration count is not a number".to_string())?;
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&n) {
        return Err(format!(
            "the server asks for {n} PBKDF2 iterations; rill takes {MIN_ITERATIONS} to {MAX_ITERATIONS} (RFC 7677 section 4 \
             sets the least, Kafka stores at most 16384): check the broker's SCRAM credential for this user"
        ));
    }
    std::num::NonZeroU32::new(n).ok_or_else(|| "the iteration count is 0".to_string())
}

/// SCRAM client state (RFC 5802 section 3).
pub(super) struct Scram {
    digest: &'static digest::Algorithm,
    hmac: hmac::Algorithm,
    pbkdf2: pbkdf2::Algorithm,
    client_first_bare: String,
    nonce: String,
    auth_message: String,
    salted_password: Vec<u8>,
}

impl Scram {
    pub(super) fn new(
        username: &str,
        digest: &'static digest::Algorithm,
        hmac: hmac::Algorithm,
        pbkdf2: pbkdf2::Algorithm,
    ) -> Result<Scram> {
        let mut raw = [0u8; 24];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw).map_err(|_| Error::Io {
            broker: String::new(),
            source: std::sync::Arc::new(std::io::Error::other("no randomness for the SCRAM nonce")),
        })?;
        let nonce = B64.encode(raw);
        let name = username.replace('=', "=3D").replace(',', "=2C");
        Ok(Scram {
            digest,
            hmac,
            pbkdf2,
            client_first_bare: format!("n={name},r={nonce}"),
            nonce,
            auth_message: String::new(),
            salted_password: Vec::new(),
        })
    }

    pub(super) fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    pub(super) fn client_final(&mut self, password: &str, server_first: &[u8]) -> Result<String, String> {
        let server_first = std::str::from_utf8(server_first).map_err(|_| "the server-first-message is not UTF-8")?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attribute in server_first.split(',') {
            match attribute.split_once('=') {
                Some(("r", v)) => nonce = Some(v),
                Some(("s", v)) => salt = Some(v),
                Some(("i", v)) => iterations = Some(v),
                Some(("m", _)) => return Err("the server requires a SCRAM extension rill does not know".into()),
                Some(("e", _)) => return Err("the server refused the client-first-message".into()),
                _ => {}
            }
        }
        let nonce = nonce.ok_or("the server-first-message has no nonce")?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("the server nonce does not extend the client nonce".into());
        }
        let salt = B64.decode(salt.ok_or("the server-first-message has no salt")?).map_err(|_| "the salt is not base64")?;
        let iterations = iterations_of(iterations.ok_or("the server-first-message has no iteration count")?)?;

        let mut salted = vec![0u8; self.digest.output_len()];
        pbkdf2::derive(self.pbkdf2, iterations, &salt, password.as_bytes(), &mut salted);
        let client_key = hmac::sign(&hmac::Key::new(self.hmac, &salted), b"Client Key");
        let stored_key = digest::digest(self.digest, client_key.as_ref());
        let without_proof = format!("c=biws,r={nonce}");
        self.auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = hmac::sign(&hmac::Key::new(self.hmac, stored_key.as_ref()), self.auth_message.as_bytes());
        let proof: Vec<u8> = client_key.as_ref().iter().zip(signature.as_ref()).map(|(a, b)| a ^ b).collect();
        self.salted_password = salted;
        Ok(format!("{without_proof},p={}", B64.encode(proof)))
    }

    pub(super) fn verify_server_final(&self, server_final: &[u8]) -> Result<(), &'static str> {
        let server_final = std::str::from_utf8(server_final).map_err(|_| "the server-final-message is not UTF-8")?;
        if server_final.starts_with("e=") {
            return Err("the server refused the client proof");
        }
        let verifier =
            server_final.split(',').find_map(|a| a.strip_prefix("v=")).ok_or("the server-final-message has no server signature")?;
        let verifier = B64.decode(verifier).map_err(|_| "the server signature is not base64")?;
        let server_key = hmac::sign(&hmac::Key::new(self.hmac, &self.salted_password), b"Server Key");
        hmac::verify(&hmac::Key::new(self.hmac, server_key.as_ref()), self.auth_message.as_bytes(), &verifier)
            .map_err(|_| "the server signature does not match: the broker does not know the password")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3 test vector (SCRAM-SHA-256).
    #[test]
    fn rfc7677_vector() {
        let mut scram = Scram::new("user", &digest::SHA256, hmac::HMAC_SHA256, pbkdf2::PBKDF2_HMAC_SHA256).unwrap();
        scram.nonce = "rOprNGfwEbeRWgbNEkqO".to_string();
        scram.client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO".to_string();
        assert_eq!(scram.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let client_final = scram.client_final("pencil", server_first).unwrap();
        assert_eq!(
            client_final,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        scram.verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap();
        assert!(scram.verify_server_final(b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").is_err());
    }

    #[test]
    fn iteration_counts_outside_the_range_are_refused_before_any_hashing() {
        assert_eq!(iterations_of("4096").unwrap().get(), MIN_ITERATIONS);
        assert_eq!(iterations_of("100000").unwrap().get(), MAX_ITERATIONS);
        for bad in ["4095", "1", "0", "100001", "4294967295"] {
            let e = iterations_of(bad).unwrap_err();
            assert!(e.contains(&format!("asks for {bad} PBKDF2 iterations")) && e.contains("4096 to 100000"), "{e}");
        }
        assert!(iterations_of("-1").unwrap_err().contains("not a number"));
        assert!(iterations_of("4294967296").unwrap_err().contains("not a number"));

        // Through the exchange: a hostile server's huge count is refused at
        // once (hashing 2^32 - 1 iterations would take hours), and so is one
        // that weakens the proof.
        for i in ["1", "4294967295"] {
            let mut scram = Scram::new("user", &digest::SHA512, hmac::HMAC_SHA512, pbkdf2::PBKDF2_HMAC_SHA512).unwrap();
            let server_first = format!("r={}srv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i={i}", scram.nonce);
            let e = scram.client_final("pencil", server_first.as_bytes()).unwrap_err();
            assert!(e.contains(&format!("asks for {i} PBKDF2 iterations")), "{e}");
        }
    }
}

//! The CBOR reading rules shared by the attestation object, authenticator data and COSE keys,
//! over `minicbor`'s decoder (which borrows from the input and never allocates for byte strings).
//!
//! WebAuthn structures are CTAP2 canonical CBOR: definite lengths, no duplicate map keys. The
//! gateway refuses what a canonical encoder never produces where ambiguity could matter —
//! indefinite maps and a key given twice — and bounds what an attacker could make it walk.

use minicbor::data::Type;
use minicbor::Decoder;

/// Bounds the entries of one map (a COSE key has 4–5, an attestation object 3).
const MAX_MAP_ENTRIES: u64 = 32;

/// The number of entries of the definite-length map at the decoder's position.
pub(crate) fn map_len(d: &mut Decoder<'_>, what: &'static str) -> Result<u64, &'static str> {
    match d.map() {
        Ok(Some(n)) if n <= MAX_MAP_ENTRIES => Ok(n),
        Ok(Some(_)) => Err(what),
        Ok(None) | Err(_) => Err(what),
    }
}

/// A map key that is an integer (COSE labels), as `i64`.
pub(crate) fn int_key(d: &mut Decoder<'_>, what: &'static str) -> Result<i64, &'static str> {
    match d.datatype() {
        Ok(
            Type::U8
            | Type::U16
            | Type::U32
            | Type::U64
            | Type::I8
            | Type::I16
            | Type::I32
            | Type::I64,
        ) => d.i64().map_err(|_| what),
        _ => Err(what),
    }
}

/// An integer value that fits `i64`.
pub(crate) fn int(d: &mut Decoder<'_>, what: &'static str) -> Result<i64, &'static str> {
    int_key(d, what)
}

/// A definite-length byte string.
pub(crate) fn bytes<'b>(d: &mut Decoder<'b>, what: &'static str) -> Result<&'b [u8], &'static str> {
    match d.datatype() {
        Ok(Type::Bytes) => d.bytes().map_err(|_| what),
        _ => Err(what),
    }
}

/// A definite-length text string.
pub(crate) fn text<'b>(d: &mut Decoder<'b>, what: &'static str) -> Result<&'b str, &'static str> {
    match d.datatype() {
        Ok(Type::String) => d.str().map_err(|_| what),
        _ => Err(what),
    }
}

/// Skips one value of any type (well-formed, nesting bounded by the input's length).
pub(crate) fn skip(d: &mut Decoder<'_>, what: &'static str) -> Result<(), &'static str> {
    d.skip().map_err(|_| what)
}

/// Records map keys seen so far and refuses a repeated one.
#[derive(Default)]
pub(crate) struct SeenKeys<K: PartialEq>(Vec<K>);

impl<K: PartialEq> SeenKeys<K> {
    pub(crate) fn first(&mut self, key: K, what: &'static str) -> Result<(), &'static str> {
        if self.0.contains(&key) {
            return Err(what);
        }
        self.0.push(key);
        Ok(())
    }
}

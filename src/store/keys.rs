//! Content addresses: where an object lives, the same in a local directory and in a bucket.

/// The key of an object, in the directory and in the bucket alike.
pub fn key_of(sha256: &str) -> String {
    let a = sha256.get(..2).unwrap_or(sha256);
    let b = sha256.get(2..4).unwrap_or("");
    format!("objects/{a}/{b}/{sha256}")
}

pub(crate) fn is_sha256(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

//! Small pieces every surface (token endpoint, Graph, Key Vault) shares: the reply type that handlers build and
//! that `$batch` can embed, request ids, percent-decoding, random material, and an insertion-ordered JSON object.
//!
//! Handlers return a [`Reply`] rather than an axum `Response` so that the Graph dispatcher can run the same code for
//! a top-level request and for a `$batch` sub-request, and so that faults (truncation, malformed bodies) can be
//! applied to any reply in one place.
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Graph's exact Content-Type for JSON (from Microsoft's `$batch` sample,
/// tests/fixtures/microsoft/graph/json_batching/).
pub(crate) const GRAPH_JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
/// Key Vault's and the token endpoint's Content-Type (tests/fixtures/microsoft/exact-strings.json,
/// `vaultChallengeContentType`).
pub(crate) const PLAIN_JSON: &str = "application/json; charset=utf-8";

/// A reply before it becomes an HTTP response.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// `None` means no body and no Content-Type (204).
    pub body: Option<(Vec<u8>, &'static str)>,
    /// Send nothing and drop the connection (an "answer lost" fault); the listener's handler acts on it.
    pub drop_connection: bool,
}

impl Reply {
    pub fn json<T: Serialize + ?Sized>(
        status: u16,
        content_type: &'static str,
        value: &T,
    ) -> Reply {
        // Serializing our own in-memory types cannot fail (no maps with non-string keys); fall back to an empty
        // object rather than panicking if that ever changes.
        let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Reply {
            status,
            headers: Vec::new(),
            body: Some((bytes, content_type)),
            drop_connection: false,
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
            drop_connection: false,
        }
    }

    /// No answer at all: the connection is dropped (see `conn`).
    pub fn dropped() -> Reply {
        Reply {
            drop_connection: true,
            ..Reply::empty(502)
        }
    }

    pub fn text(status: u16, content_type: &'static str, text: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some((text.into().into_bytes(), content_type)),
            drop_connection: false,
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.set_header(name, value);
        self
    }

    /// Replace (case-insensitively) or add a header.
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        if let Some(slot) = self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            slot.1 = value;
        } else {
            self.headers.push((name.to_string(), value));
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn into_response(self) -> Response {
        let (bytes, content_type) = match self.body {
            Some((b, ct)) => (b, Some(ct)),
            None => (Vec::new(), None),
        };
        let mut resp = Response::new(Body::from(bytes));
        *resp.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = resp.headers_mut();
        if let Some(ct) = content_type {
            headers.insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static(ct),
            );
        }
        for (name, value) in self.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                headers.insert(n, v);
            }
        }
        resp
    }
}

/// A JSON object that keeps insertion order. serde_json here is built without `preserve_order` (other parts of
/// the crate may rely on sorted maps), so entities and envelopes that humans read keep `id` / `@odata.context`
/// first this way.
#[derive(Debug, Clone, Default)]
pub(crate) struct Obj(pub Vec<(String, Value)>);

impl Obj {
    pub fn new() -> Obj {
        Obj(Vec::new())
    }
    pub fn push(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        self.0.push((key.into(), value.into()));
    }
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Obj {
        self.push(key, value);
        self
    }
    pub fn into_value(self) -> Value {
        Value::Object(self.0.into_iter().collect())
    }
}

impl Serialize for Obj {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Lock a mutex, recovering the data if a panicking thread poisoned it: the emulator's state stays usable, and a
/// test that panicked elsewhere should not turn every later request into a second panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `%XX` decoding for URL paths (`+` stays `+` in a path, unlike in a query string).
pub(crate) fn pct_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-encode a query value for the links we hand out (`@odata.nextLink`, Key Vault `nextLink`). Keeps the
/// characters OData filters are usually written with readable, encodes the rest (spaces as `%20`).
pub(crate) fn pct_encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'\''
            | b'('
            | b')'
            | b','
            | b':'
            | b'/'
            | b'*'
            | b'$'
            | b'@' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Parse a raw query string into decoded pairs.
pub(crate) fn parse_query(raw: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Cryptographically random bytes without another dependency: uuid v4 draws from the OS generator; we keep only
/// the bytes that carry no version/variant bits.
pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 16);
    while out.len() < n {
        let u = uuid::Uuid::new_v4();
        let b = u.as_bytes();
        out.extend(
            b.iter()
                .enumerate()
                .filter(|(i, _)| *i != 6 && *i != 8)
                .map(|(_, v)| *v),
        );
    }
    out.truncate(n);
    out
}

/// Random string over an alphabet (uniform enough for test secrets: modulo bias over 256 is irrelevant here).
pub(crate) fn random_string(n: usize, alphabet: &[u8]) -> String {
    random_bytes(n)
        .into_iter()
        .map(|b| alphabet[b as usize % alphabet.len()] as char)
        .collect()
}

pub(crate) const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// 32 lowercase hex characters: the shape of Key Vault version ids.
pub(crate) fn hex32() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `YYYY-MM-DDTHH:MM:SS` in UTC, the format of Graph's `innerError.date`.
pub(crate) fn inner_error_date() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pct_roundtrip() {
        assert_eq!(
            pct_decode("applications(appId=%27abc%27)"),
            "applications(appId='abc')"
        );
        assert_eq!(pct_decode("a%2"), "a%2");
        assert_eq!(
            pct_encode_query("startswith(displayName,'a b')"),
            "startswith(displayName,'a%20b')"
        );
    }

    #[test]
    fn obj_keeps_order() {
        let o = Obj::new().with("z", 1).with("a", 2);
        assert_eq!(serde_json::to_string(&o).unwrap(), r#"{"z":1,"a":2}"#);
    }

    #[test]
    fn random_material() {
        assert_eq!(random_bytes(37).len(), 37);
        assert_eq!(hex32().len(), 32);
        assert_ne!(random_string(20, ALNUM), random_string(20, ALNUM));
    }
}

//! A small, fast JSON object writer for rendering Stripe objects straight into a byte buffer
//! (listing 100 full objects must stay well under a millisecond, which a `serde_json::Value` tree
//! per object does not).

use std::io::Write as _;

/// Writes one JSON object field by field into `out`; [`Obj::end`] closes it.
pub struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    pub fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        write_str(self.out, v);
        self
    }

    pub fn opt_str(&mut self, k: &str, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.str(k, v),
            None => self.null(k),
        }
    }

    pub fn int(&mut self, k: &str, v: i64) -> &mut Self {
        self.key(k);
        let _ = write!(self.out, "{v}");
        self
    }

    pub fn opt_int(&mut self, k: &str, v: Option<i64>) -> &mut Self {
        match v {
            Some(v) => self.int(k, v),
            None => self.null(k),
        }
    }

    pub fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k);
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        self
    }

    pub fn null(&mut self, k: &str) -> &mut Self {
        self.key(k);
        self.out.extend_from_slice(b"null");
        self
    }

    /// A field whose value is already valid JSON text.
    pub fn raw(&mut self, k: &str, json: &str) -> &mut Self {
        self.key(k);
        self.out.extend_from_slice(json.as_bytes());
        self
    }

    /// A nested object written by `f`.
    pub fn obj(&mut self, k: &str, f: impl FnOnce(&mut Obj<'_>)) -> &mut Self {
        self.key(k);
        let mut o = Obj::new(self.out);
        f(&mut o);
        o.end();
        self
    }

    /// A field whose value `f` writes into the buffer directly.
    pub fn with(&mut self, k: &str, f: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        self.key(k);
        f(self.out);
        self
    }

    /// A `serde_json::Value` field.
    pub fn value(&mut self, k: &str, v: &serde_json::Value) -> &mut Self {
        self.key(k);
        let _ = serde_json::to_writer(&mut *self.out, v);
        self
    }

    /// A map of strings (Stripe `metadata`).
    pub fn str_map<'b>(
        &mut self,
        k: &str,
        entries: impl IntoIterator<Item = (&'b String, &'b String)>,
    ) -> &mut Self {
        self.key(k);
        self.out.push(b'{');
        for (i, (mk, mv)) in entries.into_iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_str(self.out, mk);
            self.out.push(b':');
            write_str(self.out, mv);
        }
        self.out.push(b'}');
        self
    }

    /// An array of strings.
    pub fn str_list<'b>(&mut self, k: &str, items: impl IntoIterator<Item = &'b str>) -> &mut Self {
        self.key(k);
        self.out.push(b'[');
        for (i, s) in items.into_iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_str(self.out, s);
        }
        self.out.push(b']');
        self
    }

    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// Writes `s` as a JSON string literal.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => {
                let _ = write!(out, "\\u{:04x}", b);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_json() {
        let mut buf = Vec::new();
        let mut o = Obj::new(&mut buf);
        o.str("a", "q\"u\\o\nte\u{1}é")
            .int("n", -5)
            .opt_str("x", None)
            .bool("b", true)
            .raw("r", "[1,2]")
            .obj("o", |o| {
                o.str("k", "v");
            });
        o.str_list("l", ["x", "y"]);
        o.end();
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["a"], "q\"u\\o\nte\u{1}é");
        assert_eq!(v["n"], -5);
        assert!(v["x"].is_null());
        assert_eq!(v["o"]["k"], "v");
        assert_eq!(v["l"][1], "y");
    }
}

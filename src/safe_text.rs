//! The one sanitising boundary for text that came from a tenant or a vault.
//!
//! Anyone who can register an app, name a credential, or tag a vault secret controls strings keyturn shows. A
//! name such as `Evil<ESC>]52;c;…<BEL>` would write the operator's clipboard, `<ESC>]0;…<BEL>` retitle the window,
//! `<ESC>[2J` clear the screen, and U+202E (right-to-left override) make `gnp.exe` read as `exe.png`. So every such
//! string passes through [`terminal`] (or [`Safe`] inside `format!`) before it reaches a terminal: the TUI, table
//! output, CLI messages and stderr notes. What is escaped ([`is_unsafe`]):
//! - C0 controls (U+0000..U+001F, tab and newline included: a name never legitimately spans lines), DEL (U+007F)
//!   and C1 controls (U+0080..U+009F, of which U+009B is a one-character CSI on some terminals);
//! - bidirectional formatting: embeddings and overrides (U+202A..U+202E), isolates (U+2066..U+2069), the marks
//!   LRM/RLM/ALM (U+200E, U+200F, U+061C);
//! - invisible format characters: zero-width space/joiners (U+200B..U+200D), word joiner and invisible operators
//!   (U+2060..U+2064), deprecated format controls (U+206A..U+206F), the byte-order mark U+FEFF, soft hyphen U+00AD,
//!   Mongolian vowel separator U+180E, line/paragraph separators U+2028/U+2029, interlinear annotation
//!   U+FFF9..U+FFFB and the tag characters U+E0000..U+E007F (used to smuggle invisible ASCII).
//!
//! Each becomes a visible escape `\u{1b}` (Rust's notation, lowercase hex), so the operator sees that the name holds
//! something odd instead of having it act on the terminal.
//!
//! Machine formats keep exact values: [`to_json_pretty`] writes the same JSON value, with those characters as
//! `\uXXXX` escapes (valid JSON that decodes to the original string) so no raw control or bidi byte reaches a
//! terminal either; [`csv_text`] additionally neutralises spreadsheet formulas (OWASP "CSV injection").
use serde::Serialize;
use std::borrow::Cow;
use std::fmt;
use std::io;

/// True for a character that must never reach a terminal raw (see the module documentation for the list).
pub fn is_unsafe(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{ad}'
            | '\u{61c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{e0000}'..='\u{e007f}'
    )
}

/// The string with every unsafe character replaced by a visible `\u{..}` escape; borrowed when nothing needed it.
pub fn terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_safe(&mut out, c);
    }
    Cow::Owned(out)
}

fn push_safe(out: &mut String, c: char) {
    if is_unsafe(c) {
        use fmt::Write;
        // Writing to a String cannot fail.
        let _ = write!(out, "\\u{{{:x}}}", c as u32);
    } else {
        out.push(c);
    }
}

/// Like [`terminal`] but keeps newlines: for a whole message or report keyturn composed, whose line layout is its
/// own while any part of it may have come from the tenant.
pub fn lines(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c != '\n' && is_unsafe(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c == '\n' {
            out.push(c);
        } else {
            push_safe(&mut out, c);
        }
    }
    Cow::Owned(out)
}

/// The boundary for a command's stdout and stderr: everything written through it passes [`lines`], so no control,
/// bidi or invisible format character reaches the terminal whichever message carried it. keyturn's text output
/// uses no escape sequences of its own (colour is the TUI's), so nothing legitimate is lost. Bytes that are not
/// UTF-8 become U+FFFD; a UTF-8 sequence split across two writes is joined first.
pub struct TerminalWriter<W: io::Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: io::Write> TerminalWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            pending: Vec::new(),
        }
    }
}

impl<W: io::Write> io::Write for TerminalWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        let mut out = String::new();
        let mut start = 0;
        loop {
            match std::str::from_utf8(&self.pending[start..]) {
                Ok(s) => {
                    out.push_str(&lines(s));
                    start = self.pending.len();
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    let s = std::str::from_utf8(&self.pending[start..start + valid]).unwrap_or("");
                    out.push_str(&lines(s));
                    start += valid;
                    match e.error_len() {
                        Some(n) => {
                            out.push('\u{fffd}');
                            start += n;
                        }
                        // An incomplete sequence at the end: wait for the rest.
                        None => break,
                    }
                }
            }
        }
        self.pending.drain(..start);
        self.inner.write_all(out.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `format!("{}", Safe(name))` writes `name` made safe by [`terminal`], without an intermediate allocation when the
/// string is clean.
#[derive(Debug, Clone, Copy)]
pub struct Safe<'a>(pub &'a str);

impl fmt::Display for Safe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Padding and precision (`{:<20}`, `{:.30}`) apply to the escaped text.
        if f.width().is_some() || f.precision().is_some() {
            return f.pad(&terminal(self.0));
        }
        let mut rest = self.0;
        while let Some(i) = rest.find(is_unsafe) {
            f.write_str(&rest[..i])?;
            let c = rest[i..].chars().next().unwrap_or('\0');
            write!(f, "\\u{{{:x}}}", c as u32)?;
            rest = &rest[i + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// [`Safe`] for an optional string; `None` displays as nothing.
pub fn opt(s: Option<&str>) -> Safe<'_> {
    Safe(s.unwrap_or(""))
}

/// A CSV cell for a text field: made safe for a terminal, and neutralised against formula evaluation per OWASP
/// ("CSV Injection"): a cell whose text starts with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`,
/// which spreadsheets show as text. Apply it to text fields only: a numeric field such as `daysLeft` (`-3`) is a
/// number, not a formula.
pub fn csv_text(s: &str) -> String {
    let safe = terminal(s);
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{safe}")
    } else {
        safe.into_owned()
    }
}

/// Pretty JSON of `value` whose strings keep their exact values but carry every unsafe character (see
/// [`is_unsafe`]) as a `\uXXXX` escape, so printing the document cannot drive a terminal.
pub fn to_json_pretty<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut buf = Vec::new();
    write_json_pretty(&mut buf, value)?;
    // serde_json writes UTF-8 only, and the escapes are ASCII.
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// [`to_json_pretty`] written to `out` as it is serialised (no document in memory): the same bytes.
pub fn write_json_pretty<W: io::Write, T: Serialize + ?Sized>(
    out: W,
    value: &T,
) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(
        out,
        EscapingFormatter(serde_json::ser::PrettyFormatter::new()),
    );
    value.serialize(&mut ser)
}

/// Compact JSON, escaped like [`to_json_pretty`].
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut buf,
        EscapingFormatter(serde_json::ser::CompactFormatter),
    );
    value.serialize(&mut ser)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// A serde_json formatter that delegates layout to `F` and escapes unsafe characters inside strings. serde_json
/// itself escapes C0 controls, quote and backslash before a fragment gets here; DEL, C1 and the Unicode format
/// characters it writes raw, so this writes them as `\uXXXX` (UTF-16 surrogate pairs above the BMP).
struct EscapingFormatter<F>(F);

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for EscapingFormatter<F> {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut rest = fragment;
        while let Some(i) = rest.find(is_unsafe) {
            writer.write_all(&rest.as_bytes()[..i])?;
            let c = rest[i..].chars().next().unwrap_or('\0');
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                write!(writer, "\\u{:04x}", u)?;
            }
            rest = &rest[i + c.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character of `s` is safe, apart from the newlines of the layout keyturn itself writes.
    fn assert_terminal_clean(s: &str) {
        for c in s.chars().filter(|c| *c != '\n') {
            assert!(!is_unsafe(c), "unsafe char U+{:04X} in {s:?}", c as u32);
        }
    }

    #[test]
    fn escapes_the_attacks_from_the_issue() {
        assert_eq!(
            terminal("Evil\u{1b}]52;c;aGk=\u{7}"),
            "Evil\\u{1b}]52;c;aGk=\\u{7}"
        );
        assert_eq!(
            terminal("Title\u{1b}]0;pwned\u{7}"),
            "Title\\u{1b}]0;pwned\\u{7}"
        );
        assert_eq!(terminal("osc52\u{1b}[2J"), "osc52\\u{1b}[2J");
        assert_eq!(terminal("Bidi \u{202e}gnp.exe"), "Bidi \\u{202e}gnp.exe");
        assert_eq!(terminal("csi\u{9b}31m"), "csi\\u{9b}31m");
        assert_eq!(terminal("del\u{7f}"), "del\\u{7f}");
        assert_eq!(terminal("iso\u{2067}x\u{2069}"), "iso\\u{2067}x\\u{2069}");
        assert_eq!(terminal("zw\u{200b}\u{feff}"), "zw\\u{200b}\\u{feff}");
        assert_eq!(terminal("tag\u{e0041}"), "tag\\u{e0041}");
        assert_eq!(terminal("two\nlines\tx"), "two\\u{a}lines\\u{9}x");
    }

    #[test]
    fn clean_text_is_borrowed_unchanged() {
        for s in ["", "Payroll API", "Zürich – ü ß 日本語 😀", "a\\u{1b}b"] {
            assert!(matches!(terminal(s), Cow::Borrowed(b) if b == s), "{s}");
        }
    }

    #[test]
    fn the_classification_matches_unicode_categories_where_they_apply() {
        // Every Cc (control) character is unsafe; printable ASCII is not.
        for c in (0u32..=0x10ffff).filter_map(char::from_u32) {
            if c.is_control() {
                assert!(is_unsafe(c), "U+{:04X}", c as u32);
            }
        }
        for c in ' '..='~' {
            assert!(!is_unsafe(c), "{c:?}");
        }
    }

    #[test]
    fn display_wrapper_matches_terminal_and_honours_padding() {
        let s = "a\u{1b}[31mb\u{202e}c";
        assert_eq!(format!("{}", Safe(s)), terminal(s));
        assert_eq!(format!("[{:<12}]", Safe("x\u{7}")), "[x\\u{7}      ]");
        assert_eq!(format!("{}", opt(None)), "");
    }

    #[test]
    fn terminal_writer_keeps_lines_and_escapes_the_rest_across_split_writes() {
        use std::io::Write;
        let mut w = TerminalWriter::new(Vec::new());
        let text = "plan for Evil\u{1b}]0;x\u{7}\nBidi \u{202e}gnp.exe 😀\n";
        // Byte by byte: every multi-byte character arrives split.
        for b in text.as_bytes() {
            w.write_all(std::slice::from_ref(b)).unwrap();
        }
        w.write_all(b"bad \xff byte").unwrap();
        w.flush().unwrap();
        assert_eq!(
            String::from_utf8(w.inner).unwrap(),
            "plan for Evil\\u{1b}]0;x\\u{7}\nBidi \\u{202e}gnp.exe 😀\nbad \u{fffd} byte"
        );
        assert_eq!(lines("a\u{1b}\nb\r"), "a\\u{1b}\nb\\u{d}");
    }

    #[test]
    fn csv_neutralises_formula_text() {
        assert_eq!(
            csv_text("=HYPERLINK(\"http://x.test\",\"click\")"),
            "'=HYPERLINK(\"http://x.test\",\"click\")"
        );
        for lead in ["+", "-", "@"] {
            assert_eq!(csv_text(&format!("{lead}1")), format!("'{lead}1"));
        }
        assert_eq!(csv_text("\tx"), "'\\u{9}x");
        assert_eq!(csv_text("\rx"), "'\\u{d}x");
        assert_eq!(csv_text("plain = text"), "plain = text");
        assert_eq!(csv_text("a\u{1b}b"), "a\\u{1b}b");
    }

    #[test]
    fn json_is_exact_and_terminal_clean() {
        let names = [
            "Evil\u{1b}]52;c;aGk=\u{7}",
            "Bidi \u{202e}gnp.exe",
            "c1\u{9b}del\u{7f}",
            "astral tag \u{e0041} and emoji 😀",
            "quote \" backslash \\ newline \n",
        ];
        let doc = serde_json::json!({ "names": names });
        for text in [to_json_pretty(&doc).unwrap(), to_json(&doc).unwrap()] {
            assert_terminal_clean(&text);
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back, doc);
        }
        assert!(to_json(&"\u{202e}").unwrap() == "\"\\u202e\"");
        assert!(to_json(&"\u{e0041}").unwrap() == "\"\\udb40\\udc41\"");
    }
}

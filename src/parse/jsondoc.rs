//! Pretty-printed JSON documents for `socwall parse`: spots a line that opens a JSON object without
//! closing it, and joins the following lines until its braces balance (string- and escape-aware),
//! within a byte cap and a line cap. The daemon does not use this: it tails newline-delimited JSON.

/// Brace depth of a JSON text fed in pieces. Strings and escapes carry over from one piece to the
/// next, so a `}` inside a string never counts. Only `{`/`}` are counted: the document ends when
/// its outermost object closes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Braces {
    depth: u32,
    in_str: bool,
    esc: bool,
}

impl Braces {
    /// Feeds the next piece. Returns true as soon as the outermost object closes (the rest of the
    /// piece is not looked at). Outside strings a plain byte loop (the gaps between strings are a
    /// few bytes); inside, `memchr2` to the closing quote or an escape.
    pub fn feed(&mut self, s: &[u8]) -> bool {
        let mut i = 0;
        if self.in_str {
            match self.string_end(s, 0) {
                Some(e) => i = e,
                None => return false,
            }
        }
        while i < s.len() {
            match s[i] {
                b'"' => {
                    self.in_str = true;
                    match self.string_end(s, i + 1) {
                        Some(e) => {
                            i = e;
                            continue;
                        }
                        None => return false,
                    }
                }
                b'{' => self.depth = self.depth.saturating_add(1),
                b'}' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return true;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        false
    }

    /// Inside a string from `i`: the index after its closing quote, or `None` when the piece ends
    /// first (the string, and a pending escape, carry over to the next piece).
    fn string_end(&mut self, s: &[u8], mut i: usize) -> Option<usize> {
        if self.esc {
            if i >= s.len() {
                return None; // an empty piece: the escape still applies to the next byte
            }
            self.esc = false;
            i += 1;
        }
        while i < s.len() {
            let at = i + memchr::memchr2(b'"', b'\\', &s[i..])?;
            if s[at] == b'"' {
                self.in_str = false;
                return Some(at + 1);
            }
            if at + 1 == s.len() {
                self.esc = true;
                return None;
            }
            i = at + 2;
        }
        None
    }
}

/// The scan state after `line` when the line starts (after spaces and tabs) with `{` but does not
/// close that object: the first line of a multi-line document. `None` for any other line,
/// complete one-line objects included.
pub fn opens(line: &[u8]) -> Option<Braces> {
    let start = line.iter().position(|&b| b != b' ' && b != b'\t')?;
    if line[start] != b'{' {
        return None;
    }
    let mut b = Braces::default();
    if b.feed(&line[start..]) {
        None
    } else {
        Some(b)
    }
}

/// What [`Doc::push`] did with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Added; the document is still open.
    Open,
    /// Added; it closed the document, whose text is now complete.
    Closed,
    /// Not added: the document would exceed a cap (the reason says which).
    Over(&'static str),
}

/// One document being joined: its text (lines joined with `\n`), where each line ends in it, and
/// the input line number it started at. Buffers are kept between documents.
#[derive(Debug)]
pub struct Doc {
    text: Vec<u8>,
    ends: Vec<usize>,
    first: u64,
    braces: Braces,
    open: bool,
    max_bytes: usize,
    max_lines: usize,
    over_bytes: &'static str,
    over_lines: &'static str,
}

impl Doc {
    /// A joiner whose documents hold at most `max_bytes` (joining newlines included) and
    /// `max_lines` lines; the reasons name the caps for the error a too-large document gets.
    pub fn new(
        max_bytes: usize,
        max_lines: usize,
        over_bytes: &'static str,
        over_lines: &'static str,
    ) -> Doc {
        Doc {
            text: Vec::new(),
            ends: Vec::new(),
            first: 0,
            braces: Braces::default(),
            open: false,
            max_bytes,
            max_lines,
            over_bytes,
            over_lines,
        }
    }

    /// Starts a document at input line `first` with its opening line and the state [`opens`]
    /// returned for it.
    pub fn start(&mut self, first: u64, line: &[u8], braces: Braces) {
        self.clear();
        self.text.extend_from_slice(line);
        self.ends.push(self.text.len());
        self.first = first;
        self.braces = braces;
        self.open = true;
    }

    /// Adds the next line, unless that would break a cap.
    pub fn push(&mut self, line: &[u8]) -> Push {
        if self.ends.len() >= self.max_lines {
            return Push::Over(self.over_lines);
        }
        if self.text.len() + 1 + line.len() > self.max_bytes {
            return Push::Over(self.over_bytes);
        }
        self.text.push(b'\n');
        self.text.extend_from_slice(line);
        self.ends.push(self.text.len());
        if self.braces.feed(line) {
            self.open = false;
            Push::Closed
        } else {
            Push::Open
        }
    }

    /// A document has started and not closed yet.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// The line number of the document's first line.
    pub fn first(&self) -> u64 {
        self.first
    }

    /// The joined text.
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    /// The lines after the first, as read (for reporting them one by one when the document
    /// cannot be completed).
    pub fn rest(&self) -> impl Iterator<Item = &[u8]> {
        self.ends.windows(2).map(|w| &self.text[w[0] + 1..w[1]])
    }

    /// Forgets the document (keeps the buffers).
    pub fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
        self.braces = Braces::default();
        self.open = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_lines() {
        assert!(opens(b"{").is_some());
        assert!(opens(b"  \t{ \"a\" : {").is_some());
        assert!(opens(br#"{"id":{"orig_h":"192.0.2.1"}"#).is_some());
        // Complete one-line objects, and lines that do not start with `{`.
        assert_eq!(opens(br#"{"a":1}"#), None);
        assert_eq!(opens(br#"  {"a":{"b":"}"}}  trailing"#), None);
        assert_eq!(opens(b""), None);
        assert_eq!(opens(b"   "), None);
        assert_eq!(opens(b"\"a\" : {"), None);
        assert_eq!(opens(b"Jan  2 03:04:05 host zeek: {"), None);
        assert_eq!(opens(b"[{"), None);
    }

    #[test]
    fn strings_and_escapes_hide_braces() {
        let mut b = opens(br#"{"k":"}}}\"}\\"#).unwrap();
        // Still inside the string: the escaped quote did not end it, `\\` is one escape.
        assert!(!b.feed(b"}"));
        assert!(b.feed(br#"" }"#));
        // An escape at the very end of one piece applies to the first byte of the next.
        let mut b = opens(br#"{"k":"a\"#).unwrap();
        assert!(!b.feed(b""));
        assert!(!b.feed(br#""}"#));
        assert!(b.feed(br#""}"#));
    }

    fn doc() -> Doc {
        Doc::new(40, 4, "too many bytes", "too many lines")
    }

    #[test]
    fn joins_until_balanced() {
        let mut d = doc();
        let first = b"{";
        d.start(7, first, opens(first).unwrap());
        assert!(d.is_open());
        assert_eq!(d.push(br#"  "id" : {"#), Push::Open);
        assert_eq!(d.push(br#"    "x" : "{" },"#), Push::Open);
        assert_eq!(d.push(b"}"), Push::Closed);
        assert!(!d.is_open());
        assert_eq!(d.first(), 7);
        assert_eq!(d.text(), b"{\n  \"id\" : {\n    \"x\" : \"{\" },\n}");
        let rest: Vec<&[u8]> = d.rest().collect();
        assert_eq!(
            rest,
            vec![&br#"  "id" : {"#[..], br#"    "x" : "{" },"#, b"}"]
        );
    }

    #[test]
    fn caps() {
        let mut d = doc();
        d.start(1, b"{", opens(b"{").unwrap());
        for _ in 0..3 {
            assert_eq!(d.push(b"\"a\":1,"), Push::Open);
        }
        // Four lines held: the fifth would break the line cap and is not added.
        assert_eq!(d.push(b"}"), Push::Over("too many lines"));
        assert_eq!(d.rest().count(), 3);
        let mut d = doc();
        d.start(1, b"{", opens(b"{").unwrap());
        assert_eq!(d.push(&[b' '; 37]), Push::Open); // 1 + 1 + 37 = 39 bytes
        assert_eq!(d.push(b""), Push::Open); // 40
        assert_eq!(d.push(b""), Push::Over("too many bytes"));
        d.clear();
        assert!(!d.is_open() && d.text().is_empty() && d.rest().count() == 0);
    }
}

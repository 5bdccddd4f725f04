//! The zero-allocation `key=value` tokenizer shared by every kv vendor: one forward walk over
//! the line yielding `(key, value)` slices that borrow from it.
//!
//! Escapes are never decoded (that would need a buffer): a quoted value comes back as the bytes
//! between its quotes with `\"` still in it, a CEF value with `\=` and `\\` still in it. Every
//! field we normalise (addresses, numbers, protocol and action words) is escape-free; names
//! (rules, signatures) keep the escape sequences, which is documented in docs/formats/kv.md.

/// How pairs are laid out in the text being walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `k=v k="v w" k='v'` separated by spaces (FortiGate, SonicWall, Sophos, Stormshield,
    /// Clavister, Meraki, WatchGuard, Check Point `key=value`). Words without `=` are skipped.
    Space,
    /// CEF extension: a value runs until the next ` key=` (spaces allowed inside), `\=` escaped.
    Cef,
    /// Pairs separated by one byte, values may hold spaces (LEEF tab/custom, Barracuda `|`).
    Delim(u8),
    /// Check Point log exporter: `key:"value"; key:"value"`.
    Colon,
}

/// Bytes a key may contain (CEF custom keys add `.`; some vendors use `-`).
#[inline]
pub fn is_key(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// True when the byte at `at` is escaped by an odd number of backslashes before it.
fn escaped(s: &[u8], at: usize) -> bool {
    // Nearly always: no backslash right before.
    if at == 0 || s.get(at - 1) != Some(&b'\\') {
        return false;
    }
    // Bounded look-back: a run of 64+ backslashes is garbage, not worth O(n^2) on 1 MB lines.
    let n = s[..at]
        .iter()
        .rev()
        .take(64)
        .take_while(|&&b| b == b'\\')
        .count();
    n % 2 == 1
}

/// Index of the first `q` at or after `from` that is not backslash-escaped, or `s.len()`.
fn closing_quote(s: &[u8], from: usize, q: u8) -> usize {
    let mut i = from;
    while i < s.len() {
        match memchr::memchr(q, &s[i..]) {
            None => return s.len(),
            Some(p) => {
                if !escaped(s, i + p) {
                    return i + p;
                }
                i += p + 1;
            }
        }
    }
    s.len()
}

/// Iterator over the pairs of `s`.
pub struct Pairs<'a> {
    s: &'a [u8],
    i: usize,
    style: Style,
}

impl<'a> Pairs<'a> {
    pub fn new(s: &'a [u8], style: Style) -> Self {
        Pairs { s, i: 0, style }
    }

    fn next_space(&mut self) -> Option<(&'a [u8], &'a [u8])> {
        let s = self.s;
        loop {
            while self.i < s.len() && matches!(s[self.i], b' ' | b'\t') {
                self.i += 1;
            }
            if self.i >= s.len() {
                return None;
            }
            let start = self.i;
            let mut i = start;
            while i < s.len() && is_key(s[i]) {
                i += 1;
            }
            if i > start && s.get(i) == Some(&b'=') {
                let key = &s[start..i];
                let v = i + 1;
                match s.get(v) {
                    Some(&q @ (b'"' | b'\'')) => {
                        let end = closing_quote(s, v + 1, q);
                        self.i = (end + 1).min(s.len());
                        return Some((key, &s[v + 1..end]));
                    }
                    _ => {
                        let end = memchr::memchr2(b' ', b'\t', &s[v.min(s.len())..])
                            .map_or(s.len(), |p| v + p);
                        self.i = end;
                        return Some((key, &s[v.min(end)..end]));
                    }
                }
            }
            // Not a pair. After a bracket or separator (`<134>id=`, `[k=v`, `a,b=c`) a key may
            // start inside the word: resume there; otherwise skip the word.
            if matches!(
                s.get(i),
                Some(b'<' | b'>' | b'[' | b'(' | b'{' | b',' | b';' | b'|')
            ) {
                self.i = i + 1;
                continue;
            }
            self.i = memchr::memchr2(b' ', b'\t', &s[i.min(s.len())..]).map_or(s.len(), |p| i + p);
        }
    }

    fn next_cef(&mut self) -> Option<(&'a [u8], &'a [u8])> {
        let s = self.s;
        loop {
            while self.i < s.len() && s[self.i] == b' ' {
                self.i += 1;
            }
            if self.i >= s.len() {
                return None;
            }
            let start = self.i;
            let mut i = start;
            while i < s.len() && is_key(s[i]) {
                i += 1;
            }
            if !(i > start && s.get(i) == Some(&b'=')) {
                // Malformed extension text: resync at the next space.
                self.i = memchr::memchr(b' ', &s[i.min(s.len())..]).map_or(s.len(), |p| i + p);
                continue;
            }
            let key = &s[start..i];
            let v = i + 1;
            // The value ends at the space before the next unescaped `key=`.
            let mut j = v;
            let mut end = s.len();
            while j < s.len() {
                let Some(p) = memchr::memchr(b'=', &s[j..]) else {
                    break;
                };
                let eq = j + p;
                j = eq + 1;
                if escaped(s, eq) {
                    continue;
                }
                let mut k = eq;
                while k > v && is_key(s[k - 1]) {
                    k -= 1;
                }
                if k < eq && k > v && s[k - 1] == b' ' {
                    end = k - 1;
                    break;
                }
            }
            self.i = end;
            let mut val = &s[v.min(end)..end];
            while let [rest @ .., b' '] = val {
                val = rest;
            }
            return Some((key, val));
        }
    }

    fn next_delim(&mut self, d: u8) -> Option<(&'a [u8], &'a [u8])> {
        let s = self.s;
        while self.i < s.len() {
            let start = self.i;
            let end = memchr::memchr(d, &s[start..]).map_or(s.len(), |p| start + p);
            self.i = end + 1;
            let seg = &s[start..end];
            // The `=` ends the (short) key, a few bytes in: a plain loop beats a `memchr` call.
            if let Some(eq) = seg.iter().position(|&b| b == b'=') {
                let key = crate::parse::bytes::trim(&seg[..eq]);
                if !key.is_empty() {
                    return Some((key, &seg[eq + 1..]));
                }
            }
        }
        None
    }

    fn next_colon(&mut self) -> Option<(&'a [u8], &'a [u8])> {
        let s = self.s;
        while self.i < s.len() {
            let start = self.i;
            if !is_key(s[start]) {
                self.i += 1;
                continue;
            }
            let mut i = start;
            while i < s.len() && is_key(s[i]) {
                i += 1;
            }
            if s.get(i) == Some(&b':') && s.get(i + 1) == Some(&b'"') {
                let end = closing_quote(s, i + 2, b'"');
                self.i = end + 1;
                return Some((&s[start..i], &s[i + 2..end]));
            }
            self.i = i.max(start + 1);
        }
        None
    }
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match self.style {
            Style::Space => self.next_space(),
            Style::Cef => self.next_cef(),
            Style::Delim(d) => self.next_delim(d),
            Style::Colon => self.next_colon(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &str, style: Style) -> Vec<(String, String)> {
        Pairs::new(s.as_bytes(), style)
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }

    fn kv(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn space_style_bare_quoted_and_words() {
        assert_eq!(
            pairs(
                r#"Jan 1 host word a=1 b="x y \" z" c='q r' d= e=5 (policy) f"#,
                Style::Space
            ),
            kv(&[
                ("a", "1"),
                ("b", r#"x y \" z"#),
                ("c", "q r"),
                ("d", ""),
                ("e", "5")
            ])
        );
        assert_eq!(
            pairs(r#"a="unterminated"#, Style::Space),
            kv(&[("a", "unterminated")])
        );
    }

    #[test]
    fn cef_style_values_with_spaces_and_escapes() {
        assert_eq!(
            pairs(
                r"src=10.0.0.1 msg=hello world a\=b c\\ cs1Label=Rule Name cs1=Allow all act=accept ",
                Style::Cef
            ),
            kv(&[
                ("src", "10.0.0.1"),
                ("msg", r"hello world a\=b c\\"),
                ("cs1Label", "Rule Name"),
                ("cs1", "Allow all"),
                ("act", "accept")
            ])
        );
        assert_eq!(pairs("=x a==b", Style::Cef), kv(&[("a", "=b")]));
    }

    #[test]
    fn delim_and_colon_styles() {
        assert_eq!(
            pairs(
                "src=1.1.1.1\tusrName=a b\tjunk\tdst=2.2.2.2",
                Style::Delim(b'\t')
            ),
            kv(&[("src", "1.1.1.1"), ("usrName", "a b"), ("dst", "2.2.2.2")])
        );
        assert_eq!(
            pairs(
                r#"[action:"Accept"; ifdir:"inbound"; rule_name:"a \"b\"; c"; src:"1.1.1.1"]"#,
                Style::Colon
            ),
            kv(&[
                ("action", "Accept"),
                ("ifdir", "inbound"),
                ("rule_name", r#"a \"b\"; c"#),
                ("src", "1.1.1.1")
            ])
        );
    }
}

//! A tiny, allocation-free JSON object scanner shared by the JSON log parsers (Zeek, EVE).
//!
//! One forward pass over an object's bytes collects the values of a handful of wanted key paths.
//! A path is dotted: `id.orig_h` matches a nested `{"id":{"orig_h":..}}` and a flat
//! `{"id.orig_h":..}` alike (Zeek writes either, depending on `LogAscii::use_json` settings and
//! the shipper in between). Values come back as raw slices of the input: a string without its
//! quotes (with a flag saying whether it holds escapes, see [`unescape`]), a number, a literal, or
//! a whole nested object/array when that is what a path names.
//!
//! Why not serde_json: it allocates for every string with an escape and for every map, and the
//! parsers need five to fifteen keys out of objects that can carry kilobytes of rule text
//! (Suricata alerts). Here unwanted values are skipped without being decoded.
//!
//! Hostile input: no recursion at all (descending is an explicit key stack of [`MAX_DEPTH`]; skipped
//! containers are tracked by a bit stack of [`MAX_SKIP_DEPTH`]), every index is checked, and
//! truncated input is an error, never a panic. Skipped values are checked for balanced brackets
//! and well-formed strings, not for the full JSON grammar; wanted values are checked fully.
//!
//! Duplicate keys: the last occurrence wins, as in most JSON readers (Python's `json`, serde maps).
//! Keys are compared raw: a key written with escapes (`"\u0069d"`) does not match `id`.

/// Nesting depth the scanner descends into to reach a wanted path.
pub const MAX_DEPTH: usize = 16;
/// Nesting depth allowed inside a skipped value (an `alert.metadata` tree, say).
pub const MAX_SKIP_DEPTH: usize = 128;

/// What a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Num,
    Bool,
    Null,
    Obj,
    Arr,
}

/// One value found for a wanted path. `raw` borrows from the input: for a string, the bytes
/// between the quotes (still escaped when `escaped`); for an object or array, the whole text
/// including its brackets; otherwise the token itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Val<'a> {
    pub kind: Kind,
    pub raw: &'a [u8],
    pub escaped: bool,
}

impl<'a> Val<'a> {
    /// The raw bytes of a string value, or `None` for any other kind.
    pub fn str_raw(&self) -> Option<&'a [u8]> {
        (self.kind == Kind::Str).then_some(self.raw)
    }

    /// A non-negative integer value (a JSON number of digits only).
    pub fn uint(&self) -> Option<u64> {
        if self.kind == Kind::Num {
            crate::parse::bytes::uint(self.raw)
        } else {
            None
        }
    }

    /// The bytes of a string or number, unescaped into `buf` only when needed (so the common
    /// case borrows from the input). `None` for other kinds, or when an escaped string does not
    /// fit `buf` or is malformed.
    pub fn text<'b>(&self, buf: &'b mut [u8]) -> Option<&'b [u8]>
    where
        'a: 'b,
    {
        match self.kind {
            Kind::Num => Some(self.raw),
            Kind::Str if !self.escaped => Some(self.raw),
            Kind::Str => unescape(self.raw, buf),
            _ => None,
        }
    }
}

/// Why a scan failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanError {
    /// The input does not start (after whitespace) with `{`.
    NotObject,
    /// The input ends before the object does.
    Truncated,
    /// A byte that JSON does not allow where it stands.
    Syntax,
    /// Nesting deeper than the limits.
    TooDeep,
}

fn ws(s: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = s.get(i) {
        i += 1;
    }
    i
}

/// `s[i]` is the opening quote. Returns (index after the closing quote, had escapes).
fn string_end(s: &[u8], i: usize) -> Result<(usize, bool), ScanError> {
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        let rest = s.get(j..).ok_or(ScanError::Truncated)?;
        match memchr::memchr2(b'"', b'\\', rest) {
            None => return Err(ScanError::Truncated),
            Some(k) if rest[k] == b'"' => return Ok((j + k + 1, escaped)),
            Some(k) => {
                escaped = true;
                // The escaped byte itself; `\uXXXX` digits are plain bytes and need no care here.
                if j + k + 1 >= s.len() {
                    return Err(ScanError::Truncated);
                }
                j += k + 2;
            }
        }
    }
}

/// A number or literal token starting at `s[i]`: returns its end and kind.
fn scalar_end(s: &[u8], i: usize) -> Result<(usize, Kind), ScanError> {
    for (lit, kind) in [
        (&b"true"[..], Kind::Bool),
        (b"false", Kind::Bool),
        (b"null", Kind::Null),
    ] {
        if s[i] == lit[0] {
            return match s.get(i..i + lit.len()) {
                Some(t) if t == lit => Ok((i + lit.len(), kind)),
                Some(_) => Err(ScanError::Syntax),
                None if lit.starts_with(&s[i..]) => Err(ScanError::Truncated),
                None => Err(ScanError::Syntax),
            };
        }
    }
    let n = s[i..]
        .iter()
        .take_while(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        .count();
    if n == 0 {
        return Err(ScanError::Syntax);
    }
    if !valid_number(&s[i..i + n]) {
        return Err(ScanError::Syntax);
    }
    if i + n == s.len() {
        // A number running into the end of input may be cut short.
        return Err(ScanError::Truncated);
    }
    Ok((i + n, Kind::Num))
}

/// RFC 8259 number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn valid_number(t: &[u8]) -> bool {
    let mut i = usize::from(t.first() == Some(&b'-'));
    let int = t[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    if int == 0 || (int > 1 && t[i] == b'0') {
        return false;
    }
    i += int;
    if t.get(i) == Some(&b'.') {
        let f = t[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
        if f == 0 {
            return false;
        }
        i += 1 + f;
    }
    if let Some(b'e' | b'E') = t.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = t.get(i) {
            i += 1;
        }
        let e = t[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if e == 0 {
            return false;
        }
        i += e;
    }
    i == t.len()
}

/// Skips one value of any kind starting at `s[i]` (not whitespace). Returns (end, kind, escaped).
/// Containers are walked iteratively with a bit stack (1 = object) so depth costs no recursion.
fn skip_value(s: &[u8], i: usize) -> Result<(usize, Kind, bool), ScanError> {
    let first = *s.get(i).ok_or(ScanError::Truncated)?;
    match first {
        b'"' => {
            let (e, esc) = string_end(s, i)?;
            return Ok((e, Kind::Str, esc));
        }
        b'{' | b'[' => {}
        _ => {
            let (e, k) = scalar_end(s, i)?;
            return Ok((e, k, false));
        }
    }
    let kind = if first == b'{' { Kind::Obj } else { Kind::Arr };
    let mut stack: u128 = u128::from(first == b'{');
    let mut depth = 1usize;
    let mut j = i + 1;
    loop {
        j = ws(s, j);
        let b = *s.get(j).ok_or(ScanError::Truncated)?;
        match b {
            b'"' => j = string_end(s, j)?.0,
            b'{' | b'[' => {
                if depth >= MAX_SKIP_DEPTH {
                    return Err(ScanError::TooDeep);
                }
                stack = (stack << 1) | u128::from(b == b'{');
                depth += 1;
                j += 1;
            }
            b'}' | b']' => {
                if (stack & 1 == 1) != (b == b'}') {
                    return Err(ScanError::Syntax);
                }
                stack >>= 1;
                depth -= 1;
                j += 1;
                if depth == 0 {
                    return Ok((j, kind, false));
                }
            }
            b',' | b':' => j += 1,
            _ => j = scalar_end(s, j)?.0,
        }
    }
}

/// How a (key stack + key) relates to a wanted dotted path.
#[derive(PartialEq, Eq)]
enum Rel {
    No,
    /// The path continues below this key (`id` for `id.orig_h`).
    Prefix,
    Exact,
}

/// Byte equality for short slices (keys), inline: a libc `memcmp` call per key/path pair
/// costs more than the comparison itself.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

#[inline(always)]
fn relate(stack: &[&[u8]], key: &[u8], path: &[u8]) -> Rel {
    // This runs for every key against every wanted path, so the top level (nearly all calls)
    // gets a fast path: lengths and the first byte settle most pairs without a byte compare.
    if stack.is_empty() {
        let n = key.len();
        if path.len() < n || path.first() != key.first() {
            return Rel::No;
        }
        if path.len() == n {
            return if same(path, key) { Rel::Exact } else { Rel::No };
        }
        if path[n] != b'.' || path.len() == n + 1 {
            return Rel::No;
        }
        return if same(&path[..n], key) {
            Rel::Prefix
        } else {
            Rel::No
        };
    }
    // Below the top level: each stacked key then `.`, compared inline (no `memcmp` calls).
    let mut rest = path;
    for seg in stack {
        let n = seg.len();
        if rest.len() <= n || rest[n] != b'.' || !same(&rest[..n], seg) {
            return Rel::No;
        }
        rest = &rest[n + 1..];
    }
    let n = key.len();
    if rest.len() < n || !same(&rest[..n], key) {
        return Rel::No;
    }
    match &rest[n..] {
        [] => Rel::Exact,
        [b'.', more @ ..] if !more.is_empty() => Rel::Prefix,
        _ => Rel::No,
    }
}

/// Scans the JSON object at the start of `s` (leading whitespace allowed), storing in `out[k]`
/// the value of `paths[k]` when present (`out` must be at least as long as `paths`; extra slots
/// are left alone, missing keys leave their slot untouched). Returns the index just after the
/// object's closing brace; whatever follows is not looked at.
pub fn scan<'a>(
    s: &'a [u8],
    paths: &[&[u8]],
    out: &mut [Option<Val<'a>>],
) -> Result<usize, ScanError> {
    let mut i = ws(s, 0);
    if s.get(i) != Some(&b'{') {
        return Err(if i == s.len() {
            ScanError::Truncated
        } else {
            ScanError::NotObject
        });
    }
    i += 1;
    // The first 64 paths by their first byte (folded to 5 bits; `relate` settles collisions):
    // a key is only compared with the paths that can start with its outermost key.
    let mut by_lead = [0u64; 32];
    let mut all = 0u64;
    for (k, p) in paths.iter().enumerate().take(64) {
        all |= 1 << k;
        if let Some(&b) = p.first() {
            by_lead[usize::from(b & 31)] |= 1 << k;
        }
    }
    let mut stack: [&[u8]; MAX_DEPTH] = [&[]; MAX_DEPTH];
    let mut depth = 0usize; // keys on the stack = objects entered below the top one
    // true right after `{` (a `}` may close it at once) or after `,` (a key must follow).
    let mut expect_key_or_close = true;
    loop {
        i = ws(s, i);
        let b = *s.get(i).ok_or(ScanError::Truncated)?;
        if b == b'}' && expect_key_or_close {
            i += 1;
            if depth == 0 {
                return Ok(i);
            }
            depth -= 1;
            expect_key_or_close = false;
            continue;
        }
        if !expect_key_or_close {
            // After a value: `,` then a key, or `}`.
            match b {
                b',' => {
                    i += 1;
                    i = ws(s, i);
                    if s.get(i) == Some(&b'}') {
                        return Err(ScanError::Syntax); // trailing comma
                    }
                    expect_key_or_close = true;
                }
                b'}' => {
                    i += 1;
                    if depth == 0 {
                        return Ok(i);
                    }
                    depth -= 1;
                }
                _ => return Err(ScanError::Syntax),
            }
            continue;
        }
        if b != b'"' {
            return Err(ScanError::Syntax);
        }
        let (kend, _) = string_end(s, i)?;
        let key = &s[i + 1..kend - 1];
        i = ws(s, kend);
        match s.get(i) {
            Some(b':') => i = ws(s, i + 1),
            Some(_) => return Err(ScanError::Syntax),
            None => return Err(ScanError::Truncated),
        }
        let vstart = i;
        let first = *s.get(i).ok_or(ScanError::Truncated)?;
        let mut descend = false;
        let mut hit = None;
        // Any path that relates starts with the outermost key (the stacked one, or this key at
        // the top level): its first byte rules out most paths before `relate` runs. An empty
        // outermost key has no first byte and rules out nothing. Paths past the 64th are all
        // tried.
        let outer = if depth == 0 { key } else { stack[0] };
        let mut candidates = match outer.first() {
            Some(&b) => by_lead[usize::from(b & 31)],
            None => all,
        };
        while candidates != 0 {
            let k = candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            let Some(p) = paths.get(k) else { break };
            match relate(&stack[..depth], key, p) {
                Rel::Exact => hit = Some(k),
                Rel::Prefix if first == b'{' => descend = true,
                _ => {}
            }
        }
        if paths.len() > 64 {
            for (k, p) in paths.iter().enumerate().skip(64) {
                match relate(&stack[..depth], key, p) {
                    Rel::Exact => hit = Some(k),
                    Rel::Prefix if first == b'{' => descend = true,
                    _ => {}
                }
            }
        }
        if descend && hit.is_none() {
            if depth + 1 >= MAX_DEPTH {
                return Err(ScanError::TooDeep);
            }
            stack[depth] = key;
            depth += 1;
            i += 1;
            expect_key_or_close = true;
            continue;
        }
        let (vend, kind, escaped) = skip_value(s, vstart)?;
        if let Some(k) = hit {
            let raw = if kind == Kind::Str {
                &s[vstart + 1..vend - 1]
            } else {
                &s[vstart..vend]
            };
            if let Some(slot) = out.get_mut(k) {
                *slot = Some(Val { kind, raw, escaped });
            }
            // A path naming an object that other paths also descend into: the object itself is
            // what was asked for by this one; the others are not looked for inside it.
        }
        i = vend;
        expect_key_or_close = false;
    }
}

fn hex4(s: &[u8]) -> Option<u32> {
    let d = s.get(..4)?;
    let mut v = 0u32;
    for &b in d {
        v = v * 16 + (b as char).to_digit(16)?;
    }
    Some(v)
}

/// Decodes a JSON string body (`raw`, without quotes) into `buf`: the short escapes and
/// `\uXXXX` (surrogate pairs joined, encoded as UTF-8). `None` when `buf` is too small or an
/// escape is malformed (a lone surrogate included).
pub fn unescape<'b>(raw: &[u8], buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let mut n = 0usize;
    let mut i = 0usize;
    let put = |buf: &mut [u8], bytes: &[u8], n: &mut usize| -> Option<()> {
        buf.get_mut(*n..*n + bytes.len())?.copy_from_slice(bytes);
        *n += bytes.len();
        Some(())
    };
    while i < raw.len() {
        let b = raw[i];
        if b != b'\\' {
            put(buf, &[b], &mut n)?;
            i += 1;
            continue;
        }
        let e = *raw.get(i + 1)?;
        i += 2;
        let c = match e {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let mut cp = hex4(raw.get(i..)?)?;
                i += 4;
                if (0xD800..0xDC00).contains(&cp) {
                    if raw.get(i..i + 2)? != b"\\u" {
                        return None;
                    }
                    let lo = hex4(raw.get(i + 2..)?)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return None;
                    }
                    i += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                let ch = char::from_u32(cp)?;
                let mut tmp = [0u8; 4];
                put(buf, ch.encode_utf8(&mut tmp).as_bytes(), &mut n)?;
                continue;
            }
            _ => return None,
        };
        put(buf, &[c], &mut n)?;
    }
    Some(&buf[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(s: &'a [u8], paths: &[&[u8]]) -> Result<Vec<Option<Val<'a>>>, ScanError> {
        let mut out = vec![None; paths.len()];
        scan(s, paths, &mut out)?;
        Ok(out)
    }

    fn raw<'a>(v: &Option<Val<'a>>) -> Option<&'a [u8]> {
        v.map(|v| v.raw)
    }

    #[test]
    fn flat_and_nested_paths() {
        let flat = br#"{"ts":1.5,"id.orig_h":"10.0.0.1","id.orig_p":80,"proto":"tcp"}"#;
        let nested = br#"{"ts":1.5,"id":{"orig_h":"10.0.0.1","orig_p":80},"proto":"tcp"}"#;
        for s in [&flat[..], &nested[..]] {
            let v = get(s, &[b"id.orig_h", b"id.orig_p", b"proto", b"ts", b"nope"]).unwrap();
            assert_eq!(raw(&v[0]), Some(&b"10.0.0.1"[..]));
            assert_eq!(v[0].unwrap().kind, Kind::Str);
            assert_eq!(raw(&v[1]), Some(&b"80"[..]));
            assert_eq!(v[1].unwrap().kind, Kind::Num);
            assert_eq!(raw(&v[2]), Some(&b"tcp"[..]));
            assert_eq!(raw(&v[3]), Some(&b"1.5"[..]));
            assert_eq!(v[4], None);
        }
    }

    #[test]
    fn returns_end_and_ignores_trailing_bytes() {
        let s = b"  {\"a\" : 1 }  trailing {";
        let mut out = [None];
        assert_eq!(scan(s, &[b"a"], &mut out), Ok(12));
        assert_eq!(raw(&out[0]), Some(&b"1"[..]));
        assert_eq!(scan(b"{}", &[b"a"], &mut out), Ok(2));
    }

    #[test]
    fn escapes_are_flagged_and_decoded() {
        let s = br#"{"sig":"say \"hi\" \\ \/ \u00e9 \ud83d\ude00","plain":"x"}"#;
        let v = get(s, &[b"sig", b"plain"]).unwrap();
        let sig = v[0].unwrap();
        assert!(sig.escaped);
        assert_eq!(sig.raw, br#"say \"hi\" \\ \/ \u00e9 \ud83d\ude00"#);
        let mut buf = [0u8; 64];
        assert_eq!(sig.text(&mut buf), Some("say \"hi\" \\ / é 😀".as_bytes()));
        assert!(!v[1].unwrap().escaped);
        // Too small a buffer, a lone surrogate, a bad escape: None, never a panic.
        assert_eq!(sig.text(&mut [0u8; 4]), None);
        assert_eq!(unescape(br"\ud83d", &mut buf), None);
        assert_eq!(unescape(br"\ud83dx", &mut buf), None);
        assert_eq!(unescape(br"\ud83d\u0041", &mut buf), None);
        assert_eq!(unescape(br"\x", &mut buf), None);
        assert_eq!(unescape(br"\u12", &mut buf), None);
        assert_eq!(unescape(b"\\", &mut buf), None);
        assert_eq!(
            unescape(br"\n\t\r\b\f", &mut buf),
            Some(&b"\n\t\r\x08\x0c"[..])
        );
        // Raw UTF-8 passes through.
        assert_eq!(unescape("é".as_bytes(), &mut buf), Some("é".as_bytes()));
    }

    #[test]
    fn escaped_quote_before_closing_quote_and_key_lookalikes_inside_strings() {
        let s = br#"{"a":"x\\","b":"\"c\":1","c":2}"#;
        let v = get(s, &[b"a", b"b", b"c"]).unwrap();
        assert_eq!(raw(&v[0]), Some(&br"x\\"[..]));
        assert_eq!(raw(&v[1]), Some(&br#"\"c\":1"#[..]));
        assert_eq!(raw(&v[2]), Some(&b"2"[..]));
    }

    #[test]
    fn skips_unwanted_nesting_and_arrays() {
        let s = br#"{"meta":{"x":[1,{"id":{"orig_h":"bad"}},[[]],"]}"]},"arr":[{"a":1}],"id":{"deep":{"k":true},"orig_h":"good"},"n":null}"#;
        let v = get(s, &[b"id.orig_h", b"id.deep.k", b"n", b"arr", b"meta.x"]).unwrap();
        assert_eq!(raw(&v[0]), Some(&b"good"[..]));
        assert_eq!(raw(&v[1]), Some(&b"true"[..]));
        assert_eq!(v[1].unwrap().kind, Kind::Bool);
        assert_eq!(v[2].unwrap().kind, Kind::Null);
        assert_eq!(raw(&v[3]), Some(&br#"[{"a":1}]"#[..]));
        assert_eq!(v[3].unwrap().kind, Kind::Arr);
        assert_eq!(
            raw(&v[4]),
            Some(&br#"[1,{"id":{"orig_h":"bad"}},[[]],"]}"]"#[..])
        );
    }

    #[test]
    fn whole_object_value() {
        let s = br#"{"alert":{"severity":2,"sig":"x"}}"#;
        let v = get(s, &[b"alert"]).unwrap();
        assert_eq!(v[0].unwrap().kind, Kind::Obj);
        assert_eq!(raw(&v[0]), Some(&br#"{"severity":2,"sig":"x"}"#[..]));
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let s = br#"{"a":1,"a":2,"id":{"h":"x"},"id.h":"y"}"#;
        let v = get(s, &[b"a", b"id.h"]).unwrap();
        assert_eq!(raw(&v[0]), Some(&b"2"[..]));
        assert_eq!(raw(&v[1]), Some(&b"y"[..]));
    }

    #[test]
    fn unicode_keys_and_values() {
        let s = "{\"clé\":\"välue ✓\",\"k\":\"日本\"}".as_bytes();
        let v = get(s, &["clé".as_bytes(), b"k"]).unwrap();
        assert_eq!(raw(&v[0]), Some("välue ✓".as_bytes()));
        assert_eq!(raw(&v[1]), Some("日本".as_bytes()));
    }

    #[test]
    fn numbers() {
        let s = br#"{"a":-0.5e+3,"b":0,"c":1E2,"d":12}"#;
        let v = get(s, &[b"a", b"b", b"c", b"d"]).unwrap();
        assert_eq!(raw(&v[0]), Some(&b"-0.5e+3"[..]));
        assert_eq!(raw(&v[1]), Some(&b"0"[..]));
        assert_eq!(raw(&v[2]), Some(&b"1E2"[..]));
        assert_eq!(raw(&v[3]), Some(&b"12"[..]));
        for bad in [
            &br#"{"a":01}"#[..],
            br#"{"a":1.}"#,
            br#"{"a":-}"#,
            br#"{"a":1e}"#,
            br#"{"a":+1}"#,
            br#"{"a":.5}"#,
            br#"{"a":1-2}"#,
        ] {
            assert_eq!(get(bad, &[b"a"]), Err(ScanError::Syntax), "{bad:?}");
        }
    }

    #[test]
    fn errors() {
        assert_eq!(get(b"", &[b"a"]), Err(ScanError::Truncated));
        assert_eq!(get(b"   ", &[b"a"]), Err(ScanError::Truncated));
        assert_eq!(get(b"[1]", &[b"a"]), Err(ScanError::NotObject));
        assert_eq!(get(b"x{}", &[b"a"]), Err(ScanError::NotObject));
        assert_eq!(get(br#"{"a":1"#, &[b"a"]), Err(ScanError::Truncated));
        assert_eq!(get(br#"{"a":"x"#, &[b"a"]), Err(ScanError::Truncated));
        assert_eq!(get(br#"{"a":"x\"#, &[b"a"]), Err(ScanError::Truncated));
        assert_eq!(get(br#"{"a":tru"#, &[b"a"]), Err(ScanError::Truncated));
        assert_eq!(get(br#"{"a":trux}"#, &[b"a"]), Err(ScanError::Syntax));
        assert_eq!(get(br#"{"a":1,}"#, &[b"a"]), Err(ScanError::Syntax));
        assert_eq!(get(br#"{"a" 1}"#, &[b"a"]), Err(ScanError::Syntax));
        assert_eq!(get(br#"{a:1}"#, &[b"a"]), Err(ScanError::Syntax));
        assert_eq!(get(br#"{"a":1 "b":2}"#, &[b"a"]), Err(ScanError::Syntax));
        assert_eq!(get(br#"{"a":[1}"#, &[b"a"]), Err(ScanError::Syntax));
        assert_eq!(get(br#"{"a":{"b":1]}"#, &[b"x"]), Err(ScanError::Syntax));
        assert_eq!(get(br#"{"a":{"b":1"#, &[b"a.b"]), Err(ScanError::Truncated));
        assert_eq!(get(br#"{"a":}"#, &[b"a"]), Err(ScanError::Syntax));
    }

    #[test]
    fn depth_limits() {
        // Skipped nesting: fine up to the limit, an error past it, no stack growth either way.
        let ok = format!(
            "{{\"a\":{}{}}}",
            "[".repeat(MAX_SKIP_DEPTH),
            "]".repeat(MAX_SKIP_DEPTH)
        );
        assert!(get(ok.as_bytes(), &[b"z"]).is_ok());
        let deep = format!("{{\"a\":{}}}", "[".repeat(1 << 20));
        assert_eq!(get(deep.as_bytes(), &[b"z"]), Err(ScanError::TooDeep));
        let deep_obj = format!("{{\"a\":{}}}", "{\"a\":".repeat(1 << 16));
        assert_eq!(get(deep_obj.as_bytes(), &[b"z"]), Err(ScanError::TooDeep));
        // Descending toward a wanted path is bounded too.
        let mut want = b"a.".repeat(40);
        want.push(b'x');
        assert_eq!(get(deep_obj.as_bytes(), &[&want]), Err(ScanError::TooDeep));
    }

    #[test]
    fn every_prefix_and_mutation_is_safe() {
        let s = br#"{"timestamp":"2024-01-01T00:00:00+0000","id":{"orig_h":"10.0.0.1","x":[1,{"y":"\u00e9\""}]},"n":-1.5e3,"t":true,"f":false,"z":null}"#;
        let paths: &[&[u8]] = &[b"id.orig_h", b"id.x", b"n", b"t", b"z", b"timestamp"];
        let mut out = [None; 6];
        assert_eq!(scan(s, paths, &mut out), Ok(s.len()));
        for end in 0..s.len() {
            assert!(scan(&s[..end], paths, &mut [None; 6]).is_err(), "{end}");
            let _ = scan(&s[end..], paths, &mut [None; 6]);
        }
        let mut m = s.to_vec();
        let mut x: u32 = 12345;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let i = x as usize % m.len();
            let old = m[i];
            m[i] = (x >> 8) as u8;
            let _ = scan(&m, paths, &mut [None; 6]);
            m[i] = old;
        }
    }
}

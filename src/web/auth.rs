//! Viewer authentication: which requests may see the wall when `[auth]` is configured.
//!
//! A request is let through with a valid `Authorization: Bearer` token or session cookie. A
//! `?token=` in a page URL is exchanged once for an HttpOnly, SameSite=Strict cookie and a
//! redirect to the same URL without it; a WebSocket upgrade without credentials is let through as
//! [`Access::Pending`] and must send the token in its first message (`ws.rs`). Tokens are compared
//! in constant time and never logged: only their names are.

use std::sync::Arc;

use subtle::ConstantTimeEq;
use warp::http::{HeaderMap, Uri, header};

use crate::config::AuthSettings;

/// The session cookie's name over plain HTTP.
pub const COOKIE: &str = "socwall";
/// … and over HTTPS, where the `__Host-` prefix makes browsers refuse it unless it is `Secure`,
/// host-only and for `/`.
pub const COOKIE_SECURE: &str = "__Host-socwall";
/// Cookie lifetime: 400 days, the most browsers keep (kiosks reboot; removing the token from the
/// config is what revokes it).
pub const COOKIE_MAX_AGE_S: u64 = 400 * 86_400;

/// What a request is allowed to do, attached to it as a request extension for the routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// `[auth]` is not configured (the server is on loopback) or the route is public.
    Open,
    /// Authenticated as the named viewer token.
    Viewer(Arc<str>),
    /// A WebSocket upgrade without credentials: it must authenticate in its first message.
    Pending,
}

/// The gate's decision about one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Gate {
    /// Let it through to the routes.
    Pass(Access),
    /// A valid `?token=`: set `cookie` and redirect (303) to `location`, the URL without it.
    Exchange {
        viewer: Arc<str>,
        location: String,
        cookie: String,
    },
    /// 401, with a reason for the log (never the token).
    Deny(Denial),
    /// 400: a token in a WebSocket URL (URLs end up in proxy logs; use the first message).
    TokenInSocketUrl,
}

/// Why a request was refused (for the log and the metrics; the client sees one generic text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No token, cookie or bearer header at all.
    Missing,
    /// `?token=` that matches no configured token.
    BadQueryToken,
    /// `Authorization` that is not a valid bearer token.
    BadBearer,
    /// A session cookie whose token is no longer configured (revoked) or was never valid.
    BadCookie,
}

impl Denial {
    pub fn as_str(self) -> &'static str {
        match self {
            Denial::Missing => "no credentials",
            Denial::BadQueryToken => "invalid token in the URL",
            Denial::BadBearer => "invalid bearer token",
            Denial::BadCookie => "invalid or revoked session cookie",
        }
    }

    /// Whether someone presented a credential that is wrong (worth a warning), rather than none.
    pub fn is_attempt(self) -> bool {
        !matches!(self, Denial::Missing)
    }
}

/// The configured viewer tokens, ready for constant-time comparison.
pub struct Tokens {
    entries: Vec<(Arc<str>, Box<[u8]>)>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(n, _)| n))
            .finish()
    }
}

impl Tokens {
    pub fn new(auth: &AuthSettings) -> Tokens {
        Tokens {
            entries: auth
                .tokens
                .iter()
                .map(|t| {
                    (
                        Arc::from(t.name.as_str()),
                        t.token.expose().as_bytes().into(),
                    )
                })
                .collect(),
        }
    }

    /// The name of the token equal to `candidate`, if any. Every configured token is compared,
    /// each in constant time for its length (a mismatch in length returns early, which tells only
    /// the length).
    pub fn verify(&self, candidate: &[u8]) -> Option<Arc<str>> {
        let mut found = None;
        for (name, token) in &self.entries {
            if bool::from(token.as_ref().ct_eq(candidate)) {
                found = Some(name.clone());
            }
        }
        found
    }
}

/// Decides what to do with a request. `secure`: the browser reached us over HTTPS (our TLS, or a
/// proxy said `X-Forwarded-Proto: https`), so the cookie gets `Secure` and the `__Host-` name.
pub fn gate(tokens: Option<&Tokens>, uri: &Uri, headers: &HeaderMap, secure: bool) -> Gate {
    let Some(tokens) = tokens else {
        return Gate::Pass(Access::Open);
    };
    let path = uri.path();
    if path == "/healthz" {
        return Gate::Pass(Access::Open);
    }
    let is_ws = path == "/ws";
    if let Some(query) = uri.query()
        && let Some(value) = query_token(query)
    {
        if is_ws {
            return Gate::TokenInSocketUrl;
        }
        return match tokens.verify(&value) {
            Some(viewer) => Gate::Exchange {
                viewer,
                location: without_token(path, query),
                cookie: session_cookie(&value, secure),
            },
            None => Gate::Deny(Denial::BadQueryToken),
        };
    }
    // Only `Bearer` is ours: a reverse proxy doing Basic auth passes its own header through.
    if let Some(bearer) = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .map(|v| v.as_bytes())
        .find(|v| {
            v.get(..7)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"bearer "))
        })
    {
        return match tokens.verify(bearer[7..].trim_ascii()) {
            Some(viewer) => Gate::Pass(Access::Viewer(viewer)),
            None => Gate::Deny(Denial::BadBearer),
        };
    }
    let mut saw_cookie = false;
    for value in cookie_values(headers) {
        saw_cookie = true;
        if let Some(viewer) = tokens.verify(value) {
            return Gate::Pass(Access::Viewer(viewer));
        }
    }
    if saw_cookie {
        return Gate::Deny(Denial::BadCookie);
    }
    let upgrade = headers
        .get(header::UPGRADE)
        .is_some_and(|u| u.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if is_ws && upgrade {
        return Gate::Pass(Access::Pending);
    }
    Gate::Deny(Denial::Missing)
}

/// The `Set-Cookie` value carrying `token`.
pub fn session_cookie(token: &[u8], secure: bool) -> String {
    let token = String::from_utf8_lossy(token);
    if secure {
        format!(
            "{COOKIE_SECURE}={token}; Path=/; Max-Age={COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Strict; Secure"
        )
    } else {
        format!("{COOKIE}={token}; Path=/; Max-Age={COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Strict")
    }
}

/// The values of our session cookies in every `Cookie` header.
fn cookie_values(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|h| h.as_bytes().split(|&b| b == b';'))
        .filter_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|&b| b == b'=')?;
            let (name, value) = (&pair[..eq], &pair[eq + 1..]);
            (name == COOKIE.as_bytes() || name == COOKIE_SECURE.as_bytes()).then_some(value)
        })
}

/// The percent-decoded value of the first `token=` parameter of a raw query string.
fn query_token(query: &str) -> Option<Vec<u8>> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == "token").then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// `path?query` with every `token` parameter removed (the rest kept byte for byte). A path that
/// starts with `//` would be read by browsers as another host: it is collapsed to one slash.
fn without_token(path: &str, query: &str) -> String {
    let path = format!("/{}", path.trim_start_matches('/'));
    let rest: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some("token"))
        .collect();
    if rest.is_empty() {
        path
    } else {
        format!("{path}?{}", rest.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Secret, ViewerToken};
    use warp::http::HeaderValue;

    const WALL: &str = "0123456789abcdef0123";
    const LEAD: &str = "fedcba9876543210fedc";

    fn tokens() -> Tokens {
        Tokens::new(&AuthSettings {
            tokens: vec![
                ViewerToken {
                    name: "wall-1".into(),
                    token: Secret::new(WALL),
                },
                ViewerToken {
                    name: "shift-lead".into(),
                    token: Secret::new(LEAD),
                },
            ],
        })
    }

    fn decide(uri: &str, headers: &[(&str, &str)]) -> Gate {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        gate(Some(&tokens()), &uri.parse().unwrap(), &h, false)
    }

    #[test]
    fn verify_finds_the_name_and_nothing_else() {
        let t = tokens();
        assert_eq!(t.verify(LEAD.as_bytes()).as_deref(), Some("shift-lead"));
        assert_eq!(t.verify(WALL.as_bytes()).as_deref(), Some("wall-1"));
        assert_eq!(t.verify(&WALL.as_bytes()[..19]), None);
        assert_eq!(t.verify(b""), None);
        assert_eq!(format!("{t:?}"), "[\"wall-1\", \"shift-lead\"]");
    }

    #[test]
    fn without_auth_everything_is_open() {
        let g = gate(None, &"/d/x".parse().unwrap(), &HeaderMap::new(), false);
        assert_eq!(g, Gate::Pass(Access::Open));
    }

    #[test]
    fn healthz_is_public_everything_else_needs_credentials() {
        assert_eq!(decide("/healthz", &[]), Gate::Pass(Access::Open));
        for p in [
            "/",
            "/d/soc-wall",
            "/assets/app.js",
            "/api/v1/snapshot",
            "/metrics",
            "/nope",
        ] {
            assert_eq!(decide(p, &[]), Gate::Deny(Denial::Missing), "{p}");
        }
        // A plain GET of /ws (no upgrade) is not a socket waiting to authenticate.
        assert_eq!(decide("/ws", &[]), Gate::Deny(Denial::Missing));
        assert_eq!(
            decide("/ws", &[("upgrade", "websocket")]),
            Gate::Pass(Access::Pending)
        );
    }

    #[test]
    fn query_token_is_exchanged_for_a_cookie_and_stripped() {
        let g = decide(&format!("/d/wall?kiosk&token={WALL}&scale=2"), &[]);
        let Gate::Exchange {
            viewer,
            location,
            cookie,
        } = g
        else {
            panic!("{g:?}")
        };
        assert_eq!(&*viewer, "wall-1");
        assert_eq!(location, "/d/wall?kiosk&scale=2");
        assert!(cookie.starts_with(&format!("socwall={WALL};")), "{cookie}");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        assert!(!cookie.contains("Secure"));
        let Gate::Exchange { location, .. } =
            decide(&format!("//evil.example/x?token={WALL}"), &[])
        else {
            panic!()
        };
        assert_eq!(location, "/evil.example/x");
        // Percent-encoded unreserved characters are the same token.
        let enc = format!("%30{}", &WALL[1..]);
        assert!(matches!(
            decide(&format!("/?token={enc}"), &[]),
            Gate::Exchange { .. }
        ));
        assert_eq!(
            decide("/d/wall?token=0123456789abcdef0124", &[]),
            Gate::Deny(Denial::BadQueryToken)
        );
        assert_eq!(
            decide(&format!("/ws?token={WALL}"), &[("upgrade", "websocket")]),
            Gate::TokenInSocketUrl
        );
        assert!(session_cookie(WALL.as_bytes(), true).starts_with("__Host-socwall="));
        assert!(session_cookie(WALL.as_bytes(), true).ends_with("; Secure"));
    }

    #[test]
    fn cookie_and_bearer() {
        let ok = Gate::Pass(Access::Viewer("shift-lead".into()));
        assert_eq!(
            decide("/metrics", &[("authorization", &format!("Bearer {LEAD}"))]),
            ok
        );
        assert_eq!(
            decide(
                "/metrics",
                &[("authorization", &format!("bearer  {LEAD} "))]
            ),
            ok
        );
        assert_eq!(
            decide("/metrics", &[("authorization", &format!("Bearer {LEAD}x"))]),
            Gate::Deny(Denial::BadBearer)
        );
        // Another scheme (a proxy's Basic auth) is not ours: the cookie decides.
        assert_eq!(
            decide("/metrics", &[("authorization", "Basic d2FsbDpwdw==")]),
            Gate::Deny(Denial::Missing)
        );
        assert_eq!(
            decide(
                "/metrics",
                &[
                    ("authorization", "Basic d2FsbDpwdw=="),
                    ("cookie", &format!("socwall={LEAD}"))
                ]
            ),
            ok
        );
        assert_eq!(
            decide(
                "/api/v1/snapshot",
                &[("cookie", &format!("a=b; socwall={LEAD}; c=d"))]
            ),
            ok
        );
        assert_eq!(
            decide(
                "/ws",
                &[
                    ("cookie", &format!("__Host-socwall={LEAD}")),
                    ("upgrade", "websocket")
                ]
            ),
            ok
        );
        // A stale cookie next to a good one (e.g. after switching to HTTPS) still works.
        assert_eq!(
            decide(
                "/",
                &[
                    ("cookie", "socwall=old-revoked-token-xx"),
                    ("cookie", &format!("__Host-socwall={LEAD}"))
                ]
            ),
            ok
        );
        assert_eq!(
            decide(
                "/ws",
                &[
                    ("cookie", "socwall=old-revoked-token-xx"),
                    ("upgrade", "websocket")
                ]
            ),
            Gate::Deny(Denial::BadCookie)
        );
        assert_eq!(
            decide("/", &[("cookie", "other=1")]),
            Gate::Deny(Denial::Missing)
        );
    }

    #[test]
    fn decoding_and_stripping() {
        assert_eq!(percent_decode("a%41%4a+b%zz%4"), b"aAJ b%zz%4".to_vec());
        assert_eq!(without_token("/d/x", "token=a"), "/d/x");
        assert_eq!(
            without_token("/d/x", "tokens=1&token=a&&b"),
            "/d/x?tokens=1&b"
        );
    }
}

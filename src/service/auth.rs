//! Who may talk to the API: the bearer token (kept in a 0600 file, or given by the
//! environment) and the browser guards (Origin and, without a token, Host checks).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::error::{error_body, json_reply};

/// The variable codex-manager's SDK reads its token from; the server takes it too, so one
/// setting serves both ends.
pub const TOKEN_ENV: &str = "CODEX_MANAGER_BEARER_TOKEN";

/// Also accepted by the server, for symmetry with the client's `$SWITCHBOARD_TOKEN`.
pub const SWITCHBOARD_TOKEN_ENV: &str = "SWITCHBOARD_TOKEN";

/// Where a server's token came from, for the start-up message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    Env(&'static str),
    File { path: PathBuf, created: bool },
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Env(key) => write!(f, "from ${key}"),
            TokenSource::File {
                path,
                created: true,
            } => write!(f, "generated into {}", path.display()),
            TokenSource::File {
                path,
                created: false,
            } => write!(f, "in {}", path.display()),
        }
    }
}

/// The token a server requires: `$CODEX_MANAGER_BEARER_TOKEN`, else `$SWITCHBOARD_TOKEN`,
/// else the file at `path` (created when missing). `serve` and the console share this.
pub fn server_token(path: &Path) -> Result<(String, TokenSource), TokenError> {
    for key in [TOKEN_ENV, SWITCHBOARD_TOKEN_ENV] {
        if let Ok(token) = std::env::var(key)
            && !token.trim().is_empty()
        {
            return Ok((token.trim().to_string(), TokenSource::Env(key)));
        }
    }
    let (token, created) = load_or_create_token(path)?;
    Ok((
        token,
        TokenSource::File {
            path: path.to_path_buf(),
            created,
        },
    ))
}

/// Random bytes in a generated token (hex-encoded, so twice as many characters).
const TOKEN_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("could not read the API token {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not create the API token {}: {source}", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the API token {} is readable by others (mode {mode:o}); run `chmod 600 {}`", path.display(), path.display())]
    Insecure { path: PathBuf, mode: u32 },
    #[error("the API token {} belongs to uid {owner}, not to this user (uid {me}); use a token file of your own", path.display())]
    NotOwned { path: PathBuf, owner: u32, me: u32 },
    #[error(
        "the API token {} is in {}, which others can write to (mode {mode:o}) and so replace the token; keep it in a folder only you can write to (`chmod go-w {}`), or in one with the sticky bit like /tmp",
        path.display(), dir.display(), dir.display()
    )]
    FolderWritable {
        path: PathBuf,
        dir: PathBuf,
        mode: u32,
    },
    #[error("the API token file {} is empty; delete it to have a new token generated", path.display())]
    Empty { path: PathBuf },
    #[error("could not generate a token from /dev/urandom: {source}")]
    Random { source: std::io::Error },
}

/// The token in `path`, created (mode 0600, folder 0700) with a fresh random token when
/// missing. Returns the token and whether it was just created.
pub fn load_or_create_token(path: &Path) -> Result<(String, bool), TokenError> {
    match read_token(path) {
        Err(TokenError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
        other => return other.map(|token| (token, false)),
    }
    let token = generate_token()?;
    let create_error = |source| TokenError::Create {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::util::create_private_dir_all(dir).map_err(create_error)?;
    }
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match file {
        Ok(mut file) => {
            file.write_all(format!("{token}\n").as_bytes())
                .map_err(create_error)?;
            Ok((token, true))
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_token(path).map(|token| (token, false))
        }
        Err(e) => Err(create_error(e)),
    }
}

/// Reads a token file, refusing one that others can read.
pub fn read_token(path: &Path) -> Result<String, TokenError> {
    use std::os::unix::fs::PermissionsExt;
    let read_error = |source| TokenError::Read {
        path: path.to_path_buf(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(read_error)?;
    // Someone else's file, or one that others may swap for their own, is not a secret.
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid().as_raw();
    if metadata.uid() != me {
        return Err(TokenError::NotOwned {
            path: path.to_path_buf(),
            owner: metadata.uid(),
            me,
        });
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let folder = std::fs::metadata(dir).map_err(read_error)?;
    let folder_mode = folder.permissions().mode();
    // The sticky bit (as on /tmp) stops others from renaming or deleting our file.
    if folder_mode & 0o022 != 0 && folder_mode & 0o1000 == 0 {
        return Err(TokenError::FolderWritable {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            mode: folder_mode & 0o7777,
        });
    }
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(TokenError::Insecure {
            path: path.to_path_buf(),
            mode,
        });
    }
    let text = std::fs::read_to_string(path).map_err(read_error)?;
    let token = text.trim();
    if token.is_empty() {
        return Err(TokenError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(token.to_string())
}

fn generate_token() -> Result<String, TokenError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .map_err(|source| TokenError::Random { source })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compares in time independent of where the first difference is.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    if given.len() != expected.len() {
        return false;
    }
    given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then_some(token.trim_ascii())
}

/// The host part of a `Host` header or an origin's authority, lower-cased, without port.
fn host_name(authority: &str) -> String {
    let authority = authority.trim().to_ascii_lowercase();
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default().to_string();
    }
    authority
        .rsplit_once(':')
        .map(|(host, _)| host.to_string())
        .unwrap_or(authority)
}

pub fn is_loopback_host(authority: &str) -> bool {
    let host = host_name(authority);
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why a request is refused before it reaches a route, if it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A browser page of another origin (or a rebinding name without a token).
    Forbidden(String),
    Unauthorized,
}

/// The checks, apart from the middleware so they are tested directly. A browser always
/// sends `Origin` on websocket handshakes and cross-site writes; the SDK and CLI never do.
pub fn check(headers: &HeaderMap, token: Option<&str>) -> Result<(), Refusal> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let authority = origin.split_once("://").map(|(_, rest)| rest);
        let same = authority.is_some_and(|a| a.eq_ignore_ascii_case(host) && !host.is_empty());
        if !same {
            return Err(Refusal::Forbidden(format!(
                "requests from the web origin {origin:?} are refused; only the server's own origin may call the API"
            )));
        }
    }
    match token {
        None if !is_loopback_host(host) => Err(Refusal::Forbidden(format!(
            "without a token the API answers only requests addressed to a loopback name, not {host:?}"
        ))),
        None => Ok(()),
        Some(expected) => match bearer(headers) {
            Some(given) if same_secret(given, expected.as_bytes()) => Ok(()),
            _ => Err(Refusal::Unauthorized),
        },
    }
}

pub(super) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match check(request.headers(), state.token.as_deref()) {
        Ok(()) => {
            if let Some(connection) = request.extensions().get::<super::listen::ConnectionInfo>() {
                connection.authenticated();
            }
            next.run(request).await
        }
        Err(Refusal::Forbidden(message)) => {
            json_reply(StatusCode::FORBIDDEN, &error_body("forbidden", message))
        }
        Err(Refusal::Unauthorized) => {
            let mut response = json_reply(
                StatusCode::UNAUTHORIZED,
                &error_body(
                    "unauthorized",
                    "missing or wrong bearer token: send `Authorization: Bearer <token>`",
                ),
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"switchboard\""),
            );
            response
        }
    }
}

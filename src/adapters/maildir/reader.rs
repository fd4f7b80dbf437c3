//! Reads a Maildir back into decoded messages, for tests and tools (not a general MIME parser:
//! it understands the single-part text messages this adapter and simple mailers write).

use base64::Engine as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// One delivered message with its headers unfolded and decoded and its body as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMail {
    /// The file in `new/` or `cur/`.
    pub path: PathBuf,
    /// Headers in file order, names as written, values unfolded with RFC 2047 words decoded.
    pub headers: Vec<(String, String)>,
    /// The body after undoing its transfer encoding, with `\n` line endings.
    pub body: String,
}

impl StoredMail {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `X-Onboard-Notification-Id` this message was delivered for.
    pub fn notification_id(&self) -> Option<&str> {
        self.header("X-Onboard-Notification-Id")
    }
}

/// Every message in `root/new` and `root/cur`, ordered by file name; `tmp/` holds unfinished
/// deliveries and is ignored.
pub fn read_maildir(root: impl AsRef<Path>) -> io::Result<Vec<StoredMail>> {
    let root = root.as_ref();
    let mut paths = Vec::new();
    for sub in ["new", "cur"] {
        for entry in fs::read_dir(root.join(sub))? {
            let entry = entry?;
            // Dot files are never messages in a Maildir (clients keep their own state there).
            if entry.file_type()?.is_file() && !entry.file_name().to_string_lossy().starts_with('.')
            {
                paths.push(entry.path());
            }
        }
    }
    paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    paths
        .into_iter()
        .map(|path| {
            let raw = fs::read(&path)?;
            Ok(StoredMail {
                path,
                ..parse_message(&raw)
            })
        })
        .collect()
}

/// Parses one message; `path` is left empty.
pub fn parse_message(raw: &[u8]) -> StoredMail {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((text.as_str(), ""));

    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            // Unfolding removes only the line break; the leading white space stays.
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.to_owned()));
        }
    }
    for (_, value) in &mut headers {
        *value = decode_header_value(value.trim());
    }

    let encoding = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Content-Transfer-Encoding"))
        .map(|(_, v)| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let body = match encoding.as_str() {
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map(|bytes| String::from_utf8_lossy(&bytes).replace("\r\n", "\n"))
                .unwrap_or_else(|_| body.to_owned())
        }
        "quoted-printable" => {
            String::from_utf8_lossy(&decode_quoted_printable(body)).replace("\r\n", "\n")
        }
        _ => body.to_owned(),
    };

    StoredMail {
        path: PathBuf::new(),
        headers,
        body,
    }
}

/// Undoes quoted-printable (RFC 2045 §6.7) on text whose line endings are `\n`.
fn decode_quoted_printable(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'=' {
            out.push(bytes[i]);
            i += 1;
        } else if bytes.get(i + 1) == Some(&b'\n') {
            // A soft line break joins the two lines.
            i += 2;
        } else if let Some(byte) = bytes.get(i + 1..i + 3).and_then(hex_byte) {
            out.push(byte);
            i += 3;
        } else {
            out.push(b'=');
            i += 1;
        }
    }
    out
}

fn hex_byte(pair: &[u8]) -> Option<u8> {
    let text = std::str::from_utf8(pair).ok()?;
    u8::from_str_radix(text, 16).ok()
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`); white space between two
/// adjacent encoded words belongs to the folding, not the text, and is dropped.
fn decode_header_value(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut pending_space = String::new();
    let mut previous_was_encoded = false;
    for (is_space, piece) in runs(raw) {
        if is_space {
            pending_space.push_str(piece);
            continue;
        }
        match decode_encoded_word(piece) {
            Some(text) => {
                if !previous_was_encoded {
                    out.push_str(&pending_space);
                }
                out.push_str(&text);
                previous_was_encoded = true;
            }
            None => {
                out.push_str(&pending_space);
                out.push_str(piece);
                previous_was_encoded = false;
            }
        }
        pending_space.clear();
    }
    out
}

/// Splits text into alternating runs of white space and of other characters.
fn runs(text: &str) -> Vec<(bool, &str)> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut current: Option<bool> = None;
    for (i, c) in text.char_indices() {
        let is_space = c.is_whitespace();
        if current.is_some_and(|kind| kind != is_space) {
            pieces.push((!is_space, &text[start..i]));
            start = i;
        }
        current = Some(is_space);
    }
    if let Some(kind) = current {
        pieces.push((kind, &text[start..]));
    }
    pieces
}

fn decode_encoded_word(word: &str) -> Option<String> {
    let inner = word.strip_prefix("=?")?.strip_suffix("?=")?;
    let mut parts = inner.splitn(3, '?');
    let charset = parts.next()?.to_ascii_lowercase();
    let encoding = parts.next()?.to_ascii_lowercase();
    let payload = parts.next()?;
    let bytes = match encoding.as_str() {
        "b" => base64::engine::general_purpose::STANDARD
            .decode(payload)
            .ok()?,
        "q" => decode_quoted_printable(&payload.replace('_', " ")),
        _ => return None,
    };
    Some(match charset.as_str() {
        // Latin-1 bytes are the first 256 code points.
        "iso-8859-1" | "latin1" => bytes.iter().map(|&b| char::from(b)).collect(),
        _ => String::from_utf8_lossy(&bytes).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacent_encoded_words_join_without_the_folding_space() {
        assert_eq!(
            decode_header_value("=?utf-8?b?U2XDoW4=?= =?utf-8?q?_=C3=93?= <sean@example.com>"),
            "Seán Ó <sean@example.com>"
        );
        assert_eq!(decode_header_value("plain  text"), "plain  text");
    }

    #[test]
    fn quoted_printable_bodies_decode_soft_breaks_and_escapes() {
        assert_eq!(
            decode_quoted_printable("caf=C3=A9 au=\nlait = 2"),
            "café aulait = 2".as_bytes()
        );
    }

    #[test]
    fn base64_bodies_are_decoded_to_text() {
        let raw = b"Subject: hi\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVs\r\nbG8K\r\n";
        let mail = parse_message(raw);
        assert_eq!(mail.header("subject"), Some("hi"));
        assert_eq!(mail.body, "Hello\n");
    }
}

//! Record framing of the embedded log: `len: u32 | crc32: u32 | payload`, little endian.
//!
//! The CRC covers the payload, so a torn or bit-flipped tail is detected on open and cut off
//! instead of being handed to consumers. The payload starts with a format version byte so the
//! layout can evolve without guessing.

use bytes::Bytes;

/// Bytes of the `len | crc` prefix of every frame.
pub const FRAME_HEADER: usize = 8;
/// Largest payload accepted; a bigger length on disk can only be corruption.
pub const MAX_PAYLOAD: usize = 16 * 1024 * 1024;
const FORMAT_VERSION: u8 = 1;

/// A record as stored in a partition log.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<String>,
    pub headers: Vec<(String, String)>,
    pub value: Bytes,
}

/// Why bytes at a position are not a complete, valid frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("the frame is cut short")]
    Truncated,
    #[error("the frame is corrupt: {0}")]
    Corrupt(&'static str),
}

/// Size of the payload `encode` writes for these fields, to reject oversized records up front.
pub fn payload_len(key: Option<&str>, headers: &[(String, String)], value: &[u8]) -> usize {
    1 + 8
        + 8
        + 4
        + key.map_or(0, str::len)
        + 4
        + headers
            .iter()
            .map(|(k, v)| 8 + k.len() + v.len())
            .sum::<usize>()
        + 4
        + value.len()
}

/// Appends one frame to `out`. Callers check `payload_len` against [`MAX_PAYLOAD`] first.
pub fn encode(
    out: &mut Vec<u8>,
    offset: i64,
    timestamp_ms: i64,
    key: Option<&str>,
    headers: &[(String, String)],
    value: &[u8],
) {
    let len = payload_len(key, headers, value);
    let frame_start = out.len();
    out.reserve(FRAME_HEADER + len);
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]); // CRC, filled in once the payload is written
    let payload_start = out.len();
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&timestamp_ms.to_le_bytes());
    match key {
        Some(k) => {
            out.extend_from_slice(&(k.len() as i32).to_le_bytes());
            out.extend_from_slice(k.as_bytes());
        }
        None => out.extend_from_slice(&(-1i32).to_le_bytes()),
    }
    out.extend_from_slice(&(headers.len() as u32).to_le_bytes());
    for (k, v) in headers {
        put_bytes(out, k.as_bytes());
        put_bytes(out, v.as_bytes());
    }
    put_bytes(out, value);
    let crc = crc32fast::hash(&out[payload_start..]);
    out[frame_start + 4..frame_start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Reads the `len | crc` prefix: the payload length, checked against [`MAX_PAYLOAD`], and the CRC.
pub fn decode_header(header: &[u8; FRAME_HEADER]) -> Result<(usize, u32), FrameError> {
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len > MAX_PAYLOAD {
        return Err(FrameError::Corrupt("length beyond the maximum record size"));
    }
    Ok((len, crc))
}

/// Decodes the frame at the start of `buf`, returning the record and the frame's total size.
/// `buf` is a `Bytes` so values are slices of it rather than copies.
pub fn decode_frame(buf: &Bytes) -> Result<(StoredRecord, usize), FrameError> {
    let header: &[u8; FRAME_HEADER] = buf
        .get(..FRAME_HEADER)
        .and_then(|h| h.try_into().ok())
        .ok_or(FrameError::Truncated)?;
    let (len, crc) = decode_header(header)?;
    let end = FRAME_HEADER + len;
    if buf.len() < end {
        return Err(FrameError::Truncated);
    }
    let payload = buf.slice(FRAME_HEADER..end);
    if crc32fast::hash(&payload) != crc {
        return Err(FrameError::Corrupt("checksum mismatch"));
    }
    Ok((decode_payload(payload)?, end))
}

/// Decodes a payload whose CRC was already verified.
pub fn decode_payload(payload: Bytes) -> Result<StoredRecord, FrameError> {
    let mut r = Reader {
        buf: payload,
        pos: 0,
    };
    if r.take(1)?[0] != FORMAT_VERSION {
        return Err(FrameError::Corrupt("unknown record format version"));
    }
    let offset = r.i64()?;
    let timestamp_ms = r.i64()?;
    let key_len = r.i32()?;
    let key = match key_len {
        -1 => None,
        n if n >= 0 => Some(r.string(n as usize)?),
        _ => return Err(FrameError::Corrupt("negative key length")),
    };
    let header_count = r.u32()? as usize;
    let mut headers = Vec::with_capacity(header_count.min(64));
    for _ in 0..header_count {
        let k_len = r.u32()? as usize;
        let k = r.string(k_len)?;
        let v_len = r.u32()? as usize;
        let v = r.string(v_len)?;
        headers.push((k, v));
    }
    let value_len = r.u32()? as usize;
    let value = r.take(value_len)?;
    if r.pos != r.buf.len() {
        return Err(FrameError::Corrupt("trailing bytes after the value"));
    }
    Ok(StoredRecord {
        offset,
        timestamp_ms,
        key,
        headers,
        value,
    })
}

/// A cursor over a verified payload; running past the end means the payload lies about lengths.
struct Reader {
    buf: Bytes,
    pos: usize,
}

impl Reader {
    fn take(&mut self, n: usize) -> Result<Bytes, FrameError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.buf.len())
            .ok_or(FrameError::Corrupt("field runs past the end of the record"))?;
        let out = self.buf.slice(self.pos..end);
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], FrameError> {
        let bytes = self.take(N)?;
        let mut out = [0; N];
        out.copy_from_slice(&bytes);
        Ok(out)
    }

    fn i64(&mut self) -> Result<i64, FrameError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, FrameError> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, FrameError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn string(&mut self, n: usize) -> Result<String, FrameError> {
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| FrameError::Corrupt("text is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Vec<u8> {
        let mut out = Vec::new();
        encode(
            &mut out,
            7,
            1_700_000_000_000,
            Some("customer-1"),
            &[("event-id".into(), "e1".into())],
            b"{\"a\":1}",
        );
        out
    }

    #[test]
    fn an_encoded_record_decodes_to_the_same_fields() {
        let buf = Bytes::from(frame());
        let (record, size) = decode_frame(&buf).expect("valid frame");
        assert_eq!(size, buf.len());
        assert_eq!(record.offset, 7);
        assert_eq!(record.timestamp_ms, 1_700_000_000_000);
        assert_eq!(record.key.as_deref(), Some("customer-1"));
        assert_eq!(record.headers, vec![("event-id".into(), "e1".into())]);
        assert_eq!(&record.value[..], b"{\"a\":1}");
    }

    #[test]
    fn a_record_without_key_keeps_the_key_absent() {
        let mut out = Vec::new();
        encode(&mut out, 0, 0, None, &[], b"");
        let (record, _) = decode_frame(&Bytes::from(out)).expect("valid frame");
        assert_eq!(record.key, None);
    }

    #[test]
    fn a_cut_frame_is_reported_as_truncated() {
        let full = frame();
        for cut in [0, 3, FRAME_HEADER, full.len() - 1] {
            let buf = Bytes::from(full[..cut].to_vec());
            assert_eq!(
                decode_frame(&buf).unwrap_err(),
                FrameError::Truncated,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_flipped_byte_is_caught_by_the_checksum() {
        let mut bytes = frame();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        assert_eq!(
            decode_frame(&Bytes::from(bytes)).unwrap_err(),
            FrameError::Corrupt("checksum mismatch")
        );
    }

    #[test]
    fn payload_len_matches_what_encode_writes() {
        let buf = frame();
        let (len, _) =
            decode_header(buf[..FRAME_HEADER].try_into().expect("8 bytes")).expect("valid header");
        assert_eq!(len + FRAME_HEADER, buf.len());
    }
}

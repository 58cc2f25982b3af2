//! The Redis protocol (RESP2) as these tools speak it, written here so that every byte a peer
//! sends passes a bound: a reply is decoded from a buffer the connection fills, the decoder says
//! how many bytes it needs before it can go on (so a 10 MB bulk string is not rescanned on
//! every read), nesting is shallow, and nothing is allocated from a length the peer claims
//! before the bytes have arrived. Values are `redis::Value`, so replies convert with the redis
//! crate's `FromRedisValue`.

use redis::Value;

/// A reply: a value, or the text of an error reply (`-ERR …`).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Value(Value),
    Error(String),
}

/// The outcome of decoding the start of a buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A whole reply and the bytes it took.
    Reply(Reply, usize),
    /// Incomplete: the buffer must hold at least this many bytes before decoding can go on.
    Need(usize),
}

/// Arrays inside arrays deeper than this are refused; no reply these tools read nests deeper
/// than two.
const MAX_DEPTH: usize = 4;

/// `words` as a RESP command: an array of bulk strings.
pub fn encode<W: AsRef<[u8]>>(words: &[W]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for word in words {
        let word = word.as_ref();
        out.extend_from_slice(format!("${}\r\n", word.len()).as_bytes());
        out.extend_from_slice(word);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Decodes the reply at the start of `buf`. `Err` says why the bytes are not RESP.
pub fn decode(buf: &[u8]) -> Result<Decoded, String> {
    if buf.first() == Some(&b'-') {
        return Ok(match line(buf, 1)? {
            Some((text, end)) => Decoded::Reply(Reply::Error(text.to_string()), end),
            None => Decoded::Need(buf.len() + 1),
        });
    }
    Ok(match value(buf, 0, 0)? {
        Step::Done(v, end) => Decoded::Reply(Reply::Value(v), end),
        Step::Need(n) => Decoded::Need(n),
    })
}

enum Step {
    Done(Value, usize),
    Need(usize),
}

/// The text from `start` to the next CRLF and the position after it; `None` when the CRLF has
/// not arrived yet.
fn line(buf: &[u8], start: usize) -> Result<Option<(&str, usize)>, String> {
    let rest = &buf[start.min(buf.len())..];
    let Some(cr) = rest.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let text =
        std::str::from_utf8(&rest[..cr]).map_err(|_| "a reply line is not UTF-8".to_string())?;
    Ok(Some((text, start + cr + 2)))
}

fn number(text: &str) -> Result<i64, String> {
    text.parse()
        .map_err(|_| format!("'{}' is not a number", toolkit::words::shown(text, 40)))
}

fn value(buf: &[u8], at: usize, depth: usize) -> Result<Step, String> {
    let Some(&kind) = buf.get(at) else {
        return Ok(Step::Need(at + 1));
    };
    let Some((text, end)) = line(buf, at + 1)? else {
        return Ok(Step::Need(buf.len() + 1));
    };
    match kind {
        b'+' => Ok(Step::Done(
            if text == "OK" {
                Value::Okay
            } else {
                Value::SimpleString(text.to_string())
            },
            end,
        )),
        b':' => Ok(Step::Done(Value::Int(number(text)?), end)),
        b'$' => {
            let Ok(length) = usize::try_from(number(text)?) else {
                return Ok(Step::Done(Value::Nil, end));
            };
            let stop = end
                .checked_add(length)
                .and_then(|s| s.checked_add(2))
                .ok_or("a bulk string length overflows")?;
            if buf.len() < stop {
                return Ok(Step::Need(stop));
            }
            if &buf[stop - 2..stop] != b"\r\n" {
                return Err("a bulk string does not end with CRLF".to_string());
            }
            Ok(Step::Done(
                Value::BulkString(buf[end..stop - 2].to_vec()),
                stop,
            ))
        }
        b'*' => {
            let Ok(count) = usize::try_from(number(text)?) else {
                return Ok(Step::Done(Value::Nil, end));
            };
            if depth >= MAX_DEPTH {
                return Err(format!("arrays nested deeper than {MAX_DEPTH}"));
            }
            // Every element takes at least 3 bytes: claim no more room than could have arrived.
            let mut items = Vec::with_capacity(count.min(buf.len() / 3));
            let mut pos = end;
            for _ in 0..count {
                if buf.get(pos) == Some(&b'-') {
                    return Err("an error reply inside an array".to_string());
                }
                match value(buf, pos, depth + 1)? {
                    Step::Done(v, next) => {
                        items.push(v);
                        pos = next;
                    }
                    need => return Ok(need),
                }
            }
            Ok(Step::Done(Value::Array(items), pos))
        }
        other => Err(format!(
            "a reply starts with byte {other:#04x}; is this a Redis server?"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(bytes: &[u8]) -> Reply {
        match decode(bytes).unwrap() {
            Decoded::Reply(r, used) => {
                assert_eq!(used, bytes.len());
                r
            }
            Decoded::Need(n) => panic!("needs {n} bytes"),
        }
    }

    #[test]
    fn every_kind_of_reply_decodes() {
        assert_eq!(whole(b"+OK\r\n"), Reply::Value(Value::Okay));
        assert_eq!(
            whole(b"+PONG\r\n"),
            Reply::Value(Value::SimpleString("PONG".into()))
        );
        assert_eq!(whole(b":42\r\n"), Reply::Value(Value::Int(42)));
        assert_eq!(whole(b"$-1\r\n"), Reply::Value(Value::Nil));
        assert_eq!(whole(b"-ERR no\r\n"), Reply::Error("ERR no".into()));
        assert_eq!(
            whole(b"*2\r\n$3\r\na\r\n\r\n$0\r\n\r\n"),
            Reply::Value(Value::Array(vec![
                Value::BulkString(b"a\r\n".to_vec()),
                Value::BulkString(Vec::new())
            ]))
        );
    }

    #[test]
    fn an_incomplete_reply_says_how_much_it_needs() {
        assert_eq!(decode(b"").unwrap(), Decoded::Need(1));
        assert_eq!(decode(b"$10\r\nab").unwrap(), Decoded::Need(17));
        assert_eq!(decode(b"*2\r\n:1\r\n").unwrap(), Decoded::Need(9));
        assert!(matches!(decode(b"+O").unwrap(), Decoded::Need(_)));
    }

    // A peer that claims a huge array must not make the decoder reserve memory for it.
    #[test]
    fn claimed_lengths_reserve_nothing_that_has_not_arrived() {
        assert!(matches!(
            decode(b"*999999999999\r\n:1\r\n").unwrap(),
            Decoded::Need(_)
        ));
        assert!(matches!(
            decode(b"$999999999999\r\n").unwrap(),
            Decoded::Need(_)
        ));
    }

    #[test]
    fn garbage_is_named() {
        assert!(decode(b"HTTP/1.1 200 OK\r\n").unwrap_err().contains("0x48"));
        assert!(decode(b":x\r\n")
            .unwrap_err()
            .contains("'x' is not a number"));
        assert!(decode(b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n")
            .unwrap_err()
            .contains("nested"));
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        assert_eq!(
            encode(&["CLUSTER", "MEET"]),
            b"*2\r\n$7\r\nCLUSTER\r\n$4\r\nMEET\r\n".to_vec()
        );
    }
}

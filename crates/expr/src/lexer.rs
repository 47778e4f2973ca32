//! Splits expression text into tokens exactly as DynamoDB's lexer does, because its syntax errors
//! quote tokens: a token boundary in the wrong place changes the message.
//!
//! The rules (longest match wins; on a tie the earlier rule):
//! - whitespace is ` \t\r\n` only and separates tokens;
//! - operators `= <> < <= > >= + -` and punctuation `( ) , . [ ]`;
//! - keywords `IN BETWEEN NOT AND OR SET ADD DELETE REMOVE`, any case, only as whole words;
//! - an index is `0` or a digit run not starting with `0` (so `007` is three tokens);
//! - a name is an ASCII letter followed by letters, digits and `_` (`_x` is not a name);
//! - `#` or `:` followed by at least one letter, digit or `_` is a placeholder;
//! - a quoted string `"…"`/`'…'` is one token (never valid, but quoted whole in errors);
//! - anything else is a one-character token that no grammar rule accepts.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    LParen,
    RParen,
    Comma,
    Dot,
    LBracket,
    RBracket,
    In,
    Between,
    Not,
    And,
    Or,
    Set,
    Add,
    Delete,
    Remove,
    Index,
    Name,
    NameRef,
    ValueRef,
    Text,
    Unknown,
    Eof,
}

/// A token: its kind and its byte range in the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub start: u32,
    pub end: u32,
}

fn is_word_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn keyword(word: &[u8]) -> Option<Kind> {
    let eq = |k: &str| word.eq_ignore_ascii_case(k.as_bytes());
    Some(match word.len() {
        2 if eq("IN") => Kind::In,
        2 if eq("OR") => Kind::Or,
        3 if eq("NOT") => Kind::Not,
        3 if eq("AND") => Kind::And,
        3 if eq("SET") => Kind::Set,
        3 if eq("ADD") => Kind::Add,
        6 if eq("DELETE") => Kind::Delete,
        6 if eq("REMOVE") => Kind::Remove,
        7 if eq("BETWEEN") => Kind::Between,
        _ => return None,
    })
}

/// Tokenizes `src`, always ending with an `Eof` token positioned at the end of the input.
/// Callers bound `src` to the 4 KB expression limit first, so offsets fit in `u32`.
pub(crate) fn tokenize(src: &str) -> Vec<Token> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::with_capacity(src.len() / 3 + 2);
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        let kind = match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'=' => {
                i += 1;
                Kind::Eq
            }
            b'<' if next == Some(b'>') => {
                i += 2;
                Kind::Ne
            }
            b'<' if next == Some(b'=') => {
                i += 2;
                Kind::Le
            }
            b'<' => {
                i += 1;
                Kind::Lt
            }
            b'>' if next == Some(b'=') => {
                i += 2;
                Kind::Ge
            }
            b'>' => {
                i += 1;
                Kind::Gt
            }
            b'+' => {
                i += 1;
                Kind::Plus
            }
            b'-' => {
                i += 1;
                Kind::Minus
            }
            b'(' => {
                i += 1;
                Kind::LParen
            }
            b')' => {
                i += 1;
                Kind::RParen
            }
            b',' => {
                i += 1;
                Kind::Comma
            }
            b'.' => {
                i += 1;
                Kind::Dot
            }
            b'[' => {
                i += 1;
                Kind::LBracket
            }
            b']' => {
                i += 1;
                Kind::RBracket
            }
            b'0' => {
                i += 1;
                Kind::Index
            }
            b'1'..=b'9' => {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                Kind::Index
            }
            b'a'..=b'z' | b'A'..=b'Z' => {
                i += 1;
                while i < bytes.len() && is_word_char(bytes[i]) {
                    i += 1;
                }
                keyword(&bytes[start..i]).unwrap_or(Kind::Name)
            }
            b'#' | b':' if next.is_some_and(is_word_char) => {
                i += 2;
                while i < bytes.len() && is_word_char(bytes[i]) {
                    i += 1;
                }
                if c == b'#' {
                    Kind::NameRef
                } else {
                    Kind::ValueRef
                }
            }
            b'"' | b'\'' => match bytes[i + 1..].iter().position(|&b| b == c) {
                // The shortest quoted run: DynamoDB's string rule is non-greedy.
                Some(len) => {
                    i += len + 2;
                    Kind::Text
                }
                None => {
                    i += 1;
                    Kind::Unknown
                }
            },
            _ => {
                // One character, which may be several bytes.
                i += src[i..].chars().next().map_or(1, char::len_utf8);
                Kind::Unknown
            }
        };
        tokens.push(Token { kind, start: start as u32, end: i as u32 });
    }
    tokens.push(Token { kind: Kind::Eof, start: src.len() as u32, end: src.len() as u32 });
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders tokens as `Kind:text` for compact data-driven expectations.
    fn lex(src: &str) -> String {
        tokenize(src)
            .iter()
            .map(|t| format!("{:?}:{}", t.kind, &src[t.start as usize..t.end as usize]))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn splits_like_dynamodb() {
        let cases = [
            ("a = :v", "Name:a Eq:= ValueRef::v Eof:"),
            ("a<>b<=c>=d<e>f", "Name:a Ne:<> Name:b Le:<= Name:c Ge:>= Name:d Lt:< Name:e Gt:> Name:f Eof:"),
            ("#n.b[10]", "NameRef:#n Dot:. Name:b LBracket:[ Index:10 RBracket:] Eof:"),
            ("007", "Index:0 Index:0 Index:7 Eof:"),
            ("12abc", "Index:12 Name:abc Eof:"),
            ("_x", "Unknown:_ Name:x Eof:"),
            ("set Settings sEt", "Set:set Name:Settings Set:sEt Eof:"),
            ("betweenx BETWEEN", "Name:betweenx Between:BETWEEN Eof:"),
            ("hits : incr", "Name:hits Unknown:: Name:incr Eof:"),
            ("# :", "Unknown:# Unknown:: Eof:"),
            ("\"eight\" 'x", "Text:\"eight\" Unknown:' Name:x Eof:"),
            ("a\u{a0}é", "Name:a Unknown:\u{a0} Unknown:é Eof:"),
            ("a\tb\r\nc", "Name:a Name:b Name:c Eof:"),
            (":_1 #_", "ValueRef::_1 NameRef:#_ Eof:"),
            ("a=+-", "Name:a Eq:= Plus:+ Minus:- Eof:"),
        ];
        for (src, want) in cases {
            assert_eq!(lex(src), want, "{src:?}");
        }
    }
}

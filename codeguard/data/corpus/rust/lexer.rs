//! A lexer for a small scripting language.
//!
//! The lexer works on byte offsets and produces [`Token`]s that borrow
//! from the source string.

use std::fmt;
use std::iter::Peekable;
use std::str::CharIndices;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keyword {
    Let,
    Fn,
    If,
    Else,
    While,
    Return,
    True,
    False,
}

impl Keyword {
    fn from_ident(s: &str) -> Option<Self> {
        Some(match s {
            "let" => Keyword::Let,
            "fn" => Keyword::Fn,
            "if" => Keyword::If,
            "else" => Keyword::Else,
            "while" => Keyword::While,
            "return" => Keyword::Return,
            "true" => Keyword::True,
            "false" => Keyword::False,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind<'src> {
    Ident(&'src str),
    Keyword(Keyword),
    Int(i64),
    Float(f64),
    Str(String),
    Punct(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token<'src> {
    pub kind: TokenKind<'src>,
    pub span: (usize, usize),
}

#[derive(Debug, PartialEq, Eq)]
pub enum LexError {
    UnexpectedChar { ch: char, offset: usize },
    UnterminatedString { offset: usize },
    BadNumber { text: String, offset: usize },
}

impl fmt::Display for LexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LexError::UnexpectedChar { ch, offset } => {
                write!(f, "unexpected character {ch:?} at {offset}")
            }
            LexError::UnterminatedString { offset } => {
                write!(f, "unterminated string starting at {offset}")
            }
            LexError::BadNumber { text, offset } => write!(f, "bad number `{}` at {}", text, offset),
        }
    }
}

impl std::error::Error for LexError {}

const PUNCTUATION: &[&str] = &[
    "==", "!=", "<=", ">=", "&&", "||", "->", "+", "-", "*", "/", "%", "=", "<", ">", "!", "(",
    ")", "{", "}", "[", "]", ",", ";", ":", ".",
];

pub struct Lexer<'src> {
    src: &'src str,
    chars: Peekable<CharIndices<'src>>,
}

impl<'src> Lexer<'src> {
    pub fn new(src: &'src str) -> Self {
        Lexer { src, chars: src.char_indices().peekable() }
    }

    fn skip_trivia(&mut self) {
        while let Some(&(i, c)) = self.chars.peek() {
            if c.is_whitespace() {
                self.chars.next();
            } else if self.src[i..].starts_with("//") {
                // Line comment: skip to the end of the line.
                while let Some((_, c)) = self.chars.next() {
                    if c == '\n' {
                        break;
                    }
                }
            } else {
                break;
            }
        }
    }

    /// Extend a token whose first character (at `start`) was already consumed.
    fn take_while<F: Fn(char) -> bool>(&mut self, start: usize, pred: F) -> &'src str {
        let mut end = start + self.src[start..].chars().next().map_or(0, char::len_utf8);
        while let Some(&(i, c)) = self.chars.peek() {
            if !pred(c) {
                break;
            }
            end = i + c.len_utf8();
            self.chars.next();
        }
        &self.src[start..end]
    }

    fn string(&mut self, start: usize) -> Result<Token<'src>, LexError> {
        let mut value = String::new();
        while let Some((i, c)) = self.chars.next() {
            match c {
                '"' => return Ok(Token { kind: TokenKind::Str(value), span: (start, i + 1) }),
                '\\' => match self.chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, 't')) => value.push('\t'),
                    Some((_, other)) => value.push(other),
                    None => break,
                },
                _ => value.push(c),
            }
        }
        Err(LexError::UnterminatedString { offset: start })
    }
}

impl<'src> Iterator for Lexer<'src> {
    type Item = Result<Token<'src>, LexError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.skip_trivia();
        let (start, c) = self.chars.next()?;
        let token = match c {
            '"' => return Some(self.string(start)),
            c if c.is_ascii_digit() => {
                let text = self.take_while(start, |c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
                let clean = text.replace('_', "");
                let kind = if clean.contains('.') {
                    clean.parse().map(TokenKind::Float).ok()
                } else {
                    clean.parse().map(TokenKind::Int).ok()
                };
                match kind {
                    Some(kind) => Token { kind, span: (start, start + text.len()) },
                    None => return Some(Err(LexError::BadNumber { text: text.to_owned(), offset: start })),
                }
            }
            c if c.is_alphabetic() || c == '_' => {
                let word = self.take_while(start, |c| c.is_alphanumeric() || c == '_');
                let kind = Keyword::from_ident(word).map_or(TokenKind::Ident(word), TokenKind::Keyword);
                Token { kind, span: (start, start + word.len()) }
            }
            _ => {
                let rest = &self.src[start..];
                let Some(p) = PUNCTUATION.iter().find(|p| rest.starts_with(**p)) else {
                    return Some(Err(LexError::UnexpectedChar { ch: c, offset: start }));
                };
                for _ in 1..p.len() {
                    self.chars.next();
                }
                Token { kind: TokenKind::Punct(p), span: (start, start + p.len()) }
            }
        };
        Some(Ok(token))
    }
}

/// Lex the whole input, stopping at the first error.
pub fn tokenize(src: &str) -> Result<Vec<Token<'_>>, LexError> {
    Lexer::new(src).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind<'_>> {
        tokenize(src).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn keywords_and_identifiers() {
        assert_eq!(
            kinds("let answer = 42;"),
            vec![
                TokenKind::Keyword(Keyword::Let),
                TokenKind::Ident("answer"),
                TokenKind::Punct("="),
                TokenKind::Int(42),
                TokenKind::Punct(";"),
            ]
        );
    }

    #[test]
    fn two_char_operators_win() {
        assert_eq!(kinds("a >= 1_000"), vec![
            TokenKind::Ident("a"),
            TokenKind::Punct(">="),
            TokenKind::Int(1000),
        ]);
    }

    #[test]
    fn strings_and_comments() {
        let toks = kinds("// ignored\n\"a\\tb\" 2.5");
        assert_eq!(toks, vec![TokenKind::Str("a\tb".into()), TokenKind::Float(2.5)]);
    }

    #[test]
    fn errors_report_offsets() {
        assert_eq!(tokenize("x @"), Err(LexError::UnexpectedChar { ch: '@', offset: 2 }));
        assert!(matches!(tokenize("\"open"), Err(LexError::UnterminatedString { offset: 0 })));
    }
}

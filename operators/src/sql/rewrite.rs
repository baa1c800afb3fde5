//! Token-level rewrites of the Velostream spellings into standard SQL.
//!
//! sqlparser knows standard SQL; percore also accepts the original engine's
//! spellings. They are recognised on the token stream, so every token keeps
//! its line and column for later errors:
//!
//! - `OVER (ROWS WINDOW BUFFER n ROWS ...)` becomes
//!   `OVER (... ROWS BETWEEN n-1 PRECEDING AND CURRENT ROW)`;
//! - `WINDOW TUMBLING (col, INTERVAL '1' MINUTE)` / `WINDOW TUMBLING(1m)` is
//!   cut out and returned as a [`VeloTumble`];
//! - a trailing `EMIT CHANGES` / `EMIT FINAL` is cut out and returned;
//! - `CREATE STREAM` becomes `CREATE TABLE`.

use sqlparser::tokenizer::{Span, Token, TokenWithSpan, Whitespace};

use crate::catalog::parse_duration_ms;
use crate::error::{Error, Pos, Result};
use crate::plan::Emit;

/// `WINDOW TUMBLING (...)` as written after GROUP BY.
#[derive(Clone, Debug)]
pub(crate) struct VeloTumble {
    pub column: Option<String>,
    pub size_ms: i64,
    pub pos: Pos,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Extracted {
    pub emit: Option<(Emit, Pos)>,
    pub tumble: Option<VeloTumble>,
    pub is_create_stream: bool,
}

pub(crate) fn pos_of(t: &TokenWithSpan) -> Pos {
    Pos::new(t.span.start.line, t.span.start.column)
}

fn word(t: &TokenWithSpan) -> Option<String> {
    match &t.token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    }
}

fn is_word(t: &TokenWithSpan, kw: &str) -> bool {
    word(t).as_deref() == Some(kw)
}

fn blank(t: &mut TokenWithSpan) {
    t.token = Token::Whitespace(Whitespace::Space);
}

/// Indices of the non-whitespace tokens.
fn significant(toks: &[TokenWithSpan]) -> Vec<usize> {
    toks.iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
        .map(|(i, _)| i)
        .collect()
}

/// Index into `sig` of the parenthesis closing the one at `sig[open]`.
fn matching_paren(toks: &[TokenWithSpan], sig: &[usize], open: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (k, &i) in sig.iter().enumerate().skip(open) {
        match toks[i].token {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Some(k);
                }
            }
            _ => {}
        }
    }
    None
}

fn kw(s: &str, span: Span) -> TokenWithSpan {
    TokenWithSpan::new(Token::make_keyword(s), span)
}

fn space(span: Span) -> TokenWithSpan {
    TokenWithSpan::new(Token::Whitespace(Whitespace::Space), span)
}

/// Rewrites one statement's tokens.
pub(crate) fn rewrite(mut toks: Vec<TokenWithSpan>) -> Result<(Vec<TokenWithSpan>, Extracted)> {
    let mut ex = Extracted::default();
    let sig = significant(&toks);
    let mut inserts: Vec<(usize, Vec<TokenWithSpan>)> = Vec::new();

    if sig.len() >= 2 && is_word(&toks[sig[0]], "CREATE") && is_word(&toks[sig[1]], "STREAM") {
        toks[sig[1]].token = Token::make_keyword("TABLE");
        ex.is_create_stream = true;
    }

    let mut k = 0;
    while k < sig.len() {
        let t = &toks[sig[k]];
        // OVER ( ROWS WINDOW BUFFER n ROWS ... )
        if is_word(t, "OVER")
            && sig.get(k + 3).is_some_and(|&i| is_word(&toks[i], "WINDOW"))
            && matches!(toks[sig[k + 1]].token, Token::LParen)
            && is_word(&toks[sig[k + 2]], "ROWS")
        {
            let at = pos_of(&toks[sig[k + 2]]);
            let bad = || {
                Error::sql(
                    at,
                    "expected `ROWS WINDOW BUFFER <n> ROWS` inside OVER (...)",
                )
            };
            let buffer = sig.get(k + 4).ok_or_else(bad)?;
            let num = sig.get(k + 5).ok_or_else(bad)?;
            let rows = sig.get(k + 6).ok_or_else(bad)?;
            if !is_word(&toks[*buffer], "BUFFER") || !is_word(&toks[*rows], "ROWS") {
                return Err(bad());
            }
            let n: u64 = match &toks[*num].token {
                Token::Number(s, _) => s.parse().map_err(|_| bad())?,
                _ => return Err(bad()),
            };
            if n == 0 {
                return Err(Error::sql(
                    pos_of(&toks[*num]),
                    "BUFFER needs at least 1 row",
                ));
            }
            let close = matching_paren(&toks, &sig, k + 1)
                .ok_or_else(|| Error::sql(pos_of(&toks[sig[k + 1]]), "unclosed parenthesis"))?;
            let span = toks[*buffer].span;
            for &i in &sig[k + 2..=k + 6] {
                blank(&mut toks[i]);
            }
            let frame = vec![
                space(span),
                kw("ROWS", span),
                space(span),
                kw("BETWEEN", span),
                space(span),
                TokenWithSpan::new(Token::Number((n - 1).to_string(), false), span),
                space(span),
                kw("PRECEDING", span),
                space(span),
                kw("AND", span),
                space(span),
                kw("CURRENT", span),
                space(span),
                kw("ROW", span),
                space(span),
            ];
            inserts.push((sig[close], frame));
            k += 7;
            continue;
        }
        // WINDOW TUMBLING ( ... )
        if is_word(t, "WINDOW") {
            if let Some(kind) = sig.get(k + 1).and_then(|&i| word(&toks[i])) {
                if matches!(
                    kind.as_str(),
                    "TUMBLING" | "SLIDING" | "HOPPING" | "SESSION"
                ) {
                    let pos = pos_of(t);
                    if kind != "TUMBLING" {
                        return Err(Error::sql(
                            pos,
                            format!(
                                "WINDOW {kind} is not supported; percore supports WINDOW TUMBLING"
                            ),
                        ));
                    }
                    if ex.tumble.is_some() {
                        return Err(Error::sql(pos, "only one WINDOW clause is allowed"));
                    }
                    let open = k + 2;
                    if !sig
                        .get(open)
                        .is_some_and(|&i| matches!(toks[i].token, Token::LParen))
                    {
                        return Err(Error::sql(pos, "expected `(` after WINDOW TUMBLING"));
                    }
                    let close = matching_paren(&toks, &sig, open).ok_or_else(|| {
                        Error::sql(pos, "unclosed parenthesis in WINDOW TUMBLING")
                    })?;
                    ex.tumble = Some(parse_tumble(&toks, &sig[open + 1..close], pos)?);
                    for &i in &sig[k..=close] {
                        blank(&mut toks[i]);
                    }
                    k = close + 1;
                    continue;
                }
            }
        }
        // EMIT CHANGES | EMIT FINAL, last in the statement.
        if is_word(t, "EMIT") {
            let pos = pos_of(t);
            let mode = sig.get(k + 1).and_then(|&i| word(&toks[i]));
            let emit = match mode.as_deref() {
                Some("CHANGES") => Emit::Changes,
                Some("FINAL") => Emit::Final,
                _ => return Err(Error::sql(pos, "expected EMIT CHANGES or EMIT FINAL")),
            };
            if k + 2 != sig.len() {
                return Err(Error::sql(
                    pos_of(&toks[sig[k + 2]]),
                    "EMIT CHANGES / EMIT FINAL must end the statement",
                ));
            }
            ex.emit = Some((emit, pos));
            blank(&mut toks[sig[k]]);
            blank(&mut toks[sig[k + 1]]);
            break;
        }
        k += 1;
    }
    inserts.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
    for (at, new) in inserts {
        toks.splice(at..at, new);
    }
    Ok((toks, ex))
}

/// Parses the arguments of `TUMBLING (...)`: `[column ,] size`.
fn parse_tumble(toks: &[TokenWithSpan], args: &[usize], pos: Pos) -> Result<VeloTumble> {
    let parts: Vec<&[usize]> = args
        .split(|&i| matches!(toks[i].token, Token::Comma))
        .collect();
    let (column, size) = match parts.as_slice() {
        [size] => (None, *size),
        [col, size] => match col {
            [c] => match &toks[*c].token {
                Token::Word(w) => (Some(w.value.clone()), *size),
                _ => return Err(Error::sql(pos_of(&toks[*c]), "expected a column name")),
            },
            _ => {
                return Err(Error::sql(
                    pos,
                    "expected WINDOW TUMBLING (column, size) with a plain column name",
                ))
            }
        },
        _ => return Err(Error::sql(pos, "expected WINDOW TUMBLING ([column,] size)")),
    };
    let mut text = String::new();
    for &i in size {
        match &toks[i].token {
            Token::Word(w) if w.value.eq_ignore_ascii_case("INTERVAL") => {}
            Token::Word(w) => {
                text.push(' ');
                text.push_str(&w.value);
            }
            Token::Number(n, _) => text.push_str(n),
            Token::SingleQuotedString(s) => text.push_str(s),
            other => {
                return Err(Error::sql(
                    pos_of(&toks[i]),
                    format!("unexpected `{other}` in window size"),
                ))
            }
        }
    }
    let at = size.first().map_or(pos, |&i| pos_of(&toks[i]));
    let size_ms = parse_duration_ms(&text)
        .filter(|ms| *ms > 0)
        .ok_or_else(|| {
            Error::sql(
                at,
                format!(
                    "invalid window size `{}`: use e.g. INTERVAL '1' MINUTE or 1m",
                    text.trim()
                ),
            )
        })?;
    Ok(VeloTumble {
        column,
        size_ms,
        pos,
    })
}

//! The SQL front end: a script of `CREATE STREAM` statements and one query,
//! parsed with sqlparser and planned into a [`Plan`].
//!
//! Accepted: `SELECT` with expressions, aliases, `WHERE`, `GROUP BY`,
//! `HAVING`; the aggregates `COUNT(*)`, `COUNT`, `SUM`, `AVG`, `MIN`, `MAX`;
//! the same functions `OVER` a ROWS frame; `CAST`; `WINDOW TUMBLING (...)` or
//! `TUMBLE(col, INTERVAL ...)` in GROUP BY; trailing `EMIT CHANGES` /
//! `EMIT FINAL`; and
//! `CREATE STREAM name (col TYPE, ...) WITH (path = '...', format = 'csv',
//! lateness = '5 seconds', event_time = 'col')`. Anything else is an error
//! naming the construct and its line and column.

mod aggregate;
mod bind;
mod calls;
mod literal;
mod rewrite;
mod rows;
mod select;

use sqlparser::ast::{self, Statement};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::catalog::{builtin_stream, parse_duration_ms};
use crate::error::{Error, Pos, Result};
use crate::plan::{Format, Plan, StreamDef};
use crate::types::Column;

pub use select::plan_select;

/// A parsed script: the streams it declares and its query.
pub struct Script {
    pub streams: Vec<StreamDef>,
    query: Option<(Box<ast::Query>, rewrite::Extracted)>,
}

impl Script {
    /// Plans the script's query. Streams resolve to the script's own
    /// `CREATE STREAM`s first, then to the built-in streams.
    pub fn plan(&self) -> Result<Plan> {
        let (q, ex) = self
            .query
            .as_ref()
            .ok_or_else(|| Error::sql(Pos::default(), "the SQL has no SELECT query"))?;
        select::plan_query(q, ex, &|name| self.stream(name))
    }

    /// A declared or built-in stream by name.
    pub fn stream(&self, name: &str) -> Option<StreamDef> {
        self.streams
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
            .cloned()
            .or_else(|| builtin_stream(name))
    }
}

/// Parses and plans a script in one step.
pub fn compile(sql: &str) -> Result<Plan> {
    parse(sql)?.plan()
}

/// Parses a script of `;`-separated statements.
pub fn parse(sql: &str) -> Result<Script> {
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| Error::sql(Pos::new(e.location.line, e.location.column), e.message))?;
    let mut script = Script {
        streams: Vec::new(),
        query: None,
    };
    for stmt in split_statements(tokens) {
        let first = stmt
            .iter()
            .find(|t| !matches!(t.token, Token::Whitespace(_)))
            .map(rewrite::pos_of)
            .unwrap_or_default();
        let (toks, ex) = rewrite::rewrite(stmt)?;
        let mut parser = Parser::new(&dialect).with_tokens_with_locations(toks);
        let parsed = parser.parse_statement().map_err(parser_error)?;
        let next = parser.peek_token();
        if next.token != Token::EOF {
            return Err(Error::sql(
                rewrite::pos_of(&next),
                format!("unexpected `{}` after the end of the statement", next.token),
            ));
        }
        match parsed {
            Statement::Query(q) => {
                if script.query.is_some() {
                    return Err(Error::sql(first, "only one query per script is supported"));
                }
                script.query = Some((q, ex));
            }
            Statement::CreateTable(ct) if ex.is_create_stream => {
                let def = create_stream(&ct, first)?;
                if script
                    .streams
                    .iter()
                    .any(|s| s.name.eq_ignore_ascii_case(&def.name))
                {
                    return Err(Error::sql(
                        first,
                        format!("stream `{}` is declared twice", def.name),
                    ));
                }
                script.streams.push(def);
            }
            other => {
                let kind = other.to_string();
                let kind: String = kind
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ");
                return Err(Error::sql(
                    first,
                    format!("`{kind} ...` is not supported; use CREATE STREAM and SELECT"),
                ));
            }
        }
    }
    Ok(script)
}

/// Splits tokens at top-level `;`, dropping statements with no tokens.
fn split_statements(tokens: Vec<TokenWithSpan>) -> Vec<Vec<TokenWithSpan>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut depth = 0i32;
    for t in tokens {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::SemiColon if depth <= 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            Token::EOF => continue,
            _ => {}
        }
        cur.push(t);
    }
    out.push(cur);
    out.retain(|s| s.iter().any(|t| !matches!(t.token, Token::Whitespace(_))));
    out
}

/// Turns sqlparser's "... at Line: l, Column: c" into a positioned error.
fn parser_error(e: ParserError) -> Error {
    let msg = match e {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m,
        ParserError::RecursionLimitExceeded => "expression nested too deeply".to_string(),
    };
    let num_after = |key: &str| -> Option<u64> {
        let i = msg.find(key)? + key.len();
        msg[i..]
            .trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    let pos = Pos::new(
        num_after("Line:").unwrap_or(0),
        num_after("Column:").unwrap_or(0),
    );
    let text = match msg.find(" at Line:") {
        Some(i) => msg[..i].to_string(),
        None => msg.clone(),
    };
    Error::sql(pos, text)
}

fn create_stream(ct: &ast::CreateTable, at: Pos) -> Result<StreamDef> {
    let name = ct
        .name
        .0
        .last()
        .map(|p| p.to_string().trim_matches('"').to_string())
        .unwrap_or_default();
    if ct.columns.is_empty() {
        return Err(Error::sql(
            at,
            format!("stream `{name}` needs a column list"),
        ));
    }
    let mut columns = Vec::new();
    for c in &ct.columns {
        let ty = literal::sql_type(&c.data_type, bind::ident_pos(&c.name))?;
        if columns
            .iter()
            .any(|x: &Column| x.name.eq_ignore_ascii_case(&c.name.value))
        {
            return Err(Error::sql(
                bind::ident_pos(&c.name),
                format!("column `{}` is declared twice", c.name.value),
            ));
        }
        columns.push(Column::new(c.name.value.clone(), ty));
    }
    let mut def = StreamDef {
        name,
        columns,
        path: None,
        format: None,
        lateness_ms: 0,
        event_time: None,
        kafka: None,
    };
    let mut connector: Option<(String, Pos)> = None;
    let mut kafka = crate::plan::KafkaOptions {
        settle_ms: crate::plan::KAFKA_SETTLE_MS,
        ..Default::default()
    };
    let mut kafka_key: Option<(String, Pos)> = None;
    let options = match &ct.table_options {
        ast::CreateTableOptions::None => Vec::new(),
        ast::CreateTableOptions::With(o) => o.clone(),
        _ => {
            return Err(Error::sql(
                at,
                "stream options go in WITH (key = 'value', ...)",
            ))
        }
    };
    for opt in &options {
        let ast::SqlOption::KeyValue { key, value } = opt else {
            return Err(Error::sql(
                at,
                format!("stream option `{opt}` must be key = 'value'"),
            ));
        };
        // `kafka.session.timeout.ms` parses as a dotted name: keep its text
        // (librdkafka's names are case-sensitive), quotes removed.
        let raw_key = key
            .0
            .iter()
            .map(|part| match part {
                ast::ObjectNamePart::Identifier(i) => i.value.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(".");
        let key_name = raw_key.to_ascii_lowercase();
        let p = bind::pos(value);
        let text = match value {
            ast::Expr::Value(v) => match &v.value {
                ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => s.clone(),
                other => other.to_string(),
            },
            ast::Expr::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        };
        match key_name.as_str() {
            "connector" => connector = Some((text.to_ascii_lowercase(), p)),
            k if k.starts_with("kafka.") => {
                // librdkafka's own names are case-sensitive: keep the key's text.
                kafka.set(&raw_key, &text).map_err(|m| Error::sql(p, m))?;
                kafka_key.get_or_insert((raw_key.clone(), bind::pos(key)));
            }
            "brokers" | "bootstrap_servers" | "topic" | "group_id" | "settle_ms" | "key" => {
                kafka.set(&key_name, &text).map_err(|m| Error::sql(p, m))?;
                kafka_key.get_or_insert((raw_key.clone(), bind::pos(key)));
            }
            "path" => def.path = Some(text),
            "format" => {
                def.format = Some(Format::parse(&text).ok_or_else(|| {
                    Error::sql(p, format!("unknown format '{text}'; use 'csv' or 'jsonl'"))
                })?)
            }
            "lateness" => {
                def.lateness_ms = parse_duration_ms(&text).ok_or_else(|| {
                    Error::sql(
                        p,
                        format!("invalid lateness '{text}'; use e.g. '5 seconds'"),
                    )
                })?
            }
            "event_time" | "timestamp" => {
                let hidden = crate::catalog::KAFKA_HIDDEN.iter().any(|(n, _)| *n == text);
                if def.column_index(&text).is_none() && !hidden {
                    return Err(Error::sql(
                        p,
                        format!("event_time column `{text}` is not declared"),
                    ));
                }
                def.event_time = Some(text)
            }
            other => {
                return Err(Error::sql(
                    bind::pos(key),
                    format!(
                    "unknown stream option `{other}`; known: path, format, lateness, event_time, connector (and for Kafka: brokers, topic, group_id, key, settle_ms, kafka.*)"
                ),
                ))
            }
        }
    }
    match connector {
        Some((c, _)) if c == "kafka" => {
            if let Some(m) = kafka.missing() {
                return Err(Error::sql(
                    at,
                    format!("Kafka stream `{}` needs the option {m} = '...'", def.name),
                ));
            }
            if def.path.is_some() {
                return Err(Error::sql(at, "a Kafka stream has no path"));
            }
            def.make_kafka(kafka).map_err(|m| Error::sql(at, m))?;
        }
        Some((c, p)) if c == "file" => {
            if let Some((k, kp)) = kafka_key {
                return Err(Error::sql(
                    kp,
                    format!("option `{k}` needs connector = 'kafka'"),
                ));
            }
            let _ = p;
        }
        Some((c, p)) => {
            return Err(Error::sql(
                p,
                format!("unknown connector '{c}'; use 'kafka' (or leave it out for a file)"),
            ))
        }
        None => {
            if let Some((k, kp)) = kafka_key {
                return Err(Error::sql(
                    kp,
                    format!("option `{k}` needs connector = 'kafka'"),
                ));
            }
        }
    }
    // `event_time = '_timestamp'` names a hidden column: it exists only now.
    if let Some(t) = &def.event_time {
        if def.column_index(t).is_none() {
            return Err(Error::sql(
                at,
                format!("event_time column `{t}` is not declared (the hidden `_timestamp` needs connector = 'kafka')"),
            ));
        }
    }
    if def.event_time.is_none() {
        // The first declared TIMESTAMP column (never a hidden one).
        def.event_time = def
            .data_columns()
            .iter()
            .find(|c| c.ty == crate::types::SqlType::Timestamp)
            .map(|c| c.name.clone());
    }
    Ok(def)
}

#[cfg(test)]
mod tests;

//! DynamoDB's expression language: ConditionExpression, FilterExpression,
//! KeyConditionExpression, UpdateExpression and ProjectionExpression — lexing, parsing into a
//! typed AST, placeholder resolution, evaluation against an item, applying updates, projecting
//! paths — plus the legacy parameters (`Expected`, `QueryFilter`, `ScanFilter`, `KeyConditions`,
//! `AttributeUpdates`, `AttributesToGet`) converted into the same AST.
//!
//! What it is not: it does no I/O, knows no JSON and no tables. The engine decodes requests,
//! owns the key schema and the stored items, and calls in here. Every error is a
//! `ValidationException` whose message is DynamoDB's text exactly (`MESSAGES.md` lists each with
//! its source); the caller only wraps it.
//!
//! A request's expressions share one [`Resolver`]:
//!
//! ```
//! use std::collections::HashMap;
//! use flywheel_expr::*;
//! use flywheel_types::{AttributeValue, Item};
//!
//! let values = HashMap::from([(":v".to_string(), AttributeValue::S("x".into()))]);
//! let mut resolver = Resolver::new(None, Some(&values))?;
//! let update = parse_update("SET a = :v", &mut resolver)?;
//! let condition = parse_condition("attribute_not_exists(a)", &mut resolver, ExpressionKind::Condition)?;
//! resolver.check_unused()?;
//!
//! let mut item = Item::new();
//! assert!(evaluate(&condition, Some(&item))?);
//! apply_update(&update, &mut item, &["pk"])?;
//! assert_eq!(item["a"], AttributeValue::S("x".into()));
//! # Ok::<(), ExprError>(())
//! ```
//!
//! Limits (Developer Guide, "Expression parameters"): an expression is at most 4 KB; at most 300
//! operators and functions (comparisons, BETWEEN, IN, functions, `+`, `-`; not AND/OR/NOT);
//! `IN` takes at most 100 operands including the one on its left; document paths are at most 32
//! elements deep; list indexes fit a Java int; placeholders are at most 255 bytes and all
//! substitutions of a request at most 2 MB.
//!
//! Deliberate differences in shape, not behaviour: the AST keeps no parentheses and folds
//! `NOT NOT c` into `c`; placeholders are resolved while parsing, so evaluation and updates need
//! no resolver. No input can overflow the caller's stack: long NOT/AND/OR chains are walked in
//! loops, and input nested more than 64 parentheses deep (which only pathological clients send)
//! is parsed on a scoped thread with a large stack.
//!
//! Module map: `lexer` (tokens) → `grammar` (the one grammar, raw tree) → `analyze` (DynamoDB's
//! semantic rules, typed `ast` types) → `eval`, `update`, `project`, `key`; `resolver` holds a
//! request's placeholders; `legacy` converts the pre-expression parameters; every message text
//! lives in `error`.

mod analyze;
mod ast;
mod error;
mod eval;
mod grammar;
mod key;
pub mod legacy;
mod lexer;
mod project;
mod reserved;
mod resolver;
#[cfg(test)]
mod testutil;
mod update;

pub use analyze::{IN_OPERANDS_MAX, OPERATORS_MAX, PATH_DEPTH_MAX};
pub use ast::{
    Comparator, Condition, DocumentPath, Operand, PathElement, Projection, SetAction, SetValue, UpdateClause,
    UpdateExpression, UpdateOperand, UpdateOrigin, Value, ValueAction,
};
pub use error::{ExprError, ExpressionKind};
pub use eval::evaluate;
pub use key::{key_condition, KeyCondition, SortKeyCondition};
pub use project::project_paths;
pub use resolver::{Resolver, PLACEHOLDER_BYTES_MAX, SUBSTITUTIONS_BYTES_MAX};
pub use update::{apply_update, UpdateOutcome};

use analyze::Analyzer;
use grammar::Parser;
use lexer::Token;

/// The longest expression DynamoDB accepts, in bytes of the text as sent.
pub const EXPRESSION_BYTES_MAX: usize = 4096;

/// Parentheses nest deeper than this only in pathological input (DynamoDB accepts such input
/// only up to ~800 levels of `NOT(`, and reports redundant parentheses beyond).
const NESTING_ON_CALLER_STACK_MAX: usize = 64;

/// Stack for parsing and checking pathologically nested input. Parsing recurses once per
/// parenthesis; 4 KB of text nests at most 2048 deep, and debug builds use kilobytes per level.
const DEEP_PARSE_STACK_BYTES: usize = 256 * 1024 * 1024;

/// Runs `parse` on the caller's stack, or for deeply parenthesised input on a scoped thread with a
/// stack big enough for any 4 KB expression, so that no input can overflow the caller's stack
/// (tokio workers have 2 MiB). The stack is reserved, not committed, so the cost is a thread
/// spawn, and only for input no real client sends.
fn with_stack_for<T: Send>(tokens: &[Token], parse: impl FnOnce() -> T + Send) -> T {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    for t in tokens {
        match t.kind {
            lexer::Kind::LParen => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            lexer::Kind::RParen => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest <= NESTING_ON_CALLER_STACK_MAX {
        return parse();
    }
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("flywheel-expr-deep-parse".into())
            .stack_size(DEEP_PARSE_STACK_BYTES)
            .spawn_scoped(scope, parse)
            .expect("spawning the deep-parse thread")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Checks the raw text and splits it into tokens.
fn tokens(text: &str, kind: ExpressionKind) -> Result<Vec<Token>, ExprError> {
    if text.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) {
        return Err(kind.error(error::empty_expression()));
    }
    if text.len() > EXPRESSION_BYTES_MAX {
        return Err(kind.error(error::expression_too_long(text.len())));
    }
    Ok(lexer::tokenize(text))
}

/// Parses a ConditionExpression, FilterExpression or KeyConditionExpression (`kind` says which,
/// for error messages; for a key condition, pass the result to [`key_condition`]).
pub fn parse_condition(text: &str, resolver: &mut Resolver<'_>, kind: ExpressionKind) -> Result<Condition, ExprError> {
    debug_assert!(matches!(kind, ExpressionKind::Condition | ExpressionKind::Filter | ExpressionKind::KeyCondition));
    let tokens = tokens(text, kind)?;
    with_stack_for(&tokens, || {
        let mut parser = Parser::new(text, &tokens);
        let raw = parser.condition_expression().map_err(|e| parser.syntax_error(kind, e))?;
        Analyzer::new(&parser, resolver, kind).condition(&raw)
    })
}

/// Parses an UpdateExpression.
pub fn parse_update(text: &str, resolver: &mut Resolver<'_>) -> Result<UpdateExpression, ExprError> {
    let kind = ExpressionKind::Update;
    let tokens = tokens(text, kind)?;
    with_stack_for(&tokens, || {
        let mut parser = Parser::new(text, &tokens);
        let raw = parser.update_expression().map_err(|e| parser.syntax_error(kind, e))?;
        Analyzer::new(&parser, resolver, kind).update(&raw)
    })
}

/// Parses a ProjectionExpression.
pub fn parse_projection(text: &str, resolver: &mut Resolver<'_>) -> Result<Projection, ExprError> {
    let kind = ExpressionKind::Projection;
    let tokens = tokens(text, kind)?;
    let mut parser = Parser::new(text, &tokens);
    let raw = parser.projection_expression().map_err(|e| parser.syntax_error(kind, e))?;
    Analyzer::new(&parser, resolver, kind).projection(&raw)
}

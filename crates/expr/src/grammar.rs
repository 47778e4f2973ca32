//! The whole expression grammar, one recursive-descent parser for all five expression kinds.
//!
//! It mirrors DynamoDB's own grammar (the ANTLR grammar AWS ships in its DAX client):
//!
//! ```text
//! projection  := path (',' path)*
//! condition   := operand comparator operand
//!              | operand BETWEEN operand AND operand
//!              | operand IN '(' operand (',' operand)* ')'
//!              | function
//!              | '(' condition ')'
//!              | NOT condition                      -- binds tighter than AND
//!              | condition AND condition            -- right-associative, tighter than OR
//!              | condition OR condition             -- right-associative
//! update      := (SET set_action (',' set_action)*
//!              |  REMOVE path (',' path)*
//!              |  ADD path :value (',' path :value)*
//!              |  DELETE path :value (',' path :value)*)+
//! set_action  := path '=' (operand | arithmetic)
//! arithmetic  := operand ('+' | '-') operand | '(' arithmetic ')'
//! operand     := path | :value | name '(' operand (',' operand)* ')' | '(' operand ')'
//! path        := (name | #name) ('.' (name | #name) | '[' index ']')*
//! ```
//!
//! The output is a raw tree that still holds token positions and parentheses; `analyze` turns it
//! into the typed AST and applies the semantic rules. Syntax errors are reported at the token where
//! the input stops being a prefix of any valid expression, which is where DynamoDB's parser
//! reports them. The grammar is ambiguous at `(` in a condition (a parenthesised condition, or a
//! parenthesised operand about to be compared); rather than backtrack, the parser accepts both
//! inside the parentheses and decides at the closing one.

use crate::error::{self, ExprError, ExpressionKind};
use crate::lexer::{Kind, Token};

/// Index of a token in the token vector.
pub(crate) type Tok = usize;

#[derive(Debug)]
pub(crate) enum RawStep {
    Name(Tok),
    NameRef(Tok),
    Index(Tok),
}

#[derive(Debug)]
pub(crate) struct RawPath {
    pub steps: Vec<RawStep>,
}

#[derive(Debug)]
pub(crate) struct RawCall {
    pub name: Tok,
    pub args: Vec<RawOperand>,
}

#[derive(Debug)]
pub(crate) enum RawOperand {
    Path(RawPath),
    Value(Tok),
    Call(RawCall),
    /// `( operand )`, kept so that redundant parentheses can be reported.
    Paren(Box<RawOperand>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RawComparator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug)]
pub(crate) enum RawCondition {
    Compare(RawComparator, RawOperand, RawOperand),
    Between(RawOperand, RawOperand, RawOperand),
    In(RawOperand, Vec<RawOperand>),
    Call(RawCall),
    Paren(Box<RawCondition>),
    Not(Box<RawCondition>),
    And(Box<RawCondition>, Box<RawCondition>),
    Or(Box<RawCondition>, Box<RawCondition>),
}

#[derive(Debug)]
pub(crate) enum RawArithmetic {
    Plus(RawOperand, RawOperand),
    Minus(RawOperand, RawOperand),
    Paren(Box<RawArithmetic>),
}

#[derive(Debug)]
pub(crate) enum RawSetValue {
    Operand(RawOperand),
    Arithmetic(RawArithmetic),
}

#[derive(Debug)]
pub(crate) enum RawSection {
    Set(Vec<(RawPath, RawSetValue)>),
    Remove(Vec<RawPath>),
    Add(Vec<(RawPath, Tok)>),
    Delete(Vec<(RawPath, Tok)>),
}

/// What a parenthesised or bare item in condition position turned out to be.
enum Item {
    Condition(RawCondition),
    Operand(RawOperand),
}

/// What a parenthesised item on the right of `SET path =` turned out to be.
enum SetItem {
    Operand(RawOperand),
    Arithmetic(RawArithmetic),
}

/// A syntax error at a token.
pub(crate) struct SyntaxError(pub Tok);

type Parse<T> = Result<T, SyntaxError>;

pub(crate) struct Parser<'a> {
    pub src: &'a str,
    pub tokens: &'a [Token],
    pos: Tok,
}

impl<'a> Parser<'a> {
    pub fn new(src: &'a str, tokens: &'a [Token]) -> Parser<'a> {
        Parser { src, tokens, pos: 0 }
    }

    pub fn text(&self, tok: Tok) -> &'a str {
        let t = self.tokens[tok];
        &self.src[t.start as usize..t.end as usize]
    }

    fn peek(&self) -> Kind {
        self.tokens[self.pos].kind
    }

    fn peek_at(&self, offset: usize) -> Kind {
        self.tokens.get(self.pos + offset).map_or(Kind::Eof, |t| t.kind)
    }

    fn bump(&mut self) -> Tok {
        let t = self.pos;
        if self.tokens[t].kind != Kind::Eof {
            self.pos += 1;
        }
        t
    }

    fn fail<T>(&self) -> Parse<T> {
        Err(SyntaxError(self.pos))
    }

    fn expect(&mut self, kind: Kind) -> Parse<Tok> {
        if self.peek() == kind {
            Ok(self.bump())
        } else {
            self.fail()
        }
    }

    fn eat(&mut self, kind: Kind) -> bool {
        if self.peek() == kind {
            self.bump();
            true
        } else {
            false
        }
    }

    /// DynamoDB's message for a syntax error: the token, and the source from the token before it to
    /// the token after it (`near`).
    pub fn syntax_error(&self, kind: ExpressionKind, SyntaxError(at): SyntaxError) -> ExprError {
        let token = match self.tokens[at].kind {
            Kind::Eof => "<EOF>",
            _ => self.text(at),
        };
        let start = if at > 0 { self.tokens[at - 1].start } else { self.tokens[at].start } as usize;
        let end = match self.tokens.get(at + 1) {
            Some(next) => next.end,
            None => self.tokens[at].end,
        } as usize;
        kind.error(error::syntax_error(token, &self.src[start..end]))
    }

    // ---- paths and operands ----

    fn path(&mut self) -> Parse<RawPath> {
        let mut steps = vec![self.path_key()?];
        loop {
            match self.peek() {
                Kind::Dot => {
                    self.bump();
                    steps.push(self.path_key()?);
                }
                Kind::LBracket => {
                    self.bump();
                    let index = self.expect(Kind::Index)?;
                    self.expect(Kind::RBracket)?;
                    steps.push(RawStep::Index(index));
                }
                _ => return Ok(RawPath { steps }),
            }
        }
    }

    fn path_key(&mut self) -> Parse<RawStep> {
        match self.peek() {
            Kind::Name => Ok(RawStep::Name(self.bump())),
            Kind::NameRef => Ok(RawStep::NameRef(self.bump())),
            _ => self.fail(),
        }
    }

    /// An operand that does not start with `(`.
    fn plain_operand(&mut self) -> Parse<RawOperand> {
        match self.peek() {
            Kind::Name if self.peek_at(1) == Kind::LParen => Ok(RawOperand::Call(self.call()?)),
            Kind::Name | Kind::NameRef => Ok(RawOperand::Path(self.path()?)),
            Kind::ValueRef => Ok(RawOperand::Value(self.bump())),
            _ => self.fail(),
        }
    }

    /// `operand`, strictly: no condition or arithmetic may hide inside its parentheses.
    fn operand(&mut self) -> Parse<RawOperand> {
        if self.eat(Kind::LParen) {
            let inner = self.operand()?;
            self.expect(Kind::RParen)?;
            Ok(RawOperand::Paren(Box::new(inner)))
        } else {
            self.plain_operand()
        }
    }

    fn call(&mut self) -> Parse<RawCall> {
        let name = self.bump();
        self.expect(Kind::LParen)?;
        let mut args = vec![self.operand()?];
        while self.eat(Kind::Comma) {
            args.push(self.operand()?);
        }
        self.expect(Kind::RParen)?;
        Ok(RawCall { name, args })
    }

    // ---- conditions ----

    /// A whole condition expression.
    pub fn condition_expression(&mut self) -> Parse<RawCondition> {
        let cond = match self.condition(false)? {
            Item::Condition(c) => c,
            // Only possible inside parentheses.
            Item::Operand(_) => unreachable!("bare operand outside parentheses"),
        };
        self.expect(Kind::Eof)?;
        Ok(cond)
    }

    /// `condition`, with NOT/AND/OR precedence climbed iteratively (deep `NOT NOT …` and long
    /// AND chains must not exhaust the stack). With `in_parens`, the item may turn out to be an
    /// operand (`(a)` in `(a) = :v`); that is only possible when it is followed by `)`.
    fn condition(&mut self, in_parens: bool) -> Parse<Item> {
        // Operands of OR, each an AND chain; each AND chain a list of NOT-prefixed primaries.
        let mut ors: Vec<RawCondition> = Vec::new();
        let mut ands: Vec<RawCondition> = Vec::new();
        loop {
            let mut nots = 0usize;
            while self.eat(Kind::Not) {
                nots += 1;
            }
            let lone = nots == 0 && ands.is_empty() && ors.is_empty();
            let mut cond = match self.primary(in_parens && lone)? {
                Item::Condition(c) => c,
                Item::Operand(o) => return Ok(Item::Operand(o)),
            };
            for _ in 0..nots {
                cond = RawCondition::Not(Box::new(cond));
            }
            ands.push(cond);
            if self.eat(Kind::And) {
                continue;
            }
            ors.push(fold_right(std::mem::take(&mut ands), RawCondition::And));
            if self.eat(Kind::Or) {
                continue;
            }
            return Ok(Item::Condition(fold_right(ors, RawCondition::Or)));
        }
    }

    /// One comparison, function condition or parenthesised item.
    fn primary(&mut self, may_be_operand: bool) -> Parse<Item> {
        let left = if self.eat(Kind::LParen) {
            let inner = self.condition(true)?;
            self.expect(Kind::RParen)?;
            match inner {
                Item::Condition(c) => Item::Condition(RawCondition::Paren(Box::new(c))),
                Item::Operand(o) => Item::Operand(RawOperand::Paren(Box::new(o))),
            }
        } else {
            Item::Operand(self.plain_operand()?)
        };
        let left = match left {
            Item::Condition(c) => {
                // `(condition)` cannot be compared: DynamoDB fails at the comparator.
                return match self.peek() {
                    Kind::Eq | Kind::Ne | Kind::Lt | Kind::Le | Kind::Gt | Kind::Ge | Kind::Between | Kind::In => {
                        self.fail()
                    }
                    _ => Ok(Item::Condition(c)),
                };
            }
            Item::Operand(o) => o,
        };
        let comparator = match self.peek() {
            Kind::Eq => Some(RawComparator::Eq),
            Kind::Ne => Some(RawComparator::Ne),
            Kind::Lt => Some(RawComparator::Lt),
            Kind::Le => Some(RawComparator::Le),
            Kind::Gt => Some(RawComparator::Gt),
            Kind::Ge => Some(RawComparator::Ge),
            _ => None,
        };
        if let Some(op) = comparator {
            self.bump();
            let right = self.operand()?;
            return Ok(Item::Condition(RawCondition::Compare(op, left, right)));
        }
        if self.eat(Kind::Between) {
            let lower = self.operand()?;
            self.expect(Kind::And)?;
            let upper = self.operand()?;
            return Ok(Item::Condition(RawCondition::Between(left, lower, upper)));
        }
        if self.eat(Kind::In) {
            self.expect(Kind::LParen)?;
            let mut list = vec![self.operand()?];
            while self.eat(Kind::Comma) {
                list.push(self.operand()?);
            }
            self.expect(Kind::RParen)?;
            return Ok(Item::Condition(RawCondition::In(left, list)));
        }
        // Not compared: acceptable only as a function condition, possibly parenthesised, or as an
        // operand that the enclosing parentheses will compare.
        if may_be_operand && self.peek() == Kind::RParen {
            return Ok(Item::Operand(left));
        }
        match call_to_condition(left) {
            Some(c) => Ok(Item::Condition(c)),
            None => self.fail(),
        }
    }

    // ---- updates ----

    pub fn update_expression(&mut self) -> Parse<Vec<RawSection>> {
        let mut sections = Vec::new();
        loop {
            let section = match self.peek() {
                Kind::Set => {
                    self.bump();
                    RawSection::Set(self.list(Self::set_action)?)
                }
                Kind::Remove => {
                    self.bump();
                    RawSection::Remove(self.list(Self::path)?)
                }
                Kind::Add => {
                    self.bump();
                    RawSection::Add(self.list(Self::value_action)?)
                }
                Kind::Delete => {
                    self.bump();
                    RawSection::Delete(self.list(Self::value_action)?)
                }
                _ if !sections.is_empty() && self.peek() == Kind::Eof => return Ok(sections),
                _ => return self.fail(),
            };
            sections.push(section);
        }
    }

    fn list<T>(&mut self, item: fn(&mut Self) -> Parse<T>) -> Parse<Vec<T>> {
        let mut items = vec![item(self)?];
        while self.eat(Kind::Comma) {
            items.push(item(self)?);
        }
        Ok(items)
    }

    fn value_action(&mut self) -> Parse<(RawPath, Tok)> {
        let path = self.path()?;
        let value = self.expect(Kind::ValueRef)?;
        Ok((path, value))
    }

    fn set_action(&mut self) -> Parse<(RawPath, RawSetValue)> {
        let path = self.path()?;
        self.expect(Kind::Eq)?;
        let value = match self.set_item()? {
            SetItem::Operand(o) => RawSetValue::Operand(o),
            SetItem::Arithmetic(a) => RawSetValue::Arithmetic(a),
        };
        Ok((path, value))
    }

    /// `operand | arithmetic`, deciding a parenthesised item by its content.
    fn set_item(&mut self) -> Parse<SetItem> {
        let left = if self.eat(Kind::LParen) {
            let inner = self.set_item()?;
            self.expect(Kind::RParen)?;
            match inner {
                SetItem::Operand(o) => RawOperand::Paren(Box::new(o)),
                SetItem::Arithmetic(a) => {
                    // An arithmetic result cannot be an operand of further arithmetic.
                    if matches!(self.peek(), Kind::Plus | Kind::Minus) {
                        return self.fail();
                    }
                    return Ok(SetItem::Arithmetic(RawArithmetic::Paren(Box::new(a))));
                }
            }
        } else {
            self.plain_operand()?
        };
        match self.peek() {
            Kind::Plus => {
                self.bump();
                Ok(SetItem::Arithmetic(RawArithmetic::Plus(left, self.operand()?)))
            }
            Kind::Minus => {
                self.bump();
                Ok(SetItem::Arithmetic(RawArithmetic::Minus(left, self.operand()?)))
            }
            _ => Ok(SetItem::Operand(left)),
        }
    }

    // ---- projections ----

    pub fn projection_expression(&mut self) -> Parse<Vec<RawPath>> {
        let paths = self.list(Self::path)?;
        self.expect(Kind::Eof)?;
        Ok(paths)
    }
}

/// An uncompared operand that is a function call (possibly parenthesised) is a function
/// condition; anything else is not a condition.
fn call_to_condition(operand: RawOperand) -> Option<RawCondition> {
    match operand {
        RawOperand::Call(call) => Some(RawCondition::Call(call)),
        RawOperand::Paren(inner) => call_to_condition(*inner).map(|c| RawCondition::Paren(Box::new(c))),
        RawOperand::Path(_) | RawOperand::Value(_) => None,
    }
}

/// Builds `a op (b op (c …))` from `[a, b, c, …]`: AND and OR are right-associative.
fn fold_right(
    mut items: Vec<RawCondition>,
    join: fn(Box<RawCondition>, Box<RawCondition>) -> RawCondition,
) -> RawCondition {
    let mut acc = items.pop().expect("at least one operand");
    while let Some(prev) = items.pop() {
        acc = join(Box::new(prev), Box::new(acc));
    }
    acc
}

#[cfg(test)]
mod tests {
    use crate::testutil::parse_outcome;
    use crate::ExpressionKind::{self, Condition as C, Projection as P, Update as U};

    /// Each case: kind, input, and the printed parse or DynamoDB's message.
    fn check(cases: &[(ExpressionKind, &str, &str)]) {
        for (kind, src, want) in cases {
            assert_eq!(parse_outcome(*kind, src), *want, "{kind:?} {src:?}");
        }
    }

    #[test]
    fn syntax_errors_quote_the_token_and_its_neighbours() {
        let e = "Invalid ConditionExpression: Syntax error; ";
        let u = "Invalid UpdateExpression: Syntax error; ";
        let p = "Invalid ProjectionExpression: Syntax error; ";
        check(&[
            // Captured from DynamoDB.
            (C, "foo", &format!("{e}token: \"<EOF>\", near: \"foo\"")),
            (C, "attribute_not_exists(", &format!("{e}token: \"<EOF>\", near: \"(\"")),
            (C, "expiresAt > now()", &format!("{e}token: \")\", near: \"()\"")),
            (U, "INVALID SYNTAX HERE", &format!("{u}token: \"INVALID\", near: \"INVALID SYNTAX\"")),
            (U, "ADD hits : incr", &format!("{u}token: \":\", near: \"hits : incr\"")),
            // Derived from DynamoDB's grammar and the same rule for `near`.
            (C, "a = = :s", &format!("{e}token: \"=\", near: \"= = :s\"")),
            (C, "_hidden = :s", &format!("{e}token: \"_\", near: \"_hidden\"")),
            (C, "a = :s)", &format!("{e}token: \")\", near: \":s)\"")),
            (C, "a IN ()", &format!("{e}token: \")\", near: \"()\"")),
            (C, "a = 5", &format!("{e}token: \"5\", near: \"= 5\"")),
            (C, "a b", &format!("{e}token: \"b\", near: \"a b\"")),
            (C, "a = :s AND", &format!("{e}token: \"<EOF>\", near: \"AND\"")),
            (C, "a = :s AND  ", &format!("{e}token: \"<EOF>\", near: \"AND  \"")),
            (C, "NOT", &format!("{e}token: \"<EOF>\", near: \"NOT\"")),
            (C, "a BETWEEN :s :t", &format!("{e}token: \":t\", near: \":s :t\"")),
            (C, "a = \"x\"", &format!("{e}token: \"\"x\"\", near: \"= \"x\"\"")),
            (C, "a[-1] = :s", &format!("{e}token: \"-\", near: \"[-1\"")),
            (C, "a[01] = :s", &format!("{e}token: \"1\", near: \"01]\"")),
            (C, "a.:s = :t", &format!("{e}token: \":s\", near: \".:s =\"")),
            (C, "(a) foo", &format!("{e}token: \"foo\", near: \") foo\"")),
            (C, "(a)", &format!("{e}token: \"<EOF>\", near: \")\"")),
            (C, "((a)) AND b = :s", &format!("{e}token: \"AND\", near: \") AND b\"")),
            (C, "(a = :s) = :t", &format!("{e}token: \"=\", near: \") = :t\"")),
            (C, "a = (b = :s)", &format!("{e}token: \"=\", near: \"b = :s\"")),
            (C, "(a AND b = :s)", &format!("{e}token: \"AND\", near: \"a AND b\"")),
            (C, "(a = :s AND b)", &format!("{e}token: \")\", near: \"b)\"")),
            (C, "NOT (a)", &format!("{e}token: \"<EOF>\", near: \")\"")),
            (C, "a = :s OR OR b = :s", &format!("{e}token: \"OR\", near: \"OR OR b\"")),
            (C, "a = (:s)) ", &format!("{e}token: \")\", near: \")) \"")),
            (C, "(a) = :s \u{e9}", &format!("{e}token: \"\u{e9}\", near: \":s \u{e9}\"")),
            (U, "SET a =", &format!("{u}token: \"<EOF>\", near: \"=\"")),
            (U, "set a", &format!("{u}token: \"<EOF>\", near: \"a\"")),
            (U, "set a=set", &format!("{u}token: \"set\", near: \"=set\"")),
            (U, "remove a = b", &format!("{u}token: \"=\", near: \"a = b\"")),
            (U, "delete a b", &format!("{u}token: \"b\", near: \"a b\"")),
            (U, "add abort b", &format!("{u}token: \"b\", near: \"abort b\"")),
            (U, "SET a = b + c + d", &format!("{u}token: \"+\", near: \"c + d\"")),
            (U, "set a = b / c", &format!("{u}token: \"/\", near: \"b / c\"")),
            (U, "set a = (b.c).d + e", &format!("{u}token: \".\", near: \").d\"")),
            (U, "SET a = (b + c) + d", &format!("{u}token: \"+\", near: \") + d\"")),
            (U, "SET if_not_exist(a, b) = a", &format!("{u}token: \"(\", near: \"if_not_exist(a\"")),
            (U, "set :a = b", &format!("{u}token: \":a\", near: \"set :a =\"")),
            (U, "SET a = b,", &format!("{u}token: \"<EOF>\", near: \",\"")),
            (U, "set (a = (b + c))", &format!("{u}token: \"(\", near: \"set (a\"")),
            (U, "SET a = list_append(a, b + c)", &format!("{u}token: \"+\", near: \"b + c\"")),
            (U, "SET a = if_not_exists()", &format!("{u}token: \")\", near: \"()\"")),
            (P, "a,,b", &format!("{p}token: \",\", near: \",,b\"")),
            (P, "a b", &format!("{p}token: \"b\", near: \"a b\"")),
            (P, "a.", &format!("{p}token: \"<EOF>\", near: \".\"")),
            (P, "a[1", &format!("{p}token: \"<EOF>\", near: \"1\"")),
            (P, "size(a)", &format!("{p}token: \"(\", near: \"size(a\"")),
        ]);
    }

    #[test]
    fn parses_and_prints_canonically() {
        check(&[
            (C, "a=:s", "a = :s"),
            (C, "a < b AND b < c OR NOT c = :s", "a < b AND b < c OR NOT c = :s"),
            (C, "(a = :s OR b = :s) AND c = :s", "(a = :s OR b = :s) AND c = :s"),
            (C, "NOT (a = :s AND b = :t)", "NOT (a = :s AND b = :t)"),
            (C, "NOT NOT a = :s", "a = :s"),
            (C, "NOT NOT NOT a = :s", "NOT a = :s"),
            (C, "NOT (NOT a = :s)", "a = :s"),
            (C, "(a = :s AND b = :s) AND c = :s", "(a = :s AND b = :s) AND c = :s"),
            (C, "a = :s AND (b = :s AND c = :s)", "a = :s AND b = :s AND c = :s"),
            (C, "a IN (:s,:t)", "a IN (:s, :t)"),
            (C, "(a) = :s", "a = :s"),
            (C, "((a) = :s)", "a = :s"),
            (C, "(attribute_exists(a))", "attribute_exists(a)"),
            (C, "(size(a)) > :n", "size(a) > :n"),
            (C, "#a.b[2].#c <> :s", "#a.b[2].#c <> :s"),
            (C, "a . b [ 2 ] = :s", "a.b[2] = :s"),
            (C, "size(a) >= :n", "size(a) >= :n"),
            (C, "a BETWEEN :n AND :m AND b = :s", "a BETWEEN :n AND :m AND b = :s"),
            (C, "attribute_exists (a) and NoT b In (:s)", "attribute_exists(a) AND NOT b IN (:s)"),
            (C, "begins_with(:s, a)", "begins_with(:s, a)"),
            (C, "contains(a, :n) OR attribute_type(b, :SS)", "contains(a, :n) OR attribute_type(b, :SS)"),
            (C, "\ta\r\n=\n:s ", "a = :s"),
            (
                U,
                "set a = :s, b = b + :n remove c, d[1] ADD e :n delete f :ss",
                "SET a = :s, b = b + :n REMOVE c, d[1] ADD e :n DELETE f :ss",
            ),
            (U, "REMOVE a SET b = :s", "REMOVE a SET b = :s"),
            (U, "SET a = (b + :n)", "SET a = b + :n"),
            (U, "SET a = if_not_exists(a, :n) - (:m)", "SET a = if_not_exists(a, :n) - :m"),
            (U, "SET a = list_append(:l, a)", "SET a = list_append(:l, a)"),
            (U, "SET a = (b.c)", "SET a = b.c"),
            (U, "set b.c=((c[1])+(b.a))", "SET b.c = c[1] + b.a"),
            (P, "a, b.c, d[0]", "a, b.c, d[0]"),
            (P, "#s,#a[1]", "#s, #a[1]"),
        ]);
    }
}

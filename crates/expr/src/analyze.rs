//! Turns the raw parse tree into the typed AST, resolving placeholders and applying DynamoDB's
//! semantic rules (reserved words, function names and arity, operand types known at parse time,
//! overlapping update paths, limits).
//!
//! DynamoDB reports one error per request, and when an expression has several problems, which one
//! it reports follows a fixed order of categories, not their position in the text. Each category
//! here keeps its first occurrence in source order; at the end the highest-ranked category wins.
//! The ranking per expression kind follows DynamoDB's observed behaviour (see MESSAGES.md).

use flywheel_types::{AttributeValue, ValueType};

use crate::ast::*;
use crate::error::{self, ExprError, ExpressionKind};
use crate::grammar::{
    Parser, RawArithmetic, RawCall, RawComparator, RawCondition, RawOperand, RawPath, RawSection, RawSetValue, RawStep,
    Tok,
};
use crate::reserved::is_reserved;
use crate::resolver::Resolver;

/// "The maximum number of operators or functions allowed in an expression is 300". Comparators,
/// BETWEEN, IN, functions and `+`/`-` count; AND, OR and NOT do not.
pub const OPERATORS_MAX: usize = 300;

/// `IN` takes at most 100 operands, the left-hand one included.
pub const IN_OPERANDS_MAX: usize = 100;

/// A document path has at most 32 elements ("The maximum depth for a document path is 32").
pub const PATH_DEPTH_MAX: usize = 32;

/// List indexes are Java ints in DynamoDB.
const LIST_INDEX_MAX: u64 = i32::MAX as u64;

/// Error categories, in no particular order; each kind ranks them in `RANK_*`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Category {
    Parens,
    UnknownFunction,
    MisusedFunction,
    Reserved,
    Operators,
    /// Conditions: the first comparison or function (in source order) with any problem.
    Leaf,
    Section,
    Name,
    Value,
    PathLimit,
    Overlap,
    Conflict,
    ActionOperand,
    Function,
}

const RANK_CONDITION: &[Category] = &[
    Category::Parens,
    Category::UnknownFunction,
    Category::MisusedFunction,
    Category::Reserved,
    Category::Operators,
    Category::Leaf,
];

const RANK_UPDATE: &[Category] = &[
    Category::Parens,
    Category::Reserved,
    Category::UnknownFunction,
    Category::Section,
    Category::Operators,
    Category::Name,
    Category::Value,
    Category::PathLimit,
    Category::Overlap,
    Category::Conflict,
    Category::ActionOperand,
    Category::Function,
];

const RANK_PROJECTION: &[Category] =
    &[Category::Reserved, Category::Name, Category::PathLimit, Category::Overlap, Category::Conflict];

/// Problems found inside one comparison or function condition, ranked as DynamoDB ranks them.
#[derive(Default)]
struct LeafErrors {
    /// Undefined placeholders and path limits, first in source order.
    reference: Option<String>,
    /// Operand counts.
    count: Option<String>,
    /// `a = a` and similar.
    distinct: Option<String>,
    /// Operand types known at parse time, attribute type names, BETWEEN bounds.
    types: Option<String>,
}

impl LeafErrors {
    fn first(self) -> Option<String> {
        self.reference.or(self.count).or(self.distinct).or(self.types)
    }
}

fn set_once(slot: &mut Option<String>, message: String) {
    if slot.is_none() {
        *slot = Some(message);
    }
}

pub(crate) struct Analyzer<'p, 'r, 'a> {
    parser: &'p Parser<'p>,
    resolver: &'r mut Resolver<'a>,
    kind: ExpressionKind,
    found: Vec<(Category, String)>,
    operators: usize,
}

/// Where a path's problems go: conditions rank them per leaf, updates and projections globally.
enum Sink<'l> {
    Leaf(&'l mut LeafErrors),
    Global,
}

impl<'p, 'r, 'a> Analyzer<'p, 'r, 'a> {
    pub fn new(parser: &'p Parser<'p>, resolver: &'r mut Resolver<'a>, kind: ExpressionKind) -> Self {
        Analyzer { parser, resolver, kind, found: Vec::new(), operators: 0 }
    }

    fn report(&mut self, category: Category, message: String) {
        if !self.found.iter().any(|(c, _)| *c == category) {
            self.found.push((category, message));
        }
    }

    fn count_operator(&mut self) {
        self.operators += 1;
        if self.operators == OPERATORS_MAX + 1 {
            // DynamoDB stops counting at the first operator over the limit.
            self.report(Category::Operators, error::too_many_operators(self.operators));
        }
    }

    fn finish<T>(self, value: T, rank: &[Category]) -> Result<T, ExprError> {
        for category in rank {
            if let Some((_, message)) = self.found.iter().find(|(c, _)| c == category) {
                return Err(self.kind.error(message));
            }
        }
        debug_assert!(self.found.is_empty(), "an error category missing from the ranking");
        Ok(value)
    }

    fn text(&self, tok: Tok) -> &'p str {
        self.parser.text(tok)
    }

    // ---- paths and values ----

    fn path(&mut self, raw: &RawPath, mut sink: Sink<'_>) -> DocumentPath {
        let mut elements = Vec::with_capacity(raw.steps.len());
        let mut problem: Option<(Category, String)> = None;
        for step in &raw.steps {
            match *step {
                RawStep::Name(tok) => {
                    let name = self.text(tok);
                    if is_reserved(name) {
                        self.report(Category::Reserved, error::reserved_keyword(name));
                    }
                    elements.push(PathElement::key(name));
                }
                RawStep::NameRef(tok) => {
                    let placeholder = self.text(tok);
                    let name = match self.resolver.name(placeholder) {
                        Some(name) => name.to_string(),
                        None => {
                            if problem.is_none() {
                                problem = Some((Category::Name, error::undefined_name(placeholder)));
                            }
                            placeholder.to_string()
                        }
                    };
                    elements.push(PathElement::Key { name, placeholder: Some(placeholder.to_string()) });
                }
                RawStep::Index(tok) => {
                    // At most 4096 digits: parse saturating rather than fail.
                    let index = self
                        .text(tok)
                        .bytes()
                        .fold(0u64, |acc, d| acc.saturating_mul(10).saturating_add(u64::from(d - b'0')));
                    if index > LIST_INDEX_MAX && problem.is_none() {
                        problem = Some((Category::PathLimit, error::list_index_out_of_range()));
                    }
                    elements.push(PathElement::Index(index.min(LIST_INDEX_MAX) as u32));
                }
            }
        }
        if elements.len() > PATH_DEPTH_MAX && problem.is_none() {
            problem = Some((Category::PathLimit, error::path_too_deep(elements.len())));
        }
        if let Some((category, message)) = problem {
            match sink {
                Sink::Leaf(ref mut leaf) => set_once(&mut leaf.reference, message),
                Sink::Global => self.report(category, message),
            }
        }
        DocumentPath { elements }
    }

    fn value(&mut self, tok: Tok, sink: Sink<'_>) -> Value {
        let placeholder = self.text(tok);
        let value = match self.resolver.value(placeholder) {
            Some(v) => v.clone(),
            None => {
                let message = error::undefined_value(placeholder);
                match sink {
                    Sink::Leaf(leaf) => set_once(&mut leaf.reference, message),
                    Sink::Global => self.report(Category::Value, message),
                }
                AttributeValue::Null
            }
        };
        Value { placeholder: placeholder.to_string(), value }
    }

    /// Strips parentheses around an operand, reporting `((x))`.
    fn unwrap_parens<'o>(&mut self, mut raw: &'o RawOperand) -> &'o RawOperand {
        while let RawOperand::Paren(inner) = raw {
            if matches!(**inner, RawOperand::Paren(_)) {
                self.report(Category::Parens, error::redundant_parentheses());
            }
            raw = inner;
        }
        raw
    }

    // ---- conditions ----

    pub fn condition(mut self, raw: &RawCondition) -> Result<Condition, ExprError> {
        let cond = self.lower_condition(raw);
        self.finish(cond, RANK_CONDITION)
    }

    /// Recursion here follows parentheses only: NOT chains and AND/OR chains (which nest to the
    /// right) are walked in loops, so long chains cannot exhaust the stack.
    fn lower_condition(&mut self, raw: &RawCondition) -> Condition {
        match raw {
            RawCondition::Paren(inner) => {
                if matches!(**inner, RawCondition::Paren(_)) {
                    self.report(Category::Parens, error::redundant_parentheses());
                }
                self.lower_condition(inner)
            }
            RawCondition::Not(_) => {
                let mut nots = 0;
                let mut inner = raw;
                loop {
                    match inner {
                        RawCondition::Not(next) => {
                            nots += 1;
                            inner = next;
                        }
                        RawCondition::Paren(next)
                            if matches!(**next, RawCondition::Not(_) | RawCondition::Paren(_)) =>
                        {
                            if matches!(**next, RawCondition::Paren(_)) {
                                self.report(Category::Parens, error::redundant_parentheses());
                            }
                            inner = next;
                        }
                        _ => break,
                    }
                }
                // `NOT NOT c` is `c`. Keeping only the parity keeps trees shallow: 4 KB of `NOT`
                // would otherwise nest a thousand deep.
                let cond = self.lower_condition(inner);
                if nots % 2 == 1 {
                    Condition::Not(Box::new(cond))
                } else {
                    cond
                }
            }
            RawCondition::And(..) | RawCondition::Or(..) => {
                let is_and = matches!(raw, RawCondition::And(..));
                let mut operands = Vec::new();
                let mut rest = raw;
                loop {
                    match rest {
                        RawCondition::And(l, r) if is_and => {
                            operands.push(self.lower_condition(l));
                            rest = r;
                        }
                        RawCondition::Or(l, r) if !is_and => {
                            operands.push(self.lower_condition(l));
                            rest = r;
                        }
                        _ => break,
                    }
                }
                let mut cond = self.lower_condition(rest);
                while let Some(left) = operands.pop() {
                    cond = if is_and {
                        Condition::And(Box::new(left), Box::new(cond))
                    } else {
                        Condition::Or(Box::new(left), Box::new(cond))
                    };
                }
                cond
            }
            _ => self.lower_leaf(raw),
        }
    }

    /// A comparison or function condition. Kept out of `lower_condition` so that its large
    /// frame is not part of every level of recursion.
    #[inline(never)]
    fn lower_leaf(&mut self, raw: &RawCondition) -> Condition {
        match raw {
            RawCondition::Compare(op, l, r) => {
                self.count_operator();
                let op = match op {
                    RawComparator::Eq => Comparator::Eq,
                    RawComparator::Ne => Comparator::Ne,
                    RawComparator::Lt => Comparator::Lt,
                    RawComparator::Le => Comparator::Le,
                    RawComparator::Gt => Comparator::Gt,
                    RawComparator::Ge => Comparator::Ge,
                };
                let mut leaf = LeafErrors::default();
                let left = self.operand(l, &mut leaf);
                let right = self.operand(r, &mut leaf);
                check_distinct(op.symbol(), &left, &right, &mut leaf);
                if !matches!(op, Comparator::Eq | Comparator::Ne) {
                    for o in [&left, &right] {
                        check_orderable(op.symbol(), o, &mut leaf);
                    }
                }
                self.end_leaf(leaf);
                Condition::Compare { op, left, right }
            }
            RawCondition::Between(x, lo, hi) => {
                self.count_operator();
                let mut leaf = LeafErrors::default();
                let operand = self.operand(x, &mut leaf);
                let lower = self.operand(lo, &mut leaf);
                let upper = self.operand(hi, &mut leaf);
                for o in [&operand, &lower, &upper] {
                    check_orderable("BETWEEN", o, &mut leaf);
                }
                if let (Operand::Value(l), Operand::Value(u)) = (&lower, &upper) {
                    let (l, u) = (&l.value, &u.value);
                    if l.value_type() != u.value_type() {
                        set_once(&mut leaf.types, error::between_types_differ(l, u));
                    } else if crate::eval::compare_ordered(l, u) == Some(std::cmp::Ordering::Greater) {
                        set_once(&mut leaf.types, error::between_bounds_reversed(l, u));
                    }
                }
                self.end_leaf(leaf);
                Condition::Between { operand, lower, upper }
            }
            RawCondition::In(x, list) => {
                self.count_operator();
                let mut leaf = LeafErrors::default();
                let operand = self.operand(x, &mut leaf);
                let list: Vec<Operand> = list.iter().map(|o| self.operand(o, &mut leaf)).collect();
                if list.len() + 1 > IN_OPERANDS_MAX {
                    set_once(&mut leaf.count, error::too_many_in_operands(list.len() + 1));
                }
                self.end_leaf(leaf);
                Condition::In { operand, list }
            }
            RawCondition::Call(call) => self.function_condition(call),
            RawCondition::Paren(_) | RawCondition::Not(_) | RawCondition::And(..) | RawCondition::Or(..) => {
                unreachable!("handled by lower_condition")
            }
        }
    }

    fn end_leaf(&mut self, leaf: LeafErrors) {
        if let Some(message) = leaf.first() {
            self.report(Category::Leaf, message);
        }
    }

    fn function_condition(&mut self, call: &RawCall) -> Condition {
        self.count_operator();
        let name = self.text(call.name);
        let mut leaf = LeafErrors::default();
        let args: Vec<Operand> = call.args.iter().map(|a| self.operand(a, &mut leaf)).collect();
        let arity = match name {
            "attribute_exists" | "attribute_not_exists" => 1,
            "attribute_type" | "begins_with" | "contains" => 2,
            "size" => {
                self.report(Category::MisusedFunction, error::function_misused(name));
                return placeholder_condition();
            }
            "if_not_exists" | "list_append" => {
                self.report(Category::UnknownFunction, error::function_not_allowed_in_condition(name));
                return placeholder_condition();
            }
            _ => {
                self.report(Category::UnknownFunction, error::invalid_function(name));
                return placeholder_condition();
            }
        };
        if args.len() != arity {
            set_once(&mut leaf.count, error::operand_count(name, args.len()));
            self.end_leaf(leaf);
            return placeholder_condition();
        }
        let mut args = args.into_iter();
        let first = args.next().expect("arity checked");
        let second = args.next();
        if let Some(second) = &second {
            check_distinct(name, &first, second, &mut leaf);
        }
        let cond = match (name, first, second) {
            ("attribute_exists" | "attribute_not_exists", Operand::Path(path), None) => {
                if name == "attribute_exists" {
                    Condition::AttributeExists(path)
                } else {
                    Condition::AttributeNotExists(path)
                }
            }
            ("attribute_exists" | "attribute_not_exists", _, None) => {
                set_once(&mut leaf.types, error::requires_path(name));
                placeholder_condition()
            }
            ("begins_with", operand, Some(prefix)) => {
                for o in [&operand, &prefix] {
                    if let Some(t) = static_type(o) {
                        if !matches!(t, ValueType::S | ValueType::B) {
                            set_once(&mut leaf.types, error::operand_type(name, t.as_str()));
                        }
                    }
                }
                Condition::BeginsWith { operand, prefix }
            }
            ("contains", operand, Some(value)) => Condition::Contains { operand, value },
            ("attribute_type", operand, Some(type_operand)) => match type_operand {
                Operand::Value(type_name) => {
                    match &type_name.value {
                        AttributeValue::S(s) if ValueType::from_wire(s).is_some() => {}
                        AttributeValue::S(s) => set_once(&mut leaf.types, error::invalid_type_name(s)),
                        other => set_once(&mut leaf.types, error::operand_type(name, other.value_type().as_str())),
                    }
                    Condition::AttributeType { operand, type_name }
                }
                Operand::Size(_) => {
                    set_once(&mut leaf.types, error::operand_type(name, "N"));
                    placeholder_condition()
                }
                Operand::Path(_) => {
                    // A path's type is unknown until evaluation; DynamoDB names all types.
                    set_once(&mut leaf.types, error::operand_type(name, "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}"));
                    placeholder_condition()
                }
            },
            _ => unreachable!("arity checked"),
        };
        self.end_leaf(leaf);
        cond
    }

    /// An operand inside a comparison or function condition.
    fn operand(&mut self, raw: &RawOperand, leaf: &mut LeafErrors) -> Operand {
        let raw = self.unwrap_parens(raw);
        match raw {
            RawOperand::Paren(_) => unreachable!("parentheses unwrapped"),
            RawOperand::Path(p) => Operand::Path(self.path(p, Sink::Leaf(leaf))),
            RawOperand::Value(tok) => Operand::Value(self.value(*tok, Sink::Leaf(leaf))),
            RawOperand::Call(call) => {
                let name = self.text(call.name);
                match name {
                    "size" => {
                        self.count_operator();
                        let args: Vec<Operand> = call.args.iter().map(|a| self.operand(a, leaf)).collect();
                        if args.len() != 1 {
                            set_once(&mut leaf.count, error::operand_count(name, args.len()));
                            return placeholder_operand();
                        }
                        let arg = args.into_iter().next().expect("one argument");
                        if let Some(t) = static_type(&arg) {
                            if matches!(t, ValueType::N | ValueType::Bool | ValueType::Null) {
                                set_once(&mut leaf.types, error::operand_type(name, t.as_str()));
                            }
                        }
                        Operand::Size(Box::new(arg))
                    }
                    _ => {
                        // Still walk the arguments: their placeholders count as used, and their
                        // own problems may outrank this one.
                        for a in &call.args {
                            self.operand(a, leaf);
                        }
                        let category_message = match name {
                            "attribute_exists"
                            | "attribute_not_exists"
                            | "attribute_type"
                            | "begins_with"
                            | "contains" => (Category::MisusedFunction, error::function_misused(name)),
                            "if_not_exists" | "list_append" => {
                                (Category::UnknownFunction, error::function_not_allowed_in_condition(name))
                            }
                            _ => (Category::UnknownFunction, error::invalid_function(name)),
                        };
                        self.count_operator();
                        self.report(category_message.0, category_message.1);
                        placeholder_operand()
                    }
                }
            }
        }
    }

    // ---- updates ----

    pub fn update(mut self, sections: &[RawSection]) -> Result<UpdateExpression, ExprError> {
        let mut clauses = Vec::with_capacity(sections.len());
        let mut seen: Vec<&'static str> = Vec::new();
        for section in sections {
            let (keyword, clause) = match section {
                RawSection::Set(actions) => (
                    "SET",
                    UpdateClause::Set(
                        actions
                            .iter()
                            .map(|(path, value)| {
                                let path = self.path(path, Sink::Global);
                                let value = self.set_value(value);
                                SetAction { path, value }
                            })
                            .collect(),
                    ),
                ),
                RawSection::Remove(paths) => {
                    ("REMOVE", UpdateClause::Remove(paths.iter().map(|p| self.path(p, Sink::Global)).collect()))
                }
                RawSection::Add(actions) => ("ADD", UpdateClause::Add(self.value_actions(actions, "ADD"))),
                RawSection::Delete(actions) => ("DELETE", UpdateClause::Delete(self.value_actions(actions, "DELETE"))),
            };
            if seen.contains(&keyword) {
                self.report(Category::Section, error::section_repeated(keyword));
            }
            seen.push(keyword);
            clauses.push(clause);
        }
        let update = UpdateExpression { clauses, origin: UpdateOrigin::Expression };
        self.check_overlaps(&update.target_paths());
        self.finish(update, RANK_UPDATE)
    }

    fn value_actions(&mut self, actions: &[(RawPath, Tok)], action: &str) -> Vec<ValueAction> {
        actions
            .iter()
            .map(|(path, tok)| {
                let path = self.path(path, Sink::Global);
                let value = self.value(*tok, Sink::Global);
                let t = value.value.value_type();
                let valid = match action {
                    "ADD" => matches!(t, ValueType::N | ValueType::Ss | ValueType::Ns | ValueType::Bs),
                    _ => matches!(t, ValueType::Ss | ValueType::Ns | ValueType::Bs),
                };
                // An undefined placeholder is reported as such, not as a type problem.
                if !valid && self.resolver_knows(&value) {
                    self.report(Category::ActionOperand, error::action_operand_type(action, t));
                }
                ValueAction { path, value }
            })
            .collect()
    }

    fn resolver_knows(&mut self, value: &Value) -> bool {
        self.resolver.value(&value.placeholder).is_some()
    }

    fn set_value(&mut self, raw: &RawSetValue) -> SetValue {
        match raw {
            RawSetValue::Operand(o) => SetValue::Operand(self.update_operand(o)),
            RawSetValue::Arithmetic(a) => self.arithmetic(a),
        }
    }

    fn arithmetic(&mut self, raw: &RawArithmetic) -> SetValue {
        match raw {
            RawArithmetic::Paren(inner) => {
                if matches!(**inner, RawArithmetic::Paren(_)) {
                    self.report(Category::Parens, error::redundant_parentheses());
                }
                self.arithmetic(inner)
            }
            RawArithmetic::Plus(a, b) | RawArithmetic::Minus(a, b) => {
                self.count_operator();
                let symbol = if matches!(raw, RawArithmetic::Plus(..)) { "+" } else { "-" };
                let a = self.update_operand(a);
                let b = self.update_operand(b);
                for o in [&a, &b] {
                    if let UpdateOperand::Value(v) = o {
                        let t = v.value.value_type();
                        if t != ValueType::N && self.resolver_knows(v) {
                            self.report(Category::Function, error::operand_type(symbol, t.as_str()));
                        }
                    }
                }
                if symbol == "+" {
                    SetValue::Plus(a, b)
                } else {
                    SetValue::Minus(a, b)
                }
            }
        }
    }

    fn update_operand(&mut self, raw: &RawOperand) -> UpdateOperand {
        let raw = self.unwrap_parens(raw);
        match raw {
            RawOperand::Paren(_) => unreachable!("parentheses unwrapped"),
            RawOperand::Path(p) => UpdateOperand::Path(self.path(p, Sink::Global)),
            RawOperand::Value(tok) => UpdateOperand::Value(self.value(*tok, Sink::Global)),
            RawOperand::Call(call) => {
                self.count_operator();
                let name = self.text(call.name);
                let args: Vec<UpdateOperand> = call.args.iter().map(|a| self.update_operand(a)).collect();
                match name {
                    "if_not_exists" | "list_append" => {}
                    "attribute_exists"
                    | "attribute_not_exists"
                    | "attribute_type"
                    | "begins_with"
                    | "contains"
                    | "size" => {
                        self.report(Category::UnknownFunction, error::function_not_allowed_in_update(name));
                        return placeholder_update_operand();
                    }
                    _ => {
                        self.report(Category::UnknownFunction, error::invalid_function(name));
                        return placeholder_update_operand();
                    }
                }
                if args.len() != 2 {
                    self.report(Category::Function, error::operand_count(name, args.len()));
                    return placeholder_update_operand();
                }
                let mut args = args.into_iter();
                let (a, b) = (args.next().expect("two"), args.next().expect("two"));
                if name == "if_not_exists" {
                    match a {
                        UpdateOperand::Path(path) => UpdateOperand::IfNotExists(path, Box::new(b)),
                        _ => {
                            self.report(Category::Function, error::requires_path(name));
                            placeholder_update_operand()
                        }
                    }
                } else {
                    for o in [&a, &b] {
                        if let UpdateOperand::Value(v) = o {
                            let t = v.value.value_type();
                            if t != ValueType::L && self.resolver_knows(v) {
                                self.report(Category::Function, error::operand_type(name, t.as_str()));
                            }
                        }
                    }
                    UpdateOperand::ListAppend(Box::new(a), Box::new(b))
                }
            }
        }
    }

    /// Two update targets (or projected paths) may neither be equal, nor one inside the other
    /// ("overlap"), nor disagree about whether a step is a map key or a list index ("conflict").
    /// Any overlap outranks any conflict. DynamoDB reports the first later path (in source order)
    /// that clashes with an earlier one, paired with the first such earlier path.
    ///
    /// A 4 KB expression holds ~2,000 paths, so comparing every pair is too slow to do for each
    /// request; the paths go into a trie instead, one walk per path (O(n log n) overall), and a
    /// message is built only for the pair reported.
    fn check_overlaps(&mut self, paths: &[&DocumentPath]) {
        let mut trie = PathTrie::default();
        let mut conflict: Option<(usize, usize)> = None;
        for (later, path) in paths.iter().enumerate() {
            let clash = trie.clash(path);
            if let Some(earlier) = clash.overlap {
                self.report(
                    Category::Overlap,
                    error::paths_overlap(&paths[earlier].message_form(), &path.message_form()),
                );
                // An overlap outranks every conflict: nothing later can change the answer.
                return;
            }
            if conflict.is_none() {
                conflict = clash.conflict.map(|earlier| (earlier, later));
            }
            trie.insert(path, later);
        }
        if let Some((earlier, later)) = conflict {
            self.report(
                Category::Conflict,
                error::paths_conflict(&paths[earlier].message_form(), &paths[later].message_form()),
            );
        }
    }

    // ---- projections ----

    pub fn projection(mut self, raw: &[RawPath]) -> Result<Projection, ExprError> {
        let paths: Vec<DocumentPath> = raw.iter().map(|p| self.path(p, Sink::Global)).collect();
        self.check_overlaps(&paths.iter().collect::<Vec<_>>());
        self.finish(Projection { paths }, RANK_PROJECTION)
    }
}

/// One step of a path as the trie keys it: a resolved map key or a list index.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step<'p> {
    Key(&'p str),
    Index(u32),
}

impl<'p> Step<'p> {
    fn of(element: &'p PathElement) -> Step<'p> {
        match element {
            PathElement::Key { name, .. } => Step::Key(name),
            PathElement::Index(i) => Step::Index(*i),
        }
    }
}

/// The paths seen so far, sharing prefixes. Every number is the position of a path in source
/// order; since paths are inserted in that order, the first one to reach a node is the smallest.
#[derive(Default)]
struct PathTrie<'p> {
    /// The first path that ends here.
    ends: Option<usize>,
    /// The first path that ends here or below.
    first: Option<usize>,
    /// The first path that continues from here with a map key, and with a list index.
    first_key_child: Option<usize>,
    first_index_child: Option<usize>,
    children: std::collections::BTreeMap<Step<'p>, PathTrie<'p>>,
}

/// The first earlier paths a new path clashes with.
struct Clash {
    overlap: Option<usize>,
    conflict: Option<usize>,
}

impl<'p> PathTrie<'p> {
    /// Which earlier paths `path` overlaps (one is a prefix of the other) or conflicts with (they
    /// agree up to a step where one has a map key and the other a list index).
    fn clash(&self, path: &'p DocumentPath) -> Clash {
        let mut overlap: Option<usize> = None;
        let mut conflict: Option<usize> = None;
        let mut node = self;
        for element in &path.elements {
            // An earlier path ending here is a prefix of this one.
            overlap = min_of(overlap, node.ends);
            let step = Step::of(element);
            let other_kind = match step {
                Step::Key(_) => node.first_index_child,
                Step::Index(_) => node.first_key_child,
            };
            conflict = min_of(conflict, other_kind);
            match node.children.get(&step) {
                Some(child) => node = child,
                // Earlier paths continue only with other keys or indexes: disjoint from here on.
                None => return Clash { overlap, conflict },
            }
        }
        // Every earlier path through the last node equals this one or lies inside it.
        Clash { overlap: min_of(overlap, node.first), conflict }
    }

    fn insert(&mut self, path: &'p DocumentPath, position: usize) {
        let mut node = self;
        node.first.get_or_insert(position);
        for element in &path.elements {
            let step = Step::of(element);
            match step {
                Step::Key(_) => node.first_key_child.get_or_insert(position),
                Step::Index(_) => node.first_index_child.get_or_insert(position),
            };
            node = node.children.entry(step).or_default();
            node.first.get_or_insert(position);
        }
        node.ends.get_or_insert(position);
    }
}

fn min_of(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// The type of an operand when known before evaluation.
fn static_type(operand: &Operand) -> Option<ValueType> {
    match operand {
        Operand::Value(v) => Some(v.value.value_type()),
        Operand::Size(_) => Some(ValueType::N),
        Operand::Path(_) => None,
    }
}

/// `<`, `<=`, `>`, `>=` and BETWEEN order only strings, numbers and binaries.
fn check_orderable(operator: &str, operand: &Operand, leaf: &mut LeafErrors) {
    if let Some(t) = static_type(operand) {
        if !matches!(t, ValueType::S | ValueType::N | ValueType::B) {
            set_once(&mut leaf.types, error::operand_type(operator, t.as_str()));
        }
    }
}

/// DynamoDB refuses a two-operand operator or function applied to the same path twice.
fn check_distinct(operator: &str, a: &Operand, b: &Operand, leaf: &mut LeafErrors) {
    if let (Operand::Path(p), Operand::Path(q)) = (a, b) {
        if p.same_path(q) {
            set_once(&mut leaf.distinct, error::operands_not_distinct(operator, &p.message_form()));
        }
    }
}

/// Stands in for a node whose error is already recorded; never returned to a caller.
fn placeholder_condition() -> Condition {
    Condition::AttributeExists(DocumentPath::attribute("_"))
}

fn placeholder_operand() -> Operand {
    Operand::Value(Value { placeholder: ":_".into(), value: AttributeValue::Null })
}

fn placeholder_update_operand() -> UpdateOperand {
    UpdateOperand::Value(Value { placeholder: ":_".into(), value: AttributeValue::Null })
}

#[cfg(test)]
mod tests {
    use crate::testutil::parse_outcome;
    use crate::ExpressionKind::{self, Condition as C, Filter as F, KeyCondition as K, Projection as P, Update as U};

    /// Each case: kind, input, and DynamoDB's message (or the printed parse when accepted).
    fn check(cases: &[(ExpressionKind, &str, &str)]) {
        for (kind, src, want) in cases {
            assert_eq!(parse_outcome(*kind, src), *want, "{kind:?} {src:?}");
        }
    }

    #[test]
    fn condition_rules() {
        let c = |detail: &str| format!("Invalid ConditionExpression: {detail}");
        check(&[
            (C, "", &c("The expression can not be empty;")),
            (C, " \n\t", &c("The expression can not be empty;")),
            (C, "status = :s", &c("Attribute name is a reserved keyword; reserved keyword: status")),
            (C, "a.Size = :s", &c("Attribute name is a reserved keyword; reserved keyword: Size")),
            (C, "#s = :s", "#s = :s"),
            (C, "a = :nope", &c("An expression attribute value used in expression is not defined; attribute value: :nope")),
            (C, "#nope = :s", &c("An expression attribute name used in the document path is not defined; attribute name: #nope")),
            (C, "((a = :s))", &c("The expression has redundant parentheses;")),
            (C, "((a)) = :s", &c("The expression has redundant parentheses;")),
            (C, "size(((a))) = :n", &c("The expression has redundant parentheses;")),
            (C, "(a = :s) AND ((b = :s))", &c("The expression has redundant parentheses;")),
            (C, "((attribute_not_exists(pk)))", &c("The expression has redundant parentheses;")),
            (C, "(a = :s AND (b = :s))", "a = :s AND b = :s"),
            (C, "foo(a)", &c("Invalid function name; function: foo")),
            (C, "ATTRIBUTE_EXISTS(a)", &c("Invalid function name; function: ATTRIBUTE_EXISTS")),
            (C, "starts_with(a, :s)", &c("Invalid function name; function: starts_with")),
            (C, "if_not_exists(a, :s) = :s", &c("The function is not allowed in a condition expression; function: if_not_exists")),
            (C, "list_append(a, :l)", &c("The function is not allowed in a condition expression; function: list_append")),
            (C, "size(a)", &c("The function is not allowed to be used this way in an expression; function: size")),
            (C, "attribute_exists(a) < :n", &c("The function is not allowed to be used this way in an expression; function: attribute_exists")),
            (C, "size(contains(a, :s)) = :n", &c("The function is not allowed to be used this way in an expression; function: contains")),
            (C, "attribute_exists(a, b)", &c("Incorrect number of operands for operator or function; operator or function: attribute_exists, number of operands: 2")),
            (C, "size(a, a) = :n", &c("Incorrect number of operands for operator or function; operator or function: size, number of operands: 2")),
            (C, "attribute_exists(:s)", &c("Operator or function requires a document path; operator or function: attribute_exists")),
            (C, "attribute_not_exists(size(a))", &c("Operator or function requires a document path; operator or function: attribute_not_exists")),
            (C, "a = a", &c("The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [a]")),
            (C, "contains(#a, a)", &c("The first operand must be distinct from the remaining operands for this operator or function; operator: contains, first operand: [a]")),
            (C, "a.b[1] <> a.b[1]", &c("The first operand must be distinct from the remaining operands for this operator or function; operator: <>, first operand: [a, b, [1]]")),
            (C, "a = b", "a = b"),
            (C, "begins_with(a, :n)", &c("Incorrect operand type for operator or function; operator or function: begins_with, operand type: N")),
            (C, "begins_with(a, :bin)", "begins_with(a, :bin)"),
            (C, "size(:n) > :n", &c("Incorrect operand type for operator or function; operator or function: size, operand type: N")),
            (C, "size(size(a)) > :n", &c("Incorrect operand type for operator or function; operator or function: size, operand type: N")),
            (C, "size(:l) > :n", "size(:l) > :n"),
            (C, "a < :l", &c("Incorrect operand type for operator or function; operator or function: <, operand type: L")),
            (C, ":ss >= a", &c("Incorrect operand type for operator or function; operator or function: >=, operand type: SS")),
            (C, "a = :l", "a = :l"),
            (C, "a BETWEEN :l AND :l", &c("Incorrect operand type for operator or function; operator or function: BETWEEN, operand type: L")),
            (C, "a BETWEEN :n AND :s", &c("The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:abc}")),
            (C, "a BETWEEN :m AND :n", &c("The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {N:2}, upper bound operand: AttributeValue: {N:1}")),
            (C, "a BETWEEN :bin AND :bin1", &c("The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {B:AQI=}, upper bound operand: AttributeValue: {B:AQ==}")),
            (C, "a BETWEEN b AND :n", "a BETWEEN b AND :n"),
            (C, "attribute_type(a, :DOG)", &c("Invalid attribute type name found; type: DOG, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}")),
            (C, "attribute_type(a, :n)", &c("Incorrect operand type for operator or function; operator or function: attribute_type, operand type: N")),
            (C, "attribute_type(a, b)", &c("Incorrect operand type for operator or function; operator or function: attribute_type, operand type: {NS,SS,L,BS,N,M,B,BOOL,NULL,S}")),
            (C, "attribute_type(:n, :N)", "attribute_type(:n, :N)"),
            (C, "a[2147483648] = :s", &c("List index is not within the allowable range;")),
            (C, "a[2147483647] = :s", "a[2147483647] = :s"),
            // Which problem DynamoDB reports when there are several.
            (C, "status = :nope", &c("Attribute name is a reserved keyword; reserved keyword: status")),
            (C, "foo(status)", &c("Invalid function name; function: foo")),
            (C, "size(status) AND foo(a)", &c("Invalid function name; function: foo")),
            (C, "((a = :nope))", &c("The expression has redundant parentheses;")),
            (C, "a = :nope AND b = b", &c("An expression attribute value used in expression is not defined; attribute value: :nope")),
            (C, "b = b AND a = :nope", &c("The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [b]")),
            (C, "size(a, b) = :nope", &c("An expression attribute value used in expression is not defined; attribute value: :nope")),
            (F, "#nope = :s", "Invalid FilterExpression: An expression attribute name used in the document path is not defined; attribute name: #nope"),
            (K, "((pk = :s))", "Invalid KeyConditionExpression: The expression has redundant parentheses;"),
            (K, "", "Invalid KeyConditionExpression: The expression can not be empty;"),
        ]);
    }

    #[test]
    fn update_rules() {
        let u = |detail: &str| format!("Invalid UpdateExpression: {detail}");
        check(&[
            (U, "", &u("The expression can not be empty;")),
            (U, "SET a = :s SET b = :s", &u("The \"SET\" section can only be used once in an update expression;")),
            (U, "remove a set b = c remove e", &u("The \"REMOVE\" section can only be used once in an update expression;")),
            (U, "add a :n set b = c add e :n", &u("The \"ADD\" section can only be used once in an update expression;")),
            (U, "delete a :ss set b = c delete e :ss", &u("The \"DELETE\" section can only be used once in an update expression;")),
            (U, "SET status = :s", &u("Attribute name is a reserved keyword; reserved keyword: status")),
            (U, " set #c = :s set abOrt = :s ", &u("Attribute name is a reserved keyword; reserved keyword: abOrt")),
            (U, "SET a = :nope", &u("An expression attribute value used in expression is not defined; attribute value: :nope")),
            (U, "SET #nope = :s", &u("An expression attribute name used in the document path is not defined; attribute name: #nope")),
            (U, "SET a = :s, a = :t", &u("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]")),
            (U, "SET a = :s REMOVE a.b", &u("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]")),
            (U, "set c.b.#c = a, c = a, #d = a", &u("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [c, b, c], path two: [c]")),
            (U, "set #c[3].#d = a, #c[3] = a", &u("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [c, [3], [3]], path two: [c, [3]]")),
            (U, "remove a, #c, a, #d", &u("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]")),
            (U, "set d[1] = a, d.b = a, c[1].a = a, #c = a", &u("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [c, [1], a], path two: [c]")),
            (U, "set #c[3].#d = a, #c.#d[3] = if_not_exists(a, :s)", &u("Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [c, [3], [3]], path two: [c, [3], [3]]")),
            (U, "remove a.#c set a[1] = #d", &u("Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, c], path two: [a, [1]]")),
            (U, "ADD a :s", &u("Incorrect operand type for operator or function; operator: ADD, operand type: STRING")),
            (U, "ADD a :l", &u("Incorrect operand type for operator or function; operator: ADD, operand type: LIST")),
            (U, "ADD a :map", &u("Incorrect operand type for operator or function; operator: ADD, operand type: MAP")),
            (U, "ADD a :bool", &u("Incorrect operand type for operator or function; operator: ADD, operand type: BOOLEAN")),
            (U, "ADD a :null", &u("Incorrect operand type for operator or function; operator: ADD, operand type: NULL")),
            (U, "ADD a :bin", &u("Incorrect operand type for operator or function; operator: ADD, operand type: BINARY")),
            (U, "DELETE a :n", &u("Incorrect operand type for operator or function; operator: DELETE, operand type: NUMBER")),
            (U, "ADD a :n, b :ss DELETE c :ns", "ADD a :n, b :ss DELETE c :ns"),
            (U, "SET a = a + :s", &u("Incorrect operand type for operator or function; operator or function: +, operand type: S")),
            (U, "SET a = :bin - a", &u("Incorrect operand type for operator or function; operator or function: -, operand type: B")),
            (U, "SET a = list_append(:s, a)", &u("Incorrect operand type for operator or function; operator or function: list_append, operand type: S")),
            (U, "SET a = list_append(a, :map)", &u("Incorrect operand type for operator or function; operator or function: list_append, operand type: M")),
            (U, "SET a = if_not_exists(:s, a)", &u("Operator or function requires a document path; operator or function: if_not_exists")),
            (U, "set a = if_not_exists(if_not_exists(a, b), c)", &u("Operator or function requires a document path; operator or function: if_not_exists")),
            (U, "SET a = if_not_exists(a)", &u("Incorrect number of operands for operator or function; operator or function: if_not_exists, number of operands: 1")),
            (U, "SET a = list_append(c)", &u("Incorrect number of operands for operator or function; operator or function: list_append, number of operands: 1")),
            (U, "SET a = size(b)", &u("The function is not allowed in an update expression; function: size")),
            (U, "SET a = attribute_exists(b)", &u("The function is not allowed in an update expression; function: attribute_exists")),
            (U, "SET a = foo(b)", &u("Invalid function name; function: foo")),
            (U, "SET a = ((b))", &u("The expression has redundant parentheses;")),
            (U, "SET a = ((b + c))", &u("The expression has redundant parentheses;")),
            (U, "SET a = if_not_exists(a, ((b)))", &u("The expression has redundant parentheses;")),
            // Which problem DynamoDB reports when there are several.
            (U, "set b = list_append(:s, a), c = if_not_exists(a) add a.b :s", &u("Incorrect operand type for operator or function; operator: ADD, operand type: STRING")),
            (U, "set a = :s remove a, #nope", &u("An expression attribute name used in the document path is not defined; attribute name: #nope")),
            (U, "set #nope = :nope", &u("An expression attribute name used in the document path is not defined; attribute name: #nope")),
            (U, "SET status = foo(a) SET b = :s", &u("Attribute name is a reserved keyword; reserved keyword: status")),
            (U, "SET a = foo(b) SET c = :s", &u("Invalid function name; function: foo")),
            (U, "ADD a :nope", &u("An expression attribute value used in expression is not defined; attribute value: :nope")),
        ]);
    }

    #[test]
    fn projection_rules() {
        let p = |detail: &str| format!("Invalid ProjectionExpression: {detail}");
        check(&[
            (P, "a, a", &p("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]")),
            (P, "a, #a", &p("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]")),
            (P, "a, a.b", &p("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]")),
            (P, "a[0], a.b", &p("Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, [0]], path two: [a, b]")),
            (P, "a.b, a.c, a[0]", &p("Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, b], path two: [a, [0]]")),
            (P, "a[0], a[0].b, a[1].c, a.x", &p("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a, [0]], path two: [a, [0], b]")),
            (P, "status", &p("Attribute name is a reserved keyword; reserved keyword: status")),
            (P, "#nope, status", &p("Attribute name is a reserved keyword; reserved keyword: status")),
            (P, "#nope", &p("An expression attribute name used in the document path is not defined; attribute name: #nope")),
            (P, "a.b, a.c, #dot", "a.b, a.c, #dot"),
        ]);
    }

    #[test]
    fn limits() {
        // 4096 bytes is accepted; one more is not.
        let at_limit = format!("a = :s AND {}", "b".repeat(4096 - 11 - 5)) + " = :s";
        assert_eq!(at_limit.len(), 4096);
        assert_eq!(parse_outcome(C, &at_limit), at_limit);
        let over = format!("{at_limit} ");
        assert_eq!(
            parse_outcome(C, &over),
            "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; expression size: 4097"
        );

        // 300 operators are accepted; the 301st is reported, whatever the total.
        let chain = |n: usize| vec!["a = :s"; n].join(" AND ");
        assert!(!parse_outcome(C, &chain(300)).starts_with("Invalid"));
        let too_many = "Invalid ConditionExpression: The expression contains too many operators; operator count: 301";
        assert_eq!(parse_outcome(C, &chain(301)), too_many);
        assert_eq!(parse_outcome(C, &chain(370)), too_many);
        let sizes = format!("size(a) = :n AND {}", chain(150));
        // size() counts as an operator; AND does not: 152 operators.
        assert!(!parse_outcome(F, &sizes).starts_with("Invalid"));
        let sets: Vec<String> = (0..151).map(|i| format!("a{i} = a + :n")).collect();
        assert!(!parse_update_starts_invalid(&format!("SET {}", sets[..150].join(", "))));
        let sums: Vec<String> = (0..301).map(|i| format!("a{i}=b+c")).collect();
        assert!(!parse_update_starts_invalid(&format!("SET {}", sums[..300].join(","))));
        assert_eq!(
            parse_outcome(U, &format!("SET {}", sums.join(","))),
            "Invalid UpdateExpression: The expression contains too many operators; operator count: 301"
        );

        // IN takes 100 operands, the left one included.
        let list = |n: usize| vec![":s"; n].join(",");
        assert!(!parse_outcome(C, &format!("a IN ({})", list(99))).starts_with("Invalid"));
        assert_eq!(
            parse_outcome(C, &format!("a IN ({})", list(100))),
            "Invalid ConditionExpression: The IN operator is provided with too many operands; number of operands: 101"
        );

        // Paths are at most 32 elements deep.
        let deep = |n: usize| format!("a{}", ".b".repeat(n - 1));
        assert_eq!(parse_outcome(P, &deep(32)), deep(32));
        assert_eq!(
            parse_outcome(P, &deep(33)),
            "Invalid ProjectionExpression: The document path has too many nesting levels; nesting levels: 33"
        );
        assert_eq!(
            parse_outcome(C, &format!("{} = :s", deep(40))),
            "Invalid ConditionExpression: The document path has too many nesting levels; nesting levels: 40"
        );
    }

    /// The trie finds the pair DynamoDB reports, which is the first pair a comparison of every
    /// later path with every earlier one finds: checked against that comparison on many small
    /// random path lists (a fixed-seed generator, so failures reproduce).
    #[test]
    fn overlap_check_reports_the_first_clashing_pair() {
        #[derive(Clone, Copy, PartialEq)]
        enum E {
            K(u8),
            I(u8),
        }
        fn show(path: &[E]) -> (String, String) {
            let mut text = String::new();
            let mut form = Vec::new();
            for (n, e) in path.iter().enumerate() {
                match e {
                    E::K(k) => {
                        let name = ["a", "b", "c"][*k as usize];
                        if n > 0 {
                            text.push('.');
                        }
                        text.push_str(name);
                        form.push(name.to_string());
                    }
                    E::I(i) => {
                        text.push_str(&format!("[{i}]"));
                        form.push(format!("[{i}]"));
                    }
                }
            }
            (text, format!("[{}]", form.join(", ")))
        }
        /// The definition: compare every later path with every earlier one.
        fn pairwise(paths: &[Vec<E>]) -> Option<String> {
            let mut conflict = None;
            for (j, later) in paths.iter().enumerate() {
                for earlier in &paths[..j] {
                    let mut relation = "overlap";
                    for (x, y) in earlier.iter().zip(later) {
                        match (x, y) {
                            (E::K(p), E::K(q)) | (E::I(p), E::I(q)) if p != q => relation = "disjoint",
                            (E::K(_), E::I(_)) | (E::I(_), E::K(_)) => relation = "conflict",
                            _ => continue,
                        }
                        break;
                    }
                    let pair = format!("path one: {}, path two: {}", show(earlier).1, show(later).1);
                    match relation {
                        "overlap" => {
                            return Some(format!("Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; {pair}"))
                        }
                        "conflict" if conflict.is_none() => {
                            conflict = Some(format!("Invalid ProjectionExpression: Two document paths conflict with each other; must remove or rewrite one of these paths; {pair}"))
                        }
                        _ => {}
                    }
                }
            }
            conflict
        }
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        for _ in 0..3000 {
            let count = 1 + next(6) as usize;
            let paths: Vec<Vec<E>> = (0..count)
                .map(|_| {
                    let len = 1 + next(3) as usize;
                    let mut path = vec![E::K(next(2) as u8)];
                    for _ in 1..len {
                        path.push(if next(2) == 0 { E::K(next(3) as u8) } else { E::I(next(2) as u8) });
                    }
                    path
                })
                .collect();
            let src = paths.iter().map(|p| show(p).0).collect::<Vec<_>>().join(", ");
            let got = parse_outcome(P, &src);
            match pairwise(&paths) {
                Some(message) => assert_eq!(got, message, "{src}"),
                None => assert!(!got.starts_with("Invalid"), "{src}: {got}"),
            }
        }
    }

    /// A 4 KB projection of 2,000 paths that all overlap: one message, for the first pair.
    #[test]
    fn many_overlapping_paths() {
        let src = vec!["a"; 2000].join(",");
        assert_eq!(
            parse_outcome(P, &src),
            "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]"
        );
        let distinct: Vec<String> = (0..800).map(|i| format!("a{i}")).collect();
        assert_eq!(parse_outcome(P, &distinct.join(",")), distinct.join(", "));
    }

    fn parse_update_starts_invalid(src: &str) -> bool {
        parse_outcome(U, src).starts_with("Invalid")
    }
}

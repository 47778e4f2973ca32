//! The typed syntax tree every expression kind parses into, with placeholders already resolved.
//!
//! Each tree prints back (`Display`) as expression text that parses to an equal tree, given the
//! same `ExpressionAttributeNames`/`Values`: that is why names and values keep the placeholder
//! they were written with.

use std::fmt;

use flywheel_types::AttributeValue;

/// One step of a document path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathElement {
    /// A map key (the first element is a top-level attribute name). `placeholder` is the `#name`
    /// it was written as, if any; the key itself is `name`.
    Key { name: String, placeholder: Option<String> },
    /// A list index, `[n]`.
    Index(u32),
}

impl PathElement {
    /// A key written out literally (no placeholder).
    pub fn key(name: impl Into<String>) -> PathElement {
        PathElement::Key { name: name.into(), placeholder: None }
    }

    /// The map key, if this is one.
    pub fn key_name(&self) -> Option<&str> {
        match self {
            PathElement::Key { name, .. } => Some(name),
            PathElement::Index(_) => None,
        }
    }

    /// Same step, ignoring how a key was spelled.
    pub(crate) fn same_step(&self, other: &PathElement) -> bool {
        match (self, other) {
            (PathElement::Key { name: a, .. }, PathElement::Key { name: b, .. }) => a == b,
            (PathElement::Index(a), PathElement::Index(b)) => a == b,
            _ => false,
        }
    }
}

/// A document path such as `a.b[3].c`. Never empty; the first element is always a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentPath {
    pub elements: Vec<PathElement>,
}

impl DocumentPath {
    /// A path to a top-level attribute, written out literally.
    pub fn attribute(name: impl Into<String>) -> DocumentPath {
        DocumentPath { elements: vec![PathElement::key(name)] }
    }

    /// The top-level attribute this path starts at.
    pub fn top_level_name(&self) -> &str {
        self.elements[0].key_name().expect("a document path starts with a key")
    }

    /// Equal paths, ignoring placeholders.
    pub(crate) fn same_path(&self, other: &DocumentPath) -> bool {
        self.elements.len() == other.elements.len()
            && self.elements.iter().zip(&other.elements).all(|(a, b)| a.same_step(b))
    }

    /// DynamoDB's rendering inside messages: `[a, b, [3]]`, keys as resolved names.
    pub(crate) fn message_form(&self) -> String {
        let parts: Vec<String> = self
            .elements
            .iter()
            .map(|e| match e {
                PathElement::Key { name, .. } => name.clone(),
                PathElement::Index(i) => format!("[{i}]"),
            })
            .collect();
        format!("[{}]", parts.join(", "))
    }
}

impl fmt::Display for DocumentPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, element) in self.elements.iter().enumerate() {
            match element {
                PathElement::Key { name, placeholder } => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(placeholder.as_deref().unwrap_or(name))?;
                }
                PathElement::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A `:placeholder` and the value it stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    pub placeholder: String,
    pub value: AttributeValue,
}

/// An operand of a condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operand {
    Path(DocumentPath),
    Value(Value),
    /// `size(operand)`: a number, or undefined for types without a size.
    Size(Box<Operand>),
}

/// The six comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Comparator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Comparator {
    /// The operator as written in expressions and messages.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparator::Eq => "=",
            Comparator::Ne => "<>",
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
        }
    }

    /// The operator with its operands swapped: `a < b` is `b > a`.
    pub fn flipped(self) -> Comparator {
        match self {
            Comparator::Lt => Comparator::Gt,
            Comparator::Le => Comparator::Ge,
            Comparator::Gt => Comparator::Lt,
            Comparator::Ge => Comparator::Le,
            other => other,
        }
    }
}

/// A condition: ConditionExpression, FilterExpression and KeyConditionExpression all parse into
/// this. Parentheses are not kept; precedence is in the tree's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    Compare {
        op: Comparator,
        left: Operand,
        right: Operand,
    },
    Between {
        operand: Operand,
        lower: Operand,
        upper: Operand,
    },
    /// `operand IN (list…)`; the list has 1 to 99 entries.
    In {
        operand: Operand,
        list: Vec<Operand>,
    },
    AttributeExists(DocumentPath),
    AttributeNotExists(DocumentPath),
    /// `attribute_type(operand, :t)`; `type_name` is a value holding a valid type name.
    AttributeType {
        operand: Operand,
        type_name: Value,
    },
    BeginsWith {
        operand: Operand,
        prefix: Operand,
    },
    Contains {
        operand: Operand,
        value: Operand,
    },
    Not(Box<Condition>),
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Path(p) => p.fmt(f),
            Operand::Value(v) => f.write_str(&v.placeholder),
            Operand::Size(inner) => write!(f, "size({inner})"),
        }
    }
}

impl fmt::Display for Condition {
    /// Parenthesises a child only where precedence (NOT > AND > OR, both right-associative)
    /// would otherwise regroup it, so the text never has redundant parentheses. NOT chains and
    /// right-nested AND/OR chains are printed in a loop, not by recursion.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let is_and_or = |c: &Condition| matches!(c, Condition::And(..) | Condition::Or(..));
        let mut current = self;
        loop {
            let (next, parens) = match current {
                Condition::Not(c) => {
                    f.write_str("NOT ")?;
                    (&**c, is_and_or(c))
                }
                Condition::And(l, r) => {
                    if is_and_or(l) {
                        write!(f, "({l})")?;
                    } else {
                        l.fmt(f)?;
                    }
                    f.write_str(" AND ")?;
                    (&**r, matches!(**r, Condition::Or(..)))
                }
                Condition::Or(l, r) => {
                    if matches!(**l, Condition::Or(..)) {
                        write!(f, "({l})")?;
                    } else {
                        l.fmt(f)?;
                    }
                    f.write_str(" OR ")?;
                    (&**r, false)
                }
                leaf => return fmt_leaf(leaf, f),
            };
            if parens {
                return write!(f, "({next})");
            }
            current = next;
        }
    }
}

#[inline(never)]
fn fmt_leaf(c: &Condition, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match c {
        Condition::Compare { op, left, right } => write!(f, "{left} {} {right}", op.symbol()),
        Condition::Between { operand, lower, upper } => write!(f, "{operand} BETWEEN {lower} AND {upper}"),
        Condition::In { operand, list } => {
            write!(f, "{operand} IN (")?;
            for (i, o) in list.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{o}")?;
            }
            f.write_str(")")
        }
        Condition::AttributeExists(p) => write!(f, "attribute_exists({p})"),
        Condition::AttributeNotExists(p) => write!(f, "attribute_not_exists({p})"),
        Condition::AttributeType { operand, type_name } => {
            write!(f, "attribute_type({operand}, {})", type_name.placeholder)
        }
        Condition::BeginsWith { operand, prefix } => write!(f, "begins_with({operand}, {prefix})"),
        Condition::Contains { operand, value } => write!(f, "contains({operand}, {value})"),
        Condition::Not(_) | Condition::And(..) | Condition::Or(..) => unreachable!("printed by Condition::fmt"),
    }
}

/// An operand on the right of `SET path = …`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateOperand {
    Path(DocumentPath),
    Value(Value),
    /// `if_not_exists(path, operand)`.
    IfNotExists(DocumentPath, Box<UpdateOperand>),
    /// `list_append(list1, list2)`.
    ListAppend(Box<UpdateOperand>, Box<UpdateOperand>),
}

/// The value assigned by a SET action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetValue {
    Operand(UpdateOperand),
    Plus(UpdateOperand, UpdateOperand),
    Minus(UpdateOperand, UpdateOperand),
}

/// `path = value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetAction {
    pub path: DocumentPath,
    pub value: SetValue,
}

/// `path :value` in an ADD or DELETE clause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueAction {
    pub path: DocumentPath,
    pub value: Value,
}

/// One clause of an update expression, in the order written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateClause {
    Set(Vec<SetAction>),
    Remove(Vec<DocumentPath>),
    Add(Vec<ValueAction>),
    Delete(Vec<ValueAction>),
}

/// Where an update came from; the legacy `AttributeUpdates` API words one error differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateOrigin {
    Expression,
    AttributeUpdates,
}

/// An UpdateExpression: each of SET, REMOVE, ADD, DELETE at most once, in any order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateExpression {
    pub clauses: Vec<UpdateClause>,
    pub origin: UpdateOrigin,
}

impl UpdateExpression {
    /// Every path the update writes or removes, in the order written. These are the paths
    /// ReturnValues UPDATED_OLD/UPDATED_NEW report.
    pub fn target_paths(&self) -> Vec<&DocumentPath> {
        let mut out = Vec::new();
        for clause in &self.clauses {
            match clause {
                UpdateClause::Set(actions) => out.extend(actions.iter().map(|a| &a.path)),
                UpdateClause::Remove(paths) => out.extend(paths.iter()),
                UpdateClause::Add(actions) | UpdateClause::Delete(actions) => {
                    out.extend(actions.iter().map(|a| &a.path))
                }
            }
        }
        out
    }
}

impl fmt::Display for UpdateOperand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpdateOperand::Path(p) => p.fmt(f),
            UpdateOperand::Value(v) => f.write_str(&v.placeholder),
            UpdateOperand::IfNotExists(p, v) => write!(f, "if_not_exists({p}, {v})"),
            UpdateOperand::ListAppend(a, b) => write!(f, "list_append({a}, {b})"),
        }
    }
}

impl fmt::Display for SetValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetValue::Operand(o) => o.fmt(f),
            SetValue::Plus(a, b) => write!(f, "{a} + {b}"),
            SetValue::Minus(a, b) => write!(f, "{a} - {b}"),
        }
    }
}

impl fmt::Display for UpdateExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T>(
            f: &mut fmt::Formatter<'_>,
            items: &[T],
            each: impl Fn(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
        ) -> fmt::Result {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                each(f, item)?;
            }
            Ok(())
        }
        for (i, clause) in self.clauses.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match clause {
                UpdateClause::Set(actions) => {
                    f.write_str("SET ")?;
                    list(f, actions, |f, a| write!(f, "{} = {}", a.path, a.value))?;
                }
                UpdateClause::Remove(paths) => {
                    f.write_str("REMOVE ")?;
                    list(f, paths, |f, p| p.fmt(f))?;
                }
                UpdateClause::Add(actions) => {
                    f.write_str("ADD ")?;
                    list(f, actions, |f, a| write!(f, "{} {}", a.path, a.value.placeholder))?;
                }
                UpdateClause::Delete(actions) => {
                    f.write_str("DELETE ")?;
                    list(f, actions, |f, a| write!(f, "{} {}", a.path, a.value.placeholder))?;
                }
            }
        }
        Ok(())
    }
}

/// A ProjectionExpression: the document paths to return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Projection {
    pub paths: Vec<DocumentPath>,
}

impl fmt::Display for Projection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.paths.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            p.fmt(f)?;
        }
        Ok(())
    }
}

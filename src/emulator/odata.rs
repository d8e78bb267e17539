//! OData query handling for the Graph surface: system query options (`$top`, `$select`, `$filter`, `$count`,
//! `$skiptoken`, `$deltatoken`, `$orderby`), opaque paging/delta tokens, and a small `$filter` parser and
//! evaluator with per-resource rules so unsupported filters fail the way Graph fails them.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Cow;

/// Parsed system query options. Names are matched case-insensitively with or without the `$` (Graph accepts
/// `$deltaToken` and `$deltatoken` alike).
#[derive(Debug, Default, Clone)]
pub(crate) struct QueryOptions {
    pub top: Option<String>,
    pub select: Option<String>,
    pub filter: Option<String>,
    pub count: Option<String>,
    pub skiptoken: Option<String>,
    pub deltatoken: Option<String>,
    pub orderby: Option<String>,
}

impl QueryOptions {
    /// `Err(name)` when a system query option appears twice.
    pub fn parse(pairs: &[(String, String)]) -> Result<QueryOptions, String> {
        let mut q = QueryOptions::default();
        for (k, v) in pairs {
            let key = k.trim_start_matches('$').to_ascii_lowercase();
            let slot = match key.as_str() {
                "top" => &mut q.top,
                "select" => &mut q.select,
                "filter" => &mut q.filter,
                "count" => &mut q.count,
                "skiptoken" => &mut q.skiptoken,
                "deltatoken" => &mut q.deltatoken,
                "orderby" => &mut q.orderby,
                _ => continue,
            };
            if slot.is_some() {
                return Err(format!("${key}"));
            }
            *slot = Some(v.clone());
        }
        Ok(q)
    }

    pub fn count_requested(&self) -> bool {
        self.count
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case("true"))
    }
}

/// Resolve a `$select` list against the properties a type has. `Err(name)` names the first unknown one.
/// Returns the canonical spellings, in the order the client asked for them.
pub(crate) fn parse_select(raw: &str, known: &[&'static str]) -> Result<Vec<&'static str>, String> {
    let mut out = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let canonical = known
            .iter()
            .find(|k| k.eq_ignore_ascii_case(part))
            .copied()
            .ok_or_else(|| part.to_string())?;
        if !out.contains(&canonical) {
            out.push(canonical);
        }
    }
    Ok(out)
}

/// Opaque tokens: base64url of a small JSON document. The instance nonce in each token ties it to this emulator
/// run, so a token from an earlier run is rejected like an expired one instead of paging through other data.
pub(crate) fn encode_token<T: Serialize>(t: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(t).unwrap_or_default())
}

pub(crate) fn decode_token<T: DeserializeOwned>(s: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD
        .decode(s.trim().trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

// ---------------------------------------------------------------------------------------------------------------
// $filter

/// A value read from an entity for comparison.
#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    Str(Cow<'a, str>),
    Time(DateTime<Utc>),
    Bool(bool),
    Null,
}

/// Something a filter can be evaluated on.
pub(crate) trait Filterable {
    /// A scalar by path (`displayName`, `initiatedBy/app/appId`); `""` is the item itself in a primitive collection.
    fn get(&self, path: &str) -> Val<'_>;
    /// True when `pred` holds for any item of the named collection.
    fn any(&self, collection: &str, pred: &mut dyn FnMut(&dyn Filterable) -> bool) -> bool;
}

/// A string inside a primitive collection (`identifierUris/any(x:x eq '..')`).
pub(crate) struct StrItem<'a>(pub &'a str);

impl Filterable for StrItem<'_> {
    fn get(&self, path: &str) -> Val<'_> {
        if path.is_empty() {
            Val::Str(Cow::Borrowed(self.0))
        } else {
            Val::Null
        }
    }
    fn any(&self, _: &str, _: &mut dyn FnMut(&dyn Filterable) -> bool) -> bool {
        false
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    In,
    StartsWith,
    EndsWith,
}

impl CmpOp {
    /// The operator names Graph uses in its "Unsupported property filter clause operator" message.
    fn graph_name(self) -> &'static str {
        match self {
            CmpOp::Eq => "EqualsMatch",
            CmpOp::Ne => "NotEqualsMatch",
            CmpOp::Gt => "GreaterThan",
            CmpOp::Ge => "GreaterThanEquals",
            CmpOp::Lt => "LessThan",
            CmpOp::Le => "LessThanEquals",
            CmpOp::In => "In",
            CmpOp::StartsWith => "StartsWithMatch",
            CmpOp::EndsWith => "EndsWithMatch",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Str,
    Time,
    Bool,
}

/// A filterable property: its path, type and the operators Graph allows on it.
#[derive(Debug)]
pub(crate) struct Prop {
    pub path: &'static str,
    pub ty: Ty,
    pub ops: &'static [CmpOp],
}

/// A collection usable with `any(...)` and the item properties allowed in the lambda.
#[derive(Debug)]
pub(crate) struct Coll {
    pub path: &'static str,
    pub items: &'static [Prop],
}

/// What a resource allows in `$filter`.
#[derive(Debug)]
pub(crate) struct Schema {
    pub resource: &'static str,
    pub props: &'static [Prop],
    pub colls: &'static [Coll],
    /// Collections Graph refuses with "Complex query on property X is not supported." (credentials).
    pub complex_unsupported: &'static [&'static str],
    /// Operators only allowed with advanced queries (`ConsistencyLevel: eventual` + `$count=true`).
    pub advanced_only: &'static [CmpOp],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FilterError {
    /// Not parseable: Graph answers `BadRequest` "Invalid filter clause".
    Syntax(String),
    /// `Request_UnsupportedQuery` "Complex query on property keyCredentials is not supported."
    Complex(String),
    /// `Request_UnsupportedQuery` "This query on 'Application' for 'KeyCredential' is not supported": the wording
    /// recorded for `keyCredentials/any(...)` on applications (tests/fixtures/microsoft/exact-strings.json,
    /// `applicationKeyCredentialFilterMessage`); service principals answer with `Complex`.
    NotOnResource {
        resource: &'static str,
        entity: &'static str,
    },
    /// `Request_UnsupportedQuery` for a property that cannot be filtered.
    Property {
        property: String,
        resource: &'static str,
    },
    /// `Request_UnsupportedQuery` "Unsupported property filter clause operator 'NotEqualsMatch'."
    Operator(&'static str),
    /// A literal of the wrong type (e.g. a date that does not parse).
    Literal(String),
}

impl FilterError {
    pub fn graph_code(&self) -> &'static str {
        match self {
            FilterError::Syntax(_) | FilterError::Literal(_) => "BadRequest",
            _ => "Request_UnsupportedQuery",
        }
    }
    pub fn message(&self) -> String {
        match self {
            FilterError::Syntax(why) => format!("Invalid filter clause: {why}"),
            FilterError::Complex(p) => format!("Complex query on property {p} is not supported."),
            FilterError::NotOnResource { resource, entity } => {
                format!("This query on '{resource}' for '{entity}' is not supported")
            }
            FilterError::Property { property, resource } => {
                format!(
                    "Unsupported or invalid query filter clause specified for property '{property}' of resource '{resource}'."
                )
            }
            FilterError::Operator(op) => {
                format!("Unsupported property filter clause operator '{op}'.")
            }
            FilterError::Literal(why) => format!("Invalid filter clause: {why}"),
        }
    }
}

#[derive(Debug, Clone)]
enum Lit {
    Str(String),
    Raw(String),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone)]
enum Raw {
    And(Box<Raw>, Box<Raw>),
    Or(Box<Raw>, Box<Raw>),
    Not(Box<Raw>),
    Cmp {
        path: String,
        op: CmpOp,
        lits: Vec<Lit>,
    },
    Any {
        coll: String,
        body: Box<Raw>,
    },
}

/// A compiled filter, checked against a [`Schema`].
#[derive(Debug, Clone)]
pub(crate) enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Cmp {
        path: &'static str,
        op: CmpOp,
        lits: Vec<Typed>,
    },
    Any {
        coll: &'static str,
        body: Box<Filter>,
    },
}

#[derive(Debug, Clone)]
pub(crate) enum Typed {
    Str(String),
    Time(DateTime<Utc>),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Comma,
    Str(String),
    Word(String),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, FilterError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '\'' => {
                // OData escapes a quote inside a string literal by doubling it.
                let mut lit = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(FilterError::Syntax("unterminated string literal".into()));
                        }
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            lit.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            lit.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(lit));
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(chars[i], '(' | ')' | ',' | '\'')
                {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    /// Lambda variables in scope (`t` in `any(t:t/id eq '..')`).
    vars: Vec<String>,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }
    fn expect(&mut self, t: Tok) -> Result<(), FilterError> {
        match self.next() {
            Some(ref got) if *got == t => Ok(()),
            other => Err(FilterError::Syntax(format!(
                "expected {t:?}, found {other:?}"
            ))),
        }
    }

    fn or(&mut self) -> Result<Raw, FilterError> {
        let mut left = self.and()?;
        while self.is_word("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Raw::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Raw, FilterError> {
        let mut left = self.unary()?;
        while self.is_word("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Raw::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Raw, FilterError> {
        if self.is_word("not") {
            self.pos += 1;
            return Ok(Raw::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    /// Strip the lambda variable from a path inside `any(...)`: `t/id` -> `id`, `p` -> ``.
    fn path(&self, w: &str) -> String {
        for v in self.vars.iter().rev() {
            if w == v {
                return String::new();
            }
            if let Some(rest) = w.strip_prefix(v.as_str()).and_then(|r| r.strip_prefix('/')) {
                return rest.to_string();
            }
        }
        w.to_string()
    }

    fn primary(&mut self) -> Result<Raw, FilterError> {
        match self.next() {
            Some(Tok::LParen) => {
                let e = self.or()?;
                self.expect(Tok::RParen)?;
                Ok(e)
            }
            Some(Tok::Word(w)) => {
                if self.peek() == Some(&Tok::LParen) {
                    self.pos += 1;
                    let lower = w.to_ascii_lowercase();
                    if lower == "startswith" || lower == "endswith" {
                        let path = match self.next() {
                            Some(Tok::Word(p)) => self.path(&p),
                            other => {
                                return Err(FilterError::Syntax(format!(
                                    "expected a property, found {other:?}"
                                )));
                            }
                        };
                        self.expect(Tok::Comma)?;
                        let lit = self.literal()?;
                        self.expect(Tok::RParen)?;
                        let op = if lower == "startswith" {
                            CmpOp::StartsWith
                        } else {
                            CmpOp::EndsWith
                        };
                        return Ok(Raw::Cmp {
                            path,
                            op,
                            lits: vec![lit],
                        });
                    }
                    if let Some(coll) = w.strip_suffix("/any").or_else(|| w.strip_suffix("/all")) {
                        let coll = self.path(coll);
                        return self.lambda(coll, lower.ends_with("/all"));
                    }
                    return Err(FilterError::Syntax(format!("unknown function '{w}'")));
                }
                let path = self.path(&w);
                let op = match self.next() {
                    Some(Tok::Word(op)) => op.to_ascii_lowercase(),
                    other => {
                        return Err(FilterError::Syntax(format!(
                            "expected an operator after '{w}', found {other:?}"
                        )));
                    }
                };
                let op = match op.as_str() {
                    "eq" => CmpOp::Eq,
                    "ne" => CmpOp::Ne,
                    "gt" => CmpOp::Gt,
                    "ge" => CmpOp::Ge,
                    "lt" => CmpOp::Lt,
                    "le" => CmpOp::Le,
                    "in" => {
                        self.expect(Tok::LParen)?;
                        let mut lits = vec![self.literal()?];
                        while self.peek() == Some(&Tok::Comma) {
                            self.pos += 1;
                            lits.push(self.literal()?);
                        }
                        self.expect(Tok::RParen)?;
                        return Ok(Raw::Cmp {
                            path,
                            op: CmpOp::In,
                            lits,
                        });
                    }
                    other => {
                        return Err(FilterError::Syntax(format!("unknown operator '{other}'")));
                    }
                };
                let lit = self.literal()?;
                Ok(Raw::Cmp {
                    path,
                    op,
                    lits: vec![lit],
                })
            }
            other => Err(FilterError::Syntax(format!("unexpected {other:?}"))),
        }
    }

    /// `any(t:t/id eq 'x')`, also with a space after the colon, and the empty `any()`.
    fn lambda(&mut self, coll: String, is_all: bool) -> Result<Raw, FilterError> {
        if is_all {
            return Err(FilterError::Complex(coll));
        }
        if self.peek() == Some(&Tok::RParen) {
            return Err(FilterError::Syntax(
                "any() without a lambda is not supported".into(),
            ));
        }
        let var = match self.next() {
            Some(Tok::Word(w)) => {
                let (var, rest) = w.split_once(':').ok_or_else(|| {
                    FilterError::Syntax(format!("expected 'x:' in any(), found '{w}'"))
                })?;
                if !rest.is_empty() {
                    // `t:t/id` arrives as one word: put the body part back.
                    self.pos -= 1;
                    self.toks[self.pos] = Tok::Word(rest.to_string());
                }
                var.to_string()
            }
            other => {
                return Err(FilterError::Syntax(format!(
                    "expected a lambda variable, found {other:?}"
                )));
            }
        };
        self.vars.push(var);
        let body = self.or();
        self.vars.pop();
        let body = body?;
        self.expect(Tok::RParen)?;
        Ok(Raw::Any {
            coll,
            body: Box::new(body),
        })
    }

    fn literal(&mut self) -> Result<Lit, FilterError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Lit::Str(s)),
            Some(Tok::Word(w)) => Ok(match w.to_ascii_lowercase().as_str() {
                "true" => Lit::Bool(true),
                "false" => Lit::Bool(false),
                "null" => Lit::Null,
                _ => Lit::Raw(w),
            }),
            other => Err(FilterError::Syntax(format!(
                "expected a value, found {other:?}"
            ))),
        }
    }
}

/// Parse and check a `$filter` expression for one resource.
pub(crate) fn compile(expr: &str, schema: &Schema, advanced: bool) -> Result<Filter, FilterError> {
    let mut p = Parser {
        toks: tokenize(expr)?,
        pos: 0,
        vars: Vec::new(),
    };
    if p.toks.is_empty() {
        return Err(FilterError::Syntax("the expression is empty".into()));
    }
    let raw = p.or()?;
    if p.pos < p.toks.len() {
        return Err(FilterError::Syntax(format!(
            "unexpected {:?}",
            p.toks[p.pos]
        )));
    }
    check(&raw, schema, schema.props, advanced, true)
}

fn check(
    raw: &Raw,
    schema: &Schema,
    props: &'static [Prop],
    advanced: bool,
    top: bool,
) -> Result<Filter, FilterError> {
    Ok(match raw {
        Raw::And(a, b) => Filter::And(
            Box::new(check(a, schema, props, advanced, top)?),
            Box::new(check(b, schema, props, advanced, top)?),
        ),
        Raw::Or(a, b) => Filter::Or(
            Box::new(check(a, schema, props, advanced, top)?),
            Box::new(check(b, schema, props, advanced, top)?),
        ),
        Raw::Not(a) => {
            if !advanced {
                return Err(FilterError::Operator("NotEqualsMatch"));
            }
            Filter::Not(Box::new(check(a, schema, props, advanced, top)?))
        }
        Raw::Any { coll, body } => {
            if let Some(c) = schema
                .complex_unsupported
                .iter()
                .find(|c| c.eq_ignore_ascii_case(coll))
            {
                if schema.resource == "Application" && c.eq_ignore_ascii_case("keyCredentials") {
                    return Err(FilterError::NotOnResource {
                        resource: schema.resource,
                        entity: "KeyCredential",
                    });
                }
                return Err(FilterError::Complex((*c).to_string()));
            }
            let c = schema
                .colls
                .iter()
                .find(|c| top && c.path.eq_ignore_ascii_case(coll))
                .ok_or_else(|| FilterError::Property {
                    property: coll.clone(),
                    resource: schema.resource,
                })?;
            Filter::Any {
                coll: c.path,
                body: Box::new(check(body, schema, c.items, advanced, false)?),
            }
        }
        Raw::Cmp { path, op, lits } => {
            if top
                && schema
                    .complex_unsupported
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(path))
            {
                return Err(FilterError::Complex(path.clone()));
            }
            let prop = props
                .iter()
                .find(|p| p.path.eq_ignore_ascii_case(path))
                .ok_or_else(|| FilterError::Property {
                    property: path.clone(),
                    resource: schema.resource,
                })?;
            if !prop.ops.contains(op) || (!advanced && schema.advanced_only.contains(op)) {
                return Err(FilterError::Operator(op.graph_name()));
            }
            let lits = lits
                .iter()
                .map(|l| typed(l, prop.ty))
                .collect::<Result<Vec<_>, _>>()?;
            Filter::Cmp {
                path: prop.path,
                op: *op,
                lits,
            }
        }
    })
}

fn typed(l: &Lit, ty: Ty) -> Result<Typed, FilterError> {
    match (l, ty) {
        (Lit::Null, _) => Ok(Typed::Null),
        (Lit::Str(s), Ty::Str) => Ok(Typed::Str(s.clone())),
        // GUIDs are written unquoted by some clients; Graph takes them either way.
        (Lit::Raw(s), Ty::Str) => Ok(Typed::Str(s.clone())),
        (Lit::Raw(s) | Lit::Str(s), Ty::Time) => DateTime::parse_from_rfc3339(s)
            .map(|d| Typed::Time(d.with_timezone(&Utc)))
            .map_err(|_| {
                FilterError::Literal(format!(
                    "'{s}' is not a DateTimeOffset (use 2024-01-01T00:00:00Z)"
                ))
            }),
        (Lit::Bool(b), Ty::Bool) => Ok(Typed::Bool(*b)),
        (other, _) => Err(FilterError::Literal(format!(
            "{other:?} does not match the property's type"
        ))),
    }
}

/// Evaluate a compiled filter on an entity.
pub(crate) fn eval(f: &Filter, target: &dyn Filterable) -> bool {
    match f {
        Filter::And(a, b) => eval(a, target) && eval(b, target),
        Filter::Or(a, b) => eval(a, target) || eval(b, target),
        Filter::Not(a) => !eval(a, target),
        Filter::Any { coll, body } => target.any(coll, &mut |item| eval(body, item)),
        Filter::Cmp { path, op, lits } => {
            let v = target.get(path);
            match op {
                CmpOp::In => lits
                    .iter()
                    .any(|l| compare(&v, l) == Some(std::cmp::Ordering::Equal)),
                CmpOp::StartsWith | CmpOp::EndsWith => match (&v, lits.first()) {
                    (Val::Str(s), Some(Typed::Str(p))) => {
                        let (s, p) = (s.to_lowercase(), p.to_lowercase());
                        if *op == CmpOp::StartsWith {
                            s.starts_with(&p)
                        } else {
                            s.ends_with(&p)
                        }
                    }
                    _ => false,
                },
                _ => {
                    let Some(l) = lits.first() else { return false };
                    let ord = compare(&v, l);
                    match op {
                        CmpOp::Eq => ord == Some(std::cmp::Ordering::Equal),
                        CmpOp::Ne => ord != Some(std::cmp::Ordering::Equal),
                        CmpOp::Gt => ord == Some(std::cmp::Ordering::Greater),
                        CmpOp::Ge => matches!(
                            ord,
                            Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
                        ),
                        CmpOp::Lt => ord == Some(std::cmp::Ordering::Less),
                        CmpOp::Le => matches!(
                            ord,
                            Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
                        ),
                        _ => false,
                    }
                }
            }
        }
    }
}

/// Directory string comparisons are case-insensitive.
fn compare(v: &Val<'_>, l: &Typed) -> Option<std::cmp::Ordering> {
    match (v, l) {
        (Val::Null, Typed::Null) => Some(std::cmp::Ordering::Equal),
        (Val::Str(a), Typed::Str(b)) => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        (Val::Time(a), Typed::Time(b)) => Some(a.cmp(b)),
        (Val::Bool(a), Typed::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// True when the filter is only `id eq '..'` clauses joined by `or` (the one form delta accepts).
pub(crate) fn is_id_filter(f: &Filter) -> bool {
    match f {
        Filter::Or(a, b) => is_id_filter(a) && is_id_filter(b),
        Filter::Cmp {
            path: "id",
            op: CmpOp::Eq,
            ..
        } => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item {
        name: &'static str,
        uris: Vec<&'static str>,
        when: DateTime<Utc>,
    }

    impl Filterable for Item {
        fn get(&self, path: &str) -> Val<'_> {
            match path {
                "displayName" => Val::Str(Cow::Borrowed(self.name)),
                "createdDateTime" => Val::Time(self.when),
                _ => Val::Null,
            }
        }
        fn any(&self, c: &str, pred: &mut dyn FnMut(&dyn Filterable) -> bool) -> bool {
            c == "identifierUris" && self.uris.iter().any(|u| pred(&StrItem(u)))
        }
    }

    const S: &[CmpOp] = &[CmpOp::Eq, CmpOp::StartsWith, CmpOp::In, CmpOp::Ne];
    const T: &[CmpOp] = &[CmpOp::Ge, CmpOp::Le];
    static SCHEMA: Schema = Schema {
        resource: "Application",
        props: &[
            Prop {
                path: "displayName",
                ty: Ty::Str,
                ops: S,
            },
            Prop {
                path: "createdDateTime",
                ty: Ty::Time,
                ops: T,
            },
        ],
        colls: &[Coll {
            path: "identifierUris",
            items: &[Prop {
                path: "",
                ty: Ty::Str,
                ops: S,
            }],
        }],
        complex_unsupported: &["passwordCredentials", "keyCredentials"],
        advanced_only: &[CmpOp::Ne],
    };

    fn item() -> Item {
        Item {
            name: "Payroll Sync",
            uris: vec!["api://payroll"],
            when: "2024-02-01T00:00:00Z".parse().unwrap(),
        }
    }

    fn run(expr: &str) -> Result<bool, FilterError> {
        compile(expr, &SCHEMA, false).map(|f| eval(&f, &item()))
    }

    #[test]
    fn evaluates_common_forms() {
        assert_eq!(run("displayName eq 'payroll sync'"), Ok(true));
        assert_eq!(run("startswith(displayName,'Pay')"), Ok(true));
        assert_eq!(
            run("startswith(displayName, 'x') or displayName in ('a','Payroll Sync')"),
            Ok(true)
        );
        assert_eq!(run("identifierUris/any(x:x eq 'api://payroll')"), Ok(true));
        assert_eq!(run("identifierUris/any(x: x eq 'api://other')"), Ok(false));
        assert_eq!(
            run(
                "createdDateTime ge 2024-01-01T00:00:00Z and createdDateTime le 2024-03-01T00:00:00Z"
            ),
            Ok(true)
        );
        assert_eq!(run("(displayName eq 'it''s')"), Ok(false));
    }

    #[test]
    fn rejects_like_graph() {
        assert_eq!(
            run("passwordCredentials/any(c:c/endDateTime le 2024-01-01T00:00:00Z)"),
            Err(FilterError::Complex("passwordCredentials".into()))
        );
        // The test schema is the applications one, which has its own wording for keyCredentials.
        assert_eq!(
            run("keyCredentials/any(k: k/endDateTime ge 2021-01-02T12:00:00Z)")
                .unwrap_err()
                .message(),
            "This query on 'Application' for 'KeyCredential' is not supported"
        );
        assert_eq!(
            run("displayName ne 'x'"),
            Err(FilterError::Operator("NotEqualsMatch"))
        );
        assert!(compile("displayName ne 'x'", &SCHEMA, true).is_ok());
        assert!(matches!(
            run("notes eq 'x'"),
            Err(FilterError::Property { .. })
        ));
        assert!(matches!(run("displayName eq"), Err(FilterError::Syntax(_))));
        assert!(matches!(
            run("createdDateTime ge yesterday"),
            Err(FilterError::Literal(_))
        ));
    }

    #[test]
    fn query_options_and_tokens() {
        let pairs = vec![
            ("$TOP".to_string(), "5".to_string()),
            ("$deltaToken".to_string(), "latest".to_string()),
        ];
        let q = QueryOptions::parse(&pairs).unwrap();
        assert_eq!(q.top.as_deref(), Some("5"));
        assert_eq!(q.deltatoken.as_deref(), Some("latest"));
        let dup = vec![
            ("$top".to_string(), "1".to_string()),
            ("top".to_string(), "2".to_string()),
        ];
        assert!(QueryOptions::parse(&dup).is_err());
        let t = encode_token(&(1u64, "x"));
        assert_eq!(
            decode_token::<(u64, String)>(&t),
            Some((1, "x".to_string()))
        );
        assert_eq!(decode_token::<(u64, String)>("!!"), None);
        assert_eq!(
            parse_select("ID,displayname", &["id", "displayName"]),
            Ok(vec!["id", "displayName"])
        );
        assert_eq!(parse_select("nope", &["id"]), Err("nope".to_string()));
    }
}

/// Property tests (issue 16 item 12): the emulator's OData parsing takes any client's query text.
#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_query_options_parse_without_panic(
            pairs in proptest::collection::vec(("\\$?[a-z]{0,10}", ".*"), 0..6)
        ) {
            let _ = QueryOptions::parse(&pairs);
        }

        #[test]
        fn any_select_parses_without_panic(raw in ".*") {
            let _ = parse_select(&raw, &["id", "appId", "displayName"]);
        }

        #[test]
        fn any_filter_compiles_or_errs_without_panic(expr in ".*", advanced in any::<bool>()) {
            for kind in [super::super::model::Kind::Application, super::super::model::Kind::ServicePrincipal] {
                let _ = compile(&expr, super::super::graph::schema(kind), advanced);
            }
        }

        #[test]
        fn filter_like_text_compiles_or_errs_without_panic(
            expr in "(displayName|appId|id|createdDateTime) (eq|ne|gt|ge|lt|le|startswith) ('[^']{0,10}'|[0-9]{1,12}|null|true)( (and|or) .{0,20})?",
        ) {
            let _ = compile(&expr, super::super::graph::schema(super::super::model::Kind::Application), true);
        }
    }
}

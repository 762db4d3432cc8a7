"""The run filter language, parsed with a real grammar and compiled to SQLAlchemy Core.

The language is MLflow's search syntax, a little extended::

    metrics.accuracy > 0.9 and params.model = 'lgbm'
    (tags.team = 'nlp' or tags.team = 'vision') and not status = 'Failed'
    params.model in ('lgbm', 'xgboost') and metrics.`val loss` < 0.2
    name ilike '%baseline%' and start_time >= '2024-05-01' and duration < 600
    metrics.auc is not null

Columns are ``metrics.KEY``, ``params.KEY``, ``tags.KEY`` (a key may contain dots;
quote odd ones with backticks or double quotes) and the attributes in
:data:`ATTRIBUTES` (optionally written ``attributes.NAME``). Values are numbers and
quoted strings only. The text is parsed by a LALR grammar into a small tree of
dataclasses; nothing in it is ever evaluated as code, and every value reaches the
database as a bound parameter, so ``__import__('os')`` is just a syntax error.

Compilation is separate from parsing: :func:`compile_filter` turns the tree into a
SQL condition through a :class:`ColumnResolver`, which maps a column to a SQL
expression. The run index resolves columns to its own wide table; the generic path
resolves them to subqueries over MLflow's tables; the same tree drives both.
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Protocol

import sqlalchemy as sa
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from studio_ext.entities import JobStatus
from studio_ext.errors import InvalidInput


class ColumnKind(str, enum.Enum):
    METRIC = "metrics"
    PARAM = "params"
    TAG = "tags"
    ATTRIBUTE = "attributes"


class Op(str, enum.Enum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    LIKE = "like"
    ILIKE = "ilike"
    NOT_LIKE = "not like"
    NOT_ILIKE = "not ilike"


#: Attributes a filter or a sort may name, with what each means.
ATTRIBUTES: dict[str, str] = {
    "status": "the job's status (Completed, Failed, Canceled, Running, Queued, ...)",
    "name": "the display name",
    "run_id": "the MLflow run id",
    "job_name": "the job name",
    "compute": "the compute target",
    "start_time": "when the run started ('2024-05-01', '2024-05-01T12:00' or epoch milliseconds)",
    "end_time": "when the run ended (same formats as start_time)",
    "duration": "seconds from start to end (to now while running)",
    "user": "who started the run",
    "parent_run_id": "the run id of the parent run",
}
_ATTRIBUTE_ALIASES = {
    "display_name": "name", "run_name": "name", "runname": "name", "id": "run_id", "run_uuid": "run_id",
    "user_id": "user", "job": "job_name", "created": "start_time", "start": "start_time", "end": "end_time",
}
_PREFIXES = {
    "metric": ColumnKind.METRIC, "metrics": ColumnKind.METRIC,
    "param": ColumnKind.PARAM, "params": ColumnKind.PARAM, "parameter": ColumnKind.PARAM,
    "parameters": ColumnKind.PARAM,
    "tag": ColumnKind.TAG, "tags": ColumnKind.TAG,
    "attribute": ColumnKind.ATTRIBUTE, "attributes": ColumnKind.ATTRIBUTE, "attr": ColumnKind.ATTRIBUTE,
    "run": ColumnKind.ATTRIBUTE,
}
#: Attributes that are really MLflow tags (so the index keeps them as tag columns).
TAG_BACKED_ATTRIBUTES = {
    "job_name": "studio.job_name",
    "compute": "studio.compute",
    "parent_run_id": "mlflow.parentRunId",
}
_TIME_ATTRIBUTES = {"start_time", "end_time"}
_NUMBER_ATTRIBUTES = {"start_time", "end_time", "duration"}
FILTER_HELP = (
    "Write comparisons such as metrics.accuracy > 0.9, params.model = 'lgbm', tags.team != 'nlp', "
    "status = 'Completed', joined with and / or / not and parentheses."
)


# -- the tree ------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    kind: ColumnKind
    key: str

    def __str__(self) -> str:
        if self.kind is ColumnKind.ATTRIBUTE:
            return self.key
        plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", self.key)
        return f"{self.kind.value}.{self.key if plain else '`' + self.key + '`'}"


Value = float | str


@dataclass(frozen=True)
class Comparison:
    column: Column
    op: Op
    value: Value


@dataclass(frozen=True)
class InList:
    column: Column
    values: tuple[Value, ...]
    negate: bool = False


@dataclass(frozen=True)
class IsNull:
    column: Column
    negate: bool = False


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Comparison | InList | IsNull | And | Or | Not


@dataclass(frozen=True)
class OrderKey:
    column: Column
    descending: bool = False

    def __str__(self) -> str:
        return f"{self.column} {'DESC' if self.descending else 'ASC'}"


# -- the grammar ---------------------------------------------------------------------
_GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr  -> negation
         | atom
?atom: predicate
     | "(" or_expr ")"
predicate: column COMPARATOR value             -> comparison
         | column _LIKE value                  -> like
         | column _ILIKE value                 -> ilike
         | column _NOT _LIKE value             -> not_like
         | column _NOT _ILIKE value            -> not_ilike
         | column _IN "(" value ("," value)* ")"        -> in_list
         | column _NOT _IN "(" value ("," value)* ")"   -> not_in_list
         | column _IS _NULL                    -> is_null
         | column _IS _NOT _NULL               -> is_not_null
column: NAME ("." key)*
?key: NAME | BACKTICKED | DQSTRING
value: SIGNED_NUMBER -> number
     | SQSTRING      -> string
     | DQSTRING      -> string

order_key: column DIRECTION?

COMPARATOR: "<=" | ">=" | "!=" | "<>" | "==" | "=" | "<" | ">"
DIRECTION.2: /(asc|desc)\b/i
_OR.2: /or\b/i
_AND.2: /and\b/i
_NOT.2: /not\b/i
_LIKE.2: /like\b/i
_ILIKE.2: /ilike\b/i
_IN.2: /in\b/i
_IS.2: /is\b/i
_NULL.2: /null\b/i
NAME: /[A-Za-z_][A-Za-z0-9_\-]*/
BACKTICKED: /`[^`]+`/
SQSTRING: /'(?:[^']|'')*'/
DQSTRING: /"(?:[^"]|"")*"/
SIGNED_NUMBER: /[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/

%import common.WS
%ignore WS
"""


@lru_cache(maxsize=2)
def _parser(start: str) -> Lark:
    return Lark(_GRAMMAR, start=start, parser="lalr", maybe_placeholders=False)


class _ToTree(Transformer):
    """Builds the dataclass tree from lark's parse tree; refuses unknown columns by prefix."""

    def column(self, parts: list[Token]) -> Column:
        names = [_unquote(p) for p in parts]
        head = names[0]
        if len(names) == 1:
            return Column(ColumnKind.ATTRIBUTE, _attribute(head))
        kind = _PREFIXES.get(head.lower())
        if kind is None:
            raise InvalidInput(
                f"Unknown column {'.'.join(names)!r}: {head!r} is not a column group. "
                "Use metrics.NAME, params.NAME, tags.NAME or an attribute "
                f"({', '.join(ATTRIBUTES)})."
            )
        key = ".".join(names[1:])
        if kind is ColumnKind.ATTRIBUTE:
            return Column(kind, _attribute(key))
        return Column(kind, key)

    def number(self, items: list[Token]) -> float:
        return float(items[0])

    def string(self, items: list[Token]) -> str:
        return _unquote(items[0])

    def value(self, items: list[Value]) -> Value:
        return items[0]

    @v_args(inline=True)
    def comparison(self, column: Column, op: Token, value: Value) -> Comparison:
        text = str(op)
        mapped = {"==": "=", "<>": "!="}.get(text, text)
        return Comparison(column, Op(mapped), value)

    @v_args(inline=True)
    def like(self, column: Column, value: Value) -> Comparison:
        return Comparison(column, Op.LIKE, value)

    @v_args(inline=True)
    def ilike(self, column: Column, value: Value) -> Comparison:
        return Comparison(column, Op.ILIKE, value)

    @v_args(inline=True)
    def not_like(self, column: Column, value: Value) -> Comparison:
        return Comparison(column, Op.NOT_LIKE, value)

    @v_args(inline=True)
    def not_ilike(self, column: Column, value: Value) -> Comparison:
        return Comparison(column, Op.NOT_ILIKE, value)

    def in_list(self, items: list) -> InList:
        return InList(items[0], tuple(items[1:]))

    def not_in_list(self, items: list) -> InList:
        return InList(items[0], tuple(items[1:]), negate=True)

    @v_args(inline=True)
    def is_null(self, column: Column) -> IsNull:
        return IsNull(column)

    @v_args(inline=True)
    def is_not_null(self, column: Column) -> IsNull:
        return IsNull(column, negate=True)

    def and_expr(self, items: list[Node]) -> And:
        return And(tuple(items))

    def or_expr(self, items: list[Node]) -> Or:
        return Or(tuple(items))

    @v_args(inline=True)
    def negation(self, item: Node) -> Not:
        return Not(item)

    def order_key(self, items: list) -> OrderKey:
        descending = len(items) > 1 and str(items[1]).lower() == "desc"
        return OrderKey(items[0], descending)


def _unquote(token: Token | str) -> str:
    text = str(token)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"`":
        inner = text[1:-1]
        return inner.replace(text[0] * 2, text[0]) if text[0] != "`" else inner
    return text


def _attribute(name: str) -> str:
    lowered = name.lower()
    lowered = _ATTRIBUTE_ALIASES.get(lowered, lowered)
    if lowered not in ATTRIBUTES:
        close = difflib.get_close_matches(lowered, list(ATTRIBUTES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InvalidInput(
            f"Unknown column {name!r}.{hint} Name metrics, params and tags with their group "
            f"(metrics.{name}, params.{name}, tags.{name}); attributes are: {', '.join(ATTRIBUTES)}."
        )
    return lowered


def _syntax_error(text: str, exc: UnexpectedInput, what: str) -> InvalidInput:
    at_end = isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END")
    if at_end:
        pos = len(text)
    elif isinstance(exc, UnexpectedToken) and isinstance(exc.token.start_pos, int):
        pos = exc.token.start_pos
    else:
        pos = getattr(exc, "pos_in_stream", None)
        pos = pos if isinstance(pos, int) else 0
    pos = max(0, min(pos, len(text)))
    if at_end or pos >= len(text):
        found = "the end of the text (is something missing?)"
    elif isinstance(exc, UnexpectedToken):
        found = repr(str(exc.token))
    else:
        found = repr(text[pos])
    pointer = f"\n    {text}\n    {' ' * pos}^"
    return InvalidInput(f"The {what} has a syntax error at position {pos + 1}: unexpected {found}.{pointer}\n{FILTER_HELP}")


def parse_filter(text: str | None) -> Node | None:
    """Parse a filter expression into a tree; None for an empty filter.

    Raises ``InvalidInput`` with the position of a syntax error, or naming an unknown column.
    """
    if text is None or not str(text).strip():
        return None
    if not isinstance(text, str):
        raise InvalidInput(f"The filter must be a string. Got {type(text).__name__} instead.")
    if len(text) > 10_000:
        raise InvalidInput("The filter is longer than 10,000 characters; shorten it.")
    try:
        tree = _parser("start").parse(text)
        return _ToTree().transform(tree)
    except VisitError as exc:  # an InvalidInput raised while building the tree
        if isinstance(exc.orig_exc, InvalidInput):
            raise exc.orig_exc from None
        raise
    except (UnexpectedCharacters, UnexpectedToken, UnexpectedEOF, UnexpectedInput) as exc:
        raise _syntax_error(text, exc, "filter") from None


def parse_order_by(items: Iterable[str] | str | None) -> list[OrderKey]:
    """Parse ``["metrics.accuracy DESC", "start_time"]`` into order keys."""
    if items is None:
        return []
    if isinstance(items, str):
        items = [items]
    keys = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise InvalidInput(f"Each order_by entry must be text such as 'metrics.accuracy DESC'. Got {item!r} instead.")
        try:
            keys.append(_ToTree().transform(_parser("order_key").parse(item)))
        except VisitError as exc:
            if isinstance(exc.orig_exc, InvalidInput):
                raise exc.orig_exc from None
            raise
        except (UnexpectedCharacters, UnexpectedToken, UnexpectedEOF, UnexpectedInput) as exc:
            raise _syntax_error(item, exc, "order_by entry") from None
    return keys


def parse_column(text: str) -> Column:
    """Parse one column name (``metrics.accuracy``, ``status``) as the column chooser stores them."""
    keys = parse_order_by([text])
    return keys[0].column


def columns_of(node: Node | None) -> list[Column]:
    """Every column a filter names, in order of appearance."""
    out: list[Column] = []

    def walk(n: Node) -> None:
        if isinstance(n, (Comparison, InList, IsNull)):
            if n.column not in out:
                out.append(n.column)
        elif isinstance(n, (And, Or)):
            for item in n.items:
                walk(item)
        elif isinstance(n, Not):
            walk(n.item)

    if node is not None:
        walk(node)
    return out


def check_known_columns(columns: Sequence[Column], known: dict[ColumnKind, set[str]], scope: str) -> None:
    """Refuse metrics, params and tags that no run in the scope has, naming them and the known ones."""
    for col in columns:
        if col.kind is ColumnKind.ATTRIBUTE:
            continue
        names = known.get(col.kind, set())
        if col.key in names:
            continue
        singular = {ColumnKind.METRIC: "metric", ColumnKind.PARAM: "param", ColumnKind.TAG: "tag"}[col.kind]
        close = difflib.get_close_matches(col.key, sorted(names), n=1)
        hint = f" Did you mean {col.kind.value}.{close[0]}?" if close else ""
        listed = ", ".join(sorted(names)[:20]) or "none"
        raise InvalidInput(
            f"Unknown column {col}: no run in {scope} has a {singular} named {col.key!r}.{hint} "
            f"Known {col.kind.value}: {listed}."
        )


# -- compilation ------------------------------------------------------------------------
class ColumnResolver(Protocol):
    """Maps the language's columns to SQL for one storage layout."""

    def column(self, column: Column) -> sa.ColumnElement:
        """A SQL expression for the column's value (NULL where a run lacks it)."""

    def status_in(self, statuses: set[JobStatus]) -> sa.ColumnElement:
        """A condition true for runs whose status is one of ``statuses``."""


_NUMERIC_TEXT = r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$"


def _to_millis(column: Column, value: Value) -> float:
    if isinstance(value, float):
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{column} compares with {value!r}, which is not a date. Use '2024-05-01', "
            "'2024-05-01T12:30' or epoch milliseconds."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() * 1000.0


def _status_values(values: Iterable[Value]) -> set[JobStatus]:
    out = set()
    names = {s.value.lower(): s for s in JobStatus}
    for value in values:
        text = str(value).strip()
        status = names.get(text.lower()) or JobStatus.from_mlflow(text.upper())
        if status is None:
            raise InvalidInput(
                f"{value!r} is not a job status. Use one of: {', '.join(s.value for s in JobStatus)}."
            )
        out.add(status)
    return out


def compile_filter(node: Node | None, resolver: ColumnResolver, *, dialect: str = "sqlite") -> sa.ColumnElement:
    """Compile a parsed filter into a SQL condition (``true()`` for no filter)."""
    if node is None:
        return sa.true()
    return _Compiler(resolver, dialect).node(node)


class _Compiler:
    def __init__(self, resolver: ColumnResolver, dialect: str) -> None:
        self.r = resolver
        self.dialect = dialect

    def node(self, n: Node) -> sa.ColumnElement:
        if isinstance(n, And):
            return sa.and_(*(self.node(i) for i in n.items))
        if isinstance(n, Or):
            return sa.or_(*(self.node(i) for i in n.items))
        if isinstance(n, Not):
            # SQL's NOT over NULL is NULL; "not metrics.x > 1" should include runs lacking x.
            return sa.func.coalesce(self.node(n.item), sa.false()) == sa.false()
        if isinstance(n, IsNull):
            if n.column == Column(ColumnKind.ATTRIBUTE, "status"):
                raise InvalidInput("status is never empty; compare it with a status such as 'Running'.")
            expr = self.r.column(n.column)
            return expr.is_not(None) if n.negate else expr.is_(None)
        if isinstance(n, InList):
            return self.in_list(n)
        return self.comparison(n)

    def in_list(self, n: InList) -> sa.ColumnElement:
        col = n.column
        if col == Column(ColumnKind.ATTRIBUTE, "status"):
            cond = self.r.status_in(_status_values(n.values))
            return sa.not_(cond) if n.negate else cond
        parts = [self.comparison(Comparison(col, Op.EQ, v)) for v in n.values]
        cond = sa.or_(*parts)
        return (sa.func.coalesce(cond, sa.false()) == sa.false()) if n.negate else cond

    def comparison(self, n: Comparison) -> sa.ColumnElement:
        col, op, value = n.column, n.op, n.value
        if col == Column(ColumnKind.ATTRIBUTE, "status"):
            if op not in (Op.EQ, Op.NE):
                raise InvalidInput(f"status can only be compared with = or != (or in (...)). Got {op.value!r}.")
            cond = self.r.status_in(_status_values([value]))
            return sa.not_(cond) if op is Op.NE else cond
        expr = self.r.column(col)
        numeric_column = col.kind is ColumnKind.METRIC or (
            col.kind is ColumnKind.ATTRIBUTE and col.key in _NUMBER_ATTRIBUTES)
        if col.kind is ColumnKind.ATTRIBUTE and col.key in _TIME_ATTRIBUTES:
            value = _to_millis(col, value)
        if op in (Op.LIKE, Op.ILIKE, Op.NOT_LIKE, Op.NOT_ILIKE):
            if numeric_column:
                raise InvalidInput(f"{col} is a number; {op.value} works on text. Use =, <, > and friends.")
            if not isinstance(value, str):
                raise InvalidInput(f"{op.value} needs a quoted pattern such as '%lgbm%'. Got {value!r}.")
            if op in (Op.LIKE, Op.NOT_LIKE):
                cond = expr.like(value)
            else:
                cond = expr.ilike(value)
            return sa.not_(cond) if op in (Op.NOT_LIKE, Op.NOT_ILIKE) else cond
        if numeric_column:
            if isinstance(value, str):
                raise InvalidInput(f"{col} is a number; compare it with a number such as 0.9, not {value!r}.")
            return _apply(expr, op, sa.literal(value, sa.Float))
        if isinstance(value, float):
            # params and tags are text; a number compares with the numeric ones only.
            if self.dialect == "sqlite":
                # SQLite casts 'abc' to 0.0, so only cast text made of number characters.
                glob = expr.op("GLOB", is_comparison=True)
                looks_numeric = sa.and_(glob("*[0-9]*"), sa.not_(glob("*[^0-9.eE+-]*")))
                number = sa.case((looks_numeric, sa.cast(expr, sa.Float)), else_=None)
            else:
                number = sa.case((expr.regexp_match(_NUMERIC_TEXT), sa.cast(expr, sa.Float)), else_=None)
            return _apply(number, op, sa.literal(value, sa.Float))
        return _apply(expr, op, sa.literal(value, sa.String))


def _apply(expr: sa.ColumnElement, op: Op, value: sa.ColumnElement) -> sa.ColumnElement:
    return {
        Op.EQ: lambda: expr == value,
        Op.NE: lambda: expr != value,
        Op.LT: lambda: expr < value,
        Op.LE: lambda: expr <= value,
        Op.GT: lambda: expr > value,
        Op.GE: lambda: expr >= value,
    }[op]()

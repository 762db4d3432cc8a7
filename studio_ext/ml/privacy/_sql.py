"""A documented SQL subset, parsed with sqlglot and run as one OpenDP Polars plan.

Supported: ``SELECT`` of grouping columns and ``COUNT(*)``/``COUNT(col)``, ``SUM(col)``,
``AVG(col)``, ``VAR(col)``/``VARIANCE``/``VAR_SAMP``, ``MEDIAN(col)`` and
``QUANTILE(col, q)``/``PERCENTILE_CONT(q) WITHIN GROUP (ORDER BY col)`` over one table
(named by the dataset), with ``WHERE`` (comparisons, ``AND``/``OR``/``NOT``, ``IN``,
``BETWEEN``, ``IS [NOT] NULL``) and ``GROUP BY`` columns whose keys are public.
Anything else (joins, subqueries, ``HAVING``, ``ORDER BY``, ``LIMIT``, other functions)
is refused with its name.
"""

from __future__ import annotations

from typing import Any

from studio_ext.errors import InvalidInput
from studio_ext.ml.privacy._engine import Builder, Plan, PrivateTable

SUPPORTED = "SELECT of COUNT, SUM, AVG, VAR, MEDIAN, QUANTILE over one table, with WHERE and GROUP BY"


def _unsupported(what: str) -> InvalidInput:
    return InvalidInput(f"{what} is not supported in private SQL. Supported: {SUPPORTED}.")


def plan_sql(table: PrivateTable, sql: str, *, epsilon: float, delta: float = 0.0) -> Plan:
    """Parse ``sql`` and build its OpenDP plan over ``table``."""
    import sqlglot
    from sqlglot import exp

    try:
        statements = sqlglot.parse(sql)
    except sqlglot.errors.ParseError as exc:
        raise InvalidInput(f"The SQL does not parse: {str(exc).splitlines()[0]}") from exc
    if len(statements) != 1 or statements[0] is None:
        raise InvalidInput("Give exactly one SELECT statement.")
    tree = statements[0]
    if not isinstance(tree, exp.Select):
        raise _unsupported(f"A {tree.key.upper()} statement")
    for node, what in ((exp.Join, "JOIN"), (exp.Having, "HAVING"), (exp.Limit, "LIMIT"),
                       (exp.Subquery, "A subquery"), (exp.With, "WITH"), (exp.Union, "UNION"),
                       (exp.Window, "A window function"), (exp.Distinct, "DISTINCT")):
        if tree.find(node) is not None:
            raise _unsupported(what)
    if tree.args.get("order") is not None:
        raise _unsupported("ORDER BY")
    tables = list(tree.find_all(exp.Table))
    if len(tables) != 1:
        raise _unsupported(f"A query over {len(tables)} tables")
    if tables[0].name.lower() != table.name.lower():
        raise InvalidInput(f"The query reads table {tables[0].name!r}; this dataset's table is named {table.name!r}.")

    group = tree.args.get("group")
    group_by = [_column_name(g) for g in (group.expressions if group is not None else [])]
    builder = Builder(table.metadata)
    outputs: list[str] = []
    for item in tree.expressions:
        alias = item.alias_or_name if isinstance(item, exp.Alias) else None
        node = item.this if isinstance(item, exp.Alias) else item
        if isinstance(node, exp.Column):
            if node.name not in group_by:
                raise InvalidInput(f"Column {node.name!r} is selected but not in GROUP BY; "
                                   "select only grouping columns and aggregates.")
            continue
        name = alias or node.sql()
        _aggregate(builder, node, name)
        outputs.append(name)
    if not outputs:
        raise InvalidInput("The query selects no aggregate (COUNT, SUM, AVG, VAR, MEDIAN or QUANTILE).")
    where = tree.args.get("where")
    predicate = _predicate(where.this, table) if where is not None else None
    columns = sorted({c.name for c in tree.find_all(exp.Column)})
    return table.plan(builder, epsilon=epsilon, delta=delta, statistic="sql", query=sql, columns=columns,
                      where=predicate, group_by=group_by, shape="table" if group_by else "row")


def _column_name(node: Any) -> str:
    from sqlglot import exp

    if not isinstance(node, exp.Column):
        raise _unsupported(f"GROUP BY {node.sql()}")
    return str(node.name)


def _argument(node: Any, func: str) -> str:
    from sqlglot import exp

    arg = node.this
    if isinstance(arg, exp.Distinct):
        raise _unsupported(f"{func}(DISTINCT ...)")
    if not isinstance(arg, exp.Column):
        raise _unsupported(f"{func} of an expression ({arg.sql() if arg is not None else ''})")
    return str(arg.name)


def _aggregate(b: Builder, node: Any, name: str) -> None:
    from sqlglot import exp

    if isinstance(node, exp.Count):
        arg = node.this
        if isinstance(arg, exp.Distinct):
            raise _unsupported("COUNT(DISTINCT ...)")
        if arg is not None and not isinstance(arg, exp.Star | exp.Column):
            raise _unsupported(f"COUNT of an expression ({arg.sql()})")
        b.add_count(name)  # columns are filled (not null) before they are counted: COUNT(col) = COUNT(*)
    elif isinstance(node, exp.Sum):
        b.add_sum(name, _argument(node, "SUM"))
    elif isinstance(node, exp.Avg):
        b.add_mean(name, _argument(node, "AVG"))
    elif isinstance(node, exp.Variance | exp.VariancePop):
        b.add_variance(name, _argument(node, "VAR"))
    elif isinstance(node, exp.Median):
        b.add_quantile(name, _argument(node, "MEDIAN"), 0.5)
    elif isinstance(node, exp.Quantile):
        b.add_quantile(name, _argument(node, "QUANTILE"), _number(node.args.get("quantile")))
    elif isinstance(node, exp.WithinGroup) and isinstance(node.this, exp.PercentileCont):
        order = node.expression
        col = order.expressions[0].this if isinstance(order, exp.Order) and order.expressions else None
        if not isinstance(col, exp.Column):
            raise _unsupported("PERCENTILE_CONT without ORDER BY a column")
        b.add_quantile(name, str(col.name), _number(node.this.this))
    elif isinstance(node, exp.Anonymous) and str(node.name).upper() in ("VAR", "QUANTILE") and node.expressions:
        args = node.expressions
        if not isinstance(args[0], exp.Column):
            raise _unsupported(f"{node.name} of an expression ({args[0].sql()})")
        if str(node.name).upper() == "VAR":
            b.add_variance(name, str(args[0].name))
        elif len(args) == 2:
            b.add_quantile(name, str(args[0].name), _number(args[1]))
        else:
            raise InvalidInput("QUANTILE takes a column and a number in [0, 1]: QUANTILE(Age, 0.9).")
    elif isinstance(node, exp.Anonymous):
        raise _unsupported(f"The function {node.name}")
    elif isinstance(node, exp.Func):
        raise _unsupported(f"The function {node.sql_name()}")
    else:
        raise _unsupported(f"The select item {node.sql()}")


def _number(node: Any) -> float:
    from sqlglot import exp

    if isinstance(node, exp.Literal) and not node.is_string:
        return float(node.this)
    raise InvalidInput(f"Expected a number, got {node.sql() if node is not None else 'nothing'}.")


def _literal(node: Any) -> Any:
    from sqlglot import exp

    if isinstance(node, exp.Neg):
        return -_literal(node.this)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return str(node.this)
        text = str(node.this)
        return float(text) if any(c in text for c in ".eE") else int(text)
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    raise _unsupported(f"The value {node.sql()} in WHERE (only literals are compared)")


def _predicate(node: Any, table: PrivateTable) -> Any:
    import polars as pl
    from sqlglot import exp

    def col(n: Any) -> Any:
        if not isinstance(n, exp.Column):
            raise _unsupported(f"The WHERE operand {n.sql()} (compare a column with a literal)")
        if n.name not in table.columns:
            raise InvalidInput(f"WHERE names column {n.name!r}, which is not in {table.name!r}.")
        return pl.col(n.name)

    if isinstance(node, exp.Paren):
        return _predicate(node.this, table)
    if isinstance(node, exp.And):
        return _predicate(node.this, table) & _predicate(node.expression, table)
    if isinstance(node, exp.Or):
        return _predicate(node.this, table) | _predicate(node.expression, table)
    if isinstance(node, exp.Not):
        if isinstance(node.this, exp.Is):
            return col(node.this.this).is_not_null()
        return ~_predicate(node.this, table)
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        return col(node.this).is_null()
    ops = {exp.EQ: "__eq__", exp.NEQ: "__ne__", exp.GT: "__gt__", exp.GTE: "__ge__", exp.LT: "__lt__",
           exp.LTE: "__le__"}
    for kind, method in ops.items():
        if isinstance(node, kind):
            left, right = node.this, node.expression
            if isinstance(left, exp.Column):
                return getattr(col(left), method)(_literal(right))
            flipped = {"__gt__": "__lt__", "__lt__": "__gt__", "__ge__": "__le__", "__le__": "__ge__"}
            return getattr(col(right), flipped.get(method, method))(_literal(left))
    if isinstance(node, exp.In):
        return col(node.this).is_in([_literal(v) for v in node.expressions])
    if isinstance(node, exp.Between):
        c = col(node.this)
        return (c >= _literal(node.args["low"])) & (c <= _literal(node.args["high"]))
    raise _unsupported(f"The WHERE condition {node.sql()}")

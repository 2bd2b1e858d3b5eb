"""Translate parsed search criteria into SQL conditions on a resource row id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    and_,
    false,
    func,
    intersect,
    not_,
    or_,
    select,
    tuple_,
    union,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from gansu_health.core.clock import now, to_micros
from gansu_health.core.errors import BadRequest
from gansu_health.fhir.definitions import SearchParamDef
from gansu_health.fhir.search.params import Criterion, split_escaped, unescape
from gansu_health.fhir.search.special import TEXT_SEARCH, like_escape, near_rids, text_rids
from gansu_health.fhir.search.terminology import CodeResolver, current_connection
from gansu_health.fhir.search.values import (
    SPAN_LIMITS,
    UNBOUNDED_SPAN,
    date_range,
    decimal_range,
    normalize_string,
    split_reference,
)
from gansu_health.fhir.storage.protection import FieldProtection, Lookup, token_lookup
from gansu_health.fhir.storage.tables import INDEX_TABLES, resource

Cond = ColumnElement[bool]

TERMINOLOGY_MODIFIERS = {"below", "above", "in", "not-in"}


def _prefix(value: str) -> tuple[str, str]:
    if len(value) > 2 and value[:2] in ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap") \
            and (value[2].isdigit() or value[2] in "-."):
        return value[:2], value[2:]
    return "eq", value


def _prefix_upper(text: str) -> str:
    return text[:-1] + chr(ord(text[-1]) + 1) if text else "\uffff"


class CriteriaBuilder:
    """Builds the SQL condition for each criterion against a given resource alias."""

    def __init__(self, base_url: str, default_tz: str) -> None:
        self.base_url = base_url
        self.default_tz = default_tz
        self.codes: CodeResolver | None = None  # installed by the terminology service
        self.protection: FieldProtection | None = None  # installed by field encryption

    def condition(self, rtype: str, crit: Criterion, res: FromClause) -> Cond:
        """Return a condition that holds for rows of ``res`` matching ``crit``."""
        if crit.has is not None:
            return self._has(rtype, crit, res)
        param = crit.param
        assert param is not None
        if crit.chains:
            return self._chain(rtype, crit, res)
        if param.code == "_id":
            return self._id(crit, res)
        if param.code == "_lastUpdated":
            return or_(*(self._date_cond(v, res.c.updated_us, res.c.updated_us)
                         for v in crit.values))
        if param.type == "special":
            return res.c.rid.in_(near_rids(rtype, param.code, crit))
        if param.code in TEXT_SEARCH:
            return res.c.rid.in_(text_rids(rtype, param.code, crit))
        if crit.modifier == "missing":
            return self._missing(rtype, param, crit, res)
        if param.type == "composite":
            return res.c.rid.in_(self._composite(rtype, param, crit))
        table, conds = self._index_conditions(rtype, crit)
        sub = select(table.c.rid).where(*conds)
        if crit.modifier in ("not", "not-in"):
            return not_(res.c.rid.in_(sub))
        return res.c.rid.in_(sub)

    def simple(self, crit: Criterion) -> bool:
        """Tell whether the criterion is one positive lookup in one index table."""
        return bool(self.drives(crit) and not crit.chains and crit.param is not None
                    and crit.param.type not in ("composite", "special")
                    and crit.param.code not in TEXT_SEARCH)

    def _index_conditions(self, rtype: str, crit: Criterion) -> tuple[Table, list[Cond]]:
        param = crit.param
        assert param is not None
        table = INDEX_TABLES["token" if crit.modifier == "identifier" else param.type]
        code = param.code + (":identifier" if crit.modifier == "identifier" else "")
        lookup = token_lookup(self.protection, rtype, param.type, param.code, crit.modifier)
        values = [self._token(crit.modifier, v, table, lookup) if lookup else
                  self._value_cond(param, crit.modifier, v, table) for v in crit.values]
        return table, [table.c.rtype == rtype, table.c.param == code, or_(*values)]

    @staticmethod
    def pair_windows(criteria: list[Criterion]
                     ) -> tuple[list[tuple[Criterion, Criterion]], list[Criterion]]:
        """Pair ``date=ge…`` with ``date=lt…`` on one parameter; return (pairs, the rest)."""
        lowers: dict[str, Criterion] = {}
        uppers: dict[str, Criterion] = {}
        for crit in criteria:
            p = crit.param
            if (p is None or p.type != "date" or p.code == "_lastUpdated" or crit.modifier
                    or crit.chains or crit.has is not None or len(crit.values) != 1):
                continue
            prefix = _prefix(crit.values[0])[0]
            side = lowers if prefix in ("ge", "gt", "sa") else \
                uppers if prefix in ("le", "lt", "eb") else None
            if side is not None:
                side.setdefault(p.code, crit)
        pairs = [(lowers[c], uppers[c]) for c in lowers if c in uppers]
        paired = {id(c) for pair in pairs for c in pair}
        return pairs, [c for c in criteria if id(c) not in paired]

    def window(self, rtype: str, lower: Criterion, upper: Criterion, res: FromClause) -> Cond:
        """Match a date window as bounded scans of the ``(span, lo)`` index, exactly.

        A row that satisfies both bounds has ``lo`` between the window's start minus its span
        class's width and the window's end; resources with several values for the parameter may
        satisfy the bounds with different values, so those are matched separately.
        """
        assert lower.param is not None
        table = INDEX_TABLES["date"]
        code = lower.param.code
        low = self._date_cond(lower.values[0], table.c.lo, table.c.hi)
        high = self._date_cond(upper.values[0], table.c.lo, table.c.hi)
        lo_min, lo_max = self._lo_bounds(lower.values[0], upper.values[0])
        bounded = [and_(table.c.span == c, table.c.lo >= lo_min(width), table.c.lo <= lo_max)
                   for c, width in enumerate(SPAN_LIMITS)]
        bounded.append(and_(table.c.span == UNBOUNDED_SPAN, table.c.lo <= lo_max))
        base = (table.c.rtype == rtype, table.c.param == code)
        # one branch per span class, so each is a bounded scan of (rtype, param, multi, span, lo)
        singles = [select(table.c.rid).where(*base, table.c.multi.is_(False), cond, low, high)
                   for cond in bounded]
        several = [select(table.c.rid).where(*base, table.c.multi.is_(True), cond)
                   for cond in (low, high)]
        both = intersect(*several).subquery()
        return res.c.rid.in_(union(*singles, select(both.c.rid)))

    def _lo_bounds(self, lower: str, upper: str) -> tuple[Callable[[int], int], int]:
        low_prefix, low_value = _prefix(lower)
        high_prefix, high_value = _prefix(upper)
        low_range = date_range(low_value, self.default_tz)
        high_range = date_range(high_value, self.default_tz)
        if low_range is None or high_range is None:
            raise BadRequest(f"'{lower}' or '{upper}' is not a valid date")
        # the lower bound is on hi (ge, gt) or on lo itself (sa); lo never exceeds hi
        start = low_range[0] if low_prefix == "ge" else low_range[1] + 1
        lo_max = high_range[1] if high_prefix == "le" else high_range[0] - 1
        if low_prefix == "sa":
            return (lambda _width: start), lo_max
        return (lambda width: start - width), lo_max

    def probe(self, rtype: str, crit: Criterion, res: FromClause) -> Cond:
        """Return a correlated EXISTS for a simple criterion (cheap per candidate row)."""
        table, conds = self._index_conditions(rtype, crit)
        # the row id fixes the type; leaving rtype out steers the planner to the (rid, param) index
        return select(table.c.rid).where(table.c.rid == res.c.rid, *conds[1:]).exists()

    def estimate(self, conn: Connection, rtype: str, crit: Criterion, cap: int) -> int:
        """Count a simple criterion's index hits, stopping at ``cap``."""
        table, conds = self._index_conditions(rtype, crit)
        hits = select(table.c.rid).where(*conds).limit(cap).subquery()
        return int(conn.execute(select(func.count()).select_from(hits)).scalar_one())

    @staticmethod
    def drives(crit: Criterion) -> bool:
        """Tell whether the condition is a positive row-id subquery on the searched type."""
        return bool(crit.has is None and crit.param is not None
                    and crit.param.code not in ("_id", "_lastUpdated")
                    and crit.modifier not in ("not", "not-in", "missing"))

    def _id(self, crit: Criterion, res: FromClause) -> Cond:
        ids = [unescape(v) for v in crit.values]
        cond = res.c.fid.in_(ids) if len(ids) > 1 else res.c.fid == ids[0]
        return not_(cond) if crit.modifier == "not" else cond

    def _missing(self, rtype: str, param: SearchParamDef, crit: Criterion,
                 res: FromClause) -> Cond:
        if crit.values[0] not in ("true", "false"):
            raise BadRequest(f"{crit.name} must be true or false", expression=crit.name)
        ptype = param.type if param.type != "composite" else param.components[0][1]
        table = INDEX_TABLES[ptype]
        code = param.code if param.type != "composite" else f"{param.code}$0"
        sub = select(table.c.rid).where(table.c.rtype == rtype, table.c.param == code)
        return not_(res.c.rid.in_(sub)) if crit.values[0] == "true" else res.c.rid.in_(sub)

    def _chain(self, rtype: str, crit: Criterion, res: FromClause) -> Cond:
        assert crit.param is not None
        ref = INDEX_TABLES["reference"]
        alternatives = []
        for target_type, sub in crit.chains:
            target = resource.alias()
            targets = select(target.c.rtype, target.c.fid).where(
                target.c.rtype == target_type, target.c.deleted.is_(False),
                self.condition(target_type, sub, target))
            alternatives.append(and_(ref.c.target_type == target_type,
                                     tuple_(ref.c.target_type, ref.c.target_id).in_(targets)))
        rids = select(ref.c.rid).where(ref.c.rtype == rtype, ref.c.param == crit.param.code,
                                       or_(*alternatives))
        return res.c.rid.in_(rids)

    def _has(self, rtype: str, crit: Criterion, res: FromClause) -> Cond:
        assert crit.has is not None
        src_type, ref_param, inner = crit.has
        ref = INDEX_TABLES["reference"]
        src = resource.alias()
        sources = select(src.c.rid).where(src.c.rtype == src_type, src.c.deleted.is_(False),
                                          self.condition(src_type, inner, src))
        fids = select(ref.c.target_id).where(ref.c.rtype == src_type, ref.c.param == ref_param,
                                             ref.c.target_type == rtype,
                                             ref.c.rid.in_(sources))
        return res.c.fid.in_(fids)

    def _composite(self, rtype: str, param: SearchParamDef, crit: Criterion) -> Any:
        selects = []
        for raw in crit.values:
            parts = split_escaped(raw, "$")
            if len(parts) != len(param.components):
                raise BadRequest(
                    f"{crit.name} needs {len(param.components)} values joined by '$'",
                    expression=crit.name)
            tables = [INDEX_TABLES[ctype].alias() for _, ctype, _ in param.components]
            conds: list[Cond] = []
            for i, ((_, ctype, _), table, part) in enumerate(
                    zip(param.components, tables, parts, strict=True)):
                conds += [table.c.rtype == rtype, table.c.param == f"{param.code}${i}",
                          self._value_cond_typed(ctype, None, part, table)]
                if i:
                    conds += [table.c.rid == tables[0].c.rid, table.c.grp == tables[0].c.grp]
            selects.append(select(tables[0].c.rid).where(*conds))
        return selects[0] if len(selects) == 1 else selects[0].union(*selects[1:])

    def _value_cond(self, param: SearchParamDef, modifier: str | None, raw: str,
                    table: Table) -> Cond:
        ptype = "token" if modifier == "identifier" else param.type
        if ptype == "reference":
            return self._reference(param, modifier, raw, table)
        return self._value_cond_typed(ptype, modifier, raw, table)

    def _value_cond_typed(self, ptype: str, modifier: str | None, raw: str,
                          table: FromClause) -> Cond:
        if ptype == "token" and modifier in TERMINOLOGY_MODIFIERS:
            return self._token_terminology(modifier, raw, table)
        if ptype == "token":
            return self._token(modifier, raw, table)
        if ptype == "string":
            text = normalize_string(unescape(raw))
            if modifier == "exact":
                return table.c.exact == unescape(raw)
            if modifier == "contains":
                return table.c.value.like(f"%{like_escape(text)}%", escape="\\")
            return and_(table.c.value >= text, table.c.value < _prefix_upper(text))
        if ptype == "date":
            return self._date_cond(raw, table.c.lo, table.c.hi)
        if ptype == "number":
            return self._number_cond(raw, table.c.value)
        if ptype == "quantity":
            return self._quantity(raw, table)
        if ptype == "uri":
            return self._uri(modifier, unescape(raw), table)
        raise BadRequest(f"Search on {ptype} values is not supported")

    def _token_terminology(self, modifier: str, raw: str, table: FromClause) -> Cond:
        conn = current_connection.get()
        if self.codes is None or conn is None:
            raise BadRequest(f"':{modifier}' needs the terminology service, which is not running")
        value = unescape(raw)
        if modifier in ("in", "not-in"):
            pairs = self.codes.members(conn, value)
            if not pairs:
                return false()
            return tuple_(table.c.system, table.c.code).in_(sorted(pairs))
        system, _, code = value.partition("|")
        if not code:
            raise BadRequest(f"':{modifier}' needs system|code, not '{value}'")
        related = (self.codes.below if modifier == "below" else self.codes.above)(
            conn, system, code)
        return and_(table.c.system == system, table.c.code.in_(sorted(related)))

    @staticmethod
    def _token(modifier: str | None, raw: str, table: FromClause,
               lookup: Lookup | None = None) -> Cond:
        if modifier == "text":
            text = normalize_string(unescape(raw))
            return and_(table.c.text >= text, table.c.text < _prefix_upper(text))
        parts = split_escaped(raw, "|")
        system = unescape(parts[0]) if len(parts) > 1 else None
        code = unescape("|".join(parts[1:]) if len(parts) > 1 else parts[0])
        sys_cond = None if system is None else \
            table.c.system.is_(None) if system == "" else table.c.system == system
        if sys_cond is not None and code == "":
            return sys_cond
        code_cond = table.c.code.in_(lookup(system, code)) if lookup else table.c.code == code
        return code_cond if sys_cond is None else and_(sys_cond, code_cond)

    def _date_cond(self, raw: str, lo: ColumnElement[Any], hi: ColumnElement[Any]) -> Cond:
        prefix, value = _prefix(raw)
        rng = date_range(value, self.default_tz)
        if rng is None:
            raise BadRequest(f"'{value}' is not a valid date, dateTime or instant")
        plo, phi = rng
        if prefix == "eq":
            return and_(lo >= plo, hi <= phi)
        if prefix == "ne":
            return or_(lo < plo, hi > phi)
        if prefix == "gt":
            return hi > phi
        if prefix == "lt":
            return lo < plo
        if prefix == "ge":
            return hi >= plo
        if prefix == "le":
            return lo <= phi
        if prefix == "sa":
            return lo > phi
        if prefix == "eb":
            return hi < plo
        gap = abs(to_micros(now()) - (plo + phi) // 2)
        margin = max(gap // 10, (phi - plo) // 2)
        return and_(hi >= plo - margin, lo <= phi + margin)

    @staticmethod
    def _number_cond(raw: str, col: ColumnElement[Any]) -> Cond:
        prefix, value = _prefix(raw)
        try:
            exact, lo, hi = decimal_range(value)
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
        match prefix:
            case "eq":
                return and_(col >= lo, col < hi)
            case "ne":
                return or_(col < lo, col >= hi)
            case "gt" | "sa":
                return col > exact
            case "lt" | "eb":
                return col < exact
            case "ge":
                return col >= exact
            case "le":
                return col <= exact
        margin = abs(exact) * 0.1
        return and_(col >= exact - margin, col <= exact + margin)

    def _quantity(self, raw: str, table: FromClause) -> Cond:
        parts = split_escaped(raw, "|")
        cond = self._number_cond(parts[0], table.c.value)
        if len(parts) >= 3:
            system, code = unescape(parts[1]), unescape(parts[2])
            if code:
                cond = and_(cond, table.c.code == code)
            if system:
                cond = and_(cond, table.c.system == system)
        return cond

    @staticmethod
    def _uri(modifier: str | None, value: str, table: FromClause) -> Cond:
        if modifier == "below":
            return table.c.uri.like(f"{like_escape(value)}%", escape="\\")
        if modifier == "above":
            pieces = value.split("/")
            prefixes = ["/".join(pieces[:i]) for i in range(3, len(pieces) + 1)]
            return table.c.uri.in_(prefixes or [value])
        return table.c.uri == value

    def _reference(self, param: SearchParamDef, modifier: str | None, raw: str,
                   table: FromClause) -> Cond:
        value = unescape(raw)
        rtype, rid, url = split_reference(value, self.base_url)
        if rid is None and "/" not in value and ":" not in value:
            rid, url = value, None
            rtype = modifier or (param.targets[0] if len(param.targets) == 1 else None)
        if rid is None:
            return table.c.url == value
        if modifier and rtype and modifier != rtype:
            return false()
        conds = [table.c.target_id == rid,
                 table.c.url == url if url else table.c.url.is_(None)]
        if rtype:
            conds.append(table.c.target_type == rtype)
        return and_(*conds)

"""PostgreSQL's types as ADBC's driver hands them over in Arrow, made what sqlnb's frames and rows
hold (the README's PostgreSQL type table; docs/research-postgres.md section 3 measured the driver).

The driver decodes PostgreSQL's binary COPY format itself for the common types (integers, floats,
text, bytea, bool, date, time, timestamp, timestamptz in UTC, interval as month_day_nano, arrays
as lists); the rest come as Arrow extension types that pandas and Python cannot use as they are.
This module maps them, column by column, once per result (`Plan`):

- `numeric` comes as its exact text (an opaque extension over string): a DataFrame gets the
  nearest float64 (Arrow's parser rounds once, to the nearest; 'NaN' and '±Infinity' are NaN and
  ±inf), as a DuckDB DECIMAL does; a `Result`'s rows get `decimal.Decimal`, exact.
- `money` comes as an int64 of cents: a float64 of the amount (frames), `Decimal` (rows).
- `uuid` (arrow.uuid, 16 bytes) and `json`/`jsonb` (arrow.json) become their text.
- `inet`, `cidr`, `macaddr`, `macaddr8`, `timetz`, `bit`, `varbit` and `xml` come as
  PostgreSQL's binary wire format: decoded here into PostgreSQL's own text of them.
- An `enum`, or any type whose binary form is its text (`citext`, a domain over text...), that
  the driver did not know when it connected (made later), comes as its wire bytes too: the
  backend knows such types (`text_types`), and their bytes are decoded as UTF-8 text.
- A timestamp or date of 'infinity' or '-infinity' comes from the driver wrapped around int64
  (int32): turned back into the infinity _arrow_types knows (date.max, datetime.max...).
- Lists of any of these are mapped element by element. Any other type (ranges, geometric
  types, tsvector, composite and extension types) stays PostgreSQL's binary form, `bytes`: cast
  it to text in the query (`col::text`).

pyarrow is imported in the functions, as everywhere in sqlnb: only a result needs it.
"""

from __future__ import annotations

import decimal
import ipaddress
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..engine import python_values

__all__ = ["Plan", "plan"]

#: PostgreSQL's epoch (2000-01-01) after 1970-01-01, in microseconds and in days: the driver adds
#: it to an infinity (int64 max/min, int32 max/min), which wraps around to these values.
_EPOCH_US = 946_684_800_000_000
_EPOCH_DAYS = 10_957
_WRAPPED_TIMESTAMP = {(2**63 - 1 + _EPOCH_US) - 2**64: 2**63 - 1,  # +infinity
                      -(2**63) + _EPOCH_US: -(2**63 - 1)}  # -infinity (as DuckDB stores them)
_WRAPPED_DATE = {(2**31 - 1 + _EPOCH_DAYS) - 2**32: 2**31 - 1, -(2**31) + _EPOCH_DAYS: -(2**31 - 1)}
#: Stored values below these are wrapped infinities (PostgreSQL's own range starts in 4713 BC)
_TIMESTAMP_FLOOR = -(2**62)
_DATE_FLOOR = -(2**30)


# -- one value of a type the driver leaves in PostgreSQL's binary form -------------------------

def _inet(data: bytes, cidr: bool = False) -> str:
    """inet/cidr: family (2 IPv4, 3 IPv6), bits, is_cidr, length, address; as PostgreSQL
    writes it (an inet's /bits only when they are not the whole address)."""
    family, bits, _is_cidr, size = data[0], data[1], data[2], data[3]
    address = ipaddress.ip_address(bytes(data[4:4 + size]))
    text = str(address)
    if family == 3 and address.ipv4_mapped is not None:  # Python < 3.13: ::ffff:102:304
        text = f"::ffff:{address.ipv4_mapped}"
    full = 32 if family == 2 else 128
    return text if bits == full and not cidr else f"{text}/{bits}"


def _cidr(data: bytes) -> str:
    return _inet(data, cidr=True)


def _macaddr(data: bytes) -> str:
    return ":".join(f"{byte:02x}" for byte in data)


def _timetz(data: bytes) -> str:
    """timetz: microseconds since midnight, then the zone in seconds west of UTC."""
    micros, west = struct.unpack(">qi", data)
    seconds, micro = divmod(micros, 1_000_000)
    text = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    if micro:
        text += f".{micro:06d}".rstrip("0")
    east = -west
    sign = "+" if east >= 0 else "-"
    hours, rest = divmod(abs(east), 3600)
    minutes, secs = divmod(rest, 60)
    zone = f"{sign}{hours:02d}"
    if minutes or secs:
        zone += f":{minutes:02d}"
    if secs:
        zone += f":{secs:02d}"
    return text + zone


def _bits(data: bytes) -> str:
    """bit/varbit: the number of bits, then the bits, high bit first."""
    (count,) = struct.unpack(">i", data[:4])
    return "".join("1" if data[4 + i // 8] & (0x80 >> (i % 8)) else "0" for i in range(count))


def _utf8(data: bytes) -> str:
    return bytes(data).decode("utf-8", "replace")


#: The driver's name of a type it leaves in binary -> what decodes one value into text.
_DECODERS: dict[str, Callable[[bytes], str]] = {
    "inet": _inet, "cidr": _cidr, "macaddr": _macaddr, "macaddr8": _macaddr,
    "timetz": _timetz, "bit": _bits, "varbit": _bits, "xml": _utf8,
}


# -- a column -------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Map:
    """How one column (or a list's elements) is mapped: into an Arrow array for a frame's
    builder, and into Python values for a Result's rows."""

    to_arrow: Callable[[Any], Any]
    to_python: Callable[[Any], list[Any]]


def _storage(array: Any) -> Any:
    """An extension array's storage (an opaque numeric's text, a uuid's 16 bytes)."""
    return array.storage if hasattr(array, "storage") else array


def _numeric_floats(array: Any) -> Any:
    """Exact text -> the nearest float64 ('NaN', 'Infinity' and '-Infinity' included)."""
    import pyarrow as pa

    return _storage(array).cast(pa.float64())


def _numeric_decimals(array: Any) -> list[Any]:
    return [None if text is None else decimal.Decimal(text)
            for text in _storage(array).to_pylist()]


def _money_floats(array: Any) -> Any:
    import numpy as np
    import pyarrow as pa

    cents = array.fill_null(0).to_numpy(zero_copy_only=False).astype(np.float64)
    return pa.array(cents / 100.0, mask=array.is_null().to_numpy(zero_copy_only=False))


def _money_decimals(array: Any) -> list[Any]:
    return [None if cents is None else decimal.Decimal(cents).scaleb(-2)
            for cents in array.to_pylist()]


def _uuid_text(array: Any) -> Any:
    """16-byte uuids -> their hyphenated hex text, vectorised."""
    import numpy as np
    import pyarrow as pa

    storage = _storage(array)
    count = len(storage)
    if count == 0:
        return pa.array([], pa.string())
    raw = np.frombuffer(storage.buffers()[1], dtype=np.uint8)[
        storage.offset * 16:(storage.offset + count) * 16].reshape(count, 16)
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    hexed = np.empty((count, 32), dtype=np.uint8)
    hexed[:, 0::2] = digits[raw >> 4]
    hexed[:, 1::2] = digits[raw & 15]
    text = np.full((count, 36), ord("-"), dtype=np.uint8)
    for start, end, into in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        text[:, into:into + end - start] = hexed[:, start:end]
    strings = text.view("S36").ravel().astype(str)
    return pa.array(strings, pa.string(), mask=storage.is_null().to_numpy(zero_copy_only=False))


def _plain_text(array: Any) -> Any:
    """An extension over text (json, jsonb) -> its text."""
    import pyarrow as pa

    return _storage(array).cast(pa.string())


def _decoded(decode: Callable[[bytes], str]) -> _Map:
    def python(array: Any) -> list[Any]:
        return [None if value is None else decode(value) for value in _storage(array).to_pylist()]

    def arrow(array: Any) -> Any:
        import pyarrow as pa

        return pa.array(python(array), pa.string())

    return _Map(arrow, python)


def _infinities(kind: Any) -> _Map:
    """A timestamp or date column whose wrapped infinities (see module docstring) are put back."""
    import pyarrow as pa
    import pyarrow.compute as pc

    is_date = pa.types.is_date32(kind)
    storage = pa.int32() if is_date else pa.int64()
    floor = _DATE_FLOOR if is_date else _TIMESTAMP_FLOOR
    wrapped = _WRAPPED_DATE if is_date else _WRAPPED_TIMESTAMP

    def arrow(array: Any) -> Any:
        if len(array) == 0 or array.null_count == len(array):
            return array
        stored = array.view(storage)
        if pc.min(stored).as_py() >= floor:  # the usual case: one pass, no copy
            return array
        fixed = [wrapped.get(n, n) if n is not None else None for n in stored.to_pylist()]
        return pa.array(fixed, storage).view(kind)

    def python(array: Any) -> list[Any]:
        return python_values(arrow(array))

    return _Map(arrow, python)


def _list_of(element: _Map) -> _Map:
    """A list column whose elements are mapped by `element`."""
    import pyarrow as pa

    def arrow(array: Any) -> Any:
        values = element.to_arrow(array.values)
        offsets = array.offsets
        if array.null_count:
            return pa.ListArray.from_arrays(offsets, values, mask=array.is_null())
        return pa.ListArray.from_arrays(offsets, values)

    def python(array: Any) -> list[Any]:
        values = element.to_python(array.values)
        bounds = array.offsets.to_pylist()
        valid = array.is_valid().to_pylist()
        return [values[a:b] if ok else None for ok, a, b in zip(valid, bounds, bounds[1:])]

    return _Map(arrow, python)


_NUMERIC = _Map(_numeric_floats, _numeric_decimals)
_MONEY = _Map(_money_floats, _money_decimals)
_UUID = _Map(_uuid_text, lambda array: _uuid_text(array).to_pylist())
_TEXT = _Map(_plain_text, lambda array: _plain_text(array).to_pylist())


def _map_of(kind: Any, postgres_type: str, text_types: Callable[[int], bool]) -> _Map | None:
    """How a column of this Arrow type (and PostgreSQL type name) is mapped; None: as it is."""
    import pyarrow as pa

    if isinstance(kind, pa.BaseExtensionType):
        name = kind.extension_name
        if name == "arrow.uuid":
            return _UUID
        if name == "arrow.json":
            return _TEXT
        if name == "arrow.opaque":
            type_name = kind.type_name
            if type_name == "numeric":
                return _NUMERIC
            if type_name in _DECODERS:
                return _decoded(_DECODERS[type_name])
            if type_name.startswith("unnamed<oid:") and text_types(int(type_name[12:-1])):
                return _decoded(_utf8)  # an enum (or a text-like type) made after connecting
        return None
    if postgres_type == "money" and pa.types.is_int64(kind):
        return _MONEY
    if pa.types.is_timestamp(kind) or pa.types.is_date32(kind):
        return _infinities(kind)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        element = _map_of(kind.value_type, "", text_types)
        return None if element is None else _list_of(element)
    return None


# -- a result -----------------------------------------------------------------------------------

class Plan:
    """How each column of one result is mapped (see the module docstring); `needed` is False
    when every column comes as the driver gives it (then batches pass untouched)."""

    def __init__(self, maps: Sequence[_Map | None]) -> None:
        self.maps = list(maps)
        self.needed = any(m is not None for m in self.maps)

    def for_frame(self, batch: Any) -> Any:
        """The batch as ArrowFrameBuilder takes it (numeric as float64, uuid as text...)."""
        if not self.needed:
            return batch
        import pyarrow as pa

        columns = [column if m is None else m.to_arrow(column)
                   for column, m in zip(batch.columns, self.maps)]
        return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)

    def schema(self, schema: Any) -> Any:
        """The schema of the frame's batches (types a result without rows by)."""
        return self.for_frame(_empty_batch(schema)).schema if self.needed else schema

    def rows(self, columns: Sequence[Any]) -> list[tuple]:
        """Rows of Python values (numeric as Decimal, uuid as text...) from a batch's columns."""
        values = [python_values(column) if m is None else m.to_python(column)
                  for column, m in zip(columns, self.maps)]
        return list(zip(*values))


def _empty_batch(schema: Any) -> Any:
    import pyarrow as pa

    return pa.RecordBatch.from_arrays([pa.nulls(0, field.type) for field in schema],
                                      schema=schema)


def plan(schema: Any, text_types: Callable[[int], bool]) -> Plan:
    """The plan for a result of this Arrow schema; `text_types(oid)` says whether a type the
    driver did not know (an enum made after it connected) is sent as its text."""
    return Plan([_map_of(field.type, (field.metadata or {}).get(b"POSTGRESQL:type", b"")
                         .decode(), text_types) for field in schema])


"""Data into a table: a DataFrame, a CSV file or a Parquet file, in chunks, all or nothing.

The work runs on the writer as one task: the source is read a chunk at a time (pyarrow's CSV
and Parquet readers, types from the file; a DataFrame's own dtypes) and each chunk is written by
the engine's `insert_work`, the first creating the table. On an engine with transactions the
whole task is one transaction, so a failure or a Cancel leaves neither the table nor a row. On
one without (Spark) the chunks go into a staging table that is then made the target (renames
that no stop cuts half way, or an INSERT ... SELECT), and a stop before that drops the staging
table (see _staged). DuckDB reads Parquet files itself (`Backend.native_import`), faster than any
chunk loop.

The progress shows rows written and the share of the source written: of a DataFrame's or a
Parquet file's rows, or of a CSV file's bytes (counted in the reader's blocks that were written,
not in what it has read ahead). An import has no time limit unless the call gives one (its
Cancel and Stop always work). A file is refused before it is read when it has more columns than
the engine lets a table have (`Link.column_limit`) or than sqlnb reads from a file
(MAX_COLUMNS); wide rows come in fewer rows per chunk (CHUNK_CELLS).
"""

from __future__ import annotations

import codecs
import csv
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._task import Stopped, note
from .errors import UsageError

if TYPE_CHECKING:
    from ._control import Control
    from .engines.base import Backend, Link

#: Rows per chunk of a DataFrame or a Parquet file (a CSV chunk is a block of CSV_BLOCK bytes),
#: fewer when a chunk would hold more than CHUNK_CELLS values (wide rows)
CHUNK_ROWS = 100_000
CHUNK_CELLS = 5_000_000
CSV_BLOCK = 4 << 20
#: The most columns sqlnb reads from a file, whatever the engine allows: each costs memory and
#: time in the reader, the DataFrame and the engine's catalog (100,000 took a gigabyte and over
#: a minute in DuckDB, 10,000 about 300 MB and 2 s)
MAX_COLUMNS = 10_000
FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}


def source_format(source: Any, format: str | None) -> str:
    """"dataframe", "csv" or "parquet"; a UsageError for a file that is missing or unknown."""
    if hasattr(source, "columns") and hasattr(source, "iloc"):
        return "dataframe"
    if not isinstance(source, (str, os.PathLike)):
        raise UsageError(f"the source must be a DataFrame or a file's path, not "
                         f"{type(source).__name__}")
    path = Path(source)
    if not path.is_file():
        raise UsageError(f"no file {str(path)!r}" + (
            " (it is a folder)" if path.is_dir() else
            f" (the working folder is {os.getcwd()!r})"))
    if format is None:
        format = FORMATS.get(path.suffix.lower())
        if format is None:
            raise UsageError(f"cannot tell the format of {path.name!r} from its suffix: pass "
                             "format='csv' or format='parquet'")
    if format not in ("csv", "parquet"):
        raise UsageError(f"format must be 'csv' or 'parquet', not {format!r}")
    return format


def checked_encoding(encoding: str | None, format: str) -> str | None:
    """The encoding a CSV file is read in (None: UTF-8), or a UsageError naming the problem."""
    if encoding is None:
        return None
    if format != "csv":
        raise UsageError(f"encoding= is for CSV files, not a {format} source (a Parquet file "
                         "and a DataFrame say their own text)")
    try:
        name = codecs.lookup(encoding).name
    except (LookupError, TypeError):
        raise UsageError(f"unknown encoding {encoding!r}: give a Python codec's name, such as "
                         "'latin-1', 'cp1252' or 'utf-16'") from None
    return None if name == "utf-8" else encoding


def import_work(backend: Backend, source: Any, format: str, table: str, if_exists: str,
                encoding: str | None = None) -> Callable[[Link, Control], int]:
    """The writer's work that fills `table` from `source` (checked by source_format; a CSV
    file read in `encoding`, checked by checked_encoding, None for UTF-8)."""
    if format != "dataframe":
        native = backend.native_import(os.fspath(source), format, table, if_exists)
        if native is not None:
            return native

    if format == "csv":
        source = CsvFile(os.fspath(source), encoding)

    def work(link: Link, control: Control) -> int:
        _check_width(source, format, link.column_limit())  # before a row is read
        chunks = _chunks(source, format, control)
        if link.transactions:
            return _write(backend, link, control, chunks, table, if_exists)
        return _staged(backend, link, control, chunks, table, if_exists)

    return work


def _write(backend: Backend, link: Link, control: Control, chunks: Iterator[Any], table: str,
           if_exists: str, columns: list[str] | None = None) -> int:
    """Write each chunk (the first one creates the table as if_exists says); rows written.
    `columns`, if given, receives the chunks' column names."""
    rows = 0
    for chunk in chunks:
        if columns is not None and not columns:
            columns.extend(str(c) for c in chunk.columns)
        if control.reason is not None:  # a Cancel between two chunks
            raise Stopped()
        backend.insert_work(chunk, table, if_exists=if_exists)(link, control)
        if_exists = "append"
        rows += len(chunk)
        control.rows = rows
    return rows


def _staged(backend: Backend, link: Link, control: Control, chunks: Iterator[Any],
            table: str, if_exists: str) -> int:
    """Without transactions: write into a staging table, then make it the target.

    Until the staging table is full, a failure or a stop drops it and leaves the target as it
    was. An append is then one INSERT ... SELECT (which a stop may cut: then it may have been
    applied). A new table or a replace is a swap of renames that no stop interrupts half way
    (the import is then done): the old table is renamed aside, the new one in, and the old one
    dropped; if the new one cannot be renamed in, the old one is renamed back, and if that fails
    too, both are kept and the error names them. The user is never left with neither.
    """
    suffix = uuid.uuid4().hex[:12]
    staging, aside = f"{table}__sqlnb_import_{suffix}", f"{table}__sqlnb_replaced_{suffix}"
    target, staged = backend.quote(table), backend.quote(staging)
    exists = table.lower() in {name.lower() for name in link.tables()["name"]}
    if exists and if_exists == "fail":
        raise UsageError(f"table {table!r} already exists: pass if_exists='append' to add "
                         "rows, or 'replace'")
    columns: list[str] = []
    try:
        rows = _write(backend, link, control, chunks, staging, "fail", columns)
    except BaseException:
        _drop_quietly(backend, link, control, staged)
        if control.reason is not None:
            raise Stopped(applied=False) from None  # nothing reached the target
        raise
    control.stage = (None, "making the table")
    if exists and if_exists == "append":  # by name, as insert_df appends
        names = ", ".join(backend.quote(c) for c in columns)
        try:  # a stop may cut it after rows went in: the engine's translate says so
            _run(backend, link, control,
                 f"INSERT INTO {target} ({names}) SELECT {names} FROM {staged}")
        finally:
            _drop_quietly(backend, link, control, staged)
    else:
        _swap(backend, link, control, table, staging, aside if exists else None)
    return rows


def _swap(backend: Backend, link: Link, control: Control, table: str, staging: str,
          aside: str | None) -> None:
    """Make the full staging table `table`, renaming the old one to `aside` first (None: there
    is none) and dropping it after. A stop that comes now is too late: the control lets go of
    the link, so no interrupt cuts a rename, and the import is done."""
    from ._control import Control

    control.release()
    steps = Control(None, control.timer)
    target, staged = backend.quote(table), backend.quote(staging)
    if aside is not None:
        try:
            _run(backend, link, steps, f"ALTER TABLE {target} RENAME TO {backend.quote(aside)}")
        except BaseException:
            _drop_quietly(backend, link, steps, staged)
            raise
    try:
        _run(backend, link, steps, f"ALTER TABLE {staged} RENAME TO {target}")
    except BaseException as error:
        if aside is None:
            _drop_quietly(backend, link, steps, staged)
            raise
        try:
            _run(backend, link, steps, f"ALTER TABLE {backend.quote(aside)} RENAME TO {target}")
        except Exception:
            note(error, f"the new table could not be renamed to {table}, nor the old one back: "
                        f"the old rows are in {aside}, the new ones in {staging}; rename the "
                        f"one you want to {table} (ALTER TABLE ... RENAME TO {table})")
            raise error from None
        note(error, f"the table {table} is as it was: the new rows were not kept")
        _drop_quietly(backend, link, steps, staged)
        raise
    if aside is not None:  # the old rows go; if they cannot, they stay, named ..__sqlnb_..
        _drop_quietly(backend, link, steps, backend.quote(aside))


def _run(backend: Backend, link: Link, control: Control, sql: str) -> None:
    (statement,) = backend.statements(sql)
    link.run(statement, None, control, False)


def _drop_quietly(backend: Backend, link: Link, control: Control, name: str) -> None:
    """Drop a table of the import's own after a failure, a stop or a swap (under a control of
    its own, and with `control` letting go of the link: a stopped one would stop this too)."""
    from ._control import Control

    control.release()
    try:
        (statement,) = backend.statements(f"DROP TABLE IF EXISTS {name}")
        link.run(statement, None, Control(None, control.timer), False)
    except Exception:  # what cannot be dropped stays, named ..__sqlnb_import_.., to be seen
        pass


@dataclass(frozen=True)
class CsvFile:
    """A CSV file to import and how to read it."""

    path: str
    #: None: UTF-8 (pyarrow's own decoding); else a Python codec's name (pyarrow transcodes)
    encoding: str | None = None

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def delimiter(self) -> str:
        return "\t" if Path(self.path).suffix.lower() == ".tsv" else ","

    def width(self) -> int | None:
        """The columns of the header, read alone (None if Python's reader cannot tell:
        pyarrow's then says what is wrong)."""
        with open(self.path, encoding=self.encoding or "utf-8", errors="replace",
                  newline="") as file:
            try:
                return len(next(csv.reader(file, delimiter=self.delimiter)))
            except (StopIteration, csv.Error):
                return None


def _check_width(source: Any, format: str, column_limit: int | None) -> None:
    """A UsageError when the source has more columns than a table of the engine holds
    (`column_limit`), or (a file) than sqlnb reads from a file; only its header is read."""
    if format == "dataframe":
        what, width, read = "the DataFrame", len(source.columns), None
    elif format == "parquet":
        pq = _pyarrow("pyarrow.parquet")
        what, read = Path(source).name, "pandas.read_parquet(path, columns=[...])"
        width = len(pq.read_schema(source))
    else:
        what, width, read = source.name, source.width(), "pandas.read_csv(path, usecols=[...])"
        if width is None:
            return
    fewer = (f"read the columns you need with {read} and import that DataFrame" if read
             else "import only the columns you need (frame[[...]])")
    if column_limit is not None and width > column_limit:
        raise UsageError(f"{what} has {width:,} columns, and a table of this database holds "
                         f"at most {column_limit:,} (the engine's limit): {fewer}")
    if read is not None and width > MAX_COLUMNS:
        raise UsageError(f"{what} has {width:,} columns, and sqlnb imports at most "
                         f"{MAX_COLUMNS:,} from a file (each column costs memory and time in "
                         f"the reader and the engine): {fewer}")


def _chunks(source: Any, format: str, control: Control) -> Iterator[Any]:
    """The source as DataFrames of a chunk each. The progress is set each time the consumer
    asks for the next chunk, so it counts the chunks written (not what a reader has read
    ahead)."""
    if format == "dataframe":
        total = len(source)
        rows = _chunk_rows(len(source.columns))
        for start in range(0, max(total, 1), rows):
            control.stage = (100 * start / total if total else None,
                             f"a DataFrame ({total:,} rows) written")
            yield source.iloc[start:start + rows]
        return
    if format == "parquet":
        pq = _pyarrow("pyarrow.parquet")

        name = Path(source).name
        with pq.ParquetFile(source) as file:
            width = len(file.schema_arrow)
            total = file.metadata.num_rows
            done = 0
            empty = True
            for batch in file.iter_batches(batch_size=_chunk_rows(width)):
                control.stage = (100 * done / total if total else None,
                                 f"{name} ({total:,} rows) written")
                done += batch.num_rows
                empty = False
                yield batch.to_pandas()
            if empty:
                yield file.schema_arrow.empty_table().to_pandas()
        return
    yield from _csv_chunks(source, control)


def _chunk_rows(columns: int) -> int:
    """Rows per chunk: CHUNK_ROWS, or fewer so that a chunk holds at most CHUNK_CELLS values."""
    return max(1, min(CHUNK_ROWS, CHUNK_CELLS // max(columns, 1)))


def _csv_chunks(source: CsvFile, control: Control) -> Iterator[Any]:
    pa, pc = _pyarrow("pyarrow"), _pyarrow("pyarrow.csv")

    size = os.path.getsize(source.path)
    name, encoding = source.name, source.encoding
    options = {} if encoding is None else {"encoding": encoding}
    phase = f"{name} ({_megabytes(size)}) written"
    with open(source.path, "rb") as file:
        try:
            # strings_can_be_null: an empty field (or NA, NULL...) is NULL in a text column
            # too, as pandas.read_csv reads it, not the text '' or 'NA'
            # use_threads=False: the reader then knows each row's line, which an error names
            # (the writer, not the parsing, is what takes the time)
            reader = pc.open_csv(
                file, read_options=pc.ReadOptions(block_size=CSV_BLOCK, use_threads=False,
                                                  **options),
                parse_options=pc.ParseOptions(delimiter=source.delimiter),
                convert_options=pc.ConvertOptions(strings_can_be_null=True))
        except pa.ArrowInvalid as error:
            raise UsageError(_csv_error(name, error)) from None
        except UnicodeError as error:
            raise UsageError(_not_encoded(name, encoding, error)) from None
        try:
            columns = reader.schema.names
        except UnicodeError:
            raise UsageError(f"{name}, line 1: the header is not UTF-8 text: "
                             f"{_ENCODING_HINT}") from None
        written = 0  # the reader's batches written so far: each is one CSV_BLOCK of the file
        while True:
            # the reader reads far ahead of what is parsed (the whole file at once, here),
            # so its file position says nothing of the rows written: count the blocks (of
            # UTF-8 text: a file pyarrow transcodes from a wider codec, UTF-16, shows less
            # than it wrote until its end)
            done = min(written * CSV_BLOCK, size)
            control.stage = (100 * done / size if size else None, phase)
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as error:
                raise UsageError(_csv_error(name, error, columns)) from None
            except UnicodeError as error:
                raise UsageError(_not_encoded(name, encoding, error)) from None
            if not written:
                _check_text(pa, name, batch)
            written += 1
            yield batch.to_pandas()
        if not written:
            yield reader.schema.empty_table().to_pandas()


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB" if size >= 100_000 else f"{size / 1e3:,.1f} KB"


#: What a column that is not UTF-8 text needs (pyarrow reads such a column as bytes).
_ENCODING_HINT = ("give the file's encoding, e.g. encoding='latin-1' (--encoding latin-1 in "
                  "%sqlnb import)")


def _check_text(pa: Any, name: str, batch: Any) -> None:
    """A UsageError naming the first value that is not UTF-8 text, if the first batch has a
    column of bytes: a CSV holds text, and pyarrow types a column of bytes that are not UTF-8
    (a file in latin-1, say) as binary, where the rest of its blocks go too."""
    found = []
    for index, field in enumerate(batch.schema):
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            for row, value in enumerate(batch.column(index).to_pylist()):
                if value is not None and not _utf8(value):
                    found.append((row, index, field.name))
                    break
    if found:
        row, _index, column = min(found)
        raise UsageError(f"{name}, line {row + 2}: column {column!r} is not UTF-8 text: "
                         f"{_ENCODING_HINT}")


def _utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _not_encoded(name: str, encoding: str | None, error: UnicodeError) -> str:
    return (f"{name} is not {encoding or 'UTF-8'} text ({error}): give the file's encoding "
            "with encoding= (--encoding in %sqlnb import)")


def _pyarrow(name: str) -> Any:
    """A module of pyarrow, which reads the files (a DataFrame needs none)."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise UsageError("reading CSV and Parquet files needs pyarrow: pip install "
                         "'sqlnb[files]' (or pyarrow)") from None


def _csv_error(name: str, error: BaseException, columns: list[str] | None = None) -> str:
    """A CSV the reader cannot take, in one line naming the line of the file where it failed:
    pyarrow says "In CSV column #0: Row #7: CSV conversion error to int64: invalid value 'x'"
    or "CSV parse error: Row #7: Expected 2 columns, got 3: 3,4,5"."""
    message = str(error).split("\n")[0]
    column = re.search(r"In CSV column #(\d+): ", message)
    row = re.search(r"Row #(\d+): ", message)
    where = f", line {row.group(1)}" if row else ""
    what = message[row.end():] if row else message
    if column is not None and "invalid UTF8" in what:  # after the block the types came from
        index = int(column.group(1))
        named = repr(columns[index]) if columns and index < len(columns) else index + 1
        return f"{name}{where}: column {named} is not UTF-8 text: {_ENCODING_HINT}"
    if column is not None:
        what = (f"column {int(column.group(1)) + 1}: {what} (a column's type comes from the "
                "file's first 4 MB: clean the value, or read the file with pandas first)")
    return f"{name}{where}: {what}"

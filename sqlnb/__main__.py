"""`python -m sqlnb [PATH]`: a short tour of the engine on a database (in memory by default)."""

from __future__ import annotations

import sys

import sqlnb

FOREVER = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


def main(argv: list[str] | None = None) -> int:
    """Create a table, write to it, query it into a DataFrame, and stop a runaway query."""
    args = sys.argv[1:] if argv is None else argv
    path = args[0] if args else None
    with sqlnb.connect(path) as db:
        print(f"opened {db.path}")
        db.write("CREATE TABLE IF NOT EXISTS birds (id INTEGER PRIMARY KEY, name TEXT, kg REAL)")
        written = db.write_many(
            "INSERT INTO birds (name, kg) VALUES (?, ?)",
            [("mute swan", 11.9), ("grey heron", 1.5), ("wren", 0.01), ("golden eagle", 4.6)],
        )
        print(f"wrote {written.rowcount} rows through the writer thread")
        frame = db.query("SELECT name, kg FROM birds WHERE kg > :min ORDER BY kg DESC",
                         {"min": 1.0})
        print(frame.to_string(index=False))
        try:
            db.query(FOREVER, time_limit=0.5)
        except sqlnb.QueryTimeout as error:
            print(f"a runaway query: {error}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

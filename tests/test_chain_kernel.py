"""Issue 22 in a real kernel (jupyter_client), as a front end sees it: an analysis built as a
chain of named results, a DataFrame variable joined in FROM, IDENTIFIER(:name), the history,
a cached re-run and a cache miss after a write, and %sqlnb format."""

from __future__ import annotations


def _stdout(outputs):
    return "".join(c["text"] for kind, c in outputs if kind == "stream" and c["name"] == "stdout")


def _plain(outputs):
    results = [c["data"]["text/plain"] for kind, c in outputs if kind == "execute_result"]
    assert len(results) == 1, outputs
    return results[0]


def _ok(kernel, code):
    status, outputs = kernel.run(code)
    assert status == "ok", outputs
    return outputs


def test_a_chain_of_cells(kernel, tmp_path):
    _ok(kernel, f"%sqlnb connect {tmp_path / 'chain.db'} --as chain")
    _ok(kernel, "%%sql\nCREATE TABLE sales (id INTEGER, region TEXT, amount INTEGER);\n"
                "INSERT INTO sales VALUES (1, 'north', 10), (2, 'south', 20), (3, 'north', 30)")
    _ok(kernel, "%%sql --save big\nSELECT * FROM sales WHERE amount >= 20")
    _ok(kernel, "%%sql --save by_region\nSELECT region, sum(amount) AS total FROM big "
                "GROUP BY region")
    # a DataFrame of the notebook joined with a named result, by its variable's name
    _ok(kernel, "import pandas as pd\n"
                "managers = pd.DataFrame({'region': ['north', 'south'], 'boss': ['ann', 'bo']})")
    out = _plain(_ok(kernel, "%%sql\nSELECT boss, total FROM by_region JOIN managers "
                             "USING (region) ORDER BY total DESC"))
    assert out.splitlines()[1].split()[1:] == ["ann", "30"]
    # a name from a variable
    _ok(kernel, "which = 'by_region'")
    assert "south" in _plain(_ok(kernel, "%%sql\nSELECT * FROM IDENTIFIER(:which)"))
    # the chain as one query
    assert "WITH big AS (" in _stdout(_ok(kernel, "%sqlnb expand by_region"))
    # a cached re-run, then a miss after a write
    _ok(kernel, "%%sql --cache\nSELECT sum(total) AS s FROM by_region")
    outputs = _ok(kernel, "%%sql --cache\nSELECT sum(total) AS s FROM by_region")
    assert "from cache · 0 s old · no writes since" in _stdout(outputs)
    assert "50" in _plain(outputs)
    _ok(kernel, "%%sql\nINSERT INTO sales VALUES (4, 'south', 100)")
    outputs = _ok(kernel, "%%sql --cache\nSELECT sum(total) AS s FROM by_region")
    assert "from cache" not in _stdout(outputs) and "150" in _plain(outputs)
    # the history has each statement, the cached one marked
    _ok(kernel, "h = %sqlnb history\n"
                "print(int(h['cached'].sum()), h['sql'].str.contains('IDENTIFIER').any())")
    assert _stdout(_ok(kernel, "print(int(h['cached'].sum()))")).strip() == "1"
    # formatting
    text = _stdout(_ok(kernel, "%sqlnb format select region from big -- which ones"))
    assert text == "SELECT\n  region\nFROM big /* which ones */\n"
    _ok(kernel, "%sqlnb close chain")

"""The progress widget in a real kernel, driven as a front end drives it: the Cancel button's
click sent as a comm message while the cell blocks, what a finished query leaves in the saved
notebook (a plain summary line, no widget), one message per stopped query, background cells,
fast queries that show no widget, and kernels where the Cancel button cannot work (it says to use
Stop instead)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import Kernel
from tests.test_magics import CANCELLED

from .helpers import FOREVER

#: The mime type of a widget's output; its model lives only as long as the kernel.
WIDGET = "application/vnd.jupyter.widget-view+json"
#: A read that runs long enough to show the widget (seconds here), then finishes.
FINISHES = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000) "
            "SELECT count(*) AS n FROM c")
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _collect(kernel, msg_id, until, timeout=60):
    """iopub messages of the cell `msg_id` until `until(messages)` is true."""
    messages = []
    deadline = time.monotonic() + timeout
    while not until(messages):
        remaining = deadline - time.monotonic()
        assert remaining > 0, [m["msg_type"] for m in messages]
        msg = kernel.client.get_iopub_msg(timeout=remaining)
        if msg["parent_header"].get("msg_id") == msg_id:
            messages.append(msg)
    return messages


def _opened(messages, model):
    return [m["content"]["comm_id"] for m in messages if m["msg_type"] == "comm_open"
            and m["content"]["data"]["state"].get("_model_name") == model]


def _buttons(messages):
    return _opened(messages, "ButtonModel")


def _labels(messages):
    """Every value a Label took: at display, then in updates."""
    label_ids = {m["content"]["comm_id"]: m["content"]["data"]["state"]["value"]
                 for m in messages if m["msg_type"] == "comm_open"
                 and m["content"]["data"]["state"].get("_model_name") == "LabelModel"}
    values = list(label_ids.values())
    for m in messages:
        if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] in label_ids:
            state = m["content"]["data"].get("state", {})
            if "value" in state:
                values.append(state["value"])
    return values


def _state(messages, comm_id):
    """A widget's state as a front end sees it: the state it opened with, then each update."""
    state = {}
    for m in messages:
        if m["content"].get("comm_id") != comm_id:
            continue
        if m["msg_type"] == "comm_open":
            state.update(m["content"]["data"]["state"])
        elif m["msg_type"] == "comm_msg":
            state.update(m["content"]["data"].get("state", {}))
    return state


def _on_display(messages):
    """True once the widget is displayed: a front end can click it only from then on."""
    return any(m["msg_type"] == "display_data" and WIDGET in m["content"]["data"]
               for m in messages)


def _closed(messages):
    return {m["content"]["comm_id"] for m in messages if m["msg_type"] == "comm_close"}


def _click(kernel, comm_id):
    _send(kernel, comm_id, {"method": "custom", "content": {"event": "click"}})


def _send(kernel, comm_id, data):
    msg = kernel.client.session.msg("comm_msg", content={"comm_id": comm_id, "data": data})
    kernel.client.shell_channel.send(msg)
    return msg["header"]["msg_id"]


def _idle(messages):
    return any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
               for m in messages)


def _stored(messages):
    """The cell's outputs as a notebook saves them (JupyterLab, nbconvert): in order, each
    display update applied to the outputs that carry its display_id."""
    outputs = []
    for m in messages:
        kind, content = m["msg_type"], m["content"]
        display_id = (content.get("transient") or {}).get("display_id")
        if kind == "update_display_data":
            for output in outputs:
                if display_id is not None and output.get("display_id") == display_id:
                    output["data"] = content["data"]
        elif kind in ("display_data", "execute_result"):
            outputs.append({"type": kind, "data": content["data"], "display_id": display_id})
        elif kind == "stream":
            outputs.append({"type": kind, "text": content["text"]})
        elif kind == "error":
            outputs.append({"type": kind, "ename": content["ename"],
                            "evalue": content["evalue"]})
    return outputs


def _as_nbval_sees(messages):
    """The outputs nbval records when it runs the cell: display messages as they came (nbval
    does not apply display updates), streams and errors."""
    return _stored([m for m in messages if m["msg_type"] != "update_display_data"])


def _compared(outputs):
    """What nbval compares: each mime type's values in order, the widget's model id left out,
    elapsed seconds sanitized as notebooks/nbval_sanitize.cfg does."""
    values = defaultdict(list)
    for output in outputs:
        for key, value in output.get("data", {}).items():
            if key != WIDGET:
                values[key].append(re.sub(r"\b\d+\.\d+ s\b", "<seconds> s", str(value)))
        for key in ("text", "ename", "evalue"):
            if key in output:
                values[key].append(output[key])
    return dict(values)


def _texts(outputs):
    """Every text a front end shows for these outputs (a widget's is its model)."""
    texts = []
    for output in outputs:
        data = output.get("data", {})
        if WIDGET in data:
            texts.append("<widget>")
        elif "text/plain" in data:
            texts.append(data["text/plain"])
        for key in ("text", "evalue"):
            if key in output:
                texts.append(output[key])
    return texts


def test_a_finished_query_leaves_its_summary_as_plain_output(kernel):
    msg_id = kernel.start(f"%%sql --time-limit inf\n{FINISHES}")
    messages = _collect(kernel, msg_id, _idle)
    kernel.client.get_shell_msg(timeout=30)
    assert _buttons(messages), "the widget was on display while the query ran"
    stored = _stored(messages)
    assert not [o for o in stored if WIDGET in o.get("data", {})], stored
    summaries = [o["data"] for o in stored if o["type"] == "display_data" and o["data"]]
    assert len(summaries) == 1, stored
    assert re.fullmatch(r"1 row in \d+\.\d+ s", summaries[0]["text/plain"])
    assert summaries[0]["text/plain"] in summaries[0]["text/html"]
    results = [o for o in stored if o["type"] == "execute_result"]
    assert results[0]["data"]["text/plain"].splitlines()[1].split()[-1] == "5000000"
    assert _compared(_as_nbval_sees(messages)) == _compared(stored)  # nbval's check passes
    ids = _opened(messages, "HBoxModel") + _buttons(messages) + _opened(messages, "LabelModel")
    assert _closed(messages) >= set(ids), "the widget is closed once the query is over"


def test_cancel_button_stops_a_blocking_cell(kernel):
    msg_id = kernel.start(f"%%sql --time-limit inf\n{FOREVER}")
    messages = _collect(kernel, msg_id, _on_display)
    _click(kernel, _buttons(messages)[0])
    messages += _collect(kernel, msg_id, _idle)
    kernel.client.get_shell_msg(timeout=30)
    errors = [m["content"] for m in messages if m["msg_type"] == "error"]
    assert len(errors) == 1
    assert errors[0]["ename"] == "SqlCellError"
    assert CANCELLED.fullmatch(errors[0]["evalue"]), errors[0]["evalue"]  # as the Stop button
    stored = _stored(messages)
    assert _texts(stored) == [errors[0]["evalue"]], "one message, not a second in the widget"
    status, outputs = kernel.run("%sql SELECT 6 * 7 AS answer")
    assert status == "ok" and "42" in str(outputs)


#: Per engine with a percent: the query the Cancel click stops, and the widget line it shows.
PERCENT_ENGINES = {
    "duckdb": ("SELECT sum(hash(range)) FROM range(1000000000000000)", r"\d+% · "),
    "spark": ("SELECT count(*) FROM range(0, 1000000000000000, 1, 16)",
              r"\d+% of stage \d+: \d+/\d+ tasks · "),
}


@pytest.mark.parametrize("engine", sorted(PERCENT_ENGINES))
def test_cancel_button_stops_a_query_whose_engine_says_its_percent(kernel, tmp_path, request,
                                                                    engine):
    target = (tmp_path / "w.duckdb" if engine == "duckdb"
              else request.getfixturevalue("spark_url"))
    status, _ = kernel.run(f"%sqlnb connect {target} --as other")
    assert status == "ok"
    sql, line = PERCENT_ENGINES[engine]
    try:
        msg_id = kernel.start(f"%%sql --time-limit inf\n{sql}")
        messages = _collect(kernel, msg_id, lambda ms: any(
            re.match(line, label) for label in _labels(ms)))  # the engine's percent shows
        _click(kernel, _buttons(messages)[0])
        messages += _collect(kernel, msg_id, _idle)
        kernel.client.get_shell_msg(timeout=30)
        errors = [m["content"] for m in messages if m["msg_type"] == "error"]
        assert len(errors) == 1, errors
        assert re.fullmatch(r"QueryCancelled: cancelled after \d+\.\d+ s \(the statement: .*\)",
                            errors[0]["evalue"])
        status, outputs = kernel.run("%sql SELECT 6 * 7 AS answer")
        assert status == "ok" and "42" in str(outputs)
    finally:
        kernel.run("%sqlnb close other")


def test_time_limit_ends_the_cell_in_one_line(kernel):
    msg_id = kernel.start(f"%%sql --time-limit 1\n{FOREVER}")
    messages = _collect(kernel, msg_id, _idle)
    kernel.client.get_shell_msg(timeout=30)
    assert _buttons(messages)
    stored = _stored(messages)
    texts = _texts(stored)
    assert len(texts) == 1, texts
    assert texts[0].startswith("QueryTimeout: stopped at the 1 s time limit (the statement: ")
    assert texts[0].endswith("-- raise it with --time-limit SECONDS or %config SqlNB.time_limit")
    assert _compared(_as_nbval_sees(messages)) == _compared(stored)


def test_fast_query_shows_no_widget(kernel):
    msg_id = kernel.start("%sql SELECT 1 AS one")
    messages = _collect(kernel, msg_id, _idle)
    kernel.client.get_shell_msg(timeout=30)
    assert not [m for m in messages if m["msg_type"] == "comm_open"]


def test_background_cell_returns_at_once_and_sets_its_variable_when_done(kernel, tmp_path):
    """The cell returns while its query still waits (for a lock another connection holds), VAR
    holds the cell's handle until then, and the result once the query is done."""
    path = tmp_path / "locked.db"
    status, _ = kernel.run(
        "import sqlite3\n"
        f"%sqlnb connect {path} --as locked\n"
        "%sql PRAGMA busy_timeout = 30000\n"  # a bound: the lock is held for a moment
        "%sql CREATE TABLE t (x)\n"
        f"holder = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
        "holder.execute('BEGIN IMMEDIATE')")
    assert status == "ok"
    try:
        status, _ = kernel.run("%%sql --background --time-limit inf late <<\n"
                               "INSERT INTO t VALUES (1), (2);\nSELECT count(*) AS n FROM t")
        assert status == "ok"
        status, outputs = kernel.run("print(type(late).__name__, late.done())")
        assert outputs[0][1]["text"].strip() == "BackgroundCell False"
    finally:
        status, _ = kernel.run("holder.execute('COMMIT'); holder.close()")
        assert status == "ok"
    status, outputs = kernel.run("waited = %sqlnb wait late\n"
                                 "print(int(waited['n'][0]), type(late).__name__)")
    assert outputs[0][1]["text"].strip() == "2 DataFrame"
    status, _ = kernel.run("%sqlnb close locked")
    assert status == "ok"


def test_a_background_cell_leaves_its_summary_in_place(kernel):
    msg_id = kernel.start(f"%%sql --background --time-limit inf done_later <<\n{FINISHES}")
    messages = _collect(kernel, msg_id, _idle)
    kernel.client.get_shell_msg(timeout=30)
    shown = [m for m in messages if m["msg_type"] == "display_data"]
    assert len(shown) == 1 and WIDGET in shown[0]["content"]["data"]
    display_id = shown[0]["content"]["transient"]["display_id"]
    # the cell has returned; its thread replaces the widget with the summary when it is done
    messages += _collect(kernel, msg_id, lambda ms: any(
        m["msg_type"] == "update_display_data" for m in ms))
    stored = _stored(messages)
    assert len(stored) == 1 and re.fullmatch(r"1 row in \d+\.\d+ s",
                                             stored[0]["data"]["text/plain"]), stored
    # `%sqlnb wait` repeats that update under its own cell: nbconvert keeps only that one
    wait_id = kernel.start("%sqlnb wait done_later")
    waited = _collect(kernel, wait_id, _idle)
    kernel.client.get_shell_msg(timeout=30)
    updates = [m["content"] for m in waited if m["msg_type"] == "update_display_data"]
    assert [u["transient"]["display_id"] for u in updates] == [display_id]
    assert updates[0]["data"] == stored[0]["data"]


def test_background_cell_cancelled_by_its_button(kernel):
    msg_id = kernel.start(f"%%sql --background --time-limit inf bg <<\n{FOREVER}")
    messages = _collect(kernel, msg_id, lambda ms: _buttons(ms) and _idle(ms))
    kernel.client.get_shell_msg(timeout=30)
    _click(kernel, _buttons(messages)[0])
    messages += _collect(kernel, msg_id, lambda ms: any(
        m["msg_type"] == "update_display_data" for m in ms))
    status, outputs = kernel.run(
        "try:\n    bg.result(30)\nexcept Exception as e:\n    print(e)")
    assert status == "ok"
    raised = outputs[0][1]["text"].strip()
    assert CANCELLED.fullmatch(raised), raised
    assert _texts(_stored(messages)) == [raised]  # the cell shows the same line, once


def _stop_only(setup, poke=None):
    """Start a kernel, run `setup` before `%load_ext sqlnb`, run a slow cell, optionally send
    the button a comm message (`poke`) while it runs: the button must end up disabled and
    saying to use Stop, and the Stop button (interrupt) must still cancel."""
    k = Kernel()
    try:
        status, _ = k.run(f"{setup}\n%load_ext sqlnb")
        assert status == "ok"
        msg_id = k.start(f"%%sql --time-limit inf\n{FOREVER}")
        messages = _collect(k, msg_id, _on_display, timeout=30)
        if poke is not None:
            _send(k, _buttons(messages)[0], poke)

        def says_use_stop(ms):
            state = _state(ms, _buttons(ms)[0])
            return (state.get("disabled") is True and state.get("description") == "use Stop"
                    and "Stop button" in state.get("tooltip", ""))

        messages += _collect(k, msg_id, lambda ms: says_use_stop(messages + ms), timeout=30)
        k.manager.interrupt_kernel()
        messages += _collect(k, msg_id, _idle)
        errors = [m["content"]["evalue"] for m in messages if m["msg_type"] == "error"]
        assert len(errors) == 1 and CANCELLED.fullmatch(errors[0]), errors
    finally:
        k.close()


def test_without_the_routing_hook_the_button_says_to_use_stop():
    """A kernel that cannot show sqlnb a click during a busy cell (ipykernel before 7.4)."""
    _stop_only("from ipykernel.comm.comm import BaseComm\ndel BaseComm._reply_subshell_for")


def test_a_routing_method_of_another_signature_is_left_alone():
    """A later ipykernel that calls the comm's routing method with other arguments: sqlnb does
    not wrap it (a wrapper with the old arguments would make the kernel drop every message of
    the button) and the button says to use Stop."""
    _stop_only("from ipykernel.comm.comm import BaseComm\n"
               "BaseComm._reply_subshell_for = lambda self, data, default, msg: default")


def test_a_routing_method_that_fails_falls_back_to_stop():
    """The kernel's routing method raises (a change sqlnb does not know): sqlnb's wrapper
    never lets that through to the kernel (which would drop the message) and the button turns
    into "use Stop" at once."""
    _stop_only("from ipykernel.comm.comm import BaseComm\n"
               "def _surprise(self, data, default):\n"
               "    raise RuntimeError('a routing change sqlnb does not know')\n"
               "BaseComm._reply_subshell_for = _surprise",
               poke={"method": "request_state"})


SLOW_CELL = f"%%sql --time-limit 1\n{FOREVER}"
IN_PROCESS = f"""
import json
import ipywidgets
from ipykernel.inprocess.manager import InProcessKernelManager

buttons = []
ipywidgets.Widget.on_widget_constructed(
    lambda w: buttons.append(w) if isinstance(w, ipywidgets.Button) else None)
manager = InProcessKernelManager()
manager.start_kernel()
shell = manager.kernel.shell
shell.run_line_magic("load_ext", "sqlnb")
result = shell.run_cell({SLOW_CELL!r})
print(json.dumps({{"failed": result.error_in_exec is not None,
                   "buttons": [[b.disabled, b.description] for b in buttons]}}))
manager.shutdown_kernel()
"""


def test_an_in_process_kernel_says_to_use_stop():
    """ipykernel's in-process kernel has the routing method but no shell-channel thread: no
    click reaches it while a cell runs, so the button says to use Stop."""
    done = subprocess.run([sys.executable, "-c", IN_PROCESS], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"failed": True, "buttons": [[True, "use Stop"]]}


def test_the_stored_tutorials_show_summaries_not_widgets():
    """A saved notebook keeps no widget output (it would say "model not found" once reopened)
    and shows each query's summary as plain output."""
    summaries = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                model = data.get(WIDGET, {}).get("model_id")
                assert not model, f"{path.name}: a widget output: {''.join(cell['source'])}"
                assert "sqlnb query progress" not in json.dumps(data), path.name
                text = "".join(data.get("text/plain", ""))
                if re.fullmatch(r"1 row in \d+\.\d+ s", text):
                    summaries.append(path.name)
    assert summaries.count("03-time-limits-progress-and-cancel.ipynb") == 2, summaries

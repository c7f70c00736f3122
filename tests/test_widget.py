"""The progress widget in a real kernel, driven as a front end drives it: the Cancel button's
click sent as a comm message while the cell blocks, the time limit's summary, background cells,
and fast queries that show no widget."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from tests.conftest import SLOW, Kernel

#: The mime type of a widget's output.
WIDGET = "application/vnd.jupyter.widget-view+json"


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


def _buttons(messages):
    return [m["content"]["comm_id"] for m in messages if m["msg_type"] == "comm_open"
            and m["content"]["data"]["state"].get("_model_name") == "ButtonModel"]


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


def _click(kernel, comm_id):
    _send(kernel, comm_id, {"method": "custom", "content": {"event": "click"}})


def _send(kernel, comm_id, data):
    msg = kernel.client.session.msg("comm_msg", content={"comm_id": comm_id, "data": data})
    kernel.client.shell_channel.send(msg)
    return msg["header"]["msg_id"]


def _idle(messages):
    return any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
               for m in messages)


def test_cancel_button_stops_a_blocking_cell(kernel):
    msg_id = kernel.start(f"%%sql --time-limit inf\n{SLOW}")
    messages = _collect(kernel, msg_id, _on_display)
    _click(kernel, _buttons(messages)[0])
    messages += _collect(kernel, msg_id, _idle)
    errors = [m["content"] for m in messages if m["msg_type"] == "error"]
    assert len(errors) == 1
    assert errors[0]["ename"] == "SqlCellError"
    assert errors[0]["evalue"].startswith("QueryCancelled: query cancelled after ")
    assert _labels(messages)[-1].startswith("cancelled after")
    kernel.client.get_shell_msg(timeout=30)
    status, outputs = kernel.run("%sql SELECT 6 * 7 AS answer")
    assert status == "ok" and "42" in str(outputs)


def test_time_limit_ends_the_widget_with_its_summary(kernel):
    msg_id = kernel.start(f"%%sql --time-limit 1\n{SLOW}")
    messages = _collect(kernel, msg_id, _idle)
    kernel.client.get_shell_msg(timeout=30)
    assert _buttons(messages)
    final = _labels(messages)[-1]
    assert final == ("stopped at the 1 s limit: raise it with --time-limit or "
                     "%config SqlNB.time_limit")
    errors = [m["content"]["evalue"] for m in messages if m["msg_type"] == "error"]
    assert errors and errors[0].startswith("QueryTimeout")


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


def test_background_cell_cancelled_by_its_button(kernel):
    msg_id = kernel.start(f"%%sql --background --time-limit inf bg <<\n{SLOW}")
    messages = _collect(kernel, msg_id, lambda ms: _buttons(ms) and _idle(ms))
    kernel.client.get_shell_msg(timeout=30)
    _click(kernel, _buttons(messages)[0])
    status, outputs = kernel.run(
        "try:\n    bg.result(30)\nexcept Exception as e:\n    print(type(e).__name__, e)")
    assert status == "ok"
    assert "Cancelled" in outputs[0][1]["text"]


def _stop_only(setup, poke=None):
    """Start a kernel, run `setup` before `%load_ext sqlnb`, run a slow cell, optionally send
    the button a comm message (`poke`) while it runs: the button must end up disabled and
    saying to use Stop, and the Stop button (interrupt) must still cancel."""
    k = Kernel()
    try:
        status, _ = k.run(f"{setup}\n%load_ext sqlnb")
        assert status == "ok"
        msg_id = k.start(f"%%sql --time-limit inf\n{SLOW}")
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
        assert len(errors) == 1 and errors[0].startswith("Cancelled:"), errors
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


SLOW_CELL = f"%%sql --time-limit 1\n{SLOW}"
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

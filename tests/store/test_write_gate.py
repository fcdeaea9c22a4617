"""The write gate between processes on one SQLite file (``store/write_gate.py``), and the
inline connection's helper thread after ``fork``. Two gates on one file exclude each other
as two processes' would: each holds its own open file."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from renkei.store import inline_sqlite
from renkei.store.write_gate import WriteGate


async def test_a_second_writer_waits_without_blocking_the_loop_then_enters(
    tmp_path: Path,
) -> None:
    first, second = WriteGate(tmp_path / "write.lock"), WriteGate(tmp_path / "write.lock")
    await first.enter()
    waiting = asyncio.create_task(second.enter())
    for _ in range(20):  # the loop keeps running while the second waits
        await asyncio.sleep(0.005)
    assert not waiting.done()
    first.leave()
    await asyncio.wait_for(waiting, timeout=10)
    assert second.held
    second.leave()
    first.close()
    second.close()


async def test_a_writer_cancelled_while_waiting_gives_the_gate_back(tmp_path: Path) -> None:
    first, second, third = (WriteGate(tmp_path / "write.lock") for _ in range(3))
    await first.enter()
    waiting = asyncio.create_task(second.enter())
    await asyncio.sleep(0.02)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    first.leave()  # the cancelled waiter's thread takes the lock now, and must give it back
    await asyncio.wait_for(third.enter(), timeout=10)
    assert third.held and not second.held
    for gate in (first, second, third):
        gate.close()


async def test_closing_a_gate_lets_the_others_in(tmp_path: Path) -> None:
    first, second = WriteGate(tmp_path / "write.lock"), WriteGate(tmp_path / "write.lock")
    await first.enter()
    first.close()  # a connection closed mid-transaction (or its process gone)
    await asyncio.wait_for(second.enter(), timeout=10)
    second.close()


def test_the_helper_thread_works_in_a_forked_child() -> None:
    """The parent's helper thread does not exist in a child: work handed to the inherited
    executor would wait for ever."""
    inline_sqlite._offload_thread().submit(int).result(timeout=10)
    pid = os.fork()
    if pid == 0:
        signal.alarm(10)  # a hang ends the child, and the test fails

        async def offload() -> int:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(inline_sqlite._offload_thread(), int, "7")

        os._exit(asyncio.run(offload()))
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 7

"""The webhook processor in a child process of ``wahub serve`` (role all or worker): started, woken, restarted
when it exits, stopped with the parent; and, inside the child, the "stream events committed" signal back."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from wahub import config, wakeups
from wahub.roles import Role
from wahub.store import stream
from wahub.wakeups import Channel, Notifier

log = logging.getLogger(__name__)

CHILD_STOP_SECONDS = 15.0
# The child's wake-ups are bytes at least this far apart. Intake wakes it once per journal group, while a busy
# child has no use for them; each byte cost the parent a write and the child a read and a pass of its loop
# (PipeWaker._write was 1.7-3% of intake's process on PostgreSQL at 4,000 webhooks/s, by py-spy). A new webhook
# still wakes an idle child within this long.
WAKE_GAP_SECONDS = 0.005


async def supervise(settings: config.Settings, notifier: Notifier, stop: asyncio.Event) -> None:
    """Run the webhook processor as a child process (``serve --role processor``) until ``stop``, restarting it
    if it exits. In a process of its own it has its own interpreter lock: intake and processing then run on two
    cores instead of sharing one (docs/decisions.md has the measurements). Its nice value leaves intake first
    in line for the CPU; the backlog is durable. New events wake it through a pipe (``wakeups.PipeWaker``); when
    this process dies, even by ``kill -9``, the pipe closes and the child stops too. A second pipe, the other
    way, carries the child's "stream events committed" to ``Channel.STREAM`` here (the live stream's reader);
    each child gets new pipes."""
    env = dict(os.environ, WAHUB_DATA_DIR=str(settings.data_dir), WAHUB_DATABASE_URL=settings.database_url)
    pause = 1.0
    while not stop.is_set():
        read_fd, write_fd = os.pipe()
        waker = wakeups.PipeWaker(write_fd, gap=WAKE_GAP_SECONDS)
        notifier.forward(Channel.EVENTS, waker)
        back_fd, stream_fd = os.pipe()
        unwatch = wakeups.watch_pipe(back_fd, notifier, Channel.STREAM)
        cmd = [sys.executable, "-m", "wahub", "serve", "--role", Role.PROCESSOR.value]
        cmd += ["--wake-fd", str(read_fd), "--stream-fd", str(stream_fd)]
        try:
            child = await asyncio.create_subprocess_exec(*cmd, env=env, pass_fds=(read_fd, stream_fd))
        except BaseException:
            notifier.unforward(Channel.EVENTS, waker)
            waker.close()
            unwatch()
            raise
        finally:
            os.close(read_fd)
            os.close(stream_fd)
        started = time.monotonic()
        waker()  # work off what is already waiting
        exited = asyncio.create_task(child.wait())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        notifier.unforward(Channel.EVENTS, waker)
        waker.close()
        unwatch()
        # A child killed between a commit and its byte leaves events unannounced: the reader looks once more.
        notifier.notify(Channel.STREAM)
        if stop.is_set():
            stopping.cancel()
            if child.returncode is None:
                child.terminate()
                try:
                    await asyncio.wait_for(exited, CHILD_STOP_SECONDS)
                except TimeoutError:
                    child.kill()
                    await exited
            return
        stopping.cancel()
        log.error("the webhook processor exited with code %s; restarting it", child.returncode)
        pause = 1.0 if time.monotonic() - started > 60 else min(pause * 2, 30.0)
        await wakeups.wait_set(stop, pause)


def announce_commits(engine: AsyncEngine, fd: int) -> Callable[[], None]:
    """Wake the other end of the pipe ``fd`` after each commit through ``engine`` that wrote stream events;
    returns what stops it and closes ``fd``."""
    loop = asyncio.get_running_loop()
    waker = wakeups.PipeWaker(fd)

    def committed() -> None:
        loop.call_soon_threadsafe(waker)

    undo = stream.on_commit(engine, committed)

    def unannounce() -> None:
        undo()
        waker.close()

    return unannounce
